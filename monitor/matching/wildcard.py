"""Wildcard words (``ne?oziato``, ``att*co``, ``*zione``) matched without backtracking.

A wildcard compiled to a regular expression (``ab.*c.*d.*e``) backtracks: against one
long word (``ab`` then ``cd`` thousands of times) the engine tries every way of cutting
the word, a time that grows with a power of its length, all of it with the GIL held.

Here a pattern is cut at its stars into pieces of fixed length (letters and ``?``).  The
first piece must begin the word, the last must end it, and each piece between is taken at
its leftmost place after the one before.  The leftmost place never loses a match: whatever
the later pieces match after a later place they match after an earlier one too.  So each
piece is looked for once, in one pass over the rest of the word (``str.find``, or for a
piece with ``?`` an expression of fixed length, which cannot backtrack past the piece),
and a word costs time in proportion to its length, times the piece's length at worst.

What is matched is plain text: the caller folds case and accents on both sides.  Pure.
"""

from __future__ import annotations

import re

# Words longer than this are never tested against a wildcard pattern (``?``, or a ``*`` that
# does not end the term; ``prefix*`` compares a prefix only and is not limited): no word of
# a language is that long, and it bounds what one "word" of an article (a URL, encoded data,
# an attack) can cost each pattern.
MAX_WILDCARD_WORD = 1_000


class _Piece:
    """A run of the pattern between stars: letters, and ``?`` for any one letter."""

    __slots__ = ("length", "literal", "match", "search")

    def __init__(self, text: str) -> None:
        self.length = len(text)
        self.literal = text if "?" not in text else None
        # A piece with ? is an expression of fixed length (letters and ".", no repetition):
        # it cannot backtrack past the piece, and it is tried in C.
        pattern = re.compile("".join("." if c == "?" else re.escape(c) for c in text), re.DOTALL)
        self.match, self.search = pattern.match, pattern.search

    def at(self, word: str, i: int) -> bool:
        """Whether the piece fits ``word`` at ``i`` (the caller knows it is not too long for it)."""
        if self.literal is not None:
            return word.startswith(self.literal, i)
        return self.match(word, i) is not None

    def find(self, word: str, start: int, end: int) -> int:
        """The leftmost place at or after ``start`` where the piece fits within ``word[:end]``, or -1."""
        if self.literal is not None:
            return word.find(self.literal, start, end)
        found = self.search(word, start, end)
        return found.start() if found is not None else -1


class Wildcard:
    """A compiled wildcard word: ``*`` any run of letters (none too), ``?`` exactly one."""

    __slots__ = ("head", "middle", "shortest", "tail", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        pieces = text.split("*")
        self.head = _Piece(pieces[0])
        self.tail = _Piece(pieces[-1]) if len(pieces) > 1 else None
        self.middle = tuple(_Piece(piece) for piece in pieces[1:-1] if piece)
        self.shortest = len(text) - text.count("*")

    def __repr__(self) -> str:
        return f"Wildcard({self.text!r})"

    def matches(self, word: str) -> bool:
        """Whether the whole of ``word`` matches, in time linear in its length."""
        head, tail = self.head, self.tail
        if tail is None:
            return len(word) == head.length and head.at(word, 0)
        if len(word) < self.shortest:
            return False
        # most words fail here: the letters that begin and end the pattern, compared inline
        if not (word.startswith(head.literal) if head.literal is not None else head.at(word, 0)):
            return False
        end = len(word) - tail.length
        if not (word.endswith(tail.literal) if tail.literal is not None else tail.at(word, end)):
            return False
        start = head.length
        for piece in self.middle:
            found = piece.find(word, start, end)
            if found < 0:
                return False
            start = found + piece.length
        return True

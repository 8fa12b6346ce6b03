"""The tokens of whitespace-delimited chunks, cut by spaCy's tokenizer once per distinct chunk.

spaCy's tokenizer splits a text at whitespace first and cuts each chunk between two runs of
whitespace on its own: prefixes, suffixes, infixes, special cases, URLs, and its own cache,
all keyed by the chunk.  So the tokens of a field are the tokens of its chunks, and a chunk
met before need not go through spaCy again: news repeats its words, and most of an article's
chunks are in this cache.  The chunks not in it are cut by the very same tokenizer, several
at once, and remembered, so the tokens are spaCy's by construction.

One exception, measured and accepted (docs/rules.md, tests/matching/test_chunks.py): spaCy
applies special cases made of several pieces (emoticons such as ``:)`` or ``(:``) with a
phrase matcher over the whole text, and a match that straddles a space, which it then
discards, can stop another special case from being applied in the next chunk; a chunk cut
alone always applies it.  It changes only how runs of punctuation are cut.

The cache is bounded (CHUNK_CACHE_LIMIT chunks a language, in two generations): the words of
a long-running daemon come and go, and memory must not grow with them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable

from spacy.attrs import IDX, IS_PUNCT, IS_SPACE, LENGTH, ORTH
from spacy.language import Language
from spacy.tokenizer import Tokenizer

# A chunk's tokens: their texts, their offsets in the chunk, a bit mask of those that are
# punctuation (bit i for token i), and how many are not: neither proximity nor wildcards count
# punctuation as words.
Chunk = tuple[tuple[str, ...], tuple[int, ...], int, int]

CHUNK_CACHE_LIMIT = 50_000  # chunks remembered a generation: two generations at most
_AT_START = (0,)
# What the cache keeps for the most common chunk, one token that is a word: no tuple of its own.
_ONE_WORD: Chunk = ((), _AT_START, 0, 1)
_EMPTY: Chunk = ((), (), 0, 0)  # between two spaces of a run

# The tokenizers (by spaCy language) that never cut between two letters but in special cases:
# read from their prefix, suffix and infix lists and checked on random text
# (tests/matching/test_chunks.py).  There a chunk of letters alone that is no special case is
# one token, a word, and the index need not cut a chunk where a rule's word is glued to letters.
LETTERS_GLUED = frozenset({"it", "en", "xx", "de", "fr", "es"})


def cut_between_letters(nlp: Language) -> frozenset[str]:
    """The special cases of the tokenizer that cut between two letters (English ``cannot``)."""
    glued = set()
    for text, pieces in (getattr(nlp.tokenizer, "rules", None) or {}).items():
        at = 0
        for piece in pieces[:-1]:
            at += len(piece[ORTH])
            if text[at - 1].isalpha() and text[at].isalpha():
                glued.add(text)
                break
    return frozenset(glued)


# Marks that open or close a word in news ("(nato", "nato),", «Nato»): where the tokenizer cuts
# each off a word of lowercase ASCII letters as one punctuation token (checked for each
# tokenizer when its ChunkTokenizer is made: ``marks_cut_off``), a chunk made of such a word,
# with at most one of them before and one after, is cut without spaCy.
OPENING_MARKS = '(["«“'
CLOSING_MARKS = ',.;:!?)]"»”…'
# words the check cuts with each mark around: one letter, an elided form, a word, abbreviations;
# tests/matching/test_chunks.py holds the shortcut to spaCy on many more
_CHECKED_WORDS = ("a", "l", "dell", "nato", "etc", "mr")


def marks_cut_off(tokenizer: Tokenizer) -> tuple[str, str]:
    """The opening and closing marks that ``tokenizer`` cuts off a word of letters, each as a
    punctuation token of its own, in every checked word (see OPENING_MARKS)."""
    specials = tokenizer.rules or {}

    def cut(chunk: str) -> list[tuple[str, bool]]:
        return [(token.text, token.is_punct) for token in tokenizer(chunk)]

    def alone(mark: str, before: bool) -> bool:
        return mark not in specials and all(
            cut(mark + word if before else word + mark)
            == ([(mark, True), (word, False)] if before else [(word, False), (mark, True)])
            for word in _CHECKED_WORDS
            if word not in specials and (mark + word if before else word + mark) not in specials
        )

    opening = "".join(mark for mark in OPENING_MARKS if alone(mark, True))
    closing = "".join(mark for mark in CLOSING_MARKS if alone(mark, False))
    both = all(
        cut(first + word + last) == [(first, True), (word, False), (last, True)]
        for first in opening
        for last in closing
        for word in _CHECKED_WORDS[2:4]
        if not {word, first + word, word + last, first + word + last} & specials.keys()
    )
    return (opening, closing) if both else ("", "")


def letters_glued(nlp: Language) -> bool:
    """Whether the pipeline's tokenizer is one that never cuts between two letters but in
    special cases (see LETTERS_GLUED)."""
    return nlp.lang in LETTERS_GLUED and type(nlp.tokenizer) is Tokenizer


class ChunkTokenizer:
    """Chunk → its tokens, remembered; the chunks not yet known are cut by spaCy together.

    ``nlp`` gives the language's article pipeline, whose tokenizer is the one that counts (a
    trained pipeline's, or the tuned blank one); it is asked again at each miss, so a renewed
    pipeline is used as soon as it is there.
    """

    def __init__(self, nlp: Callable[[], Language]) -> None:
        self._nlp = nlp
        self._known: dict[str, Chunk] = {}
        self._older: dict[str, Chunk] = {}
        self._lock = threading.Lock()
        self._specials: frozenset[str] | None = None  # None: every chunk goes through spaCy
        self._marked: re.Pattern[str] | None = None  # a word between marks (see OPENING_MARKS)
        tokenizer = nlp().tokenizer
        if isinstance(tokenizer, Tokenizer) and letters_glued(nlp()):
            self._specials = frozenset(tokenizer.rules or {})
            opening, closing = marks_cut_off(tokenizer)
            if opening or closing:
                self._marked = re.compile(
                    f"([{re.escape(opening)}]?)([a-z]+)([{re.escape(closing)}]?)"
                    if opening and closing
                    else f"()([a-z]+)([{re.escape(closing)}]?)"
                    if closing
                    else f"([{re.escape(opening)}]?)([a-z]+)()"
                )

    def __len__(self) -> int:
        return len(self._known) + len(self._older)

    def get(self, chunk: str) -> Chunk | None:
        """The chunk's tokens if remembered, else None (see ``tokens``)."""
        found = self._known.get(chunk)
        if found is None:
            found = self._older.get(chunk)
            if found is None:
                return None
            self._remember(chunk, found)
        return ((chunk,), _AT_START, 0, 1) if found is _ONE_WORD else found

    def word_counts(self, parts: list[str]) -> list[int]:
        """How many words each of ``parts`` (a field split at spaces: empty between two spaces)
        holds, the unknown ones cut together."""
        known = self._known
        got = list(map(known.get, parts))
        missing = [i for i, tokens in enumerate(got) if tokens is None]
        if missing:
            unknown = []
            for i in missing:
                part = parts[i]
                tokens = self.get(part) if part else _EMPTY
                if tokens is None:
                    unknown.append(i)
                got[i] = tokens
            if unknown:
                cut = self.cut(list(dict.fromkeys(parts[i] for i in unknown)))
                by_part = dict(zip(dict.fromkeys(parts[i] for i in unknown), cut, strict=True))
                for i in unknown:
                    got[i] = by_part[parts[i]]
        return [tokens[3] for tokens in got]  # type: ignore[index]

    def tokens(self, chunk: str) -> Chunk:
        found = self.get(chunk)
        if found is None:
            found = self.cut([chunk])[0]
        return found

    def all(self, chunks: Iterable[str]) -> list[Chunk]:
        """The tokens of each of ``chunks`` (none empty), the unknown ones cut in one call."""
        chunks = list(chunks)
        got = [self.get(chunk) for chunk in chunks]
        missing = [chunk for chunk, tokens in zip(chunks, got, strict=True) if tokens is None]
        if not missing:
            return got  # type: ignore[return-value]
        cut = dict(zip(missing, self.cut(missing), strict=True))
        return [
            tokens if tokens is not None else cut[chunk] for chunk, tokens in zip(chunks, got, strict=True)
        ]

    def cut(self, chunks: list[str]) -> list[Chunk]:
        """Cut ``chunks`` (none empty, none known) with spaCy, in one call, and remember them.

        They are joined by line breaks: a line break is a token of its own, so no special case
        can reach from one chunk into the next, and each is cut exactly as if alone.  A chunk of
        letters alone that is no special case is one word where the tokenizer never cuts between
        two letters otherwise (see LETTERS_GLUED): spaCy is not asked.
        """
        if self._specials is None:
            return self._cut(chunks)
        out: list[Chunk | None] = []
        hard = []
        for chunk in chunks:
            tokens = self._without_spacy(chunk)
            if tokens is None:
                hard.append(chunk)
            out.append(tokens)
        if not hard:
            return out  # type: ignore[return-value]
        cut = dict(zip(hard, self._cut(hard), strict=True))
        return [
            tokens if tokens is not None else cut[chunk] for chunk, tokens in zip(chunks, out, strict=True)
        ]

    def _without_spacy(self, chunk: str) -> Chunk | None:
        """The tokens of a chunk that is a word of letters, perhaps between marks that the
        tokenizer cuts off (see OPENING_MARKS), and none of whose parts is a special case: what
        spaCy would make of it, remembered.  None for any other chunk."""
        specials = self._specials
        assert specials is not None
        if chunk.isalpha():
            if chunk in specials:
                return None
            self._remember(chunk, _ONE_WORD)
            return ((chunk,), _AT_START, 0, 1)
        marked = self._marked.fullmatch(chunk) if self._marked is not None else None
        if marked is None:
            return None
        before, word, after = marked.groups()
        if chunk in specials or word in specials or before + word in specials or word + after in specials:
            return None
        if before and after:
            tokens: Chunk = ((before, word, after), (0, 1, 1 + len(word)), 0b101, 1)
        elif before:
            tokens = ((before, word), (0, 1), 0b01, 1)
        else:
            tokens = ((word, after), (0, len(word)), 0b10, 1)
        self._remember(chunk, tokens)
        return tokens

    def _cut(self, chunks: list[str]) -> list[Chunk]:
        doc = self._nlp().tokenizer("\n".join(chunks))
        rows = doc.to_array([IDX, LENGTH, IS_PUNCT, IS_SPACE]).tolist()
        out: list[Chunk] = []
        row = 0
        base = 0
        for chunk in chunks:
            end = base + len(chunk)
            texts: list[str] = []
            offsets: list[int] = []
            punct = 0
            while row < len(rows) and rows[row][0] < end:
                at, length, is_punct, is_space = rows[row]
                row += 1
                if is_space:
                    continue
                if is_punct:
                    punct |= 1 << len(texts)
                offsets.append(at - base)
                texts.append(chunk[at - base : at - base + length])
            words = len(texts) - punct.bit_count()
            tokens: Chunk = (tuple(texts), _AT_START if offsets == [0] else tuple(offsets), punct, words)
            out.append(tokens)
            self._remember(chunk, _ONE_WORD if texts == [chunk] and not punct else tokens)
            base = end + 1
            while row < len(rows) and rows[row][0] < base:  # the line break after the chunk
                row += 1
        return out

    def _remember(self, chunk: str, tokens: Chunk) -> None:
        with self._lock:
            if len(self._known) >= CHUNK_CACHE_LIMIT:
                self._older, self._known = self._known, {}
            self._known[chunk] = tokens

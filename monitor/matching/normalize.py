"""Fold text for matching while remembering where every character came from.

Matching is case- and accent-insensitive, blind to typographic apostrophes and
to how lines were broken, yet hits must point at the original characters.  So
folding keeps a 1:1 character map wherever it can (lowercasing, accent
stripping, quote unification) and records a breakpoint only where it cannot
(a run of whitespace collapsed to one space, an invisible character dropped).
Pure: no spaCy, no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass

_APOSTROPHES = "\u2019\u2018\u02bc\u02bb\u00b4\u0060\u2032\uff07"
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2212\ufe63\uff0d"
_INVISIBLE = "\u00ad\u200b\u200c\u200d\u2060\ufeff"
# Whitespace runs other than a single space, lone non-space whitespace, invisible
# characters and combining marks (decomposed accents): everything that folding
# must shorten or widen.
_IRREGULAR = re.compile(rf"[\s{_INVISIBLE}\u0300-\u036f]{{2,}}|[^\S ]|[{_INVISIBLE}\u0300-\u036f]")


def _build_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(0x80, 0x3000):
        char = chr(code)
        base = "".join(c for c in unicodedata.normalize("NFKD", char.lower()) if not unicodedata.combining(c))
        if len(base) == 1 and base != char:
            table[code] = base
    for char in _APOSTROPHES:
        table[ord(char)] = "'"
    for char in _DASHES:
        table[ord(char)] = "-"
    return table


_TABLE = _build_table()
# A hyphen between two letters joins words that rules may name apart or together:
# "cessate-il-fuoco" must match "cessate il fuoco", "anti-NATO" must contain NATO.
_WORD_HYPHEN = re.compile(r"(?<=[^\W\d_])-(?=[^\W\d_])")


@dataclass(frozen=True, slots=True)
class FoldedText:
    """Folded text plus the breakpoints that map its offsets back to the original."""

    text: str
    _folded_at: tuple[int, ...] = ()
    _original_at: tuple[int, ...] = ()

    def original_offset(self, offset: int) -> int:
        """Where folded ``offset`` starts in the original text."""
        i = bisect_right(self._folded_at, offset) - 1
        if i < 0:
            return offset
        return self._original_at[i] + (offset - self._folded_at[i])

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original span covering folded ``[start, end)``."""
        return self.original_offset(start), self.original_offset(end - 1) + 1


def _fold_chars(text: str) -> str:
    lowered = text.lower()
    if len(lowered) != len(text):  # e.g. 'İ' lowers to two characters: keep 1:1
        lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    folded = lowered if lowered.isascii() else lowered.translate(_TABLE)
    return _WORD_HYPHEN.sub(" ", folded) if "-" in folded else folded


def fold(text: str) -> FoldedText:
    """Lowercase, strip accents, unify quotes and dashes, split hyphenated words, collapse whitespace."""
    if not _IRREGULAR.search(text):
        return FoldedText(_fold_chars(text))
    pieces: list[str] = []
    folded_at: list[int] = []
    original_at: list[int] = []
    position = 0  # in the original
    length = 0  # of the folded text so far
    for run in _IRREGULAR.finditer(text):
        start, end = run.span()
        pieces.append(text[position:start])
        length += start - position
        replacement = " " if any(c.isspace() for c in run.group()) else ""
        # a combining mark directly after a letter belongs to it; a space keeps words apart
        pieces.append(replacement)
        length += len(replacement)
        folded_at.append(length)
        original_at.append(end)
        position = end
    pieces.append(text[position:])
    return FoldedText(_fold_chars("".join(pieces)), tuple(folded_at), tuple(original_at))


def fold_plain(text: str) -> str:
    """Folded text alone, for patterns and comparisons."""
    return fold(text).text

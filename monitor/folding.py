"""Fold text for matching while remembering where every character came from.

In the core because both the matcher and the near-duplicate signatures of stories fold words
the same way.

Matching is case- and accent-insensitive, blind to typographic apostrophes and
to how lines were broken, yet hits must point at the original characters.  So
folding keeps a 1:1 character map wherever it can (lowercasing, accent
stripping, quote unification, every whitespace character to a space — the
matcher skips the whitespace tokens spaCy makes of runs) and records a
breakpoint only where it cannot (an invisible character or a combining accent
dropped, a letter written as several: ß → ss, ﬁ → fi), which is rare, so most
texts fold with a handful of C-level string operations.

What a letter folds to comes from Unicode's decompositions (NFKD strips
accents and undoes width and font variants; NFKC splits ligatures) and, for the
Latin letters that no decomposition touches (Ł, Ø, Đ, ı, ß, Æ, Œ, Þ…), from
anyascii's transliteration table: their usual ASCII spelling, so ``Lodz`` and
``Łódź`` fold alike.  Other scripts keep their letters.  Pure: no spaCy, no I/O.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from anyascii import anyascii

_APOSTROPHES = "\u2019\u2018\u02bc\u02bb\u00b4\u0060\u2032\uff07"
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2212\ufe63\uff0d"
_INVISIBLE = "\u00ad\u200b\u200c\u200d\u2060\ufeff"
_COMBINING = "".join(map(chr, range(0x300, 0x370)))  # the marks of decomposed accents
# Invisible characters and combining marks: what folding drops.
_DROPPED_CHARS = frozenset(_INVISIBLE + _COMBINING)
_ASCII_SPACES = "\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"


# What the folding table covers: the Basic Multilingual Plane but for the blocks that fold to
# nothing (CJK and Yi ideographs, Hangul syllables, surrogates and private use: tests check
# it), the mathematical letters (𝐍𝐀𝐓𝐎 in social posts) and the enclosed ones (🄽🄰🅃🄾).
# Beyond, characters are kept.
_TABLE_RANGES = (
    range(0x80, 0x3400),
    range(0xA4D0, 0xAC00),
    range(0xF900, 0x10000),
    range(0x1D400, 0x1D800),
    range(0x1F100, 0x1F200),
)


def _strip_marks(char: str) -> str:
    """``char`` decomposed (NFKD: accents apart, width and font variants undone), marks dropped."""
    return "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)).lower()


def _latin_ascii(char: str) -> str:
    """The usual ASCII spelling of a Latin letter that decomposition keeps (ł → l, ß → ss)."""
    cased = char.islower() or char.isupper()  # not the click letters (ǃ), which are no spelling
    if char.isascii() or not (cased and char.isalpha()) or "LATIN" not in unicodedata.name(char, ""):
        return char
    spelt = anyascii(char).lower()
    return spelt if spelt.isascii() and spelt.isalpha() else char


def _fold_letter(char: str) -> str:
    base = _strip_marks(char)
    # several characters: a Hangul syllable's jamo (kept), a Latin letter with a middle dot (ŀ → l)
    return _latin_ascii(base if len(base) == 1 else char)


def _fold_char(char: str) -> str:
    """What folding makes of one lowercase character (or of one whose lowercase is longer, İ).

    Several characters only for a letter whose compatibility form is several letters (NFKC:
    ﬁ → fi, ǆ → dž → dz) or whose Latin spelling is (ß → ss, æ → ae); a symbol stays one
    character (™, ½ and … are not spelt out).
    """
    compatible = unicodedata.normalize("NFKC", char)
    if len(compatible) > 1 and char.isalpha() and compatible.isalpha():
        return "".join(map(_fold_letter, compatible.lower()))
    return _fold_letter(char)


def _build_table() -> dict[int, str]:
    table: dict[int, str] = {}
    decomposition, name = unicodedata.decomposition, unicodedata.name
    for code in (code for codes in _TABLE_RANGES for code in codes):
        char = chr(code)
        lowered = char.lower()
        key = lowered if len(lowered) == 1 else char
        # most characters decompose to nothing and are no Latin letter: one C call says so
        if decomposition(key) or (key.isalpha() and "LATIN" in name(key, "")):
            key = _fold_char(key)
        if key != char:
            table[code] = key
        if char.isspace():
            table[code] = " "
    for char in _APOSTROPHES:
        table[ord(char)] = "'"
    for char in _DASHES:
        table[ord(char)] = "-"
    # what a character folds to folds no further (translate() passes once): ｀ → ` is kept as `
    for code, folded in table.items():
        if any(ord(c) > 0x7F and ord(c) in table for c in folded):
            table[code] = "".join(table.get(ord(c), c) if ord(c) > 0x7F else c for c in folded)
    return table


_TABLE = _build_table()


# The characters whose folding shifts offsets: dropped ones, and those folding to several
# (any case: the table folds each character as its lowercase), with how many.
_EXPANDING = {chr(code): len(folded) for code, folded in _TABLE.items() if len(folded) > 1}
_SHIFTING_CHARS = _DROPPED_CHARS | {c.lower() for c in _EXPANDING if len(c.lower()) == 1}
_SHIFTS = re.compile(f"[{_INVISIBLE}{_COMBINING}]+|[{re.escape(''.join(_EXPANDING))}]")
# A hyphen between two letters joins words that rules may name apart or together:
# "cessate-il-fuoco" must match "cessate il fuoco", "anti-NATO" must contain NATO.
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


@dataclass(frozen=True, slots=True)
class FoldedText:
    """Folded text plus the breakpoints that map its offsets back to the original."""

    text: str
    _folded_at: tuple[int, ...] = ()
    _original_at: tuple[int, ...] = ()

    @property
    def shifted(self) -> bool:
        """True when some offsets differ between the folded and the original text."""
        return bool(self._folded_at)

    def original_offset(self, offset: int) -> int:
        """Where folded ``offset`` starts in the original text."""
        i = bisect_right(self._folded_at, offset) - 1
        if i < 0:
            return offset
        return self._original_at[i] + (offset - self._folded_at[i])

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original span covering folded ``[start, end)``."""
        return self.original_offset(start), self.original_offset(end - 1) + 1


def distinct_non_ascii(text: str) -> set[str]:
    """The distinct non-ASCII characters of ``text``.

    Read from its code points in numpy, which on a news article beats a regular
    expression: that pays for every character it steps over.
    """
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return set(map(chr, np.unique(points[points > 0x7F]).tolist()))


def _lower(text: str) -> str:
    lowered = text.lower()
    if len(lowered) != len(text):  # e.g. 'İ' lowers to two characters: keep 1:1
        lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    return lowered


def _fold_lowered(lowered: str, distinct: set[str] | None = None) -> str:
    """The rest of folding, after ``_lower``; ``distinct`` are its non-ASCII characters, if known."""
    folded = lowered if lowered.isascii() else _fold_non_ascii(lowered, distinct)
    for space in _ASCII_SPACES:
        if space in folded:
            folded = folded.replace(space, " ")
    return _split_hyphenated(folded)


def _translate_run(run: re.Match[str]) -> str:
    return run.group().translate(_TABLE)


def _fold_non_ascii(text: str, distinct: set[str] | None = None) -> str:
    """``translate(_TABLE)`` of the non-ASCII characters of ``text``, as a few C-level replaces.

    translate() looks up every character in a dict and a callback per run costs a call
    per accented word; news text has only a handful of distinct non-ASCII characters, so
    each is replaced once throughout.  When one replacement would feed another (a
    character folding to one that folds again), the runs are translated one by one.
    """
    if distinct is None:
        distinct = distinct_non_ascii(text)
    folds = {c: f for c in distinct if (f := _TABLE.get(ord(c))) is not None}
    if any(f in folds for f in folds.values()):
        return _NON_ASCII.sub(_translate_run, text)
    for char, folded in folds.items():
        text = text.replace(char, folded)
    return text


def _split_hyphenated(text: str) -> str:
    """A hyphen between two letters becomes a space (same length, offsets unchanged); a text
    without a hyphen is returned as it is, after one ``find``."""
    chars: list[str] | None = None
    at = text.find("-")
    while at != -1:
        if 0 < at < len(text) - 1 and _is_letter(text[at - 1]) and _is_letter(text[at + 1]):
            chars = chars if chars is not None else list(text)
            chars[at] = " "
        at = text.find("-", at + 1)
    return "".join(chars) if chars is not None else text


def _is_letter(char: str) -> bool:
    return char.isalnum() and not char.isdecimal() and char != "_"


_UNMAPPED = 0xFFFF  # in the code unit table: a character folding cannot map to one character alone


@functools.cache
def _code_unit_table() -> np.ndarray:
    """What folding makes of each UTF-16 code unit, where it makes one character of it.

    ``_UNMAPPED`` marks the rest, which the general path folds: characters dropped or folded
    to several (both shift offsets), lowered to two characters (İ), lowered by context (Σ, whose
    lowercase depends on whether it ends a word), surrogates (beyond the BMP) and U+FFFF itself.
    """
    table = np.full(0x10000, _UNMAPPED, dtype=np.uint16)
    for code in range(0x10000):
        char = chr(code)
        lowered = char.lower()
        if len(lowered) != 1 or char == "\u03a3" or char in _DROPPED_CHARS or 0xD800 <= code < 0xE000:
            continue
        folded = _TABLE.get(ord(lowered), lowered) if ord(lowered) > 0x7F else lowered  # as _fold_non_ascii
        if len(folded) != 1 or ord(folded) > 0xFFFF:  # ß → ss; a CJK compatibility ideograph
            continue
        table[code] = 0x20 if folded in _ASCII_SPACES else ord(folded)
    table[_UNMAPPED] = _UNMAPPED
    return table


def _fold_code_units(text: str) -> str | None:
    """Lowering and folding ``text`` by one look-up of each UTF-16 code unit in numpy, before
    hyphens are split; None when one character needs the general path.

    Lowering a non-ASCII text in Python costs a step per character and finding its distinct
    characters as much again; one table look-up per code unit does both at once.
    """
    units = np.frombuffer(text.encode("utf-16-le", "surrogatepass"), dtype=np.uint16)
    folded = _code_unit_table().take(units)
    if folded.max(initial=0) == _UNMAPPED:  # the largest code unit there is
        return None
    return folded.tobytes().decode("utf-16-le")


def fold(text: str) -> FoldedText:
    """Lowercase, strip accents, unify quotes and dashes, split hyphenated words, whitespace to spaces."""
    if text.isascii():
        return FoldedText(_fold_lowered(text.lower()))
    mapped = _fold_code_units(text)
    if mapped is not None:
        return FoldedText(_split_hyphenated(mapped))
    # Lowering makes no character dropped nor drops one (only 'İ' gains a combining dot, and
    # _lower keeps it whole), so the lowered text's distinct characters, needed to fold it,
    # also tell whether any offset shifts: one count of them instead of two.
    lowered = _lower(text)
    distinct = distinct_non_ascii(lowered)
    if distinct.isdisjoint(_SHIFTING_CHARS):
        return FoldedText(_fold_lowered(lowered, distinct))
    return _fold_shifting(text)


def _fold_shifting(text: str) -> FoldedText:
    """Fold a text some of whose characters are dropped or become several, with breakpoints.

    A character folded to k characters maps each of them back to itself: the breakpoints
    after its first k - 1 point at it, the one after its last at the next character.
    """
    pieces: list[str] = []
    folded_at: list[int] = []
    original_at: list[int] = []
    position = 0  # in the original
    length = 0  # of the folded text so far

    def mark(folded: int, original: int) -> None:
        if folded_at and folded_at[-1] == folded:
            original_at[-1] = original
        else:
            folded_at.append(folded)
            original_at.append(original)

    for run in _SHIFTS.finditer(text):
        start, end = run.span()
        length += start - position
        expansion = _EXPANDING.get(run.group(), 0)
        if expansion:  # kept, to be folded with the rest
            pieces.append(text[position:end])
            for extra in range(1, expansion):
                mark(length + extra, start)
            length += expansion
        else:  # dropped
            pieces.append(text[position:start])
        mark(length, end)
        position = end
    pieces.append(text[position:])
    return FoldedText(_fold_lowered(_lower("".join(pieces))), tuple(folded_at), tuple(original_at))


def fold_plain(text: str) -> str:
    """Folded text alone, for patterns and comparisons."""
    return fold(text).text


_SEPARATOR = "\x00"  # between the texts of a batch: folds to itself, and nothing folds to it
_FOLDED_ALONE = 4  # a batch this small that needs the general path is folded text by text


def fold_plain_many(texts: Sequence[str]) -> list[str]:
    """``[fold_plain(text) for text in texts]``, in a few numpy calls for the whole batch.

    Folding pays a fixed cost per call that a short text does not amortise, and a backtest
    folds every stored text of its window.  The batch is joined and folded by code units at
    once; where one of its texts needs the general path (ß, a soft hyphen, İ), the batch is
    halved until the others fold together and that text folds alone.  The separator is no
    letter, so a hyphen at a text's edge stays as it would at the end of a text.
    """
    out: list[str] = []
    _fold_batch(list(texts), out)
    return out


def _fold_batch(texts: list[str], out: list[str]) -> None:
    if not texts:
        return
    joined = _SEPARATOR.join(texts)
    if joined.count(_SEPARATOR) == len(texts) - 1:  # no text holds the separator itself
        if joined.isascii():
            out.extend(_fold_lowered(joined.lower()).split(_SEPARATOR))
            return
        mapped = _fold_code_units(joined)
        if mapped is not None:
            out.extend(_split_hyphenated(mapped).split(_SEPARATOR))
            return
    if len(texts) <= _FOLDED_ALONE:
        out.extend(fold_plain(text) for text in texts)
        return
    half = len(texts) // 2
    _fold_batch(texts[:half], out)
    _fold_batch(texts[half:], out)

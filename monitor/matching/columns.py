"""What the scan reads of a field's tokens: the non-space tokens' hashes, where they sit in the
doc, and which of them start an anchor (the START lexeme flag).

Read in one pass over spaCy's token array by a small compiled module (``_columns.pyx``, built
at install when a C++ compiler is there), far cheaper than ``Doc.to_array`` and the numpy that
follows, which would be a large share of what matching adds to tokenization (its figure is in
bench/RESULTS.md).  Without it the same columns come from ``Doc.to_array``.
The compiled module reads spaCy's structs as the spaCy it was built against laid them out, so
its first answers are checked against the numpy ones, and it is dropped (with a warning) at
the first difference rather than trusted.  ``MONITOR_COMPILED_SCAN=0`` turns it off.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable
from operator import eq
from types import ModuleType
from typing import TypeVar

import numpy as np
from spacy.attrs import IDX, IS_PUNCT, IS_SPACE, LENGTH, ORTH
from spacy.strings import get_string_id
from spacy.tokens import Doc

log = logging.getLogger(__name__)
T = TypeVar("T")

Columns = tuple[np.ndarray, np.ndarray | None, np.ndarray]  # orths, kept positions or None, starting
FlaggedWords = tuple[list[int], list[str]]  # positions among the non-space tokens, their texts
Forms = list[tuple[int, tuple[int, ...]]]  # a term's forms: (first token's hash, the hashes after it)
Spans = list[tuple[int, int]]  # token spans, end exclusive
ONE_SPACE = get_string_id(" ")
CHECKED_CALLS = 20  # the compiled module's first answers compared with numpy's


def numpy_columns(doc: Doc, text: str, start: int) -> Columns:
    """The columns through ``Doc.to_array``: one C call for the whole field, then numpy.

    Folding made every whitespace character a space, and spaCy makes a token of spaces only
    from a run of them or a leading one: k + 1 spaces between words, or k leading ones, make a
    token of k spaces.  So without three spaces in a row or two leading ones, every whitespace
    token is one space, known by its hash, and the space column need not be read.
    """
    spaced = text[:1] == " " or "  " in text
    long_runs = spaced and ("   " in text or text[:2] == "  ")
    columns = doc.to_array([ORTH, start, IS_SPACE] if long_runs else [ORTH, start])
    kept: np.ndarray | None = None
    if spaced:
        words = columns[:, 2] == 0 if long_runs else columns[:, 0] != ONE_SPACE
        if not words.all():
            kept = np.flatnonzero(words)
            columns = columns.take(kept, axis=0)  # much faster than columns[words] here
    return columns[:, 0], kept, np.flatnonzero(columns[:, 1])


def numpy_flagged_words(doc: Doc, text: str, kept: np.ndarray | None, flag: int) -> FlaggedWords:
    columns = doc.to_array([flag, IDX, LENGTH])
    if kept is not None:
        columns = columns.take(kept, axis=0)
    positions = np.flatnonzero(columns[:, 0])
    starts, lengths = columns[positions, 1].tolist(), columns[positions, 2].tolist()
    return positions.tolist(), [text[at : at + n] for at, n in zip(starts, lengths, strict=True)]


def numpy_prefixed_words(doc: Doc, text: str, kept: np.ndarray | None, flag: int, prefix: str) -> list[int]:
    positions, words = numpy_flagged_words(doc, text, kept, flag)
    return [at for at, word in zip(positions, words, strict=True) if word.startswith(prefix)]


def numpy_phrase_spans(orths: np.ndarray, forms: Forms) -> Spans:
    """One comparison of the field's hashes in C per form, then a check of each candidate's
    following tokens in Python."""
    spans = []
    for first, rest in forms:
        positions = (orths == first).nonzero()[0].tolist()
        if not rest:
            spans += [(i, i + 1) for i in positions]
            continue
        n = len(rest) + 1
        spans += [(i, i + n) for i in positions if tuple(orths[i + 1 : i + n].tolist()) == rest]
    if len(forms) > 1:
        spans.sort()
    return spans


def numpy_word_numbers(doc: Doc, kept: np.ndarray | None) -> np.ndarray:
    punct = doc.to_array(IS_PUNCT)
    if kept is not None:
        punct = punct[kept]
    return np.concatenate(([0], np.cumsum(punct == 0)))


def _load_compiled() -> ModuleType | None:
    if os.environ.get("MONITOR_COMPILED_SCAN", "1") == "0":
        return None
    try:
        from monitor.matching import _columns
    except ImportError:
        log.debug("compiled token scan not built: reading token columns through numpy")
        return None
    return _columns


_compiled = _load_compiled()
_checked: Counter[str] = Counter()  # the compiled answers compared with numpy's, by function


def _verified(name: str, found: T, expected: Callable[[], T], same: Callable[[T, T], bool] = eq) -> T:
    """The compiled module's answer ``found``, compared with numpy's (``expected()``) for the
    first CHECKED_CALLS calls of each function: at the first difference the module is dropped,
    with a warning, and numpy answers from then on."""
    global _compiled
    if _checked[name] >= CHECKED_CALLS:
        return found
    _checked[name] += 1
    answer = expected()
    if same(found, answer):
        return found
    _compiled = None
    log.warning(
        "compiled token scan disagrees with spaCy's own arrays (built against another spaCy?):"
        " reading token columns through numpy; reinstall news-monitor to rebuild it"
    )
    return answer


def compiled() -> bool:
    """Whether the compiled module reads the columns (for logs, tests and the bench)."""
    return _compiled is not None


def word_columns(doc: Doc, text: str, start: int) -> Columns:
    """The columns of ``doc``, the tokens of the folded ``text``."""
    module = _compiled
    if module is None:
        return numpy_columns(doc, text, start)
    found: Columns = module.word_columns(doc, start)
    return _verified("word_columns", found, lambda: numpy_columns(doc, text, start), _same)


def flagged_words(doc: Doc, text: str, kept: np.ndarray | None, flag: int) -> FlaggedWords:
    """The positions, among the non-space tokens (``kept``), of those whose lexeme has ``flag``,
    and their texts in ``text`` (the doc's): cut from it, since a string store look-up of each
    token's text costs half a microsecond inside a memory zone."""
    module = _compiled
    if module is None:
        return numpy_flagged_words(doc, text, kept, flag)
    found: FlaggedWords = module.flagged_words(doc, text, flag)
    return _verified("flagged_words", found, lambda: numpy_flagged_words(doc, text, kept, flag))


def prefixed_words(doc: Doc, text: str, kept: np.ndarray | None, flag: int, prefix: str) -> list[int]:
    """The positions, among the non-space tokens, of those whose lexeme has ``flag`` and whose
    text starts with ``prefix``: where a woken rule's deferred wildcard ``prefix*`` occurs.

    Compiled, the flagged words' text is compared with the prefix in place: at 100,000 rules a
    body's words match some prefix by the hundred, and cutting each text out to test it cost
    far more."""
    module = _compiled
    if module is None:
        return numpy_prefixed_words(doc, text, kept, flag, prefix)
    found: list[int] = module.prefixed_words(doc, text, flag, prefix)
    return _verified("prefixed_words", found, lambda: numpy_prefixed_words(doc, text, kept, flag, prefix))


def phrase_spans(orths: np.ndarray, forms: Forms) -> Spans:
    """Token spans (end exclusive) where one of a term's ``forms`` occurs among a field's token
    hashes, in reading order: what a woken rule asks of a term the scan does not look for.

    Compiled, one pass over the hashes per form, instead of numpy followed by a check of each
    candidate in Python, which is slow when the phrase's first word is common.
    """
    module = _compiled
    if module is None:
        return numpy_phrase_spans(orths, forms)
    found: Spans = module.phrase_spans(orths, forms)
    return _verified("phrase_spans", found, lambda: numpy_phrase_spans(orths, forms))


def word_numbers(doc: Doc, kept: np.ndarray | None) -> np.ndarray:
    """Each non-space token's word number (punctuation does not count), then the field's word count.

    An array, not a list: a proximity rule asks for a few of a field's numbers, and building a
    list of a whole body's Python integers cost more than the rest of deciding it."""
    module = _compiled
    return numpy_word_numbers(doc, kept) if module is None else module.word_numbers(doc)


def _same(a: Columns, b: Columns) -> bool:
    (orths_a, kept_a, starting_a), (orths_b, kept_b, starting_b) = a, b
    if kept_a is None or kept_b is None:
        kept_same = kept_a is None and kept_b is None
    else:
        kept_same = np.array_equal(kept_a, kept_b)
    return kept_same and np.array_equal(orths_a, orths_b) and np.array_equal(starting_a, starting_b)

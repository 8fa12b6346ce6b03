"""Snippets: the sentence around a hit, found without reading the whole article."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.matching import snippet
from monitor.matching.snippet import _SENTENCE_END, MAX_SNIPPET, regex_sentence_bounds

Bounds = Callable[..., tuple[int, int]]


def compiled_bounds(text: str, start: int, end: int, *, reach: int = 2 * MAX_SNIPPET) -> tuple[int, int]:
    if snippet._compiled is None:
        pytest.skip("the compiled sentence scan (_sentences.pyx) is not built")
    return snippet._compiled(text, start, end, reach)


IMPLEMENTATIONS = pytest.mark.parametrize(
    "sentence_bounds", [regex_sentence_bounds, compiled_bounds], ids=["regex", "compiled"]
)


def bounds_by_one_scan(text: str, start: int, end: int, reach: int = 2 * MAX_SNIPPET) -> tuple[int, int]:
    """The plain definition: the last boundary found scanning from ``reach`` back."""
    window = max(0, start - reach)
    left = window
    for boundary in _SENTENCE_END.finditer(text, window, start):
        left = boundary.end()
    following = _SENTENCE_END.search(text, end, min(len(text), end + reach))
    return left, following.start() if following else min(len(text), end + reach)


PIECES = ["parola", "Nato", ".", "!", "?", "…", " ", "  ", "\n", "\n\n", "»", "”", ")", '"', "’", "x" * 90]
PIECES += ["\t", "\r\n", "\u00a0", "\u2028", "]", "'", ","]  # other whitespace, the other closing marks


@IMPLEMENTATIONS
@settings(max_examples=max(300, settings.default.max_examples), deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=120), st.data())
def test_snippet_sentence_bounds_agree_with_one_scan(
    sentence_bounds: Bounds, pieces: list[str], data: st.DataObject
) -> None:
    text = "".join(pieces)
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    reach = data.draw(st.sampled_from([2 * MAX_SNIPPET, 1, 7, 60]))
    assert sentence_bounds(text, start, end, reach=reach) == bounds_by_one_scan(text, start, end, reach)


@IMPLEMENTATIONS
def test_snippet_sentence_ends_where_the_plain_scan_ends_it(sentence_bounds: Bounds) -> None:
    # the cases a faster search could get wrong: a hit ending with its sentence's full stop, a line
    # break right after the hit, a boundary cut by the near window's edge, closing quotes
    text = "Primo. " + "x" * 195 + ".  »Il vertice degli U.S.« si apre.\n\nAltro"
    at = text.index("U.S.")
    cases = [
        ("\n\n", 0, 1),
        ("Lo dice la Nato.\nPoi", 11, 16),
        (text, at, at + 4),
        (text, at, at + 5),
        ("Sì. «Nato»! Dopo", 4, 10),
        ('Fine." Inizio', 7, 13),
    ]
    for case in cases:
        assert sentence_bounds(*case) == bounds_by_one_scan(*case), case

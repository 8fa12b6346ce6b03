"""Folding: the fast path gives exactly what translating every non-ASCII run gives."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.matching.normalize import _NON_ASCII, _fold_non_ascii, _translate_run, distinct_non_ascii

NEWS_CHARS = "àèéìòùçñüößæøœł’‘“”«»–—…\u00a0\u2009\u200bÆǝɛΓγπυ−｀ｅ"


@settings(max_examples=max(300, settings.default.max_examples), deadline=None)
@given(st.text(st.sampled_from(NEWS_CHARS + "abc XYZ'-`")) | st.text())
def test_normalize_fold_non_ascii_agrees_with_translating_each_run(text: str) -> None:
    assert _fold_non_ascii(text) == _NON_ASCII.sub(_translate_run, text)


@given(st.text(st.sampled_from(NEWS_CHARS + "abc XYZ'-`")) | st.text())
@example("lone \ud800 surrogate and \U0001f600 beyond the BMP")
def test_normalizedistinct_non_ascii_are_the_characters_beyond_ascii(text: str) -> None:
    assert distinct_non_ascii(text) == {c for c in text if ord(c) > 0x7F}


def test_lowering_neither_makes_nor_unmakes_a_dropped_character() -> None:
    # fold() asks the lowered text whether anything must be dropped: true for every code point
    from monitor.matching.normalize import _DROPPED_CHARS

    for code in range(0x110000):
        char = chr(code)
        lowered = char.lower()
        if len(lowered) == 1:  # longer lowerings (İ) are kept whole by fold
            assert (char in _DROPPED_CHARS) == (lowered in _DROPPED_CHARS), hex(code)

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

"""Folding a batch of texts at once gives what folding each text alone gives."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.folding import fold_plain, fold_plain_many

# News letters, the characters that take the general path (ß, soft hyphen, İ, Σ, a combining
# accent, beyond the BMP), hyphens at a text's edges, spaces of every kind and the separator.
CHARS = "abcXYZ àèéòüß’«»–\u00a0\u00ad\u200bİıΣσς\u0301\U0001d40d\U0001f600-'\t\n\x00"


@settings(max_examples=max(300, settings.default.max_examples), deadline=None)
@given(st.lists(st.text(st.sampled_from(CHARS)) | st.text(), max_size=40))
@example(["a-", "-b", "ß", "a", "x\x00y", "İstanbul", "ΟΔΟΣ", ""])
@example(["perché", "Straße"] * 20 + ["fine"])
def test_fold_plain_many_folds_each_text_as_fold_plain(texts: list[str]) -> None:
    assert fold_plain_many(texts) == [fold_plain(text) for text in texts]


def test_fold_plain_many_folds_a_batch_with_a_text_for_the_general_path() -> None:
    texts = [f"Perché {n}-esimo" for n in range(100)]
    texts[37] = "Die Straße, ﬁne"  # ß and ﬁ take the general path: the other 99 still fold together
    assert fold_plain_many(texts) == [fold_plain(text) for text in texts]

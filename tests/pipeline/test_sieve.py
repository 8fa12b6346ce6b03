"""The sieve reads a word as the matcher does: a run of letters and digits of the folded field.

Its answers are held to a plain reference (every field folded alone, its words listed, the
formula evaluated on them), on both of its search paths and with batches cut small.
"""

from __future__ import annotations

import re
import tracemalloc

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.folding import fold_plain
from monitor.pipeline.formula import AllOf, AnyOf, Formula, Word
from monitor.pipeline.sieve import TextSieve

_WORD = re.compile(r"[^\W_]+")


def reference(formula: Formula, texts: tuple[str, ...], after_digit: bool) -> bool:
    """What the sieve must say, from each field's folded words (and, for a prefix that may follow
    a digit, the text after each digit too)."""
    folded = [fold_plain(text) for text in texts]
    words = {w for f in folded for w in _WORD.findall(f)}
    starts = set(words)  # where a prefix may begin
    if after_digit:
        starts |= {f[m.end() :] for f in folded for m in re.finditer(r"\d", f)}

    def holds(node: Formula) -> bool:
        if isinstance(node, Word):
            if node.prefix:
                return any(w.startswith(node.text) for w in starts)
            return node.text in words
        results = [holds(item) for item in node.items]
        return all(results) if isinstance(node, AllOf) else any(results)

    return holds(formula)


# Words and what may stand around them: folding (accents, ß, ligatures, full width, soft hyphens),
# elisions, hyphens, digits glued to letters, underscores, the separator the sieve joins with.
PIECES = [
    "nato", "NATO", "Nato", "nati", "natoli", "anato", "ß", "strasse", "Straße", "ﬁne", "fine",
    "Ucraina", "dell'", "dell’", "l'", "anti-", "-", "_", "10", "10km", "km", "G7", "g7s", "3.5",
    "città", "citta", "perche\u0301", "Fin\u00adlandia", "finlandia", "ＮＡＴＯ", "İ", "Σ", "\x00",
    "\x01", " ", " ", "\n", ".", "«", "cessate", "il", "fuoco", "cessate-il-fuoco", "2ª",
]  # fmt: skip
WORDS = [
    Word("nato"), Word("nato", prefix=True), Word("strasse"), Word("fine"), Word("ucraina"),
    Word("dell"), Word("km"), Word("km", prefix=True), Word("g7", prefix=True), Word("citta"),
    Word("perche"), Word("finlandia"), Word("fin", prefix=True), Word("cessate"), Word("fuoco"),
    Word("5"), Word("10", prefix=True), Word("il"), Word("a", prefix=True), Word("s"),
]  # fmt: skip

texts = st.lists(st.sampled_from(PIECES), max_size=12).map("".join)
articles = st.lists(st.tuples(texts, texts, texts), min_size=1, max_size=12)
formulas = st.recursive(
    st.sampled_from(WORDS),
    lambda inner: st.lists(inner, min_size=2, max_size=4).flatmap(
        lambda items: st.sampled_from([AllOf(tuple(items)), AnyOf(tuple(items))])
    ),
    max_leaves=12,
)


@settings(max_examples=max(400, settings.default.max_examples), deadline=None)
@given(articles, formulas, st.booleans(), st.sampled_from([0, 100]), st.sampled_from([1, 40, 1 << 20]))
@example([("La NATO", "", "dell'Ucraina")], AllOf((Word("nato"), Word("ucraina"))), False, 100, 1 << 20)
@example([("10km", "", ""), ("km", "", "")], Word("km", prefix=True), True, 0, 1)
@example([("Die Straße", "", ""), ("strasse", "", "")], Word("strasse"), False, 100, 1 << 20)
@example([("nato_x", "x\x00nato", "")], Word("nato"), False, 0, 1 << 20)
def test_sieve_reads_words_as_the_matcher_folds_them(
    batch: list[tuple[str, str, str]], formula: Formula, after_digit: bool, few: int, max_folded: int
) -> None:
    """``few`` 0: every word in one Aho-Corasick pass, 100: each found alone; ``max_folded`` 1:
    each article folded alone."""
    sieve = TextSieve([formula], after_digit=after_digit, few_words=few, max_folded=max_folded)
    assert sieve.passing(batch) == [reference(formula, texts, after_digit) for texts in batch]


def test_sieve_keeps_no_word_across_two_fields_or_two_articles() -> None:
    sieve = TextSieve([Word("nato")])
    assert sieve.passing([("na", "to", ""), ("", "", "na"), ("to", "", "")]) == [False, False, False]


def test_sieve_needs_a_formula() -> None:
    with pytest.raises(ValueError, match="formula"):
        TextSieve([])


def test_sieve_folds_a_bounded_share_of_the_texts_at_once() -> None:
    """Forty megabytes of text go through the sieve without it holding more than a few at a time
    (folded copies, their search): the texts it is given are read a batch at a time."""
    body = "parola " * 150_000  # about a megabyte each
    batch = [("Titolo", "", body + f"nato{n}") for n in range(40)] + [("NATO", "", "")]
    sieve = TextSieve([Word("nato")], max_folded=1 << 20)
    tracemalloc.start()
    try:
        passing = sieve.passing(batch)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert passing == [False] * 40 + [True]
    assert peak < 16 * 2**20  # each megabyte's folded copies, never the forty at once

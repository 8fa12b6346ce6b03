"""Property: the compiled index agrees with a plain per-rule, per-token reference evaluator.

The reference shares only the tokenizer with the matcher: no PhraseMatcher, no
candidate selection, no shared term keys.  Random queries over a small
vocabulary (so terms collide across rules) and random texts in random case.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.matching.compiler import RuleIndex, acronym_spans
from monitor.matching.matcher import ArticleMatcher
from monitor.matching.nlp import LanguagePipelines
from monitor.matching.normalize import fold
from monitor.matching.query import And, Node, Not, Or, Term, evaluate, matches_without_terms
from monitor.matching.rulefile import RuleSpec
from monitor.models import make_article

WORDS = [
    "nato",
    "NATO",
    "Nato",
    "tregua",
    "fuoco",
    "cessate",
    "il",
    "Finlandia",
    "città",
    "citta",
    "USA",
    "usa",
]
PIPELINES = LanguagePipelines({"it": "blank"}, "it")


def terms() -> st.SearchStrategy[Term]:
    return st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(lambda ws: Term(" ".join(ws), 0))


def queries() -> st.SearchStrategy[Node]:
    return st.recursive(
        terms(),
        lambda inner: st.one_of(
            st.lists(inner, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
            st.lists(inner, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
            inner.map(Not),
        ),
        max_leaves=5,
    ).filter(lambda node: not matches_without_terms(node))


def texts() -> st.SearchStrategy[str]:
    separators = st.sampled_from([" ", "  ", "\n", ", ", " - "])
    return st.lists(st.tuples(st.sampled_from([*WORDS, "e", "la", "sole"]), separators), max_size=25).map(
        lambda parts: "".join(word + sep for word, sep in parts)
    )


def reference_occurs(term: Term, text: str) -> bool:
    """Token-by-token scan: folded tokens equal, acronym tokens start with a capital in the original."""
    nlp = PIPELINES.pattern_nlp("it")
    folded = fold(text)
    doc = [(t.text, folded.original_offset(t.idx)) for t in nlp.make_doc(folded.text)]
    pattern_fold = fold(term.text)
    pattern = [(t.text, t.idx) for t in nlp.make_doc(pattern_fold.text)]
    capitals = acronym_spans(term.text)
    needs_capital = [any(s <= idx < e for s, e in capitals) for _, idx in pattern]
    for start in range(len(doc) - len(pattern) + 1):
        window = doc[start : start + len(pattern)]
        if all(w[0] == p[0] for w, p in zip(window, pattern, strict=True)) and all(
            text[w[1] : w[1] + 1].isupper() for w, cap in zip(window, needs_capital, strict=True) if cap
        ):
            return True
    return False


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(queries(), min_size=1, max_size=4), texts())
def test_matcher_agrees_with_reference_evaluator(exprs: list[Node], text: str) -> None:
    specs = [RuleSpec(f"r{i}", f"r{i}", "", expr, "p", 1) for i, expr in enumerate(exprs)]
    matcher = ArticleMatcher(RuleIndex(specs, PIPELINES))
    article = make_article(title="", body=text, source="t", origin="t", language="it")
    fired = {m.rule_id for m in matcher.match(article)} if text.strip() else set()
    expected = {
        spec.id for spec in specs if text.strip() and evaluate(spec.expr, lambda t: reference_occurs(t, text))
    }
    assert fired == expected

"""Property: the compiled index agrees with a plain per-rule, per-token reference evaluator.

The reference (tests/matching/reference.py) shares only folding, the tokenizer
and the lemma table with the matcher: no token table, no candidate selection,
no shared term keys.  Random queries over a small vocabulary (so terms collide
across rules, in every case and accent) exercise fields, wildcards, proximity,
metadata, lemmas and prominence, on random titles and bodies.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.matching.compiler import RuleIndex
from monitor.matching.matcher import ArticleMatcher
from monitor.matching.nlp import LanguagePipelines
from monitor.matching.query import And, Meta, Near, Node, Not, Or, Term, matches_without_terms, parse_query
from monitor.matching.rulefile import RuleSpec
from monitor.models import make_article
from tests.matching.reference import Doc, Reference

WORDS = [
    "nato", "NATO", "Nato", "tregua", "tregue", "fuoco", "cessate", "il", "Finlandia", "città", "citta",
    "USA", "usa", "Usa", "attacco", "attacchi", "aereo", "aerei", "negoziato", "negoziati", "Kyïv", "Kyiv",
]  # fmt: skip
WILDCARDS = ["negozia*", "trat*", "fin*", "?ato", "tregu?", "att*co"]
PIPELINES = LanguagePipelines({"it": "blank", "en": "blank"}, "it")


def plain_terms() -> st.SearchStrategy[Term]:
    words = st.lists(st.sampled_from(WORDS), min_size=1, max_size=2).map(" ".join)
    return st.builds(Term, st.one_of(words, st.sampled_from(WILDCARDS)), st.just(0), fields())


def fields() -> st.SearchStrategy[str | None]:
    return st.sampled_from([None, None, "title", "body"])


def nears() -> st.SearchStrategy[Near]:
    def build(items: list[Term], distance: int, field: str | None) -> Near:
        return Near(tuple(Term(t.text, 0, field) for t in items), distance, 0)

    return st.builds(build, st.lists(plain_terms(), min_size=2, max_size=3), st.integers(0, 4), fields())


def queries() -> st.SearchStrategy[Node]:
    leaves = st.one_of(
        plain_terms(),
        plain_terms(),
        nears(),
        st.builds(Meta, st.just("lang"), st.sampled_from(["it", "en"]), st.just(0)),
    )
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
            st.lists(inner, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
            inner.map(Not),
        ),
        max_leaves=5,
    ).filter(lambda node: not matches_without_terms(node))


def specs() -> st.SearchStrategy[list[RuleSpec]]:
    def build(exprs: list[Node], options: list[tuple[bool, int, bool, bool]]) -> list[RuleSpec]:
        return [
            RuleSpec(
                f"r{i}",
                f"r{i}",
                "",
                expr,
                "p",
                1,
                languages=("it",) if it_only else (),
                lemmas=lemmas,
                min_mentions=mentions,
                in_title=title,
            )
            for i, (expr, (lemmas, mentions, title, it_only)) in enumerate(zip(exprs, options, strict=False))
        ]

    option = st.tuples(st.booleans(), st.sampled_from([1, 1, 2, 3]), st.booleans(), st.booleans())
    return st.builds(
        build, st.lists(queries(), min_size=1, max_size=4), st.lists(option, min_size=4, max_size=4)
    )


def texts(max_size: int) -> st.SearchStrategy[str]:
    # runs of one, two and three spaces and leading ones: spaCy tokenizes each kind differently
    # … and the places that open a sentence, where a title-case acronym may be a common word
    separators = st.sampled_from(
        [" ", "  ", "\n", ", ", "-", ". ", " (", ") ", "   ", "\n\n\n", " - ", ': "', "? ", ":", "\n1) "]
    )
    words = st.lists(
        st.tuples(st.sampled_from([*WORDS, "e", "la", "sole", "trattativa", "fine"]), separators),
        max_size=max_size,
    ).map(lambda parts: "".join(word + sep for word, sep in parts))
    return st.tuples(st.sampled_from(["", "", " ", "  ", "\n\n "]), words).map("".join)


# at least 300 examples; more under --hypothesis-profile=thorough (tests/matching/conftest.py)
@settings(
    max_examples=max(300, settings.default.max_examples),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(specs(), texts(6), texts(25), st.sampled_from(["it", "it", "en"]))
def test_matcher_agrees_with_reference_evaluator(
    rules: list[RuleSpec], title: str, body: str, lang: str
) -> None:
    matcher = ArticleMatcher(RuleIndex(rules, PIPELINES))
    article = make_article(title=title, body=body, source="t", origin="t", language=lang)
    matches = matcher.match(article)
    doc = Doc({"title": article.title, "summary": article.summary, "body": article.body}, lang)
    references = {spec.id: Reference(PIPELINES, spec, doc) for spec in rules}
    assert {m.rule_id for m in matches} == {i for i, reference in references.items() if reference.fires()}
    for match in matches:  # every mention once, in reading order, whichever rule shares it
        mentions = references[match.rule_id].mentions()
        assert len(match.terms) == len(mentions)
        assert sorted(hit.field for hit in match.terms) == sorted(field for field, _, _ in mentions)
        order = [(("title", "summary", "body").index(hit.field), hit.start) for hit in match.terms]
        assert order == sorted(order)


ACRONYM_RULES = [
    RuleSpec(f"a{i}", f"a{i}", query, parse_query(query), "p", 1)
    for i, query in enumerate(["NATO", "USA", '"Nato tregua"', "NATO AND fuoco", "title:USA", "nato"])
]


@settings(max_examples=max(300, settings.default.max_examples), deadline=None)
@given(texts(6), texts(25), st.sampled_from(["it", "it", "en"]))
def test_matcher_acronyms_agree_with_reference_evaluator(title: str, body: str, lang: str) -> None:
    # acronyms in title case opening sentences, titles and lines, where they may be common words
    matcher = ArticleMatcher(RuleIndex(ACRONYM_RULES, PIPELINES))
    article = make_article(title=title, body=body, source="t", origin="t", language=lang)
    matches = {m.rule_id: m for m in matcher.match(article)}
    doc = Doc({"title": article.title, "summary": article.summary, "body": article.body}, lang)
    references = {spec.id: Reference(PIPELINES, spec, doc) for spec in ACRONYM_RULES}
    assert set(matches) == {i for i, reference in references.items() if reference.fires()}
    for rule_id, match in matches.items():
        assert len(match.terms) == len(references[rule_id].mentions())

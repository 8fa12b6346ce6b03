"""Property: an index rebuilt on the running one answers exactly as one built cold.

A random rule set (the matcher property test's queries, so terms collide across
rules in every case and accent, with wildcards, phrases, proximity, fields,
lemmas and acronyms) goes through a chain of random edits: rules added,
dropped, rewritten, moved, their lemma option switched, or read again
unchanged (a new spec object with the same content).  After each edit the
index rebuilt from the previous one (itself rebuilt) and a cold build of the
same rules must give the same matches (rules, terms, places, snippets) on
random articles in both built languages and in one met later, and the previous
index must still answer as it did: a rebuild changes nothing of the running one.
"""

from __future__ import annotations

import dataclasses
import gc
import weakref

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.matching import rebuild as rebuild_module
from monitor.matching.compiler import RuleIndex
from monitor.matching.matcher import ArticleMatcher
from monitor.matching.nlp import LanguagePipelines
from monitor.matching.query import parse_query
from monitor.matching.rebuild import rebuild_index
from monitor.matching.rulefile import RuleSpec
from monitor.models import Article, make_article
from tests.matching.test_matcher_properties import WORDS, queries, texts

PIPELINES = LanguagePipelines({"it": "blank", "en": "blank"}, "it")
BUILT = ("it", "en")
Answer = list[tuple[str, tuple[tuple[str, int, int, str], ...], str]]


def spec(number: int, draw: st.DrawFn) -> RuleSpec:
    return RuleSpec(
        f"r{number}",
        f"r{number}",
        "",
        draw(queries()),
        "p",
        1,
        languages=draw(st.sampled_from([(), (), ("it",)])),
        lemmas=draw(st.booleans()),
        min_mentions=draw(st.sampled_from([1, 1, 2])),
        in_title=draw(st.booleans()),
    )


@st.composite
def edited(draw: st.DrawFn, specs: list[RuleSpec], serial: int) -> list[RuleSpec]:
    """``specs`` after one edit of a rule file; unchanged rules stay the same objects."""
    specs = list(specs)
    kind = draw(st.sampled_from(["add", "add", "drop", "rewrite", "move", "lemmas", "reread"]))
    at = draw(st.integers(0, max(len(specs) - 1, 0)))
    if kind == "add" or not specs:
        specs.insert(min(at, len(specs)), spec(serial, draw))
    elif kind == "drop":
        del specs[at]
    elif kind == "rewrite":
        specs[at] = dataclasses.replace(specs[at], expr=draw(queries()))
    elif kind == "move":
        specs.insert(draw(st.integers(0, len(specs) - 1)), specs.pop(at))
    elif kind == "lemmas":
        specs[at] = dataclasses.replace(specs[at], lemmas=not specs[at].lemmas)
    else:  # the file read again: equal rules, new objects
        specs = [dataclasses.replace(s) for s in specs]
    return specs


def answers(index: RuleIndex, articles: list[Article]) -> list[Answer]:
    matcher = ArticleMatcher(index)
    return [
        [
            (m.rule_id, tuple((h.field, h.start, h.end, h.text) for h in m.terms), m.snippet)
            for m in matcher.match(article)
        ]
        for article in articles
    ]


def probes() -> list[Article]:
    """Every word of the property test's vocabulary in every case, near each other and far apart,
    and words its wildcards match: each rule is put to the test whatever the articles drawn."""
    words = [*WORDS, "trattativa", "fine", "negoziare", "attacco", "tregue", "dato", "finale"]
    spellings = [" ".join(words), " ".join(w.lower() for w in words), " ".join(w.upper() for w in words)]
    spellings.append(". ".join(w.title() for w in reversed(words)))
    return [
        make_article(title=title, body=body, source="t", origin=f"p{i}{lang}", language=lang)
        for lang in ("it", "en", "de")
        for i, (title, body) in enumerate(zip(spellings, spellings[1:] + spellings[:1], strict=True))
    ]


PROBES = probes()


@st.composite
def articles(draw: st.DrawFn) -> list[Article]:
    drawn = draw(st.lists(st.tuples(texts(6), texts(25), st.sampled_from(["it", "en", "de"])), max_size=4))
    return PROBES + [
        make_article(title=title, body=body, source="t", origin=f"a{i}", language=lang)
        for i, (title, body, lang) in enumerate(drawn)
    ]


@settings(
    max_examples=max(100, settings.default.max_examples),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(st.data())
def test_rebuild_index_answers_as_a_cold_build_after_random_edits(data: st.DataObject) -> None:
    specs = [spec(i, data.draw) for i in range(data.draw(st.integers(1, 6)))]
    shown = data.draw(articles())
    running = RuleIndex(specs, PIPELINES).build(BUILT)
    for step in range(data.draw(st.integers(1, 4))):
        specs = data.draw(edited(specs, 100 + step))
        before = answers(running, shown)
        rebuilt = rebuild_index(running, specs, BUILT)
        cold = RuleIndex(specs, PIPELINES).build(BUILT)
        assert answers(rebuilt, shown) == answers(cold, shown)
        assert answers(running, shown) == before
        running = rebuilt


def rule(rule_id: str, query: str) -> RuleSpec:
    return RuleSpec(rule_id, rule_id, query, parse_query(query), "p", 1)


def test_rebuild_index_takes_over_the_compiled_rules_of_unchanged_specs() -> None:
    kept = [rule("nato", "NATO"), rule("neg", "negozia* AND tregua")]
    running = RuleIndex(kept, PIPELINES).build(["it"])
    rebuilt = rebuild_index(running, [*kept, rule("new", '"cessate il fuoco"')], ["it"])
    assert rebuilt.rules[0] is running.rules[0] and rebuilt.rules[1] is running.rules[1]
    assert rebuilt.key_ids.items() >= running.key_ids.items()  # a key names the same term in both
    article = make_article(title="Cessate il fuoco", body="La Nato negozia la tregua", source="t", origin="x")
    assert [m.rule_id for m in ArticleMatcher(rebuilt).match(article)] == ["nato", "neg", "new"]


def test_rebuild_index_drops_unused_keys_with_a_cold_build_once_they_pile_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rebuild_module, "_DEAD_KEYS_FLOOR", 3)
    running = RuleIndex([rule("a", "alfa OR beta OR gamma OR delta OR epsilon")], PIPELINES).build(["it"])
    rebuilt = rebuild_index(running, [rule("b", "zeta")], ["it"])
    assert len(rebuilt.dead) == 5  # kept, unused: the next reload may need them again
    again = rebuild_index(rebuilt, [rule("b", "zeta")], ["it"])
    assert again.dead == frozenset() and len(again.key_terms) == 1


def test_rebuild_index_does_not_keep_the_running_tables_alive() -> None:
    pipelines = LanguagePipelines({"it": "blank"}, "it")
    running = RuleIndex([rule("a", "negozia*"), rule("b", "Nato")], pipelines).build(["it"])
    table = weakref.ref(running.for_language("it"))
    rebuilt = rebuild_index(running, [rule("b", "Nato"), rule("c", "tregua")], ["it"])
    del running
    gc.collect()
    assert table() is None
    article = make_article(title="", body="la Nato negozia una tregua", source="t", origin="x", language="it")
    assert [m.rule_id for m in ArticleMatcher(rebuilt).match(article)] == ["b", "c"]

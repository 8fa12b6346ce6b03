"""A rule's compiled logic decides as the query tree does, and rules of one shape share it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.matching.decide import MAX_DEPTH, compile_decision
from monitor.matching.evaluate import ArticleFacts, Evaluation, Occurrence
from monitor.matching.query import And, Node, Not, Or, Term, parse_query, terms
from tests.matching.test_matcher_properties import queries

FACTS = ArticleFacts("it", "ansa", "https://www.ansa.it/")


class _NoProximity:
    def word_at(self, token: int, /) -> int:
        return token


def _keys(expr: Node) -> dict[int, int]:
    texts: dict[tuple[str, str | None], int] = {}
    return {id(term): texts.setdefault((term.text, None), len(texts)) for term, _ in terms(expr)}


def _found(keys: dict[int, int], present: set[int], fields: list[str]) -> dict[int, list[Occurrence]]:
    return {
        key: [
            Occurrence(fields[(key + i) % len(fields)], i, i + 1, i, i + 1, _NoProximity()) for i in range(2)
        ]
        for key in set(keys.values())
        if key in present
    }


class _Found(dict[int, list[Occurrence]]):
    def has(self, key: int, /) -> bool:
        return key in self


@settings(max_examples=300, deadline=None)
@given(queries(), st.sets(st.integers(0, 5)), st.sampled_from([["body"], ["title"], ["title", "body"]]))
def test_compiled_logic_decides_as_the_query_tree(expr: Node, present: set[int], fields: list[str]) -> None:
    keys = _keys(expr)
    evaluation = Evaluation(keys, _Found(_found(keys, present, fields)), FACTS)
    assert compile_decision(expr, keys).holds(evaluation) == evaluation.holds(expr)


def test_rules_of_one_shape_share_one_compiled_function() -> None:
    first, second = (
        parse_query('"cessate il fuoco" AND (Nato OR title:Finlandia)'),
        parse_query('tregua AND (Kyiv OR title:"Helsinki")'),
    )
    a, b = compile_decision(first, _keys(first)), compile_decision(second, _keys(second))
    assert a.decide is b.decide
    assert a.source == "(has(k[0]) and (has(k[1]) or in_field(k[2], 'title')))"
    assert a.keys == b.keys == (0, 1, 2)


def test_a_query_too_deep_to_compile_is_decided_by_walking_it() -> None:
    expr: Node = Term("nato", 0)
    for depth in range(MAX_DEPTH * 4):
        expr = Not(expr) if depth % 2 else And((expr, Or((Term(f"t{depth}", 0), Term("nato", 0)))))
    keys = _keys(expr)
    decision = compile_decision(expr, keys)
    assert decision.source == "other(n[0])" and decision.others == (expr,)
    for present in (set(), {keys[id(next(iter(terms(expr)))[0])]}):
        evaluation = Evaluation(keys, _Found(_found(keys, present, ["body"])), FACTS)
        assert decision.holds(evaluation) == evaluation.holds(expr)

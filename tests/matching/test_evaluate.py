"""Deciding a rule from where its terms occurred: the flat form of simple queries."""

from __future__ import annotations

from collections.abc import Iterator

from hypothesis import given
from hypothesis import strategies as st

from monitor.matching.evaluate import ArticleFacts, Evaluation, Occurrence, flat_query
from monitor.matching.query import Node, Term, parse_query, terms

FACTS = ArticleFacts("it", "ansa", "https://example.org/a")


class Present:
    """A Found of the given keys, each occurring once in the body."""

    def __init__(self, keys: set[int]) -> None:
        self.keys = keys

    def get(self, key: int, /) -> list[Occurrence] | None:
        return [Occurrence("body", 0, 1, 0, 4, self)] if key in self.keys else None

    def has(self, key: int, /) -> bool:
        return key in self.keys

    def __iter__(self) -> Iterator[int]:
        return iter(self.keys)

    def word_at(self, token: int, /) -> int:
        return token


def keys_of(expr: Node) -> dict[int, int]:
    return {id(term): number for number, (term, _) in enumerate(terms(expr))}


def test_flat_query_takes_and_of_alternatives_with_nots() -> None:
    expr = parse_query('"cessate il fuoco" AND (Gaza OR Israele) NOT calcio')
    flat = flat_query(expr, keys_of(expr))
    assert flat is not None
    assert flat.groups == ((0,), (1, 2))
    assert flat.absent == (3,)


def test_flat_query_takes_a_single_term_and_a_single_or() -> None:
    for query, groups in [("Nato", ((0,),)), ("Finlandia OR Finland OR Suomi", ((0, 1, 2),))]:
        expr = parse_query(query)
        flat = flat_query(expr, keys_of(expr))
        assert flat is not None and flat.groups == groups and flat.absent == ()


def test_flat_query_declines_what_needs_the_query_walk() -> None:
    # fields, proximity, metadata and nested OR of ANDs are decided by walking the query
    for query in [
        'title:"cessate il fuoco"',
        "Nato AND body:Finlandia",
        '"Finlandia Nato"~10',
        "Nato AND lang:it",
        "(Nato AND Finlandia) OR (Russia AND Ucraina)",
        "NOT (Nato OR Finlandia)",
    ]:
        expr = parse_query(query)
        assert flat_query(expr, keys_of(expr)) is None, query


QUERIES = [
    "Nato",
    "Nato Finlandia",
    "Nato OR Finlandia OR Suomi",
    "Nato AND (Finlandia OR Suomi)",
    "Nato NOT Russia",
    "(Nato OR Finlandia) AND (Russia OR Mosca) NOT (calcio OR tennis)",
    '"cessate il fuoco" AND Gaza NOT "partita di calcio"',
]


@given(st.sampled_from(QUERIES), st.sets(st.integers(0, 8)))
def test_flat_query_decides_as_the_query_walk_does(query: str, present: set[int]) -> None:
    expr = parse_query(query)
    keys = keys_of(expr)
    flat = flat_query(expr, keys)
    assert flat is not None
    found = Present(present)
    assert flat.holds(found) == Evaluation(keys, found, FACTS).holds(expr)


def test_flat_query_term_keys_follow_the_rule_not_the_text() -> None:
    # the same word twice in one query is two Term nodes, each with its own key
    expr = parse_query("Nato AND (Nato OR Finlandia)")
    keys = keys_of(expr)
    flat = flat_query(expr, keys)
    assert flat is not None
    assert [keys[id(t)] for t, _ in terms(expr)] == [0, 1, 2]
    assert all(isinstance(t, Term) for t, _ in terms(expr))
    assert flat.groups == ((0,), (1, 2))

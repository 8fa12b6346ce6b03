"""Query parsing: the Lucene syntax users know, with errors a non-programmer understands."""

from __future__ import annotations

import pytest

from monitor.matching.query import And, Not, Or, QuerySyntaxError, Term, matches_without_terms, parse_query


def test_query_parses_terms_phrases_and_operators() -> None:
    node = parse_query('"cessate il fuoco" OR ceasefire OR tregua')
    assert node == Or((Term("cessate il fuoco", 1), Term("ceasefire", 22), Term("tregua", 35)))


def test_query_juxtaposition_means_and() -> None:
    assert parse_query("Finlandia NATO") == And((Term("Finlandia", 0), Term("NATO", 10)))


def test_query_minus_means_not() -> None:
    assert parse_query("Finlandia -calcio") == And((Term("Finlandia", 0), Not(Term("calcio", 11))))


def test_query_and_binds_tighter_than_or() -> None:
    assert parse_query("a OR b AND c") == Or((Term("a", 0), And((Term("b", 5), Term("c", 11)))))


@pytest.mark.parametrize(
    ("query", "message", "column"),
    [
        ("", "empty", 0),
        ("   ", "empty", 0),
        ("(Finlandia OR Finland", "'(' is never closed", 0),
        ("Finlandia) OR x", "')' without a matching '('", 9),
        ('"cessate il fuoco', "never closed", 0),
        ("Finlandia AND", "ends too early", 13),
        ("AND Finlandia", "AND needs a term on both sides", 0),
        ("titel:Nato", "unknown field 'titel'", 0),
        ("x AND title:(body:Nato)", "can never match", 13),
        ('"negozia* di pace"', "not in a phrase", 1),
        ("n*", "at least two letters", 0),
        ("Finlandia NEAR/10", "NEAR/N needs a term on both sides", 10),
        ("a NEAR/3 b NEAR/3 c", "one pair at a time", 11),
        ('"Finlandia"~3', "at least two words", 0),
        ("@finlandia OR x", "unknown concept @finlandia", 0),
        ("lang:italiano AND x", "not a language code", 5),
        ("Finlandia~2", "fuzzy", 0),
        ("&&", "no letters or digits", 0),
    ],
)
def test_query_errors_are_plain_and_located(query: str, message: str, column: int) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(query)
    assert message in caught.value.message
    assert caught.value.column == column


@pytest.mark.parametrize(
    ("query", "always"),
    [("NOT x", True), ("a OR NOT b", True), ("-x", True), ("a NOT b", False), ("NATO", False)],
)
def test_query_detects_queries_that_need_none_of_their_terms(query: str, always: bool) -> None:
    assert matches_without_terms(parse_query(query)) is always


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("'ndrangheta", Term("ndrangheta", 0)),
        ("'ndrangheta Calabria", And((Term("ndrangheta", 0), Term("Calabria", 12)))),
        ("title:'nduja", Term("nduja", 6, "title")),
        ("NATO -'ndrangheta", And((Term("NATO", 0), Not(Term("ndrangheta", 6))))),
        ("('nduja OR salame)", Or((Term("nduja", 1), Term("salame", 11)))),
        ('"la \'ndrangheta"', Term("la 'ndrangheta", 1)),
    ],
)
def test_query_word_opening_with_an_apostrophe_is_a_term(query: str, expected: object) -> None:
    """Italian writes some words with a leading apostrophe ('ndrangheta); Lucene's grammar refused
    them. Outside a phrase the apostrophe is punctuation at the word's edge."""
    assert parse_query(query) == expected

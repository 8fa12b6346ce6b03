"""Queries too deep or too long: refused with a located error, never a crash; long lists parse."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from luqum import tree
from luqum.exceptions import ParseError
from luqum.parser import parser as luqum_parser

from monitor.matching.compiler import RuleIndex
from monitor.matching.lint import lint_query
from monitor.matching.lucene import parse_lucene
from monitor.matching.matcher import ArticleMatcher
from monitor.matching.nlp import LanguagePipelines
from monitor.matching.query import (
    MAX_NESTING,
    MAX_QUERY_LENGTH,
    Or,
    QuerySyntaxError,
    Term,
    matches_without_terms,
    parse_query,
)
from monitor.matching.rulefile import load_rules
from monitor.models import make_article
from tests.conftest import rule


@pytest.mark.parametrize(
    ("query", "message", "column"),
    [
        ("(" * 1000 + "NATO" + ")" * 1000, "parentheses nested 1000 levels deep; the limit is 50", 50),
        ("x OR " + "(" * 51 + "NATO" + ")" * 51, "parentheses nested 51 levels deep; the limit is 50", 55),
        ("NOT " * 1000 + "NATO", "nested 1000 levels deep (parentheses, NOT, -, +, field:); the limit", None),
        ("-" * 5000 + "NATO", "nested 5000 levels deep", None),
        ("title:" * 60 + "NATO", "nested 60 levels deep", None),
        ("-(" * 26 + "NATO" + ")" * 26, "nested 52 levels deep", None),
    ],
)
def test_query_nested_past_the_limit_is_a_located_error(query: str, message: str, column: int | None) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(query)
    assert message in caught.value.message
    if column is not None:
        assert caught.value.column == column
    else:  # the node where the limit was passed, inside the query
        assert caught.value.column is not None and 0 <= caught.value.column < len(query)


def test_query_longer_than_the_limit_is_refused_before_parsing() -> None:
    query = " OR ".join(f"w{i}" for i in range(40_000))
    assert len(query) > MAX_QUERY_LENGTH
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(query)
    assert f"{len(query):,} characters long; the limit is {MAX_QUERY_LENGTH:,}" in caught.value.message
    assert "concept" in caught.value.message


def test_query_long_or_list_within_the_limit_is_one_flat_or() -> None:
    words = [f"w{i}" for i in range(MAX_QUERY_LENGTH // 10)]
    query = " OR ".join(words)
    node = parse_query(query)
    assert isinstance(node, Or) and len(node.items) == len(words)
    assert node.items[-1] == Term(words[-1], len(query) - len(words[-1]))


def _deepest_query() -> str:
    """A query at the nesting limit, with every kind of level and every kind of node."""
    inner = '(NATO OR title:"Finlandia" OR *zione OR (a NEAR/3 b)) AND NOT source:x*'
    levels = MAX_NESTING - 2  # inside them: two groups, or a NOT and a field
    query = "(" * levels + inner + ")" * levels
    with pytest.raises(QuerySyntaxError, match="the limit is"):
        parse_query("(" + query + ")")  # one more level is refused
    return query


@pytest.fixture
def little_stack() -> Iterator[int]:
    """The recursion limit set a fixed number of frames above the caller's depth."""
    room = 200
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + room)
    try:
        yield room
    finally:
        sys.setrecursionlimit(limit)


def test_query_at_the_nesting_limit_is_read_compiled_and_matched_within_a_bounded_stack(
    pipelines: LanguagePipelines, little_stack: int
) -> None:
    """Every walk of a query (parse, checks, lint, index, matching, explain) fits in a few hundred
    frames at the limit, so no rule within it can exhaust a thread's stack."""
    query = _deepest_query()
    spec = rule("deep", query)
    assert not matches_without_terms(spec.expr)
    assert list(lint_query(spec.expr, query))  # *zione is worth a warning: the walk went everywhere
    matcher = ArticleMatcher(RuleIndex([spec], pipelines))
    article = make_article(title="Finlandia", body="La nazione.", language="it", source="y", origin="t")
    [match] = matcher.match(article)
    assert match.rule_id == "deep"


def test_rulefile_query_nested_too_deep_is_that_rules_error_and_the_others_load(tmp_path: Path) -> None:
    deep = "(" * 1000 + "NATO" + ")" * 1000
    (tmp_path / "rules.yaml").write_text(
        "rules:\n"
        "  - id: before\n    query: Finlandia\n"
        f"  - id: deep\n    query: '{deep}'\n"
        f"  - id: negated\n    query: '{'NOT ' * 1000}NATO'\n"
        "  - id: after\n    query: Svezia\n",
        encoding="utf-8",
    )
    result = load_rules([tmp_path], ["console"])
    assert [spec.id for spec in result.rules] == ["before", "after"]
    nested, negated = (str(problem) for problem in result.errors)
    assert f"{tmp_path / 'rules.yaml'}:5" in nested and "rule 'deep'" in nested
    assert "nested 1000 levels deep; the limit is 50" in nested
    assert len(nested) < 600  # the query is shown around the culprit, not whole
    assert "rule 'negated'" in negated and "nested 1000 levels deep" in negated


# -- the parser: luqum's grammar, its lists built in linear time --------------------------------

TOKENS = ["a", "b*", '"c d"', "OR", "AND", "NOT", "(", ")", "-", "+", "title:", "~2", "^3", "[a TO b]", "/r/"]


def _nodes(item: tree.Item) -> list[tuple[str, int | None, int | None, str, str]]:
    found, stack = [], [item]
    while stack:
        node = stack.pop()
        found.append((type(node).__name__, node.pos, node.size, node.head, node.tail))
        stack.extend(node.children)
    return found


def _same_as_luqum(query: str) -> None:
    try:
        expected = luqum_parser.parse(query)
    except ParseError as exc:
        with pytest.raises(type(exc)) as caught:
            parse_lucene(query)
        assert str(caught.value) == str(exc)
        return
    found = parse_lucene(query)
    assert repr(found) == repr(expected) and str(found) == str(expected)
    assert _nodes(found) == _nodes(expected)  # positions, sizes and spacing too


@pytest.mark.parametrize(
    "query",
    [
        "a OR b OR c",
        "a b OR c d",
        "a AND b OR c AND d OR e",
        'title:(a OR b) -c NOT d "x y"~3 e*',
        "(a OR b) OR (c OR d) AND (e f g)",
        "  a   OR\tb  AND  c  ",
        " OR ".join(f"w{i}" for i in range(2_000)),
        " AND ".join(f"w{i}" for i in range(2_000)),
        " ".join(f"w{i}" for i in range(2_000)),
    ],
)
def test_lucene_parse_gives_luqums_own_tree(query: str) -> None:
    _same_as_luqum(query)


@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12).map(" ".join))
def test_lucene_parse_agrees_with_luqum_on_any_token_soup(query: str) -> None:
    _same_as_luqum(query)

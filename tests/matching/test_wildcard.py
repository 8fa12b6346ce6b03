"""Wildcard words matched without backtracking: fnmatch's answers, in steps linear in the word."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.matching.compiler import RuleIndex, WildcardSet
from monitor.matching.lint import lint_query
from monitor.matching.matcher import ArticleMatcher
from monitor.matching.nlp import LanguagePipelines
from monitor.matching.query import parse_query
from monitor.matching.wildcard import MAX_WILDCARD_WORD, Wildcard
from monitor.models import make_article
from tests.conftest import rule

HOSTILE = "ab" + "cd" * 8_000  # held a backtracking ab.*c.*d.*e for minutes


@pytest.mark.parametrize(
    ("pattern", "word", "expected"),
    [
        ("negozia*", "negoziato", True),
        ("negozia*", "negozia", True),
        ("negozia*", "negozi", False),
        ("ne?oziato", "negoziato", True),
        ("ne?oziato", "neoziato", False),
        ("ne?oziato", "negoziatoo", False),
        ("tregu?", "tregue", True),
        ("tregu?", "treguaa", False),
        ("att*co", "attacco", True),
        ("att*co", "attco", True),
        ("att*co", "attaccato", False),
        ("*zione", "nazione", True),
        ("*zione", "zione", True),
        ("*zione", "zion", False),
        ("*ment*", "armamenti", True),
        ("a*a", "a", False),  # the two a's cannot be one letter
        ("a*a", "aa", True),
        ("ab*ba", "aba", False),
        ("ab*ba", "abba", True),
        ("a*b*b", "abb", True),
        ("a*b?c*d", "axbycd", True),
        ("a*b?c*d", "abcd", False),
        ("a**b", "ab", True),
        ("a?*?b", "axyb", True),
        ("a?*?b", "axb", False),
        ("ab*c*d*e", HOSTILE, False),
        ("ab*c*d*e", HOSTILE + "e", True),
        ("aa*a*a*a*a*a*b", "a" * 20_000, False),
        ("aa*a*a*a*a*a*b", "a" * 20_000 + "b", True),
        ("a*?b?*?c", "a" + "b" * 20_000, False),
        ("*a?a?a?b*", "a" * 20_000, False),
        ("*a?a?a?b*", "ab" * 10_000, False),
        ("*a?a?a?b*", "a" * 20_000 + "xb", True),
        ("*a?a?a?b*", "a" * 20_000 + "ab", True),
    ],
)
def test_wildcard_matches_like_fnmatch(pattern: str, word: str, expected: bool) -> None:
    assert fnmatch.fnmatchcase(word, pattern) is expected  # the table itself is right
    assert Wildcard(pattern).matches(word) is expected


@given(
    pattern=st.text(alphabet="ab*?", min_size=1, max_size=10),
    word=st.text(alphabet="abc", max_size=14),
)
def test_wildcard_agrees_with_fnmatch_on_small_inputs(pattern: str, word: str) -> None:
    assert Wildcard(pattern).matches(word) == fnmatch.fnmatchcase(word, pattern)


class _CountingWord(str):
    """A word that counts the searches made in it: the matcher's steps, whatever the clock says."""

    steps = 0

    def find(self, *args: object) -> int:  # type: ignore[override]
        self.steps += 1
        return super().find(*args)  # type: ignore[arg-type]

    def startswith(self, *args: object) -> bool:  # type: ignore[override]
        self.steps += 1
        return super().startswith(*args)  # type: ignore[arg-type]

    def endswith(self, *args: object) -> bool:  # type: ignore[override]
        self.steps += 1
        return super().endswith(*args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("pattern", "make"),
    [
        ("ab*c*d*e", lambda n: "ab" + "cd" * n),
        ("ab*c*d*e", lambda n: "ab" + "c" * n + "e"),
        ("aa*a*a*a*a*a*b", lambda n: "a" * n),
        ("*c*d*c*d*x*", lambda n: "cd" * n),
        ("*a?a?a?b*", lambda n: "ab" * n),
        ("a*?b?*?c", lambda n: "a" + "b" * n),
        ("a*b?c*b?c*d", lambda n: "a" + "bxc" * n + "d"),
    ],
)
@pytest.mark.parametrize("length", [100, 100_000])
def test_wildcard_looks_for_each_piece_once(pattern: str, make: Callable[[int], str], length: int) -> None:
    """One search a piece, whatever the word: each search is one pass, so the time is linear."""
    word = _CountingWord(make(length))
    wildcard = Wildcard(pattern)
    searches = []
    for piece in wildcard.middle:
        if piece.search is not None:
            search = piece.search
            piece.search = lambda *args, search=search: searches.append(args) or search(*args)
    assert wildcard.matches(word) == fnmatch.fnmatchcase(word, pattern)
    assert word.steps + len(searches) <= pattern.count("*") + 2  # head, tail, a search a piece between


def test_wildcard_set_tests_patterns_only_on_words_up_to_the_limit() -> None:
    wildcards = WildcardSet()
    wildcards.add("ab*e", 1)
    wildcards.add("ab*", 2)
    wildcards.finish()
    longest = "ab" + "x" * (MAX_WILDCARD_WORD - 3) + "e"
    assert wildcards.keys(longest) == (2, 1)
    assert wildcards.keys(longest[:-1] + "xe") == (2,)  # one letter over: only the prefix is compared
    assert wildcards.matching(1, [longest, longest[:-1] + "xe", "abe"]) == [0, 2]


@pytest.mark.parametrize("query", ["ab*c*d*e", "NATO AND ab*c*d*e"])  # scanned, and asked by a woken rule
def test_matcher_wildcard_rule_reads_an_article_with_a_hostile_word(
    pipelines: LanguagePipelines, query: str
) -> None:
    matcher = ArticleMatcher(RuleIndex([rule("r", query)], pipelines))

    def fires(body: str) -> bool:
        article = make_article(title="", body=f"NATO {body}", language="it", source="s", origin="t")
        return [m.rule_id for m in matcher.match(article)] == ["r"]

    assert not fires(HOSTILE)
    assert not fires(HOSTILE + "e")  # over the limit: not tried
    assert fires(f"{HOSTILE} abxcydze")
    assert fires(("ab" + "cd" * MAX_WILDCARD_WORD)[: MAX_WILDCARD_WORD - 1] + "e")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("negozia*", None),
        ("ne*", "'ne*' has a very short prefix"),
        ("*zione", "'*zione' starts with a wildcard: it is tried on every word of every article"),
        ("att*co", "'att*co' is a pattern, not a prefix such as att* (one look-up a word): it is tried on"),
        ("tregu?", "'tregu?' is a pattern, not a prefix such as tregu*"),
        ("ab*c*d*e", f"grows with the word's length (a word over {MAX_WILDCARD_WORD:,} characters is never"),
    ],
)
def test_lint_wildcard_says_what_it_costs(query: str, expected: str | None) -> None:
    warnings = [message for message, _column in lint_query(parse_query(query), query)]
    if expected is None:
        assert warnings == []
    else:
        [warning] = warnings
        assert expected in warning

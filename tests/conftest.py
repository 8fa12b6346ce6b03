"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.matching.compiler import RuleIndex
from monitor.matching.matcher import ArticleMatcher
from monitor.matching.nlp import LanguagePipelines
from monitor.matching.query import parse_query
from monitor.matching.rulefile import RuleSpec, load_rules
from tests.sources.feedserver import server  # noqa: F401  (a fixture shared by every folder)

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
# The seed article fires every shipped rule (tests/matching/test_matcher.py checks it).
SHIPPED_RULE_IDS = frozenset(spec.id for spec in load_rules([REPO / "rules"]).rules)


@pytest.fixture(scope="session")
def pipelines() -> LanguagePipelines:
    return LanguagePipelines({"it": "blank", "en": "blank"}, "it")


def rule(rule_id: str, query: str, **extra: object) -> RuleSpec:
    return RuleSpec(rule_id, rule_id, query, parse_query(query), "test.yaml", 1, **extra)  # type: ignore[arg-type]


@pytest.fixture
def make_matcher(pipelines: LanguagePipelines) -> Callable[..., ArticleMatcher]:
    def build(**queries: str) -> ArticleMatcher:
        return ArticleMatcher(
            RuleIndex([rule(k.replace("_", "-"), q) for k, q in queries.items()], pipelines)
        )

    return build

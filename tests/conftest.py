"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


def postgres_server() -> str:
    """The server's URL from MONITOR_TEST_DATABASE_URL; the test is skipped, saying why, without it."""
    base = os.environ.get("MONITOR_TEST_DATABASE_URL")
    if not base:
        pytest.skip("PostgreSQL tests need MONITOR_TEST_DATABASE_URL (set by .ci/run)")
    return base


@contextmanager
def fresh_database(base: str, label: str) -> Iterator[str]:
    """A new, empty database on ``base``'s server, dropped afterwards.

    Its name holds the xdist worker and the process id, so parallel workers (and other checkouts
    testing against the same server) never share a database.
    """
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(base)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"monitor_{label}_{worker}_{os.getpid()}"[:63]
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty PostgreSQL database for one test (a daemon's, a replica set's), dropped afterwards."""
    with fresh_database(postgres_server(), request.module.__name__.rsplit(".", 1)[-1][:30]) as url:
        yield url


@pytest.fixture(scope="session")
def worker_postgres_url() -> Iterator[str]:
    """One PostgreSQL database per test process, for the storage suite to empty between its tests."""
    with fresh_database(postgres_server(), "store") as url:
        yield url


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

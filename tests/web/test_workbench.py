"""The web app's workbench: backtests on pipelines of its own, which must not grow with each one."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.matching.matcher import WARMUP_ARTICLES
from monitor.models import make_article
from monitor.store.engine import make_engine, prepare_schema
from monitor.store.repo import Routed, Store
from monitor.web.workbench import Workbench
from tests.conftest import rule


def test_workbench_backtests_meet_new_words_in_a_memory_zone(tmp_path: Path) -> None:
    """A matcher cuts its first articles outside spaCy's memory zones, keeping their words for good.
    The workbench's backtests share one matcher, warmed up once: the words of articles a later
    backtest meets are freed after it."""
    engine = make_engine(f"sqlite:///{tmp_path / 'monitor.db'}")
    prepare_schema(engine)
    store = Store(engine)
    now = datetime.now(UTC)

    def add(prefix: str, count: int) -> None:
        articles = [
            make_article(
                title=f"{prefix} {n}", body=f"NATO e {prefix}{n}x", source="x", origin=f"{prefix}/{n}"
            )
            for n in range(count)
        ]
        store.record([Routed(a, []) for a in articles], [], now)

    workbench = Workbench({"it": "blank"}, "it")
    try:
        add("primo", WARMUP_ARTICLES + 100)
        spec = rule("nato", "NATO")
        first = workbench.backtest(spec, store, now - timedelta(days=1), time.monotonic() + 600)
        strings = len(workbench.pipelines.article_nlp("it").vocab.strings)
        add("nuovo", 200)
        again = workbench.backtest(spec, store, now - timedelta(days=1), time.monotonic() + 600)
        grown = len(workbench.pipelines.article_nlp("it").vocab.strings) - strings
    finally:
        workbench.close()
        engine.dispose()
    assert (first.matched, again.matched) == (WARMUP_ARTICLES + 100, WARMUP_ARTICLES + 300)
    assert grown < 200  # not a word kept for each new article

"""A database written by an older news-monitor is refused until upgraded, then upgraded in place."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, inspect, text

from monitor.errors import StoreError
from monitor.models import FeedState, make_article
from monitor.store.engine import prepare_schema
from monitor.store.repo import Routed, Store
from monitor.store.schema import head_revision, schema_state, upgrade_schema
from tests.store.legacy import ADDED_IN_0003, ADDED_IN_V2, make_legacy

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def old_rows(engine: Engine, version: int) -> None:
    """Rows as the old news-monitor wrote them (its columns only)."""
    feed_columns, feed_values = (
        ("error_streak, entries_seen", "0, 7")
        if version == 1
        else ("error_streak, entries_seen, last_new", "0, 7, 0")
    )
    with engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO articles (uid, fingerprint, title, summary, body, source, origin, tags, "
                "ingested_at) VALUES ('u1', 'f1', 'Vecchio', '', 'Articolo di prima', 's', 'o', '[]', "
                "'2026-11-01 08:00:00')"
            )
        )
        db.execute(
            text(f"INSERT INTO feeds (url, {feed_columns}) VALUES ('https://ex.org/rss', {feed_values})")
        )


@pytest.mark.parametrize(("version", "early_v2"), [(1, False), (2, True), (2, False)])
def test_schema_legacy_database_is_refused_then_adopted_with_its_rows(
    empty_engine: Engine, version: int, early_v2: bool
) -> None:
    make_legacy(empty_engine, version, early_v2=early_v2)
    old_rows(empty_engine, version)

    with pytest.raises(StoreError, match=r"schema version \d.*run `monitor db upgrade`"):
        prepare_schema(empty_engine)
    before, after = upgrade_schema(empty_engine)

    assert before.legacy == str(version) and after.up_to_date and after.current == (head_revision(),)
    present = inspect(empty_engine)
    for table, columns in (ADDED_IN_V2 | ADDED_IN_0003).items():
        assert set(columns) <= {c["name"] for c in present.get_columns(table)}
    assert "ix_articles_story" in {i["name"] for i in present.get_indexes("articles")}
    prepare_schema(empty_engine)  # now accepted
    store = Store(empty_engine)
    old = make_article(title="Vecchio", body="Articolo di prima", source="s", origin="o")
    [kept] = store.iter_articles()
    assert kept.article.title == "Vecchio"
    assert store.feed_state("https://ex.org/rss") == FeedState("https://ex.org/rss", entries_seen=7)
    store.record([Routed(old, [])], [], NOW)  # the new columns take writes
    assert len(list(store.iter_articles())) == 2
    assert schema_state(empty_engine).describe().endswith("up to date")

"""A database written by an older news-monitor is upgraded in place: new columns added, rows kept."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import inspect, text

from monitor.models import make_article
from monitor.store.engine import prepare_schema
from monitor.store.repo import Routed, Store

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
ADDED_IN_V2 = {
    "articles": ["story", "signature", "authors"],
    "feeds": [
        "fetch_url",
        "next_fetch_at",
        "disabled",
        "failing_since",
        "last_new",
        "last_new_at",
        "usual_gap",
        "health_alerted",
    ],
}


def test_schema_version_1_database_gets_the_new_columns_and_keeps_its_rows(store: Store) -> None:
    engine = store.engine
    article = make_article(title="Vecchio", body="Articolo di prima", source="s", origin="o")
    store.record([Routed(article, [])], [], NOW)
    with engine.begin() as db:  # make it look like a version 1 database
        db.execute(text("DROP INDEX ix_articles_story"))
        for table, columns in ADDED_IN_V2.items():
            for column in columns:
                db.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        db.execute(text("UPDATE monitor_meta SET value = '1' WHERE key = 'schema_version'"))

    prepare_schema(engine)

    for table, columns in ADDED_IN_V2.items():
        assert set(columns) <= {c["name"] for c in inspect(engine).get_columns(table)}
    assert "ix_articles_story" in {i["name"] for i in inspect(engine).get_indexes("articles")}
    with engine.connect() as db:
        assert db.execute(text("SELECT value FROM monitor_meta WHERE key = 'schema_version'")).scalar() == "2"
        assert db.execute(text("SELECT title FROM articles")).scalars().all() == ["Vecchio"]
    assert store.unseen([article]) == []  # the old row still counts

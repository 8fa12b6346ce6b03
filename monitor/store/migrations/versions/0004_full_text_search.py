"""Full-text search over the articles: an FTS5 index on SQLite, a tsvector column on PostgreSQL.

SQLite: an FTS5 table with external content (the text stays in ``articles``,
the index holds tokens only), tokenized by unicode61 with diacritics removed,
kept current by three triggers on ``articles``; the index is built from the
rows already there.  PostgreSQL: a generated ``search`` column, each article
analysed in the configuration of its language (``monitor_italian``,
``monitor_english``, else ``monitor_simple``: copies of PostgreSQL's own with
the ``unaccent`` dictionary first, so accents count no more than in rule
matching; where the extension cannot be created they are plain copies),
title/summary/body weighted A/B/C, under a GIN index; adding the column
computes it for every existing row.  Neither is in the tables
(one table would need two dialects' types): ``monitor.store.searchindex``
names them so the models-versus-migrations comparison leaves them out, and
``monitor.store.search`` holds the queries, which must agree with this SQL.

A later revision that alters ``articles`` in batch mode on SQLite recreates
the table and drops its triggers: it must create them again (``TRIGGERS``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
log = logging.getLogger("monitor.store.migrations")

COLUMNS = "title, summary, body"
NEW = "new.id, new.title, new.summary, new.body"
OLD = "'delete', old.id, old.title, old.summary, old.body"
FTS_TABLE = (
    f"CREATE VIRTUAL TABLE articles_fts USING fts5({COLUMNS}, content='articles', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')"
)
TRIGGERS = (
    "CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN "
    f"INSERT INTO articles_fts(rowid, {COLUMNS}) VALUES ({NEW}); END",
    "CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN "
    f"INSERT INTO articles_fts(articles_fts, rowid, {COLUMNS}) VALUES ({OLD}); END",
    f"CREATE TRIGGER articles_fts_update AFTER UPDATE OF {COLUMNS} ON articles BEGIN "
    f"INSERT INTO articles_fts(articles_fts, rowid, {COLUMNS}) VALUES ({OLD}); "
    f"INSERT INTO articles_fts(rowid, {COLUMNS}) VALUES ({NEW}); END",
)

# our configuration: (PostgreSQL's, the dictionary that reads words with letters beyond ASCII)
TEXT_CONFIGS = {
    "monitor_italian": ("italian", "italian_stem"),
    "monitor_english": ("english", "english_stem"),
    "monitor_simple": ("simple", "simple"),
}
CONFIG = (
    "CASE language WHEN 'it' THEN 'monitor_italian'::regconfig WHEN 'en' THEN 'monitor_english'::regconfig "
    "ELSE 'monitor_simple'::regconfig END"
)
BODY_INDEXED = 200_000  # characters: a tsvector holds at most 1 MB
VECTOR = (
    f"setweight(to_tsvector({CONFIG}, title), 'A') || "
    f"setweight(to_tsvector({CONFIG}, summary), 'B') || "
    f"setweight(to_tsvector({CONFIG}, left(body, {BODY_INDEXED})), 'C')"
)


def _unaccent_available() -> bool:
    """Create the extension if we may (trusted since PostgreSQL 13: the database owner can)."""
    bind = op.get_bind()
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS unaccent"))
    except sa.exc.DBAPIError as exc:
        log.warning(
            "full-text search: cannot create the unaccent extension (%s); accents will count in "
            "searches on this database",
            str(exc.orig).splitlines()[0],
        )
        return False
    return True


def _text_configs() -> None:
    unaccent = _unaccent_available()
    for name, (base, dictionary) in TEXT_CONFIGS.items():
        op.execute(f"CREATE TEXT SEARCH CONFIGURATION {name} (COPY = {base})")
        if unaccent:
            op.execute(
                f"ALTER TEXT SEARCH CONFIGURATION {name} "
                f"ALTER MAPPING FOR hword, hword_part, word WITH unaccent, {dictionary}"
            )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        _text_configs()
        op.execute(f"ALTER TABLE articles ADD COLUMN search tsvector GENERATED ALWAYS AS ({VECTOR}) STORED")
        op.execute("CREATE INDEX ix_articles_search ON articles USING gin (search)")
    elif dialect == "sqlite":
        op.execute(FTS_TABLE)
        for trigger in TRIGGERS:
            op.execute(trigger)
        op.execute("INSERT INTO articles_fts(articles_fts) VALUES ('rebuild')")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP INDEX ix_articles_search")
        op.execute("ALTER TABLE articles DROP COLUMN search")
        for name in TEXT_CONFIGS:
            op.execute(f"DROP TEXT SEARCH CONFIGURATION {name}")
    elif dialect == "sqlite":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER articles_fts_{name}")
        op.execute("DROP TABLE articles_fts")

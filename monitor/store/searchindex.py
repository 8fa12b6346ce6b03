"""The full-text index: what keeps it beside the articles table, on SQLite and on PostgreSQL.

SQLite: an FTS5 table with external content (the text lives once, in
``articles``; the index holds tokens only), tokenized by unicode61 with
diacritics removed, kept current by three triggers.  PostgreSQL: a generated
``tsvector`` column, each article analysed in its language's configuration
(``italian``, ``english``, else ``simple``), title/summary/body weighted A/B/C,
under a GIN index.  Both follow every insert, update (retention emptying a
body) and delete without the application doing anything.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, inspect, text

log = logging.getLogger(__name__)
PG_BODY_INDEXED = 200_000  # characters of a body PostgreSQL indexes: a tsvector is at most 1 MB


# PostgreSQL: the article's language chooses the stemmer; a language without one is 'simple'.
# An article's language → the text search configuration (stemmer, stop words) it is read with.
PG_CONFIGS = {"it": "italian", "en": "english"}
PG_OTHER_CONFIG = "simple"  # any other language: words as written, lowercased


def pg_config(language: str = "language") -> str:
    """The SQL choosing an article's configuration; the searched text is read with the same one."""
    cases = " ".join(f"WHEN '{code}' THEN '{name}'::regconfig" for code, name in PG_CONFIGS.items())
    return f"CASE {language} {cases} ELSE '{PG_OTHER_CONFIG}'::regconfig END"


PG_CONFIG = pg_config()
PG_SEARCH_COLUMN = (
    f"setweight(to_tsvector({PG_CONFIG}, title), 'A') || "
    f"setweight(to_tsvector({PG_CONFIG}, summary), 'B') || "
    f"setweight(to_tsvector({PG_CONFIG}, left(body, {PG_BODY_INDEXED})), 'C')"
)
POSTGRES_DDL = (
    f"ALTER TABLE articles ADD COLUMN IF NOT EXISTS search tsvector "
    f"GENERATED ALWAYS AS ({PG_SEARCH_COLUMN}) STORED",
    "CREATE INDEX IF NOT EXISTS ix_articles_search ON articles USING gin (search)",
)
_FTS_COLUMNS = "title, summary, body"
_FTS_NEW = "new.id, new.title, new.summary, new.body"
_FTS_OLD = "'delete', old.id, old.title, old.summary, old.body"
SQLITE_DDL = (
    # external content: the text lives once, in articles; the index holds only tokens
    f"CREATE VIRTUAL TABLE IF NOT EXISTS articles_fts USING fts5({_FTS_COLUMNS}, "
    "content='articles', content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS articles_fts_insert AFTER INSERT ON articles BEGIN "
    f"INSERT INTO articles_fts(rowid, {_FTS_COLUMNS}) VALUES ({_FTS_NEW}); END",
    "CREATE TRIGGER IF NOT EXISTS articles_fts_delete AFTER DELETE ON articles BEGIN "
    f"INSERT INTO articles_fts(articles_fts, rowid, {_FTS_COLUMNS}) VALUES ({_FTS_OLD}); END",
    f"CREATE TRIGGER IF NOT EXISTS articles_fts_update AFTER UPDATE OF {_FTS_COLUMNS} ON articles BEGIN "
    f"INSERT INTO articles_fts(articles_fts, rowid, {_FTS_COLUMNS}) VALUES ({_FTS_OLD}); "
    f"INSERT INTO articles_fts(rowid, {_FTS_COLUMNS}) VALUES ({_FTS_NEW}); END",
)
SQLITE_BACKFILL = "INSERT INTO articles_fts(articles_fts) VALUES ('rebuild')"


def ensure_search_schema(connection: Connection) -> None:
    """Create the full-text index and what keeps it current, if missing; index existing articles.

    Idempotent: every statement is IF NOT EXISTS, and the SQLite index is
    rebuilt from the articles only when it is created.
    """
    if connection.dialect.name == "postgresql":
        for statement in POSTGRES_DDL:
            connection.execute(text(statement))
        return
    if connection.dialect.name != "sqlite":
        return
    fresh = not inspect(connection).has_table("articles_fts")
    for statement in SQLITE_DDL:
        connection.execute(text(statement))
    if fresh:
        connection.execute(text(SQLITE_BACKFILL))
        log.info("full-text index created for the stored articles")

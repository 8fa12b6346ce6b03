"""The full-text index's schema objects, which live outside the tables of tables.py.

They are made by migration 0004 (SQLite: the FTS5 table ``articles_fts``, its
shadow tables and three triggers; PostgreSQL: the generated column
``articles.search`` and its GIN index).  The tables cannot describe them (one
table, two dialects' types), so a comparison of tables and database
(``alembic … --autogenerate``, tests/test_migrations.py) passes
``include_object`` to leave them out.  The query side (monitor.store.search)
reads the same language → configuration mapping as the migration's SQL.
"""

from __future__ import annotations

from typing import Any

SQLITE_FTS_TABLE = "articles_fts"
SQLITE_TOKENIZE = "unicode61 remove_diacritics 2"  # migration 0004's tokenizer (a test holds them equal)
PG_SEARCH_COLUMN = "search"
PG_SEARCH_INDEX = "ix_articles_search"
PG_BODY_INDEXED = 200_000  # characters of a body PostgreSQL indexes: a tsvector is at most 1 MB
# The parts of an article a search can be narrowed to (``title:nato``): the FTS5 table's columns,
# and the weight each one is given in the PostgreSQL tsvector (migration 0004's COLUMNS and VECTOR).
SEARCH_FIELDS = {"title": "A", "summary": "B", "body": "C"}

# An article's language → the text search configuration it is read with: PostgreSQL's own
# (stemmer, stop words) with accents removed first, made by migration 0004.
PG_CONFIGS = {"it": "monitor_italian", "en": "monitor_english"}
PG_OTHER_CONFIG = "monitor_simple"  # any other language: words as written, lowercased


def pg_config(language: str = "language") -> str:
    """The SQL choosing an article's configuration; the searched text is read with the same one."""
    cases = " ".join(f"WHEN '{code}' THEN '{name}'::regconfig" for code, name in PG_CONFIGS.items())
    return f"CASE {language} {cases} ELSE '{PG_OTHER_CONFIG}'::regconfig END"


def include_object(obj: Any, name: str | None, kind: str, reflected: bool, _compare_to: Any) -> bool:
    """For alembic's comparison: False for the search index's objects, True for everything else."""
    if not reflected or name is None:
        return True
    if kind == "table":
        return not name.startswith(SQLITE_FTS_TABLE)  # articles_fts and its shadow tables
    if kind == "column":
        return not (name == PG_SEARCH_COLUMN and getattr(obj.table, "name", None) == "articles")
    if kind == "index":
        return name != PG_SEARCH_INDEX
    return True

"""The database schema: SQLAlchemy Core tables, the one definition every query and migration uses.

Unique keys make every write idempotent: an article by ``uid`` and by
``fingerprint``; a hit by (rule, article); a delivery by its idempotency
``key``.  Reprocessing the same input therefore never duplicates a hit or an
alert.  Times are stored as naive UTC and handed back timezone-aware.

Core, not an ORM: the store reads and writes rows as plain tuples (``row.title``
works on them too) and builds no objects per row, and a short command that reads
the history (``monitor hits``) does not load and configure an object mapper
first (tests/test_cli_startup.py holds that).

A change here is a change of schema: it needs a migration in
``monitor/store/migrations/versions`` (tests/test_migrations.py checks that the
two agree).  ``lease_*`` columns let several replicas share work (see leases.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC time")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


metadata = MetaData()


def _id() -> Column[int]:
    return Column("id", Integer, primary_key=True)


def _time(name: str, *, nullable: bool = False, index: bool = False) -> Column[datetime]:
    return Column(name, UTCDateTime(), nullable=nullable, index=index)


ARTICLES = Table(
    "articles",
    metadata,
    _id(),
    Column("uid", String(64), nullable=False, unique=True),
    Column("fingerprint", String(64), nullable=False, unique=True),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("url", Text),
    _time("published", nullable=True),
    Column("language", String(16)),
    Column("source", Text, nullable=False),
    Column("origin", Text, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("authors", JSON),  # version 2
    _time("ingested_at", index=True),
    # the uid of the story's first article: near duplicates share it (and its alerts)
    Column("story", String(64), index=True),
    Column("signature", LargeBinary),  # MinHash, see stories/dedup.py
)

HITS = Table(
    "hits",
    metadata,
    _id(),
    Column("rule_id", String(200), nullable=False, index=True),
    Column("rule_name", Text, nullable=False),
    Column("article_id", Integer, ForeignKey("articles.id"), nullable=False, index=True),
    Column("terms", JSON, nullable=False),
    Column("snippet", Text, nullable=False),
    Column("rule_tags", JSON, nullable=False),
    _time("created_at", index=True),
    UniqueConstraint("rule_id", "article_id", name="uq_hit_rule_article"),
)

DELIVERIES = Table(
    "deliveries",
    metadata,
    _id(),
    Column("key", String(64), nullable=False, unique=True),
    Column("hit_id", Integer, ForeignKey("hits.id"), nullable=False, index=True),
    Column("channel", String(200), nullable=False),
    Column("status", String(16), nullable=False, index=True, default="pending"),  # pending | sent | dead
    Column("attempts", Integer, nullable=False, default=0),
    _time("next_attempt_at", index=True),
    Column("last_error", Text),
    _time("created_at"),
    _time("sent_at", nullable=True),
    Column("lease_owner", String(64)),  # the replica sending it now
    _time("lease_expires", nullable=True),
)

FILES = Table(
    # what was read from a watched folder, so a file is parsed once and a bad one is reported once
    "files",
    metadata,
    _id(),
    Column("path", Text, nullable=False, unique=True),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),  # nanoseconds: beyond 32 bits
    Column("fingerprint", String(64), nullable=False, index=True),
    Column("status", String(16), nullable=False),  # ingested | duplicate | failed
    Column("reason", Text),
    Column("articles", Integer, nullable=False, default=0),
    _time("seen_at"),
)

FEEDS = Table(
    # per-feed HTTP state (validators exactly as received) and health
    "feeds",
    metadata,
    Column("url", Text, primary_key=True),
    Column("etag", Text),
    Column("last_modified", Text),
    _time("last_fetch_at", nullable=True),
    Column("last_status", Integer),
    Column("error_streak", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("entries_seen", Integer, nullable=False, default=0),
    # version 2: polling policy and source health
    Column("fetch_url", Text),  # after a permanent redirect
    _time("next_fetch_at", nullable=True),
    Column("disabled", Text),  # why polling stopped (410)
    _time("failing_since", nullable=True),
    Column("last_new", Integer, nullable=False, default=0),  # new entries in the last fetch that brought any
    _time("last_new_at", nullable=True),
    Column("usual_gap", Float),  # seconds between new entries, smoothed
    Column("health_alerted", String(16)),  # failing | stale, once alerted
    # replicas: who polls it now, and when it may next be claimed (one fetch per interval)
    Column("lease_owner", String(64)),
    _time("lease_expires", nullable=True),
    _time("due_at", nullable=True),
)

LEASES = Table(
    # a named piece of work (``folder:<path>``) that one replica at a time may do
    "leases",
    metadata,
    Column("name", Text, primary_key=True),
    Column("owner", String(64)),
    _time("expires", nullable=True),
)

META = Table(
    # key-value facts about the database; ``schema_version`` marks one made before migrations
    "monitor_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

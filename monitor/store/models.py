"""The database schema, declared once as SQLModel models.

Unique keys make every write idempotent: an article by ``uid`` and by
``fingerprint``; a hit by (rule, article); a delivery by its idempotency
``key``.  Reprocessing the same input therefore never duplicates a hit or an
alert.  Times are stored as naive UTC and handed back timezone-aware.

A change here is a change of schema: it needs a migration in
``monitor/store/migrations/versions`` (tests/test_migrations.py checks that the
two agree).  ``lease_*`` columns let several replicas share work (see leases.py).

The store reads and writes through the models' tables (``tables.py``) with
SQLAlchemy Core: rows come back as named tuples, and no object is built per row.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, LargeBinary, Text, TypeDecorator, UniqueConstraint
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig


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


def _time(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class _Table(SQLModel):
    """Rows are built by the store, never validated: pydantic's validator is built only if asked
    for, which spares its cost to every command that opens the database."""

    model_config = SQLModelConfig(defer_build=True)


class ArticleRow(_Table, table=True):
    __tablename__ = "articles"

    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(max_length=64, unique=True)
    fingerprint: str = Field(max_length=64, unique=True)
    title: str = Field(sa_column=Column(Text, nullable=False))
    summary: str = Field(sa_column=Column(Text, nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    url: str | None = Field(default=None, sa_column=Column(Text))
    published: datetime | None = _time(nullable=True)
    language: str | None = Field(default=None, max_length=16)
    source: str = Field(sa_column=Column(Text, nullable=False))
    origin: str = Field(sa_column=Column(Text, nullable=False))
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    authors: list[str] | None = Field(default=None, sa_column=Column(JSON))  # version 2
    ingested_at: datetime = _time(index=True)
    # the uid of the story's first article: near duplicates share it (and its alerts)
    story: str | None = Field(default=None, max_length=64, index=True)
    signature: bytes | None = Field(default=None, sa_column=Column(LargeBinary))  # MinHash, see dedup.py


class HitRow(_Table, table=True):
    __tablename__ = "hits"
    __table_args__ = (UniqueConstraint("rule_id", "article_id", name="uq_hit_rule_article"),)

    id: int | None = Field(default=None, primary_key=True)
    rule_id: str = Field(max_length=200, index=True)
    rule_name: str = Field(sa_column=Column(Text, nullable=False))
    article_id: int = Field(foreign_key="articles.id", index=True)
    terms: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    snippet: str = Field(sa_column=Column(Text, nullable=False))
    rule_tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _time(index=True)


class DeliveryRow(_Table, table=True):
    __tablename__ = "deliveries"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True)
    hit_id: int = Field(foreign_key="hits.id", index=True)
    channel: str = Field(max_length=200)
    status: str = Field(default="pending", max_length=16, index=True)  # pending | sent | dead
    attempts: int = 0
    next_attempt_at: datetime = _time(index=True)
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = _time()
    sent_at: datetime | None = _time(nullable=True)
    lease_owner: str | None = Field(default=None, max_length=64)  # the replica sending it now
    lease_expires: datetime | None = _time(nullable=True)


class FileRow(_Table, table=True):
    """What was read from a watched folder, so a file is parsed once and a bad one is reported once."""

    __tablename__ = "files"

    id: int | None = Field(default=None, primary_key=True)
    path: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    mtime_ns: int = Field(sa_column=Column(BigInteger, nullable=False))  # nanoseconds: beyond 32 bits
    fingerprint: str = Field(max_length=64, index=True)
    status: str = Field(max_length=16)  # ingested | duplicate | failed
    reason: str | None = Field(default=None, sa_column=Column(Text))
    articles: int = 0
    seen_at: datetime = _time()


class FeedRow(_Table, table=True):
    """Per-feed HTTP state (validators exactly as received) and health."""

    __tablename__ = "feeds"

    url: str = Field(sa_column=Column(Text, primary_key=True))
    etag: str | None = Field(default=None, sa_column=Column(Text))
    last_modified: str | None = Field(default=None, sa_column=Column(Text))
    last_fetch_at: datetime | None = _time(nullable=True)
    last_status: int | None = None
    error_streak: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    entries_seen: int = 0
    # version 2: polling policy and source health
    fetch_url: str | None = Field(default=None, sa_column=Column(Text))  # after a permanent redirect
    next_fetch_at: datetime | None = _time(nullable=True)
    disabled: str | None = Field(default=None, sa_column=Column(Text))  # why polling stopped (410)
    failing_since: datetime | None = _time(nullable=True)
    last_new: int = 0  # new entries in the last fetch that brought any content
    last_new_at: datetime | None = _time(nullable=True)
    usual_gap: float | None = None  # seconds between new entries, smoothed
    health_alerted: str | None = Field(default=None, max_length=16)  # failing | stale, once alerted
    # replicas: who polls it now, and when it may next be claimed (one fetch per interval)
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_expires: datetime | None = _time(nullable=True)
    due_at: datetime | None = _time(nullable=True)


class LeaseRow(_Table, table=True):
    """A named piece of work (``folder:<path>``) that one replica at a time may do."""

    __tablename__ = "leases"

    name: str = Field(sa_column=Column(Text, primary_key=True))
    owner: str | None = Field(default=None, max_length=64)
    expires: datetime | None = _time(nullable=True)


class MetaRow(_Table, table=True):
    """Key-value facts about the database; ``schema_version`` marks one made before migrations."""

    __tablename__ = "monitor_meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_column=Column(Text, nullable=False))

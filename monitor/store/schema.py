"""Which schema a database has, and bringing it to the one this news-monitor knows (alembic).

Three cases at start-up (``ensure_schema``): a database with none of our
tables is created at the head revision, so a fresh machine needs no extra
command; a database at the head runs; anything else is refused with what to
do: an older revision (or one made before migrations) needs ``monitor db
upgrade``, an unknown (newer) one needs a newer news-monitor.  Upgrades are
serialised across replicas: a PostgreSQL advisory lock, a file lock beside a
SQLite database.

Reading where a database stands is plain SQL against the revisions listed in
``REVISIONS`` (tests/test_migrations.py checks they are alembic's): alembic
takes about a second to import, and every command that opens the database
checks its schema, so alembic is imported only to create or upgrade one.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, func, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError

from monitor.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001"  # what a database made before migrations is stamped at before upgrading
ADVISORY_LOCK_KEY = 0x6E6D5F6462  # "nm_db": one key for every news-monitor schema change
UPGRADE_HINT = "run `monitor db upgrade` (after a backup)"
# Every revision in monitor/store/migrations/versions, oldest first: a new migration adds its id here.
REVISIONS = ("0001", "0002", "0003", "0004")
VERSION_TABLE = "alembic_version"
# The tables of monitor/store/tables.py (tests/test_migrations.py checks it): named here so that
# `monitor db current` reads where a database stands without importing the tables.
TABLES = frozenset({"articles", "hits", "deliveries", "files", "feeds", "leases", "monitor_meta"})


@dataclass(frozen=True, slots=True)
class SchemaState:
    """Where a database stands against this news-monitor's migrations."""

    current: tuple[str, ...]  # alembic revisions recorded in the database (one, normally)
    head: str  # the newest revision this news-monitor knows
    legacy: str | None  # schema_version of a database made before migrations, else None
    empty: bool  # none of our tables: a new database

    @property
    def up_to_date(self) -> bool:
        return self.current == (self.head,)

    @property
    def newer(self) -> bool:
        return any(not _is_known(rev) for rev in self.current)

    def describe(self) -> str:
        """One sentence: what the database is at and what to do about it."""
        if self.empty:
            return f"empty: it will be created at revision {self.head}"
        if self.up_to_date:
            return f"at revision {self.head} (the newest this news-monitor knows): up to date"
        if self.newer:
            return (
                f"at revision {', '.join(self.current)}, newer than this news-monitor knows "
                f"(it knows up to {self.head}): upgrade news-monitor"
            )
        if self.legacy is not None:
            return (
                f"made by a news-monitor before migrations (schema version {self.legacy}), "
                f"older than revision {self.head}: {UPGRADE_HINT}"
            )
        return f"at revision {', '.join(self.current)}, older than {self.head}: {UPGRADE_HINT}"


def _is_known(revision: str) -> bool:
    return revision in REVISIONS


def head_revision() -> str:
    return REVISIONS[-1]


def _alembic_config(connection: Connection) -> Config:
    from alembic.config import Config  # only to change the schema: slow to import

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _state_of(connection: Connection) -> SchemaState:
    tables = set(inspect(connection).get_table_names())
    current: tuple[str, ...] = ()
    if VERSION_TABLE in tables:
        rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
        current = tuple(sorted(str(rev) for (rev,) in rows))
    ours = tables & TABLES
    legacy = None
    if not current and ours:
        legacy = "unknown"
        if "monitor_meta" in tables:
            row = connection.execute(text("SELECT value FROM monitor_meta WHERE key = 'schema_version'"))
            legacy = row.scalar() or legacy
    return SchemaState(current, head_revision(), legacy, empty=not current and not ours)


def schema_state(engine: Engine) -> SchemaState:
    """Read-only: what ``monitor db current`` prints."""
    with _errors(engine), engine.connect() as connection:
        return _state_of(connection)


def upgrade_schema(engine: Engine) -> tuple[SchemaState, SchemaState]:
    """Bring the database to the head revision (adopting one made before migrations); before and after.

    Holds the migration lock throughout, so replicas upgrading at once run
    each revision once; the second finds the work done.
    """
    from alembic import command  # only to change the schema: slow to import

    with _errors(engine), _schema_lock(engine) as connection:
        before = _state_of(connection)
        if before.newer:
            raise StoreError(f"the database is {before.describe()}", transient=False)
        config = _alembic_config(connection)
        if before.legacy is not None:
            log.info("database made before migrations (schema version %s): adopting it", before.legacy)
            command.stamp(config, BASELINE)
        command.upgrade(config, "head")
        connection.commit()
        after = _state_of(connection)
    return before, after


def ensure_schema(engine: Engine) -> None:
    """Create a new database at head, accept one at head, refuse any other with what to run."""
    with _errors(engine):
        state = schema_state(engine)
        if state.empty:
            before, after = upgrade_schema(engine)
            if before.empty:
                log.info("database created at schema revision %s", after.head)
            state = after
    if not state.up_to_date:
        where = engine.url.render_as_string(hide_password=True)
        raise StoreError(f"the database {where} is {state.describe()}", transient=False)


@contextlib.contextmanager
def _schema_lock(engine: Engine) -> Iterator[Connection]:
    """A connection holding the one lock every schema change takes."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(select(func.pg_advisory_lock(ADVISORY_LOCK_KEY)))
            connection.commit()
            try:
                yield connection
            finally:
                connection.rollback()
                connection.execute(select(func.pg_advisory_unlock(ADVISORY_LOCK_KEY)))
                connection.commit()
            return
        with _file_lock(engine.url.database):
            yield connection


@contextlib.contextmanager
def _file_lock(database: str | None) -> Iterator[None]:
    """SQLite has no advisory locks: an flock on ``<database>.migrate-lock`` (blocking) stands in."""
    if not database or database == ":memory:":
        yield
        return
    fd = os.open(f"{database}.migrate-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


@contextlib.contextmanager
def _errors(engine: Engine) -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as exc:
        where = engine.url.render_as_string(hide_password=True)
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise StoreError(f"database unreachable or unusable: {where}: {detail}") from None

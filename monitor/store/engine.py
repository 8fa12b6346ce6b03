"""Database engines: SQLite tuned for one writer (WAL, busy timeout), or PostgreSQL.

SQLite is the default because it needs no server; WAL lets readers (``monitor
hits``) work while the daemon writes, and the busy timeout turns a briefly
locked database into a short wait instead of an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from monitor.errors import StoreError
from monitor.store.schema import ensure_schema

if TYPE_CHECKING:
    from monitor.store.repo import Store

BUSY_TIMEOUT_S = 30


def _sqlite_pragmas(busy_timeout: float) -> Any:
    def apply(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.close()

    return apply


def make_engine(url: str, *, busy_timeout: float = BUSY_TIMEOUT_S) -> Engine:
    """An engine for ``url``; creates the SQLite file's folder. Raises StoreError."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"database: {url!r} is not a database URL") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": busy_timeout})
        event.listen(engine, "connect", _sqlite_pragmas(busy_timeout))
        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        return create_engine(parsed, pool_pre_ping=True)
    except (ImportError, SQLAlchemyError) as exc:
        raise StoreError(f"database: cannot use {parsed.render_as_string()}: {exc}") from None


def prepare_schema(engine: Engine) -> None:
    """Make the database ready: a new one is created at the newest revision; any other must be there.

    Raises StoreError naming what to run when it is older (``monitor db
    upgrade``) or newer (upgrade news-monitor); see :mod:`monitor.store.schema`.
    """
    ensure_schema(engine)


def open_store(url: str) -> Store:
    """The store at ``url``, its schema checked (a new database is created); a refused schema
    closes the engine."""
    from monitor.store.repo import Store  # the tables: `monitor db current` needs only the engine

    engine = make_engine(url)
    try:
        prepare_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine)

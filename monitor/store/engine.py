"""Database engines: SQLite tuned for one writer (WAL, busy timeout), or PostgreSQL.

SQLite is the default because it needs no server; WAL lets readers (``monitor
hits``) work while the daemon writes, and the busy timeout turns a briefly
locked database into a short wait instead of an error.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Dialect, Engine, create_engine, event, inspect, literal, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlmodel import Session, SQLModel

from monitor.errors import StoreError
from monitor.store.searchindex import ensure_search_schema
from monitor.store.tables import SCHEMA_VERSION, MetaRow

log = logging.getLogger(__name__)
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
    """Create missing tables, add missing columns, refuse a database written by a newer news-monitor."""
    try:
        SQLModel.metadata.create_all(engine)
        with Session(engine) as session:
            row = session.get(MetaRow, "schema_version")
            if row is not None and int(row.value) > SCHEMA_VERSION:
                raise StoreError(
                    f"the database schema is version {row.value}, newer than this "
                    f"news-monitor knows ({SCHEMA_VERSION}); upgrade news-monitor"
                )
            added = _add_missing_columns(session)
            if added:
                log.info("database schema: added %s (now version %d)", ", ".join(added), SCHEMA_VERSION)
            ensure_search_schema(session.connection())
            session.merge(MetaRow(key="schema_version", value=str(SCHEMA_VERSION)))
            session.commit()
    except OperationalError as exc:
        raise StoreError(f"database unreachable or unusable: {exc.orig}") from None


def _add_missing_columns(session: Session) -> list[str]:
    """Schema changes so far only add columns (nullable or defaulted): add what an older database lacks."""
    connection = session.connection()
    dialect = connection.dialect
    present = inspect(connection)
    done: list[str] = []
    for table in SQLModel.metadata.sorted_tables:
        have = {c["name"] for c in present.get_columns(table.name)}
        added = [column for column in table.columns if column.name not in have]
        for column in added:
            clause = f"{column.type.compile(dialect=dialect)}{_default_clause(column, dialect)}"
            name = dialect.identifier_preparer.quote(column.name)
            connection.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {name} {clause}"))
            done.append(f"{table.name}.{column.name}")
        for index in table.indexes:
            if any(column in added for column in index.columns):
                index.create(connection, checkfirst=True)
    return done


def _default_clause(column: Column[Any], dialect: Dialect) -> str:
    """Existing rows need a value for a NOT NULL column: its Python default, else the type's zero."""
    if column.nullable:
        return ""
    default = getattr(column.default, "arg", None)
    if default is None or callable(default):
        default = {bool: False, int: 0, float: 0.0, str: ""}.get(column.type.python_type, 0)
    value = literal(default).compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    return f" NOT NULL DEFAULT {value}"

"""What every part of the store shares: the engine, its connections, and database errors as StoreError."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError

from monitor.errors import StoreError


class StoreBase:
    """The engine and its dialect's INSERT, under each part of :class:`monitor.store.repo.Store`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = dialect_insert(engine)

    def _reading(self) -> Connection:
        """A connection for reads; its transaction ends (rolled back) when it closes."""
        return self.engine.connect()

    def _writing(self) -> AbstractContextManager[Connection]:
        """A connection in a transaction that commits when the block ends, rolls back on an error."""
        return self.engine.begin()

    def _guard(self) -> StoreGuard:
        return StoreGuard(self.engine)


def dialect_insert(engine: Engine) -> Callable[[Any], Any]:
    """The INSERT of the engine's dialect (ON CONFLICT), imported for that dialect alone:
    PostgreSQL's imports its drivers too, a large part of a short command's start-up on SQLite."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert


def _digest_uid(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class StoreGuard:
    """Turns SQLAlchemy's errors into StoreError naming the database (password hidden).

    Every read or write of the store runs inside one:
    ``with StoreGuard(engine), engine.connect() as connection``.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _tb: Any) -> None:
        if exc is None or not isinstance(exc, SQLAlchemyError):
            return
        where = self.engine.url.render_as_string(hide_password=True)
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        hint = (
            " (another process holds the lock; it will be retried)"
            if (isinstance(exc, OperationalError) and "locked" in detail)
            else ""
        )
        # A rejected row (bad value, broken constraint) will be rejected again: not transient.
        transient = not isinstance(exc, IntegrityError | DataError | ProgrammingError)
        raise StoreError(f"database {where}: {detail}{hint}", transient=transient) from exc

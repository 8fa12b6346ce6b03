"""One storage suite, two backends: a SQLite file and (when configured) a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from monitor.store.engine import make_engine, prepare_schema
from monitor.store.repo import Store


def empty_postgres(engine: Engine) -> None:
    """Everything gone: our tables, alembic's version table and whatever a migration added."""
    with engine.begin() as db:
        db.execute(text("DROP SCHEMA public CASCADE"))
        db.execute(text("CREATE SCHEMA public"))


def open_empty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database with nothing in it on the backend ``request.param`` names, emptied again afterwards
    (fixture body). PostgreSQL: this worker's own database (tests/conftest.py), never a shared one."""
    backend = request.param
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'monitor.db'}")
    else:
        engine = make_engine(request.getfixturevalue("worker_postgres_url"))
        empty_postgres(engine)
    yield engine
    if backend == "postgresql":
        empty_postgres(engine)
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database with nothing in it, on each backend."""
    yield from open_empty(request, tmp_path)


@pytest.fixture
def store(empty_engine: Engine) -> Store:
    prepare_schema(empty_engine)
    return Store(empty_engine)

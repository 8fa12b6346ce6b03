"""One storage suite, two backends: a SQLite file and (when configured) a real PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import SQLModel

from monitor.store.engine import make_engine, prepare_schema
from monitor.store.repo import Store

PG_URL = os.environ.get("MONITOR_TEST_DATABASE_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'monitor.db'}")
    else:
        if not PG_URL:
            pytest.skip("PostgreSQL tests need MONITOR_TEST_DATABASE_URL (set by .ci/run)")
        engine = make_engine(PG_URL)
        SQLModel.metadata.drop_all(engine)
    prepare_schema(engine)
    yield Store(engine)
    if request.param == "postgresql":
        SQLModel.metadata.drop_all(engine)
    engine.dispose()

"""Fixtures of the pipeline tests: a real store on each backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.store.engine import prepare_schema
from monitor.store.repo import Store
from tests.store.conftest import open_empty


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store on each backend (PostgreSQL with MONITOR_TEST_DATABASE_URL, else skipped)."""
    opened = open_empty(request, tmp_path)
    engine = next(opened)
    prepare_schema(engine)
    yield Store(engine)
    next(opened, None)

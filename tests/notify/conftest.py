"""Fixtures shared by the channel tests: a real HTTP client and an alert factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from monitor.models import Alert

MATCHED_AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make_alert(**changes: Any) -> Alert:
    """A plausible alert; tests override only the fields they are about."""
    values: dict[str, Any] = {
        "key": "d3b07384d113edec49eaa6238ad5ff00",
        "channel": "test",
        "rule_id": "cessate-il-fuoco",
        "rule_name": "Cessate il fuoco",
        "title": "Tregua a Gaza: accordo raggiunto",
        "url": "https://www.example.org/esteri/tregua?id=1&lang=it",
        "source": "Esteri",
        "published": datetime(2024, 5, 1, 11, 58, tzinfo=UTC),
        "language": "it",
        "terms": ("tregua", "cessate il fuoco"),
        "snippet": "… le parti hanno firmato una tregua; il cessate il fuoco inizia domani …",
        "matched_at": MATCHED_AT,
        "rule_tags": ("esteri",),
    }
    values.update(changes)
    return Alert(**values)


@pytest.fixture
def alert_factory() -> Callable[..., Alert]:
    return make_alert


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as http:
        yield http

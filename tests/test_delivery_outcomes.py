"""What a send leaves in the outbox, and when a group of outcomes is recorded: pure tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.config import DeliverySettings
from monitor.models import DeliveryOutcome
from monitor.pipeline.decisions import Decision, outcome_of, record_now

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=1)


@pytest.mark.parametrize(
    ("decision", "expected"),
    [
        (Decision("sent"), DeliveryOutcome("k", "sent", True, sent_at=NOW)),
        (
            Decision("retry", "HTTP 503", LATER),
            DeliveryOutcome("k", "pending", True, LATER, error="HTTP 503"),
        ),
        (Decision("defer", "paused", LATER), DeliveryOutcome("k", "pending", False, LATER, error="paused")),
        (Decision("dead", "HTTP 404"), DeliveryOutcome("k", "dead", True, error="HTTP 404")),
    ],
)
def test_delivery_outcome_of_each_decision(decision: Decision, expected: DeliveryOutcome) -> None:
    assert outcome_of("k", decision, NOW) == expected


@pytest.mark.parametrize(
    ("waiting", "batch", "wait", "now"),
    [
        (1, 50, 0.005, False),  # the timer records it, with whatever joins it meanwhile
        (49, 50, 0.005, False),
        (50, 50, 0.005, True),  # a full group goes at once
        (1, 50, 0.0, True),  # record_wait 0: each outcome in its own commit
        (1, 1, 1.0, True),  # record_batch 1: the same
    ],
)
def test_delivery_record_now_when_full_or_not_waiting(
    waiting: int, batch: int, wait: float, now: bool
) -> None:
    policy = DeliverySettings(record_batch=batch, record_wait=wait)
    assert record_now(waiting, policy) is now

"""Send outcomes recorded in groups: one statement for a mixed group, pending rows only, leases ended."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.models import DeliveryOutcome
from monitor.store.leases import SharedClaims
from monitor.store.outbox import held_outcome
from monitor.store.repo import Store
from tests.store.test_repo import sample

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)
CHANNELS = ["console", "hook"]


def test_outcomes_a_mixed_group_is_recorded_in_one_call(store: Store) -> None:
    store.record([sample(n) for n in range(3)], [], NOW)  # six alerts
    sent, retried, deferred, dead, held, untouched = (a.key for a in store.due_deliveries(NOW, 10, CHANNELS))
    store.record_outcomes(
        [
            DeliveryOutcome(sent, "sent", True, sent_at=NOW),
            DeliveryOutcome(retried, "pending", True, LATER, error="HTTP 503"),
            DeliveryOutcome(deferred, "pending", False, LATER, error="channel paused"),
            DeliveryOutcome(dead, "dead", True, error="HTTP 404"),
            held_outcome(held, LATER, "digest"),
        ]
    )
    rows = {d.key: d for d in store.deliveries()}
    seen = {
        key: (rows[key].status, rows[key].attempts, rows[key].last_error)
        for key in (sent, retried, deferred, dead, held, untouched)
    }
    assert seen == {
        sent: ("sent", 1, None),
        retried: ("pending", 1, "HTTP 503"),
        deferred: ("pending", 0, "channel paused"),
        dead: ("dead", 1, "HTTP 404"),
        held: ("held", 0, "held: digest"),
        untouched: ("pending", 0, None),
    }
    assert rows[sent].sent_at == NOW
    assert (
        rows[retried].next_attempt_at == rows[deferred].next_attempt_at == rows[held].next_attempt_at == LATER
    )
    assert rows[dead].next_attempt_at == rows[untouched].next_attempt_at == NOW  # unchanged
    assert [a.key for a in store.due_deliveries(LATER, 10, CHANNELS)] == [untouched, retried, deferred]


def test_outcomes_only_a_pending_row_changes(store: Store) -> None:
    """A group recorded again (its commit's answer lost) or a late outcome leaves a sent row as it is."""
    store.record([sample()], [], NOW)
    first, second = (a.key for a in store.due_deliveries(NOW, 10, CHANNELS))
    group = [
        DeliveryOutcome(first, "sent", True, sent_at=NOW),
        DeliveryOutcome(second, "dead", True, error="no"),
    ]
    store.record_outcomes(group)
    store.record_outcomes(group)
    store.record_outcomes([DeliveryOutcome(first, "dead", True, error="a late failure")])
    rows = {d.key: (d.status, d.attempts, d.last_error) for d in store.deliveries()}
    assert rows == {first: ("sent", 1, None), second: ("dead", 1, "no")}


def test_outcomes_end_the_lease_of_the_rows_they_record(store: Store) -> None:
    store.record([sample()], [], NOW)
    claims = SharedClaims(store, owner="replica-a", ttl=30.0)
    done, kept = claims.deliveries(NOW, 10, CHANNELS)
    store.record_outcomes([DeliveryOutcome(done.key, "pending", True, NOW, error="HTTP 500")])
    assert claims.renew(NOW) == 1  # only the alert still in hand is held
    other = SharedClaims(store, owner="replica-b", ttl=30.0)
    assert [a.key for a in other.deliveries(NOW, 10, CHANNELS)] == [done.key]  # free at once
    assert kept.key != done.key


def test_outcomes_an_empty_group_writes_nothing(store: Store) -> None:
    store.record_outcomes([])
    assert store.delivery_counts() == {}

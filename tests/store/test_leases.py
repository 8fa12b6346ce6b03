"""Row leases: each alert, feed and folder is claimed by one replica at a time, and lapses with it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from monitor.models import FeedState
from monitor.store.leases import FEED_REUSE, LocalClaims, SharedClaims, claims_for
from monitor.store.repo import Store
from tests.store.test_repo import sample

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
TTL = 30.0
FEED = "https://example.org/esteri.rss"
CHANNELS = ["console", "hook"]


def replicas(store: Store, count: int = 2) -> list[SharedClaims]:
    return [SharedClaims(store, owner=f"replica-{n}", ttl=TTL) for n in range(count)]


def later(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def test_leases_deliveries_are_split_between_replicas_and_lapse_with_their_holder(store: Store) -> None:
    store.record([sample(n) for n in range(3)], [], NOW)  # six alerts
    a, b = replicas(store)
    mine = a.deliveries(NOW, 4, CHANNELS)
    theirs = b.deliveries(NOW, 100, CHANNELS)
    assert len(mine) == 4 and len(theirs) == 2
    assert not {x.key for x in mine} & {x.key for x in theirs}
    assert b.deliveries(later(TTL - 1), 100, CHANNELS) == []  # a's leases still live

    store.mark_sent(mine[0].key, NOW)
    taken_over = b.deliveries(later(TTL + 1), 100, CHANNELS)  # a died: its leases lapsed
    assert {x.key for x in taken_over} == {x.key for x in mine[1:]} | {x.key for x in theirs}


def test_leases_the_key_of_an_alert_is_the_same_whoever_sends_it(store: Store) -> None:
    store.record([sample()], [], NOW)
    a, b = replicas(store)
    first = a.deliveries(NOW, 100, CHANNELS)
    again = b.deliveries(later(TTL + 1), 100, CHANNELS)
    assert sorted(x.key for x in first) == sorted(x.key for x in again)


def test_leases_a_lapsed_holder_cannot_undo_what_the_next_one_did(store: Store) -> None:
    store.record([sample()], [], NOW)
    a, b = replicas(store)
    [alert, _] = a.deliveries(NOW, 100, CHANNELS)
    [*_, retaken] = [x for x in b.deliveries(later(TTL + 1), 100, CHANNELS) if x.key == alert.key]
    store.mark_sent(retaken.key, later(TTL + 2))
    store.mark_dead(alert.key, "a's late failure")  # a's send finally failed: too late to matter
    [view] = [d for d in store.deliveries() if d.key == alert.key]
    assert (view.status, view.last_error) == ("sent", None)


def test_leases_renewal_keeps_work_and_release_all_hands_it_over(store: Store) -> None:
    store.record([sample()], [], NOW)
    a, b = replicas(store)
    assert len(a.deliveries(NOW, 100, CHANNELS)) == 2
    assert a.feed(FEED, 600, NOW) and a.task("folder:/inbox", NOW)
    assert a.renew(later(TTL - 1)) == 4  # two alerts, one feed, one folder
    assert b.deliveries(later(TTL + 1), 100, CHANNELS) == []
    assert not b.task("folder:/inbox", later(TTL + 1))
    assert a.release_all() == 4
    assert len(b.deliveries(later(TTL + 1), 100, CHANNELS)) == 2
    assert b.task("folder:/inbox", later(TTL + 1))


def test_leases_a_feed_is_polled_once_per_interval_whoever_claims_it(store: Store) -> None:
    a, b = replicas(store)
    interval = 600.0
    assert a.feed(FEED, interval, NOW)
    assert not b.feed(FEED, interval, NOW)  # leased
    a.release_feed(FEED)
    assert not b.feed(FEED, interval, later(1))  # released, but this interval's fetch is done
    assert not a.feed(FEED, interval, later(interval * FEED_REUSE - 1))
    assert b.feed(FEED, interval, later(interval * FEED_REUSE))


def test_leases_a_killed_feed_holder_is_replaced_after_expiry_never_within_the_interval(store: Store) -> None:
    a, b = replicas(store)
    interval = 10.0  # shorter than the lease: the lease decides
    assert a.feed(FEED, interval, NOW)  # ... and a is killed
    assert not b.feed(FEED, interval, later(interval))
    assert b.feed(FEED, interval, later(TTL + 1))


def test_leases_saving_a_feeds_state_keeps_its_lease(store: Store) -> None:
    a, b = replicas(store)
    assert a.feed(FEED, 600, NOW)
    store.save_feed_state(FeedState(FEED, etag='"v2"', entries_seen=3))
    assert store.feed_state(FEED) == FeedState(FEED, etag='"v2"', entries_seen=3)
    assert not b.feed(FEED, 600, later(TTL - 1))


def test_leases_a_folder_task_is_held_by_one_replica_at_a_time(store: Store) -> None:
    a, b, c = replicas(store, 3)
    assert a.task("folder:/inbox", NOW)
    assert not a.task("folder:/inbox", NOW)  # not reentrant: a watcher waits for the scan
    assert not b.task("folder:/inbox", NOW)
    assert c.task("folder:/other", NOW)
    a.release_task("folder:/inbox")
    b.release_task("folder:/other")  # not b's: nothing happens
    assert b.task("folder:/inbox", NOW)
    assert not a.task("folder:/other", NOW)


def test_leases_local_claims_grant_everything_and_write_nothing(store: Store) -> None:
    store.record([sample()], [], NOW)
    local = LocalClaims(store)
    assert len(local.deliveries(NOW, 100, CHANNELS)) == 2
    assert local.feed(FEED, 600, NOW) and local.feed(FEED, 600, NOW)
    assert local.task("x", NOW) and local.task("x", NOW)
    assert store.feed_states() == {}
    assert claims_for(store, TTL).shared is (store.engine.dialect.name == "postgresql")


def test_leases_claims_skip_rows_another_transaction_holds_instead_of_waiting(store: Store) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite has one writer (the run lock)")
    store.record([sample(n) for n in range(2)], [], NOW)  # four alerts
    a, b = replicas(store)
    claimed: list[int] = []
    with store.engine.connect() as other:
        # a replica mid-claim: its transaction holds the two oldest rows
        other.execute(text("SELECT id FROM deliveries ORDER BY id LIMIT 2 FOR UPDATE"))
        worker = threading.Thread(target=lambda: claimed.append(len(b.deliveries(NOW, 100, CHANNELS))))
        worker.start()
        worker.join(timeout=20)
        assert not worker.is_alive(), "the claim waited for a lock instead of skipping it"
        other.rollback()
    assert claimed == [2]
    assert len(a.deliveries(NOW, 100, CHANNELS)) == 2  # the two skipped, free again; b holds the rest

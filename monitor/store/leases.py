"""Who does which piece of work when several replicas share one PostgreSQL.

APScheduler keeps each replica's schedule in memory, so every replica's feed
job fires for every feed; the database decides which replica acts.  A claim
is a row lease: the row names its holder (``lease_owner``, one id per
process) and when the claim lapses (``lease_expires``).  Claims are taken
with ``SELECT … FOR UPDATE SKIP LOCKED`` so replicas never wait on each
other; the holder renews its leases while it works (the daemon's heartbeat)
and ends them when done or when it stops.  A replica killed with SIGKILL
renews nothing: its leases expire and the others take the work over.

On SQLite one process does all the work (the run lock, monitor/service/runlock.py), so
:class:`LocalClaims` grants every claim without touching the database.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, select, update

from monitor.models import Alert
from monitor.store.base import dialect_insert
from monitor.store.repo import Store, StoreGuard
from monitor.store.tables import DELIVERIES, FEEDS, LEASES

FEED_REUSE = 0.75  # a feed is claimable again after 3/4 of its interval: schedules jitter by ±10%


def new_owner_id() -> str:
    """This process, recognisably in the database (host and pid) and unique across restarts."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


class LocalClaims:
    """One process does everything: each claim is granted, nothing is written."""

    shared = False

    def __init__(self, store: Store, owner: str | None = None, ttl: float = 60.0) -> None:
        self.store = store
        self.owner = owner or new_owner_id()
        self.ttl = ttl

    def deliveries(self, now: datetime, limit: int, channels: Iterable[str]) -> list[Alert]:
        return self.store.due_deliveries(now, limit, channels)

    def feed(self, url: str, interval: float, now: datetime) -> bool:
        return True

    def release_feed(self, url: str) -> None:
        return None

    def task(self, name: str, now: datetime) -> bool:
        return True

    def release_task(self, name: str) -> None:
        return None

    def renew(self, now: datetime) -> int:
        return 0

    def release_all(self) -> int:
        return 0


class SharedClaims(LocalClaims):
    """Row leases in the database, for replicas on one PostgreSQL (the SQL runs on SQLite too)."""

    shared = True

    def __init__(self, store: Store, owner: str | None = None, ttl: float = 60.0) -> None:
        super().__init__(store, owner, ttl)
        self.engine: Engine = store.engine
        self._insert = dialect_insert(self.engine)

    def _until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.ttl)

    def deliveries(self, now: datetime, limit: int, channels: Iterable[str]) -> list[Alert]:
        return self.store.claim_deliveries(now, limit, channels, self.owner, self._until(now))

    def feed(self, url: str, interval: float, now: datetime) -> bool:
        """Claim a feed if no live lease holds it and its next slot has come; book the next slot.

        The next slot is booked at claim time, so even if this replica dies
        mid-fetch no other fetches the feed again within its interval.
        """
        row = {"url": url, "error_streak": 0, "entries_seen": 0, "last_new": 0}
        claimable = (
            select(FEEDS.c.url)
            .where(FEEDS.c.url == url)
            .where(or_(FEEDS.c.lease_expires.is_(None), FEEDS.c.lease_expires < now))
            .where(or_(FEEDS.c.due_at.is_(None), FEEDS.c.due_at <= now))
            .with_for_update(skip_locked=True)
        )
        with StoreGuard(self.engine), self.engine.begin() as connection:
            connection.execute(self._insert(FEEDS).values(row).on_conflict_do_nothing())
            if connection.execute(claimable).first() is None:
                return False
            connection.execute(
                update(FEEDS)
                .where(FEEDS.c.url == url)
                .values(
                    lease_owner=self.owner,
                    lease_expires=self._until(now),
                    due_at=now + timedelta(seconds=interval * FEED_REUSE),
                )
            )
        return True

    def release_feed(self, url: str) -> None:
        query = update(FEEDS).where(FEEDS.c.url == url, FEEDS.c.lease_owner == self.owner)
        with StoreGuard(self.engine), self.engine.begin() as connection:
            connection.execute(query.values(lease_owner=None, lease_expires=None))

    def task(self, name: str, now: datetime) -> bool:
        """Claim a named piece of work (``folder:<path>``) that one replica at a time may do."""
        claimable = (
            select(LEASES.c.name)
            .where(LEASES.c.name == name)
            .where(or_(LEASES.c.expires.is_(None), LEASES.c.expires < now))
            .with_for_update(skip_locked=True)
        )
        with StoreGuard(self.engine), self.engine.begin() as connection:
            connection.execute(self._insert(LEASES).values(name=name).on_conflict_do_nothing())
            if connection.execute(claimable).first() is None:
                return False
            connection.execute(
                update(LEASES).where(LEASES.c.name == name).values(owner=self.owner, expires=self._until(now))
            )
        return True

    def release_task(self, name: str) -> None:
        query = update(LEASES).where(LEASES.c.name == name, LEASES.c.owner == self.owner)
        with StoreGuard(self.engine), self.engine.begin() as connection:
            connection.execute(query.values(owner=None, expires=None))

    def renew(self, now: datetime) -> int:
        """Extend every lease this process holds (the heartbeat); how many rows it holds."""
        until = self._until(now)
        with StoreGuard(self.engine), self.engine.begin() as connection:
            return sum(
                int(getattr(connection.execute(query), "rowcount", 0) or 0)
                for query in (
                    update(DELIVERIES)
                    .where(DELIVERIES.c.lease_owner == self.owner, DELIVERIES.c.status == "pending")
                    .values(lease_expires=until),
                    update(FEEDS).where(FEEDS.c.lease_owner == self.owner).values(lease_expires=until),
                    update(LEASES).where(LEASES.c.owner == self.owner).values(expires=until),
                )
            )

    def release_all(self) -> int:
        """End every lease this process holds, so the other replicas need not wait for them to expire."""
        with StoreGuard(self.engine), self.engine.begin() as connection:
            return sum(
                int(getattr(connection.execute(query), "rowcount", 0) or 0)
                for query in (
                    update(DELIVERIES)
                    .where(DELIVERIES.c.lease_owner == self.owner)
                    .values(lease_owner=None, lease_expires=None),
                    update(FEEDS)
                    .where(FEEDS.c.lease_owner == self.owner)
                    .values(lease_owner=None, lease_expires=None),
                    update(LEASES).where(LEASES.c.owner == self.owner).values(owner=None, expires=None),
                )
            )


def claims_for(store: Store, ttl: float) -> LocalClaims:
    """Shared claims on PostgreSQL (replicas may run), local ones on SQLite (one process does)."""
    if store.engine.dialect.name == "postgresql":
        return SharedClaims(store, ttl=ttl)
    return LocalClaims(store, ttl=ttl)

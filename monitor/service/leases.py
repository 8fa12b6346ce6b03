"""This replica's leases (feeds, deliveries, the retention task), kept alive while it runs.

Replicas on one PostgreSQL share the work through row leases that lapse
after ``leases.ttl``; a replica that runs renews its own every third of
that, off the worker thread so that a long scan cannot let them lapse, and
ends them when it stops so that another replica takes over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from monitor.errors import MonitorError
from monitor.store.leases import LocalClaims

__all__ = ["holding_leases"]

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def holding_leases(claims: LocalClaims) -> AsyncIterator[None]:
    """Renew ``claims`` while the block runs (also while the daemon drains at a stop), end them after.

    Nothing to do on SQLite, where one process does all the work.
    """
    if not claims.shared:
        yield
        return

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(claims.ttl / 3)
            try:
                await asyncio.to_thread(claims.renew, datetime.now(UTC))
            except MonitorError as exc:
                log.warning("leases not renewed (%s): they lapse within %.0fs", exc, claims.ttl)

    task = asyncio.create_task(heartbeat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        try:
            released = await asyncio.to_thread(claims.release_all)
            log.info("replica=%s released %d lease(s)", claims.owner, released)
        except MonitorError as exc:
            log.warning("leases not released (%s): they lapse in %.0fs", exc, claims.ttl)

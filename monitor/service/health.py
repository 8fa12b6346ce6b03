"""Whether the daemon is alive and ready: its heartbeat, and the checks behind /readyz.

The heartbeat is a scheduled job like the others, so its ticks prove that
jobs still start: each tick pings systemd's watchdog (a stuck loop stops the
pings, and systemd restarts the service) and is the ``scheduler`` readiness
check.  The other checks ask the database, the rule index and the outbox.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from monitor.metrics import Metrics
from monitor.pipeline.ingest import Pipeline
from monitor.service.ops import Check
from monitor.service.systemd import SystemdNotifier

__all__ = ["HEARTBEAT_S", "Health", "check_database"]

HEARTBEAT_S = 5.0  # the scheduler's heartbeat, or half the watchdog deadline if that is shorter
DATABASE_TIMEOUT_S = 5.0


async def check_database(engine: Engine) -> Check:
    """A real query, bounded in time: what went wrong is the answer."""
    try:
        await asyncio.wait_for(asyncio.to_thread(_ping, engine), timeout=DATABASE_TIMEOUT_S)
    except TimeoutError:
        return Check("database", False, f"no answer within {DATABASE_TIMEOUT_S:g}s")
    except (SQLAlchemyError, OSError) as exc:
        return Check("database", False, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    return Check("database", True)


def _ping(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")


class Health:
    """The heartbeat job's body and the readiness checks, over one pipeline."""

    def __init__(self, pipeline: Pipeline, systemd: SystemdNotifier, metrics: Metrics) -> None:
        self.pipeline = pipeline
        self.systemd = systemd
        self.metrics = metrics
        watchdog = systemd.watchdog_interval
        self.heartbeat = min(HEARTBEAT_S, watchdog) if watchdog else HEARTBEAT_S
        self._last_tick: float | None = None

    async def heartbeat_tick(self) -> None:
        """Run by the scheduler: proof for /readyz and systemd's watchdog that jobs still start."""
        self._last_tick = time.monotonic()
        self.metrics.last_tick.set(time.time())
        self.systemd.watchdog()

    async def readiness(self) -> list[Check]:
        """Database reachable, rules loaded, scheduler ticking, not stopping: what /readyz reports."""
        checks = [await check_database(self.pipeline.store.engine)]
        rules = len(self.pipeline.matcher.index)
        checks.append(Check("rules", rules > 0, f"{rules} rules" if rules else "no rule loaded"))
        age = None if self._last_tick is None else time.monotonic() - self._last_tick
        limit = max(15.0, 3 * self.heartbeat)
        if age is None:
            checks.append(Check("scheduler", False, "not started yet"))
        else:
            checks.append(Check("scheduler", age <= limit, f"last tick {age:.1f}s ago (limit {limit:g}s)"))
        stopping = self.pipeline.stopping.is_set()
        checks.append(Check("running", not stopping, "stopping" if stopping else ""))
        stalled = self.pipeline.outbox.stalled
        checks.append(Check("delivery", stalled is None, stalled or ""))
        return checks

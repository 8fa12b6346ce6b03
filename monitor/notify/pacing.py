"""Keeping to a receiver's rate limit: at most one send start per ``min_interval`` per key.

Slack allows about one message a second per incoming webhook and answers
``429`` with ``Retry-After`` beyond that.  A :class:`Pacer` spaces the starts of
consecutive sends to one key (a webhook URL) by at least ``min_interval``, and
:meth:`Pacer.hold` pushes the next start further when the receiver asks us to
wait.  Callers of one key queue on an ``asyncio.Lock`` (first come, first
served), so concurrent senders cannot slip in between; different keys never
wait for each other.

The clock and the sleep are injected, so the schedule can be tested without
waiting::

    pacer = Pacer(1.0)
    async with pacer.slot(url):      # or: await pacer.wait(url)
        await post(...)
    ...
    pacer.hold(retry_after, url)     # after a 429
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from types import TracebackType

__all__ = ["MAX_HOLD", "Pacer"]

MAX_HOLD = 24 * 3600.0
"""Longest hold accepted from a receiver, in seconds (as ``retry.MAX_RETRY_AFTER``)."""


@dataclass
class _Lane:
    """One key's schedule: when its last send started and until when it is held."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_start: float | None = None
    held_until: float = float("-inf")


class Pacer:
    """Spaces send starts per key; safe for concurrent callers on one event loop."""

    def __init__(
        self,
        min_interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if min_interval < 0:
            raise ValueError(f"min_interval cannot be negative, got {min_interval}")
        self.min_interval = float(min_interval)
        self._clock = clock
        self._sleep = sleep
        self._lanes: dict[Hashable, _Lane] = {}

    def __repr__(self) -> str:
        # keys are webhook URLs, i.e. secrets: only their number is shown
        return f"Pacer(min_interval={self.min_interval}, keys={len(self._lanes)})"

    def _lane(self, key: Hashable) -> _Lane:
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        return lane

    def _next_start(self, lane: _Lane) -> float:
        after_last = float("-inf") if lane.last_start is None else lane.last_start + self.min_interval
        return max(after_last, lane.held_until)

    def delay(self, key: Hashable = None) -> float:
        """Seconds until a send to ``key`` may start if nobody queues before it (0: now)."""
        lane = self._lanes.get(key)
        return 0.0 if lane is None else max(self._next_start(lane) - self._clock(), 0.0)

    def hold(self, seconds: float, key: Hashable = None) -> None:
        """Start no send to ``key`` for ``seconds`` from now (a receiver's ``Retry-After``).

        A hold never shortens one already in force; it is capped at :data:`MAX_HOLD`.
        """
        lane = self._lane(key)
        until = self._clock() + min(max(seconds, 0.0), MAX_HOLD)
        lane.held_until = max(lane.held_until, until)

    async def wait(self, key: Hashable = None) -> None:
        """Return when a send to ``key`` may start, and count it as started.

        The wait is re-checked after each sleep, so a :meth:`hold` that arrives
        meanwhile (another sender's 429) is honoured too.  Cancelled while
        waiting, the caller leaves the queue without using a slot.
        """
        lane = self._lane(key)
        async with lane.lock:
            while (remaining := self._next_start(lane) - self._clock()) > 0:
                await self._sleep(remaining)
            lane.last_start = self._clock()

    @contextlib.asynccontextmanager
    async def slot(self, key: Hashable = None) -> AsyncIterator[None]:
        """``async with pacer.slot(key):`` waits for the slot, then runs the send."""
        await self.wait(key)
        yield

    async def __aenter__(self) -> Pacer:
        """``async with pacer:`` paces the default key (a pacer used for one webhook only)."""
        await self.wait()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

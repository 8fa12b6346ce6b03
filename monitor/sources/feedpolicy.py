"""When to poll a feed next: pure schedule maths, no clock, no I/O.

Thousands of feeds polled on a few intervals would all fire in the same
second, so every delay is spread by a caller-supplied random source
(:func:`jittered`).  A failing feed backs off exponentially on its own, so one
broken server costs little while the others keep their rhythm: the delay
doubles from one interval with each consecutive error, up to the lesser of
24 intervals and 6 hours, and never below the interval itself (a feed polled
daily is not polled more often because it fails).  A server that says when to
come back (``Retry-After`` on 429/503) is never asked sooner; what it asks is
clamped to :data:`MIN_RETRY_AFTER`..:data:`MAX_RETRY_AFTER`, so ``Retry-After:
0`` cannot turn us into a hammer and a date in 2099 cannot park a feed
forever.  A 410 Gone disables the feed: the caller stops polling it until a
person re-enables it.

The fetcher (``feeds.py``) and the daemon own the clock and the random
numbers and pass them in, so every schedule is checked with a table of plain
values.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from monitor.errors import FeedFetchError

__all__ = [
    "MAX_BACKOFF",
    "MAX_RETRY_AFTER",
    "MIN_RETRY_AFTER",
    "FeedHealth",
    "Outcome",
    "PollDecision",
    "backoff_delay",
    "clamp_retry_after",
    "jittered",
    "next_poll",
    "outcome_of",
]

MIN_RETRY_AFTER = 60.0
"""Shortest wait we accept from ``Retry-After``: ``0`` or a past date would mean "hammer me"."""
MAX_RETRY_AFTER = 24 * 3600.0
"""Longest wait we accept from ``Retry-After``: a day, then we look again."""
MAX_BACKOFF = 6 * 3600.0
"""Longest error backoff for feeds polled more often than every 15 minutes (see :func:`backoff_delay`)."""
BACKOFF_INTERVALS = 24
"""A failing feed waits at most this many intervals (or :data:`MAX_BACKOFF`, whichever is shorter)."""
DEFAULT_JITTER = 0.1

# Past this many doublings every backoff is at its cap; stopping here keeps 2**n small.
_MAX_DOUBLINGS = 32


class Outcome(Enum):
    """What one poll of a feed came to, as far as scheduling cares."""

    SUCCESS = "success"
    NOT_MODIFIED = "not modified"
    ERROR = "error"
    GONE = "gone"


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """What the schedule needs to remember about a feed between polls."""

    interval: float
    error_streak: int = 0

    def __post_init__(self) -> None:
        if self.interval <= 0:
            raise ValueError(f"a feed's interval must be positive, got {self.interval}")
        if self.error_streak < 0:
            raise ValueError(f"an error streak cannot be negative, got {self.error_streak}")


@dataclass(frozen=True, slots=True)
class PollDecision:
    """The schedule's answer: when to poll next (None once disabled) and the state to store."""

    next_fetch_at: datetime | None
    error_streak: int
    disabled: bool
    reason: str


def next_poll(
    health: FeedHealth,
    outcome: Outcome,
    now: datetime,
    *,
    retry_after: float | None = None,
    rng: random.Random | None = None,
    jitter: float = DEFAULT_JITTER,
) -> PollDecision:
    """Decide the next poll after ``outcome``; ``rng`` (None: no jitter) spreads feeds apart.

    ``retry_after`` is a minimum the server asked for: jitter may lengthen
    the wait but never shortens it below that.
    """
    if outcome is Outcome.GONE:
        return PollDecision(None, health.error_streak + 1, True, "gone (HTTP 410): disabled")
    if outcome in (Outcome.SUCCESS, Outcome.NOT_MODIFIED):
        delay = _spread(health.interval, jitter, rng)
        return PollDecision(now + timedelta(seconds=delay), 0, False, outcome.value)
    streak = health.error_streak + 1
    delay = _spread(backoff_delay(health.interval, streak), jitter, rng)
    reason = f"error {streak} in a row"
    if retry_after is not None:
        asked = min(max(retry_after, 0.0), MAX_RETRY_AFTER)
        if asked > delay:
            delay, reason = asked, f"{reason}; the server asked for {asked:g}s"
    return PollDecision(now + timedelta(seconds=delay), streak, False, reason)


def backoff_delay(interval: float, streak: int) -> float:
    """The wait after ``streak`` consecutive errors: one interval, doubling, capped.

    The cap is the lesser of :data:`BACKOFF_INTERVALS` intervals and
    :data:`MAX_BACKOFF`, but never less than the interval, so a recovered
    server is noticed within hours, and a slow feed never gets faster.
    """
    if streak < 1:
        raise ValueError(f"an error streak counts from 1, got {streak}")
    cap = max(interval, min(BACKOFF_INTERVALS * interval, MAX_BACKOFF))
    return min(cap, interval * 2.0 ** min(streak - 1, _MAX_DOUBLINGS))


def jittered(interval: float, fraction: float, rng: random.Random) -> float:
    """``interval`` moved by up to ±``fraction`` of itself, so feeds with one interval drift apart.

    The spread is symmetric, so the average polling rate stays the one
    configured.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"jitter is a fraction in [0, 1), got {fraction}")
    return interval * (1.0 + rng.uniform(-fraction, fraction))


def outcome_of(error: FeedFetchError) -> Outcome:
    """The scheduling outcome of a failed fetch: gone feeds are disabled, the rest back off."""
    return Outcome.GONE if error.gone else Outcome.ERROR


def clamp_retry_after(seconds: float | None) -> float | None:
    """A server's wish held to :data:`MIN_RETRY_AFTER`..:data:`MAX_RETRY_AFTER` (None stays None)."""
    if seconds is None:
        return None
    return min(max(seconds, MIN_RETRY_AFTER), MAX_RETRY_AFTER)


def _spread(delay: float, fraction: float, rng: random.Random | None) -> float:
    return delay if rng is None else jittered(delay, fraction, rng)

"""When to try a failed delivery again: pure schedule maths, no clock, no I/O.

The dispatcher owns the clock and the random numbers and passes them in, so
every schedule can be checked with a table of plain values.  Backoff doubles
from ``initial`` up to ``maximum``; a receiver that says when to come back
(``Retry-After``) is obeyed when it asks for longer, but never for more than a
day, so a misbehaving server cannot park an alert for years.
"""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = ["MAX_RETRY_AFTER", "next_attempt"]

MAX_RETRY_AFTER = 24 * 3600.0
"""Longest wait we accept from a receiver's ``Retry-After``, in seconds."""

# Past this many doublings every sane backoff is already at its cap; stopping
# here keeps 2**n a small float whatever attempt number the store hands us.
_MAX_DOUBLINGS = 64


def next_attempt(
    attempt: int,
    now: datetime,
    *,
    initial: float,
    maximum: float,
    retry_after: float | None = None,
    jitter: float = 0.0,
) -> datetime:
    """The earliest time attempt ``attempt + 1`` may run, after attempt ``attempt`` failed.

    ``jitter`` (0..1, drawn by the caller) trims up to half of the backoff so
    that alerts failing together do not retry together; it never shortens a
    receiver's ``retry_after``, which is a minimum the receiver asked for.
    """
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    if initial < 0 or maximum < 0:
        raise ValueError("initial and maximum delays cannot be negative")
    if not 0.0 <= jitter <= 1.0:
        raise ValueError(f"jitter is a fraction between 0 and 1, got {jitter}")
    backoff = min(maximum, initial * 2.0 ** min(attempt - 1, _MAX_DOUBLINGS))
    delay = backoff * (1.0 - jitter / 2.0)
    if retry_after is not None:
        delay = max(delay, min(max(retry_after, 0.0), MAX_RETRY_AFTER))
    return now + timedelta(seconds=delay)

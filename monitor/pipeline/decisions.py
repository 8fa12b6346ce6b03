"""What to do after a send, when to record outcomes, and how long to wait when they cannot be: pure logic.

No clock, no I/O: the caller passes the alert, what the send came to and
``now`` (and the random jitter), and stores what comes back.  Kept apart from
the delivery loop so every rule can be checked with plain values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from monitor.config import DeliverySettings
from monitor.models import Alert, DeliveryOutcome
from monitor.notify.retry import next_attempt

STALL_FIRST_S = 5.0  # after the database first refuses an outcome, try writing again this soon
STALL_MAX_S = 300.0  # and never wait longer than this between two tries


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one send came to: ``error`` is None when the receiver took it."""

    error: str | None = None
    permanent: bool = False  # the receiver refused it for good (4xx but 408/429, a bad address)
    retry_after: float | None = None  # seconds the receiver asked us to wait
    paused: bool = False  # not sent at all: the channel is paused for retry_after seconds


SENT = Outcome()


@dataclass(frozen=True, slots=True)
class Decision:
    """What to record: sent, dead (with why) or retry at ``next_at`` (with why)."""

    status: Literal["sent", "dead", "retry", "defer"]
    error: str | None = None
    next_at: datetime | None = None


def after_send(
    alert: Alert, outcome: Outcome, now: datetime, policy: DeliverySettings, jitter: float
) -> Decision:
    """Sent is sent; a paused channel defers the alert (no attempt counted); a permanent refusal,
    or the last allowed attempt failing, is dead; the rest is retried after a backoff that grows
    with the attempt (and obeys the receiver's wish)."""
    if outcome.error is None:
        return Decision("sent")
    if outcome.paused:
        return Decision("defer", outcome.error, now + timedelta(seconds=outcome.retry_after or 0.0))
    if outcome.permanent:
        return Decision("dead", outcome.error)
    if alert.attempt >= policy.max_attempts:
        return Decision("dead", outcome.error)
    when = next_attempt(
        alert.attempt,
        now,
        initial=policy.retry_initial,
        maximum=policy.retry_max,
        retry_after=outcome.retry_after,
        jitter=jitter,
    )
    return Decision("retry", outcome.error, when)


def outcome_of(key: str, decision: Decision, now: datetime) -> DeliveryOutcome:
    """The row change ``decision`` stands for: a retry stays pending and counts an attempt, a
    deferral stays pending and does not."""
    if decision.status == "sent":
        return DeliveryOutcome(key, "sent", True, sent_at=now)
    if decision.status == "dead":
        return DeliveryOutcome(key, "dead", True, error=decision.error)
    return DeliveryOutcome(key, "pending", decision.status == "retry", decision.next_at, error=decision.error)


def record_now(waiting: int, policy: DeliverySettings) -> bool:
    """Whether the outcomes in hand are recorded now, the sender waiting, rather than by the
    timer ``record_wait`` after the first: the group is full, or there is no wait at all."""
    return waiting >= policy.record_batch or policy.record_wait <= 0


def stall_wait(failures: int) -> float:
    """Seconds before writing to a database that refused ``failures`` times in a row is tried again."""
    return min(STALL_MAX_S, STALL_FIRST_S * 2.0 ** min(max(failures - 1, 0), 16))

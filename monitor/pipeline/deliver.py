"""The outbox's sender: due alerts to their channels, and what each send came to back to the store.

Channels go in parallel, each channel's alerts in order.  Held alerts whose
time has come (digest, end of quiet hours or of a throttle window) are first
folded into one summary alert per channel.

Outcomes are recorded in groups, one statement and one commit each: a
group is written when it holds ``delivery.record_batch`` outcomes or its
oldest has waited ``delivery.record_wait``, and always before the round ends,
so before the next claim and before the process stops.  A commit per alert
cost as much as the send itself.  A crash (SIGKILL, power) between a send and
its group's commit re-sends the alerts of that group, under their idempotency
keys, and no others: the group is the only thing held in memory.

A send whose outcome cannot be recorded (a full disk, a read-only or lost
database) would be sent again at every round, since the store still says
pending: instead delivery stops.  The outcomes in hand are kept in memory and
written first when the database takes writes again (tried after a growing
wait); until then nothing is sent, ``stalled`` says why (for /readyz and the
metrics), and the log names the cause once when it starts and once when it ends.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ParamSpec, Protocol, TypeVar

from monitor.config import Settings
from monitor.errors import ChannelPaused, PermanentDelivery, RetryableDelivery, StoreError
from monitor.matching.matcher import ArticleMatcher
from monitor.matching.rulefile import RuleSpec
from monitor.metrics import Metrics
from monitor.models import Alert, DeliveryOutcome, HeldAlert
from monitor.notify.base import Notifier
from monitor.notify.flood import Hold, hold_until, release_at, summary_text, window
from monitor.pipeline.decisions import (
    SENT,
    Decision,
    Outcome,
    after_send,
    outcome_of,
    record_now,
    stall_wait,
)
from monitor.store.leases import LocalClaims
from monitor.store.outbox import held_outcome
from monitor.store.repo import Store

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")


class RunBlocking(Protocol):
    """Runs blocking work (database, spaCy) off the event loop; the daemon owns the thread."""

    def __call__(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Awaitable[T]: ...


class Host(Protocol):
    """What delivery needs of the pipeline; read each time, since a reload replaces settings."""

    settings: Settings
    store: Store
    claims: LocalClaims
    matcher: ArticleMatcher
    metrics: Metrics | None

    def redact(self, text: str) -> str: ...


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    held: int = 0


@dataclass
class Stall:
    """Why delivery is paused: the database would not record what was sent."""

    cause: str
    since: datetime
    failures: int = 1
    retry_at: float = 0.0  # monotonic


class _Stalled(Exception):
    """Raised inside a round when a write failed: the round stops where it is."""


class Outbox:
    """Delivery for one pipeline."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.stall: Stall | None = None
        self._unrecorded: list[DeliveryOutcome] = []  # sent (or held), not yet recorded; oldest first
        self._recording = asyncio.Lock()  # one commit of outcomes at a time
        self._recording_loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._commits: set[asyncio.Task[bool]] = set()
        self._specs: dict[str, RuleSpec] = {}
        self._specs_of: object = None

    @property
    def stalled(self) -> str | None:
        """Why delivery is paused (None when it runs): what /readyz reports."""
        if self.stall is None:
            return None
        waiting = len(self._unrecorded)
        return (
            f"the database refused to record a delivery since {self.stall.since:%Y-%m-%d %H:%M:%S} UTC "
            f"({self.stall.cause}); sending paused, {waiting} outcome(s) waiting to be recorded"
        )

    async def deliver_due(self, notifiers: dict[str, Notifier], run: RunBlocking) -> DeliveryReport:
        """Send every due alert, unless the database does not take the outcomes: then nothing.

        Whatever way the round ends (done, failed, cancelled by a stop), what it
        sent is recorded before this returns, unless the database refuses it.
        """
        report = DeliveryReport()
        loop = asyncio.get_running_loop()
        if self._recording_loop is not loop:  # a lock serves one event loop (tests run several)
            self._recording, self._recording_loop = asyncio.Lock(), loop
        if not await self._resume(run):
            return report
        try:
            await self._round(notifiers, run, report)
        except _Stalled:
            pass
        except StoreError as exc:  # claiming or summarising could not write: the same pause
            self._stall_on(exc)
        finally:
            await self._settle(run)
        return report

    async def _round(self, notifiers: dict[str, Notifier], run: RunBlocking, report: DeliveryReport) -> None:
        host = self.host
        if await run(host.claims.task, "summaries", utcnow()):  # one replica folds held alerts
            try:
                await run(host.store.release_held, utcnow(), summary_text, self._release_at)
            finally:
                await run(host.claims.release_task, "summaries")
        alerts = await run(
            host.claims.deliveries, utcnow(), host.settings.delivery.batch_size, list(notifiers)
        )
        by_channel: dict[str, list[Alert]] = defaultdict(list)
        for alert in alerts:
            by_channel[alert.channel].append(alert)
        results = await asyncio.gather(
            *(
                self._deliver_channel(notifiers[name], queue, run, report)
                for name, queue in by_channel.items()
            ),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, _Stalled):
                raise result

    # -- a paused outbox -----------------------------------------------------------------
    def _stall_on(self, exc: StoreError) -> None:
        if self.stall is None:
            self.stall = Stall(str(exc), utcnow(), retry_at=time.monotonic() + stall_wait(1))
            log.error(
                "delivery paused: the database does not record what is sent (%s); nothing more is "
                "sent until it takes writes again (%d outcome(s) kept to record first)",
                exc,
                len(self._unrecorded),
            )
        else:
            self.stall.failures += 1
            self.stall.retry_at = time.monotonic() + stall_wait(self.stall.failures)
            log.debug("delivery still paused (%d tries): %s", self.stall.failures, exc)
        self._observe_stall()

    async def _resume(self, run: RunBlocking) -> bool:
        """Whether this round may send: not paused, or the outcomes kept were recorded now."""
        if self.stall is None:
            return True
        if time.monotonic() < self.stall.retry_at:
            return False
        if not await self._commit(run, resuming=True):
            return False
        try:
            await run(self.host.store.delivery_counts)  # the database answers at all
        except StoreError as exc:
            self._stall_on(exc)
            return False
        log.warning(
            "delivery resumed: the database takes writes again (paused since %s UTC)",
            f"{self.stall.since:%Y-%m-%d %H:%M:%S}",
        )
        self.stall = None
        self._observe_stall()
        return True

    def _observe_stall(self) -> None:
        if self.host.metrics is not None:
            self.host.metrics.outbox_stalled.set(self.stall.since.timestamp() if self.stall else 0)

    # -- recording outcomes in groups ----------------------------------------------------
    async def _keep(self, outcome: DeliveryOutcome, run: RunBlocking) -> None:
        """``outcome`` joins the group in hand, recorded by a timer ``record_wait`` after its first
        outcome, while the sends go on.  A full group is recorded at once and awaited: no channel
        runs more than a group ahead of the database."""
        self._unrecorded.append(outcome)
        policy = self.host.settings.delivery
        if record_now(len(self._unrecorded), policy):
            await self._commit(run)
        elif self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(policy.record_wait, self._commit_later, run)

    def _commit_later(self, run: RunBlocking) -> None:
        self._timer = None
        self._start_commit(run)

    def _start_commit(self, run: RunBlocking, *, resuming: bool = False) -> asyncio.Task[bool]:
        task = asyncio.ensure_future(self._write_outcomes(run, resuming))
        self._commits.add(task)
        task.add_done_callback(self._commits.discard)
        return task

    async def _commit(self, run: RunBlocking, *, resuming: bool = False) -> bool:
        """Record every outcome in hand; False when the database refused (delivery is then paused).

        The commit runs in a task of its own, shielded: a round cancelled meanwhile
        (a stop, a job timeout) neither loses the answer nor records the group twice.
        """
        return await asyncio.shield(self._start_commit(run, resuming=resuming))

    async def _write_outcomes(self, run: RunBlocking, resuming: bool) -> bool:
        async with self._recording:
            if self.stall is not None and not resuming:  # _resume tries again when it is time
                return False
            if self._timer is not None:  # this commit takes what the timer was for
                self._timer.cancel()
                self._timer = None
            taken = len(self._unrecorded)  # more may come during the commit: the next one takes them
            if not taken:
                return True
            try:
                await run(self.host.store.record_outcomes, self._unrecorded[:taken])
            except StoreError as exc:
                self._stall_on(exc)
                return False
            del self._unrecorded[:taken]
            return True

    async def _settle(self, run: RunBlocking) -> None:
        """The round's end: what it sent is recorded before the next claim, and before a stop."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._unrecorded and self.stall is None:
            await self._commit(run)
        if self._commits:  # a timer's commit still running: it is part of this round
            await asyncio.gather(*self._commits)

    # -- one channel ---------------------------------------------------------------------
    def _rule_specs(self) -> dict[str, RuleSpec]:
        index = self.host.matcher.index
        if self._specs_of is not index:
            self._specs = {rule.spec.id: rule.spec for rule in index.rules}
            self._specs_of = index
        return self._specs

    def _release_at(self, held: HeldAlert, now: datetime) -> datetime | None:
        """When a held alert goes under the settings in force now (a reload may have changed them)."""
        spec = self._rule_specs().get(held.rule_id)
        return release_at(
            held,
            self.host.settings.channels.get(held.channel),
            throttle=spec.throttle if spec else None,
            urgent=bool(spec and spec.urgent),
            now=now,
        )

    async def _hold(self, alert: Alert, run: RunBlocking) -> Hold | None:
        """Whether flood control keeps ``alert`` back (digest, quiet hours, throttle), and until when."""
        channel = self.host.settings.channels.get(alert.channel)
        if channel is None:
            return None
        spec = self._rule_specs().get(alert.rule_id)
        throttle = spec.throttle if spec else None
        now = utcnow()
        sent = 0
        if throttle is not None and not channel.digest:
            if self._unrecorded and not await self._commit(run):  # the count includes this round's sends
                raise _Stalled
            start, _end = window(throttle[1], now)
            sent = await run(self.host.store.sent_count, alert.rule_id, alert.channel, start)
        return hold_until(
            alert,
            channel,
            throttle=throttle,
            urgent=bool(spec and spec.urgent),
            now=now,
            sent_since=lambda _start: sent,
        )

    async def _deliver_channel(
        self, notifier: Notifier, alerts: Iterable[Alert], run: RunBlocking, report: DeliveryReport
    ) -> None:
        for alert in alerts:
            if self.stall is not None:  # another channel found the database refusing writes
                return
            hold = await self._hold(alert, run)
            if hold is not None:
                log.info(
                    "alert=%s channel=%s rule=%s held until %s (%s)",
                    alert.key,
                    alert.channel,
                    alert.rule_id,
                    hold.until.isoformat(timespec="minutes"),
                    hold.reason,
                )
                report.held += 1
                self._observe(alert.channel, "held")
                await self._keep(held_outcome(alert.key, hold.until, hold.reason), run)
                continue
            outcome = await self._send(notifier, alert)
            now = utcnow()
            decision = after_send(alert, outcome, now, self.host.settings.delivery, random.random())
            self._report(alert, decision, report)
            await self._keep(outcome_of(alert.key, decision, now), run)

    async def _send(self, notifier: Notifier, alert: Alert) -> Outcome:
        settings = self.host.settings.delivery
        try:
            async with asyncio.timeout(settings.send_timeout):
                await notifier.send(alert)
        except PermanentDelivery as exc:
            return Outcome(self.host.redact(str(exc)), permanent=True)
        except ChannelPaused as exc:  # nothing was sent: the channel waits, this is not an attempt
            return Outcome(self.host.redact(str(exc)), retry_after=exc.retry_after, paused=True)
        except RetryableDelivery as exc:
            return Outcome(self.host.redact(str(exc)), retry_after=exc.retry_after)
        except TimeoutError:  # the attempt as a whole, whatever the receiver's drip-feed
            return Outcome(f"channel {alert.channel!r}: no complete answer within {settings.send_timeout:g}s")
        except Exception as exc:  # a channel bug must not lose the alert: retry it later
            log.exception("alert=%s channel=%s unexpected error", alert.key, alert.channel)
            return Outcome(self.host.redact(repr(exc)))
        return SENT

    def _report(self, alert: Alert, decision: Decision, report: DeliveryReport) -> None:
        where = f"alert={alert.key} channel={alert.channel} rule={alert.rule_id}"
        if decision.status == "sent":
            log.info("%s sent", where)
            report.sent += 1
            self._observe(alert.channel, "sent")
        elif decision.status == "defer":
            report.retried += 1  # not an attempt: no delivery outcome to count
        elif decision.status == "dead":
            log.error("%s dead after %d attempt(s): %s", where, alert.attempt, decision.error)
            report.dead += 1
            self._observe(alert.channel, "dead")
        else:
            assert decision.next_at is not None
            log.warning(
                "%s attempt %d failed, retry at %s: %s",
                where,
                alert.attempt,
                decision.next_at.isoformat(timespec="seconds"),
                decision.error,
            )
            report.retried += 1
            self._observe(alert.channel, "failed")

    def _observe(self, channel: str, outcome: str) -> None:
        if self.host.metrics is not None:
            self.host.metrics.delivered(channel, outcome)

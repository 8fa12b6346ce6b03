"""A feed's remembered state after each poll, and the health changes worth an alert.

Pure: the pipeline hands in the previous state, what the poll brought and the
time; this returns the state to store and, at most, one health event.  The
schedule itself (backoff, Retry-After, 410) is :mod:`feedpolicy`'s; this adds
what a desk needs to trust its sources: a feed failing for longer than
``health.failing_after`` or gone quiet for several times its usual gap is
reported once, and once more when it recovers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from monitor.config import FeedSource, HealthSettings
from monitor.errors import FeedFetchError
from monitor.models import FeedState, HealthEvent
from monitor.sources.feedpolicy import FeedHealth, Outcome, next_poll, outcome_of

GAP_SMOOTHING = 0.3  # weight of the newest gap in the feed's usual gap between new entries


@dataclass(frozen=True, slots=True)
class Polled:
    """What one poll came to, as this module needs it."""

    status: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    permanent_url: str | None = None
    new_entries: int = 0
    error: Exception | None = None

    @property
    def outcome(self) -> Outcome:
        if isinstance(self.error, FeedFetchError):
            return outcome_of(self.error)
        if self.error is not None:
            return Outcome.ERROR  # the feed answered, but with nothing we can read
        return Outcome.NOT_MODIFIED if self.status == 304 else Outcome.SUCCESS


def after_poll(
    state: FeedState,
    feed: FeedSource,
    polled: Polled,
    now: datetime,
    health: HealthSettings,
    rng: random.Random | None = None,
) -> tuple[FeedState, HealthEvent | None]:
    """The state to store after ``polled``, and the health event it causes, if any."""
    outcome = polled.outcome
    retry_after = polled.error.retry_after if isinstance(polled.error, FeedFetchError) else None
    decision = next_poll(
        FeedHealth(feed.interval, state.error_streak), outcome, now, retry_after=retry_after, rng=rng
    )
    new = replace(
        state,
        last_fetch_at=now,
        last_status=polled.status if polled.error is None else _status_of(polled.error),
        error_streak=decision.error_streak,
        next_fetch_at=decision.next_fetch_at,
    )
    if polled.error is not None:
        return _failed(new, feed, polled.error, now, health, disabled=decision.disabled)
    if outcome is Outcome.SUCCESS:
        new = replace(new, etag=polled.etag, last_modified=polled.last_modified)
    elif polled.etag or polled.last_modified:  # a 304 may refresh its validators
        new = replace(
            new, etag=polled.etag or new.etag, last_modified=polled.last_modified or new.last_modified
        )
    if polled.permanent_url and polled.permanent_url != new.current_url:
        new = replace(new, fetch_url=None if polled.permanent_url == state.url else polled.permanent_url)
    new = replace(
        new, last_error=None, failing_since=None, entries_seen=new.entries_seen + polled.new_entries
    )
    if polled.new_entries:
        new = _fresh_entries(new, polled.new_entries, now)
    elif new.last_new_at is None:
        new = replace(new, last_new_at=now)  # the quiet spell is measured from the first good poll
    return _health_after_success(state, new, feed, now, health)


def _status_of(error: Exception) -> int | None:
    return error.status if isinstance(error, FeedFetchError) else None


def _failed(
    new: FeedState,
    feed: FeedSource,
    error: Exception,
    now: datetime,
    health: HealthSettings,
    *,
    disabled: bool,
) -> tuple[FeedState, HealthEvent | None]:
    since = new.failing_since or now
    new = replace(new, last_error=str(error), failing_since=since)
    name = feed.source_name
    if disabled:
        reason = f"{error}; polling stopped (fix or remove the feed, then `monitor feeds enable {feed.url}`)"
        event = HealthEvent("disabled", f"feed {name} is gone: {reason}")
        return replace(new, disabled=str(error), health_alerted="failing"), event
    if new.health_alerted != "failing" and now - since >= timedelta(seconds=health.failing_after):
        hours = (now - since).total_seconds() / 3600
        event = HealthEvent(
            "failing", f"feed {name} has failed for {hours:.1f} h ({new.error_streak} polls): {error}"
        )
        return replace(new, health_alerted="failing"), event
    return new, None


def _fresh_entries(new: FeedState, count: int, now: datetime) -> FeedState:
    gap = new.usual_gap
    if new.last_new_at is not None:
        seen = (now - new.last_new_at).total_seconds()
        gap = seen if gap is None else (1 - GAP_SMOOTHING) * gap + GAP_SMOOTHING * seen
    return replace(new, last_new=count, last_new_at=now, usual_gap=gap)


def _health_after_success(
    old: FeedState, new: FeedState, feed: FeedSource, now: datetime, health: HealthSettings
) -> tuple[FeedState, HealthEvent | None]:
    name = feed.source_name
    if old.health_alerted == "failing":
        return replace(new, health_alerted=None), HealthEvent("recovered", f"feed {name} works again")
    if old.health_alerted == "stale" and new.last_new_at == now:
        return replace(new, health_alerted=None), HealthEvent(
            "recovered", f"feed {name} has new entries again"
        )
    quiet = (now - new.last_new_at).total_seconds() if new.last_new_at else 0.0
    limit = max(health.stale_after * (new.usual_gap or 0.0), health.stale_min)
    if new.usual_gap is not None and new.health_alerted is None and quiet > limit:
        usual = new.usual_gap / 3600
        event = HealthEvent(
            "stale", f"feed {name} has had nothing new for {quiet / 3600:.1f} h (usually every {usual:.1f} h)"
        )
        return replace(new, health_alerted="stale"), event
    return new, None

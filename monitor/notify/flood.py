"""Not flooding a channel: which alerts wait, until when, and the summary they become.

Pure: the dispatcher asks :func:`hold_until` before sending each alert.  An
alert is held when its channel sends digests (until the next time on the cron
schedule), when the channel is in its quiet hours and the rule is not urgent
(until they end), or when its rule already sent its ``throttle`` of alerts to
the channel in the current window (until the window ends).  Held alerts are
later folded into one summary alert per channel (:func:`summary_text`), which
is delivered like any other: once, retried, never lost.

When a held alert goes is decided again at every delivery round by
:func:`release_at`, under the settings in force then: a reload that moves
quiet hours, a digest schedule or a throttle moves the alerts already held.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from croniter import croniter

from monitor.config import check_cron
from monitor.models import SUMMARY_RULE, Alert, HeldAlert
from monitor.notify.render import safe_link

__all__ = [
    "SUMMARY_RULE",
    "TOP_ARTICLES",
    "Hold",
    "hold_until",
    "next_digest",
    "quiet_end",
    "release_at",
    "summary_text",
    "window",
]

TOP_ARTICLES = 5


class ChannelPolicy(Protocol):
    """What flood control reads of a channel's configuration."""

    @property
    def digest(self) -> str | None: ...

    @property
    def quiet_hours(self) -> str | None: ...

    @property
    def timezone(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Hold:
    until: datetime
    reason: str  # digest | quiet hours | throttle


def hold_until(
    alert: Alert,
    channel: ChannelPolicy,
    *,
    throttle: tuple[int, float] | None,
    urgent: bool,
    now: datetime,
    sent_since: Callable[[datetime], int],
) -> Hold | None:
    """When ``alert`` should go instead of now, or None to send it now.

    ``sent_since(start)`` counts the alerts of the same rule already sent to
    the channel since ``start`` (asked only when the rule is throttled).
    """
    if alert.rule_id == SUMMARY_RULE:
        return None  # a summary is what held alerts become: it never waits itself
    zone = ZoneInfo(channel.timezone)
    if channel.digest:
        return Hold(next_digest(channel.digest, zone, now), "digest")
    if channel.quiet_hours and not urgent:
        end = quiet_end(channel.quiet_hours, zone, now)
        if end is not None:
            return Hold(end, "quiet hours")
    if throttle is not None:
        limit, period = throttle
        start, end = window(period, now)
        if sent_since(start) >= limit:
            return Hold(end, "throttle")
    return None


def release_at(
    held: HeldAlert,
    channel: ChannelPolicy | None,
    *,
    throttle: tuple[int, float] | None,
    urgent: bool,
    now: datetime,
) -> datetime | None:
    """When ``held`` goes under the channel's and its rule's settings as they are ``now``.

    Due when the result is not after ``now``; None keeps it held (its channel
    is no longer configured: it waits, visible, for the channel to return).
    A digest goes at the schedule's first time after the alert came in, quiet
    hours end when ``now`` is outside the window as it is now set, a throttle
    window is the one the alert came in, under the period set now.  A setting
    removed, or a rule made urgent in quiet hours, lets the alert go now.
    """
    if channel is None:
        return None
    zone = ZoneInfo(channel.timezone)
    if held.reason == "digest":
        return next_digest(channel.digest, zone, held.since) if channel.digest else now
    if held.reason == "quiet hours":
        end = quiet_end(channel.quiet_hours, zone, now) if channel.quiet_hours and not urgent else None
        return end or now
    if held.reason == "throttle":
        return window(throttle[1], held.since)[1] if throttle else now
    return held.until  # a reason of another version: the time forecast when it was held


def next_digest(cron: str, zone: ZoneInfo, now: datetime) -> datetime:
    """The first time after ``now`` that the standard cron schedule ``cron`` fires on ``zone``'s clocks.

    Standard cron, as crontab(5) reads it (APScheduler 3's ``from_crontab``
    counts weekdays from Monday, so ``1-5`` there is Tuesday to Saturday):
    weekday 0 and 7 are Sunday.  Across a change of clocks it does what cron
    does: a time skipped in spring fires when the clocks have jumped (02:30
    becomes 03:00), and a time that happens twice in autumn fires once, unless
    the minute or hour is a wildcard (an hourly digest stays hourly).
    """
    fields = check_cron(cron).split()
    repeats = not (fields[0].startswith("*") or fields[1].startswith("*"))
    after = now.astimezone(UTC)  # compared in UTC: one zone's wall-clock times ignore fold
    schedule = croniter(" ".join(fields), after.astimezone(zone))
    while True:
        candidate: datetime = schedule.get_next(datetime)
        instant = candidate.astimezone(UTC)
        fire = instant.astimezone(zone)  # zoneinfo marks the second of a repeated time (fold=1)
        if instant > after and not (repeats and fire.fold):
            return fire


def quiet_end(spec: str, zone: ZoneInfo, now: datetime) -> datetime | None:
    """The end of the quiet hours ``HH:MM-HH:MM`` now is in, or None outside them (may span midnight)."""
    start_text, _, end_text = spec.replace(" ", "").partition("-")
    start, end = _clock(start_text), _clock(end_text)
    local = now.astimezone(zone)
    today = local.time()
    inside = start <= today < end if start <= end else today >= start or today < end
    if not inside:
        return None
    day = local.date() if today < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone)


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def window(period: float, now: datetime) -> tuple[datetime, datetime]:
    """The fixed throttle window (aligned on the epoch) that ``now`` falls in."""
    seconds = now.timestamp()
    start = seconds - seconds % period
    return (
        datetime.fromtimestamp(start, tz=now.tzinfo),
        datetime.fromtimestamp(start + period, tz=now.tzinfo),
    )


def summary_text(
    alerts: Sequence[Alert], reason: str, also: Mapping[str, Sequence[str]] | None = None
) -> tuple[str, str, tuple[str, ...]]:
    """(title, text, terms) of the one alert that stands for ``alerts``: counts per rule, top articles.

    Articles are listed newest first per rule, at most TOP_ARTICLES each, so a
    thousand held alerts still make a message a person reads.  ``also`` maps an
    alert's key to the other outlets that carried its story (near duplicates,
    which alert no more): the digest names them.
    """
    also = also or {}
    by_rule: dict[str, list[Alert]] = defaultdict(list)
    for alert in alerts:
        by_rule[alert.rule_name].append(alert)
    sources = Counter(alert.source for alert in alerts)
    what = {"digest": "Digest", "quiet hours": "After quiet hours", "throttle": "More alerts"}.get(
        reason, "Summary"
    )
    title = f"{what}: {len(alerts)} alert(s) for {len(by_rule)} rule(s)"
    lines = []
    for rule_name, items in sorted(by_rule.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        lines.append(f"{rule_name}: {len(items)}")
        newest = sorted(items, key=lambda a: a.matched_at, reverse=True)
        for alert in newest[:TOP_ARTICLES]:
            url = safe_link(alert.url)
            link = f" {url}" if url else ""
            others = also.get(alert.key) or ()
            carried = f" — also reported by {', '.join(others)}" if others else ""
            lines.append(f"  • {alert.title} ({alert.source}){carried}{link}")
        if len(items) > TOP_ARTICLES:
            lines.append(f"  … and {len(items) - TOP_ARTICLES} more")
    lines.append("Sources: " + ", ".join(f"{name} ({count})" for name, count in sources.most_common(10)))
    terms = tuple(dict.fromkeys(term for alert in alerts for term in alert.terms))[:20]
    return title, "\n".join(lines), terms

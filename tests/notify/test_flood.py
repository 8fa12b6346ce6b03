"""Flood control, pure: digests wait for their schedule, quiet hours hold all but urgent rules,
a throttled rule waits for its next window, and held alerts become one readable summary."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitor.models import Alert, HeldAlert
from monitor.notify.flood import (
    SUMMARY_RULE,
    TOP_ARTICLES,
    hold_until,
    next_digest,
    quiet_end,
    release_at,
    summary_text,
    window,
)

ROME = ZoneInfo("Europe/Rome")
NOW = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)  # 11:30 in Rome


@dataclass(frozen=True)
class Policy:
    digest: str | None = None
    quiet_hours: str | None = None
    timezone: str = "UTC"


def alert(n: int = 1, rule: str = "nato", source: str = "ANSA") -> Alert:
    return Alert(
        key=f"nm_{n}",
        channel="slack",
        rule_id=rule,
        rule_name=rule.upper(),
        title=f"Articolo {n}",
        url=f"https://example.org/{n}",
        source=source,
        published=None,
        language="it",
        terms=("NATO",),
        snippet="…",
        matched_at=NOW - timedelta(minutes=n),
    )


def never(_start: datetime) -> int:
    raise AssertionError("a rule without a throttle must not count what was sent")


def test_an_ordinary_alert_goes_now() -> None:
    assert hold_until(alert(), Policy(), throttle=None, urgent=False, now=NOW, sent_since=never) is None


def test_a_digest_channel_holds_every_alert_until_its_next_scheduled_time() -> None:
    policy = Policy(digest="0 8 * * *", timezone="Europe/Rome")
    hold = hold_until(alert(), policy, throttle=None, urgent=True, now=NOW, sent_since=never)
    assert hold is not None and hold.reason == "digest"
    assert hold.until == datetime(2026, 11, 26, 8, 0, tzinfo=ROME)


def _rome(*parts: int, fold: int = 0) -> datetime:
    return datetime(*parts, tzinfo=ROME, fold=fold)  # type: ignore[misc]


# (schedule, now in Rome, the next digest in Rome).  2026-03-27 and 2026-10-23 are Fridays;
# Rome's clocks go forward on Sunday 2026-03-29 (02:00 -> 03:00) and back on 2026-10-25 (03:00 -> 02:00).
CRON_TABLE = [
    # weekdays as crontab(5) numbers them: 1-5 is Monday to Friday, 0 and 7 are Sunday
    ("0 8 * * 1-5", _rome(2026, 3, 27, 9, 0), _rome(2026, 3, 30, 8, 0)),  # Friday -> Monday, across DST
    ("0 8 * * 1-5", _rome(2026, 10, 23, 9, 0), _rome(2026, 10, 26, 8, 0)),  # Friday -> Monday, back to CET
    ("0 8 * * 1-5", _rome(2026, 3, 27, 7, 59), _rome(2026, 3, 27, 8, 0)),  # Friday is a weekday
    ("0 8 * * mon-fri", _rome(2026, 3, 28, 12, 0), _rome(2026, 3, 30, 8, 0)),  # Saturday -> Monday
    ("0 8 * * 0", _rome(2026, 3, 27, 9, 0), _rome(2026, 3, 29, 8, 0)),  # 0 is Sunday
    ("0 8 * * 7", _rome(2026, 3, 27, 9, 0), _rome(2026, 3, 29, 8, 0)),  # so is 7
    ("0 8 * * 1", _rome(2026, 3, 29, 9, 0), _rome(2026, 3, 30, 8, 0)),  # 1 is Monday
    ("0 18 * * 5", _rome(2026, 10, 23, 18, 0), _rome(2026, 10, 30, 18, 0)),  # strictly after now
    ("0 8 1 * 1", _rome(2026, 3, 27, 9, 0), _rome(2026, 3, 30, 8, 0)),  # day of month OR weekday, as cron
    ("@daily", _rome(2026, 3, 28, 23, 30), _rome(2026, 3, 29, 0, 0)),
    # a time the spring change skips fires once the clocks have jumped
    ("30 2 * * *", _rome(2026, 3, 29, 1, 30), _rome(2026, 3, 29, 3, 0)),
    ("30 2 * * *", _rome(2026, 3, 29, 3, 0), _rome(2026, 3, 30, 2, 30)),
    # a time the autumn change repeats fires once, at its first occurrence...
    ("30 2 * * *", _rome(2026, 10, 25, 1, 30), _rome(2026, 10, 25, 2, 30)),
    ("30 2 * * *", _rome(2026, 10, 25, 2, 45), _rome(2026, 10, 26, 2, 30)),
    ("30 2 * * *", _rome(2026, 10, 25, 2, 0, fold=1), _rome(2026, 10, 26, 2, 30)),
    # ... unless the hour is a wildcard: an hourly digest goes every hour, the repeated one too
    ("0 * * * *", _rome(2026, 10, 25, 2, 30), _rome(2026, 10, 25, 2, 0, fold=1)),
]


@pytest.mark.parametrize(("cron", "now", "expected"), CRON_TABLE)
def test_next_digest_reads_standard_cron_in_the_channels_time_zone(
    cron: str, now: datetime, expected: datetime
) -> None:
    fire = next_digest(cron, ROME, now.astimezone(UTC))
    assert fire.astimezone(UTC) == expected.astimezone(UTC)
    assert fire.astimezone(UTC) > now.astimezone(UTC)


def test_a_weekday_digest_holds_a_friday_evening_alert_until_monday_morning() -> None:
    policy = Policy(digest="0 8 * * 1-5", timezone="Europe/Rome")
    friday_evening = _rome(2026, 10, 23, 19, 0).astimezone(UTC)
    hold = hold_until(alert(), policy, throttle=None, urgent=False, now=friday_evening, sent_since=never)
    assert hold is not None and hold.until == _rome(2026, 10, 26, 8, 0)
    assert hold.until.astimezone(ROME).strftime("%A %H:%M %Z") == "Monday 08:00 CET"


def test_quiet_hours_over_midnight_hold_until_they_end_in_the_channels_time_zone() -> None:
    policy = Policy(quiet_hours="22:00-07:00", timezone="Europe/Rome")
    late = datetime(2026, 11, 25, 22, 30, tzinfo=UTC)  # 23:30 in Rome
    hold = hold_until(alert(), policy, throttle=None, urgent=False, now=late, sent_since=never)
    assert hold is not None and hold.until == datetime(2026, 11, 26, 7, 0, tzinfo=ROME)
    early = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)  # 05:00 in Rome
    assert quiet_end("22:00-07:00", ROME, early) == datetime(2026, 11, 26, 7, 0, tzinfo=ROME)
    assert quiet_end("22:00-07:00", ROME, NOW) is None
    assert quiet_end("12:00-14:00", ROME, NOW) is None and quiet_end("11:00-14:00", ROME, NOW) is not None


def test_an_urgent_rule_breaks_through_quiet_hours() -> None:
    policy = Policy(quiet_hours="00:00-23:59")
    assert hold_until(alert(), policy, throttle=None, urgent=True, now=NOW, sent_since=never) is None


def test_a_throttled_rule_waits_for_the_next_window_once_its_quota_is_sent() -> None:
    start, end = window(3600, NOW)
    assert (start, end) == (
        datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
        datetime(2026, 11, 25, 11, 0, tzinfo=UTC),
    )
    under = hold_until(alert(), Policy(), throttle=(10, 3600), urgent=False, now=NOW, sent_since=lambda s: 9)
    assert under is None
    over = hold_until(alert(), Policy(), throttle=(10, 3600), urgent=False, now=NOW, sent_since=lambda s: 10)
    assert over is not None and (over.until, over.reason) == (end, "throttle")


def test_a_summary_is_never_held_itself() -> None:
    summary = replace(alert(), rule_id=SUMMARY_RULE)
    policy = Policy(digest="0 8 * * *", quiet_hours="00:00-23:59")
    assert (
        hold_until(summary, policy, throttle=(1, 60), urgent=False, now=NOW, sent_since=lambda s: 5) is None
    )


def test_summary_counts_per_rule_and_lists_the_newest_articles_first() -> None:
    alerts = [alert(n) for n in range(1, TOP_ARTICLES + 4)] + [alert(50, rule="gaza", source="Rai")]
    title, text, terms = summary_text(alerts, "digest")
    assert title == f"Digest: {TOP_ARTICLES + 4} alert(s) for 2 rule(s)"
    lines = text.splitlines()
    assert lines[0] == f"NATO: {TOP_ARTICLES + 3}" and lines[1].startswith("  • Articolo 1 (ANSA)")
    assert "  … and 3 more" in lines and "GAZA: 1" in lines
    assert lines[-1] == f"Sources: ANSA ({TOP_ARTICLES + 3}), Rai (1)"
    assert terms == ("NATO",)


def held(reason: str, since: datetime, until: datetime, rule: str = "nato") -> HeldAlert:
    return HeldAlert(key="nm_1", channel="slack", rule_id=rule, reason=reason, since=since, until=until)


def go(item: HeldAlert, policy: Policy | None, now: datetime, **rule: object) -> datetime | None:
    throttle = rule.get("throttle")
    return release_at(item, policy, throttle=throttle, urgent=bool(rule.get("urgent")), now=now)  # type: ignore[arg-type]


def test_release_of_quiet_hours_follows_the_window_as_it_is_set_now() -> None:
    """Held at 23:00 under 22:00-07:00; the channel is then set to 22:00-06:00, or to 22:00-08:00."""
    item = held("quiet hours", since=_rome(2026, 11, 25, 23, 0), until=_rome(2026, 11, 26, 7, 0))
    shorter = Policy(quiet_hours="22:00-06:00", timezone="Europe/Rome")
    assert go(item, shorter, _rome(2026, 11, 26, 5, 59)) == _rome(2026, 11, 26, 6, 0)  # not yet
    six = _rome(2026, 11, 26, 6, 0)
    assert go(item, shorter, six) == six  # the new end: due, an hour before the old one
    longer = Policy(quiet_hours="22:00-08:00", timezone="Europe/Rome")
    assert go(item, longer, _rome(2026, 11, 26, 7, 30)) == _rome(2026, 11, 26, 8, 0)  # the old end passed
    assert go(item, Policy(timezone="Europe/Rome"), _rome(2026, 11, 26, 1, 0)) == _rome(2026, 11, 26, 1, 0)
    london = Policy(quiet_hours="22:00-07:00", timezone="Europe/London")  # the same hours, an hour later
    assert go(item, london, _rome(2026, 11, 26, 7, 30)) == datetime(
        2026, 11, 26, 7, 0, tzinfo=ZoneInfo("Europe/London")
    )


def test_release_of_quiet_hours_is_now_when_the_rule_became_urgent() -> None:
    item = held("quiet hours", since=_rome(2026, 11, 25, 23, 0), until=_rome(2026, 11, 26, 7, 0))
    policy = Policy(quiet_hours="22:00-07:00", timezone="Europe/Rome")
    now = _rome(2026, 11, 26, 1, 0)
    assert go(item, policy, now, urgent=True) == now


def test_release_of_a_digest_follows_the_schedule_as_it_is_set_now() -> None:
    """Came in Friday 19:00 for a daily 08:00 digest (Saturday); the schedule becomes weekdays only."""
    item = held("digest", since=_rome(2026, 10, 23, 19, 0), until=_rome(2026, 10, 24, 8, 0))
    weekdays = Policy(digest="0 8 * * 1-5", timezone="Europe/Rome")
    assert go(item, weekdays, _rome(2026, 10, 24, 8, 30)) == _rome(2026, 10, 26, 8, 0)
    evenings = Policy(digest="0 20 * * *", timezone="Europe/Rome")
    assert go(item, evenings, _rome(2026, 10, 23, 20, 0)) == _rome(2026, 10, 23, 20, 0)  # earlier than 08:00
    now = _rome(2026, 10, 23, 19, 30)
    assert go(item, Policy(timezone="Europe/Rome"), now) == now  # digest switched off: goes now


def test_release_of_a_throttle_follows_the_period_as_it_is_set_now() -> None:
    since = datetime(2026, 11, 25, 10, 10, tzinfo=UTC)
    item = held("throttle", since=since, until=datetime(2026, 11, 25, 11, 0, tzinfo=UTC))
    quarter = datetime(2026, 11, 25, 10, 15, tzinfo=UTC)
    assert go(item, Policy(), NOW, throttle=(5, 900)) == quarter  # 1/h became 5 per 15 minutes
    assert go(item, Policy(), NOW, throttle=None) == NOW  # throttle removed: goes now


def test_release_keeps_an_alert_whose_channel_is_gone_held() -> None:
    item = held("digest", since=NOW, until=NOW)
    assert go(item, None, NOW + timedelta(days=1)) is None

"""Flood control, pure: digests wait for their schedule, quiet hours hold all but urgent rules,
a throttled rule waits for its next window, and held alerts become one readable summary."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.models import Alert
from monitor.notify.flood import SUMMARY_RULE, TOP_ARTICLES, hold_until, quiet_end, summary_text, window

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

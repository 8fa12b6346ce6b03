"""The Retry-After reader webhooks and feeds share: both forms of RFC 9110, nothing else trusted."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.retryafter import parse_retry_after

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("120", 120.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-5", None),  # not delay-seconds (1*DIGIT): ignored, the normal backoff applies
        ("+7", None),
        ("soon", None),
        ("12 seconds", None),
        ("NaN", None),
        ("inf", None),
        ("0x10", None),
        ("Wed, 01 May 2024 12:02:00 GMT", 120.0),  # IMF-fixdate
        ("Wednesday, 01-May-24 12:02:00 GMT", 120.0),  # obsolete RFC 850
        ("Wed May  1 12:02:00 2024", 120.0),  # obsolete asctime
        ("Wed, 01 May 2024 14:02:00 +0200", 120.0),  # numeric zone, read leniently
        ("Wed, 01 May 2024 11:00:00 GMT", 0.0),  # in the past: now
        ("Wed, 32 May 2024 12:02:00 GMT", None),  # impossible date
        ("Wed, 01 Foo 2024 12:02:00 GMT", None),
    ],
)
def test_parse_retry_after_reads_seconds_and_dates(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_parse_retry_after_accepts_naive_now_as_utc() -> None:
    naive = NOW.replace(tzinfo=None)
    assert parse_retry_after("Wed, 01 May 2024 12:00:30 GMT", naive) == 30.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("120", 120.0),
        (" 30 ", 30.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-5", None),  # not delay-seconds
        ("soon", None),
        ("Wed, 01 May 2024 13:00:00 GMT", 3600.0),  # IMF-fixdate
        ("Wednesday, 01-May-24 13:00:00 GMT", 3600.0),  # obsolete RFC 850
        ("Wed May  1 13:00:00 2024", 3600.0),  # obsolete asctime
        ("Wed, 01 May 2024 11:00:00 GMT", 0.0),  # in the past: now
        ("Wed, 01 May 2024 15:00:00 +0200", 3600.0),
    ],
)
def test_parse_retry_after_reads_both_forms_an_hour_ahead(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


def test_parse_retry_after_naive_now_is_utc() -> None:
    assert parse_retry_after("Wed, 01 May 2024 12:01:00 GMT", NOW.replace(tzinfo=None)) == 60.0

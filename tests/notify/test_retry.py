"""The retry schedule as tables: pure inputs, exact answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from monitor.notify.retry import MAX_RETRY_AFTER, next_attempt

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempt", "retry_after", "jitter", "expected"),
    [
        (1, None, 0.0, 30),  # first retry waits `initial`
        (2, None, 0.0, 60),
        (3, None, 0.0, 120),
        (7, None, 0.0, 1920),
        (8, None, 0.0, 3600),  # 3840 capped at maximum
        (12, None, 0.0, 3600),
        (10_000, None, 0.0, 3600),  # no overflow on absurd attempt numbers
        (1, None, 1.0, 15),  # full jitter trims half
        (3, None, 0.5, 90),
        (8, None, 1.0, 1800),  # jitter applies to the capped delay
        (1, 120.0, 0.0, 120),  # receiver asks for longer: it wins
        (3, 10.0, 0.0, 120),  # receiver asks for less: backoff wins
        (1, 120.0, 1.0, 120),  # jitter never shortens Retry-After
        (1, 7200.0, 0.0, 7200),  # Retry-After may exceed `maximum`
        (1, 10 * 86400.0, 0.0, MAX_RETRY_AFTER),  # but not a day
        (1, -5.0, 0.0, 30),  # a negative wish is ignored
        (1, 0.0, 0.0, 30),
    ],
)
def test_next_attempt_follows_backoff_table(
    attempt: int, retry_after: float | None, jitter: float, expected: float
) -> None:
    when = next_attempt(attempt, NOW, initial=30, maximum=3600, retry_after=retry_after, jitter=jitter)
    assert when - NOW == timedelta(seconds=expected)


def test_next_attempt_keeps_the_time_zone_of_now() -> None:
    rome = timezone(timedelta(hours=2))
    now = datetime(2024, 5, 1, 14, 0, tzinfo=rome)
    assert next_attempt(1, now, initial=30, maximum=60).tzinfo is rome


def test_next_attempt_zero_initial_retries_at_once() -> None:
    assert next_attempt(5, NOW, initial=0, maximum=3600) == NOW


@pytest.mark.parametrize(
    "kwargs",
    [
        {"attempt": 0},
        {"attempt": -1},
        {"jitter": -0.1},
        {"jitter": 1.5},
        {"initial": -1.0},
        {"maximum": -1.0},
    ],
)
def test_next_attempt_rejects_nonsense(kwargs: dict[str, float]) -> None:
    args: dict[str, float] = {"attempt": 1, "initial": 30.0, "maximum": 60.0, "jitter": 0.0}
    args.update(kwargs)
    attempt = int(args.pop("attempt"))
    with pytest.raises(ValueError):
        next_attempt(attempt, NOW, **args)

"""The feed schedule is pure: tables of (state, outcome, now) → next poll."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from monitor.errors import FeedFetchError
from monitor.sources.feedpolicy import (
    MAX_BACKOFF,
    MAX_RETRY_AFTER,
    MIN_RETRY_AFTER,
    FeedHealth,
    Outcome,
    PollDecision,
    backoff_delay,
    clamp_retry_after,
    jittered,
    next_poll,
    outcome_of,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TEN_MINUTES = 600.0
HOUR = 3600.0


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


@pytest.mark.parametrize("outcome", [Outcome.SUCCESS, Outcome.NOT_MODIFIED])
def test_next_poll_success_waits_one_interval_and_clears_the_streak(outcome: Outcome) -> None:
    decision = next_poll(FeedHealth(TEN_MINUTES, error_streak=4), outcome, NOW)
    assert decision == PollDecision(at(TEN_MINUTES), 0, False, outcome.value)


@pytest.mark.parametrize(
    ("interval", "streak_before", "delay"),
    [
        (TEN_MINUTES, 0, TEN_MINUTES),  # one error: the normal interval, a blip costs nothing
        (TEN_MINUTES, 1, 2 * TEN_MINUTES),
        (TEN_MINUTES, 2, 4 * TEN_MINUTES),
        (TEN_MINUTES, 4, 16 * TEN_MINUTES),
        (TEN_MINUTES, 5, 24 * TEN_MINUTES),  # capped at 24 intervals (4 h), under the 6 h cap
        (TEN_MINUTES, 500, 24 * TEN_MINUTES),  # a huge streak does not overflow
        (HOUR, 3, 6 * HOUR),  # capped at 6 h, under 24 intervals
        (HOUR, 10, MAX_BACKOFF),
        (12 * HOUR, 3, 12 * HOUR),  # the cap never undercuts the interval itself
        (60.0, 20, 24 * 60.0),
    ],
)
def test_next_poll_error_backs_off_exponentially_to_a_cap(
    interval: float, streak_before: int, delay: float
) -> None:
    decision = next_poll(FeedHealth(interval, error_streak=streak_before), Outcome.ERROR, NOW)
    assert decision.next_fetch_at == at(delay)
    assert decision.error_streak == streak_before + 1
    assert not decision.disabled
    assert decision.reason == f"error {streak_before + 1} in a row"


@pytest.mark.parametrize(
    ("streak_before", "retry_after", "delay"),
    [
        (0, 3600.0, 3600.0),  # the server asks for longer than our backoff: honoured
        (0, 60.0, TEN_MINUTES),  # shorter than our backoff: our backoff stands
        (3, 1800.0, 8 * TEN_MINUTES),
        (0, 10 * MAX_RETRY_AFTER, MAX_RETRY_AFTER),  # never parked for more than a day
        (0, -5.0, TEN_MINUTES),
    ],
)
def test_next_poll_honours_retry_after_as_a_minimum(
    streak_before: int, retry_after: float, delay: float
) -> None:
    health = FeedHealth(TEN_MINUTES, error_streak=streak_before)
    decision = next_poll(health, Outcome.ERROR, NOW, retry_after=retry_after)
    assert decision.next_fetch_at == at(delay)
    assert decision.error_streak == streak_before + 1


def test_next_poll_reason_names_the_servers_wish() -> None:
    decision = next_poll(FeedHealth(TEN_MINUTES), Outcome.ERROR, NOW, retry_after=7200.0)
    assert decision.reason == "error 1 in a row; the server asked for 7200s"


def test_next_poll_jitter_never_comes_before_retry_after() -> None:
    rng = random.Random(7)
    for _ in range(200):
        decision = next_poll(FeedHealth(TEN_MINUTES), Outcome.ERROR, NOW, retry_after=TEN_MINUTES, rng=rng)
        assert decision.next_fetch_at is not None
        assert decision.next_fetch_at >= at(TEN_MINUTES)


def test_next_poll_gone_disables_the_feed() -> None:
    decision = next_poll(FeedHealth(TEN_MINUTES, error_streak=2), Outcome.GONE, NOW)
    assert decision.disabled
    assert decision.next_fetch_at is None
    assert decision.error_streak == 3
    assert "410" in decision.reason


def test_next_poll_with_rng_spreads_feeds_of_one_interval() -> None:
    rng = random.Random(42)
    health = FeedHealth(TEN_MINUTES)
    times = {next_poll(health, Outcome.SUCCESS, NOW, rng=rng, jitter=0.2).next_fetch_at for _ in range(100)}
    assert len(times) == 100
    assert all(t is not None and at(0.8 * TEN_MINUTES) <= t <= at(1.2 * TEN_MINUTES) for t in times)


def test_next_poll_with_the_same_seed_is_the_same_schedule() -> None:
    health = FeedHealth(TEN_MINUTES)
    first = next_poll(health, Outcome.SUCCESS, NOW, rng=random.Random(3))
    second = next_poll(health, Outcome.SUCCESS, NOW, rng=random.Random(3))
    assert first == second


def test_jittered_stays_within_the_fraction_and_keeps_the_mean() -> None:
    rng = random.Random(1)
    values = [jittered(100.0, 0.1, rng) for _ in range(2000)]
    assert min(values) >= 90.0 and max(values) <= 110.0
    assert 99.0 < sum(values) / len(values) < 101.0


def test_jittered_zero_fraction_is_the_interval() -> None:
    assert jittered(100.0, 0.0, random.Random(1)) == 100.0


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 2.0])
def test_jittered_rejects_fractions_outside_0_to_1(fraction: float) -> None:
    with pytest.raises(ValueError, match="jitter is a fraction"):
        jittered(100.0, fraction, random.Random(1))


@pytest.mark.parametrize(("interval", "streak"), [(0.0, 0), (-1.0, 0), (60.0, -1)])
def test_feed_health_rejects_impossible_state(interval: float, streak: int) -> None:
    with pytest.raises(ValueError):
        FeedHealth(interval, error_streak=streak)


def test_backoff_delay_counts_streaks_from_one() -> None:
    assert backoff_delay(60.0, 1) == 60.0
    with pytest.raises(ValueError, match="counts from 1"):
        backoff_delay(60.0, 0)


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (FeedFetchError("x: HTTP 410 Gone", status=410, gone=True), Outcome.GONE),
        (FeedFetchError("x: HTTP 429", status=429, retry_after=120.0), Outcome.ERROR),
        (FeedFetchError("x: timed out"), Outcome.ERROR),
    ],
)
def test_outcome_of_a_fetch_error(error: FeedFetchError, outcome: Outcome) -> None:
    assert outcome_of(error) is outcome


@pytest.mark.parametrize(
    ("seconds", "clamped"),
    [
        (None, None),
        (0.0, MIN_RETRY_AFTER),
        (59.0, MIN_RETRY_AFTER),
        (120.0, 120.0),
        (MAX_RETRY_AFTER, MAX_RETRY_AFTER),
        (10.0**9, MAX_RETRY_AFTER),
    ],
)
def test_clamp_retry_after_keeps_a_sane_range(seconds: float | None, clamped: float | None) -> None:
    assert clamp_retry_after(seconds) == clamped

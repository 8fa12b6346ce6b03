"""A feed's state after each poll is pure: (state, what the poll brought, now) → (state, health event)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from monitor.config import FeedSource, HealthSettings
from monitor.errors import ArticleParseError, FeedFetchError
from monitor.models import FeedState, HealthEvent
from monitor.sources.feedpolicy import MAX_RETRY_AFTER
from monitor.sources.feedstate import Polled, after_poll

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
URL = "https://news.example/feed.xml"
MOVED = "https://feeds.example/news.xml"
INTERVAL = 600.0
HOUR = 3600.0
DAY = 86400.0
FEED = FeedSource(url=URL, name="Esteri", interval=INTERVAL)
HEALTH = HealthSettings()
OK = Polled(status=200, etag='"v2"', last_modified="Wed, 01 May 2024 11:00:00 GMT")
NOT_MODIFIED = Polled(status=304)
SERVER_ERROR = Polled(error=FeedFetchError(f"{URL}: HTTP 500 Internal Server Error", status=500))
GONE = Polled(error=FeedFetchError(f"{URL}: HTTP 410 Gone", status=410, gone=True))


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def poll(
    state: FeedState,
    polled: Polled,
    now: datetime = NOW,
    health: HealthSettings = HEALTH,
    feed: FeedSource = FEED,
) -> tuple[FeedState, HealthEvent | None]:
    return after_poll(state, feed, polled, now, health)


def fresh(count: int) -> Polled:
    return Polled(status=200, new_entries=count)


def healthy(**changes: object) -> FeedState:
    return FeedState(URL, etag='"v1"', last_modified="Tue, 30 Apr 2024 08:00:00 GMT", **changes)  # type: ignore[arg-type]


# -- success and 304 -------------------------------------------------------------------------
def test_after_poll_success_resets_the_streak_and_stores_the_new_validators() -> None:
    failing = healthy(error_streak=3, last_error="HTTP 500", failing_since=at(-HOUR), next_fetch_at=at(60))
    state, event = poll(failing, OK)
    assert (state.etag, state.last_modified) == ('"v2"', "Wed, 01 May 2024 11:00:00 GMT")
    assert (state.error_streak, state.last_error, state.failing_since) == (0, None, None)
    assert (state.last_status, state.last_fetch_at) == (200, NOW)
    assert state.next_fetch_at == at(INTERVAL)  # no rng: exactly one interval
    assert event is None  # never alerted as failing: nothing to recover from


def test_after_poll_success_without_validators_forgets_the_old_ones() -> None:
    state, _ = poll(healthy(), Polled(status=200))
    assert (state.etag, state.last_modified) == (None, None)


def test_after_poll_not_modified_keeps_the_old_validators() -> None:
    before = healthy()
    state, event = poll(before, NOT_MODIFIED)
    assert (state.etag, state.last_modified) == (before.etag, before.last_modified)
    assert (state.last_status, state.error_streak, event) == (304, 0, None)


def test_after_poll_not_modified_takes_validators_the_server_repeats() -> None:
    state, _ = poll(healthy(), Polled(status=304, etag='"v1b"'))
    assert state.etag == '"v1b"'
    assert state.last_modified == healthy().last_modified


def test_after_poll_entries_seen_accumulates_over_polls() -> None:
    state = FeedState(URL)
    for now, polled in [(NOW, fresh(5)), (at(HOUR), NOT_MODIFIED), (at(2 * HOUR), fresh(2))]:
        state, _ = poll(state, polled, now)
    assert state.entries_seen == 7
    assert state.last_new == 2


def test_after_poll_rng_spreads_the_next_poll_within_ten_percent() -> None:
    rng = random.Random(7)
    times = {after_poll(FeedState(URL), FEED, OK, NOW, HEALTH, rng)[0].next_fetch_at for _ in range(20)}
    assert len(times) > 1
    assert all(at(0.9 * INTERVAL) <= t <= at(1.1 * INTERVAL) for t in times if t is not None)


# -- errors and backoff ----------------------------------------------------------------------
def test_after_poll_error_backs_off_and_keeps_the_validators() -> None:
    state, event = poll(healthy(), SERVER_ERROR)
    assert (state.error_streak, state.last_status) == (1, 500)
    assert state.last_error is not None and "HTTP 500" in state.last_error
    assert state.failing_since == NOW
    assert (state.etag, state.next_fetch_at) == ('"v1"', at(INTERVAL))
    assert event is None  # 6 h before anyone hears about it
    state, _ = poll(state, SERVER_ERROR, at(INTERVAL))
    assert state.error_streak == 2
    assert state.next_fetch_at == at(INTERVAL + 2 * INTERVAL)  # doubled
    assert state.failing_since == NOW  # the streak's start, not the last failure


def test_due_is_false_while_backing_off_until_half_an_interval_before_next_fetch() -> None:
    state, _ = poll(FeedState(URL), SERVER_ERROR)
    state, _ = poll(state, SERVER_ERROR, at(INTERVAL))  # next poll at 3 intervals
    assert state.next_fetch_at == at(3 * INTERVAL)
    assert not state.due(at(INTERVAL), INTERVAL)
    assert not state.due(at(2.5 * INTERVAL - 1), INTERVAL)
    assert state.due(at(2.5 * INTERVAL), INTERVAL)
    assert state.due(at(10 * INTERVAL), INTERVAL)


@pytest.mark.parametrize("offset", [-DAY, 0.0, 1.0, INTERVAL / 2, DAY])
def test_due_is_always_true_for_a_healthy_feed(offset: float) -> None:
    state, _ = poll(FeedState(URL), OK)  # next_fetch_at one interval ahead
    assert state.due(at(offset), INTERVAL)
    assert FeedState(URL).due(at(offset), INTERVAL)  # never polled


def test_due_is_true_for_a_failing_feed_with_no_next_fetch_time() -> None:
    assert FeedState(URL, error_streak=3).due(NOW, INTERVAL)  # a row from before the schedule existed


def test_after_poll_retry_after_from_a_429_pushes_the_next_poll_back() -> None:
    throttled = Polled(error=FeedFetchError("HTTP 429", status=429, retry_after=HOUR))
    state, event = poll(FeedState(URL), throttled)
    assert (state.error_streak, state.last_status, event) == (1, 429, None)
    assert state.next_fetch_at == at(HOUR)  # longer than the 10 min backoff


def test_due_never_polls_before_the_time_a_429_asked_for() -> None:
    """feedpolicy: "A server that says when to come back (Retry-After) is never asked sooner"."""
    throttled = Polled(error=FeedFetchError("HTTP 429", status=429, retry_after=HOUR))
    state, _ = poll(FeedState(URL), throttled)
    assert not state.due(at(HOUR - INTERVAL / 2), INTERVAL)  # the server said one hour, not 55 minutes
    assert not state.due(at(HOUR - 1), INTERVAL)
    assert state.due(at(HOUR), INTERVAL)


def test_after_poll_retry_after_shorter_than_the_backoff_keeps_the_backoff() -> None:
    state, _ = poll(FeedState(URL, error_streak=3), Polled(error=FeedFetchError("503", retry_after=60.0)))
    assert state.next_fetch_at == at(8 * INTERVAL)


def test_after_poll_retry_after_is_capped_at_a_day() -> None:
    far = Polled(error=FeedFetchError("HTTP 429", status=429, retry_after=30 * DAY))
    state, _ = poll(FeedState(URL), far)
    assert state.next_fetch_at == at(MAX_RETRY_AFTER)


def test_after_poll_parse_error_counts_as_an_error() -> None:
    broken = Polled(status=200, etag='"v9"', error=ArticleParseError(f"{URL}: not a feed"))
    state, event = poll(healthy(), broken)
    assert state.error_streak == 1
    assert state.last_error == f"{URL}: not a feed"
    assert state.etag == '"v1"'  # a body we could not read is fetched in full next time
    assert state.failing_since == NOW
    assert state.entries_seen == 0
    assert not state.due(at(1), INTERVAL)
    assert event is None


def test_after_poll_a_connection_error_has_no_status() -> None:
    state, _ = poll(FeedState(URL), Polled(error=FeedFetchError(f"{URL}: ConnectError")))
    assert (state.last_status, state.error_streak) == (None, 1)


# -- 410 Gone --------------------------------------------------------------------------------
def test_after_poll_gone_disables_the_feed_with_a_disabled_event() -> None:
    state, event = poll(healthy(), GONE)
    assert state.disabled is not None and "410" in state.disabled
    assert state.next_fetch_at is None
    assert event is not None and event.kind == "disabled"
    assert "Esteri" in event.message and "410" in event.message
    assert f"monitor feeds enable {URL}" in event.message  # tells a person how to undo it


@pytest.mark.parametrize("later", [0.0, INTERVAL, DAY, 365 * DAY])
def test_due_is_false_forever_once_disabled(later: float) -> None:
    state, _ = poll(healthy(), GONE)
    assert not state.due(at(later), INTERVAL)


def test_after_poll_gone_after_a_failing_alert_does_not_alert_failing_again() -> None:
    quick = HealthSettings(failing_after=0)
    state, first = poll(FeedState(URL), SERVER_ERROR, health=quick)
    state, second = poll(state, GONE, at(INTERVAL), health=quick)
    assert first is not None and first.kind == "failing"
    assert second is not None and second.kind == "disabled"


# -- failing and recovered -------------------------------------------------------------------
def test_after_poll_failing_longer_than_failing_after_alerts_once_then_recovers_once() -> None:
    health = HealthSettings(failing_after=HOUR)
    state, event = poll(FeedState(URL), SERVER_ERROR, NOW, health)
    events = [event]
    for minutes in (10, 30, 59):  # still under an hour
        state, event = poll(state, SERVER_ERROR, at(minutes * 60), health)
        events.append(event)
    assert events == [None] * 4
    state, event = poll(state, SERVER_ERROR, at(HOUR), health)
    assert event is not None and event.kind == "failing"
    assert "Esteri" in event.message and "1.0 h" in event.message and "(5 polls)" in event.message
    assert state.health_alerted == "failing"
    for hours in (2, 5, 30):
        state, event = poll(state, SERVER_ERROR, at(hours * HOUR), health)
        assert event is None  # not repeated while it keeps failing
    state, event = poll(state, NOT_MODIFIED, at(31 * HOUR), health)
    assert event == HealthEvent("recovered", "feed Esteri works again")
    assert (state.health_alerted, state.failing_since, state.error_streak) == (None, None, 0)
    state, event = poll(state, OK, at(32 * HOUR), health)
    assert event is None  # recovered once


def test_after_poll_failing_after_zero_alerts_on_the_first_failure() -> None:
    _, event = poll(FeedState(URL), SERVER_ERROR, health=HealthSettings(failing_after=0))
    assert event is not None and event.kind == "failing"


def test_after_poll_a_blip_shorter_than_failing_after_alerts_nothing() -> None:
    state, first = poll(FeedState(URL), SERVER_ERROR)
    state, second = poll(state, OK, at(INTERVAL))
    state, third = poll(state, SERVER_ERROR, at(7 * HOUR))  # a new streak starts its own clock
    assert (first, second, third) == (None, None, None)
    assert state.failing_since == at(7 * HOUR)


def test_after_poll_a_new_streak_after_recovery_can_alert_again() -> None:
    quick = HealthSettings(failing_after=0)
    kinds = []
    state = FeedState(URL)
    for n, polled in enumerate([SERVER_ERROR, OK, SERVER_ERROR, OK]):
        state, event = poll(state, polled, at(n * INTERVAL), quick)
        kinds.append(event.kind if event else None)
    assert kinds == ["failing", "recovered", "failing", "recovered"]


# -- permanent redirects ---------------------------------------------------------------------
def test_after_poll_permanent_move_is_recorded_and_followed() -> None:
    state, _ = poll(FeedState(URL), Polled(status=200, permanent_url=MOVED))
    assert state.fetch_url == MOVED
    assert state.current_url == MOVED
    assert state.url == URL  # still known by its configured URL


def test_after_poll_keeps_the_moved_url_when_it_answers_directly() -> None:
    state, _ = poll(FeedState(URL, fetch_url=MOVED), NOT_MODIFIED)
    assert state.current_url == MOVED


def test_after_poll_permanent_move_back_to_the_configured_url_clears_fetch_url() -> None:
    state, _ = poll(FeedState(URL, fetch_url=MOVED), Polled(status=200, permanent_url=URL))
    assert state.fetch_url is None
    assert state.current_url == URL


def test_after_poll_permanent_move_onward_replaces_the_moved_url() -> None:
    elsewhere = "https://cdn.example/news.xml"
    state, _ = poll(FeedState(URL, fetch_url=MOVED), Polled(status=200, permanent_url=elsewhere))
    assert state.current_url == elsewhere


def test_after_poll_an_error_keeps_the_moved_url() -> None:
    state, _ = poll(FeedState(URL, fetch_url=MOVED), SERVER_ERROR)
    assert state.current_url == MOVED


def test_current_url_is_the_configured_url_until_a_move() -> None:
    assert FeedState(URL).current_url == URL


# -- usual gap and stale ---------------------------------------------------------------------
def test_after_poll_learns_the_usual_gap_from_new_entries() -> None:
    state, _ = poll(FeedState(URL), fresh(10))
    assert (state.usual_gap, state.last_new_at, state.last_new) == (None, NOW, 10)  # one sighting: no gap yet
    state, _ = poll(state, NOT_MODIFIED, at(HOUR))
    assert state.usual_gap is None and state.last_new_at == NOW  # nothing new: nothing learned
    state, _ = poll(state, fresh(1), at(2 * HOUR))
    assert state.usual_gap == pytest.approx(2 * HOUR)
    state, _ = poll(state, fresh(3), at(3 * HOUR))
    assert state.usual_gap == pytest.approx(0.7 * 2 * HOUR + 0.3 * HOUR)  # smoothed, newest weighs 0.3
    assert (state.last_new, state.last_new_at) == (3, at(3 * HOUR))


def test_after_poll_quiet_spell_counts_from_the_first_good_poll() -> None:
    state, _ = poll(FeedState(URL), NOT_MODIFIED)
    assert state.last_new_at == NOW
    state, _ = poll(state, NOT_MODIFIED, at(HOUR))
    assert state.last_new_at == NOW


def quiet_since(gap: float, last_new: float) -> FeedState:
    """A feed that usually has news every ``gap`` seconds and last had some ``last_new`` seconds ago."""
    return FeedState(URL, usual_gap=gap, last_new_at=at(-last_new), last_new=1, entries_seen=50)


@pytest.mark.parametrize(
    ("gap", "quiet", "stale"),
    [
        (HOUR, DAY - 60, False),  # 23 h > 5 × 1 h, but nobody is stale within a day
        (HOUR, DAY + 60, True),
        (DAY, 4 * DAY, False),  # under 5 × the usual day
        (DAY, 5 * DAY + 60, True),
        (10 * 60.0, 2 * DAY, True),
    ],
)
def test_after_poll_stale_limit_is_the_larger_of_stale_after_gaps_and_stale_min(
    gap: float, quiet: float, stale: bool
) -> None:
    _, event = poll(quiet_since(gap, quiet), NOT_MODIFIED)
    assert (event is not None and event.kind == "stale") is stale


def test_after_poll_stale_alerts_once_then_recovers_when_entries_arrive() -> None:
    state, event = poll(quiet_since(HOUR, 2 * DAY), NOT_MODIFIED)
    assert event is not None and event.kind == "stale"
    assert "Esteri" in event.message and "48.0 h" in event.message and "1.0 h" in event.message
    assert state.health_alerted == "stale"
    state, again = poll(state, NOT_MODIFIED, at(HOUR))
    state, still = poll(state, Polled(status=200), at(2 * HOUR))  # content, but nothing new
    assert (again, still) == (None, None)
    state, event = poll(state, fresh(2), at(3 * HOUR))
    assert event == HealthEvent("recovered", "feed Esteri has new entries again")
    assert state.health_alerted is None


def test_after_poll_a_feed_without_a_learned_gap_is_never_stale() -> None:
    _, event = poll(FeedState(URL, last_new_at=at(-30 * DAY)), NOT_MODIFIED)
    assert event is None


def test_after_poll_stale_honours_configured_stale_after_and_stale_min() -> None:
    strict = HealthSettings(stale_after=2, stale_min=HOUR)
    _, event = poll(quiet_since(HOUR, 2 * HOUR + 60), NOT_MODIFIED, health=strict)
    assert event is not None and event.kind == "stale"


def test_after_poll_a_failing_feed_is_not_also_called_stale() -> None:
    state, event = poll(quiet_since(HOUR, 2 * DAY), SERVER_ERROR)
    assert event is None and state.health_alerted is None


def test_after_poll_a_failing_alert_recovers_before_stale_is_judged() -> None:
    quick = HealthSettings(failing_after=0)
    state, event = poll(quiet_since(HOUR, 2 * DAY), SERVER_ERROR, health=quick)
    assert event is not None and event.kind == "failing"
    state, event = poll(state, NOT_MODIFIED, at(INTERVAL), quick)
    assert event is not None and event.kind == "recovered"
    _, event = poll(state, NOT_MODIFIED, at(2 * INTERVAL), quick)
    assert event is not None and event.kind == "stale"  # still quiet: now that is worth saying


# -- Polled ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("polled", "outcome"),
    [
        (OK, "success"),
        (NOT_MODIFIED, "not modified"),
        (SERVER_ERROR, "error"),
        (GONE, "gone"),
        (Polled(status=200, error=ArticleParseError("x")), "error"),
    ],
)
def test_polled_outcome(polled: Polled, outcome: str) -> None:
    assert polled.outcome.value == outcome

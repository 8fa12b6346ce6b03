"""SlackNotifier against a real local receiver that enforces Slack's webhook rules and rate limit."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from monitor.config import SlackChannel
from monitor.errors import DeliveryError, PermanentDelivery, RetryableDelivery
from monitor.models import Alert
from monitor.notify.pacing import Pacer
from monitor.notify.render import render_slack
from monitor.notify.slack import SLACK_MIN_INTERVAL, SlackNotifier
from tests.notify.receivers import SECRET_PATH, SlackReceiver, refused_url

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
# Arrival times are measured by the receiver, in another thread: allow for scheduling noise.
JITTER = 0.1


def _notifier(
    url: str, client: httpx.AsyncClient, timeout: float = 5.0, *, pacer: Pacer | None = None
) -> SlackNotifier:
    channel = SlackChannel(type="slack", url=SecretStr(url), timeout=timeout)
    return SlackNotifier("slack-esteri", channel, client, clock=lambda: NOW, pacer=pacer)


def _unpaced(url: str, client: httpx.AsyncClient) -> SlackNotifier:
    """A notifier that does not pace itself: only Slack's holds (Retry-After) slow it."""
    return _notifier(url, client, pacer=Pacer(0.0))


def _gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def _assert_secret_hidden(exc: DeliveryError, url: str) -> None:
    text = f"{exc} {exc!r}"
    assert url not in text
    assert "SECRET" not in text
    assert "slack-esteri" in str(exc)
    # the httpx error (whose request holds the URL) is not chained into tracebacks
    assert exc.__cause__ is None
    assert exc.__context__ is None or exc.__suppress_context__


async def test_slack_notifier_delivers_a_valid_message(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    alert = alert_factory()
    with SlackReceiver() as slack:
        await _notifier(slack.url, client).send(alert)
    assert slack.rejections == []
    assert slack.messages == [render_slack(alert)]
    assert slack.requests[0].path == SECRET_PATH


async def test_slack_notifier_hostile_article_is_accepted_and_pings_nobody(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    alert = alert_factory(
        title="<!channel> " + "T" * 5000,
        snippet="<!here> & " * 2000,
        rule_name="R" * 300,
        terms=tuple(f"t{i}" for i in range(1000)),
    )
    with SlackReceiver() as slack:
        await _notifier(slack.url, client).send(alert)
    assert slack.rejections == []
    assert "<!channel>" not in str(slack.messages) and "<!here>" not in str(slack.messages)


async def test_slack_notifier_server_error_is_retryable(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    with SlackReceiver() as slack:
        slack.fail(times=1, status=500, body="rollup_error")
        notifier = _notifier(slack.url, client)
        with pytest.raises(RetryableDelivery) as caught:
            await notifier.send(alert_factory())
        await notifier.send(alert_factory())  # the next attempt gets through
    assert caught.value.retry_after is None
    assert "HTTP 500: rollup_error" in str(caught.value)
    assert len(slack.messages) == 1
    _assert_secret_hidden(caught.value, slack.url)


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), ("Wed, 01 May 2024 12:01:00 GMT", 60.0), ("whenever", None)],
)
async def test_slack_notifier_rate_limit_carries_retry_after(
    client: httpx.AsyncClient,
    alert_factory: Callable[..., Alert],
    header: str,
    expected: float | None,
) -> None:
    with SlackReceiver() as slack:
        slack.rate_limit(times=1, retry_after=header)
        with pytest.raises(RetryableDelivery) as caught:
            await _notifier(slack.url, client).send(alert_factory())
    assert caught.value.retry_after == expected
    assert "HTTP 429" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "invalid_payload"),
        (403, "action_prohibited"),
        (404, "channel_not_found"),
        (410, "channel_is_archived"),
    ],
)
async def test_slack_notifier_documented_refusals_are_permanent(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert], status: int, code: str
) -> None:
    with SlackReceiver() as slack:
        slack.fail(times=1, status=status, body=code)
        with pytest.raises(PermanentDelivery) as caught:
            await _notifier(slack.url, client).send(alert_factory())
    assert str(caught.value) == f"channel 'slack-esteri': HTTP {status}: {code}"
    _assert_secret_hidden(caught.value, slack.url)


async def test_slack_notifier_receiver_down_is_retryable(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    with refused_url() as url, pytest.raises(RetryableDelivery) as caught:
        await _notifier(url, client).send(alert_factory())
    assert "ConnectError" in str(caught.value)
    _assert_secret_hidden(caught.value, url)


async def test_slack_notifier_timeout_is_retryable(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    with SlackReceiver(delay=5.0) as slack:
        with pytest.raises(RetryableDelivery) as caught:
            await _notifier(slack.url, client, timeout=0.2).send(alert_factory())
        url = slack.url
    assert "Timeout" in str(caught.value)
    _assert_secret_hidden(caught.value, url)


def test_slack_notifier_repr_hides_the_url() -> None:
    channel = SlackChannel(type="slack", url=SecretStr("https://hooks.slack.com" + SECRET_PATH))
    notifier = SlackNotifier("slack-esteri", channel, client=None)  # type: ignore[arg-type]
    assert "SECRET" not in repr(notifier)


# -- 200 that is not "ok" ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("no_text", "HTTP 200: no_text"),
        ('{"ok": false, "error": "invalid_blocks"}', "HTTP 200: invalid_blocks"),
        ("<html><body>Sign in to continue</body></html>", "HTTP 200 without Slack's 'ok': <html>"),
        ("", "HTTP 200 without Slack's 'ok': (empty body)"),
        ("okay", "HTTP 200: okay"),
        (f"proxy error for {SECRET_PATH}", "HTTP 200 without Slack's 'ok': proxy error for <channel url>"),
    ],
)
async def test_slack_notifier_200_without_ok_is_a_permanent_failure(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert], body: str, expected: str
) -> None:
    with SlackReceiver() as slack:
        slack.fail(times=1, status=200, body=body)
        with pytest.raises(PermanentDelivery) as caught:
            await _notifier(slack.url, client).send(alert_factory())
    assert str(caught.value).startswith(f"channel 'slack-esteri': {expected}")
    _assert_secret_hidden(caught.value, slack.url)


@pytest.mark.parametrize("body", ["ok", "ok\n", '{"ok": true}', '{"ok": true, "ts": "1714564800.000100"}'])
async def test_slack_notifier_ok_answers_are_success(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert], body: str
) -> None:
    with SlackReceiver() as slack:
        slack.fail(times=1, status=200, body=body)
        await _notifier(slack.url, client).send(alert_factory())


# -- rate limit ---------------------------------------------------------------------------------------


async def test_slack_notifier_five_alerts_in_a_row_are_paced_and_all_accepted(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    with SlackReceiver() as slack:
        notifier = _notifier(slack.url, client)
        for i in range(5):
            await notifier.send(alert_factory(key=f"nm_{i}", title=f"Tregua {i}"))
    assert slack.throttled == []
    assert [m["text"] for m in slack.messages] == [f"Cessate il fuoco: Tregua {i}" for i in range(5)]
    assert min(_gaps(slack.arrivals)) >= SLACK_MIN_INTERVAL - JITTER


async def test_slack_receiver_refuses_an_unpaced_burst_like_slack(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    """The receiver really enforces the limit: the same five alerts unpaced are refused."""
    with SlackReceiver() as slack:
        notifier = _unpaced(slack.url, client)
        await notifier.send(alert_factory())
        await notifier.send(alert_factory())  # a burst of two is tolerated
        with pytest.raises(RetryableDelivery) as caught:
            await notifier.send(alert_factory())
    assert str(caught.value) == "channel 'slack-esteri': HTTP 429: rate_limited"
    assert caught.value.retry_after == 1.0
    assert len(slack.messages) == 2 and len(slack.throttled) == 1


async def test_slack_notifier_429_holds_the_pacer_so_the_next_send_waits(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    with SlackReceiver() as slack:
        slack.rate_limit(times=1, retry_after="2")
        notifier = _unpaced(slack.url, client)
        with pytest.raises(RetryableDelivery) as caught:
            await notifier.send(alert_factory())
        assert caught.value.retry_after == 2.0
        assert notifier.pacer.delay(slack.url) > 1.5
        await notifier.send(alert_factory())  # waits out the two seconds, then is accepted
    [refused, accepted] = [r.received_at for r in slack.requests]
    assert accepted - refused >= 2.0 - JITTER
    assert len(slack.messages) == 1 and slack.throttled == []


async def test_slack_notifier_long_retry_after_goes_back_to_the_outbox_without_a_request(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    with SlackReceiver() as slack:
        slack.rate_limit(times=1, retry_after="120")
        notifier = _notifier(slack.url, client)
        with pytest.raises(RetryableDelivery):
            await notifier.send(alert_factory())
        started = time.monotonic()
        with pytest.raises(RetryableDelivery) as caught:
            await notifier.send(alert_factory())
        assert time.monotonic() - started < 1.0  # not slept through
    assert caught.value.retry_after is not None and 110 < caught.value.retry_after <= 120
    assert "rate limited" in str(caught.value)
    assert len(slack.requests) == 1  # Slack was not asked again while it had said to wait
    _assert_secret_hidden(caught.value, slack.url)


async def test_slack_notifiers_sharing_a_webhook_share_its_pace(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    """Two channels on one webhook URL, delivered in parallel as the dispatcher does."""
    with SlackReceiver() as slack:
        shared = Pacer(SLACK_MIN_INTERVAL)
        first, second = (_notifier(slack.url, client, pacer=shared) for _ in range(2))
        await asyncio.gather(
            *(n.send(alert_factory(key=f"nm_{n is first}_{i}")) for i in range(2) for n in (first, second))
        )
    assert slack.throttled == [] and len(slack.messages) == 4
    assert min(_gaps(slack.arrivals)) >= SLACK_MIN_INTERVAL - JITTER


async def test_slack_notifier_server_error_without_retry_after_does_not_hold(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    with SlackReceiver() as slack:
        slack.fail(times=1, status=503, body="service_unavailable")
        notifier = _unpaced(slack.url, client)
        with pytest.raises(RetryableDelivery):
            await notifier.send(alert_factory())
        assert notifier.pacer.delay(slack.url) == 0.0


def test_slack_notifier_default_pacer_is_its_own_at_one_message_a_second() -> None:
    channel = SlackChannel(type="slack", url=SecretStr("https://hooks.slack.com" + SECRET_PATH))
    a = SlackNotifier("a", channel, client=None)  # type: ignore[arg-type]
    b = SlackNotifier("b", channel, client=None)  # type: ignore[arg-type]
    assert a.pacer is not b.pacer
    assert a.pacer.min_interval == SLACK_MIN_INTERVAL == 1.0

"""SlackNotifier against a real local receiver that enforces Slack's webhook rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from monitor.config import SlackChannel
from monitor.errors import DeliveryError, PermanentDelivery, RetryableDelivery
from monitor.models import Alert
from monitor.notify.render import render_slack
from monitor.notify.slack import SlackNotifier
from tests.notify.receivers import SECRET_PATH, SlackReceiver, refused_url

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _notifier(url: str, client: httpx.AsyncClient, timeout: float = 5.0) -> SlackNotifier:
    channel = SlackChannel(type="slack", url=SecretStr(url), timeout=timeout)
    return SlackNotifier("slack-esteri", channel, client, clock=lambda: NOW)


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

"""The sample alert of ``monitor notify test`` against real local receivers: the truth, never "sent"."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from monitor.config import SlackChannel, WebhookChannel
from monitor.errors import PermanentDelivery
from monitor.models import Alert
from monitor.notify.console import ConsoleNotifier
from monitor.notify.pacing import Pacer
from monitor.notify.render import render_slack, render_webhook
from monitor.notify.sample import SAMPLE_KEY_PREFIX, TestOutcome, sample_alert, send_test
from monitor.notify.slack import SlackNotifier
from monitor.notify.webhook import WebhookNotifier
from tests.notify.receivers import SlackReceiver, WebhookReceiver, refused_url

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def webhook(url: str, client: httpx.AsyncClient) -> WebhookNotifier:
    return WebhookNotifier("siem", WebhookChannel(type="webhook", url=SecretStr(url), timeout=5.0), client)


def slack(url: str, client: httpx.AsyncClient) -> SlackNotifier:
    channel = SlackChannel(type="slack", url=SecretStr(url), timeout=5.0)
    return SlackNotifier("slack-esteri", channel, client, pacer=Pacer(0.0))


def assert_no_secret(outcome: TestOutcome) -> None:
    text = f"{outcome} {outcome!r}"
    assert "SECRET" not in text and "127.0.0.1" not in text


# -- the sample ---------------------------------------------------------------------------------------


def test_sample_alert_is_a_realistic_italian_alert_for_the_channel() -> None:
    alert = sample_alert("slack-esteri", NOW, token="abc")
    assert alert.key == "nm_test_abc" and alert.channel == "slack-esteri"
    assert alert.rule_name == "Test news-monitor"
    assert alert.title == "Prova: cessate il fuoco a Gaza"
    assert alert.language == "it" and alert.matched_at == NOW
    assert alert.published is not None and alert.published < NOW
    assert all(term.casefold() in alert.snippet.casefold() for term in alert.terms)


def test_sample_alert_keys_are_fresh_so_no_receiver_drops_a_second_test() -> None:
    keys = {sample_alert("siem", NOW).key for _ in range(50)}
    assert len(keys) == 50
    assert all(key.startswith(SAMPLE_KEY_PREFIX) and len(key) > len(SAMPLE_KEY_PREFIX) + 8 for key in keys)


def test_sample_alert_fits_every_channel_format() -> None:
    alert = sample_alert("x", NOW)
    assert render_webhook(alert)["data"]["key"] == alert.key
    assert "Prova: cessate il fuoco a Gaza" in render_slack(alert)["text"]


# -- outcomes -----------------------------------------------------------------------------------------


async def test_send_test_webhook_200_is_ok(client: httpx.AsyncClient) -> None:
    alert = sample_alert("siem", NOW)
    with WebhookReceiver() as hook:
        outcome = await send_test(webhook(hook.url, client), alert)
    assert outcome.ok and not outcome.retryable
    assert outcome.channel == "siem" and outcome.seconds >= 0
    assert str(outcome).startswith("siem: sent")
    [(headers, body)] = hook.received
    assert headers["webhook-id"] == alert.key and body["data"]["rule"]["name"] == "Test news-monitor"


async def test_send_test_slack_ok_is_ok(client: httpx.AsyncClient) -> None:
    with SlackReceiver() as receiver:
        outcome = await send_test(slack(receiver.url, client), sample_alert("slack-esteri", NOW))
    assert outcome.ok
    assert receiver.rejections == [] and len(receiver.messages) == 1


async def test_send_test_webhook_404_is_a_failure(client: httpx.AsyncClient) -> None:
    with WebhookReceiver(statuses=[404]) as hook:
        outcome = await send_test(webhook(hook.url, client), sample_alert("siem", NOW))
    assert not outcome.ok and not outcome.retryable
    assert outcome.message == "channel 'siem': HTTP 404: scripted"
    assert str(outcome) == "siem: failed: channel 'siem': HTTP 404: scripted"
    assert_no_secret(outcome)


async def test_send_test_webhook_500_is_a_failure_that_may_pass(client: httpx.AsyncClient) -> None:
    with WebhookReceiver(statuses=[500]) as hook:
        outcome = await send_test(webhook(hook.url, client), sample_alert("siem", NOW))
    assert not outcome.ok and outcome.retryable
    assert "HTTP 500" in outcome.message and "may pass" in str(outcome)


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "invalid_payload"), (404, "channel_not_found"), (403, "action_prohibited"), (200, "no_text")],
)
async def test_send_test_slack_error_codes_are_failures(
    client: httpx.AsyncClient, status: int, code: str
) -> None:
    with SlackReceiver() as receiver:
        receiver.fail(times=1, status=status, body=code)
        outcome = await send_test(slack(receiver.url, client), sample_alert("slack-esteri", NOW))
    assert not outcome.ok and not outcome.retryable
    assert outcome.message == f"channel 'slack-esteri': HTTP {status}: {code}"
    assert_no_secret(outcome)


async def test_send_test_slack_200_with_a_foreign_page_is_a_failure(client: httpx.AsyncClient) -> None:
    with SlackReceiver() as receiver:
        receiver.fail(times=1, status=200, body="<html><title>Login</title></html>")
        outcome = await send_test(slack(receiver.url, client), sample_alert("slack-esteri", NOW))
    assert not outcome.ok
    assert "without Slack's 'ok'" in outcome.message and "<title>Login" in outcome.message


async def test_send_test_slack_rate_limited_is_a_failure_that_may_pass(client: httpx.AsyncClient) -> None:
    with SlackReceiver() as receiver:
        receiver.rate_limit(times=1, retry_after="30")
        outcome = await send_test(slack(receiver.url, client), sample_alert("slack-esteri", NOW))
    assert not outcome.ok and outcome.retryable
    assert outcome.message == "channel 'slack-esteri': HTTP 429: rate_limited"


@pytest.mark.parametrize("kind", ["webhook", "slack"])
async def test_send_test_connection_refused_is_a_failure(client: httpx.AsyncClient, kind: str) -> None:
    with refused_url() as url:
        notifier = webhook(url, client) if kind == "webhook" else slack(url, client)
        outcome = await send_test(notifier, sample_alert(notifier.name, NOW))
    assert not outcome.ok and outcome.retryable
    assert "ConnectError" in outcome.message
    assert "SECRET" not in str(outcome)


async def test_send_test_console_prints_the_sample() -> None:
    out = io.StringIO()
    outcome = await send_test(ConsoleNotifier("console", out), sample_alert("console", NOW))
    assert outcome.ok
    assert "[Test news-monitor] Prova: cessate il fuoco a Gaza" in out.getvalue()


async def test_send_test_broken_console_is_a_failure() -> None:
    out = io.StringIO()
    out.close()
    outcome = await send_test(ConsoleNotifier("console", out), sample_alert("console", NOW))
    assert not outcome.ok and outcome.retryable and "cannot write" in outcome.message


class _Raising:
    name = "odd"

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def send(self, alert: Alert) -> None:
        raise self.exc


async def test_send_test_error_without_text_is_named() -> None:
    outcome = await send_test(_Raising(PermanentDelivery()), sample_alert("odd", NOW))
    assert not outcome.ok and outcome.message == "PermanentDelivery"


async def test_send_test_lets_a_bug_through() -> None:
    """Only delivery errors are outcomes; a bug in a channel is not dressed up as one."""
    with pytest.raises(ZeroDivisionError):
        await send_test(_Raising(ZeroDivisionError("bug")), sample_alert("odd", NOW))


async def test_send_test_times_with_the_given_clock(client: httpx.AsyncClient) -> None:
    ticks = iter([10.0, 10.25])
    with WebhookReceiver() as hook:
        outcome = await send_test(
            webhook(hook.url, client), sample_alert("siem", NOW), clock=lambda: next(ticks)
        )
    assert outcome.seconds == 0.25
    assert str(outcome) == "siem: sent (the receiver accepted it, 0.25s)"

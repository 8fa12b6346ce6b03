"""WebhookNotifier against a real local receiver: body, headers, idempotency, failures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from monitor.config import WebhookChannel
from monitor.errors import DeliveryError, PermanentDelivery, RetryableDelivery
from monitor.models import Alert
from monitor.notify.http import EXCERPT_LENGTH
from monitor.notify.render import render_webhook
from monitor.notify.webhook import WebhookNotifier
from tests.notify.receivers import Reply, WebhookReceiver, refused_url

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _ticking_clock() -> Callable[[], datetime]:
    """A clock that moves one minute per reading, so each attempt has its own timestamp."""
    ticks: Iterator[int] = iter(range(10_000))
    return lambda: NOW + timedelta(minutes=next(ticks))


def _notifier(
    url: str,
    client: httpx.AsyncClient,
    *,
    timeout: float = 5.0,
    headers: dict[str, str] | None = None,
    clock: Callable[[], datetime] = lambda: NOW,
) -> WebhookNotifier:
    channel = WebhookChannel(
        type="webhook",
        url=SecretStr(url),
        headers={k: SecretStr(v) for k, v in (headers or {}).items()},
        timeout=timeout,
    )
    return WebhookNotifier("siem", channel, client, clock=clock)


def _assert_secret_hidden(exc: DeliveryError, url: str) -> None:
    text = f"{exc} {exc!r}"
    assert url not in text and "SECRET" not in text
    assert "'siem'" in str(exc)


async def test_webhook_notifier_posts_documented_body_and_headers(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    alert = alert_factory()
    with WebhookReceiver() as hook:
        await _notifier(hook.url, client, headers={"Authorization": "Bearer s3cr3t"}).send(alert)
    [(headers, body)] = hook.received
    assert body == render_webhook(alert)
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"] == alert.key
    assert headers["idempotency-key"] == alert.key
    assert headers["webhook-timestamp"] == str(int(NOW.timestamp()))
    assert headers["authorization"] == "Bearer s3cr3t"


async def test_webhook_notifier_retry_keeps_the_same_id(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    alert = alert_factory()
    with WebhookReceiver([500, 200]) as hook:
        notifier = _notifier(hook.url, client, clock=_ticking_clock())
        with pytest.raises(RetryableDelivery):
            await notifier.send(alert)
        await notifier.send(alert)
    first, second = (headers for headers, _ in hook.received)
    assert first["webhook-id"] == second["webhook-id"] == alert.key
    assert first["idempotency-key"] == second["idempotency-key"] == alert.key
    assert int(second["webhook-timestamp"]) > int(first["webhook-timestamp"])  # per attempt


async def test_webhook_notifier_config_headers_cannot_override_ours(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    alert = alert_factory()
    with WebhookReceiver() as hook:
        await _notifier(
            hook.url, client, headers={"webhook-id": "forged", "Content-Type": "text/plain"}
        ).send(alert)
    [(headers, _)] = hook.received
    assert headers["webhook-id"] == alert.key
    assert headers["content-type"] == "application/json"


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_webhook_notifier_transient_statuses_are_retryable(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert], status: int
) -> None:
    with WebhookReceiver([status]) as hook, pytest.raises(RetryableDelivery) as caught:
        await _notifier(hook.url, client).send(alert_factory())
    assert f"HTTP {status}" in str(caught.value)
    _assert_secret_hidden(caught.value, hook.url)


@pytest.mark.parametrize("status", [429, 503])
async def test_webhook_notifier_honours_retry_after(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert], status: int
) -> None:
    with WebhookReceiver() as hook:
        hook.script(Reply(status, "slow down", (("Retry-After", "120"),)))
        with pytest.raises(RetryableDelivery) as caught:
            await _notifier(hook.url, client).send(alert_factory())
    assert caught.value.retry_after == 120.0


@pytest.mark.parametrize("status", [301, 400, 401, 403, 404, 410, 422])
async def test_webhook_notifier_refusals_are_permanent(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert], status: int
) -> None:
    with WebhookReceiver([status]) as hook, pytest.raises(PermanentDelivery) as caught:
        await _notifier(hook.url, client).send(alert_factory())
    assert str(caught.value).startswith(f"channel 'siem': HTTP {status}: scripted")
    _assert_secret_hidden(caught.value, hook.url)


async def test_webhook_notifier_does_not_follow_redirects_of_a_shared_client(
    alert_factory: Callable[..., Alert],
) -> None:
    """A redirected POST would become a body-less GET that "succeeds": refuse it instead."""
    async with httpx.AsyncClient(trust_env=False, follow_redirects=True) as client:
        with WebhookReceiver() as target, WebhookReceiver() as hook:
            hook.script(Reply(302, "moved", (("Location", target.url),)))
            with pytest.raises(PermanentDelivery, match="HTTP 302"):
                await _notifier(hook.url, client).send(alert_factory())
    assert target.requests == []


async def test_webhook_notifier_quotes_a_short_scrubbed_excerpt_of_the_body(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    with WebhookReceiver() as hook:
        echo = f"no route for POST {hook.url}\n  (path {hook.path})\n" + "x" * 5000
        hook.script(Reply(404, echo))
        with pytest.raises(PermanentDelivery) as caught:
            await _notifier(hook.url, client).send(alert_factory())
    message = str(caught.value)
    excerpt = message.split(": ", 2)[2]
    assert len(excerpt) <= EXCERPT_LENGTH and excerpt.endswith("…")
    assert excerpt.startswith("no route for POST <channel url> (path <channel url>) xxx")
    _assert_secret_hidden(caught.value, hook.url)


async def test_webhook_notifier_receiver_down_is_retryable(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    with refused_url() as url, pytest.raises(RetryableDelivery) as caught:
        await _notifier(url, client).send(alert_factory())
    assert caught.value.retry_after is None
    _assert_secret_hidden(caught.value, url)


async def test_webhook_notifier_timeout_is_retryable(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    with WebhookReceiver(delay=5.0) as hook:
        with pytest.raises(RetryableDelivery) as caught:
            await _notifier(hook.url, client, timeout=0.2).send(alert_factory())
        url = hook.url
    assert "ReadTimeout" in str(caught.value)
    _assert_secret_hidden(caught.value, url)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/hook/SECRET", "http://[::1/SECRET"])
async def test_webhook_notifier_unusable_url_is_permanent(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert], url: str
) -> None:
    with pytest.raises(PermanentDelivery) as caught:
        await _notifier(url, client).send(alert_factory())
    _assert_secret_hidden(caught.value, url)


def test_webhook_notifier_repr_hides_the_url() -> None:
    notifier = _notifier("https://siem.example.org/SECRET", client=None)  # type: ignore[arg-type]
    assert "SECRET" not in repr(notifier)

"""WebhookNotifier against real local receivers: body, headers, idempotency, signatures, failures.

Signatures are checked by ``StandardWebhookReceiver``, which verifies with the
``standardwebhooks`` package, never with our own signing code.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr
from standardwebhooks import Webhook, WebhookVerificationError

from monitor.config import WebhookChannel
from monitor.errors import ChannelPaused, ConfigError, DeliveryError, PermanentDelivery, RetryableDelivery
from monitor.models import Alert
from monitor.notify.base import build_notifiers
from monitor.notify.http import EXCERPT_LENGTH, RATE_LIMITED_PAUSE
from monitor.notify.render import render_webhook
from monitor.notify.webhook import WebhookNotifier, encode_body
from tests.notify.receivers import Reply, WebhookReceiver, refused_url
from tests.notify.signed_receivers import StandardWebhookReceiver

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
OLD_SECRET = "whsec_" + base64.b64encode(b"old signing key, 32 bytes long!!").decode()
NEW_SECRET = "whsec_" + base64.b64encode(b"the new signing key: also 32 b.").decode()
WRONG_SECRET = "whsec_" + base64.b64encode(b"somebody else's key, 32 bytes..").decode()


def _ticking_clock(start: datetime = NOW, step: timedelta = timedelta(minutes=1)) -> Callable[[], datetime]:
    """A clock that moves ``step`` per reading, so each attempt has its own timestamp."""
    ticks: Iterator[int] = iter(range(10_000))
    return lambda: start + step * next(ticks)


def _live_clock() -> Callable[[], datetime]:
    """Real time (the library refuses timestamps over 5 minutes off), 30 s further per reading."""
    return _ticking_clock(datetime.now(UTC) - timedelta(minutes=2), timedelta(seconds=30))


def _notifier(
    url: str,
    client: httpx.AsyncClient,
    *,
    timeout: float = 5.0,
    headers: dict[str, str] | None = None,
    secrets: list[str] | None = None,
    clock: Callable[[], datetime] = lambda: NOW,
) -> WebhookNotifier:
    channel = WebhookChannel(
        type="webhook",
        url=SecretStr(url),
        headers={k: SecretStr(v) for k, v in (headers or {}).items()},
        timeout=timeout,
        secret=[SecretStr(s) for s in secrets or []],
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
    assert "webhook-signature" not in headers  # no secret configured: unsigned


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
    forged = {
        "webhook-id": "forged",
        "Content-Type": "text/plain",
        "Webhook-Signature": "v1,forged",
        "IDEMPOTENCY-KEY": "forged",
    }
    with StandardWebhookReceiver(OLD_SECRET) as hook:
        notifier = _notifier(hook.url, client, headers=forged, secrets=[OLD_SECRET], clock=_live_clock())
        await notifier.send(alert)
    [request] = hook.requests
    assert request.headers["webhook-id"] == request.headers["idempotency-key"] == alert.key
    assert request.headers["content-type"] == "application/json"
    assert "forged" not in request.headers["webhook-signature"]
    assert len(hook.verified) == 1


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


# ---------------------------------------------------------------- Standard Webhooks signatures


async def test_webhook_notifier_signed_delivery_verifies_with_standardwebhooks(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    alert = alert_factory(title="Tregua à Gaza 🕊: l'accordo è firmato", snippet='"virgolette" \\ e </script>')
    with StandardWebhookReceiver(OLD_SECRET) as hook:
        await _notifier(hook.url, client, secrets=[OLD_SECRET], clock=_live_clock()).send(alert)
    assert hook.rejections == []
    [verified] = hook.verified
    assert verified.payload == render_webhook(alert)  # what the library verified is our documented body
    assert verified.body == encode_body(render_webhook(alert))  # byte for byte what was signed
    assert verified.body.isascii()
    assert verified.headers["webhook-id"] == alert.key


@pytest.mark.parametrize("receiver_secret", [OLD_SECRET, NEW_SECRET], ids=["old-key", "new-key"])
async def test_webhook_notifier_key_rotation_verifies_with_either_secret(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert], receiver_secret: str
) -> None:
    """While rotating, both secrets sign: a receiver still on the old key and one on the new both verify."""
    with StandardWebhookReceiver(receiver_secret) as hook:
        notifier = _notifier(hook.url, client, secrets=[OLD_SECRET, NEW_SECRET], clock=_live_clock())
        await notifier.send(alert_factory())
    assert hook.rejections == [] and len(hook.verified) == 1
    assert len(hook.verified[0].headers["webhook-signature"].split(" ")) == 2


async def test_webhook_notifier_wrong_secret_is_rejected_and_permanent(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    with StandardWebhookReceiver(WRONG_SECRET) as hook:
        notifier = _notifier(hook.url, client, secrets=[OLD_SECRET], clock=_live_clock())
        with pytest.raises(PermanentDelivery) as caught:
            await notifier.send(alert_factory())
    assert hook.verified == []
    assert hook.rejections == ["No matching signature found"]
    assert str(caught.value).startswith("channel 'siem': HTTP 400: signature verification failed")
    _assert_secret_hidden(caught.value, hook.url)


async def test_webhook_notifier_unsigned_delivery_is_rejected_by_a_verifying_receiver(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    with StandardWebhookReceiver(OLD_SECRET) as hook, pytest.raises(PermanentDelivery):
        await _notifier(hook.url, client, clock=_live_clock()).send(alert_factory())
    assert hook.rejections == ["Missing required headers"]


async def test_webhook_notifier_retry_is_resigned_with_the_same_id_and_a_new_timestamp(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    alert = alert_factory()
    with StandardWebhookReceiver(OLD_SECRET) as hook:
        hook.script(Reply(500, "verified, then the database fell over"))
        notifier = _notifier(hook.url, client, secrets=[OLD_SECRET], clock=_live_clock())
        with pytest.raises(RetryableDelivery):
            await notifier.send(alert)
        await notifier.send(alert)
    assert hook.rejections == []
    first, second = (v.headers for v in hook.verified)  # both attempts verified on their own
    assert first["webhook-id"] == second["webhook-id"] == alert.key
    assert first["idempotency-key"] == second["idempotency-key"] == alert.key
    assert int(second["webhook-timestamp"]) > int(first["webhook-timestamp"])
    assert first["webhook-signature"] != second["webhook-signature"]
    assert hook.verified[0].body == hook.verified[1].body


async def test_webhook_notifier_body_tampered_in_transit_fails_verification(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    """Detecting tampering is the receiver's job: with our headers, any other body fails to verify."""
    with StandardWebhookReceiver(OLD_SECRET) as hook:
        await _notifier(hook.url, client, secrets=[OLD_SECRET], clock=_live_clock()).send(alert_factory())
    [verified] = hook.verified
    payload = json.loads(verified.body)
    payload["data"]["article"]["url"] = "https://phishing.example/"
    tampered = json.dumps(payload, separators=(",", ":")).encode()
    receiver = Webhook(OLD_SECRET)
    receiver.verify(verified.body, verified.headers)  # the original still verifies
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        receiver.verify(tampered, verified.headers)
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        receiver.verify(verified.body, {**verified.headers, "webhook-id": "another-alert"})


def test_webhook_notifier_bad_secret_fails_when_built_and_is_not_quoted() -> None:
    bad = "whsec_tooShortToBeAKey"
    with pytest.raises(ConfigError) as caught:
        _notifier("https://siem.example.org/hook", client=None, secrets=[OLD_SECRET, bad])  # type: ignore[arg-type]
    assert str(caught.value).startswith("channel 'siem': secret 2 of 2 is not a Standard Webhooks secret")
    assert "tooShortToBeAKey" not in str(caught.value)


def test_webhook_notifier_repr_hides_the_signing_secrets() -> None:
    notifier = _notifier("https://siem.example.org/SECRET", client=None, secrets=[OLD_SECRET])  # type: ignore[arg-type]
    assert OLD_SECRET.removeprefix("whsec_") not in f"{notifier!r} {vars(notifier)!r}"


@pytest.mark.parametrize(
    ("reply", "pause"),
    [
        (Reply(429, "slow down", (("Retry-After", "120"),)), 120.0),
        (Reply(503, "maintenance", (("Retry-After", "60"),)), 60.0),
        (Reply(429, "slow down"), RATE_LIMITED_PAUSE),  # a 429 that does not say how long
    ],
)
async def test_webhook_notifier_pause_asked_by_the_receiver_holds_the_next_alerts_without_a_request(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert], reply: Reply, pause: float
) -> None:
    with WebhookReceiver() as hook:
        hook.script(reply)
        notifier = _notifier(hook.url, client)
        with pytest.raises(RetryableDelivery):
            await notifier.send(alert_factory(key="nm_first"))
        with pytest.raises(ChannelPaused) as caught:
            await notifier.send(alert_factory(key="nm_second"))
    assert len(hook.requests) == 1  # the receiver is not asked again while it said to wait
    assert pause - 5 < caught.value.retry_after <= pause
    assert str(caught.value).startswith("channel 'siem': paused for ")
    _assert_secret_hidden(caught.value, hook.url)


async def test_webhook_notifier_server_error_without_retry_after_does_not_pause(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    with WebhookReceiver([503]) as hook:
        notifier = _notifier(hook.url, client)
        with pytest.raises(RetryableDelivery):
            await notifier.send(alert_factory(key="nm_first"))
        await notifier.send(alert_factory(key="nm_second"))
    assert [r.headers["webhook-id"] for r in hook.requests] == ["nm_first", "nm_second"]


async def test_webhook_channels_on_one_url_share_the_pause(
    client: httpx.AsyncClient, alert_factory: Callable[..., Alert]
) -> None:
    with WebhookReceiver() as hook:
        hook.script(Reply(429, "slow down", (("Retry-After", "120"),)))
        channel = WebhookChannel(type="webhook", url=SecretStr(hook.url))
        notifiers = build_notifiers({"siem": channel, "siem-copy": channel}, client)
        with pytest.raises(RetryableDelivery):
            await notifiers["siem"].send(alert_factory())
        with pytest.raises(ChannelPaused):
            await notifiers["siem-copy"].send(alert_factory())
    assert len(hook.requests) == 1

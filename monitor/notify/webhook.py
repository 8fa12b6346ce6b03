"""Alerts POSTed as a documented JSON body to any HTTP endpoint, signed per Standard Webhooks.

The body is :func:`~monitor.notify.render.render_webhook` serialised once, as
ASCII-only compact JSON (anything else is ``\\uXXXX``-escaped), so the bytes we
sign are the bytes sent and every receiver, whatever it thinks the charset is,
hashes the same bytes.

Headers (:mod:`monitor.notify.signing`)::

    Content-Type:       application/json
    webhook-id:         the alert's delivery key, identical on every retry
    Idempotency-Key:    the same key, for receivers that know that convention
    webhook-timestamp:  Unix seconds of this attempt
    webhook-signature:  v1,<sig> per configured secret (only when ``secret`` is set)

Every attempt is signed afresh with its own timestamp, so a retry an hour
later is not refused as a replay; its id is unchanged, so a receiver drops a
repeat after we crashed between sending and recording.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from monitor.config import WebhookChannel
from monitor.errors import PermanentDelivery
from monitor.models import Alert
from monitor.notify.http import MAX_WAIT, Clock, HttpNotifier, check_response, map_http_error, system_clock
from monitor.notify.pacing import Pacer
from monitor.notify.render import render_webhook
from monitor.notify.signing import parse_secrets, signature_headers
from monitor.notify.templates import Format

__all__ = ["WebhookNotifier", "encode_body"]

# Ours win over configured headers of the same name, whatever its case.
_OWN_HEADERS = frozenset(
    {"content-type", "webhook-id", "webhook-timestamp", "webhook-signature", "idempotency-key"}
)


def _json_string(text: str) -> str:
    """A value inside a JSON string literal: ``"title": "{{ article.title }}"`` stays valid JSON."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


JSON_FORMAT = Format(escape=_json_string)
"""A ``body`` template writes JSON: values are escaped for a string literal, ``tojson`` for the rest."""


def _json_body(part: str, text: str) -> None:
    """Start-up check of a ``body`` template: what it renders must be JSON."""
    try:
        json.loads(text)
    except ValueError as exc:
        raise ValueError(f"it does not render JSON ({exc})") from None


def encode_body(payload: Any) -> bytes:
    """The exact bytes to sign and send: compact, ASCII-only JSON; NaN refused."""
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode("ascii")


class WebhookNotifier(HttpNotifier):
    """Delivers alerts to one configured webhook through a client the caller owns.

    The ``whsec_`` secrets are decoded here, when the notifier is built: a bad
    one raises :class:`~monitor.errors.ConfigError` naming the channel.
    """

    _channel: WebhookChannel
    template_formats: ClassVar[Mapping[str, Format]] = {"body": JSON_FORMAT}

    def __init__(
        self,
        name: str,
        channel: WebhookChannel,
        client: httpx.AsyncClient,
        *,
        clock: Clock = system_clock,
        pacer: Pacer | None = None,
        max_wait: float = MAX_WAIT,
    ) -> None:
        super().__init__(name, channel, client, clock=clock, pacer=pacer, max_wait=max_wait)
        self._keys = parse_secrets((s.get_secret_value() for s in channel.secret), channel=name)

    def body(self, alert: Alert) -> bytes:
        """The bytes to sign and send: the documented body, or the channel's ``body`` template."""
        custom = self._templates.render("body", alert)
        if custom is None:
            return encode_body(render_webhook(alert))
        try:
            return encode_body(json.loads(custom))
        except ValueError as exc:
            raise PermanentDelivery(
                f"channel {self.name!r}: template 'body' did not give JSON: {exc}"
            ) from None

    def check_template(self, part: str, text: str) -> None:
        _json_body(part, text)

    def headers(self, alert: Alert, body: bytes, timestamp: int) -> dict[str, str]:
        """Configured headers first, then ours: a config cannot break idempotency or signing."""
        headers = {
            key: value.get_secret_value()
            for key, value in self._channel.headers.items()
            if key.lower() not in _OWN_HEADERS
        }
        headers["Content-Type"] = "application/json"
        headers["Idempotency-Key"] = alert.key
        headers.update(signature_headers(alert.key, timestamp, body, self._keys))
        return headers

    async def send(self, alert: Alert) -> None:
        """POST the signed alert; raises RetryableDelivery or PermanentDelivery naming the channel."""
        body = self.body(alert)
        url = self._channel.url.get_secret_value()

        async def attempt() -> None:
            headers = self.headers(alert, body, int(self._clock().timestamp()))  # signed when it goes
            try:
                response = await self._client.post(
                    url,
                    content=body,
                    headers=headers,
                    timeout=self._channel.timeout,
                    follow_redirects=False,  # see post_json: never turn a POST into a GET elsewhere
                )
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise map_http_error(exc, channel=self.name, url=url, secrets=self._secrets) from None
            check_response(response, channel=self.name, url=url, now=self._clock(), secrets=self._secrets)

        await self._paced(attempt)

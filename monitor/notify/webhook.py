"""Alerts POSTed as a documented JSON body to any HTTP endpoint.

The headers follow the Standard Webhooks convention (``webhook-id``,
``webhook-timestamp``) and the common ``Idempotency-Key``: the id is the
alert's delivery key, identical on every retry, so a receiver can drop a
repeat after we crashed between sending and recording.
"""

from __future__ import annotations

from monitor.config import WebhookChannel
from monitor.models import Alert
from monitor.notify.http import HttpNotifier
from monitor.notify.render import render_webhook

__all__ = ["WebhookNotifier"]


class WebhookNotifier(HttpNotifier):
    """Delivers alerts to one configured webhook through a client the caller owns."""

    _channel: WebhookChannel

    def headers(self, alert: Alert) -> dict[str, str]:
        """Configured headers first, then ours: a config cannot break idempotency."""
        headers = {key: value.get_secret_value() for key, value in self._channel.headers.items()}
        headers.update(
            {
                "Content-Type": "application/json",
                "webhook-id": alert.key,
                "Idempotency-Key": alert.key,
                "webhook-timestamp": str(int(self._clock().timestamp())),
            }
        )
        return headers

    async def send(self, alert: Alert) -> None:
        """POST the alert; raises RetryableDelivery or PermanentDelivery naming the channel."""
        await self._post(render_webhook(alert), self.headers(alert))

"""Alerts posted to a Slack incoming webhook.

Slack answers ``200 ok`` on success.  Its documented refusals are all final for
this message or this webhook (400 ``invalid_payload``, 403 ``action_prohibited``,
404 ``channel_not_found``/``no_service``, 410 ``channel_is_archived``), so they
are permanent; 429 carries ``Retry-After`` and 5xx (``rollup_error``) may pass.
The shared mapping in :mod:`monitor.notify.http` already says exactly that,
with Slack's error code kept in the message.
"""

from __future__ import annotations

import httpx

from monitor.config import SlackChannel
from monitor.models import Alert
from monitor.notify.http import Clock, post_json, system_clock
from monitor.notify.render import render_slack

__all__ = ["SlackNotifier"]


class SlackNotifier:
    """Delivers alerts to one Slack webhook through a client the caller owns."""

    def __init__(
        self,
        name: str,
        channel: SlackChannel,
        client: httpx.AsyncClient,
        *,
        clock: Clock = system_clock,
    ) -> None:
        self.name = name
        self._channel = channel
        self._client = client
        self._clock = clock

    def __repr__(self) -> str:
        return f"SlackNotifier(name={self.name!r}, url='**********')"

    async def send(self, alert: Alert) -> None:
        """POST the Block Kit message; raises RetryableDelivery or PermanentDelivery."""
        await post_json(
            self._client,
            self._channel.url.get_secret_value(),
            render_slack(alert),
            channel=self.name,
            timeout=self._channel.timeout,
            clock=self._clock,
        )

"""Alerts posted to a Slack incoming webhook.

Slack answers ``200 ok`` on success.  Its documented refusals are all final for
this message or this webhook (400 ``invalid_payload``, 403 ``action_prohibited``,
404 ``channel_not_found``/``no_service``, 410 ``channel_is_archived``), so they
are permanent; 429 carries ``Retry-After`` and 5xx (``rollup_error``) may pass.
The shared mapping in :mod:`monitor.notify.http` already says exactly that,
with Slack's error code kept in the message.
"""

from __future__ import annotations

from monitor.models import Alert
from monitor.notify.http import HttpNotifier
from monitor.notify.render import render_slack

__all__ = ["SlackNotifier"]


class SlackNotifier(HttpNotifier):
    """Delivers alerts to one Slack webhook through a client the caller owns."""

    async def send(self, alert: Alert) -> None:
        """POST the Block Kit message; raises RetryableDelivery or PermanentDelivery."""
        await self._post(render_slack(alert))

"""Alerts posted to a Slack incoming webhook, paced to Slack's rate limit.

Slack answers ``200 ok`` on success.  Its documented refusals are all final for
this message or this webhook (400 ``invalid_payload``, 403 ``action_prohibited``,
404 ``channel_not_found``/``no_service``, 410 ``channel_is_archived``), so they
are permanent; 429 carries ``Retry-After`` and 5xx (``rollup_error``) may pass.
The shared mapping in :mod:`monitor.notify.http` already says exactly that,
with Slack's error code kept in the message.

A 2xx whose body is not ``ok`` is a failure too, never "sent": Slack always
answers ``ok``, so anything else (an error code, a proxy's or a login page's
HTML) means the message did not reach Slack the way we think.  A JSON body
``{"ok": true}``, as Slack's Web API and some Slack-compatible servers answer,
counts as success; ``{"ok": false, "error": …}`` does not.

Slack allows about one message a second per webhook (short bursts tolerated).
Each notifier paces its sends with a :class:`~monitor.notify.pacing.Pacer`
keyed on the webhook URL (pass one shared pacer to several notifiers when
channels share a URL), and a ``Retry-After`` from Slack holds the pacer, so the
alerts queued behind a 429 wait instead of being refused in turn
(:meth:`~monitor.notify.http.HttpNotifier._paced`, shared by every HTTP channel).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import ClassVar

import httpx

from monitor.config import SlackChannel
from monitor.errors import PermanentDelivery
from monitor.models import Alert
from monitor.notify.http import MAX_WAIT, HttpNotifier, _excerpt
from monitor.notify.render import render_slack, slack_escape
from monitor.notify.templates import Format

__all__ = ["SLACK_FORMAT", "SLACK_MAX_WAIT", "SLACK_MIN_INTERVAL", "SlackNotifier", "check_slack_body"]

SLACK_FORMAT = Format(escape=slack_escape, mark=lambda term: f"*{term}*")
"""Templates write mrkdwn: values escaped as Slack asks, matched terms in bold."""

SLACK_MIN_INTERVAL = 1.0
"""Seconds between the starts of two sends to one webhook (Slack: about one message a second)."""
SLACK_MAX_WAIT = MAX_WAIT
"""Longest wait a send sleeps through before it is handed back to the outbox instead."""

_OK = "ok"
_ERROR_CODE = re.compile(r"^[a-z][a-z0-9_]{0,79}$")


def check_slack_body(response: httpx.Response, *, channel: str, url: str) -> None:
    """Return quietly when a 2xx answer is Slack's ``ok``; otherwise raise PermanentDelivery."""
    try:
        body = response.text.strip()
    except (httpx.ResponseNotRead, UnicodeDecodeError, LookupError):
        body = ""
    if body == _OK:
        return
    code = body if _ERROR_CODE.match(body) else None
    if code is None and body.startswith("{"):
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if isinstance(answer, dict) and answer.get("ok") is True:
            return
        if isinstance(answer, dict) and isinstance(answer.get("error"), str):
            code = answer["error"] if _ERROR_CODE.match(answer["error"]) else None
    prefix = f"channel {channel!r}: HTTP {response.status_code}"
    if code is not None:
        raise PermanentDelivery(f"{prefix}: {code}")
    raise PermanentDelivery(
        f"{prefix} without Slack's 'ok': {_excerpt(response, url) or '(empty body)'}"
        " (is this a Slack incoming-webhook URL?)"
    )


class SlackNotifier(HttpNotifier):
    """Delivers alerts to one Slack webhook through a client the caller owns."""

    _channel: SlackChannel
    template_formats: ClassVar[Mapping[str, Format]] = {"text": SLACK_FORMAT, "message": SLACK_FORMAT}
    min_interval: ClassVar[float] = SLACK_MIN_INTERVAL

    def payload(self, alert: Alert) -> dict[str, object]:
        """The Block Kit message, with this channel's templates where it has them."""
        templates = self._templates
        return render_slack(
            alert, text=templates.render("text", alert), message=templates.render("message", alert)
        )

    async def send(self, alert: Alert) -> None:
        """POST the Block Kit message when the pacer allows; raises RetryableDelivery or PermanentDelivery."""
        response = await self._post(self.payload(alert))
        check_slack_body(response, channel=self.name, url=self._channel.url.get_secret_value())

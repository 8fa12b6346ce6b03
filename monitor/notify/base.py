"""The contract every channel fulfils, and the one place channels are built from config.

A notifier does one thing: try to deliver one alert, once.  It never retries
or sleeps itself; it raises :class:`~monitor.errors.RetryableDelivery` (with the
receiver's ``retry_after`` when given) or :class:`~monitor.errors.PermanentDelivery`
and the dispatcher decides, with :func:`monitor.notify.retry.next_attempt`, what
happens next.  Returning normally means delivered.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, TextIO, runtime_checkable

import httpx

from monitor.config import (
    AppriseChannel,
    AtomChannel,
    Channel,
    ConsoleChannel,
    DiscordChannel,
    EmailChannel,
    SlackChannel,
    TeamsChannel,
    WebhookChannel,
)
from monitor.models import Alert
from monitor.notify.http import check_response, map_http_error, post_json
from monitor.notify.pacing import Pacer

__all__ = ["Notifier", "build_notifiers", "check_response", "map_http_error", "post_json"]


@runtime_checkable
class Notifier(Protocol):
    """One configured channel, named as in ``monitor.yaml``."""

    name: str

    async def send(self, alert: Alert) -> None:
        """Deliver ``alert`` once, or raise RetryableDelivery / PermanentDelivery."""
        ...


def build_notifiers(
    channels: Mapping[str, Channel],
    client: httpx.AsyncClient,
    *,
    out: TextIO | None = None,
    state_dir: Path = Path("data"),
) -> dict[str, Notifier]:
    """One notifier per configured channel, all sharing the caller's HTTP client.

    ``out`` defaults to ``sys.stdout`` as it is at call time (not import time),
    so a redirected stdout is honoured.  HTTP channels share pacers keyed by
    URL: two channels posting to one webhook keep its rate and its pauses
    (429, ``Retry-After``) together.
    A channel that cannot work (a bad signing secret, an address that does not
    parse) raises :class:`~monitor.errors.ConfigError` naming it.
    """
    stream = sys.stdout if out is None else out
    http_pacer = Pacer(0.0)  # no pace of its own: only the pauses receivers ask for (429, Retry-After)
    slack_pacer: Pacer | None = None
    notifiers: dict[str, Notifier] = {}
    # Each channel's module is imported when a channel of its kind is configured: the daemon
    # that alerts on the console does not wait for the SMTP client to import.
    for name, channel in channels.items():
        match channel:
            case ConsoleChannel():
                from monitor.notify.console import ConsoleNotifier

                notifiers[name] = ConsoleNotifier(name, stream, channel.templates)
            case WebhookChannel():
                from monitor.notify.webhook import WebhookNotifier

                notifiers[name] = WebhookNotifier(name, channel, client, pacer=http_pacer)
            case SlackChannel():
                from monitor.notify.slack import SLACK_MIN_INTERVAL, SlackNotifier

                slack_pacer = slack_pacer or Pacer(SLACK_MIN_INTERVAL)
                notifiers[name] = SlackNotifier(name, channel, client, pacer=slack_pacer)
            case DiscordChannel():
                from monitor.notify.discord import DiscordNotifier

                notifiers[name] = DiscordNotifier(name, channel, client, pacer=http_pacer)
            case TeamsChannel():
                from monitor.notify.teams import TeamsNotifier

                notifiers[name] = TeamsNotifier(name, channel, client, pacer=http_pacer)
            case EmailChannel():
                from monitor.notify.email import EmailNotifier

                notifiers[name] = EmailNotifier(name, channel)
            case AppriseChannel():
                from monitor.notify.apprise_channel import AppriseNotifier

                urls = [url.get_secret_value() for url in channel.urls]
                notifiers[name] = AppriseNotifier(name, urls, channel.templates)
            case AtomChannel():
                from monitor.notify.atom import AtomNotifier

                notifiers[name] = AtomNotifier(
                    name, channel.folder or state_dir / "atom", channel.max_entries
                )
            case _:  # pragma: no cover - config validation makes this unreachable
                raise TypeError(f"channel {name!r}: unsupported type {type(channel).__name__}")
    return notifiers

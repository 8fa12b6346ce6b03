"""Delivering alerts: pure rendering and retry maths, plus one small sender per channel.

Channels never import each other; each takes the ``httpx.AsyncClient`` its
caller owns, so connection pools, limits and shutdown live in one place.
"""

from monitor.notify.base import Notifier, build_notifiers
from monitor.notify.console import ConsoleNotifier
from monitor.notify.slack import SlackNotifier
from monitor.notify.webhook import WebhookNotifier

__all__ = ["ConsoleNotifier", "Notifier", "SlackNotifier", "WebhookNotifier", "build_notifiers"]

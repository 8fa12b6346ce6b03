"""Alerts printed to a text stream: the channel that works on a fresh machine."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TextIO

from monitor.errors import RetryableDelivery
from monitor.models import Alert
from monitor.notify.render import render_console
from monitor.notify.templates import PLAIN, MessageTemplates

__all__ = ["ConsoleNotifier"]


class ConsoleNotifier:
    """Writes each alert to ``out`` and flushes, so a pipe or journal sees it at once."""

    def __init__(self, name: str, out: TextIO, templates: Mapping[str, str] | None = None) -> None:
        self.name = name
        self._out = out
        self._templates = MessageTemplates(name, templates or {}, {"text": PLAIN})

    def __repr__(self) -> str:
        return f"ConsoleNotifier(name={self.name!r})"

    async def send(self, alert: Alert) -> None:
        """Print the alert; a closed or broken stream is retried, since a restart may fix it."""
        try:
            text = self._templates.render("text", alert)
            self._out.write((render_console(alert) if text is None else text) + "\n")
            self._out.flush()
        except (OSError, ValueError) as exc:
            raise RetryableDelivery(f"channel {self.name!r}: cannot write: {exc}") from exc

"""Any of the services Apprise reaches by URL (Telegram, Matrix, ntfy, Pushover, …), inside our outbox.

Apprise is an optional extra (``pip install 'news-monitor[apprise]'``): the
alert still goes through our outbox, so retries, dead letters, throttling and
digests apply.  Apprise only says whether every service accepted the message,
not why one did not, so a failure is retried (and ends dead after
``max_attempts``); its URLs hold tokens, so they are never logged or shown.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from monitor.errors import ConfigError, RetryableDelivery
from monitor.models import Alert
from monitor.notify.render import render_console
from monitor.notify.templates import PLAIN, MessageTemplates


class AppriseNotifier:
    def __init__(self, name: str, urls: list[str], templates: Mapping[str, str] | None = None) -> None:
        try:
            with warnings.catch_warnings():  # apprise imports modules Python deprecates (imghdr)
                warnings.simplefilter("ignore", DeprecationWarning)
                import apprise  # an optional extra: imported only when a channel uses it
        except ImportError:
            raise ConfigError(
                f"channel {name!r}: type apprise needs the apprise extra: pip install 'news-monitor[apprise]'"
            ) from None
        self.name = name
        self._templates = MessageTemplates(name, templates or {}, {"title": PLAIN, "message": PLAIN})
        self._app: Any = apprise.Apprise()
        self._format = apprise.NotifyFormat.TEXT
        for position, url in enumerate(urls, 1):
            with warnings.catch_warnings():  # its plugins load on first use, importing imghdr
                warnings.simplefilter("ignore", DeprecationWarning)
                understood = self._app.add(url)
            if not understood:
                raise ConfigError(
                    f"channel {name!r}: apprise does not understand URL #{position} (not shown)"
                )

    def __repr__(self) -> str:
        return f"AppriseNotifier(name={self.name!r}, services={len(self._app)})"

    async def send(self, alert: Alert) -> None:
        title, _, body = render_console(alert).partition("\n")
        title = self._templates.render("title", alert) or title
        body = self._templates.render("message", alert) or body
        delivered = await self._app.async_notify(title=title, body=body or title, body_format=self._format)
        if not delivered:
            raise RetryableDelivery(f"channel {self.name!r}: apprise could not deliver to every service")

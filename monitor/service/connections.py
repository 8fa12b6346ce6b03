"""What the daemon reaches the outside with, open from its start to its stop.

One HTTP client for the channels and the trusted fetches, one guarded client
for feeds that may point anywhere, the feed fetcher over both, the feed
parser processes, and a notifier per channel.  They are built together from
the settings at start and torn down together at the stop; a reload replaces
only the notifiers (``monitor/service/reloading.py``), since the rest depends
on settings that take a restart to change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import httpx

from monitor.config import Settings
from monitor.notify.base import Notifier, build_notifiers
from monitor.service.wiring import http_client
from monitor.sources.feeds import FeedFetcher
from monitor.sources.netguard import AddressGuard, GuardedClient
from monitor.sources.parsepool import FeedParsers, parse_processes_for

__all__ = ["Connections"]

log = logging.getLogger(__name__)


class Connections:
    """The clients, fetcher, parsers and notifiers, set while :meth:`open` holds them."""

    def __init__(self) -> None:
        self.client: httpx.AsyncClient | None = None
        self.fetcher: FeedFetcher | None = None
        self.parsers: FeedParsers | None = None
        self.notifiers: dict[str, Notifier] = {}

    @contextlib.asynccontextmanager
    async def open(self, settings: Settings) -> AsyncIterator[None]:
        """Build them all from ``settings``; close the clients and the parser processes after."""
        http = settings.http
        guard = AddressGuard(allow_private=http.allow_private_networks)
        async with (
            http_client(settings) as client,
            GuardedClient(guard, headers={"User-Agent": http.agent}, timeout=http.timeout) as untrusted,
        ):
            self.client = client
            self.fetcher = FeedFetcher(
                client,
                max_concurrency=http.max_concurrency,
                per_host=http.per_host,
                user_agent=http.agent,
                untrusted=untrusted,
                connect_timeout=http.connect_timeout,
                read_timeout=http.read_timeout,
            )
            processes = parse_processes_for(settings.sources.feed_parsers, len(settings.sources.feeds))
            self.parsers = FeedParsers(processes, log_level=log.getEffectiveLevel()) if processes else None
            self.notifiers = build_notifiers(settings.channels, client, state_dir=settings.state_dir)
            try:
                yield
            finally:
                if self.parsers is not None:
                    await asyncio.to_thread(self.parsers.close)
                self.client = self.fetcher = self.parsers = None

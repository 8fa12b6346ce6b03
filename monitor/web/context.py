"""What the web app is given by whoever serves it: the daemon, or ``monitor web`` alone.

The app reaches nothing on its own: the settings, the store, the running rules
and every action that changes something come in here, so the same app runs
inside the daemon (sharing its store and rule index, ingesting through its
pipeline) and over a bare database (reading only), and tests hand it real
parts without a daemon around them.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import ParamSpec, TypeVar, cast

from prometheus_client import CollectorRegistry

from monitor.config import Settings
from monitor.matching.rulefile import RuleSpec
from monitor.models import Article
from monitor.pipeline.deliver import utcnow
from monitor.service.ops import Check
from monitor.store.repo import Store
from monitor.store.views import Views
from monitor.web.rulefiles import RuleFiles
from monitor.web.security import Guard
from monitor.web.workbench import Workbench

P = ParamSpec("P")
T = TypeVar("T")
READ_THREADS = 4

Ingest = Callable[[Sequence[Article]], Awaitable[None]]
"""Match and record articles as a dropped file's are (and let the dispatcher send their alerts)."""


def _seen(future: asyncio.Future[object]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: whoever awaits it gets it; nobody else is warned of it


async def always_ready() -> list[Check]:
    return []


@dataclass(frozen=True)
class Limits:
    """Sizes a request may not exceed; kept small, as the app takes no uploads."""

    body: int = 262_144
    large_body: int = 1_048_576  # an article posted, a pasted playground text
    query_string: int = 8_192
    backtest_seconds: float = 5.0
    page_fetch_seconds: float = 15.0


@dataclass
class WebContext:
    """The app's dependencies; ``settings`` and ``rules`` are read anew on each request (reloads)."""

    settings: Callable[[], Settings]
    store: Store
    rules: Callable[[], Sequence[RuleSpec]]
    readiness: Callable[[], Awaitable[list[Check]]] = always_ready
    registry: CollectorRegistry | None = None
    atom_folders: Callable[[], Mapping[str, Path]] = dict
    ingest: Ingest | None = None  # None: a server that only reads (monitor web)
    outbox_changed: Callable[[], None] = lambda: None  # wake the dispatcher after a retry
    clock: Callable[[], datetime] = utcnow
    limits: Limits = field(default_factory=Limits)
    role: str = "daemon"  # or "web": shown in the page footer

    def __post_init__(self) -> None:
        settings = self.settings()
        self.views = Views(self.store)
        self.guard = Guard(settings.server.token.get_secret_value() if settings.server.token else None)
        self.bind_host = settings.server.host
        self.workbench = Workbench(dict(settings.language_models), settings.default_language)
        self.rule_files = RuleFiles(lambda: self.settings().rules, lambda: self.settings().channels.keys())
        self._reads = ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="monitor-web-read")
        self._by_id: tuple[Sequence[RuleSpec], dict[str, RuleSpec]] | None = None
        self._recent: dict[str, tuple[float, object]] = {}
        self._refreshing: dict[str, asyncio.Future[object]] = {}

    async def read(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """A database read off the event loop, on the web app's own threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reads, functools.partial(fn, *args, **kwargs))

    async def read_recent(self, key: str, seconds: float, fn: Callable[[], T]) -> T:
        """``fn()`` off the loop, its answer reused for ``seconds``: for figures that need not be to
        the second (hit counts per rule, the filters' choices) and would cost a scan per page view.

        One read at a time per key: when the answer is old, it is still given while a single
        fresh read runs, so twenty people opening the rules page start one scan, not twenty.
        """
        kept = self._recent.get(key)
        running = self._refreshing.get(key)
        if kept is not None and time.monotonic() - kept[0] < seconds:
            return cast(T, kept[1])
        if running is None or running.done():
            running = self._refreshing[key] = asyncio.ensure_future(self._refresh(key, fn))
            running.add_done_callback(_seen)  # a failed refresh answered by the old value: not lost
        if kept is not None:
            return cast(T, kept[1])
        return cast(T, await asyncio.shield(running))

    async def _refresh(self, key: str, fn: Callable[[], object]) -> object:
        value = await self.read(fn)
        self._recent[key] = (time.monotonic(), value)
        return value

    def spec(self, rule_id: str) -> RuleSpec | None:
        """A running rule by id (looked up in a table made once per rule list)."""
        listed = self.rules()
        if self._by_id is None or self._by_id[0] is not listed:
            self._by_id = (listed, {spec.id: spec for spec in listed})
        return self._by_id[1].get(rule_id)

    async def close(self) -> None:
        await self.rule_files.close()
        self.workbench.close()
        self._reads.shutdown(wait=False, cancel_futures=True)

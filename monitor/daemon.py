"""The long-running service: APScheduler jobs for folders, feeds and the outbox.

APScheduler 3.x (asyncio) only decides *when*; what a job does lives in the
pipeline.  Blocking work (spaCy, the database) runs in one worker thread so
the event loop stays free for HTTP and so SQLite has a single writer.
SIGTERM/SIGINT stop taking new work and let running jobs finish (bounded by a
timeout); SIGHUP reloads the rules, keeping the old ones if the new are broken.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.app import build_index, load_rule_set
from monitor.config import FeedSource, FolderSource, Settings
from monitor.errors import MonitorError, SourceError
from monitor.matching.rulefile import rule_files
from monitor.notify.base import Notifier, build_notifiers
from monitor.pipeline import Pipeline
from monitor.sources.feeds import FeedFetcher
from monitor.sources.netguard import AddressGuard, GuardedClient
from monitor.sources.parsepool import FeedParsers, parse_processes_for
from monitor.sources.watch import FolderWatcher

log = logging.getLogger(__name__)
T = TypeVar("T")
P = ParamSpec("P")
STOP_TIMEOUT_S = 30.0
SCAN_CHUNK_FILES = 500


def rules_signature(paths: list[Path]) -> tuple[tuple[str, int, int], ...]:
    """What the rule files look like on disk: a change in it means an edit to reload."""
    files, _missing = rule_files(paths)
    signature = []
    for path in files:
        with contextlib.suppress(OSError):  # deleted meanwhile: absent from the signature, as it should
            stat = path.stat()
            signature.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(signature)


class Daemon:
    """One process's schedule over one Pipeline."""

    def __init__(self, settings: Settings, pipeline: Pipeline) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-worker")
        self._deliver_lock = asyncio.Lock()
        self._running: set[asyncio.Task[Any]] = set()
        self._notifiers: dict[str, Notifier] = {}
        self._client: httpx.AsyncClient | None = None
        self._fetcher: FeedFetcher | None = None
        self._parsers: FeedParsers | None = None
        self._reload_lock = asyncio.Lock()
        self._rules_seen = rules_signature(settings.rules)

    async def run_blocking(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, functools.partial(fn, *args, **kwargs))

    # -- jobs ----------------------------------------------------------------------------
    async def scan_folder(self, folder: FolderSource) -> None:
        """Scan in chunks, so a large backfill neither holds the worker from feeds and alerts
        nor holds back its own first alerts until the last file is read."""
        paths = await self.run_blocking(self.pipeline.list_folder, folder)
        for start in range(0, len(paths), SCAN_CHUNK_FILES):
            if self.pipeline.stopping.is_set():
                log.info(
                    "stopping: folder=%s scanned up to file %d of %d; the rest next time",
                    folder.path,
                    start,
                    len(paths),
                )
                return
            chunk = paths[start : start + SCAN_CHUNK_FILES]
            report = await self.run_blocking(self.pipeline.scan_folder_files, folder, chunk)
            if report.files or report.failed:
                log.info("folder=%s %s", folder.path, report.summary())
            if report.alerts:
                await self.deliver()

    async def watch_folder(self, folder: FolderSource, stop: asyncio.Event) -> None:
        """Match files as they land (inotify), between the periodic scans that stay as a safety net
        for network filesystems and missed events."""
        try:
            async for paths in FolderWatcher(folder, stop_event=stop):
                report = await self.run_blocking(self.pipeline.scan_folder_files, folder, paths)
                if report.files or report.failed:
                    log.info("folder=%s (watched) %s", folder.path, report.summary())
                if report.alerts:
                    await self.deliver()
        except SourceError as exc:
            log.warning("folder=%s: %s; it is scanned every %gs instead", folder.path, exc, folder.interval)

    async def poll_feed(self, feed: FeedSource) -> None:
        assert self._fetcher is not None
        report = await self.pipeline.poll_feed(self._fetcher, feed, self.run_blocking, self._parsers)
        if report.alerts:
            await self.deliver()

    async def deliver(self) -> None:
        """Send due alerts until none is left that is due now (bounded by batch size per round)."""
        async with self._deliver_lock:
            while True:
                report = await self.pipeline.deliver_due(self._notifiers, self.run_blocking)
                full = (
                    report.sent + report.dead + report.retried + report.held
                    >= self.settings.delivery.batch_size
                )
                if not full or report.retried:  # a failing receiver waits for its backoff
                    return
                if self.pipeline.stopping.is_set():  # the rest waits in the outbox for the next start
                    return

    def reload_rules(self) -> None:
        """Rebuild the rule index off the loop and swap it in; a broken edit keeps the old rules.

        At start-up the valid rules run even if some are broken (there is nothing
        older to keep); on reload, any problem keeps the whole running set, so a
        half-finished edit never silently drops a rule that was working.
        """
        rules = load_rule_set(self.settings)
        running = len(self.pipeline.matcher.index)
        if rules.errors:
            log.error(
                "reload refused: %d problem(s) in the rule files; keeping the %d rules already "
                "running (fix them and reload again)",
                len(rules.errors),
                running,
            )
            return
        self.pipeline.matcher.swap(build_index(rules, self.pipeline.matcher.index.pipelines, self.settings))
        log.info("reload: %d rules active (were %d)", len(rules.rules), running)

    # -- lifecycle -----------------------------------------------------------------------
    async def run_once(self) -> int:
        """One pass of every source, then send what is due: for cron and for tests.

        SIGTERM/SIGINT end the pass early but cleanly: the file being read is
        finished and recorded, one round of alerts goes out, the rest waits.
        """
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop_soon)
        async with self._http():
            for folder in self.settings.sources.folders:
                if self.pipeline.stopping.is_set():
                    break
                await self._guarded(f"folder:{folder.path}", functools.partial(self.scan_folder, folder))
            await asyncio.gather(
                *(
                    self._guarded(f"feed:{feed.url}", functools.partial(self.poll_feed, feed))
                    for feed in self.settings.sources.feeds
                )
            )
            await self._guarded("deliver", self.deliver)
        self._worker.shutdown(wait=True)
        return 0

    def _stop_soon(self) -> None:
        log.info("stopping: finishing the file in hand, then one round of alerts")
        self.pipeline.stopping.set()

    async def run_once_delivery(self) -> int:
        """Send what is due and stop: ``monitor scan`` ends with this."""
        async with self._http():
            await self._guarded("deliver", self.deliver)
        self._worker.shutdown(wait=True)
        return 0

    async def run_forever(self) -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self._reload()))
        async with self._http():
            scheduler = AsyncIOScheduler(timezone=UTC)
            self._schedule(scheduler)
            scheduler.start()
            watchers = [
                asyncio.create_task(
                    self._guarded(f"watch:{f.path}", functools.partial(self.watch_folder, f, stop))
                )
                for f in self.settings.sources.folders
                if f.watch
            ]
            log.info(
                "monitor started: config=%s database=%s, %d folder(s), %d feed(s), channels=%s, %d rule(s)",
                self.settings.config_path or "built-in defaults",
                self.pipeline.store.engine.url.render_as_string(hide_password=True),
                len(self.settings.sources.folders),
                len(self.settings.sources.feeds),
                ",".join(self._notifiers) or "none",
                len(self.pipeline.matcher.index),
            )
            await stop.wait()
            log.info(
                "stopping: no new jobs; waiting up to %.0fs for %d running job(s)",
                STOP_TIMEOUT_S,
                len(self._running),
            )
            self.pipeline.stopping.set()
            if watchers:  # they end at ``stop``; a batch in hand is finished first
                await asyncio.wait(watchers, timeout=STOP_TIMEOUT_S)
            # Pause, not shutdown: APScheduler's asyncio executor cancels running jobs on
            # shutdown, and a scan cut mid-way would leave its alerts unsent until restart.
            scheduler.pause()
            if self._running:
                _done, pending = await asyncio.wait(set(self._running), timeout=STOP_TIMEOUT_S)
                if pending:
                    log.warning(
                        "stopping: %d job(s) still running after %.0fs, cancelled; "
                        "their work resumes at the next start",
                        len(pending),
                        STOP_TIMEOUT_S,
                    )
            scheduler.shutdown(wait=False)
        self._worker.shutdown(wait=True, cancel_futures=True)
        log.info("stopped")
        return 0

    async def _reload(self) -> None:
        log.info("SIGHUP: reloading rules")
        await self._guarded("reload", self.reload_in_background)

    async def reload_in_background(self) -> None:
        """Build the new index on a thread of its own: scans and alerts go on with the old one."""
        async with self._reload_lock:
            self._rules_seen = await asyncio.to_thread(rules_signature, self.settings.rules)
            await asyncio.to_thread(self.reload_rules)

    async def watch_rules(self) -> None:
        """Reload when a rule file is added, removed or edited (by size and modification time)."""
        seen = await asyncio.to_thread(rules_signature, self.settings.rules)
        if seen != self._rules_seen:
            log.info("rule files changed: reloading rules")
            await self.reload_in_background()

    def _schedule(self, scheduler: AsyncIOScheduler) -> None:
        now = datetime.now(UTC)
        for folder in self.settings.sources.folders:
            self._add(
                scheduler,
                f"folder:{folder.path}",
                functools.partial(self.scan_folder, folder),
                IntervalTrigger(seconds=max(folder.interval, 1.0)),
                now,
            )
        for feed in self.settings.sources.feeds:
            jitter = feed.jitter if feed.jitter is not None else feed.interval * 0.1
            first = now + timedelta(seconds=random.uniform(0, min(jitter, 10.0)))
            self._add(
                scheduler,
                f"feed:{feed.url}",
                functools.partial(self.poll_feed, feed),
                IntervalTrigger(seconds=max(feed.interval, 1.0), jitter=int(jitter) or None),
                first,
            )
        if self.settings.rules_reload_interval > 0:
            self._add(
                scheduler,
                "rules",
                self.watch_rules,
                IntervalTrigger(seconds=self.settings.rules_reload_interval),
                now + timedelta(seconds=self.settings.rules_reload_interval),
            )
        self._add(
            scheduler,
            "deliver",
            self.deliver,
            IntervalTrigger(seconds=max(self.settings.delivery.interval, 0.5)),
            now,
        )

    def _add(
        self,
        scheduler: AsyncIOScheduler,
        name: str,
        job: Callable[[], Awaitable[None]],
        trigger: IntervalTrigger,
        first: datetime,
    ) -> None:
        async def tracked() -> None:
            task = asyncio.current_task()
            assert task is not None
            self._running.add(task)
            try:
                await self._guarded(name, job)
            finally:
                self._running.discard(task)

        scheduler.add_job(
            tracked,
            trigger,
            id=name,
            name=name,
            next_run_time=first,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )

    async def _guarded(self, name: str, job: Callable[[], Awaitable[Any]]) -> None:
        """The daemon's one broad catch: a failing job is logged and runs again next time."""
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("job=%s failed: %s", name, exc, exc_info=not isinstance(exc, MonitorError))

    @contextlib.asynccontextmanager
    async def _http(self) -> AsyncIterator[None]:
        """The shared HTTP client and the notifiers, for the daemon's lifetime."""
        settings = self.settings
        http = settings.http
        guard = AddressGuard(allow_private=http.allow_private_networks)
        async with (
            httpx.AsyncClient(headers={"User-Agent": http.agent}, timeout=http.timeout) as client,
            GuardedClient(guard, headers={"User-Agent": http.agent}, timeout=http.timeout) as untrusted,
        ):
            self._client = client
            self._fetcher = FeedFetcher(
                client,
                max_concurrency=http.max_concurrency,
                per_host=http.per_host,
                user_agent=http.agent,
                untrusted=untrusted,
                connect_timeout=http.connect_timeout,
                read_timeout=http.read_timeout,
            )
            processes = parse_processes_for(settings.sources.feed_parsers, len(settings.sources.feeds))
            self._parsers = FeedParsers(processes, log_level=log.getEffectiveLevel()) if processes else None
            self._notifiers = build_notifiers(settings.channels, client, state_dir=settings.state_dir)
            try:
                yield
            finally:
                if self._parsers is not None:
                    await asyncio.to_thread(self._parsers.close)
                self._client = self._fetcher = self._parsers = None

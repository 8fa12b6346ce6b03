"""What the daemon's jobs do: scan folders, poll feeds, send alerts, prune history.

Each job is a short coroutine over the pipeline; the pipeline does the work.
Blocking work (spaCy, the database) runs in one worker thread, so the event
loop stays free for HTTP and ingestion has a single writer; delivery's
database work has a thread of its own, so alerts already recorded never wait
for a long scan or poll to finish (its short writes wait at most for the
ingestion batch in hand to commit).  When they run is
``monitor/service/schedule.py``'s business.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from monitor.config import FeedSource, FolderSource, Settings
from monitor.errors import MonitorError, SourceError
from monitor.metrics import Metrics
from monitor.models import Article
from monitor.pipeline.ingest import IngestReport, Pipeline
from monitor.service.connections import Connections
from monitor.sources.watch import FolderWatcher
from monitor.store.retention import PruneReport, Retention, cutoffs

__all__ = ["SCAN_CHUNK_FILES", "Jobs", "WorkerThreads", "run_guarded"]

log = logging.getLogger(__name__)
T = TypeVar("T")
P = ParamSpec("P")
SCAN_CHUNK_FILES = 500


async def run_guarded(name: str, job: Callable[[], Awaitable[Any]]) -> str:
    """The daemon's one broad catch: a failing job is logged and runs again next time."""
    try:
        await job()
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.error("job=%s failed: %s", name, exc, exc_info=not isinstance(exc, MonitorError))
        return "failed"
    return "ok"


class WorkerThreads:
    """The worker thread (ingestion, pruning) and the delivery thread the jobs' blocking work runs on."""

    def __init__(self) -> None:
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-worker")
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-deliver")

    async def run_blocking(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, functools.partial(fn, *args, **kwargs))

    async def run_delivery(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Delivery's blocking work, on its own thread: never queued behind ingestion."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._sender, functools.partial(fn, *args, **kwargs))

    def shutdown(self, *, cancel: bool = False) -> None:
        """Wait for the work in hand; ``cancel`` drops what is queued behind it."""
        self._worker.shutdown(wait=True, cancel_futures=cancel)
        self._sender.shutdown(wait=True, cancel_futures=cancel)


class Jobs:
    """The job bodies, over one pipeline; ``settings`` is read at each run, since a reload replaces it."""

    def __init__(
        self,
        pipeline: Pipeline,
        settings: Callable[[], Settings],
        metrics: Metrics,
        connections: Connections,
        threads: WorkerThreads,
    ) -> None:
        self.pipeline = pipeline
        self._settings = settings
        self.metrics = metrics
        self.connections = connections
        self.threads = threads
        self._deliver_lock = asyncio.Lock()
        self._woken: set[asyncio.Task[str]] = set()

    async def scan_folder(self, folder: FolderSource) -> None:
        """Scan in chunks, so a large backfill neither holds the worker from feeds and alerts
        nor holds back its own first alerts until the last file is read."""
        run = self.threads.run_blocking
        paths = await run(self.pipeline.list_folder, folder)
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
            report = await run(self.pipeline.scan_folder_files, folder, chunk)
            self._count("folder", report)
            if report.files or report.failed:
                log.info("folder=%s %s", folder.path, report.summary())
            if report.alerts:
                await self.deliver()

    async def watch_folder(self, folder: FolderSource, stop: asyncio.Event) -> None:
        """Match files as they land (inotify), between the periodic scans that stay as a safety net
        for network filesystems and missed events."""
        try:
            async for paths in FolderWatcher(folder, stop_event=stop):
                report = await self.threads.run_blocking(self.pipeline.scan_folder_files, folder, paths)
                self._count("folder", report)
                if report.files or report.failed:
                    log.info("folder=%s (watched) %s", folder.path, report.summary())
                if report.alerts:
                    await self.deliver()
        except SourceError as exc:
            log.warning("folder=%s: %s; it is scanned every %gs instead", folder.path, exc, folder.interval)

    async def poll_feed(self, feed: FeedSource) -> None:
        fetcher = self.connections.fetcher
        assert fetcher is not None
        parsers = self.connections.parsers
        report = await self.pipeline.poll_feed(fetcher, feed, self.threads.run_blocking, parsers)
        self._count("feed", report)
        if report.alerts:
            await self.deliver()

    async def deliver(self) -> None:
        """Send due alerts until none is left that is due now (bounded by batch size per round).

        Then the outbox's depth goes to /metrics, whoever asked for the round
        (the delivery job, or a scan that just queued alerts).
        """
        run = self.threads.run_delivery
        async with self._deliver_lock:
            while True:
                report = await self.pipeline.deliver_due(self.connections.notifiers, run)
                full = (
                    report.sent + report.dead + report.retried + report.held
                    >= self._settings().delivery.batch_size
                )
                if not full or report.retried:  # a failing receiver waits for its backoff
                    break
                if self.pipeline.stopping.is_set():  # the rest waits in the outbox for the next start
                    break
            self.metrics.pending(await run(self.pipeline.store.pending_by_channel))

    async def prune_history(self) -> None:
        """The retention policy, one round at a time on the worker, so ingestion runs in between.

        Replicas on one PostgreSQL take turns (the ``retention`` lease): one prunes, the others skip.
        """
        run = self.threads.run_blocking
        claims = self.pipeline.claims
        if not await run(claims.task, "retention", datetime.now(UTC)):
            return
        try:
            retention = Retention(self.pipeline.store.engine)
            cut = cutoffs(self._settings().retention, datetime.now(UTC))
            total = PruneReport()
            while not self.pipeline.stopping.is_set():
                report = await run(retention.prune_round, cut)
                total.merge(report)
                if not report.total:
                    break
            (log.info if total.total else log.debug)("retention: pruned %s", total.summary())
        finally:
            await run(claims.release_task, "retention")

    async def ingest(self, articles: Sequence[Article]) -> None:
        """Articles from the web API, matched and recorded as a dropped file's are; alerts go out now."""
        result = await self.threads.run_blocking(self.pipeline.process, articles)
        self.metrics.ingested("api", result.articles, result.duplicates, result.hits, result.deliveries)
        if result.deliveries:
            self.wake_delivery()

    def wake_delivery(self) -> None:
        """Send what is due now rather than at the next delivery tick (a retry from the web app)."""
        task = asyncio.create_task(run_guarded("deliver", self.deliver))
        self._woken.add(task)
        task.add_done_callback(self._woken.discard)

    def _count(self, kind: str, report: IngestReport) -> None:
        self.metrics.ingested(kind, report.articles, report.duplicates, report.hits, report.alerts)

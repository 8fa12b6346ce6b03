"""The long-running service: APScheduler jobs for folders, feeds and the outbox.

APScheduler 3.x (asyncio) only decides *when*; what a job does lives in the
pipeline.  Blocking work (spaCy, the database) runs in one worker thread so
the event loop stays free for HTTP and ingestion has a single writer; delivery's
database work has a thread of its own, so alerts already recorded never wait
for a long scan or poll to finish (its short writes wait at most for the
ingestion batch in hand to commit).
SIGTERM/SIGINT stop taking new work and let running jobs finish (bounded by a
timeout); SIGHUP reloads the configuration and the rules, keeping the old ones
if the new are broken.  Every job run is bounded by ``jobs.timeout``, a
heartbeat job pings systemd's watchdog (a stuck loop stops the pings), and the
web app (monitor/web/, served on this loop by monitor/service/ops.py) shows and
reports on all of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config import (
    AtomChannel,
    FolderSource,
    ServiceEnvironment,
    Settings,
    service_environment,
)
from monitor.metrics import Metrics
from monitor.pipeline.ingest import Pipeline
from monitor.service.connections import Connections
from monitor.service.health import Health
from monitor.service.jobs import Jobs, WorkerThreads, run_guarded
from monitor.service.leases import holding_leases
from monitor.service.ops import AppServer
from monitor.service.reloading import Reloader
from monitor.service.systemd import SystemdNotifier
from monitor.service.wiring import index_build_seconds

log = logging.getLogger(__name__)
WebFactory = Callable[["Daemon"], Any]
"""Builds the ASGI app the daemon serves, given the daemon (its store, rules, metrics, ingest)."""
STOP_TIMEOUT_S = 30.0
RETENTION_FIRST_S = 60.0  # the first prune waits for start-up's first scans and polls


class Daemon:
    """One process's schedule over one Pipeline."""

    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline,
        service: ServiceEnvironment | None = None,
        web: WebFactory | None = None,
    ) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.web = web  # builds the ASGI app the server runs (monitor.web.for_daemon), given this daemon
        service = service_environment() if service is None else service
        self.systemd = SystemdNotifier(service.notify_socket, service.watchdog_usec)
        self.metrics = Metrics()
        pipeline.metrics = self.metrics
        self.metrics.index_built(len(pipeline.matcher.index), index_build_seconds(pipeline.matcher.index))
        self.health = Health(pipeline, self.systemd, self.metrics)
        self._scheduler: AsyncIOScheduler | None = None
        self._signatures: dict[str, object] = {}
        self._watchers: dict[str, tuple[FolderSource, asyncio.Event, asyncio.Task[str]]] = {}
        self._running: set[asyncio.Task[Any]] = set()
        self.connections = Connections()
        self.threads = WorkerThreads()
        self.jobs = Jobs(pipeline, lambda: self.settings, self.metrics, self.connections, self.threads)
        self.reloader = Reloader(pipeline, self.metrics, self.connections, lambda: self.settings, self._apply)

    def _apply(self, settings: Settings) -> None:
        """New settings from a reload: the jobs and the folder watchers follow them from now on."""
        self.settings = self.pipeline.settings = settings
        self._reschedule(settings)
        self._rewatch(settings)

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
                await run_guarded(f"folder:{folder.path}", functools.partial(self.jobs.scan_folder, folder))
            await asyncio.gather(
                *(
                    run_guarded(f"feed:{feed.url}", functools.partial(self.jobs.poll_feed, feed))
                    for feed in self.settings.sources.feeds
                )
            )
            await run_guarded("deliver", self.jobs.deliver)
        self.threads.shutdown()
        return 0

    def _stop_soon(self) -> None:
        log.info("stopping: finishing the file in hand, then one round of alerts")
        self.pipeline.stopping.set()

    async def run_once_delivery(self) -> int:
        """Send what is due and stop: ``monitor scan`` ends with this."""
        async with self._http():
            await run_guarded("deliver", self.jobs.deliver)
        self.threads.shutdown()
        return 0

    async def run_forever(self) -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self._reload()))
        async with self._http():
            server = await self._start_server()
            scheduler = self.schedule(AsyncIOScheduler(timezone=UTC))
            scheduler.start()
            self._rewatch(self.settings)
            log.info(
                "monitor started: config=%s database=%s, %d folder(s), %d feed(s), channels=%s, %d rule(s)",
                self.settings.config_path or "built-in defaults",
                self.pipeline.store.engine.url.render_as_string(hide_password=True),
                len(self.settings.sources.folders),
                len(self.settings.sources.feeds),
                ",".join(self.connections.notifiers) or "none",
                len(self.pipeline.matcher.index),
            )
            self.systemd.ready(self._status())
            await stop.wait()
            self.systemd.stopping("stopping: finishing running jobs")
            await self._drain(scheduler)
            if server is not None:
                await server.close()
        self.threads.shutdown(cancel=True)
        log.info("stopped")
        return 0

    async def _drain(self, scheduler: AsyncIOScheduler) -> None:
        log.info(
            "stopping: no new jobs; waiting up to %.0fs for %d running job(s)",
            STOP_TIMEOUT_S,
            len(self._running),
        )
        self.pipeline.stopping.set()
        self.reloader.abandon()
        for _folder, event, _task in self._watchers.values():
            event.set()
        watchers = [task for _folder, _event, task in self._watchers.values()]
        if watchers:  # they end at their event; a batch in hand is finished first
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

    def _status(self) -> str:
        return (
            f"{len(self.pipeline.matcher.index)} rules, {len(self.settings.sources.feeds)} feeds, "
            f"{len(self.settings.sources.folders)} folders"
        )

    async def _reload(self) -> None:
        log.info("SIGHUP: reloading configuration and rules")
        self.systemd.reloading()
        try:
            await run_guarded("reload", self.reloader.reload_config)
        finally:
            self.systemd.ready(self._status())

    def _jobs(
        self, settings: Settings
    ) -> dict[str, tuple[object, Callable[[], Awaitable[None]], IntervalTrigger, datetime]]:
        """Every scheduled job: name → (what it depends on, body, trigger, first run)."""
        now = datetime.now(UTC)
        heartbeat = self.health.heartbeat
        jobs: dict[str, tuple[object, Callable[[], Awaitable[None]], IntervalTrigger, datetime]] = {
            "heartbeat": (heartbeat, self.health.heartbeat_tick, IntervalTrigger(seconds=heartbeat), now)
        }
        for folder in settings.sources.folders:
            jobs[f"folder:{folder.path}"] = (
                folder,
                functools.partial(self.jobs.scan_folder, folder),
                IntervalTrigger(seconds=max(folder.interval, 1.0)),
                now,
            )
        for feed in settings.sources.feeds:
            jitter = feed.jitter if feed.jitter is not None else feed.interval * 0.1
            jobs[f"feed:{feed.url}"] = (
                feed,
                functools.partial(self.jobs.poll_feed, feed),
                IntervalTrigger(seconds=max(feed.interval, 1.0), jitter=int(jitter) or None),
                now + timedelta(seconds=random.uniform(0, min(jitter, 10.0))),
            )
        if settings.rules_reload_interval > 0:
            jobs["rules"] = (
                settings.rules_reload_interval,
                self.reloader.watch_rules,
                IntervalTrigger(seconds=settings.rules_reload_interval),
                now + timedelta(seconds=settings.rules_reload_interval),
            )
        if settings.retention.enabled:
            jobs["retention"] = (
                settings.retention,
                self.jobs.prune_history,
                IntervalTrigger(seconds=settings.retention.interval),
                now + timedelta(seconds=RETENTION_FIRST_S),
            )
        interval = max(settings.delivery.interval, 0.5)
        jobs["deliver"] = (interval, self.jobs.deliver, IntervalTrigger(seconds=interval), now)
        return jobs

    def schedule(self, scheduler: AsyncIOScheduler) -> AsyncIOScheduler:
        """Put every job the settings ask for on ``scheduler`` (not started: tests look at it)."""
        self._scheduler = scheduler
        self._reschedule(self.settings)
        return scheduler

    def _reschedule(self, settings: Settings) -> None:
        """Add the jobs the settings want, drop the others, replace the changed ones.

        A run in progress of a replaced or dropped job finishes; the next run is the new one's.
        """
        assert self._scheduler is not None
        wanted = self._jobs(settings)
        for name in self._signatures.keys() - wanted.keys():
            self._scheduler.remove_job(name)
            del self._signatures[name]
            log.info("job=%s removed", name)
        for name, (signature, job, trigger, first) in wanted.items():
            if name in self._signatures and self._signatures[name] == signature:
                continue
            if name in self._signatures:
                self._scheduler.remove_job(name)
                log.info("job=%s changed: rescheduled", name)
            self._add(self._scheduler, name, job, trigger, first)
            self._signatures[name] = signature

    def _rewatch(self, settings: Settings) -> None:
        """One inotify watcher per folder that asks for it, started and stopped as the config says."""
        wanted = {str(f.path): f for f in settings.sources.folders if f.watch}
        for key, (folder, event, _task) in list(self._watchers.items()):
            if wanted.get(key) != folder:
                event.set()  # it finishes the batch in hand, then ends
                del self._watchers[key]
        for key, folder in wanted.items():
            if key not in self._watchers:
                event = asyncio.Event()
                task = asyncio.create_task(
                    run_guarded(
                        f"watch:{folder.path}", functools.partial(self.jobs.watch_folder, folder, event)
                    )
                )
                self._watchers[key] = (folder, event, task)

    def _add(
        self,
        scheduler: AsyncIOScheduler,
        name: str,
        job: Callable[[], Awaitable[None]],
        trigger: IntervalTrigger,
        first: datetime,
    ) -> None:
        kind = name.split(":", 1)[0]

        async def tracked() -> None:
            task = asyncio.current_task()
            assert task is not None
            self._running.add(task)
            timeout = self.settings.jobs.timeout
            outcome = "ok"
            try:
                async with asyncio.timeout(timeout):
                    outcome = await run_guarded(name, job)
            except TimeoutError:
                outcome = "timeout"
                log.error(
                    "job=%s timed out after %gs: cancelled; it runs again at its next time", name, timeout
                )
            finally:
                self._running.discard(task)
                self.metrics.job_runs.labels(kind, outcome).inc()

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

    # -- the web app and the operations endpoints --------------------------------------
    async def _start_server(self) -> AppServer | None:
        config = self.settings.server
        if not config.enabled or self.web is None:
            return None
        token = config.token.get_secret_value() if config.token else None
        server = AppServer(self.web(self), config.host, config.port, token=token)
        host, port = await server.start()
        shown = f"[{host}]" if ":" in host else host
        log.info(
            "web app listening on http://%s:%d/ — open it in a browser (API: /api/v1/, ops: /livez /readyz "
            "/metrics /atom/)%s",
            shown,
            port,
            "" if token is None else "; log in with server.token",
        )
        return server

    def atom_folders(self) -> dict[str, Path]:
        settings = self.settings
        return {
            name: channel.folder or settings.state_dir / "atom"
            for name, channel in settings.channels.items()
            if isinstance(channel, AtomChannel)
        }

    @contextlib.asynccontextmanager
    async def _http(self) -> AsyncIterator[None]:
        """The connections for the daemon's lifetime, and this replica's leases within them."""
        async with self.connections.open(self.settings):
            self.metrics.channels(list(self.connections.notifiers))
            async with holding_leases(self.pipeline.claims):
                yield

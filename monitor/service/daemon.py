"""The long-running service, put together: one process's jobs, schedule, reloads and web app.

Each part has a module of its own and is given what it needs here:
``jobs.py`` (what a job does, on the worker threads), ``schedule.py`` (when:
APScheduler, folder watchers), ``reloading.py`` (SIGHUP and rule-file
changes), ``health.py`` (heartbeat, readiness), ``connections.py`` (HTTP
clients, feed parsers, notifiers) and ``leases.py`` (replicas sharing one
PostgreSQL).  The daemon owns the settings in force, the signals and the
order of start and stop: SIGTERM/SIGINT stop taking new work and let running
jobs finish (bounded by ``STOP_TIMEOUT_S``); SIGHUP reloads the configuration
and the rules, keeping the old ones if the new are broken.  The web app
(monitor/web/, served on this loop by monitor/service/ops.py) shows and
reports on all of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import AsyncIterator, Callable
from datetime import UTC
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.config import AtomChannel, ServiceEnvironment, Settings, service_environment
from monitor.metrics import Metrics
from monitor.pipeline.ingest import Pipeline
from monitor.service.connections import Connections
from monitor.service.health import Health
from monitor.service.jobs import Jobs, WorkerThreads, run_guarded
from monitor.service.leases import holding_leases
from monitor.service.ops import AppServer
from monitor.service.reloading import Reloader
from monitor.service.schedule import JobSchedule
from monitor.service.systemd import SystemdNotifier
from monitor.service.wiring import index_build_seconds

log = logging.getLogger(__name__)
WebFactory = Callable[["Daemon"], Any]
"""Builds the ASGI app the daemon serves, given the daemon (its store, rules, metrics, ingest)."""
STOP_TIMEOUT_S = 30.0


class Daemon:
    """One process's schedule over one Pipeline: its parts built, started and stopped in order."""

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
        self.connections = Connections()
        self.threads = WorkerThreads()
        self.jobs = Jobs(pipeline, lambda: self.settings, self.metrics, self.connections, self.threads)
        self.reloader = Reloader(pipeline, self.metrics, self.connections, lambda: self.settings, self._apply)
        self.schedule = JobSchedule(
            self.jobs, self.health, self.reloader.watch_rules, lambda: self.settings, self.metrics
        )

    def _apply(self, settings: Settings) -> None:
        """New settings from a reload: the jobs and the folder watchers follow them from now on."""
        self.settings = self.pipeline.settings = settings
        self.schedule.reschedule(settings)
        self.schedule.rewatch(settings)

    # -- lifecycle -----------------------------------------------------------------------
    async def run_once(self) -> int:
        """One pass of every source, then send what is due: for cron and for tests.

        SIGTERM/SIGINT end the pass early but cleanly: the file being read is
        finished and recorded, one round of alerts goes out, the rest waits.
        """
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop_soon)
        async with self._connected():
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
        async with self._connected():
            await run_guarded("deliver", self.jobs.deliver)
        self.threads.shutdown()
        return 0

    async def run_forever(self) -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self._reload()))
        async with self._connected():
            server = await self._start_server()
            self.schedule.attach(AsyncIOScheduler(timezone=UTC)).start()
            self.schedule.rewatch(self.settings)
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
            await self._drain()
            if server is not None:
                await server.close()
        self.threads.shutdown(cancel=True)
        log.info("stopped")
        return 0

    async def _drain(self) -> None:
        log.info(
            "stopping: no new jobs; waiting up to %.0fs for %d running job(s)",
            STOP_TIMEOUT_S,
            self.schedule.running,
        )
        self.pipeline.stopping.set()
        self.reloader.abandon()
        await self.schedule.stop_watching(STOP_TIMEOUT_S)  # a batch in hand is finished first
        await self.schedule.finish(STOP_TIMEOUT_S)

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
        """Where the running channels' Atom feeds are, for the web app's /atom/ (a reload may move them)."""
        settings = self.settings
        return {
            name: channel.folder or settings.state_dir / "atom"
            for name, channel in settings.channels.items()
            if isinstance(channel, AtomChannel)
        }

    @contextlib.asynccontextmanager
    async def _connected(self) -> AsyncIterator[None]:
        """The connections for the daemon's lifetime, and this replica's leases within them."""
        async with self.connections.open(self.settings):
            self.metrics.channels(list(self.connections.notifiers))
            async with holding_leases(self.pipeline.claims):
                yield

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
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import SQLAlchemyError

from monitor.config import (
    AtomChannel,
    FeedSource,
    FolderSource,
    ServiceEnvironment,
    Settings,
    load_settings,
    secret_values,
    service_environment,
)
from monitor.errors import ConfigError, MonitorError, SourceError
from monitor.logs import remember_secrets
from monitor.matching.rulefile import RuleSet, files_signature
from monitor.metrics import Metrics
from monitor.models import Article
from monitor.notify.base import Notifier, build_notifiers
from monitor.pipeline.ingest import IngestReport, Pipeline
from monitor.service.background import Abandonable, Abandoned
from monitor.service.ops import AppServer, Check
from monitor.service.systemd import SystemdNotifier
from monitor.service.wiring import build_index, http_client, index_build_seconds, load_rule_set
from monitor.sources.feeds import FeedFetcher
from monitor.sources.netguard import AddressGuard, GuardedClient
from monitor.sources.parsepool import FeedParsers, parse_processes_for
from monitor.sources.watch import FolderWatcher
from monitor.store.retention import PruneReport, Retention, cutoffs

log = logging.getLogger(__name__)
WebFactory = Callable[["Daemon"], Any]
"""Builds the ASGI app the daemon serves, given the daemon (its store, rules, metrics, ingest)."""
T = TypeVar("T")
P = ParamSpec("P")
STOP_TIMEOUT_S = 30.0
SCAN_CHUNK_FILES = 500
RETENTION_FIRST_S = 60.0  # the first prune waits for start-up's first scans and polls
HEARTBEAT_S = 5.0  # the scheduler's heartbeat, or half the watchdog deadline if that is shorter
# What SIGHUP cannot change in a running process: these keep their old value until a restart.
RESTART_ONLY = (
    "database",
    "state_dir",
    "language_models",
    "default_language",
    "http",
    "dedup",
    "server",
    "log_level",
    "log_format",
)


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
        watchdog = self.systemd.watchdog_interval
        self.heartbeat = min(HEARTBEAT_S, watchdog) if watchdog else HEARTBEAT_S
        self._last_tick: float | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._signatures: dict[str, object] = {}
        self._watchers: dict[str, tuple[FolderSource, asyncio.Event, asyncio.Task[str]]] = {}
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-worker")
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-deliver")
        self._deliver_lock = asyncio.Lock()
        self._running: set[asyncio.Task[Any]] = set()
        self._notifiers: dict[str, Notifier] = {}
        self._client: httpx.AsyncClient | None = None
        self._fetcher: FeedFetcher | None = None
        self._parsers: FeedParsers | None = None
        self._reload_lock = asyncio.Lock()
        self._reloads = Abandonable("rule reload")  # a stop never waits for one
        self._rules_seen = files_signature(settings.rules)
        self._woken: set[asyncio.Task[str]] = set()

    async def run_blocking(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, functools.partial(fn, *args, **kwargs))

    async def run_delivery(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Delivery's blocking work, on its own thread: never queued behind ingestion."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._sender, functools.partial(fn, *args, **kwargs))

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
                report = await self.run_blocking(self.pipeline.scan_folder_files, folder, paths)
                self._count("folder", report)
                if report.files or report.failed:
                    log.info("folder=%s (watched) %s", folder.path, report.summary())
                if report.alerts:
                    await self.deliver()
        except SourceError as exc:
            log.warning("folder=%s: %s; it is scanned every %gs instead", folder.path, exc, folder.interval)

    async def poll_feed(self, feed: FeedSource) -> None:
        assert self._fetcher is not None
        report = await self.pipeline.poll_feed(self._fetcher, feed, self.run_blocking, self._parsers)
        self._count("feed", report)
        if report.alerts:
            await self.deliver()

    async def deliver(self) -> None:
        """Send due alerts until none is left that is due now (bounded by batch size per round).

        Then the outbox's depth goes to /metrics, whoever asked for the round
        (the delivery job, or a scan that just queued alerts).
        """
        async with self._deliver_lock:
            while True:
                report = await self.pipeline.deliver_due(self._notifiers, self.run_delivery)
                full = (
                    report.sent + report.dead + report.retried + report.held
                    >= self.settings.delivery.batch_size
                )
                if not full or report.retried:  # a failing receiver waits for its backoff
                    break
                if self.pipeline.stopping.is_set():  # the rest waits in the outbox for the next start
                    break
            self.metrics.pending(await self.run_delivery(self.pipeline.store.pending_by_channel))

    async def prune_history(self) -> None:
        """The retention policy, one round at a time on the worker, so ingestion runs in between.

        Replicas on one PostgreSQL take turns (the ``retention`` lease): one prunes, the others skip.
        """
        claims = self.pipeline.claims
        if not await self.run_blocking(claims.task, "retention", datetime.now(UTC)):
            return
        try:
            retention = Retention(self.pipeline.store.engine)
            cut = cutoffs(self.settings.retention, datetime.now(UTC))
            total = PruneReport()
            while not self.pipeline.stopping.is_set():
                report = await self.run_blocking(retention.prune_round, cut)
                total.merge(report)
                if not report.total:
                    break
            (log.info if total.total else log.debug)("retention: pruned %s", total.summary())
        finally:
            await self.run_blocking(claims.release_task, "retention")

    def _count(self, kind: str, report: IngestReport) -> None:
        self.metrics.ingested(kind, report.articles, report.duplicates, report.hits, report.alerts)

    async def heartbeat_tick(self) -> None:
        """Run by the scheduler: proof for /readyz and systemd's watchdog that jobs still start."""
        self._last_tick = time.monotonic()
        self.metrics.last_tick.set(time.time())
        self.systemd.watchdog()

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
        self._swap_index(rules, self.settings)
        log.info("reload: %d rules active (were %d)", len(rules.rules), running)

    def _swap_index(self, rules: RuleSet, settings: Settings) -> None:
        running = self.pipeline.matcher.index
        index = build_index(rules, running.pipelines, settings, also=running.languages)
        self.pipeline.matcher.swap(index)
        self.metrics.index_built(len(index), index_build_seconds(index))

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
        self._shutdown_workers()
        return 0

    def _shutdown_workers(self, *, cancel: bool = False) -> None:
        self._worker.shutdown(wait=True, cancel_futures=cancel)
        self._sender.shutdown(wait=True, cancel_futures=cancel)

    def _stop_soon(self) -> None:
        log.info("stopping: finishing the file in hand, then one round of alerts")
        self.pipeline.stopping.set()

    async def run_once_delivery(self) -> int:
        """Send what is due and stop: ``monitor scan`` ends with this."""
        async with self._http():
            await self._guarded("deliver", self.deliver)
        self._shutdown_workers()
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
                ",".join(self._notifiers) or "none",
                len(self.pipeline.matcher.index),
            )
            self.systemd.ready(self._status())
            await stop.wait()
            self.systemd.stopping("stopping: finishing running jobs")
            await self._drain(scheduler)
            if server is not None:
                await server.close()
        self._shutdown_workers(cancel=True)
        log.info("stopped")
        return 0

    async def _drain(self, scheduler: AsyncIOScheduler) -> None:
        log.info(
            "stopping: no new jobs; waiting up to %.0fs for %d running job(s)",
            STOP_TIMEOUT_S,
            len(self._running),
        )
        self.pipeline.stopping.set()
        self._reloads.abandon()
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
            await self._guarded("reload", self.reload_config)
        finally:
            self.systemd.ready(self._status())

    async def reload_in_background(self) -> None:
        """Build the new index on a thread of its own: scans and alerts go on with the old one."""
        async with self._reload_lock:
            self._rules_seen = await asyncio.to_thread(files_signature, self.settings.rules)
            with contextlib.suppress(Abandoned):
                await self._reloads.run(self.reload_rules)

    async def reload_config(self) -> None:
        """Re-read monitor.yaml and the rules; apply channels, rules and the schedule together.

        Running jobs finish with what they started with.  A broken config, a broken
        rule or a channel that cannot be built refuses the whole reload, so the
        running set is never half-changed.  Settings in RESTART_ONLY keep their value.
        """
        if self.settings.config_path is None:
            await self.reload_in_background()
            return
        with contextlib.suppress(Abandoned):
            await self._reload_config()

    async def _reload_config(self) -> None:
        async with self._reload_lock:
            new = await self._reloads.run(self._read_settings)
            rules = await self._reloads.run(load_rule_set, new) if new is not None else None
            if new is None or rules is None or rules.errors:
                if rules is not None:
                    log.error("reload refused: %d problem(s) in the rule files", len(rules.errors))
                log.error(
                    "reload refused: keeping the running configuration and %d rules", self._rule_count()
                )
                self.metrics.reloads.labels("refused").inc()
                return
            assert self._client is not None
            fresh = build_notifiers(new.channels, self._client, state_dir=new.state_dir)
            running = self._rule_count()
            await self._reloads.run(self._swap_index, rules, new)
            self._rules_seen = await asyncio.to_thread(files_signature, new.rules)
            old = self.settings
            self._notifiers = {  # an unchanged channel keeps its notifier (and its pacing)
                name: self._notifiers[name] if old.channels.get(name) == channel else fresh[name]
                for name, channel in new.channels.items()
            }
            self.settings = self.pipeline.settings = new
            remember_secrets(secret_values(new))  # a new channel's secrets are masked in logs too
            self.metrics.channels(list(self._notifiers))
            self._reschedule(new)
            self._rewatch(new)
            self.metrics.reloads.labels("ok").inc()
            log.info("reload: %d rules active (were %d)", len(rules.rules), running)

    def _rule_count(self) -> int:
        return len(self.pipeline.matcher.index)

    def _read_settings(self) -> Settings | None:
        """The config file as it is now, with what needs a restart kept as it runs."""
        old = self.settings
        try:
            new = load_settings(str(old.config_path))
        except ConfigError as exc:
            log.error("reload: the configuration is invalid: %s", exc)
            return None
        for key in RESTART_ONLY:
            if getattr(new, key) != getattr(old, key):
                log.warning("reload: %s changed; it takes effect at the next restart", key)
        return new.model_copy(update={key: getattr(old, key) for key in RESTART_ONLY})

    async def watch_rules(self) -> None:
        """Reload when a rule file is added, removed or edited (by size and modification time)."""
        seen = await asyncio.to_thread(files_signature, self.settings.rules)
        if seen != self._rules_seen:
            log.info("rule files changed: reloading rules")
            await self.reload_in_background()

    def _jobs(
        self, settings: Settings
    ) -> dict[str, tuple[object, Callable[[], Awaitable[None]], IntervalTrigger, datetime]]:
        """Every scheduled job: name → (what it depends on, body, trigger, first run)."""
        now = datetime.now(UTC)
        jobs: dict[str, tuple[object, Callable[[], Awaitable[None]], IntervalTrigger, datetime]] = {
            "heartbeat": (self.heartbeat, self.heartbeat_tick, IntervalTrigger(seconds=self.heartbeat), now)
        }
        for folder in settings.sources.folders:
            jobs[f"folder:{folder.path}"] = (
                folder,
                functools.partial(self.scan_folder, folder),
                IntervalTrigger(seconds=max(folder.interval, 1.0)),
                now,
            )
        for feed in settings.sources.feeds:
            jitter = feed.jitter if feed.jitter is not None else feed.interval * 0.1
            jobs[f"feed:{feed.url}"] = (
                feed,
                functools.partial(self.poll_feed, feed),
                IntervalTrigger(seconds=max(feed.interval, 1.0), jitter=int(jitter) or None),
                now + timedelta(seconds=random.uniform(0, min(jitter, 10.0))),
            )
        if settings.rules_reload_interval > 0:
            jobs["rules"] = (
                settings.rules_reload_interval,
                self.watch_rules,
                IntervalTrigger(seconds=settings.rules_reload_interval),
                now + timedelta(seconds=settings.rules_reload_interval),
            )
        if settings.retention.enabled:
            jobs["retention"] = (
                settings.retention,
                self.prune_history,
                IntervalTrigger(seconds=settings.retention.interval),
                now + timedelta(seconds=RETENTION_FIRST_S),
            )
        interval = max(settings.delivery.interval, 0.5)
        jobs["deliver"] = (interval, self.deliver, IntervalTrigger(seconds=interval), now)
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
                    self._guarded(f"watch:{folder.path}", functools.partial(self.watch_folder, folder, event))
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
                    outcome = await self._guarded(name, job)
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

    async def _guarded(self, name: str, job: Callable[[], Awaitable[Any]]) -> str:
        """The daemon's one broad catch: a failing job is logged and runs again next time."""
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("job=%s failed: %s", name, exc, exc_info=not isinstance(exc, MonitorError))
            return "failed"
        return "ok"

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

    async def ingest(self, articles: Sequence[Article]) -> None:
        """Articles from the web API, matched and recorded as a dropped file's are; alerts go out now."""
        result = await self.run_blocking(self.pipeline.process, articles)
        self.metrics.ingested("api", result.articles, result.duplicates, result.hits, result.deliveries)
        if result.deliveries:
            self.wake_delivery()

    def wake_delivery(self) -> None:
        """Send what is due now rather than at the next delivery tick (a retry from the web app)."""
        task = asyncio.create_task(self._guarded("deliver", self.deliver))
        self._woken.add(task)
        task.add_done_callback(self._woken.discard)

    async def readiness(self) -> list[Check]:
        """Database reachable, rules loaded, scheduler ticking, not stopping: what /readyz reports."""
        checks = [await self._database_check()]
        rules = self._rule_count()
        checks.append(Check("rules", rules > 0, f"{rules} rules" if rules else "no rule loaded"))
        age = None if self._last_tick is None else time.monotonic() - self._last_tick
        limit = max(15.0, 3 * self.heartbeat)
        if age is None:
            checks.append(Check("scheduler", False, "not started yet"))
        else:
            checks.append(Check("scheduler", age <= limit, f"last tick {age:.1f}s ago (limit {limit:g}s)"))
        stopping = self.pipeline.stopping.is_set()
        checks.append(Check("running", not stopping, "stopping" if stopping else ""))
        stalled = self.pipeline.outbox.stalled
        checks.append(Check("delivery", stalled is None, stalled or ""))
        return checks

    async def _database_check(self) -> Check:
        try:
            await asyncio.wait_for(asyncio.to_thread(self._ping_database), timeout=5.0)
        except TimeoutError:
            return Check("database", False, "no answer within 5s")
        except (SQLAlchemyError, OSError) as exc:  # what went wrong is the answer
            return Check("database", False, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        return Check("database", True)

    def _ping_database(self) -> None:
        with self.pipeline.store.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")

    def atom_folders(self) -> dict[str, Path]:
        settings = self.settings
        return {
            name: channel.folder or settings.state_dir / "atom"
            for name, channel in settings.channels.items()
            if isinstance(channel, AtomChannel)
        }

    @contextlib.asynccontextmanager
    async def _http(self) -> AsyncIterator[None]:
        """The shared HTTP client and the notifiers, for the daemon's lifetime."""
        settings = self.settings
        http = settings.http
        guard = AddressGuard(allow_private=http.allow_private_networks)
        async with (
            http_client(settings) as client,
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
            self.metrics.channels(list(self._notifiers))
            try:
                async with self._holding_leases():
                    yield
            finally:
                if self._parsers is not None:
                    await asyncio.to_thread(self._parsers.close)
                self._client = self._fetcher = self._parsers = None

    @contextlib.asynccontextmanager
    async def _holding_leases(self) -> AsyncIterator[None]:
        """Renew this replica's leases while it runs (also while it drains at a stop), end them after.

        Off the worker thread: a long scan must not let its own lease lapse.
        Nothing to do on SQLite, where one process does all the work.
        """
        claims = self.pipeline.claims
        if not claims.shared:
            yield
            return

        async def heartbeat() -> None:
            while True:
                await asyncio.sleep(claims.ttl / 3)
                try:
                    await asyncio.to_thread(claims.renew, datetime.now(UTC))
                except MonitorError as exc:
                    log.warning("leases not renewed (%s): they lapse within %.0fs", exc, claims.ttl)

        task = asyncio.create_task(heartbeat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            try:
                released = await asyncio.to_thread(claims.release_all)
                log.info("replica=%s released %d lease(s)", claims.owner, released)
            except MonitorError as exc:
                log.warning("leases not released (%s): they lapse in %.0fs", exc, claims.ttl)

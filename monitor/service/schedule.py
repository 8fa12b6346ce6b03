"""When the daemon's jobs run: one APScheduler job per folder and per feed, and the house jobs.

APScheduler 3.x (asyncio) only decides *when*; what a job does is
``monitor/service/jobs.py``'s.  Watchers (inotify) run beside the schedule: one
per watched folder, and one over the rule files (``monitor/service/rulewatch.py``)
that runs the periodic rule check as soon as a rule file is saved.  Every run is bounded by ``jobs.timeout``,
guarded (a failure is logged, the job runs again at its next time), counted
in /metrics, and never overlaps itself.  A reload hands new settings to
:meth:`JobSchedule.reschedule` and :meth:`JobSchedule.rewatch`, which change
only the jobs and folder watchers whose settings changed.  At a stop, the
daemon stops the watchers and then lets the running jobs finish.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config import FolderSource, Settings
from monitor.metrics import Metrics
from monitor.service.health import Health
from monitor.service.jobs import Jobs, run_guarded
from monitor.service.rulewatch import watch_rule_files

__all__ = ["RETENTION_FIRST_S", "JobSchedule"]

log = logging.getLogger(__name__)
RETENTION_FIRST_S = 60.0  # the first prune waits for start-up's first scans and polls
Job = Callable[[], Awaitable[None]]
Timed = tuple[object, Job, IntervalTrigger, datetime]
"""A scheduled job: what it depends on (a change reschedules it), its body, its trigger, its first run."""


class JobSchedule:
    """The jobs the settings ask for, on one scheduler, and one inotify watcher per watched folder."""

    def __init__(
        self,
        jobs: Jobs,
        health: Health,
        watch_rules: Job,
        settings: Callable[[], Settings],
        metrics: Metrics,
    ) -> None:
        self.jobs = jobs
        self.health = health
        self._watch_rules = watch_rules
        self._settings = settings
        self.metrics = metrics
        self._scheduler: AsyncIOScheduler | None = None
        self._signatures: dict[str, object] = {}
        self._watchers: dict[str, tuple[FolderSource, asyncio.Event, asyncio.Task[str]]] = {}
        self._rule_watcher: tuple[object, asyncio.Event, asyncio.Task[str]] | None = None
        self._running: set[asyncio.Task[Any]] = set()

    @property
    def running(self) -> int:
        """How many job runs are in progress."""
        return len(self._running)

    def table(self, settings: Settings) -> dict[str, Timed]:
        """Every scheduled job by name."""
        now = datetime.now(UTC)
        heartbeat = self.health.heartbeat
        jobs: dict[str, Timed] = {
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
                self._watch_rules,
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

    def attach(self, scheduler: AsyncIOScheduler) -> AsyncIOScheduler:
        """Put every job the settings ask for on ``scheduler`` (not started: tests look at it)."""
        self._scheduler = scheduler
        self.reschedule(self._settings())
        return scheduler

    def reschedule(self, settings: Settings) -> None:
        """Add the jobs the settings want, drop the others, replace the changed ones.

        A run in progress of a replaced or dropped job finishes; the next run is the new one's.
        """
        assert self._scheduler is not None
        wanted = self.table(settings)
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

    def rewatch(self, settings: Settings) -> None:
        """One inotify watcher per folder that asks for it, and one over the rule files, started and
        stopped as the config says."""
        self._rewatch_rules(settings)
        wanted = {str(f.path): f for f in settings.sources.folders if f.watch}
        for key, (folder, event, _task) in list(self._watchers.items()):
            if wanted.get(key) != folder:
                event.set()  # it finishes the batch in hand, then ends
                del self._watchers[key]
        for key, folder in wanted.items():
            if key not in self._watchers:
                event = asyncio.Event()
                watch = functools.partial(self.jobs.watch_folder, folder, event)
                task = asyncio.create_task(run_guarded(f"watch:{folder.path}", watch))
                self._watchers[key] = (folder, event, task)

    def _rewatch_rules(self, settings: Settings) -> None:
        """Watch the rule files while reloads on change are on (``rules_reload_interval`` > 0)."""
        interval = settings.rules_reload_interval
        wanted = (tuple(settings.rules), interval) if settings.rules_watch and interval > 0 else None
        if self._rule_watcher is not None and self._rule_watcher[0] != wanted:
            self._rule_watcher[1].set()
            self._rule_watcher = None
        if wanted is not None and self._rule_watcher is None:
            event = asyncio.Event()
            check = functools.partial(run_guarded, "rules", self._watch_rules)
            watch = functools.partial(watch_rule_files, settings.rules, event, check, interval)
            self._rule_watcher = (wanted, event, asyncio.create_task(run_guarded("watch:rules", watch)))

    async def stop_watching(self, timeout: float) -> None:
        """End every watcher; a folder's finishes the batch in hand first."""
        watching = [(event, task) for _folder, event, task in self._watchers.values()]
        if self._rule_watcher is not None:
            watching.append(self._rule_watcher[1:])
        for event, _task in watching:
            event.set()
        watchers = [task for _event, task in watching]
        if watchers:
            await asyncio.wait(watchers, timeout=timeout)

    async def finish(self, timeout: float) -> None:
        """Start no more jobs, give the running ones ``timeout`` seconds, then shut the scheduler down."""
        assert self._scheduler is not None
        # Pause, not shutdown: APScheduler's asyncio executor cancels running jobs on
        # shutdown, and a scan cut mid-way would leave its alerts unsent until restart.
        self._scheduler.pause()
        if self._running:
            _done, pending = await asyncio.wait(set(self._running), timeout=timeout)
            if pending:
                log.warning(
                    "stopping: %d job(s) still running after %.0fs, cancelled; "
                    "their work resumes at the next start",
                    len(pending),
                    timeout,
                )
        self._scheduler.shutdown(wait=False)

    def _add(
        self, scheduler: AsyncIOScheduler, name: str, job: Job, trigger: IntervalTrigger, first: datetime
    ) -> None:
        kind = name.split(":", 1)[0]

        async def tracked() -> None:
            task = asyncio.current_task()
            assert task is not None
            self._running.add(task)
            timeout = self._settings().jobs.timeout
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

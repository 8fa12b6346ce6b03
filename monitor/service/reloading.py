"""Reloading a running daemon: the rules when a rule file changes, everything on SIGHUP.

A reload reads and builds on a thread of its own (``Abandonable``: a stop
never waits for it) while scans and alerts go on with the running rules, and
swaps the result in at the end.  It is all or nothing: a broken config, a
broken rule or a channel that cannot be built refuses the whole reload, so
the running set is never half-changed.  What the new settings change in the
schedule and the folder watchers is the daemon's to apply (``apply``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from monitor.config import Settings, load_settings, secret_values
from monitor.errors import ConfigError
from monitor.logs import remember_secrets
from monitor.matching.rulefile import RuleSet, files_signature
from monitor.metrics import Metrics
from monitor.notify.base import build_notifiers
from monitor.pipeline.ingest import Pipeline
from monitor.service.background import Abandonable, Abandoned
from monitor.service.connections import Connections
from monitor.service.wiring import build_index, index_build_seconds, load_rule_set

__all__ = ["RESTART_ONLY", "Reloader"]

log = logging.getLogger(__name__)
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


class Reloader:
    """Reloads the rules or the whole configuration of one daemon, keeping the running set on any error.

    ``settings`` gives the running settings; ``apply`` makes new ones the running
    ones, once the rules and the channels they need are built.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        metrics: Metrics,
        connections: Connections,
        settings: Callable[[], Settings],
        apply: Callable[[Settings], None],
    ) -> None:
        self.pipeline = pipeline
        self.metrics = metrics
        self.connections = connections
        self._settings = settings
        self._apply = apply
        self._lock = asyncio.Lock()
        self._builds = Abandonable("rule reload")  # a stop never waits for one
        self._rules_seen = files_signature(settings().rules)

    def abandon(self) -> None:
        """Stopping: stop waiting for a reload in progress, and start no other."""
        self._builds.abandon()

    async def watch_rules(self) -> None:
        """Reload when a rule file is added, removed or edited (by size and modification time).

        The periodic check and the rule-file watcher both ask; the lock makes the second one
        that saw the same edit find it already loaded."""
        async with self._lock:
            seen = await asyncio.to_thread(files_signature, self._settings().rules)
            if seen == self._rules_seen:
                return
            log.info("rule files changed: reloading rules")
            self._rules_seen = seen
            with contextlib.suppress(Abandoned):
                await self._builds.run(self.reload_rules)

    async def reload_in_background(self) -> None:
        """Build the new index on a thread of its own: scans and alerts go on with the old one."""
        async with self._lock:
            self._rules_seen = await asyncio.to_thread(files_signature, self._settings().rules)
            with contextlib.suppress(Abandoned):
                await self._builds.run(self.reload_rules)

    def reload_rules(self) -> None:
        """Rebuild the rule index off the loop and swap it in; a broken edit keeps the old rules.

        At start-up the valid rules run even if some are broken (there is nothing
        older to keep); on reload, any problem keeps the whole running set, so a
        half-finished edit never silently drops a rule that was working.
        """
        settings = self._settings()
        rules = load_rule_set(settings)
        running = self._rule_count()
        if rules.errors:
            log.error(
                "reload refused: %d problem(s) in the rule files; keeping the %d rules already "
                "running (fix them and reload again)",
                len(rules.errors),
                running,
            )
            return
        self._swap_index(rules, settings)
        log.info("reload: %d rules active (were %d)", len(rules.rules), running)

    async def reload_config(self) -> None:
        """Re-read monitor.yaml and the rules; apply channels, rules and the schedule together.

        Running jobs finish with what they started with.  Settings in RESTART_ONLY
        keep their value.  Without a config file (built-in defaults), only the rules.
        """
        if self._settings().config_path is None:
            await self.reload_in_background()
            return
        with contextlib.suppress(Abandoned):
            await self._reload_config()

    async def _reload_config(self) -> None:
        async with self._lock:
            new = await self._builds.run(self._read_settings)
            rules = await self._builds.run(load_rule_set, new) if new is not None else None
            if new is None or rules is None or rules.errors:
                if rules is not None:
                    log.error("reload refused: %d problem(s) in the rule files", len(rules.errors))
                log.error(
                    "reload refused: keeping the running configuration and %d rules", self._rule_count()
                )
                self.metrics.reloads.labels("refused").inc()
                return
            assert self.connections.client is not None
            fresh = build_notifiers(new.channels, self.connections.client, state_dir=new.state_dir)
            running = self._rule_count()
            await self._builds.run(self._swap_index, rules, new)
            self._rules_seen = await asyncio.to_thread(files_signature, new.rules)
            old, notifiers = self._settings(), self.connections.notifiers
            self.connections.notifiers = {  # an unchanged channel keeps its notifier (and its pacing)
                name: notifiers[name] if old.channels.get(name) == channel else fresh[name]
                for name, channel in new.channels.items()
            }
            remember_secrets(secret_values(new))  # a new channel's secrets are masked in logs too
            self.metrics.channels(list(self.connections.notifiers))
            self._apply(new)
            self.metrics.reloads.labels("ok").inc()
            log.info("reload: %d rules active (were %d)", len(rules.rules), running)

    def _read_settings(self) -> Settings | None:
        """The config file as it is now, with what needs a restart kept as it runs."""
        old = self._settings()
        try:
            new = load_settings(str(old.config_path))
        except ConfigError as exc:
            log.error("reload: the configuration is invalid: %s", exc)
            return None
        for key in RESTART_ONLY:
            if getattr(new, key) != getattr(old, key):
                log.warning("reload: %s changed; it takes effect at the next restart", key)
        return new.model_copy(update={key: getattr(old, key) for key in RESTART_ONLY})

    def _swap_index(self, rules: RuleSet, settings: Settings) -> None:
        running = self.pipeline.matcher.index
        index = build_index(rules, running.pipelines, settings, also=running.languages, previous=running)
        self.pipeline.matcher.swap(index)
        self.metrics.index_built(len(index), index_build_seconds(index))

    def _rule_count(self) -> int:
        return len(self.pipeline.matcher.index)

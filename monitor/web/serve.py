"""The web app assembled for its two hosts: the daemon, and ``monitor web`` over a database alone.

Inside the daemon it shares the daemon's store, running rules, metrics and
readiness, and ingests posted articles through the daemon's pipeline (on its
worker thread, so SQLite keeps one writer).  ``monitor web`` serves the same
app for a desk that runs the daemon elsewhere or reads a PostgreSQL replica:
it reads the rule files itself (re-read when they change), ingests nothing,
serves ``/metrics`` with its own process's figures (CPU, memory: it has no
daemon's to give), and stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from prometheus_client import CollectorRegistry, ProcessCollector
from starlette.applications import Starlette

from monitor.config import Settings
from monitor.matching.compiler import RuleIndex
from monitor.matching.rulefile import RuleSpec
from monitor.service.health import check_database
from monitor.service.ops import AppServer, Check
from monitor.store.engine import open_store
from monitor.store.repo import Store
from monitor.web.app import create_app
from monitor.web.context import WebContext

if TYPE_CHECKING:
    from monitor.service.daemon import Daemon

log = logging.getLogger(__name__)


def for_daemon(daemon: Daemon) -> Starlette:
    """The app as the daemon serves it (``Daemon(..., web=for_daemon)``)."""
    specs: WeakKeyDictionary[RuleIndex, list[RuleSpec]] = WeakKeyDictionary()

    def rules() -> list[RuleSpec]:
        """The running index's rules, listed once per index (a reload swaps in another)."""
        index = daemon.pipeline.matcher.index
        if index not in specs:
            specs[index] = [rule.spec for rule in index.rules]
        return specs[index]

    return create_app(
        WebContext(
            settings=lambda: daemon.settings,
            store=daemon.pipeline.store,
            rules=rules,
            readiness=daemon.health.readiness,
            registry=daemon.metrics.registry,
            atom_folders=daemon.atom_folders,
            ingest=daemon.jobs.ingest,
            outbox_changed=daemon.jobs.wake_delivery,
        )
    )


def for_database(settings: Settings, store: Store) -> Starlette:
    """The app over a database alone: the rules as the files say, no ingestion, and metrics of
    its own process only (``process_*``)."""

    async def readiness() -> list[Check]:
        return [await check_database(store.engine)]

    def rules() -> list[RuleSpec]:
        read = ctx.rule_files.last
        return read.rules if read else []

    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    ctx = WebContext(
        settings=lambda: settings,
        store=store,
        rules=rules,
        readiness=readiness,
        registry=registry,
        role="web",
    )
    return create_app(ctx)


async def serve_database(settings: Settings, host: str | None = None, port: int | None = None) -> int:
    """``monitor web``: serve the app over the configured database until SIGTERM or SIGINT."""
    store = await asyncio.to_thread(open_store, settings.database)
    app = for_database(settings, store)
    config = settings.server
    token = config.token.get_secret_value() if config.token else None
    server = AppServer(app, host or config.host, config.port if port is None else port, token=token)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        bound_host, bound_port = await server.start()
        await app.state.ctx.rule_files.current(30.0)  # the rules page and the playground's @concepts
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        log.info(
            "web app listening on http://%s:%d/ — open it in a browser (monitor web: reads %s, "
            "ingests nothing)",
            shown,
            bound_port,
            store.engine.url.render_as_string(hide_password=True),
        )
        await stop.wait()
        log.info("stopping")
    finally:
        await server.close()
        await asyncio.to_thread(store.engine.dispose)
    return 0

"""Running the service: the daemon, its health check, and a one-off scan of files."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from monitor.cli.base import Context, friendly_errors, open_store_for, pass_ctx
from monitor.config import FolderSource
from monitor.service.runlock import AlreadyRunning, RunLock


@click.command()
@click.option("--once", is_flag=True, help="Do one pass of every source, send pending alerts and exit.")
@pass_ctx
def run(ctx: Context, once: bool) -> None:
    """Run the daemon: watch folders and feeds on their intervals and send alerts.

    Example: monitor --config monitor.yaml run
    """
    from monitor.service.daemon import Daemon
    from monitor.service.wiring import build_pipeline
    from monitor.web.serve import for_daemon

    settings = ctx.settings
    with friendly_errors(), RunLock(settings.database):  # refused at once, before the rules are built
        daemon = Daemon(settings, build_pipeline(settings), web=for_daemon)
        code = asyncio.run(daemon.run_once() if once else daemon.run_forever())
    sys.exit(code)


@click.command()
@pass_ctx
def check(ctx: Context) -> None:
    """Check that the service can run: config valid, database reachable, rules and channels valid.

    Exit 0 when healthy, 1 when rules are invalid, 3 when config or database are unusable.
    For scripts; a running daemon answers /readyz.  Example: monitor check
    """
    from monitor.service.wiring import (
        check_channels,
        load_rule_set,
        make_pipelines,
        orphaned_alerts,
    )

    settings = ctx.settings
    with friendly_errors():
        check_channels(settings)
        store = open_store_for(settings)
        counts = store.delivery_counts()
        orphans = orphaned_alerts(settings, store)
        store.engine.dispose()
        make_pipelines(settings)
        rule_set = load_rule_set(settings)
    click.echo(f"config: {settings.config_path or 'built-in defaults'}")
    click.echo(f"database: ok ({counts.get('pending', 0)} alert(s) pending, {counts.get('dead', 0)} dead)")
    click.echo(f"rules: {len(rule_set.rules)} valid, {len(rule_set.errors)} problem(s)")
    click.echo(f"channels: {', '.join(settings.channels)}")
    for channel, count in orphans.items():
        click.echo(f"warning: {count} alert(s) pending for channel {channel!r}, which is not configured")
    sys.exit(1 if rule_set.errors else 0)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--source", help="Source name recorded with the articles (default: the folder name).")
@click.option("--language", help="Force this language for every article (default: metadata, then detection).")
@pass_ctx
def scan(ctx: Context, paths: tuple[Path, ...], source: str | None, language: str | None) -> None:
    """Ingest files or folders once, as the daemon would: record hits and send alerts.

    Example: monitor scan ~/archive/2024/
    """
    from monitor.pipeline.ingest import IngestReport
    from monitor.service.daemon import Daemon
    from monitor.service.wiring import build_pipeline
    from monitor.sources.confine import FolderBounds
    from monitor.sources.files import iter_folder

    settings = ctx.settings
    with friendly_errors():
        pipeline = build_pipeline(settings)
        total = IngestReport()
        for path in paths:
            if path.is_dir():
                folder = FolderSource(path=path, name=source, language=language)
                found = list(iter_folder(folder, refused_links=True))
                name, under, bounds = folder.source_name, str(path), FolderBounds.of(folder)
            else:  # a file named on the command line is read wherever it is
                found, name, under, bounds = [path], source or path.parent.name or "scan", str(path), None
            with click.progressbar(length=len(found), label=str(path), file=sys.stderr, show_pos=True) as bar:
                report = pipeline.scan_files(
                    found,
                    source=name,
                    language=language,
                    under=under,
                    on_file=lambda _p: bar.update(1),
                    bounds=bounds,
                )
            total.merge(report)
        lock = RunLock(settings.database)
        try:
            lock.acquire()
        except AlreadyRunning:
            click.echo("a running monitor holds the outbox: it will send these alerts", err=True)
        else:
            try:
                asyncio.run(Daemon(settings, pipeline).run_once_delivery())
            finally:
                lock.release()
    click.echo(
        f"articles read: {total.articles}, skipped as already seen: {total.skipped + total.duplicates}, "
        f"failed: {total.failed}, hits: {total.hits}, alerts: {total.alerts}"
    )
    for failure in total.failures:
        click.echo(f"failed: {failure}", err=True)
    sys.exit(1 if total.failed else 0)

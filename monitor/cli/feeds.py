"""Feeds: their state, OPML import and export, and enabling a disabled one."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from monitor.cli.base import Context, ago, friendly_errors, open_store_for, pass_ctx, short_lived
from monitor.models import FeedState

if TYPE_CHECKING:  # the settings' models load with the settings, inside the command
    from monitor.config import FeedSource


@click.group("feeds", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per feed.")
@click.pass_context
@short_lived
def feeds(click_ctx: click.Context, as_json: bool) -> None:
    """Show each configured feed's state: last fetch, HTTP status, new entries, errors, next fetch.

    Example: monitor feeds
    """
    if click_ctx.invoked_subcommand is not None:
        return

    ctx = click_ctx.find_object(Context)
    assert ctx is not None  # main() always sets it
    settings = ctx.settings
    with friendly_errors():
        states = open_store_for(settings).feed_states()
    configured = settings.sources.feeds
    if not configured and not as_json:
        click.echo("no feeds configured (sources.feeds in the config)", err=True)
    for feed in configured:
        state = states.get(feed.url) or FeedState(feed.url)
        row = feed_row(feed, state, datetime.now(UTC))
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            click.echo(
                f"{row['name'][:30]:<30} {row['state']:<9} {row['status'] or '-':>4} "
                f"last {ago(state.last_fetch_at):>8}  new {row['new_entries']:>3}  "
                f"errors {row['error_streak']:>2}  next {ago(state.next_fetch_at):>8}  "
                f"{row['problem'] or ''}"
            )


@feeds.command("import")
@click.argument("opml_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--interval", help="Polling interval for the imported feeds (default: the feed default, 10m).")
@click.option("--dry-run", is_flag=True, help="Print the entries that would be added; change nothing.")
@pass_ctx
def feeds_import(ctx: Context, opml_file: Path, interval: str | None, dry_run: bool) -> None:
    """Add the feeds of an OPML file (any feed reader's export) to the config's sources.feeds.

    Folders become tags. Feeds already configured are skipped; comments in the
    config are kept. Example: monitor feeds import feedly.opml --interval 15m
    """
    from monitor.sources.opml import config_entries, read_opml
    from monitor.yamlfile import append_to_list

    settings = ctx.settings
    with friendly_errors():
        imported = read_opml(opml_file.read_bytes(), origin=str(opml_file))
        known = {feed.url for feed in settings.sources.feeds}
        entries = [e for e in config_entries(imported.feeds, interval=interval) if e["url"] not in known]
    for problem in imported.problems:
        click.echo(f"skipped: {problem.origin}: {problem.outline}: {problem.message}", err=True)
    skipped = len(imported.feeds) - len(entries)
    if dry_run or not entries:
        for entry in entries:
            click.echo(json.dumps(entry, ensure_ascii=False))
        click.echo(f"{len(entries)} feed(s) to add, {skipped} already configured", err=True)
        return
    target = settings.config_path
    if target is None:
        click.echo("error: no config file to write to: pass --config monitor.yaml", err=True)
        sys.exit(2)
    append_to_list(Path(target), ("sources", "feeds"), entries)
    click.echo(f"added {len(entries)} feed(s) to {target} ({skipped} already configured)", err=True)


@feeds.command("export")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not stdout."
)
@pass_ctx
def feeds_export(ctx: Context, output: Path | None) -> None:
    """Write the configured feeds as OPML 2.0 (tags become folders), for any feed reader.

    Example: monitor feeds export -o feeds.opml
    """
    from monitor.sources.opml import OpmlFeed, render_opml

    settings = ctx.settings
    document = render_opml(
        [
            OpmlFeed(url=f.url, name=f.name, tags=tuple(f.tags), language=f.language)
            for f in settings.sources.feeds
        ],
        title="news-monitor feeds",
        now=datetime.now(UTC),
    )
    if output is None:
        click.echo(document.decode("utf-8"), nl=False)
    else:
        output.write_bytes(document)
        click.echo(f"wrote {len(settings.sources.feeds)} feed(s) to {output}", err=True)


@feeds.command("enable")
@click.argument("url")
@pass_ctx
def feeds_enable(ctx: Context, url: str) -> None:
    """Poll again a feed that was disabled (it answered 410 Gone) or is backing off, from now.

    Example: monitor feeds enable https://www.ansa.it/sito/ansait_rss.xml
    """

    settings = ctx.settings
    if url not in {feed.url for feed in settings.sources.feeds}:
        click.echo(f"error: {url} is not among the configured feeds", err=True)
        sys.exit(1)
    with friendly_errors():
        store = open_store_for(settings)
        state = store.feed_state(url)
        store.save_feed_state(replace(state, disabled=None, error_streak=0, next_fetch_at=None))
    click.echo(f"{url}: enabled; polled on its next run", err=True)


def feed_row(feed: FeedSource, state: FeedState, now: datetime) -> dict[str, Any]:
    """One feed's state as ``monitor feeds`` shows it."""
    if state.disabled:
        status = "disabled"
    elif state.last_fetch_at is None:
        status = "new"
    elif state.error_streak:
        status = "failing"
    elif state.health_alerted == "stale":
        status = "stale"
    else:
        status = "ok"
    return {
        "url": feed.url,
        "name": feed.source_name,
        "tags": feed.tags,
        "state": status,
        "fetch_url": state.fetch_url,
        "last_fetch": state.last_fetch_at.isoformat() if state.last_fetch_at else None,
        "status": state.last_status,
        "new_entries": state.last_new,
        "entries_seen": state.entries_seen,
        "error_streak": state.error_streak,
        "next_fetch": state.next_fetch_at.isoformat() if state.next_fetch_at else None,
        "problem": state.disabled or state.last_error,
    }

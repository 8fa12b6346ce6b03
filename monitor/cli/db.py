"""The database: its schema revision, migrations, and pruning by the retention policy."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from monitor.cli.base import Context, friendly_errors, open_store_for, pass_ctx, short_lived


@click.group("db")
def db() -> None:
    """The database schema: see where it stands, apply migrations; prune old history.

    \b
    Examples:
      monitor db current     the revision the database is at, and whether it needs an upgrade
      monitor db upgrade     apply the migrations this news-monitor ships (safe to run twice)
      monitor db prune       apply the retention policy now (--dry-run: count only)
    """


@db.command("current")
@pass_ctx
@short_lived
def db_current(ctx: Context) -> None:
    """Print the database's schema revision and what to do about it; exit 1 when it is not current.

    Example: monitor db current
    """
    from monitor.store.engine import make_engine
    from monitor.store.schema import schema_state

    with friendly_errors():
        engine = make_engine(ctx.settings.database)
        state = schema_state(engine)
        engine.dispose()
    click.echo(f"database: {engine.url.render_as_string(hide_password=True)}")
    click.echo(f"schema: {state.describe()}")
    sys.exit(0 if state.up_to_date else 1)


@db.command("upgrade")
@pass_ctx
def db_upgrade(ctx: Context) -> None:
    """Apply the schema migrations up to the newest this news-monitor knows.

    A database made by a news-monitor from before migrations is adopted, its
    rows kept.  Several replicas may run it at once: one applies, the others
    wait for it and find nothing left to do.  Example: monitor db upgrade
    """
    from monitor.store.engine import make_engine
    from monitor.store.schema import upgrade_schema

    with friendly_errors():
        engine = make_engine(ctx.settings.database)
        try:
            before, after = upgrade_schema(engine)
        finally:
            engine.dispose()
    if before.up_to_date:
        click.echo(f"already at revision {after.head}: nothing to do")
    else:
        was = "empty" if before.empty else ", ".join(before.current) or f"schema version {before.legacy}"
        click.echo(f"upgraded: {was} -> {', '.join(after.current)}")


@db.command("prune")
@click.option("--dry-run", is_flag=True, help="Count what would be removed; change nothing.")
@pass_ctx
def db_prune(ctx: Context, dry_run: bool) -> None:
    """Apply the retention policy (retention: in the config) now, as the daemon does daily.

    Empties old article bodies and deletes old rows in small transactions; an
    alert still pending or held is never removed.  Example: monitor db prune --dry-run
    """
    from monitor.store.retention import Retention, cutoffs

    settings = ctx.settings
    if not settings.retention.enabled:
        click.echo("nothing to prune: the history is kept forever (see retention: in the config)", err=True)
        return
    with friendly_errors():
        retention = Retention(open_store_for(settings).engine)
        cut = cutoffs(settings.retention, datetime.now(UTC))
        report = retention.count(cut) if dry_run else retention.prune(cut)
    click.echo(
        f"{'would empty' if dry_run else 'emptied'} {report.bodies} article bodies; "
        f"{'would delete' if dry_run else 'deleted'} {report.articles} articles, {report.hits} hits, "
        f"{report.deliveries} sent deliveries"
    )

"""The outbox: list deliveries, send dead ones again, and try channels with a sample alert."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

import click

from monitor.cli.base import Context, ExitCode, fail, friendly_errors, open_store_for, pass_ctx, short_lived
from monitor.redact import Redactor


@click.group("deliveries", invoke_without_command=True)
@click.option("--failed", "status", flag_value="dead", help="Only deliveries that gave up (dead).")
@click.option("--pending", "status", flag_value="pending", help="Only deliveries waiting to be sent.")
@click.option("--sent", "status", flag_value="sent", help="Only deliveries sent.")
@click.option("--channel", help="Only this channel.")
@click.option("--limit", default=100, show_default=True, help="At most this many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per delivery.")
@click.pass_context
@short_lived
def deliveries(
    click_ctx: click.Context, status: str | None, channel: str | None, limit: int, as_json: bool
) -> None:
    """List the outbox: each alert per channel, its status, attempts and last error.

    Example: monitor deliveries --failed
    """
    if click_ctx.invoked_subcommand is not None:
        return
    from monitor.config import secret_values

    ctx = click_ctx.find_object(Context)
    assert ctx is not None  # main() always sets it
    with friendly_errors():
        rows = open_store_for(ctx.settings).deliveries(status=status, channel=channel, limit=limit)
    redact = Redactor(secret_values(ctx.settings))  # errors stored before a receiver's echo was masked
    for row in rows:
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "id": row.id,
                        "key": row.key,
                        "channel": row.channel,
                        "status": row.status,
                        "attempts": row.attempts,
                        "next_attempt": row.next_attempt_at.isoformat(),
                        "last_error": redact(row.last_error) if row.last_error else None,
                        "created": row.created_at.isoformat(),
                        "sent": row.sent_at.isoformat() if row.sent_at else None,
                        "rule": row.rule_id,
                        "title": row.title,
                        "source": row.source,
                    },
                    ensure_ascii=False,
                )
            )
        else:
            error = f"  {redact(row.last_error)[:100]}" if row.last_error and row.status != "sent" else ""
            click.echo(
                f"{row.id:>6} {row.created_at:%Y-%m-%d %H:%M} {row.channel:<12} {row.status:<7} "
                f"x{row.attempts:<2} {row.rule_id:<16} {row.title[:50]}{error}"
            )
    if not rows and not as_json:
        click.echo("no deliveries", err=True)


@deliveries.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all-failed", is_flag=True, help="Every dead delivery.")
@pass_ctx
def deliveries_retry(ctx: Context, ids: tuple[int, ...], all_failed: bool) -> None:
    """Send dead deliveries again (by id, or all of them), with the same idempotency key.

    Sent deliveries are never re-sent. Example: monitor deliveries retry --all-failed
    """

    if not ids and not all_failed:
        fail("name delivery ids (monitor deliveries --failed lists them) or --all-failed", ExitCode.USAGE)
    with friendly_errors():
        outcome = open_store_for(ctx.settings).retry_deliveries(datetime.now(UTC), ids, all_dead=all_failed)
    click.echo(
        f"{outcome.queued} delivery(ies) queued again; the running daemon (or the next run) sends them",
        err=True,
    )
    for delivery_id, reason in outcome.refused.items():
        click.echo(f"not queued: {delivery_id}: {reason}", err=True)
    if outcome.refused:
        sys.exit(ExitCode.PROBLEM)


@click.group("notify")
def notify() -> None:
    """Try channels before a real alert needs them."""


@notify.command("test")
@click.argument("channels", nargs=-1, required=True)
@pass_ctx
def notify_test(ctx: Context, channels: tuple[str, ...]) -> None:
    """Send one sample alert to each CHANNEL and report what its receiver really answered.

    A 404, an error body or a refused connection is a failure, never "sent".
    Exit 0 when every channel accepted the sample, 1 otherwise, 3 for an
    unknown channel or a channel that cannot be built.
    Example: monitor notify test slack-esteri
    """
    import asyncio

    from monitor.config import secret_values
    from monitor.pipeline.deliver import utcnow
    from monitor.service.wiring import test_channels

    settings = ctx.settings
    with friendly_errors():
        outcomes = asyncio.run(test_channels(settings, list(dict.fromkeys(channels)), utcnow()))
    redact = Redactor(secret_values(settings))
    for outcome in outcomes:
        click.echo(redact(str(outcome)), err=not outcome.ok)
    sys.exit(0 if all(outcome.ok for outcome in outcomes) else 1)

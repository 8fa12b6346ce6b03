"""``monitor web``: the web app alone over the database, for a desk whose daemon runs elsewhere."""

from __future__ import annotations

import asyncio
import sys

import click

from monitor.cli.base import Context, friendly_errors, pass_ctx


@click.command("web")
@click.option("--host", help="Address to listen on (default: server.host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="TCP port (default: server.port, 9464).")
@pass_ctx
def web(ctx: Context, host: str | None, port: int | None) -> None:
    """Serve the web app and the API over the configured database, without ingesting anything.

    For a daemon on another machine, or PostgreSQL replicas: pages, search,
    rules, playground and outbox as the daemon serves them; articles cannot
    be posted here.  Beyond 127.0.0.1 it needs server.token.
    Example: monitor web --port 9465
    """
    from monitor.web.serve import serve_database

    settings = ctx.settings
    with friendly_errors():
        code = asyncio.run(serve_database(settings, host, port))
    sys.exit(code)

"""The command line: thin, each command calls one library function and turns errors into messages.

One module per command group; what they share (the context, shared options, exit codes, output
formats) is in :mod:`monitor.cli.base`.  A command's module is imported only when that command
runs (:mod:`monitor.cli.lazy`): ``monitor hits`` does not pay for the daemon's imports.
"""

from __future__ import annotations

import click

from monitor import __version__
from monitor.cli.base import (
    CONFIG_HELP,
    LOG_FORMAT_HELP,
    LOG_FORMATS,
    LOG_LEVEL_HELP,
    LOG_LEVELS,
    Context,
    add_shared_options,
)
from monitor.cli.lazy import LazyCommand, LazyGroup

# Each command: its module, its name there, and its docstring's first sentence for ``--help``
# (tests/test_cli_startup.py checks these against the commands themselves).
COMMANDS = {
    "run": LazyCommand(
        "monitor.cli.run",
        "run",
        "Run the daemon: watch folders and feeds on their intervals and send alerts.",
    ),
    "check": LazyCommand(
        "monitor.cli.run",
        "check",
        "Check that the service can run: config valid, database reachable, rules and channels valid.",
    ),
    "scan": LazyCommand(
        "monitor.cli.run",
        "scan",
        "Ingest files or folders once, as the daemon would: record hits and send alerts.",
    ),
    "db": LazyCommand(
        "monitor.cli.db",
        "db",
        "The database schema: see where it stands, apply migrations; prune old history.",
    ),
    "rules": LazyCommand("monitor.cli.rules", "rules", "Check and try out rule files."),
    "hits": LazyCommand(
        "monitor.cli.history",
        "hits",
        "List recorded hits, newest first; with --search, those whose article has the words, best first.",
    ),
    "articles": LazyCommand(
        "monitor.cli.history",
        "articles",
        "List stored articles, hits or not, newest first; with --search, best match first.",
    ),
    "deliveries": LazyCommand(
        "monitor.cli.outbox",
        "deliveries",
        "List the outbox: each alert per channel, its status, attempts and last error.",
    ),
    "notify": LazyCommand("monitor.cli.outbox", "notify", "Try channels before a real alert needs them."),
    "feeds": LazyCommand(
        "monitor.cli.feeds",
        "feeds",
        "Show each configured feed's state: last fetch, HTTP status, new entries, errors, next fetch.",
    ),
    "web": LazyCommand(
        "monitor.cli.web",
        "web",
        "Serve the web app and the API over the configured database, without ingesting anything.",
    ),
}


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    prepare=add_shared_options,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option("--config", "-c", envvar="MONITOR_CONFIG", metavar="FILE", help=CONFIG_HELP)
@click.option("--log-level", type=LOG_LEVELS, help=LOG_LEVEL_HELP)
@click.option("--log-format", type=LOG_FORMATS, help=LOG_FORMAT_HELP)
@click.version_option(__version__, prog_name="news-monitor")
@click.pass_context
def main(ctx: click.Context, config: str | None, log_level: str | None, log_format: str | None) -> None:
    """news-monitor: watch folders and feeds, match rules, record hits, send alerts.

    \b
    Examples:
      monitor run                      run the daemon on monitor.yaml
      monitor run --once               one pass of every source, then exit
      monitor rules check              validate the rule files
      monitor rules test seeds/*.txt   what would match, without storing
      monitor scan archive/            backfill a folder of articles
      monitor hits --since 24h         hits recorded in the last day
      monitor web                      the web app alone over the database
    """
    ctx.obj = Context(config, log_level, log_format)


__all__ = ["COMMANDS", "main"]

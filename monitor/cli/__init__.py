"""The command line: thin, each command calls one library function and turns errors into messages.

One module per command group; what they share (the context, shared options, exit codes, output
formats) is in :mod:`monitor.cli.base`.
"""

from __future__ import annotations

import click

from monitor import __version__
from monitor.cli import db, feeds, history, outbox, rules, run, web
from monitor.cli.base import (
    CONFIG_HELP,
    LOG_FORMAT_HELP,
    LOG_FORMATS,
    LOG_LEVEL_HELP,
    LOG_LEVELS,
    Context,
    accept_shared_options,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


for command in (
    run.run,
    run.check,
    run.scan,
    db.db,
    rules.rules,
    history.hits,
    history.articles,
    outbox.deliveries,
    outbox.notify,
    feeds.feeds,
    web.web,
):
    main.add_command(command)
accept_shared_options(main)

__all__ = ["main"]

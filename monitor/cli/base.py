"""What every command shares: the context that loads the settings once, the options accepted
before or after the command's name, the exit codes, and the output formats.

Exit codes (documented in docs/operations.md):

====  ==========================================================================
0     success
1     the command ran and found a problem (invalid rules, failed files, ids
      that could not be retried, a channel that refused its test alert)
2     usage error: an unknown option or a missing argument (click's own code)
3     the configuration or the database cannot be used
4     another monitor already holds the outbox (the run lock)
====  ==========================================================================
"""

from __future__ import annotations

import atexit
import functools
import gc
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from monitor.errors import ConfigError, MonitorError, StoreError, UsageError
from monitor.gcpause import collector_paused

if TYPE_CHECKING:  # imported where used: `monitor --help` reads no settings (pydantic, YAML)
    from monitor.config import Settings
    from monitor.store.repo import Store

F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R")


class ExitCode(IntEnum):
    OK = 0
    PROBLEM = 1
    USAGE = 2
    UNUSABLE = 3
    ALREADY_RUNNING = 4


def setup_logging(level: str, fmt: str = "auto", settings: Settings | None = None) -> None:
    """Logs on stderr in the chosen shape, with every configured secret masked."""
    from monitor.config import secret_values, service_environment
    from monitor.logs import configure_logging

    configure_logging(
        level,
        fmt,
        secrets=secret_values(settings) if settings is not None else (),
        journal_stream=service_environment().journal_stream,
    )


@contextmanager
def friendly_errors() -> Iterator[None]:
    """A user error is one clear line on stderr and an exit code, never a traceback."""
    from monitor.service.runlock import AlreadyRunning

    try:
        yield
    except UsageError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(ExitCode.USAGE)
    except AlreadyRunning as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(ExitCode.ALREADY_RUNNING)
    except (ConfigError, StoreError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(ExitCode.UNUSABLE)
    except MonitorError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(ExitCode.PROBLEM)


def fail(message: str, code: ExitCode = ExitCode.PROBLEM) -> None:
    """One line on stderr, then exit: for problems the command finds itself."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


class Context:
    """The settings, loaded on first use: ``--help`` and commands that need none stay fast."""

    def __init__(self, config: str | None, log_level: str | None, log_format: str | None = None) -> None:
        self.config_path = config
        self.log_level = log_level
        self.log_format = log_format
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from monitor.config import load_settings

            with friendly_errors():
                self._settings = load_settings(self.config_path)
            settings = self._settings
            setup_logging(
                self.log_level or settings.log_level, self.log_format or settings.log_format, settings
            )
        return self._settings


pass_ctx = click.make_pass_decorator(Context)


def short_lived(fn: F) -> F:
    """For a command that reads, prints and ends: no cyclic collection while it runs, nor after.

    Its start-up builds long-lived objects only (modules, the settings' models, the tables),
    which the collector would walk again and again for nothing, and the interpreter's exit
    walks them all once more (several full collections while modules are torn down): together
    about a tenth of ``monitor hits``.  So the collector is paused while the command runs, and
    what is left is frozen when the process exits (an ``atexit`` hook: in-process callers such
    as the tests are unaffected until they exit).  What a listing leaves behind is freed by
    reference counting, so its memory stays as flat without the collector, a whole export
    included.  Never for the daemon or the web app.
    """

    @functools.wraps(fn)
    def paused(*args: Any, **kwargs: Any) -> Any:
        _freeze_at_exit()
        with collector_paused():
            return fn(*args, **kwargs)

    return cast(F, paused)


@functools.cache
def _freeze_at_exit() -> None:
    atexit.register(gc.freeze)


def open_store_for(settings: Settings) -> Store:
    """The configured store, its connections closed when the command ends (also in-process, as
    the tests and ``monitor web`` run commands), not left to the garbage collector."""
    from monitor.store.engine import open_store

    store = open_store(settings.database)
    click_ctx = click.get_current_context(silent=True)
    if click_ctx is not None:
        click_ctx.call_on_close(store.engine.dispose)
    return store


LOG_LEVELS = click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False)
LOG_FORMATS = click.Choice(["auto", "human", "json", "journal"])
CONFIG_HELP = "Config file (default: monitor.yaml if present, else built-in defaults)."
LOG_LEVEL_HELP = "Log verbosity (default: log_level from the config, INFO)."
LOG_FORMAT_HELP = "Log lines for people, JSON lines, or journald (default: log_format, auto)."


def _override(attribute: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def remember(click_ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        context = click_ctx.find_object(Context)
        if value is not None and context is not None:
            setattr(context, attribute, value)

    return remember


def _shared_options() -> list[click.Parameter]:
    return [
        click.Option(
            ["--config", "-c"],
            metavar="FILE",
            expose_value=False,
            callback=_override("config_path"),
            help=CONFIG_HELP,
        ),
        click.Option(
            ["--log-level"],
            type=LOG_LEVELS,
            expose_value=False,
            callback=_override("log_level"),
            help=LOG_LEVEL_HELP,
        ),
        click.Option(
            ["--log-format"],
            type=LOG_FORMATS,
            expose_value=False,
            callback=_override("log_format"),
            help=LOG_FORMAT_HELP,
        ),
    ]


def add_shared_options(command: click.Command) -> None:
    """``--config``, ``--log-level`` and ``--log-format`` after a command's name too, as systemd
    units and cron lines write them (``monitor run --once --config F``); to its subcommands too.
    Once only: the main group adds them to each command as it loads it."""
    if not any(param.name == "log_format" for param in command.params):
        command.params.extend(_shared_options())
    if isinstance(command, click.Group):
        for subcommand in command.commands.values():
            add_shared_options(subcommand)


OUTPUT_FORMATS = ("text", "jsonl", "csv")


def output_options(fn: F) -> F:
    """``--format text|jsonl|csv`` and ``--json`` (the same as ``--format jsonl``)."""
    fn = click.option("--json", "as_json", is_flag=True, help="One JSON object per line (= --format jsonl).")(
        fn
    )
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(OUTPUT_FORMATS),
        help="text (default), jsonl (one JSON object per line) or csv (a header, then one row each).",
    )(fn)


def search_option(what: str) -> Callable[[F], F]:
    return click.option(
        "--search",
        metavar="WORDS",
        help=f"Only {what} whose article matches, best first: words (all of them), "
        '"a phrase", AND, OR, NOT or -word, (groups), prefix*, title:word (as in rules).',
    )


def emit(
    items: Iterable[R],
    output_format: str,
    record: Callable[[R], dict[str, Any]],
    fields: tuple[str, ...],
    text_line: Callable[[R], str],
) -> int:
    """Print ``items`` as they come in the chosen format; how many there were."""
    from monitor.pipeline.export import csv_lines, jsonl_lines

    count = 0

    def counted() -> Iterator[R]:
        nonlocal count
        for item in items:
            count += 1
            yield item

    if output_format == "csv":
        for line in csv_lines((record(item) for item in counted()), fields):
            click.echo(line, nl=False)
    elif output_format == "jsonl":
        for line in jsonl_lines(record(item) for item in counted()):
            click.echo(line)
    else:
        for item in counted():
            click.echo(text_line(item))
    return count


def ago(when: datetime | None) -> str:
    """A time as a short distance from now: "5m ago", "in 2h"."""
    if when is None:
        return "-"
    seconds = (when - datetime.now(UTC)).total_seconds()
    size = abs(seconds)
    text = f"{size:.0f}s" if size < 120 else f"{size / 60:.0f}m" if size < 7200 else f"{size / 3600:.0f}h"
    return f"in {text}" if seconds > 0 else f"{text} ago"


def parse_since(text: str) -> datetime:
    """``--since``: a duration back from now (24h, 7d) or a date (2024-05-01, UTC unless it says)."""
    from monitor.config import parse_duration

    try:
        return datetime.now(UTC) - timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--since {text!r}: use a duration such as 24h or 7d, or a date such as 2024-05-01"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

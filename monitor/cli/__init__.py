"""The command line: thin, each command calls one library function and turns errors into messages.

Exit codes: 0 success, 1 the command ran and found a problem (invalid rules,
failed files), 2 the configuration or the database cannot be used.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from monitor import __version__
from monitor.config import (
    FeedSource,
    FolderSource,
    Settings,
    load_settings,
    parse_duration,
    secret_values,
    service_environment,
)
from monitor.errors import ArticleParseError, ConfigError, MonitorError, StoreError
from monitor.logs import configure_logging
from monitor.service.runlock import AlreadyRunning, RunLock
from monitor.sources.feedstate import FeedState

if TYPE_CHECKING:  # imported by the commands that need them: --help stays fast
    from monitor.store.search import ArticleView, FoundHit

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("monitor")


def setup_logging(level: str, fmt: str = "auto", settings: Settings | None = None) -> None:
    """Logs on stderr in the chosen shape, with every configured secret masked."""
    configure_logging(
        level,
        fmt,
        secrets=secret_values(settings) if settings is not None else (),
        journal_stream=service_environment().journal_stream,
    )


@contextmanager
def friendly_errors() -> Iterator[None]:
    """A user error is one clear line on stderr and an exit code, never a traceback."""
    try:
        yield
    except (ConfigError, StoreError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except MonitorError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


class Context:
    def __init__(self, config: str | None, log_level: str | None, log_format: str | None = None) -> None:
        self.config_path = config
        self.log_level = log_level
        self.log_format = log_format
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            with friendly_errors():
                self._settings = load_settings(self.config_path)
            settings = self._settings
            setup_logging(
                self.log_level or settings.log_level, self.log_format or settings.log_format, settings
            )
        return self._settings


pass_ctx = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "-c",
    envvar="MONITOR_CONFIG",
    metavar="FILE",
    help="Config file (default: monitor.yaml if present, else built-in defaults).",
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help="Log verbosity (default: log_level from the config, INFO).",
)
@click.option(
    "--log-format",
    type=click.Choice(["auto", "human", "json", "journal"]),
    help="Log lines for people, JSON lines, or journald (default: log_format, auto).",
)
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
    """
    ctx.obj = Context(config, log_level, log_format)


@main.command()
@click.option("--once", is_flag=True, help="Do one pass of every source, send pending alerts and exit.")
@pass_ctx
def run(ctx: Context, once: bool) -> None:
    """Run the daemon: watch folders and feeds on their intervals and send alerts.

    Example: monitor --config monitor.yaml run
    """
    from monitor.service.daemon import Daemon
    from monitor.service.wiring import build_pipeline

    settings = ctx.settings
    with friendly_errors():
        daemon = Daemon(settings, build_pipeline(settings))
        with RunLock(settings.database):
            code = asyncio.run(daemon.run_once() if once else daemon.run_forever())
    sys.exit(code)


@main.command()
@pass_ctx
def check(ctx: Context) -> None:
    """Check that the service can run: config valid, database reachable, rules and channels valid.

    Exit 0 when healthy, 1 when rules are invalid, 2 when config or database are unusable.
    Used as the Docker HEALTHCHECK.  Example: monitor check
    """
    from monitor.service.wiring import (
        check_channels,
        load_rule_set,
        make_pipelines,
        open_store,
        orphaned_alerts,
    )

    settings = ctx.settings
    with friendly_errors():
        check_channels(settings)
        store = open_store(settings)
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


@main.group("db")
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


@main.group()
def rules() -> None:
    """Check and try out rule files."""


@rules.command("check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@pass_ctx
def rules_check(ctx: Context, paths: tuple[Path, ...]) -> None:
    """Validate rule files and run their examples; print every problem with file and line.

    Warnings (risky queries) are printed but do not fail.  Exit 1 on any error or
    failing example.  Example: monitor rules check rules/
    """
    from monitor.matching.rulefile import load_rules

    settings = ctx.settings
    result = load_rules(list(paths) or settings.rules, channels=settings.channels.keys())
    problems = list(result.problems)
    examples = sum(len(spec.examples) for spec in result.rules)
    if examples:
        from monitor.matching.examples import check_examples
        from monitor.service.wiring import build_guesser, build_index, make_pipelines

        with friendly_errors():
            index = build_index(result, make_pipelines(settings), settings)
        problems += check_examples(result.rules, index, build_guesser(settings).guess)
    for problem in problems:
        click.echo(str(problem), err=True)
    errors = [p for p in problems if not p.warning]
    warnings = len(problems) - len(errors)
    tally = f"{len(result.rules)} rule(s), {examples} example(s) in {len(result.files)} file(s)"
    if errors:
        click.echo(f"{len(errors)} problem(s), {warnings} warning(s): {tally}", err=True)
        sys.exit(1)
    click.echo(f"ok: {tally}" + (f", {warnings} warning(s)" if warnings else ""))


@rules.command("test")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--rules",
    "rule_paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Rule file or folder (repeatable; default: the configured rules).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per (article, rule) match.")
@click.option(
    "--explain",
    is_flag=True,
    help="Every rule's decision, clause by clause, with each term's field, offsets and sentence "
    "(with --json: one object per article and rule, with 'fired' and an 'explain' tree).",
)
@pass_ctx
def rules_test(
    ctx: Context, files: tuple[Path, ...], rule_paths: tuple[Path, ...], as_json: bool, explain: bool
) -> None:
    """Dry run: parse FILES as articles and print what would match. Stores and sends nothing.

    \b
    Example: monitor rules test --rules rules/esteri.yaml seeds/*.txt --json
    Example: monitor rules test --explain seeds/*.txt   (why each rule fired or not)
    """
    from monitor.pipeline.dryrun import dry_run
    from monitor.service.wiring import build_guesser, make_pipelines

    settings = ctx.settings
    if rule_paths:
        settings = settings.model_copy(update={"rules": list(rule_paths)})
    with friendly_errors():
        outcome = dry_run(
            settings, list(files), make_pipelines(settings), build_guesser(settings), explain=explain
        )
    for problem in outcome.rule_problems:
        click.echo(f"invalid rule, left out: {problem}", err=True)
    for line in outcome.lines(as_json):
        click.echo(line)
    for failure in outcome.failures:
        click.echo(f"error: {failure}", err=True)
    sys.exit(1 if outcome.failures or any(not p.warning for p in outcome.rule_problems) else 0)


@rules.command("schema")
def rules_schema() -> None:
    """Print the JSON Schema of rule files, for editors (completion, descriptions, typos flagged).

    The repository keeps a copy in schema/rules.schema.json; a rule file points
    editors to it with this first line:

    \b
    # yaml-language-server: $schema=../schema/rules.schema.json

    Example: monitor rules schema > schema/rules.schema.json
    """
    from monitor.matching.schema import rule_file_schema_text

    click.echo(rule_file_schema_text())


@rules.command("backtest")
@click.argument("rule_files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--since",
    default="30d",
    show_default=True,
    help="Articles ingested since: a duration (24h, 7d) or a date (2024-05-01).",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    help="At most this many articles, newest first (default: every article since --since).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per (article, rule) match.")
@pass_ctx
def rules_backtest(
    ctx: Context, rule_files: tuple[Path, ...], since: str, limit: int | None, as_json: bool
) -> None:
    """What the rules in RULE_FILES would have matched among the stored articles.

    Only the rules defined in RULE_FILES run; their queries may use the
    @concepts of the configured rule files, and a rule with the id of a
    configured one replaces it.  Records no hit and sends no alert.  Prints
    every match, then per rule "rule ID: N of M articles" (on stderr with --json).
    Exit 1 when RULE_FILES have errors (the valid rules still run).

    Example: monitor rules backtest rules/new.yaml --since 7d
    """
    from monitor.matching.matcher import ArticleMatcher
    from monitor.pipeline.backtest import Backtest, load_candidates
    from monitor.service.wiring import build_index, make_pipelines, open_store

    settings = ctx.settings
    with friendly_errors():
        cutoff = _parse_since(since)
        candidates = load_candidates(list(rule_files), settings)
    for problem in candidates.problems:
        click.echo(str(problem), err=True)
    if not candidates.rules:
        click.echo(f"no rules to backtest in {', '.join(str(p) for p in rule_files)}", err=True)
        sys.exit(1)
    with friendly_errors():
        store = open_store(settings)
        matcher = ArticleMatcher(build_index(candidates, make_pipelines(settings), settings))
        backtest = Backtest(candidates.rules)
        at_most = f", at most {limit}" if limit else ""
        click.echo(
            f"backtest: {len(candidates.rules)} rule(s) on the articles ingested since "
            f"{cutoff.astimezone(UTC):%Y-%m-%d %H:%M} UTC{at_most}",
            err=True,
        )
        for hit in backtest.run(store, matcher, since=cutoff, limit=limit):
            for line in hit.lines(as_json):
                click.echo(line)
    for line in backtest.summary():
        click.echo(line, err=as_json)
    sys.exit(1 if candidates.errors else 0)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--source", help="Source name recorded with the articles (default: the folder name).")
@click.option("--language", help="Force this language for every article (default: metadata, then detection).")
@pass_ctx
def scan(ctx: Context, paths: tuple[Path, ...], source: str | None, language: str | None) -> None:
    """Ingest files or folders once, as the daemon would: record hits and send alerts.

    Example: monitor scan ~/archive/2024/
    """
    from monitor.pipeline import IngestReport
    from monitor.service.daemon import Daemon
    from monitor.service.wiring import build_pipeline
    from monitor.sources.files import iter_folder

    settings = ctx.settings
    with friendly_errors():
        pipeline = build_pipeline(settings)
        total = IngestReport()
        for path in paths:
            if path.is_dir():
                folder = FolderSource(path=path, name=source, language=language)
                found = list(iter_folder(folder))
                name, under = folder.source_name, str(path)
            else:
                found, name, under = [path], source or path.parent.name or "scan", str(path)
            with click.progressbar(length=len(found), label=str(path), file=sys.stderr, show_pos=True) as bar:
                report = pipeline.scan_files(
                    found, source=name, language=language, under=under, on_file=lambda _p: bar.update(1)
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


OUTPUT_FORMATS = ("text", "jsonl", "csv")
R = TypeVar("R")


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
        help=f'Only {what} whose article contains these words ("a phrase", OR, -word, prefix*), '
        "best match first.",
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


@main.command()
@click.option("--rule", help="Only hits of this rule id.")
@click.option("--since", help="Only hits newer than this: a duration (24h, 7d) or a date (2024-05-01).")
@search_option("hits")
@click.option(
    "--limit",
    default=100,
    show_default=True,
    type=click.IntRange(min=0),
    help="At most this many hits, newest (or best) first; 0: all of them.",
)
@output_options
@pass_ctx
def hits(
    ctx: Context,
    rule: str | None,
    since: str | None,
    search: str | None,
    limit: int,
    output_format: str | None,
    as_json: bool,
) -> None:
    """List recorded hits, newest first; with --search, those whose article has the words, best first.

    \b
    Example: monitor hits --rule nato --since 7d --json
    Example: monitor hits --search '"cessate il fuoco" OR tregua' --since 30d
    Example: monitor hits --limit 0 --format csv > hits.csv   (the whole history)
    """
    from monitor.pipeline.export import HIT_FIELDS, hit_record
    from monitor.service.wiring import open_store
    from monitor.store.search import History, HitFilter

    settings = ctx.settings
    chosen = output_format or ("jsonl" if as_json else "text")
    with friendly_errors():
        cutoff = _parse_since(since) if since else None
        wanted = HitFilter(rule=rule, since=cutoff, search=search, limit=limit or None)
        found = History(open_store(settings)).hits(wanted)
        count = emit(found, chosen, hit_record, HIT_FIELDS, _hit_line)
    if not count and chosen == "text":
        click.echo("no hits", err=True)


def _hit_line(found: FoundHit) -> str:
    row = found.hit
    terms = ", ".join(sorted({t["text"] for t in row.terms}))
    also = f"  (also: {', '.join(row.also_reported_by)})" if row.also_reported_by else ""
    return f"{row.created_at:%Y-%m-%d %H:%M} {row.rule_id:<20} {row.title[:70]}  [{terms}]{also}"


@main.command()
@click.option("--since", help="Only articles ingested since: a duration (24h, 7d) or a date (2024-05-01).")
@search_option("articles")
@click.option("--source", help="Only articles of this source (its name as shown in alerts).")
@click.option("--language", help="Only articles in this language (it, en, …).")
@click.option("--without-hits", is_flag=True, help="Only articles that matched no rule.")
@click.option(
    "--limit",
    default=100,
    show_default=True,
    type=click.IntRange(min=0),
    help="At most this many articles, newest (or best) first; 0: all of them.",
)
@output_options
@pass_ctx
def articles(
    ctx: Context,
    since: str | None,
    search: str | None,
    source: str | None,
    language: str | None,
    without_hits: bool,
    limit: int,
    output_format: str | None,
    as_json: bool,
) -> None:
    """List stored articles, hits or not, newest first; with --search, best match first.

    \b
    Example: monitor articles --search 'Finlandia NATO' --without-hits
    Example: monitor articles --since 7d --source ANSA --format csv > ansa.csv
    """
    from monitor.pipeline.export import ARTICLE_FIELDS, article_record
    from monitor.service.wiring import open_store
    from monitor.store.search import ArticleFilter, History

    settings = ctx.settings
    chosen = output_format or ("jsonl" if as_json else "text")
    with friendly_errors():
        cutoff = _parse_since(since) if since else None
        wanted = ArticleFilter(
            since=cutoff,
            search=search,
            source=source,
            language=language,
            without_hits=without_hits,
            limit=limit or None,
        )
        found = History(open_store(settings)).articles(wanted)
        count = emit(found, chosen, article_record, ARTICLE_FIELDS, _article_line)
    if not count and chosen == "text":
        click.echo("no articles", err=True)


def _article_line(article: ArticleView) -> str:
    hits = f"{article.hits} hit(s)" if article.hits else "no hits"
    line = (
        f"{article.ingested_at:%Y-%m-%d %H:%M} {article.source[:16]:<16} {article.language or '-':<3}"
        f" {article.title[:70]}  [{hits}]"
    )
    return f"{line}\n    {article.headline}" if article.headline else line


@main.group("deliveries", invoke_without_command=True)
@click.option("--failed", "status", flag_value="dead", help="Only deliveries that gave up (dead).")
@click.option("--pending", "status", flag_value="pending", help="Only deliveries waiting to be sent.")
@click.option("--sent", "status", flag_value="sent", help="Only deliveries sent.")
@click.option("--channel", help="Only this channel.")
@click.option("--limit", default=100, show_default=True, help="At most this many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per delivery.")
@click.pass_context
def deliveries(
    click_ctx: click.Context, status: str | None, channel: str | None, limit: int, as_json: bool
) -> None:
    """List the outbox: each alert per channel, its status, attempts and last error.

    Example: monitor deliveries --failed
    """
    if click_ctx.invoked_subcommand is not None:
        return
    from monitor.service.wiring import open_store

    ctx = click_ctx.find_object(Context)
    assert ctx is not None  # main() always sets it
    with friendly_errors():
        rows = open_store(ctx.settings).deliveries(status=status, channel=channel, limit=limit)
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
                        "last_error": row.last_error,
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
            error = f"  {row.last_error[:100]}" if row.last_error and row.status != "sent" else ""
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
    from monitor.service.wiring import open_store

    if not ids and not all_failed:
        click.echo(
            "error: name delivery ids (monitor deliveries --failed lists them) or --all-failed", err=True
        )
        sys.exit(2)
    with friendly_errors():
        count = open_store(ctx.settings).retry_deliveries(datetime.now(UTC), ids, all_dead=all_failed)
    click.echo(
        f"{count} delivery(ies) queued again; the running daemon (or the next run) sends them", err=True
    )
    if ids and count < len(ids):
        sys.exit(1)


@main.group("notify")
def notify() -> None:
    """Try channels before a real alert needs them."""


@notify.command("test")
@click.argument("channels", nargs=-1, required=True)
@pass_ctx
def notify_test(ctx: Context, channels: tuple[str, ...]) -> None:
    """Send one sample alert to each CHANNEL and report what its receiver really answered.

    A 404, an error body or a refused connection is a failure, never "sent".
    Exit 0 when every channel accepted the sample, 1 otherwise, 2 for an
    unknown channel or a channel that cannot be built.
    Example: monitor notify test slack-esteri
    """
    import asyncio

    from monitor.pipeline import utcnow
    from monitor.service.wiring import test_channels

    settings = ctx.settings
    with friendly_errors():
        outcomes = asyncio.run(test_channels(settings, list(dict.fromkeys(channels)), utcnow()))
    for outcome in outcomes:
        click.echo(str(outcome), err=not outcome.ok)
    sys.exit(0 if all(outcome.ok for outcome in outcomes) else 1)


@main.group("feeds", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per feed.")
@click.pass_context
def feeds(click_ctx: click.Context, as_json: bool) -> None:
    """Show each configured feed's state: last fetch, HTTP status, new entries, errors, next fetch.

    Example: monitor feeds
    """
    if click_ctx.invoked_subcommand is not None:
        return
    from monitor.service.wiring import open_store

    ctx = click_ctx.find_object(Context)
    assert ctx is not None  # main() always sets it
    settings = ctx.settings
    with friendly_errors():
        states = open_store(settings).feed_states()
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
                f"last {_ago(state.last_fetch_at):>8}  new {row['new_entries']:>3}  "
                f"errors {row['error_streak']:>2}  next {_ago(state.next_fetch_at):>8}  "
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
    from monitor.service.wiring import open_store

    settings = ctx.settings
    if url not in {feed.url for feed in settings.sources.feeds}:
        click.echo(f"error: {url} is not among the configured feeds", err=True)
        sys.exit(1)
    with friendly_errors():
        store = open_store(settings)
        state = store.feed_state(url)
        store.save_feed_state(replace(state, disabled=None, error_streak=0, next_fetch_at=None))
    click.echo(f"{url}: enabled; polled on its next run", err=True)


@db.command("prune")
@click.option("--dry-run", is_flag=True, help="Count what would be removed; change nothing.")
@pass_ctx
def db_prune(ctx: Context, dry_run: bool) -> None:
    """Apply the retention policy (retention: in the config) now, as the daemon does daily.

    Empties old article bodies and deletes old rows in small transactions; an
    alert still pending or held is never removed.  Example: monitor db prune --dry-run
    """
    from monitor.service.wiring import open_store
    from monitor.store.retention import Retention, cutoffs

    settings = ctx.settings
    if not settings.retention.enabled:
        click.echo("nothing to prune: the history is kept forever (see retention: in the config)", err=True)
        return
    with friendly_errors():
        retention = Retention(open_store(settings).engine)
        cut = cutoffs(settings.retention, datetime.now(UTC))
        report = retention.count(cut) if dry_run else retention.prune(cut)
    click.echo(
        f"{'would empty' if dry_run else 'emptied'} {report.bodies} article bodies; "
        f"{'would delete' if dry_run else 'deleted'} {report.articles} articles, {report.hits} hits, "
        f"{report.deliveries} sent deliveries"
    )


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


def _ago(when: datetime | None) -> str:
    """A time as a short distance from now: "5m ago", "in 2h"."""
    if when is None:
        return "-"
    seconds = (when - datetime.now(UTC)).total_seconds()
    size = abs(seconds)
    text = f"{size:.0f}s" if size < 120 else f"{size / 60:.0f}m" if size < 7200 else f"{size / 3600:.0f}h"
    return f"in {text}" if seconds > 0 else f"{text} ago"


def _parse_since(text: str) -> datetime:
    try:
        return datetime.now(UTC) - timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"--since {text!r}: use a duration such as 24h or 7d, or a date such as 2024-05-01"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


__all__ = ["ArticleParseError", "main"]

"""Rule files: check them, try them on files, print their schema, backtest them."""

from __future__ import annotations

import sys
from datetime import UTC
from pathlib import Path

import click

from monitor.cli.base import Context, friendly_errors, open_store_for, parse_since, pass_ctx


@click.group()
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
    for problem in outcome.rule_problems:  # a warning's rule runs: only errors leave one out
        click.echo(str(problem) if problem.warning else f"invalid rule, left out: {problem}", err=True)
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
    from monitor.pipeline.prefilter import Prefilter
    from monitor.service.wiring import build_index, make_pipelines

    settings = ctx.settings
    with friendly_errors():
        cutoff = parse_since(since)
        candidates = load_candidates(list(rule_files), settings)
    for problem in candidates.problems:
        click.echo(str(problem), err=True)
    if not candidates.rules:
        click.echo(f"no rules to backtest in {', '.join(str(p) for p in rule_files)}", err=True)
        sys.exit(1)
    with friendly_errors():
        store = open_store_for(settings)
        matcher = ArticleMatcher(build_index(candidates, make_pipelines(settings), settings))
        backtest = Backtest(candidates.rules)
        at_most = f", at most {limit}" if limit else ""
        click.echo(
            f"backtest: {len(candidates.rules)} rule(s) on the articles ingested since "
            f"{cutoff.astimezone(UTC):%Y-%m-%d %H:%M} UTC{at_most}",
            err=True,
        )
        query = Prefilter(matcher.index.pipelines).query(candidates.rules)
        for hit in backtest.run(store, matcher, query, since=cutoff, limit=limit):
            for line in hit.lines(as_json):
                click.echo(line)
    for line in backtest.summary():
        click.echo(line, err=as_json)
    sys.exit(1 if candidates.errors else 0)

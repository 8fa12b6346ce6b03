"""What was recorded: hits and articles, filtered, searched, in text, JSON lines or CSV."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from monitor.cli.base import (
    Context,
    emit,
    friendly_errors,
    open_store_for,
    output_options,
    parse_since,
    pass_ctx,
    search_option,
    short_lived,
)

if TYPE_CHECKING:  # imported by the commands that need them: --help stays fast
    from monitor.store.search import ArticleView, FoundHit


@click.command()
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
@short_lived
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
    from monitor.store.search import History, HitFilter

    settings = ctx.settings
    chosen = output_format or ("jsonl" if as_json else "text")
    with friendly_errors():
        cutoff = parse_since(since) if since else None
        wanted = HitFilter(rule=rule, since=cutoff, search=search, limit=limit or None)
        found = History(open_store_for(settings)).hits(wanted)
        count = emit(found, chosen, hit_record, HIT_FIELDS, _hit_line)
    if not count and chosen == "text":
        click.echo("no hits", err=True)


def _hit_line(found: FoundHit) -> str:
    row = found.hit
    terms = ", ".join(sorted({t["text"] for t in row.terms}))
    also = f"  (also: {', '.join(row.also_reported_by)})" if row.also_reported_by else ""
    return f"{row.created_at:%Y-%m-%d %H:%M} {row.rule_id:<20} {row.title[:70]}  [{terms}]{also}"


@click.command()
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
@short_lived
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
    from monitor.store.search import ArticleFilter, History

    settings = ctx.settings
    chosen = output_format or ("jsonl" if as_json else "text")
    with friendly_errors():
        cutoff = parse_since(since) if since else None
        wanted = ArticleFilter(
            since=cutoff,
            search=search,
            source=source,
            language=language,
            without_hits=without_hits,
            limit=limit or None,
        )
        found = History(open_store_for(settings)).articles(wanted)
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

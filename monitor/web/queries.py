"""One function per page, shared by the page and its JSON twin (the datasette way).

Each takes the request's parameters already read, asks the store once per need
(off the event loop) and returns the API's wire model; the page renders that
same object.  Bad parameters raise :class:`BadRequest` naming the parameter.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.config import parse_duration
from monitor.errors import RuleProblem, UsageError
from monitor.matching.evaluate import describe
from monitor.matching.query import And, Near, Node, Not, Or
from monitor.matching.rulefile import RuleSpec, load_rule_text
from monitor.models import Article, FeedState, Match, make_article
from monitor.store.views import ArticleQuery, Cursor, HitItem, HitQuery, RuleStats
from monitor.web import schemas as s
from monitor.web.context import WebContext
from monitor.web.workbench import Decision

PAGE = 50
PLAYGROUND_ID = "my-rule"
HIT_FILTER_NAMES = ("rule", "source", "tag", "language", "since", "until", "q", "cursor")


class BadRequest(Exception):
    """A parameter or body a client must fix: a 4xx naming it."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.status = message, status


# -- parameters ----------------------------------------------------------------------------------
def parse_time(name: str, text: str, now: datetime) -> datetime:
    """``24h``/``7d`` (that long ago) or a date/time (``2024-05-01``, UTC unless it says)."""
    try:
        return now - timedelta(seconds=parse_duration(text))
    except (ValueError, OverflowError):
        pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadRequest(
            f"{name}={text!r}: use a duration such as 24h or 7d, or a date such as 2024-05-01"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_int(name: str, text: str | None, default: int, low: int, high: int) -> int:
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name}={text!r}: expected a whole number") from None
    if not low <= value <= high:
        raise BadRequest(f"{name}={value}: expected a number from {low} to {high}")
    return value


def _text(params: Mapping[str, str], name: str, limit: int = 500) -> str | None:
    value = params.get(name, "").strip()
    if len(value) > limit:
        raise BadRequest(f"{name}: at most {limit} characters")
    return value or None


def hit_query(params: Mapping[str, str], now: datetime) -> HitQuery:
    """The hits listing's filters from a query string: rule, source, tag, language, since, until,
    q (the ``monitor hits --search`` grammar), cursor, after, limit."""
    since, until = _text(params, "since", 64), _text(params, "until", 64)
    cursor = _text(params, "cursor", 200)
    try:
        before = Cursor.decode(cursor) if cursor else None
    except ValueError as exc:
        raise BadRequest(f"cursor: {exc}") from None
    after = params.get("after")
    return HitQuery(
        rule=_text(params, "rule", 200),
        source=_text(params, "source"),
        tag=_text(params, "tag", 200),
        language=_text(params, "language", 16),
        since=parse_time("since", since, now) if since else None,
        until=parse_time("until", until, now) if until else None,
        search=_text(params, "q", 1000),
        before=before,
        after_id=parse_int("after", after, 0, 0, 2**62) if after else None,
        limit=parse_int("limit", params.get("limit"), PAGE, 1, 200),
    )


def _searching(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except UsageError as exc:  # a search with nothing to look for
        raise BadRequest(str(exc)) from None


# -- hits and articles ---------------------------------------------------------------------------
def terms_out(terms: list[dict[str, Any]]) -> list[s.TermOut]:
    out = []
    for term in terms:
        try:
            out.append(
                s.TermOut(
                    term=str(term.get("term", "")),
                    text=str(term.get("text", "")),
                    field=str(term.get("field", "")),
                    start=int(term.get("start", 0)),
                    end=int(term.get("end", 0)),
                )
            )
        except (TypeError, ValueError):
            continue
    return out


def hit_out(item: HitItem) -> s.HitOut:
    return s.HitOut(
        id=item.id,
        rule=item.rule_id,
        rule_name=item.rule_name,
        rule_tags=list(item.rule_tags or ()),
        created_at=item.created_at,
        article=s.ArticleRef(
            id=item.article_id,
            title=item.title,
            url=item.url,
            source=item.source,
            language=item.language,
            published=item.published,
        ),
        terms=terms_out(item.terms),
        snippet=item.snippet,
        also_reported_by=list(item.also_reported_by),
    )


async def hits(ctx: WebContext, wanted: HitQuery) -> s.HitsPage:
    page = await ctx.read(_searching, ctx.views.hits, wanted)
    newest = await ctx.read(ctx.views.newest_hit_id)
    return s.HitsPage(
        items=[hit_out(item) for item in page.items],
        next=page.next.encode() if page.next else None,
        newest_id=newest,
    )


def article_query(params: Mapping[str, str], now: datetime) -> ArticleQuery:
    since, cursor = _text(params, "since", 64), _text(params, "cursor", 200)
    try:
        before = Cursor.decode(cursor) if cursor else None
    except ValueError as exc:
        raise BadRequest(f"cursor: {exc}") from None
    return ArticleQuery(
        since=parse_time("since", since, now) if since else None,
        search=_text(params, "q", 1000),
        source=_text(params, "source"),
        language=_text(params, "language", 16),
        before=before,
        limit=parse_int("limit", params.get("limit"), PAGE, 1, 200),
    )


async def articles(ctx: WebContext, wanted: ArticleQuery) -> s.ArticlesPage:
    page = await ctx.read(_searching, ctx.views.articles, wanted)
    return s.ArticlesPage(
        items=[
            s.ArticleOut(
                id=a.id,
                uid=a.uid,
                title=a.title,
                url=a.url,
                source=a.source,
                language=a.language,
                published=a.published,
                ingested_at=a.ingested_at,
                tags=list(a.tags or ()),
                hits=int(a.hits),
            )
            for a in page.items
        ],
        next=page.next.encode() if page.next else None,
    )


async def article(ctx: WebContext, article_id: int) -> s.ArticleDetailOut:
    detail = await ctx.read(ctx.views.article, article_id)
    if detail is None:
        raise BadRequest(f"no article {article_id}", 404)
    a = detail.article
    return s.ArticleDetailOut(
        id=detail.id,
        uid=a.uid,
        title=a.title,
        summary=a.summary,
        body=a.body,
        url=a.url,
        source=a.source,
        origin=a.origin,
        language=a.language,
        published=a.published,
        ingested_at=detail.ingested_at,
        tags=list(a.tags),
        authors=list(a.authors),
        hits=[
            s.ArticleHitOut(
                rule=h.rule_id,
                rule_name=h.rule_name,
                rule_tags=list(h.rule_tags or ()),
                created_at=h.created_at,
                terms=terms_out(h.terms),
                snippet=h.snippet,
            )
            for h in detail.hits
        ],
        also_reported_by=[s.StoryRef(id=i, source=src, title=t) for i, src, t in detail.also_reported_by],
    )


def stored_article(out: s.ArticleDetailOut) -> Article:
    """The article as the matcher sees it, from its page's data."""
    return Article(
        uid=out.uid,
        fingerprint="",
        title=out.title,
        summary=out.summary,
        body=out.body,
        url=out.url,
        published=out.published,
        language=out.language,
        source=out.source,
        origin=out.origin,
        tags=tuple(out.tags),
        authors=tuple(out.authors),
    )


async def explain_article(ctx: WebContext, out: s.ArticleDetailOut) -> dict[str, Decision]:
    """Each rule with a hit on the article and still loaded: its decision, clause by clause."""
    specs = [spec for hit in out.hits if (spec := ctx.spec(hit.rule)) is not None]
    if not specs:
        return {}
    decisions = await ctx.workbench.run(ctx.workbench.decide, specs, stored_article(out), matches=False)
    return {d.rule_id: d for d in decisions}


# -- rules ---------------------------------------------------------------------------------------
def problem_out(problem: RuleProblem) -> s.RuleProblemOut:
    return s.RuleProblemOut(
        path=problem.path,
        line=problem.line,
        column=problem.column,
        rule=problem.rule_id,
        message=problem.message,
        warning=problem.warning,
        text=str(problem),
    )


def throttle_text(spec: RuleSpec) -> str | None:
    if spec.throttle is None:
        return None
    count, seconds = spec.throttle
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{count}/{int(seconds // size)}{unit}".replace("/1", "/", 1)
    return f"{count}/{seconds:g}s"


def rule_out(spec: RuleSpec, stats: RuleStats | None, default_notify: list[str]) -> s.RuleOut:
    stats = stats or RuleStats()
    return s.RuleOut(
        id=spec.id,
        name=spec.name,
        query=spec.query,
        description=spec.description,
        file=spec.path,
        line=spec.line,
        languages=list(spec.languages),
        lemmas=spec.lemmas,
        min_mentions=spec.min_mentions,
        in_title=spec.in_title,
        notify=list(spec.notify or default_notify),
        tags=list(spec.tags),
        throttle=throttle_text(spec),
        urgent=spec.urgent,
        stats=s.RuleStatsOut(
            day=stats.day, week=stats.week, month=stats.month, last=stats.last, daily=stats.daily or [0] * 30
        ),
    )


RULES_PAGE = 200
STATS_SECONDS = 15.0  # hit counts per rule are read again at most this often
FACETS_SECONDS = 60.0
MAX_PROBLEMS = 500


async def rules(ctx: WebContext, params: Mapping[str, str], wait: float = 2.0) -> s.RulesOut:
    """The loaded rules (``q`` narrows them by id, name or query), a page at a time, with their counts;
    and the rule files' problems."""
    text = (_text(params, "q", 500) or "").casefold()
    limit = parse_int("limit", params.get("limit"), RULES_PAGE, 1, 5000)
    offset = parse_int("offset", params.get("offset"), 0, 0, 10_000_000)
    chosen = [
        spec
        for spec in ctx.rules()
        if not text
        or text in spec.id.casefold()
        or text in spec.name.casefold()
        or text in spec.query.casefold()
    ]
    now = ctx.clock()
    stats = await ctx.read_recent("rule_stats", STATS_SECONDS, lambda: ctx.views.rule_stats(now))
    read = await ctx.rule_files.current(wait)
    default_notify = ctx.settings().default_notify
    problems = read.problems if read else []
    shown = chosen[offset : offset + limit]
    quiet = [spec.id for spec in shown if spec.id not in stats]
    older = await ctx.read(ctx.views.last_hits, quiet) if quiet else {}
    return s.RulesOut(
        rules=[
            rule_out(spec, stats.get(spec.id) or RuleStats(last=older.get(spec.id)), default_notify)
            for spec in shown
        ],
        total=len(chosen),
        next_offset=offset + limit if offset + limit < len(chosen) else None,
        problems=[problem_out(p) for p in problems[:MAX_PROBLEMS]],
        more_problems=max(0, len(problems) - MAX_PROBLEMS),
        checked=read is not None,
    )


# -- playground ----------------------------------------------------------------------------------
def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def rule_yaml(options: s.RuleOptions, rule_id: str = PLAYGROUND_ID) -> str:
    """The rule as a rule file holds it: what "Copy as YAML" gives."""
    lines = ["rules:", f"  - id: {rule_id}", f"    query: {_quoted(' '.join(options.query.split()))}"]
    if options.languages:
        lines.append(f"    languages: [{', '.join(_quoted(code) for code in options.languages)}]")
    if options.lemmas:
        lines.append("    lemmas: true")
    if options.min_mentions != 1:
        lines.append(f"    min_mentions: {options.min_mentions}")
    if options.in_title:
        lines.append("    in_title: true")
    return "\n".join(lines) + "\n"


def outline(node: Node, depth: int = 0) -> list[str]:
    """The parsed query, one clause a line, indented by depth."""
    pad = "  " * depth
    if isinstance(node, And | Or) and not (isinstance(node, Or) and node.label):
        return [pad + ("AND" if isinstance(node, And) else "OR")] + [
            line for item in node.items for line in outline(item, depth + 1)
        ]
    if isinstance(node, Not):
        return [pad + "NOT", *outline(node.item, depth + 1)]
    if isinstance(node, Near):
        return [pad + describe(node)] + [line for item in node.items for line in outline(item, depth + 1)]
    return [pad + describe(node)]


@dataclass(frozen=True)
class Checked:
    out: s.RuleCheckOut
    spec: RuleSpec | None


async def check_rule(ctx: WebContext, options: s.RuleOptions) -> Checked:
    """The rule judged as ``monitor rules check`` would, with the configured @concepts."""
    text = rule_yaml(options)
    read = await ctx.rule_files.current(0.5)
    concepts = read.concepts if read else {}
    result = await ctx.read(load_rule_text, text, "playground.yaml", concepts)
    spec = result.rules[0] if result.rules and not result.errors else None
    return Checked(
        s.RuleCheckOut(
            ok=spec is not None,
            problems=[problem_out(p) for p in result.problems],
            yaml=text,
            outline=outline(spec.expr) if spec else [],
        ),
        spec,
    )


def decision_out(decision: Decision) -> s.DecisionOut:
    match = decision.match
    return s.DecisionOut(
        fired=decision.fired,
        reason=decision.reason,
        explain=decision.tree,
        evidence=decision.evidence,
        terms=[s.TermOut(**hit._asdict()) for hit in match.terms] if match else [],
        snippet=match.snippet if match else "",
    )


async def test_rule(
    ctx: WebContext, wanted: s.RuleTestIn
) -> tuple[s.RuleTestOut, Article | None, Decision | None]:
    """The rule on a pasted text: fired or not, why, with the evidence."""
    checked = await check_rule(ctx, wanted)
    base = checked.out.model_dump()
    if checked.spec is None or not (wanted.title.strip() or wanted.text.strip()):
        return s.RuleTestOut(**base), None, None
    trial = make_article(
        title=wanted.title,
        body=wanted.text,
        language=wanted.language,
        source="playground",
        origin="playground",
    )
    languages = ctx.settings().language_models
    if trial.language is not None and trial.language not in languages:
        raise BadRequest(
            f"language {wanted.language!r} is not read by this monitor (language_models: "
            f"{', '.join(languages)}); leave it empty to have it detected",
            422,
        )
    trial = await ctx.workbench.run(ctx.workbench.with_language, trial)
    decisions = await ctx.workbench.run(ctx.workbench.decide, [checked.spec], trial)
    decision = decisions[0]
    return s.RuleTestOut(**base, language=trial.language, decision=decision_out(decision)), trial, decision


async def backtest(ctx: WebContext, wanted: s.BacktestIn) -> s.BacktestOut:
    """The rule over the stored articles of the last ``days``, newest first, within the time budget."""
    checked = await check_rule(ctx, wanted)
    base = checked.out.model_dump()
    if checked.spec is None:
        return s.BacktestOut(**base)
    since = ctx.clock() - timedelta(days=wanted.days)
    deadline = time.monotonic() + ctx.limits.backtest_seconds
    result = await ctx.workbench.run(ctx.workbench.backtest, checked.spec, ctx.store, since, deadline)
    return s.BacktestOut(
        **base,
        scanned=result.scanned,
        matched=result.matched,
        complete=result.complete,
        seconds=round(result.seconds, 3),
        hits=[_backtest_hit(article_id, at, a, m) for article_id, at, a, m in result.shown],
    )


def _backtest_hit(article_id: int, at: datetime, a: Article, m: Match) -> s.BacktestHitOut:
    return s.BacktestHitOut(
        article=s.ArticleRef(
            id=article_id,
            title=a.title,
            url=a.url,
            source=a.source,
            language=a.language,
            published=a.published,
        ),
        ingested_at=at,
        terms=[s.TermOut(**hit._asdict()) for hit in m.terms],
        snippet=m.snippet,
    )


# -- sources -------------------------------------------------------------------------------------
def feed_out(url: str, name: str, tags: list[str], state: FeedState) -> s.FeedOut:
    return s.FeedOut(
        url=url,
        name=name,
        tags=tags,
        state=state.status,
        fetch_url=state.fetch_url,
        last_fetch=state.last_fetch_at,
        status=state.last_status,
        new_entries=state.last_new,
        entries_seen=state.entries_seen,
        error_streak=state.error_streak,
        next_fetch=state.next_fetch_at,
        problem=state.disabled or state.last_error,
    )


async def sources(ctx: WebContext) -> s.SourcesOut:
    settings = ctx.settings()
    states = await ctx.read(ctx.store.feed_states)
    feeds = [
        feed_out(feed.url, feed.source_name, list(feed.tags), states.get(feed.url) or FeedState(feed.url))
        for feed in settings.sources.feeds
    ]
    folders = []
    for folder in settings.sources.folders:
        files = await ctx.read(ctx.views.folder_files, str(folder.path))
        folders.append(
            s.FolderOut(
                path=str(folder.path),
                name=folder.source_name,
                files=files.counts,
                failures=[s.FolderFailure(path=p, reason=r, when=w) for p, r, w in files.failed],
                last_seen=files.last_seen,
            )
        )
    return s.SourcesOut(feeds=feeds, folders=folders)


# -- outbox --------------------------------------------------------------------------------------
STATUSES = ("pending", "held", "dead", "sent", "summarized")


async def outbox(ctx: WebContext, params: Mapping[str, str]) -> s.OutboxOut:
    status = _text(params, "status", 16)
    if status is not None and status not in STATUSES:
        raise BadRequest(f"status={status!r}: one of {', '.join(STATUSES)}")
    channel = _text(params, "channel", 200)
    before = parse_int("before", params.get("before"), 0, 1, 2**62) if params.get("before") else None
    limit = parse_int("limit", params.get("limit"), PAGE, 1, 200)
    counts = await ctx.read(ctx.views.outbox_counts)
    page = await ctx.read(ctx.views.deliveries, status, channel, before, limit)
    configured = ctx.settings().channels
    names = list(configured) + sorted(set(counts) - set(configured))
    return s.OutboxOut(
        channels=[
            s.ChannelOut(
                name=name,
                type=configured[name].type if name in configured else "(no longer configured)",
                counts=counts.get(name, {}),
            )
            for name in names
        ],
        items=[
            s.DeliveryOut(
                id=d.id,
                channel=d.channel,
                status=d.status,
                attempts=d.attempts,
                next_attempt=d.next_attempt_at,
                last_error=d.last_error,
                created=d.created_at,
                sent=d.sent_at,
                rule=d.rule_id,
                title=d.title,
                source=d.source,
            )
            for d in page.items
        ],
        next=page.next.minor if page.next else None,
    )


async def facets(ctx: WebContext) -> dict[str, list[str]]:
    """The hits page's filter choices: the loaded rules, the sources seen, the languages read."""
    sources = await ctx.read_recent("sources", FACETS_SECONDS, ctx.views.sources)
    return {
        "rules": sorted(spec.id for spec in ctx.rules()),
        "sources": sources,
        "languages": sorted(ctx.settings().language_models),
    }

"""What the web app changes or fetches: retries, re-enabled feeds, test alerts, ingested articles.

Each action is the CLI command's library call (``deliveries retry``, ``feeds
enable``, ``notify test``) or the pipeline's own path (an article posted is
matched and recorded as a dropped file's would be), so the page, the API and
the command line cannot disagree.  A linked page for the playground is
fetched like a feed entry's full text: through the SSRF-guarded client.
"""

from __future__ import annotations

import asyncio
from typing import Any

from monitor.errors import ArticleParseError, ConfigError, FeedFetchError
from monitor.service.wiring import test_channels
from monitor.sources.feeds import FeedFetcher
from monitor.sources.netguard import AddressGuard, GuardedClient
from monitor.sources.records import article_from_record, record_id
from monitor.sources.text import charset_of, decode_bytes, extract_html_article
from monitor.web import schemas as s
from monitor.web.context import WebContext
from monitor.web.queries import BadRequest, terms_out

API_SOURCE = "api"


async def retry(ctx: WebContext, wanted: s.RetryIn) -> s.RetryOut:
    """Dead (or backing-off) alerts due again now, with the same idempotency key; sent ones never."""
    if not wanted.ids and not wanted.all_dead:
        raise BadRequest("name delivery ids, or all_dead: true")
    done = await ctx.read(ctx.store.retry_deliveries, ctx.clock(), wanted.ids, all_dead=wanted.all_dead)
    if done.queued:
        ctx.outbox_changed()
    return s.RetryOut(queued=done.queued, refused={str(i): why for i, why in done.refused.items()})


async def enable_feed(ctx: WebContext, url: str) -> s.FeedEnableOut:
    if url not in {feed.url for feed in ctx.settings().sources.feeds}:
        raise BadRequest(f"{url} is not among the configured feeds", 404)

    def enable() -> None:
        ctx.store.save_feed_state(ctx.store.feed_state(url).enabled_again())

    await ctx.read(enable)
    return s.FeedEnableOut(url=url, enabled=True)


async def send_test(ctx: WebContext, channel: str) -> s.TestAlertOut:
    """One sample alert through ``channel``, built as the daemon builds it (``monitor notify test``)."""
    settings = ctx.settings()
    if channel not in settings.channels:
        raise BadRequest(
            f"no channel named {channel!r}; configured: {', '.join(settings.channels) or 'none'}", 404
        )
    try:
        [outcome] = await test_channels(settings, [channel], ctx.clock())
    except ConfigError as exc:
        raise BadRequest(str(exc), 422) from None
    return s.TestAlertOut(
        channel=outcome.channel, ok=outcome.ok, message=outcome.message, retryable=outcome.retryable
    )


async def ingest(ctx: WebContext, record: Any) -> s.IngestOut:
    """An article posted in the JSON file format, matched and recorded through the pipeline.

    Idempotent: a story already stored (same id or URL, or the same text) is
    not matched again; the answer is the stored article and its hits, marked
    as a duplicate.
    """
    if ctx.ingest is None:
        raise BadRequest("this server only reads (monitor web): post articles to the daemon's web app", 405)
    ident = record_id(record) if isinstance(record, dict) else None
    try:
        article = article_from_record(
            record, where="the posted article", source=API_SOURCE, origin=f"api#{ident}" if ident else "api"
        )
    except ArticleParseError as exc:
        raise BadRequest(str(exc), 422) from None
    languages = ctx.settings().language_models
    if article.language is not None and article.language not in languages:
        # each new language costs a spaCy pipeline and a rule table: a stranger may not add them
        raise BadRequest(
            f"the posted article: language {article.language!r} is not read by this monitor "
            f"(language_models: {', '.join(languages)}); leave it out to have it detected",
            422,
        )
    known = await ctx.read(ctx.views.article_id, article.uid, article.fingerprint)
    duplicate = known is not None
    if known is None:
        await ctx.ingest([article])
        known = await ctx.read(ctx.views.article_id, article.uid, article.fingerprint)
    if known is None:  # refused by the store (the pipeline logged why)
        raise BadRequest("the article could not be stored; the daemon's log says why", 422)
    detail = await ctx.read(ctx.views.article, known)
    if detail is None:  # pruned between the two reads
        raise BadRequest("the article is gone (retention)", 404)
    hits = [
        s.IngestHitOut(rule=h.rule_id, rule_name=h.rule_name, terms=terms_out(h.terms), snippet=h.snippet)
        for h in detail.hits
    ]
    return s.IngestOut(id=known, uid=detail.article.uid, duplicate=duplicate, hits=hits)


async def fetch_page(ctx: WebContext, url: str) -> tuple[str, str]:
    """(title, text) of the article at ``url``, fetched as a feed entry's full text is: the guarded
    client (never into the local network unless http.allow_private_networks), size and time bounded."""
    http = ctx.settings().http
    guard = AddressGuard(allow_private=http.allow_private_networks)
    try:
        async with GuardedClient(
            guard, headers={"User-Agent": http.agent}, timeout=http.timeout
        ) as untrusted:
            fetcher = FeedFetcher(
                untrusted.client,
                untrusted=untrusted,
                user_agent=http.agent,
                connect_timeout=http.connect_timeout,
                read_timeout=http.read_timeout,
            )
            page = await fetcher.fetch_untrusted(
                url, timeout=http.timeout, max_bytes=min(http.max_bytes, 5_000_000)
            )
    except FeedFetchError as exc:
        raise BadRequest(f"{url}: {exc}", 422) from None
    html = decode_bytes(page.content or b"", charset_of(page.headers.get("content-type", "")))
    try:
        return await asyncio.to_thread(extract_html_article, html)
    except ArticleParseError as exc:
        raise BadRequest(f"{url}: {exc}", 422) from None

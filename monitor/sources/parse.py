"""RSS/Atom bytes → Articles, with feedparser, and no network.

feedparser is always handed the bytes we fetched (or read from disk) and the
response headers, never a URL: fetching is ``feeds.py``'s job, with our
timeouts and size limits, and parsing bytes keeps this module testable
without a server.

HTML sanitising and relative-URI resolution are turned off: every HTML value
is flattened to text here anyway, and the two account for about 40% of
feedparser's time on feeds with full content (DESIGN.md).  Entry links are
still resolved against ``xml:base``.
"""

from __future__ import annotations

import calendar
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import feedparser

from monitor.errors import ArticleParseError
from monitor.models import Article, make_article
from monitor.sources.text import html_to_text

log = logging.getLogger(__name__)

_WHITESPACE = re.compile(r"\s+")


def parse_feed(
    data: bytes,
    *,
    source: str,
    origin: str,
    headers: Mapping[str, str] | None = None,
    language: str | None = None,
    tags: tuple[str, ...] = (),
) -> list[Article]:
    """Every readable entry of an RSS or Atom document, in document order.

    ``origin`` (the feed URL or file path) names the feed in errors and logs and,
    with ``#<entry id>`` (or ``#<position>``), each article's origin.
    ``headers`` let feedparser honour the served charset and Content-Language.
    ``language`` is the configured one and wins over what the feed declares.

    Feeds in the wild are often slightly broken; if feedparser still recovers
    entries they are used and the problem is logged.  A document that yields
    no entries because it is broken, or that is not a feed at all (an HTML
    error page served as 200), raises :class:`ArticleParseError`.  A valid feed
    with no entries is simply empty.
    """
    response_headers = {key.lower(): value for key, value in (headers or {}).items()}
    parsed = feedparser.parse(
        data,
        response_headers=response_headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    entries = parsed.entries
    if not entries and parsed.bozo:
        raise ArticleParseError(f"{origin}: not a readable feed: {_reason(parsed)}")
    if not entries and not parsed.version:
        raise ArticleParseError(f"{origin}: not an RSS or Atom feed")
    if parsed.bozo:
        log.warning(
            "feed=%s problem=%r entries=%d: using what could be read", origin, _reason(parsed), len(entries)
        )
    feed_language = parsed.feed.get("language")
    articles = []
    for position, entry in enumerate(entries, start=1):
        article = _entry_article(
            entry,
            source=source,
            origin=origin,
            position=position,
            language=language or _entry_language(entry) or feed_language,
            tags=tags,
        )
        if article is None:
            log.debug("feed=%s entry=%d skipped: no title and no text", origin, position)
        else:
            articles.append(article)
    return articles


def _reason(parsed: Any) -> str:
    exc = parsed.get("bozo_exception")
    return f"{type(exc).__name__}: {exc}" if exc is not None else "unknown problem"


def _entry_article(
    entry: Any,
    *,
    source: str,
    origin: str,
    position: int,
    language: str | None,
    tags: tuple[str, ...],
) -> Article | None:
    title = _WHITESPACE.sub(" ", _detail_text(entry.get("title_detail"), entry.get("title"))).strip()
    # Without a <summary>, feedparser copies the content into ``summary`` but
    # gives it no ``summary_detail``: that copy is not a summary.
    summary = _detail_text(entry.get("summary_detail"), None)
    contents = [_detail_text(item, None) for item in entry.get("content") or ()]
    content = "\n\n".join(dict.fromkeys(text for text in contents if text))
    # An item with only a description has a summary and no body: keeping one copy
    # means a rule counts each mention once.
    body = content if content != summary else ""
    if not title and not body and not summary:
        return None
    entry_id = (entry.get("id") or "").strip() or None
    return make_article(
        title=title,
        summary=summary,
        body=body,
        url=entry.get("link"),
        published=_entry_time(entry),
        language=language,
        source=source,
        origin=f"{origin}#{entry_id or position}",
        external_id=entry_id,
        tags=tags,
    )


def _detail_text(detail: Mapping[str, Any] | None, fallback: str | None) -> str:
    """Text of a feedparser ``*_detail`` value; only HTML types go through the HTML parser,
    so a plain-text "a < b" survives."""
    if not detail:
        return (fallback or "").strip()
    value = detail.get("value") or ""
    kind = detail.get("type") or "text/html"
    return html_to_text(value) if "html" in kind else value.strip()


def _entry_language(entry: Any) -> str | None:
    """dc:language on the entry, else the xml:lang its text was written in."""
    if entry.get("language"):
        return str(entry["language"])
    details = [*(entry.get("content") or ()), entry.get("summary_detail"), entry.get("title_detail")]
    for detail in details:
        if detail and detail.get("language"):
            return str(detail["language"])
    return None


def _entry_time(entry: Any) -> datetime | None:
    """feedparser normalises dates to UTC ``struct_time``; make them aware datetimes."""
    for key in ("published_parsed", "updated_parsed"):
        parsed = entry.get(key)
        if parsed:
            try:
                return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
            except (TypeError, ValueError, OverflowError, OSError):
                continue
    return None

"""RSS/Atom bytes → Articles, with feedparser, and no network.

feedparser is always handed the bytes we fetched (or read from disk) and the
response headers, never a URL: fetching is ``feeds.py``'s job, with our
timeouts and size limits, and parsing bytes keeps this module testable
without a server.

HTML sanitising and relative-URI resolution are turned off: every HTML value
is flattened to text here anyway, and the two are a large share of
feedparser's time on feeds with full content (DESIGN.md).  Entry links are
still resolved against ``xml:base``, then against the URL fetched (our own
``Content-Location``), and kept only as absolute http(s) URLs.

Hostile feeds
    XML's DTD can expand a few hundred bytes into gigabytes or name a local
    file or URL.  feedparser alone reads no file or URL but lets oversized
    entities through, so every document is decoded as feedparser would
    decode it, then its prolog is rebuilt by :func:`monitor.sources.prolog.defuse_prolog`
    (that module says what feedparser does by itself and what the guard adds).

Language
    An article's language is the configured one, else the entry's own
    (``dc:language``, or the ``xml:lang`` its text is in, which includes one
    on the feed element), else the feed's ``<language>``, else the
    ``Content-Language`` the server sent, else ``None`` (detection happens
    later, in the pipeline).  The header is kept from feedparser, which would
    copy it into every entry and so let it beat the feed's own declaration.
"""

from __future__ import annotations

import calendar
import codecs
import logging
import re
from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
from feedparser.encodings import convert_to_utf8
from feedparser.exceptions import NonXMLContentType

from monitor.errors import ArticleParseError
from monitor.models import Article, make_article, story_uid
from monitor.sources.prolog import defuse_prolog
from monitor.sources.text import html_to_text

log = logging.getLogger(__name__)

_WHITESPACE = re.compile(r"\s+")
# Code pages that decode any bytes at all, so that UTF-8 wrongly declared as one of them
# would silently become mojibake ("CittÃ ") that no rule ever matches.
_SINGLE_BYTE = re.compile(r"iso8859-\d+|cp125\d|cp437|cp850|mac-[a-z]+|koi8-[a-z]+")


@dataclass(frozen=True)
class ParsedFeed:
    """A feed's new entries as Articles, and the uids of those passed over as already known."""

    articles: list[Article]
    known: frozenset[str]


def parse_feed(
    data: bytes,
    *,
    source: str,
    origin: str,
    headers: Mapping[str, str] | None = None,
    language: str | None = None,
    tags: tuple[str, ...] = (),
) -> list[Article]:
    """Every readable entry of an RSS or Atom document, in document order (see parse_feed_entries)."""
    return parse_feed_entries(
        data, source=source, origin=origin, headers=headers, language=language, tags=tags
    ).articles


def parse_feed_entries(
    data: bytes,
    *,
    source: str,
    origin: str,
    headers: Mapping[str, str] | None = None,
    language: str | None = None,
    tags: tuple[str, ...] = (),
    known: Set[str] = frozenset(),
) -> ParsedFeed:
    """Every readable entry of an RSS or Atom document, in document order, but those ``known``.

    An entry whose id or link gives a uid among ``known`` (the stories the store
    already holds) is passed over before its HTML is read: on a feed polled every
    few minutes that is nearly every entry, and flattening their HTML was most of
    the work after feedparser's.  Its uid is returned in ``known``.

    ``origin`` (the feed URL or file path) names the feed in errors and logs and,
    with ``#<entry id>`` (or ``#<position>``), each article's origin.
    ``headers`` give the served charset, and a Content-Language used when the feed declares none.
    ``language`` is the configured one and wins over what the feed declares.

    Feeds in the wild are often slightly broken; if feedparser still recovers
    entries they are used and the problem is logged.  A document that yields
    no entries because it is broken, or that is not a feed at all (an HTML
    error page served as 200), raises :class:`ArticleParseError`.  A well-formed
    feed with no entries is simply empty, even served with a wrong media type
    or charset: that is a warning, not a failing source.
    """
    response_headers = {key.lower(): value for key, value in (headers or {}).items()}
    served_language = _header_language(response_headers.pop("content-language", None))
    # Links are resolved here, not by feedparser, which would also resolve bare RSS guids
    # ("1234") against it and so change every entry's identity when a feed moves.
    fetched_from = _web_link(response_headers.pop("content-location", None), None)
    if not data.strip():
        raise ArticleParseError(f"{origin}: empty document")
    document, problems = _utf8_document(data, response_headers, origin)
    document, refused = defuse_prolog(document, origin)
    if refused:
        log.warning(
            "feed=%s refused=%d DTD entity declarations (external, parameter, nested or oversized): "
            "references to them stay unexpanded",
            origin,
            refused,
        )
    parsed = feedparser.parse(
        document,
        response_headers=_utf8_headers(response_headers),
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    # The media-type complaint was already taken, as served, from the first decoding.
    broken = parsed.bozo and not isinstance(parsed.get("bozo_exception"), NonXMLContentType)
    if broken:
        problems.insert(0, _reason(parsed))
    entries = parsed.entries
    if not entries and (broken or (problems and not parsed.version)):
        raise ArticleParseError(f"{origin}: not a readable feed: {'; '.join(problems)}")
    if not entries and not parsed.version:
        raise ArticleParseError(f"{origin}: not an RSS or Atom feed")
    if problems:
        log.warning(
            "feed=%s problem=%r entries=%d: using what could be read",
            origin,
            "; ".join(problems),
            len(entries),
        )
    feed_language = parsed.feed.get("language") or served_language
    # Atom entries without an author inherit the feed's (RFC 4287 4.2.1); an RSS channel's
    # managingEditor, which feedparser also calls the feed's author, wrote none of the items.
    feed_authors = entry_authors(parsed.feed) if str(parsed.version).startswith("atom") else ()
    feed_link = _web_link(parsed.feed.get("link"), fetched_from)
    articles = []
    passed: set[str] = set()
    base = fetched_from or feed_link
    for position, entry in enumerate(entries, start=1):
        if known:
            uid = _entry_uid(entry, source, base)
            if uid is not None and uid in known:
                passed.add(uid)
                continue
        article = _entry_article(
            entry,
            source=source,
            origin=origin,
            position=position,
            language=language or _entry_language(entry) or feed_language,
            authors=entry_authors(entry) or feed_authors,
            tags=tags,
            base=base,
        )
        if article is None:
            log.debug("feed=%s entry=%d skipped: no title and no text", origin, position)
        else:
            articles.append(article)
    return ParsedFeed(articles, frozenset(passed))


def _entry_uid(entry: Any, source: str, base: str | None) -> str | None:
    """The uid ``_entry_article`` would give the entry, from its id or link alone."""
    return story_uid(source, (entry.get("id") or "").strip() or None, _entry_link(entry, base))


def entry_authors(entry: Mapping[str, Any]) -> tuple[str, ...]:
    """Who wrote a feedparser entry (or feed), each person once, in the feed's order.

    feedparser folds RSS ``<author>`` ("mail (Name)"), ``dc:creator`` and Atom
    ``<author>`` into ``authors``; a name is preferred, an address is better
    than nothing.  Bylines repeated with other spacing or case count once,
    and stray markup in a ``dc:creator`` is flattened to text.
    """
    candidates = [
        detail.get("name") or detail.get("email")
        for detail in entry.get("authors") or ()
        if isinstance(detail, Mapping)
    ]
    if not any(candidates):
        candidates = [entry.get("author")]
    found: dict[str, str] = {}
    for candidate in candidates:
        if not isinstance(candidate, str):
            continue
        text = html_to_text(candidate) if "<" in candidate else candidate
        name = _WHITESPACE.sub(" ", text).strip()
        if name:
            found.setdefault(name.casefold(), name)
    return tuple(found.values())


def _reason(parsed: Any) -> str:
    exc = parsed.get("bozo_exception")
    return f"{type(exc).__name__}: {exc}" if exc is not None else "unknown problem"


def _header_language(value: str | None) -> str | None:
    """The first language of a ``Content-Language`` header (it may list several)."""
    first = (value or "").split(",")[0].strip()
    return first or None


def _utf8_document(data: bytes, headers: Mapping[str, str], origin: str) -> tuple[bytes, list[str]]:
    """The document as UTF-8, decoded the way feedparser decides (RFC 3023, XML declaration,
    byte-order mark, fallbacks), plus the problems met on the way (wrong charset, non-XML media type).

    Decoding first means the prolog guard reads the same characters the XML
    parser will, whatever encoding tricks the document plays.  One correction
    to feedparser: UTF-8 declared as a single-byte code page is read as UTF-8,
    because valid multi-byte UTF-8 almost never happens by accident.
    """
    outcome: dict[str, Any] = {}
    document: bytes = convert_to_utf8(headers, data, outcome)
    encoding = outcome.get("encoding") or ""
    if not encoding:  # feedparser's last fallback decodes any bytes; kept as a guard
        raise ArticleParseError(f"{origin}: unknown character encoding")
    problems = [_reason(outcome)] if outcome.get("bozo") else []
    if _is_single_byte(encoding) and _is_utf8_text(data):
        document = convert_to_utf8({"content-type": "application/xml; charset=utf-8"}, data, {})
        override = f"CharacterEncodingOverride: document declared as {encoding}, but parsed as utf-8"
        problems = [problem for problem in problems if "CharacterEncoding" not in problem] + [override]
    return document, problems


def _utf8_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` describing the converted document: the served media type, charset UTF-8."""
    result = dict(headers)
    content_type = result.get("content-type")
    if content_type:
        result["content-type"] = f"{content_type.split(';')[0].strip()}; charset=utf-8"
    return result


def _is_single_byte(encoding: str) -> bool:
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return False
    return _SINGLE_BYTE.fullmatch(name) is not None


def _is_utf8_text(data: bytes) -> bool:
    if data.isascii():
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# --- entries ----------------------------------------------------------------------------------------------


def _entry_article(
    entry: Any,
    *,
    source: str,
    origin: str,
    position: int,
    language: str | None,
    authors: tuple[str, ...],
    tags: tuple[str, ...],
    base: str | None = None,
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
    article = make_article(
        title=title,
        summary=summary,
        body=body,
        url=_entry_link(entry, base),
        published=_entry_time(entry),
        language=language,
        source=source,
        origin=f"{origin}#{entry_id or position}",
        external_id=entry_id,
        tags=tags,
        authors=authors,
    )
    return article


def _entry_link(entry: Any, base: str | None) -> str | None:
    link = entry.get("link")
    if entry.get("guidislink") and link == entry.get("id"):
        # the item has no <link> and feedparser took its <guid> for one: a URL only if it is one
        return _web_link(link, None)
    return _web_link(link, base)


def _web_link(link: Any, base: str | None) -> str | None:
    """An entry's link as an absolute http(s) URL, or None.

    feedparser resolves links against ``xml:base``; a link still relative is
    resolved against the URL fetched (``base``: the Content-Location the
    pipeline passes) or, for a saved feed file, the feed's own ``<link>``.  What remains that is not
    http(s) is no web page: an RSS ``<guid>`` that is not a URL (feedparser
    takes a guid for the link when the item has none), ``javascript:``,
    ``mailto:``, or a relative path with no base.  Kept, such a "link"
    would become the article's identity and make two sites' ``/news/1``
    one story, and full-text fetching would try to open it.
    """
    if not isinstance(link, str) or not link.strip():
        return None
    link = link.strip()
    if base and not urlsplit(link).scheme:
        link = urljoin(base, link)
    try:
        parts = urlsplit(link)
    except ValueError:
        return None
    return link if parts.scheme.lower() in ("http", "https") and parts.hostname else None


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

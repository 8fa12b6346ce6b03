"""JSON records → Articles: the one documented shape for exported news.

Exports from CMSs, scrapers and news APIs name the same things differently, so
each field accepts the common spellings.  Unknown keys are ignored (exports
carry dozens of them); a documented key with an unusable value is an error,
because a silently dropped date or title is worse than a message.

=============  ==========================================  ==============================
field          also accepted as                            value
=============  ==========================================  ==============================
``title``      ``headline``                                string
``summary``    ``description``, ``standfirst``             string (HTML is turned into text)
``body``       ``text``, ``content``                       string (HTML is turned into text)
``url``        ``link``                                    string
``published``  ``published_at``, ``date``, ``pubDate``     ISO 8601 or RFC 2822 string,
                                                           or Unix epoch (s or ms)
``language``   ``lang``                                    string such as ``it``, ``en-GB``
``source``                                                 string (overrides the folder name)
``id``                                                     string or integer, stable per story
=============  ==========================================  ==============================

A record needs a title or a body.  The first spelling present (in the order
above) wins; ``null`` counts as absent.  An unreadable date is logged and the
record kept undated: losing the story would be worse than losing its date.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from monitor.errors import ArticleParseError
from monitor.models import Article, make_article
from monitor.sources.text import html_to_text

log = logging.getLogger(__name__)

FIELDS: dict[str, tuple[str, ...]] = {
    "title": ("title", "headline"),
    "summary": ("summary", "description", "standfirst"),
    "body": ("body", "text", "content"),
    "url": ("url", "link"),
    "published": ("published", "published_at", "date", "pubDate"),
    "language": ("language", "lang"),
    "source": ("source",),
    "id": ("id",),
}
# Epochs above this are milliseconds (JavaScript exports): 1e11 s is year 5138.
_MILLISECOND_EPOCH = 1e11
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_HTML_TAG = re.compile(
    r"</?(?:p|br|div|span|a|b|i|em|strong|h[1-6]|ul|ol|li|blockquote|figure|img)\b[^>]*>", re.I
)
_PROSE = ("title", "summary", "body")


def load_json(text: str) -> object:
    """``json.loads`` for a stranger's file, which may be built to break the decoder.

    A syntax error stays a ``JSONDecodeError`` (it knows its line); what else
    a hostile document makes the decoder raise (a RecursionError for arrays
    nested 100,000 deep, an integer past Python's digit limit) becomes a
    ``ValueError`` that says why in words, never a traceback.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:  # the decoder descends one level per bracket
        raise ValueError(
            "JSON nested too deeply to be an article (arrays or objects inside each other)"
        ) from None
    except ValueError:  # the only other: an integer longer than Python reads (4,300 digits)
        raise ValueError("JSON holds a number too long to read") from None


def parse_published(value: object) -> datetime | None:
    """An aware UTC datetime from the date forms exports use; ``ValueError`` if unreadable.

    Naive timestamps are taken as UTC: guessing the exporter's local zone would
    be wrong as often as right, and UTC at least sorts consistently.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        value = float(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) > _MILLISECOND_EPOCH else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{value!r} is out of range for a date") from None
    if not isinstance(value, str):
        raise ValueError(f"{_json_type(value)} is not a date")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            raise ValueError(f"{_shown(value)} is not an ISO 8601 or RFC 2822 date") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _field(record: Mapping[str, object], name: str) -> object:
    for key in FIELDS[name]:
        value = record.get(key)
        if value is not None:
            return value
    return None


def _text(record: Mapping[str, object], name: str) -> str:
    value = _field(record, name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"field {name!r} must be a string, not {type(value).__name__}")
    if name in _PROSE and _HTML_TAG.search(value):  # CMS exports often carry markup
        return html_to_text(value)
    return value


def record_id(record: Mapping[str, object]) -> str | None:
    """The record's own story id, if it has a usable one."""
    value = _field(record, "id")
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value).strip() or None


def article_from_record(
    record: object,
    *,
    where: str,
    source: str,
    origin: str,
    language: str | None = None,
    tags: tuple[str, ...] = (),
) -> Article:
    """Build an Article from one decoded JSON value.

    ``where`` locates the record for a person (``file.jsonl:12``); ``language``
    is the configured language and wins over the record's own.
    """
    if not isinstance(record, Mapping):
        raise ArticleParseError(f"{where}: expected a JSON object, got {_json_type(record)}")
    try:
        title, body = _text(record, "title"), _text(record, "body")
        if not title.strip() and not body.strip():
            raise ValueError("has neither a title nor a body")
        ident = _field(record, "id")
        if ident is not None and (isinstance(ident, bool) or not isinstance(ident, str | int)):
            raise ValueError("field 'id' must be a string or an integer")
        try:
            published = parse_published(_field(record, "published"))
        except ValueError as exc:  # a bad date must not lose the news: keep it undated
            log.warning("%s: field 'published' ignored: %s", where, exc)
            published = None
        return make_article(
            title=title,
            summary=_text(record, "summary"),
            body=body,
            url=_text(record, "url") or None,
            published=published,
            language=language or _text(record, "language") or None,
            source=_text(record, "source").strip() or source,
            origin=origin,
            external_id=record_id(record),
            tags=tags,
        )
    except ValueError as exc:
        raise ArticleParseError(f"{where}: {exc}") from None


def _shown(text: str, limit: int = 60) -> str:
    """A value quoted in a message, never longer than a line, whatever the file holds."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _json_type(value: object) -> str:
    names = {
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)

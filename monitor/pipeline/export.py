"""Hits and articles as records, and records as JSON lines or CSV, one line at a time.

Generators throughout: ``monitor hits --limit 0 --format csv`` writes each
row as the database hands it over, so an export of the whole history needs
no more memory than one chunk of rows.

CSV is opened by spreadsheet applications, which run a cell that starts
with ``=``, ``+``, ``-`` or ``@`` as a formula (``=HYPERLINK(…)`` in a headline
is an attack, "CSV injection").  Text cells starting so get a leading
apostrophe, the OWASP advice, which spreadsheets show as text and hide; a
consumer that needs the raw text reads the JSON lines.  Pure: no I/O.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from monitor.store.search import ArticleView, FoundHit

FORMATS = ("text", "jsonl", "csv")
HIT_FIELDS = (
    "id",
    "rule",
    "rule_name",
    "time",
    "title",
    "url",
    "source",
    "origin",
    "terms",
    "snippet",
    "also_reported_by",
    "score",
)
ARTICLE_FIELDS = (
    "id",
    "uid",
    "ingested",
    "published",
    "title",
    "url",
    "source",
    "origin",
    "language",
    "tags",
    "hits",
    "body_kept",
    "headline",
    "score",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def hit_record(found: FoundHit) -> dict[str, Any]:
    """One hit as ``monitor hits --json`` documents it."""
    hit = found.hit
    return {
        "id": hit.id,
        "rule": hit.rule_id,
        "rule_name": hit.rule_name,
        "time": hit.created_at.isoformat(),
        "title": hit.title,
        "url": hit.url,
        "source": hit.source,
        "origin": hit.origin,
        "terms": sorted({str(t.get("text", "")) for t in hit.terms}),
        "snippet": hit.snippet,
        "also_reported_by": list(hit.also_reported_by),
        "score": found.score,
    }


def article_record(article: ArticleView) -> dict[str, Any]:
    return {
        "id": article.id,
        "uid": article.uid,
        "ingested": article.ingested_at.isoformat(),
        "published": article.published.isoformat() if article.published else None,
        "title": article.title,
        "url": article.url,
        "source": article.source,
        "origin": article.origin,
        "language": article.language,
        "tags": list(article.tags),
        "hits": article.hits,
        "body_kept": article.body_kept,
        "headline": article.headline,
        "score": article.score,
    }


def jsonl_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    for record in records:
        yield json.dumps(record, ensure_ascii=False)


def safe_cell(value: Any) -> Any:
    """A value as a CSV cell no spreadsheet runs: lists joined by "; ", formulas defused."""
    if isinstance(value, list | tuple):
        value = "; ".join(str(v) for v in value)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_lines(records: Iterable[dict[str, Any]], fields: Sequence[str]) -> Iterator[str]:
    """A header, then one CSV row (RFC 4180, CRLF-terminated) per record."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(row: Iterable[Any]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(row)
        return buffer.getvalue()

    yield line(fields)
    for record in records:
        yield line(safe_cell(record.get(name)) for name in fields)

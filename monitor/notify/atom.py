"""Alerts as Atom feeds, one per rule: what any feed reader can subscribe to (Google Alerts' way).

Each rule's feed is a file ``<folder>/<rule id>.xml`` holding its newest
``max_entries`` alerts, with a JSON sidecar of those entries so a feed is
rebuilt, not parsed back.  Both are replaced atomically (written aside, then
renamed), so a reader never sees half a feed.  An entry's id is the alert's
idempotency key: delivering the same alert twice (a crash between writing
and recording) leaves one entry.  Serve the folder with any web server.
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from monitor.errors import RetryableDelivery
from monitor.models import Alert
from monitor.notify.render import safe_link

FEED_NAME = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    title: str
    link: str | None
    updated: str
    source: str
    summary: str
    terms: list[str]


def entry_of(alert: Alert) -> Entry:
    return Entry(
        id=f"urn:news-monitor:{alert.key}",
        title=alert.title or "(untitled)",
        link=safe_link(alert.url),
        updated=alert.matched_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        source=alert.source,
        summary=alert.snippet,
        terms=list(alert.terms),
    )


def render_feed(rule_id: str, rule_name: str, entries: list[Entry], now: datetime) -> str:
    """An Atom 1.0 document (RFC 4287) of ``entries``, newest first; pure."""
    updated = entries[0].updated if entries else now.astimezone(UTC).isoformat(timespec="seconds")
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f"  <id>urn:news-monitor:rule:{escape(rule_id)}</id>",
        f"  <title>{escape(f'news-monitor: {rule_name}')}</title>",
        f"  <updated>{escape(updated.replace('+00:00', 'Z'))}</updated>",
        "  <generator>news-monitor</generator>",
    ]
    for entry in entries:
        parts += [
            "  <entry>",
            f"    <id>{escape(entry.id)}</id>",
            f"    <title>{escape(entry.title)}</title>",
            f"    <updated>{escape(entry.updated)}</updated>",
            f"    <author><name>{escape(entry.source)}</name></author>",
        ]
        if entry.link:
            parts.append(f'    <link rel="alternate" href={quoteattr(entry.link)}/>')
        parts += [f"    <category term={quoteattr(term)}/>" for term in entry.terms]
        parts += [f'    <summary type="text">{escape(entry.summary)}</summary>', "  </entry>"]
    parts.append("</feed>")
    return "\n".join(parts) + "\n"


class AtomNotifier:
    """Adds each alert to its rule's feed file."""

    def __init__(self, name: str, folder: Path, max_entries: int) -> None:
        self.name = name
        self.folder = folder
        self.max_entries = max_entries
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AtomNotifier(name={self.name!r}, folder={str(self.folder)!r})"

    async def send(self, alert: Alert) -> None:
        """Write the feed; a full or read-only disk is retried, since an operator can fix it."""
        try:
            with self._lock:
                self._add(alert)
        except OSError as exc:
            raise RetryableDelivery(f"channel {self.name!r}: cannot write {self.folder}: {exc}") from exc

    def _add(self, alert: Alert) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        stem = FEED_NAME.sub("_", alert.rule_id)
        sidecar = self.folder / f".{stem}.json"
        entries = _load(sidecar)
        new = entry_of(alert)
        if any(entry.id == new.id for entry in entries):
            return  # delivered before a crash kept it from being recorded: once is enough
        entries = sorted([new, *entries], key=lambda e: e.updated, reverse=True)[: self.max_entries]
        _replace(sidecar, json.dumps([asdict(e) for e in entries], ensure_ascii=False))
        feed = render_feed(alert.rule_id, alert.rule_name, entries, datetime.now(UTC))
        _replace(self.folder / f"{stem}.xml", feed)


def _load(path: Path) -> list[Entry]:
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (ValueError, OSError):
        return []  # a damaged sidecar costs the older entries, not the new alert
    return [Entry(**item) for item in raw if isinstance(item, dict)]


def _replace(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)

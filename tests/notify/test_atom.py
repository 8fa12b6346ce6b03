"""The atom channel: one valid Atom feed per rule, newest first, bounded, each alert once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser

from monitor.models import Alert
from monitor.notify.atom import AtomNotifier

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def alert(n: int, rule: str = "nato") -> Alert:
    return Alert(
        key=f"nm_{n:04d}",
        channel="feed",
        rule_id=rule,
        rule_name="NATO & Finlandia <news>",
        title=f'Vertice <b>{n}</b> & "Nato"',
        url=f"https://example.org/{n}?a=1&b=2",
        source="ANSA",
        published=None,
        language="it",
        terms=("NATO", "Finlandia"),
        snippet=f"La Finlandia entra nella NATO ({n}).",
        matched_at=NOW + timedelta(minutes=n),
    )


async def test_atom_writes_a_valid_feed_per_rule_newest_first(tmp_path: Path) -> None:
    notifier = AtomNotifier("feed", tmp_path, max_entries=50)
    for n in range(3):
        await notifier.send(alert(n))
    await notifier.send(alert(9, rule="gaza/tregua"))
    feed = feedparser.parse((tmp_path / "nato.xml").read_bytes())
    assert not feed.bozo, feed.bozo_exception
    assert feed.feed.title == "news-monitor: NATO & Finlandia <news>"
    assert [e.title for e in feed.entries] == [f'Vertice <b>{n}</b> & "Nato"' for n in (2, 1, 0)]
    assert feed.entries[0].link == "https://example.org/2?a=1&b=2"
    assert feed.entries[0].id == "urn:news-monitor:nm_0002"
    assert [t.term for t in feed.entries[0].tags] == ["NATO", "Finlandia"]
    assert feedparser.parse((tmp_path / "gaza_tregua.xml").read_bytes()).entries[0].id.endswith("nm_0009")


async def test_atom_keeps_max_entries_and_adds_an_alert_delivered_twice_once(tmp_path: Path) -> None:
    notifier = AtomNotifier("feed", tmp_path, max_entries=2)
    for n in range(4):
        await notifier.send(alert(n))
    await notifier.send(replace(alert(3), attempt=2))  # a retry after a crash before it was recorded
    entries = feedparser.parse((tmp_path / "nato.xml").read_bytes()).entries
    assert [e.id for e in entries] == ["urn:news-monitor:nm_0003", "urn:news-monitor:nm_0002"]
    assert not list(tmp_path.glob("*.partial"))

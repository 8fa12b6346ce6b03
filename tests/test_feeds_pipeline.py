"""Feeds through the whole pipeline: a real local feed server, the daemon's one pass, SQLite."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Row, select

from monitor.config import load_settings
from monitor.service.daemon import Daemon
from monitor.service.wiring import build_pipeline
from monitor.store.tables import FEEDS
from tests.notify.receivers import WebhookReceiver
from tests.sources.feedserver import ROUTES, Route

RULES = """
rules:
  - id: finlandia-nato
    query: '(Finlandia OR Finland) AND NATO'
  - id: ukraine
    query: 'Ukraine OR Ucraina'
"""


def write_config(tmp_path: Path, base: str, hook: str, feeds: list[str]) -> Path:
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    feed_lines = "\n".join(f"    - {{url: '{base}{path}', name: '{path}', interval: 1m}}" for path in feeds)
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"database: sqlite:///monitor.db\nrules: [rules.yaml]\n"
        f"sources:\n  folders: []\n  feeds:\n{feed_lines}\n"
        f"channels:\n  hook: {{type: webhook, url: '{hook}'}}\ndefaults: {{notify: [hook]}}\n",
        encoding="utf-8",
    )
    return config


def one_pass(config: Path) -> None:
    settings = load_settings(str(config), env={})
    asyncio.run(Daemon(settings, build_pipeline(settings)).run_once())


def feed_rows(config: Path) -> dict[str, Row[Any]]:
    settings = load_settings(str(config), env={})
    pipeline = build_pipeline(settings)
    with pipeline.store.engine.connect() as connection:
        rows = {row.url.rsplit("/", 1)[-1]: row for row in connection.execute(select(FEEDS))}
    pipeline.store.engine.dispose()
    return rows


def test_feeds_rss_and_atom_alert_once_and_refetch_conditionally(
    tmp_path: Path, server: tuple[str, list[dict[str, str]]]
) -> None:
    base, seen = server
    with WebhookReceiver() as hook:
        config = write_config(tmp_path, base, hook.url, ["/esteri.rss", "/mondo.atom"])
        one_pass(config)
        first = [(body["data"]["rule"]["id"], body["data"]["article"]["title"]) for _h, body in hook.received]
        assert ("finlandia-nato", "Finlandia e Svezia verso la NATO") in first
        assert any(rule == "ukraine" for rule, _title in first)
        assert len(first) == len(set(first))
        one_pass(config)
        assert len(hook.received) == len(first)  # nothing new, nothing sent again
    conditional = [request for request in seen if request.get("if-none-match")]
    assert {request["path"] for request in conditional} == {"/esteri.rss", "/mondo.atom"}
    rows = feed_rows(config)
    assert rows["esteri.rss"].last_status == 304 and rows["esteri.rss"].etag == '"esteri-v1"'


def test_feeds_a_failing_feed_does_not_stop_the_others(
    tmp_path: Path, server: tuple[str, list[dict[str, str]]], caplog: pytest.LogCaptureFixture
) -> None:
    base, _seen = server
    with WebhookReceiver() as hook:
        config = write_config(tmp_path, base, hook.url, ["/error", "/broken.xml", "/esteri.rss"])
        with caplog.at_level(logging.WARNING, logger="monitor"):
            one_pass(config)
        assert any(body["data"]["rule"]["id"] == "finlandia-nato" for _h, body in hook.received)
    messages = "\n".join(record.getMessage() for record in caplog.records)
    assert "feed=/error failed" in messages and "500" in messages
    assert "feed=/broken.xml failed" in messages
    rows = feed_rows(config)
    assert rows["error"].error_streak == 1 and rows["esteri.rss"].error_streak == 0


def test_feeds_an_entry_the_database_refuses_is_skipped_and_named(
    tmp_path: Path, server: tuple[str, list[dict[str, str]]], caplog: pytest.LogCaptureFixture
) -> None:
    base, _seen = server
    with WebhookReceiver() as hook:
        config = write_config(tmp_path, base, hook.url, ["/esteri.rss"])
        settings = load_settings(str(config), env={})
        pipeline = build_pipeline(settings)
        with pipeline.store.engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON articles WHEN NEW.title LIKE 'Ukraine%' "
                "BEGIN SELECT RAISE(ABORT, 'refused by policy'); END"
            )
        with caplog.at_level(logging.WARNING, logger="monitor"):
            asyncio.run(Daemon(settings, pipeline).run_once())
        rules = sorted(body["data"]["rule"]["id"] for _h, body in hook.received)
    assert rules == ["finlandia-nato"]  # the other entry went through
    messages = "\n".join(record.getMessage() for record in caplog.records)
    assert "skipped" in messages and "esteri.rss#https://news.example.org/world/ukraine-talks" in messages


def test_feeds_bare_entry_ids_are_unique_per_feed_only(tmp_path: Path) -> None:
    from monitor.sources.parse import parse_feed

    def feed(title: str) -> bytes:
        return (
            f'<rss version="2.0"><channel><title>x</title><item><guid isPermaLink="false">1</guid>'
            f"<title>{title}</title><description>Finland and NATO</description></item></channel></rss>"
        ).encode()

    [first] = parse_feed(feed("Helsinki joins"), source="Feed A", origin="http://a.example/rss")
    [second] = parse_feed(feed("Stockholm waits"), source="Feed B", origin="http://b.example/rss")
    [again] = parse_feed(feed("Helsinki joins (updated)"), source="Feed A", origin="http://a.example/rss")
    assert first.uid != second.uid  # "1" in two feeds: two stories
    assert first.uid == again.uid  # "1" again in the same feed: the same story, edited


def wire_feed(outlet: str, link: str, agency_title: str, copy_id: str) -> bytes:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>{outlet}</title><link>https://{outlet}.example/</link>
<item><title>Vertice NATO a Vilnius ({outlet})</title><link>{link}</link>
<description>I leader della NATO si riuniscono.</description></item>
<item><title>{agency_title}</title><guid>tag:agenzia.example,2024:nato-42</guid>
<description>La NATO rafforza il fianco est.</description></item>
<item><title>La NATO e la Finlandia</title><guid isPermaLink="false">{copy_id}</guid>
<description>Helsinki entra nella NATO dopo il voto.</description></item>
</channel></rss>""".encode()


def test_feeds_the_same_story_from_two_feeds_is_stored_once_by_id_canonical_url_or_content(
    tmp_path: Path, server: tuple[str, list[dict[str, str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, _seen = server
    rss = {"Content-Type": "application/rss+xml"}
    first = wire_feed(
        "alfa", "https://news.example/vilnius?utm_source=alfa#top", "NATO: il fianco est", "a-1"
    )
    second = wire_feed(
        "beta", "https://NEWS.example:443/vilnius?utm_medium=rss", "NATO, più truppe a est", "b-9"
    )
    monkeypatch.setitem(ROUTES, "/alfa.rss", Route(body=first, headers=rss))
    monkeypatch.setitem(ROUTES, "/beta.rss", Route(body=second, headers=rss))
    (tmp_path / "nato.yaml").write_text("rules:\n  - id: nato\n    query: NATO\n", encoding="utf-8")
    with WebhookReceiver() as hook:
        config = write_config(tmp_path, base, hook.url, ["/alfa.rss", "/beta.rss"])
        config.write_text(config.read_text().replace("rules: [rules.yaml]", "rules: [nato.yaml]"))
        one_pass(config)
        titles = sorted(body["data"]["article"]["title"] for _h, body in hook.received)
    # the same link (tracking parameters, fragment, host case and port aside), the same entry id,
    # the same text under another outlet's id: each story is stored and alerted once
    assert len(titles) == 3, titles
    settings = load_settings(str(config), env={})
    pipeline = build_pipeline(settings)
    stored = list(pipeline.store.iter_articles())
    pipeline.store.engine.dispose()
    assert len(stored) == 3
    assert {row.article.url for row in stored} == {"https://news.example/vilnius", None}


def test_feeds_hostile_and_mis_declared_feeds_from_the_server_are_ingested_safely(
    tmp_path: Path, server: tuple[str, list[dict[str, str]]], caplog: pytest.LogCaptureFixture
) -> None:
    base, _seen = server
    feeds = ["/billion-laughs.rss", "/xxe.rss", "/utf8-served-as-latin1.rss", "/cp1252-declared-utf8.rss"]
    with WebhookReceiver() as hook:
        config = write_config(tmp_path, base, hook.url, feeds)
        with caplog.at_level(logging.WARNING, logger="monitor"):
            one_pass(config)
    settings = load_settings(str(config), env={})
    pipeline = build_pipeline(settings)
    stored = {row.article.source: row.article for row in pipeline.store.iter_articles()}
    pipeline.store.engine.dispose()
    assert set(stored) == set(feeds)  # every feed gave its entry
    assert stored["/billion-laughs.rss"].title == "Notizia &lol9;"  # the references stay unexpanded
    passwd = Path("/etc/passwd")
    everything = "\n".join(f"{a.title} {a.summary} {a.body}" for a in stored.values())
    assert "lollollol" not in everything
    if passwd.exists():
        assert passwd.read_text().splitlines()[0] not in everything
    for path, city in (("/utf8-served-as-latin1.rss", "Città"), ("/cp1252-declared-utf8.rss", "Milano")):
        article = stored[path]
        assert (article.title, article.summary) == (f"{city} più cara: “perché”?", "L’inflazione è al 5 €.")
    messages = "\n".join(record.getMessage() for record in caplog.records)
    assert f"feed={base}/billion-laughs.rss refused=" in messages
    assert f"feed={base}/cp1252-declared-utf8.rss problem='CharacterEncodingOverride" in messages
    rows = feed_rows(config)
    assert {name: row.error_streak for name, row in rows.items()} == {path[1:]: 0 for path in feeds}

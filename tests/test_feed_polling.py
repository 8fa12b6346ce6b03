"""Feed polling end to end: the real local feed server, the daemon's fetcher and worker thread, SQLite.

Each test builds the pipeline from a monitor.yaml and polls through ``Pipeline.poll_feed`` exactly as
the daemon's feed job does, then reads what the server saw and what the store kept: moves, 410,
Retry-After, health alerts and full text behind the SSRF guard.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from monitor.config import FeedSource, Settings, load_settings
from monitor.matching.nlp import LanguagePipelines
from monitor.models import FeedState
from monitor.pipeline.ingest import IngestReport, Pipeline
from monitor.service.wiring import build_pipeline
from monitor.sources.feeds import FeedFetcher
from monitor.sources.netguard import AddressGuard, GuardedClient
from monitor.store.repo import HEALTH_RULE
from monitor.store.search import recent_hits
from tests.sources.feedserver import ESTERI, ROUTES, Route

T = TypeVar("T")
Server = tuple[str, list[dict[str, str]]]

RULES = """rules:
  - id: finlandia-nato
    query: '(Finlandia OR Finland) AND NATO'
  - id: zanzibar
    query: 'Zanzibar'
"""
RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
OPS = "http://127.0.0.1:9/ops"  # never called: alerts are read from the outbox
PAGE_WORD = "Zanzibar"
PAGE_HTML = f"""<!doctype html><html><head><title>Talks in Helsinki</title></head><body>
<nav><a href="/">Home</a> <a href="/world">World</a></nav>
<article><h1>Talks in Helsinki</h1>
<p>Finland and Sweden signed their application to join NATO on Tuesday morning, after weeks of talks
with the alliance's members and a long debate in both parliaments.</p>
<p>The delegation had earlier returned from {PAGE_WORD}, where the foreign ministers met their African
counterparts to discuss trade, shipping routes and security in the Indian Ocean.</p>
<p>Officials said the next round of negotiations would start in the autumn, once every member state
has ratified the protocol, a process that may take several months in some capitals.</p>
</article><footer>Copyright News Example</footer></body></html>""".encode()


def feed_xml(page_url: str) -> bytes:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>World</title><link>http://news.example/</link>
<item><title>Finland signs up to NATO</title><link>{page_url}</link><guid>world-1</guid>
<description>Finland joins NATO.</description></item>
</channel></rss>""".encode()


@pytest.fixture(scope="module")
def language_pipelines() -> LanguagePipelines:
    return LanguagePipelines({"it": "blank", "en": "blank"}, "en")


@pytest.fixture(autouse=True)
def shared_pipelines(language_pipelines: LanguagePipelines, monkeypatch: pytest.MonkeyPatch) -> None:
    """spaCy's blank pipelines are built once for the module: building them is most of a test's time."""
    monkeypatch.setattr("monitor.service.wiring.make_pipelines", lambda settings: language_pipelines)


def write_settings(tmp_path: Path, feeds: list[dict[str, Any]], extra: str = "") -> Settings:
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    lines = "\n".join(f"    - {json.dumps(feed)}" for feed in feeds)  # JSON is YAML
    config = tmp_path / "monitor.yaml"
    config.write_text(
        "database: sqlite:///monitor.db\nrules: [rules.yaml]\n"
        f"sources:\n  folders: []\n  feeds:\n{lines}\n"
        f"channels:\n  desk: {{type: console}}\n  ops: {{type: webhook, url: '{OPS}'}}\n"
        f"defaults: {{notify: [desk]}}\n{extra}",
        encoding="utf-8",
    )
    return load_settings(str(config), env={})


@dataclass
class Poller:
    """The daemon's feed job in miniature: one fetcher, one worker thread for blocking work."""

    pipeline: Pipeline
    fetcher: FeedFetcher
    worker: ThreadPoolExecutor

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.worker, functools.partial(fn, *args, **kwargs))

    async def poll(self, feed: FeedSource) -> IngestReport:
        return await self.pipeline.poll_feed(self.fetcher, feed, self.run)

    async def state(self, feed: FeedSource) -> FeedState:
        return await self.run(self.pipeline.store.feed_state, feed.url)

    async def health_titles(self) -> list[str]:
        hits = await self.run(recent_hits, self.pipeline.store, HEALTH_RULE)
        return [hit.title for hit in reversed(hits)]  # oldest first

    async def outbox(self, *channels: str) -> list[tuple[str, str, str]]:
        later = datetime.now(UTC) + timedelta(days=1)
        alerts = await self.run(self.pipeline.store.due_deliveries, later, 100, list(channels))
        return [(alert.channel, alert.rule_id, alert.title) for alert in alerts]


@contextlib.asynccontextmanager
async def polling(settings: Settings) -> AsyncIterator[Poller]:
    """Built the way ``Connections.open`` builds it, torn down with the database closed."""
    http = settings.http
    pipeline = build_pipeline(settings)
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-worker")
    guard = AddressGuard(allow_private=http.allow_private_networks)
    try:
        async with (
            httpx.AsyncClient(headers={"User-Agent": http.agent}, timeout=http.timeout) as client,
            GuardedClient(guard, headers={"User-Agent": http.agent}, timeout=http.timeout) as untrusted,
        ):
            fetcher = FeedFetcher(
                client,
                max_concurrency=http.max_concurrency,
                per_host=http.per_host,
                user_agent=http.agent,
                untrusted=untrusted,
            )
            yield Poller(pipeline, fetcher, worker)
    finally:
        worker.shutdown(wait=True)
        pipeline.store.engine.dispose()


def paths(seen: list[dict[str, str]]) -> list[str]:
    return [request["path"] for request in seen]


# -- moves -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("start", "hops"),
    [
        ("/moved", ["/moved"]),  # 301
        ("/perm-1", ["/perm-1", "/perm-2"]),  # 301 then 308
        ("/relative", ["/relative"]),  # a relative Location
    ],
)
async def test_poll_feed_permanent_move_is_stored_and_the_next_poll_goes_there_directly(
    tmp_path: Path, server: Server, start: str, hops: list[str]
) -> None:
    base, seen = server
    settings = write_settings(tmp_path, [{"url": base + start, "name": "esteri"}])
    feed = settings.sources.feeds[0]
    async with polling(settings) as poller:
        report = await poller.poll(feed)
        assert report.articles == 2 and report.hits >= 1 and report.failed == 0
        state = await poller.state(feed)
        assert (state.url, state.fetch_url) == (base + start, base + "/esteri.rss")
        await poller.poll(feed)
        after = await poller.state(feed)
    assert paths(seen) == [*hops, "/esteri.rss", "/esteri.rss"]
    assert seen[-1]["if-none-match"] == '"esteri-v1"'  # and conditionally
    assert (after.last_status, after.fetch_url, after.entries_seen) == (304, base + "/esteri.rss", 2)
    assert all(request["user-agent"] == settings.http.agent for request in seen)


@pytest.mark.parametrize("start", ["/found", "/see-other", "/temporary", "/perm-then-found"])
async def test_poll_feed_temporary_redirect_is_not_recorded(
    tmp_path: Path, server: Server, start: str
) -> None:
    base, seen = server
    settings = write_settings(tmp_path, [{"url": base + start}])
    feed = settings.sources.feeds[0]
    async with polling(settings) as poller:
        assert (await poller.poll(feed)).articles == 2
        assert (await poller.state(feed)).fetch_url is None
        await poller.poll(feed)
        state = await poller.state(feed)
    assert paths(seen).count(start) == 2  # asked at its configured address again
    assert (state.fetch_url, state.current_url, state.last_status) == (None, base + start, 304)


# -- 410 Gone and source health --------------------------------------------------------------
async def test_poll_feed_gone_disables_the_feed_and_alerts_the_health_channel(
    tmp_path: Path, server: Server
) -> None:
    base, seen = server
    settings = write_settings(
        tmp_path, [{"url": base + "/gone", "name": "Retired"}], "health: {channel: ops}\n"
    )
    feed = settings.sources.feeds[0]
    async with polling(settings) as poller:
        report = await poller.poll(feed)
        state = await poller.state(feed)
        assert report.failed == 1
        assert state.disabled is not None and "410" in state.disabled
        assert (state.last_status, state.next_fetch_at) == (410, None)
        for _ in range(3):
            assert (await poller.poll(feed)).failed == 0  # not even tried
        titles = await poller.health_titles()
        outbox = await poller.outbox("ops", "desk")
    assert paths(seen) == ["/gone"]
    [title] = titles
    assert title.startswith("feed Retired is gone:") and "410" in title
    assert outbox == [("ops", HEALTH_RULE, title)]  # to the health channel only


async def test_poll_feed_re_enabled_feed_still_gone_alerts_again(tmp_path: Path, server: Server) -> None:
    """``monitor feeds enable`` then a poll within the minute: the second 410 is a second alert."""
    base, seen = server
    settings = write_settings(
        tmp_path, [{"url": base + "/gone", "name": "Retired"}], "health: {channel: ops}\n"
    )
    feed = settings.sources.feeds[0]
    async with polling(settings) as poller:
        await poller.poll(feed)
        state = await poller.state(feed)
        enabled = replace(state, disabled=None, error_streak=0, next_fetch_at=None)  # as the CLI does
        await poller.run(poller.pipeline.store.save_feed_state, enabled)
        await poller.poll(feed)
        state = await poller.state(feed)
        titles = await poller.health_titles()
        outbox = await poller.outbox("ops")
    assert paths(seen) == ["/gone", "/gone"]
    assert state.disabled is not None
    assert len(titles) == 2, "the second 'disabled' event was logged but not recorded"
    assert len(outbox) == 2


async def test_poll_feed_health_event_without_a_health_channel_is_a_hit_and_a_log_line_only(
    tmp_path: Path, server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    base, _seen = server
    settings = write_settings(tmp_path, [{"url": base + "/gone", "name": "Retired"}])
    assert settings.health.channel is None
    async with polling(settings) as poller:
        with caplog.at_level(logging.WARNING, logger="monitor"):
            await poller.poll(settings.sources.feeds[0])
        titles = await poller.health_titles()
        outbox = await poller.outbox("ops", "desk")
    assert len(titles) == 1 and titles[0].startswith("feed Retired is gone")
    assert outbox == []
    messages = [record.getMessage() for record in caplog.records]
    assert any("source health:" in m and "no health.channel to alert" in m for m in messages)


async def test_poll_feed_failing_then_working_alerts_failing_once_and_recovered_once(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, seen = server
    monkeypatch.setitem(ROUTES, "/flaky", Route(status=500, body=b"oops"))
    # 1 ms interval: the backoff (at most 24 ms) is over by the next poll
    settings = write_settings(
        tmp_path,
        [{"url": base + "/flaky", "name": "Flaky", "interval": "1ms"}],
        "health: {channel: ops, failing_after: 0s}\n",
    )
    feed = settings.sources.feeds[0]
    async with polling(settings) as poller:
        for _ in range(3):
            await asyncio.sleep(0.03)
            assert (await poller.poll(feed)).failed == 1
        failing = await poller.state(feed)
        assert (failing.error_streak, failing.health_alerted, failing.last_status) == (3, "failing", 500)
        assert len(await poller.health_titles()) == 1
        monkeypatch.setitem(ROUTES, "/flaky", Route(body=ESTERI, headers=RSS, etag='"flaky-1"'))
        for _ in range(2):
            await asyncio.sleep(0.03)
            assert (await poller.poll(feed)).failed == 0
        recovered = await poller.state(feed)
        titles = await poller.health_titles()
        outbox = await poller.outbox("ops", "desk")
    assert paths(seen) == ["/flaky"] * 5
    assert (recovered.error_streak, recovered.health_alerted, recovered.failing_since) == (0, None, None)
    assert len(titles) == 2
    assert titles[0].startswith("feed Flaky has failed for 0.0 h (1 polls)") and "HTTP 500" in titles[0]
    assert titles[1] == "feed Flaky works again"
    assert [(channel, title) for channel, rule, title in outbox if rule == HEALTH_RULE] == [
        ("ops", t) for t in titles
    ]


async def test_poll_feed_a_few_failures_under_failing_after_alert_nothing(
    tmp_path: Path, server: Server
) -> None:
    base, _seen = server
    settings = write_settings(
        tmp_path, [{"url": base + "/error", "interval": "1ms"}], "health: {channel: ops}\n"
    )
    async with polling(settings) as poller:
        for _ in range(3):
            await asyncio.sleep(0.03)
            await poller.poll(settings.sources.feeds[0])
        state = await poller.state(settings.sources.feeds[0])
        titles = await poller.health_titles()
    assert state.error_streak == 3 and state.health_alerted is None
    assert titles == []  # the default 6 h have not passed


# -- Retry-After -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "status", "wait"),
    [
        ("/throttled", 429, 120.0),  # Retry-After: 120
        ("/throttled-date", 429, 7200.0),  # an HTTP date two hours ahead
        ("/unavailable", 503, 60.0),  # Retry-After: 5, raised to the 60 s floor
    ],
)
async def test_poll_feed_retry_after_holds_the_next_poll_back(
    tmp_path: Path, server: Server, path: str, status: int, wait: float
) -> None:
    base, seen = server
    # 1 ms interval: it is the server's wish, not the backoff, that holds the feed back
    settings = write_settings(tmp_path, [{"url": base + path, "interval": "1ms"}])
    feed = settings.sources.feeds[0]
    async with polling(settings) as poller:
        before = datetime.now(UTC)
        assert (await poller.poll(feed)).failed == 1
        await asyncio.sleep(0.05)
        assert (await poller.poll(feed)).failed == 0  # not due: no request at all
        state = await poller.state(feed)
    assert paths(seen) == [path]
    assert (state.last_status, state.error_streak) == (status, 1)
    assert state.next_fetch_at is not None
    assert before + timedelta(seconds=wait - 5) <= state.next_fetch_at
    assert state.next_fetch_at <= datetime.now(UTC) + timedelta(seconds=wait)


# -- full text behind the SSRF guard ---------------------------------------------------------
@pytest.fixture
def world_feed(server: Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A feed whose one entry links to an article page on the same local server."""
    base, _seen = server
    monkeypatch.setitem(
        ROUTES, "/world.rss", Route(body=feed_xml(f"{base}/articles/helsinki.html"), headers=RSS)
    )
    monkeypatch.setitem(
        ROUTES, "/articles/helsinki.html", Route(body=PAGE_HTML, headers={"Content-Type": "text/html"})
    )
    return f"{base}/world.rss"


async def test_poll_feed_full_text_makes_the_page_the_body_when_private_networks_are_allowed(
    tmp_path: Path, server: Server, world_feed: str
) -> None:
    _base, seen = server
    settings = write_settings(
        tmp_path,
        [{"url": world_feed, "language": "en", "full_text": True}],
        "http: {allow_private_networks: true}\n",
    )
    async with polling(settings) as poller:
        report = await poller.poll(settings.sources.feeds[0])
        again = await poller.poll(settings.sources.feeds[0])
        [stored] = await poller.run(lambda: list(poller.pipeline.store.iter_articles()))
        hits = await poller.run(recent_hits, poller.pipeline.store)
    assert (report.articles, report.failed, again.articles) == (1, 0, 0)
    assert paths(seen) == ["/world.rss", "/articles/helsinki.html", "/world.rss"]  # a known entry: no page
    assert PAGE_WORD in stored.article.body and "Copyright" not in stored.article.body
    assert stored.article.summary == "Finland joins NATO."  # the feed's text kept as the summary
    assert sorted(hit.rule_id for hit in hits) == ["finlandia-nato", "zanzibar"]


async def test_poll_feed_full_text_link_to_loopback_is_refused_by_default_and_the_feed_text_kept(
    tmp_path: Path, server: Server, world_feed: str, caplog: pytest.LogCaptureFixture
) -> None:
    _base, seen = server
    settings = write_settings(tmp_path, [{"url": world_feed, "language": "en", "full_text": True}])
    assert settings.http.allow_private_networks is False
    feed = settings.sources.feeds[0]
    async with polling(settings) as poller:
        with caplog.at_level(logging.WARNING, logger="monitor"):
            report = await poller.poll(feed)
        [stored] = await poller.run(lambda: list(poller.pipeline.store.iter_articles()))
        hits = await poller.run(recent_hits, poller.pipeline.store)
        state = await poller.state(feed)
    assert (report.articles, report.failed) == (1, 0)
    assert paths(seen) == ["/world.rss"]  # the page was never asked for
    assert (stored.article.summary, stored.article.body) == ("Finland joins NATO.", "")  # as the feed had it
    assert [hit.rule_id for hit in hits] == ["finlandia-nato"]
    assert (state.error_streak, state.last_status, state.entries_seen) == (0, 200, 1)
    [warning] = [r.getMessage() for r in caplog.records if "full text" in r.getMessage()]
    assert f"{world_feed.rsplit('/', 1)[0]}/articles/helsinki.html" in warning
    assert "loopback" in warning


# -- names and tags: rules scope to them, channels are routed by them ---------------------------------
SCOPED_RULES = """rules:
  - id: nato-esteri
    query: 'NATO AND tag:esteri'
  - id: nato-world
    query: 'NATO AND tag:world'
  - id: markets-agenzia
    query: '(markets OR Ukraine) AND source:agenzia*'
"""


async def test_poll_feed_name_and_tags_scope_rules_and_route_channels(tmp_path: Path, server: Server) -> None:
    base, _seen = server
    (tmp_path / "rules.yaml").write_text(SCOPED_RULES, encoding="utf-8")
    (tmp_path / "monitor.yaml").write_text(
        "database: sqlite:///monitor.db\nrules: [rules.yaml]\n"
        "sources:\n  folders: []\n  feeds:\n"
        f"    - {{url: '{base}/esteri.rss', name: Redazione Esteri, tags: [esteri]}}\n"
        f"    - {{url: '{base}/mondo.atom', name: Agenzia Mondo, tags: [world, agenzie]}}\n"
        "channels:\n  desk: {type: console}\n  agenzie: {type: console, tags: [agenz*]}\n"
        "  esteri: {type: console, sources: ['Redazione *']}\n",
        encoding="utf-8",
    )
    settings = load_settings(str(tmp_path / "monitor.yaml"), env={})
    async with polling(settings) as poller:
        for feed in settings.sources.feeds:
            assert (await poller.poll(feed)).failed == 0
        hits = await poller.run(recent_hits, poller.pipeline.store)
        routed = {channel: sorted(await poller.outbox(channel)) for channel in ("desk", "agenzie", "esteri")}
    fired = sorted((hit.rule_id, hit.source) for hit in hits)
    # the esteri feed's "Ukraine" entry is no agency's; the NATO entry is tagged esteri, not world
    assert fired == [("markets-agenzia", "Agenzia Mondo"), ("nato-esteri", "Redazione Esteri")]
    assert [rule for _c, rule, _t in routed["desk"]] == ["markets-agenzia", "nato-esteri"]
    assert [rule for _c, rule, _t in routed["agenzie"]] == ["markets-agenzia"]
    assert [rule for _c, rule, _t in routed["esteri"]] == ["nato-esteri"]


async def test_poll_feed_permanent_move_is_recorded_only_once_its_target_answers(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, seen = server
    settings = write_settings(tmp_path, [{"url": base + "/perm-to-error", "interval": "1ms"}])
    feed = settings.sources.feeds[0]
    async with polling(settings) as poller:
        assert (await poller.poll(feed)).failed == 1  # 301 → 500
        failed = await poller.state(feed)
        monkeypatch.setitem(ROUTES, "/error", Route(body=ESTERI, headers=RSS))  # the target is fixed
        await asyncio.sleep(0.01)
        assert (await poller.poll(feed)).failed == 0
        moved = await poller.state(feed)
    assert (failed.fetch_url, failed.current_url, failed.last_status) == (None, base + "/perm-to-error", 500)
    assert (moved.fetch_url, moved.last_status, moved.error_streak) == (base + "/error", 200, 0)
    assert paths(seen) == ["/perm-to-error", "/error", "/perm-to-error", "/error"]


# -- entries already stored cost almost nothing ----------------------------------------------------
def news_rss(*items: tuple[str, str]) -> bytes:
    """An RSS feed (served without validators, so every poll gets 200) of (guid, title) items,
    each with an HTML description."""
    body = "".join(
        f"<item><title>{title}</title><guid>{guid}</guid><link>http://news.example/{guid}</link>"
        f"<description>&lt;p&gt;{title}: &lt;b&gt;the talks&lt;/b&gt; went on.&lt;/p&gt;</description></item>"
        for guid, title in items
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>{body}</channel></rss>'.encode()
    )


@pytest.fixture
def html_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every HTML value the feed parser flattens to text (the parser runs in the worker thread)."""
    import monitor.sources.parse as parse

    calls: list[str] = []
    flatten = parse.html_to_text

    def counting(value: str) -> str:
        calls.append(value)
        return flatten(value)

    monkeypatch.setattr(parse, "html_to_text", counting)
    return calls


async def test_poll_feed_a_feed_polled_twice_does_not_clean_known_entries_again(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch, html_calls: list[str]
) -> None:
    base, seen = server
    first = [("n1", "Finland and NATO"), ("n2", "Markets calm"), ("n3", "Rain in Oslo")]
    monkeypatch.setitem(ROUTES, "/news.rss", Route(body=news_rss(*first), headers=RSS))
    settings = write_settings(tmp_path, [{"url": base + "/news.rss", "language": "en", "interval": "1ms"}])
    feed = settings.sources.feeds[0]
    async with polling(settings) as poller:
        report = await poller.poll(feed)
        calls_first = len(html_calls)
        same = await poller.poll(feed)  # the very same body again: not even parsed
        calls_same = len(html_calls) - calls_first
        monkeypatch.setitem(
            ROUTES, "/news.rss", Route(body=news_rss(("n4", "Zanzibar port"), *first), headers=RSS)
        )
        grown = await poller.poll(feed)
        calls_grown = len(html_calls) - calls_first
        alerts = await poller.outbox("desk")
    assert paths(seen) == ["/news.rss"] * 3
    assert (report.articles, same.articles, same.duplicates) == (3, 0, 0)
    assert calls_first >= 3 and calls_same == 0
    assert calls_grown == calls_first // 3  # the new entry's HTML only
    assert (grown.articles, grown.duplicates) == (1, 3)
    assert sorted(rule for _channel, rule, _title in alerts) == ["finlandia-nato", "zanzibar"]


async def test_poll_feed_new_entries_are_all_ingested_beside_known_ones(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch, html_calls: list[str]
) -> None:
    base, _seen = server
    old = [(f"o{n}", f"Old story {n}") for n in range(5)]
    new = [(f"z{n}", f"Zanzibar story {n}") for n in range(7)]
    monkeypatch.setitem(ROUTES, "/news.rss", Route(body=news_rss(*old), headers=RSS))
    settings = write_settings(tmp_path, [{"url": base + "/news.rss", "language": "en", "interval": "1ms"}])
    feed = settings.sources.feeds[0]
    async with polling(settings) as poller:
        await poller.poll(feed)
        before = len(html_calls)
        # new entries interleaved with known ones, one known entry gone from the feed
        mixed = [new[0], old[0], *new[1:4], old[2], old[3], *new[4:]]
        monkeypatch.setitem(ROUTES, "/news.rss", Route(body=news_rss(*mixed), headers=RSS))
        report = await poller.poll(feed)
        flattened = html_calls[before:]
        stored = await poller.run(lambda: [s.article.title for s in poller.pipeline.store.iter_articles()])
        alerts = await poller.outbox("desk")
    assert (report.articles, report.duplicates) == (7, 3)
    assert len(flattened) == 7 and all("Zanzibar" in value for value in flattened)
    assert sorted(stored) == sorted(title for _guid, title in old + new)
    assert sorted(title for _channel, rule, title in alerts if rule == "zanzibar") == sorted(
        t for _g, t in new
    )


async def test_poll_feed_an_entry_the_database_refused_is_read_again_next_poll(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    base, _seen = server
    monkeypatch.setitem(
        ROUTES, "/news.rss", Route(body=news_rss(("a1", "Accepted"), ("r1", "Refused story")), headers=RSS)
    )
    settings = write_settings(tmp_path, [{"url": base + "/news.rss", "language": "en", "interval": "1ms"}])
    feed = settings.sources.feeds[0]
    async with polling(settings) as poller:
        with poller.pipeline.store.engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON articles WHEN NEW.title LIKE 'Refused%' "
                "BEGIN SELECT RAISE(ABORT, 'refused by policy'); END"
            )
        with caplog.at_level(logging.ERROR, logger="monitor"):
            first = await poller.poll(feed)
            again = await poller.poll(feed)  # the same body: read again, for the entry refused
    refusals = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert (first.articles, again.articles, again.duplicates) == (1, 0, 1)
    assert len(refusals) == 2 and all("news.rss#r1" in message for message in refusals)

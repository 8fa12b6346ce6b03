"""Fetching and parsing feeds against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import re
import socket
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest

from monitor import identity
from monitor.errors import ArticleParseError, FeedFetchError
from monitor.identity import user_agent
from monitor.sources import feeds
from monitor.sources.feeds import ACCEPT_ENCODING, FeedFetch, FeedFetcher, fetch_feed
from monitor.sources.parse import parse_feed
from tests.sources.feedserver import (
    ATOM_ETAG,
    ATOM_MODIFIED,
    DATA,
    ESTERI,
    RSS_ETAG,
    RSS_MODIFIED,
    USER_AGENT,
    LiveServer,
    brotli_bomb,
    gzip_bomb,
    serve,
)

HAS_BROTLI = feeds._BROTLI is not None
needs_brotli = pytest.mark.skipif(not HAS_BROTLI, reason="brotli >= 1.2 is not installed")


@pytest.fixture
def base(server: tuple[str, list[dict[str, str]]]) -> str:
    return server[0]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(headers={"User-Agent": USER_AGENT}) as client:
        yield client


async def fetch(client: httpx.AsyncClient, url: str, **kwargs: object) -> FeedFetch:
    options: dict = {"etag": None, "last_modified": None, "timeout": 5.0, **kwargs}
    return await fetch_feed(client, url, **options)


async def test_fetch_feed_rss_then_not_modified(
    client: httpx.AsyncClient, server: tuple[str, list[dict[str, str]]]
) -> None:
    base, seen = server
    first = await fetch(client, f"{base}/esteri.rss")
    assert first.status == 200
    assert first.content == (DATA / "esteri.rss").read_bytes()
    assert (first.etag, first.last_modified) == (RSS_ETAG, RSS_MODIFIED)
    assert first.headers["content-type"].startswith("application/rss+xml")
    assert first.url == f"{base}/esteri.rss"
    assert not first.not_modified

    second = await fetch(client, f"{base}/esteri.rss", etag=first.etag, last_modified=first.last_modified)
    assert second.status == 304
    assert second.content is None
    assert second.not_modified
    assert (second.etag, second.last_modified) == (RSS_ETAG, RSS_MODIFIED)
    assert seen[0]["user-agent"] == USER_AGENT
    assert "if-none-match" not in seen[0]
    assert seen[1]["if-none-match"] == RSS_ETAG
    assert seen[1]["if-modified-since"] == RSS_MODIFIED


async def test_fetch_feed_atom_not_modified_by_date_keeps_validators(
    client: httpx.AsyncClient, base: str
) -> None:
    first = await fetch(client, f"{base}/mondo.atom")
    assert first.status == 200
    assert first.etag == ATOM_ETAG
    again = await fetch(client, f"{base}/mondo.atom", last_modified=ATOM_MODIFIED)
    assert again.status == 304
    assert again.content is None
    assert again.last_modified == ATOM_MODIFIED


async def test_fetch_feed_follows_redirect(client: httpx.AsyncClient, base: str) -> None:
    result = await fetch(client, f"{base}/moved")
    assert result.status == 200
    assert result.url == f"{base}/esteri.rss"
    assert result.content == (DATA / "esteri.rss").read_bytes()


@pytest.mark.parametrize(("path", "reason"), [("/error", "HTTP 500"), ("/missing", "HTTP 404")])
async def test_fetch_feed_error_status_raises(
    client: httpx.AsyncClient, base: str, path: str, reason: str
) -> None:
    with pytest.raises(FeedFetchError, match=rf"{base}{path}: {reason}"):
        await fetch(client, f"{base}{path}")


@pytest.mark.parametrize("path", ["/big", "/big-stream", "/bomb"])
async def test_fetch_feed_oversize_raises(client: httpx.AsyncClient, base: str, path: str) -> None:
    with pytest.raises(FeedFetchError, match=rf"{base}{path}: feed .* 10000 bytes allowed"):
        await fetch(client, f"{base}{path}", max_bytes=10_000)


async def test_fetch_feed_timeout_raises(client: httpx.AsyncClient, base: str) -> None:
    with pytest.raises(FeedFetchError, match=r"/slow: no complete answer within 0.2s"):
        await fetch(client, f"{base}/slow", timeout=0.2)


async def test_fetch_feed_connection_refused_raises(client: httpx.AsyncClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FeedFetchError, match=rf"127.0.0.1:{port}/feed: ConnectError"):
        await fetch(client, f"http://127.0.0.1:{port}/feed")


async def fetch_and_parse(client: httpx.AsyncClient, url: str, **kwargs: object) -> list:
    result = await fetch(client, url)
    assert result.content is not None
    return parse_feed(result.content, source="Esteri", origin=url, headers=result.headers, **kwargs)


async def test_parse_feed_rss_entries(client: httpx.AsyncClient, base: str) -> None:
    url = f"{base}/esteri.rss"
    first, second = await fetch_and_parse(client, url, tags=("esteri",))
    assert first.title == "Finlandia e Svezia verso la NATO"
    assert first.summary == "Helsinki e Stoccolma firmano la richiesta."
    assert first.body == "Primo paragrafo sulla Finlandia.\n\nSecondo paragrafo & fine."
    assert first.url == "https://news.example.org/esteri/finlandia-nato"
    assert first.published == datetime(2022, 5, 17, 7, 30, tzinfo=UTC)
    assert first.origin == f"{url}#esteri-1001"
    assert (first.source, first.tags) == ("Esteri", ("esteri",))
    assert (second.summary, second.body) == ("Negotiators met in Istanbul\non Tuesday.", "")  # counted once
    assert second.published is None


async def test_parse_feed_html_becomes_text(client: httpx.AsyncClient, base: str) -> None:
    articles = await fetch_and_parse(client, f"{base}/esteri.rss")
    for article in articles:
        for text in article.fields.values():
            assert "<" not in text
            assert "track(" not in text


async def test_parse_feed_atom_entries(client: httpx.AsyncClient, base: str) -> None:
    first, second = await fetch_and_parse(client, f"{base}/mondo.atom")
    assert first.title == "Telefonata tra Austin e Shoigu"
    assert first.summary == "Il primo colloquio dall'inizio della guerra."
    assert first.body == "Lloyd Austin ha chiesto il cessate il fuoco.\n\nLa chiamata è durata un'ora."
    assert first.url == "https://world.example.com/2022/05/13/austin-shoigu"
    assert first.published == datetime(2022, 5, 13, 18, 30, 2, tzinfo=UTC)
    assert second.summary == ""  # content only: feedparser's copy is not a summary
    assert second.body == "Stocks rose & bonds fell."
    assert second.published == datetime(2022, 5, 12, 16, 0, tzinfo=UTC)


async def test_parse_feed_entry_language_over_feed_language(client: httpx.AsyncClient, base: str) -> None:
    rss = await fetch_and_parse(client, f"{base}/esteri.rss")
    atom = await fetch_and_parse(client, f"{base}/mondo.atom")
    assert [a.language for a in rss] == ["it", "en"]  # feed <language>, item dc:language
    assert [a.language for a in atom] == ["it", "en"]  # entry xml:lang, feed xml:lang


async def test_parse_feed_configured_language_wins(client: httpx.AsyncClient, base: str) -> None:
    articles = await fetch_and_parse(client, f"{base}/esteri.rss", language="fr")
    assert {a.language for a in articles} == {"fr"}


async def test_parse_feed_uses_charset_header(client: httpx.AsyncClient, base: str) -> None:
    [article] = await fetch_and_parse(client, f"{base}/latin1.rss")
    assert (article.title, article.summary) == ("Città più cara", "Perché?")


async def test_parse_feed_broken_xml_raises(client: httpx.AsyncClient, base: str) -> None:
    url = f"{base}/broken.xml"
    with pytest.raises(ArticleParseError, match=rf"{url}: not a readable feed: SAXParseException"):
        await fetch_and_parse(client, url)


async def test_parse_feed_html_page_raises(client: httpx.AsyncClient, base: str) -> None:
    url = f"{base}/page.html"
    with pytest.raises(ArticleParseError, match=rf"{url}: not a readable feed: NonXMLContentType"):
        await fetch_and_parse(client, url)


def test_parse_feed_html_without_headers_raises() -> None:
    data = b"<html><body><p>Welcome</p></body></html>"
    with pytest.raises(ArticleParseError, match=r"page\.html: not an RSS or Atom feed"):
        parse_feed(data, source="s", origin="page.html")


async def test_parse_feed_bozo_with_entries_yields_them(
    client: httpx.AsyncClient, base: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"{base}/bozo.rss"
    with caplog.at_level(logging.WARNING, logger="monitor.sources.parse"):
        articles = await fetch_and_parse(client, url)
    assert [a.title for a in articles][:1] == ["Prima notizia"]
    assert articles[0].language == "it"
    [record] = caplog.records
    assert url in record.getMessage()
    assert "undefined entity" in record.getMessage()


def test_parse_feed_valid_empty_feed_is_empty() -> None:
    data = b'<rss version="2.0"><channel><title>Quiet</title></channel></rss>'
    assert parse_feed(data, source="s", origin="quiet.rss") == []


def test_parse_feed_skips_entries_without_title_or_text() -> None:
    data = (
        b'<rss version="2.0"><channel><title>t</title>'
        b"<item><guid>1</guid><description>  </description></item>"
        b"<item><guid>2</guid><description>&lt;p&gt;Solo testo&lt;/p&gt;</description></item>"
        b"</channel></rss>"
    )
    [article] = parse_feed(data, source="s", origin="t.rss")
    assert (article.title, article.summary, article.body, article.origin) == ("", "Solo testo", "", "t.rss#2")


# -- feeds at scale: FeedFetcher against the same server ---------------------------------------
@pytest.fixture
def live() -> Iterator[LiveServer]:
    with serve() as live:
        yield live


@pytest.fixture
def fetcher(client: httpx.AsyncClient) -> FeedFetcher:
    return FeedFetcher(client)


async def failure(fetcher: FeedFetcher, url: str, **kwargs: object) -> FeedFetchError:
    with pytest.raises(FeedFetchError) as caught:
        await fetcher.fetch(url, **kwargs)  # type: ignore[arg-type]
    return caught.value


def test_user_agent_names_the_project_its_version_and_a_contact() -> None:
    assert re.fullmatch(r"news-monitor/\S+ \(\+https://github\.com/news-monitor/news-monitor\)", user_agent())
    assert user_agent("https://desk.example.org/bot").endswith(" (+https://desk.example.org/bot)")
    assert user_agent(" mailto:ops@example.org ").endswith(" (+mailto:ops@example.org)")


@pytest.mark.parametrize(
    "contact", ["", "  ", "https://x.example\r\nX-Evil: 1", "https://x.example/(bot)", "città.it"]
)
def test_user_agent_rejects_a_contact_that_would_break_the_header(contact: str) -> None:
    with pytest.raises(ValueError, match="User-Agent contact"):
        user_agent(contact)


def test_user_agent_without_installed_metadata_still_names_a_version(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    identity._version.cache_clear()
    try:
        assert user_agent().startswith("news-monitor/0+unknown (+")
    finally:
        identity._version.cache_clear()


async def test_feed_fetcher_sends_its_user_agent_over_the_clients(
    fetcher: FeedFetcher, live: LiveServer
) -> None:
    await fetcher.fetch(live.url("/esteri.rss"))
    assert live.seen[0]["user-agent"] == user_agent()
    assert FeedFetcher(fetcher.client, user_agent="desk-bot/1 (+https://x.example)").user_agent.startswith(
        "desk"
    )


async def test_feed_fetcher_conditional_get_sends_validators_back_exactly(
    fetcher: FeedFetcher, live: LiveServer
) -> None:
    first = await fetcher.fetch(live.url("/mondo.atom"))
    again = await fetcher.fetch(live.url("/mondo.atom"), etag=first.etag, last_modified=first.last_modified)
    assert (again.status, again.content, again.not_modified) == (304, None, True)
    assert (again.etag, again.last_modified) == (ATOM_ETAG, ATOM_MODIFIED)
    assert live.seen[1]["if-none-match"] == ATOM_ETAG  # weak validator, byte for byte
    assert live.seen[1]["if-modified-since"] == ATOM_MODIFIED


@pytest.mark.parametrize("path", ["/moved", "/perm-1", "/relative", "/hop/5"])
async def test_fetch_feed_permanent_redirects_report_the_new_url(
    fetcher: FeedFetcher, live: LiveServer, path: str
) -> None:
    result = await fetcher.fetch(live.url(path))
    assert result.content == ESTERI
    assert result.url == result.permanent_url == live.url("/esteri.rss")


async def test_fetch_feed_permanent_redirect_to_not_modified_reports_the_new_url(
    fetcher: FeedFetcher, live: LiveServer
) -> None:
    result = await fetcher.fetch(live.url("/perm-1"), etag=RSS_ETAG)
    assert result.not_modified
    assert result.permanent_url == live.url("/esteri.rss")


@pytest.mark.parametrize("path", ["/found", "/see-other", "/temporary", "/perm-then-found"])
async def test_fetch_feed_temporary_redirects_keep_the_stored_url(
    fetcher: FeedFetcher, live: LiveServer, path: str
) -> None:
    result = await fetcher.fetch(live.url(path))
    assert result.url == live.url("/esteri.rss")
    assert result.permanent_url is None


async def test_fetch_feed_without_redirects_has_no_permanent_url(
    fetcher: FeedFetcher, live: LiveServer
) -> None:
    assert (await fetcher.fetch(live.url("/esteri.rss"))).permanent_url is None


async def test_fetch_feed_follows_redirects_itself_even_with_a_client_that_would(live: LiveServer) -> None:
    async with httpx.AsyncClient(follow_redirects=True) as client:
        result = await FeedFetcher(client).fetch(live.url("/perm-1"))
    assert result.permanent_url == live.url("/esteri.rss")
    assert [r["path"] for r in live.seen] == ["/perm-1", "/perm-2", "/esteri.rss"]


@pytest.mark.parametrize("path", ["/loop", "/hop/6"])
async def test_fetch_feed_more_than_five_redirects_is_an_error(
    fetcher: FeedFetcher, live: LiveServer, path: str
) -> None:
    error = await failure(fetcher, live.url(path))
    assert str(error).startswith(live.url(path))
    assert "more than 5 redirects" in str(error)
    assert len(live.seen) == 6  # the original request and five hops, no more


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/no-location", "HTTP 301 redirect without a Location"),
        ("/to-ftp", "redirect to ftp://example.org/feed.xml, not an http(s) URL"),
    ],
)
async def test_fetch_feed_unfollowable_redirect_is_an_error(
    fetcher: FeedFetcher, live: LiveServer, path: str, reason: str
) -> None:
    error = await failure(fetcher, live.url(path))
    assert str(error) == f"{live.url(path)}: {reason}"


@pytest.mark.parametrize("url", ["ftp://example.org/feed.xml", "file:///etc/passwd"])
async def test_fetch_feed_refuses_urls_that_are_not_http(fetcher: FeedFetcher, url: str) -> None:
    error = await failure(fetcher, url)
    assert str(error) == f"{url}: not an http(s) URL"


async def test_fetch_feed_gone_tells_the_caller_to_disable_the_feed(
    fetcher: FeedFetcher, live: LiveServer
) -> None:
    error = await failure(fetcher, live.url("/gone"))
    assert (error.gone, error.status, error.retry_after) == (True, 410, None)
    assert str(error).startswith(f"{live.url('/gone')}: HTTP 410 Gone")
    assert "retired" not in str(error)  # the body of an error answer is never read into messages


async def test_fetch_feed_error_names_the_url_and_the_redirect_target(
    fetcher: FeedFetcher, live: LiveServer
) -> None:
    error = await failure(fetcher, live.url("/perm-to-gone"))
    assert str(error).startswith(f"{live.url('/perm-to-gone')} (redirected to {live.url('/gone')}): HTTP 410")
    assert error.gone


@pytest.mark.parametrize(
    ("path", "status", "retry_after"),
    [
        ("/throttled", 429, 120.0),  # delta-seconds
        ("/throttled-far", 429, 86400.0),  # a date in 2100: clamped to a day
        ("/unavailable", 503, 60.0),  # 5 s: raised to the one-minute floor
        ("/unavailable-bare", 503, None),  # no Retry-After: the caller's backoff decides
    ],
)
async def test_fetch_feed_throttled_carries_retry_after(
    fetcher: FeedFetcher, live: LiveServer, path: str, status: int, retry_after: float | None
) -> None:
    error = await failure(fetcher, live.url(path))
    assert (error.status, error.retry_after, error.gone) == (status, retry_after, False)


async def test_fetch_feed_retry_after_as_an_http_date(fetcher: FeedFetcher, live: LiveServer) -> None:
    error = await failure(fetcher, live.url("/throttled-date"))
    assert error.retry_after is not None
    assert 7000 < error.retry_after <= 7200  # two hours ahead, read back a moment later
    assert "; retry after 7" in str(error)


async def test_fetch_feed_other_errors_carry_only_the_status(fetcher: FeedFetcher, live: LiveServer) -> None:
    error = await failure(fetcher, live.url("/error"))
    assert (error.status, error.retry_after, error.gone) == (500, None, False)
    assert str(error) == f"{live.url('/error')}: HTTP 500 Internal Server Error"


async def test_fetch_feed_dripping_server_stops_at_the_overall_deadline(
    fetcher: FeedFetcher, live: LiveServer
) -> None:
    started = time.monotonic()
    error = await failure(fetcher, live.url("/drip"), timeout=1.0)  # each byte comes well within 1 s
    assert str(error) == f"{live.url('/drip')}: no complete answer within 1s"
    assert error.status is None
    assert time.monotonic() - started < 10  # it stopped: the drip alone would last 20 s


async def fetch_with_peak_memory(
    fetcher: FeedFetcher, url: str, max_bytes: int
) -> tuple[FeedFetchError, int]:
    tracemalloc.start()
    try:
        error = await failure(fetcher, url, max_bytes=max_bytes)
        return error, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def test_fetch_feed_endless_body_is_cut_off_with_flat_memory(
    fetcher: FeedFetcher, live: LiveServer
) -> None:
    error, peak = await fetch_with_peak_memory(fetcher, live.url("/endless"), 1_000_000)
    assert str(error) == f"{live.url('/endless')}: feed is larger than the 1000000 bytes allowed"
    assert peak < 8_000_000


@pytest.mark.parametrize(
    ("path", "bomb"),
    [("/gzip-bomb", gzip_bomb), pytest.param("/brotli-bomb", brotli_bomb, marks=needs_brotli)],
)
async def test_fetch_feed_compression_bomb_is_cut_off_with_flat_memory(
    fetcher: FeedFetcher, live: LiveServer, path: str, bomb: object
) -> None:
    assert callable(bomb)
    assert len(bomb()) < 1_000_000  # built before measuring; small on the wire, 100 MB unpacked
    error, peak = await fetch_with_peak_memory(fetcher, live.url(path), 1_000_000)
    assert str(error) == f"{live.url(path)}: feed is larger than the 1000000 bytes allowed"
    assert peak < 8_000_000  # httpx's own decoder would hold the 100 MB


async def test_fetch_feed_declared_size_over_the_cap_is_refused_before_reading(
    fetcher: FeedFetcher, live: LiveServer
) -> None:
    error = await failure(fetcher, live.url("/huge-declared"), max_bytes=1_000_000)
    assert (
        str(error)
        == f"{live.url('/huge-declared')}: feed is 2147483648 bytes, more than the 1000000 bytes allowed"
    )


async def test_fetch_feed_body_shorter_than_declared_is_an_error(
    fetcher: FeedFetcher, live: LiveServer
) -> None:
    error = await failure(fetcher, live.url("/short-body"))
    assert str(error).startswith(f"{live.url('/short-body')}: RemoteProtocolError")


@pytest.mark.parametrize(
    "path",
    [
        "/esteri.gz",
        "/esteri-2-members.gz",
        "/esteri.gz.gz",
        "/esteri.zlib",
        "/esteri.deflate",
        pytest.param("/esteri.br", marks=needs_brotli),
    ],
)
async def test_fetch_feed_decodes_compressed_bodies(
    fetcher: FeedFetcher, live: LiveServer, path: str
) -> None:
    assert (await fetcher.fetch(live.url(path))).content == ESTERI


async def test_fetch_feed_compressed_feed_parses_like_a_plain_one(
    fetcher: FeedFetcher, live: LiveServer
) -> None:
    fetched = await fetcher.fetch(live.url("/esteri.gz"))
    assert fetched.content is not None
    articles = parse_feed(fetched.content, source="Esteri", origin=fetched.url, headers=fetched.headers)
    assert [a.title for a in articles][:1] == ["Finlandia e Svezia verso la NATO"]


async def test_fetch_feed_asks_only_for_encodings_it_can_bound(
    fetcher: FeedFetcher, live: LiveServer
) -> None:
    await fetcher.fetch(live.url("/esteri.rss"))
    assert live.seen[0]["accept-encoding"] == ACCEPT_ENCODING
    assert ("br" in ACCEPT_ENCODING) == HAS_BROTLI
    assert "zstd" not in ACCEPT_ENCODING


@pytest.mark.parametrize(
    ("path", "reason"),
    [("/not-gzip", "the body is not valid gzip"), ("/zstd", "unsupported Content-Encoding 'zstd'")],
)
async def test_fetch_feed_undecodable_body_is_an_error(
    fetcher: FeedFetcher, live: LiveServer, path: str, reason: str
) -> None:
    error = await failure(fetcher, live.url(path))
    assert str(error).startswith(f"{live.url(path)}: {reason}")


async def fetch_busy(fetcher: FeedFetcher, urls: list[str]) -> None:
    async with asyncio.timeout(30):
        await asyncio.gather(*(fetcher.fetch(url) for url in urls))


async def test_feed_fetcher_keeps_to_the_per_host_limit(client: httpx.AsyncClient, live: LiveServer) -> None:
    await fetch_busy(FeedFetcher(client, per_host=2), [live.url(f"/busy?i={i}") for i in range(6)])
    assert live.peak["/busy"] == 2


async def test_feed_fetcher_keeps_to_the_global_limit(client: httpx.AsyncClient, live: LiveServer) -> None:
    await fetch_busy(
        FeedFetcher(client, max_concurrency=1, per_host=2), [live.url(f"/busy?i={i}") for i in range(4)]
    )
    assert live.peak["/busy"] == 1


async def test_feed_fetcher_limits_each_host_on_its_own(client: httpx.AsyncClient, live: LiveServer) -> None:
    hosts = ["127.0.0.1", "localhost"]
    urls = [f"http://{host}:{live.port}/busy?i={i}" for i in range(2) for host in hosts]
    await fetch_busy(FeedFetcher(client, per_host=1), urls)
    assert live.peak["/busy"] == 2  # one per host, both hosts at once


async def test_feed_fetcher_releases_host_slots_after_failures(
    client: httpx.AsyncClient, live: LiveServer
) -> None:
    fetcher = FeedFetcher(client, per_host=1)
    for path in ("/error", "/gone", "/drip"):
        with pytest.raises(FeedFetchError):
            await fetcher.fetch(live.url(path), timeout=0.5)
    async with asyncio.timeout(5):  # a leaked slot would make this wait forever
        assert (await fetcher.fetch(live.url("/esteri.rss"))).status == 200
    assert fetcher._hosts._slots == {}  # nothing kept for hosts at rest


@pytest.mark.parametrize(("total", "per_host"), [(0, 2), (10, 0)])
def test_feed_fetcher_rejects_limits_below_one(client: httpx.AsyncClient, total: int, per_host: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        FeedFetcher(client, max_concurrency=total, per_host=per_host)


class _KeepAliveHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive: always 304, records each request's client port."""

    protocol_version = "HTTP/1.1"
    ports: ClassVar[list[int]] = []

    def do_GET(self) -> None:
        self.ports.append(self.client_address[1])
        self.send_response(304)
        self.send_header("ETag", '"v1"')
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


async def test_fetch_feed_not_modified_answers_reuse_one_connection() -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAliveHandler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    _KeepAliveHandler.ports = []
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/feed.xml"
        async with httpx.AsyncClient() as client:
            for _ in range(5):
                assert (await fetch(client, url, etag='"v1"')).not_modified
        assert len(_KeepAliveHandler.ports) == 5 and len(set(_KeepAliveHandler.ports)) == 1
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


# -- connect and read timeouts, inside the overall deadline ------------------------------------------------


async def test_feed_fetcher_silent_server_stops_at_the_read_timeout(
    client: httpx.AsyncClient, live: LiveServer
) -> None:
    fetcher = FeedFetcher(client, read_timeout=0.3)
    error = await failure(fetcher, live.url("/stall"), timeout=30.0)  # the server pauses 3 s after "<rss>"
    assert str(error) == f"{live.url('/stall')}: the server sent nothing for 0.3s"


async def test_feed_fetcher_dripping_server_never_trips_the_read_timeout_but_the_deadline(
    client: httpx.AsyncClient, live: LiveServer
) -> None:
    fetcher = FeedFetcher(client, read_timeout=1.0)  # a byte every 0.2 s: never silent for 1 s
    error = await failure(fetcher, live.url("/drip"), timeout=1.5)
    assert str(error) == f"{live.url('/drip')}: no complete answer within 1.5s"


@contextlib.contextmanager
def full_backlog() -> Iterator[int]:
    """A port whose accept queue is full: the kernel drops new SYNs, so a connect hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.1)
        yield port
    finally:
        for sock in (*fillers, listener):
            sock.close()


async def test_feed_fetcher_unanswered_connect_stops_at_the_connect_timeout(
    client: httpx.AsyncClient,
) -> None:
    fetcher = FeedFetcher(client, connect_timeout=0.3)
    with full_backlog() as port:
        url = f"http://127.0.0.1:{port}/feed.xml"
        error = await failure(fetcher, url, timeout=30.0)
    assert str(error) == f"{url}: no connection within 0.3s"


async def test_feed_fetcher_gives_httpx_each_phase_its_limit_within_the_deadline() -> None:
    seen: list[dict[str, float | None]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, stream=httpx.ByteStream(b"<rss/>"))

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as mock:
        fetcher = FeedFetcher(mock, connect_timeout=4.0, read_timeout=7.0)
        await fetcher.fetch("http://feeds.example/a.xml", timeout=20.0)
        await fetcher.fetch("http://feeds.example/b.xml", timeout=5.0)  # never past the deadline
    assert seen == [
        {"connect": 4.0, "read": 7.0, "write": 20.0, "pool": 20.0},
        {"connect": 4.0, "read": 5.0, "write": 5.0, "pool": 5.0},
    ]


@pytest.mark.parametrize(("connect", "read"), [(0.0, 1.0), (1.0, -1.0)])
def test_feed_fetcher_rejects_timeouts_that_are_not_positive(
    client: httpx.AsyncClient, connect: float, read: float
) -> None:
    with pytest.raises(ValueError, match="timeouts must be positive"):
        FeedFetcher(client, connect_timeout=connect, read_timeout=read)

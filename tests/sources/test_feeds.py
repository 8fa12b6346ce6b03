"""Fetching and parsing feeds against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import gzip
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from monitor.errors import ArticleParseError, FeedFetchError
from monitor.sources.feeds import FeedFetch, fetch_feed
from monitor.sources.parse import parse_feed

DATA = Path(__file__).parent / "data"
USER_AGENT = "news-monitor-test/1.0"
RSS_ETAG = '"esteri-v1"'
RSS_MODIFIED = "Tue, 17 May 2022 08:00:00 GMT"
ATOM_ETAG = 'W/"mondo-7"'
ATOM_MODIFIED = "Fri, 13 May 2022 18:30:02 GMT"
BOZO_RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Rotto</title><language>it</language>
<item><title>Prima notizia</title><guid>b1</guid><description>Testo uno</description></item>
<item><title>Seconda notizia</title><guid>b2</guid><description>Testo &nbsp; due</description></item>
</channel></rss>"""
BROKEN_XML = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Esteri</title><<<'
LATIN1_RSS = (
    '<rss version="2.0"><channel><title>Cronaca</title>'
    "<item><title>Città più cara</title><guid>l1</guid><description>Perché?</description></item>"
    "</channel></rss>"
).encode("latin-1")


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0
    send_length: bool = True


ROUTES: dict[str, Route] = {
    "/esteri.rss": Route(
        body=(DATA / "esteri.rss").read_bytes(),
        headers={"Content-Type": "application/rss+xml; charset=utf-8"},
        etag=RSS_ETAG,
        last_modified=RSS_MODIFIED,
    ),
    "/mondo.atom": Route(
        body=(DATA / "mondo.atom").read_bytes(),
        headers={"Content-Type": "application/atom+xml"},
        etag=ATOM_ETAG,
        last_modified=ATOM_MODIFIED,
    ),
    "/moved": Route(status=301, headers={"Location": "/esteri.rss"}),
    "/error": Route(status=500, body=b"<h1>Internal Server Error</h1>"),
    "/missing": Route(status=404, body=b"not here"),
    "/big": Route(body=b"<rss>" + b" " * 50_000 + b"</rss>"),
    "/big-stream": Route(body=b"<rss>" + b" " * 50_000 + b"</rss>", send_length=False),
    "/bomb": Route(
        body=gzip.compress(b"<rss>" + b" " * 500_000 + b"</rss>"),
        headers={"Content-Encoding": "gzip"},
    ),
    "/slow": Route(body=b"<rss/>", delay=1.0),
    "/bozo.rss": Route(body=BOZO_RSS),
    "/broken.xml": Route(body=BROKEN_XML),
    "/page.html": Route(
        body=b"<html><body><p>Welcome</p></body></html>", headers={"Content-Type": "text/html"}
    ),
    "/latin1.rss": Route(
        body=LATIN1_RSS, headers={"Content-Type": "application/rss+xml; charset=iso-8859-1"}
    ),
}


class FeedHandler(BaseHTTPRequestHandler):
    """Serves ROUTES, answering 304 when the client's validators match."""

    seen: list[dict[str, str]]

    def do_GET(self) -> None:
        self.server.seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})  # type: ignore[attr-defined]
        route = ROUTES.get(self.path)
        if route is None:
            self.send_error(404)
            return
        if route.delay:
            time.sleep(route.delay)
        validators = {"ETag": route.etag, "Last-Modified": route.last_modified}
        unchanged = (route.etag and self.headers.get("If-None-Match") == route.etag) or (
            route.last_modified and self.headers.get("If-Modified-Since") == route.last_modified
        )
        try:
            self.send_response(304 if unchanged else route.status)
            for name, value in {**route.headers, **validators}.items():
                if value:
                    self.send_header(name, value)
            if unchanged:
                self.end_headers()
                return
            if route.send_length:
                self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            self.wfile.write(route.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up on purpose (size limit, timeout)

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


@pytest.fixture
def server() -> Iterator[tuple[str, list[dict[str, str]]]]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FeedHandler)
    httpd.daemon_threads = True
    httpd.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        host, port = httpd.server_address[:2]
        yield f"http://{host}:{port}", httpd.seen  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


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

    second = await fetch(
        client, f"{base}/esteri.rss", etag=first.etag, last_modified=first.last_modified
    )
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
    assert second.summary == second.body == "Negotiators met in Istanbul\non Tuesday."
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


async def test_parse_feed_entry_language_over_feed_language(
    client: httpx.AsyncClient, base: str
) -> None:
    rss = await fetch_and_parse(client, f"{base}/esteri.rss")
    atom = await fetch_and_parse(client, f"{base}/mondo.atom")
    assert [a.language for a in rss] == ["it", "en"]  # feed <language>, item dc:language
    assert [a.language for a in atom] == ["it", "en"]  # entry xml:lang, feed xml:lang


async def test_parse_feed_configured_language_wins(client: httpx.AsyncClient, base: str) -> None:
    articles = await fetch_and_parse(client, f"{base}/esteri.rss", language="fr")
    assert {a.language for a in articles} == {"fr"}


async def test_parse_feed_uses_charset_header(client: httpx.AsyncClient, base: str) -> None:
    [article] = await fetch_and_parse(client, f"{base}/latin1.rss")
    assert (article.title, article.body) == ("Città più cara", "Perché?")


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
    assert (article.title, article.body, article.origin) == ("", "Solo testo", "t.rss#2")

"""Fetching and parsing feeds against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from monitor.errors import ArticleParseError, FeedFetchError
from monitor.sources.feeds import FeedFetch, fetch_feed
from monitor.sources.parse import parse_feed
from tests.sources.feedserver import (
    ATOM_ETAG,
    ATOM_MODIFIED,
    DATA,
    RSS_ETAG,
    RSS_MODIFIED,
    USER_AGENT,
)


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

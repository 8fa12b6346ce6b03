"""Fetching a feed over HTTP: conditional, bounded, and failing in one way.

Polite polling sends back the validators the server gave us, so an unchanged
feed costs a 304 and no parsing.  A body is read as a stream and cut off past
``max_bytes`` (after decompression, so a gzip bomb is cut off too), and the
whole fetch must finish within ``timeout`` so a server that trickles bytes
cannot hold a worker forever.  Every failure becomes :class:`FeedFetchError`
naming the URL; the feed is simply tried again on its next run.

The caller owns the ``httpx.AsyncClient`` (User-Agent, connection pool,
transport), which is also the seam tests fake.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from monitor.errors import FeedFetchError

ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"


@dataclass(frozen=True, slots=True)
class FeedFetch:
    """What one fetch brought back.

    ``content`` is ``None`` for a 304 (unchanged since the validators we sent);
    ``etag``/``last_modified`` are the validators to send next time (the old
    ones if a 304 did not repeat them); ``url`` is the final URL after
    redirects; ``headers`` (lower-case names) go to ``parse_feed``.
    """

    status: int
    content: bytes | None
    etag: str | None
    last_modified: str | None
    headers: dict[str, str]
    url: str

    @property
    def not_modified(self) -> bool:
        return self.content is None


async def fetch_feed(
    client: httpx.AsyncClient,
    url: str,
    *,
    etag: str | None,
    last_modified: str | None,
    timeout: float,
    max_bytes: int = 20_000_000,
) -> FeedFetch:
    """GET ``url`` conditionally, following redirects; raises :class:`FeedFetchError`.

    ``etag`` and ``last_modified`` are sent back exactly as received
    (``If-None-Match`` / ``If-Modified-Since``).  ``timeout`` bounds the whole
    fetch, from connecting to the last byte.
    """
    headers = {"Accept": ACCEPT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        async with (
            asyncio.timeout(timeout),
            client.stream("GET", url, headers=headers, timeout=timeout, follow_redirects=True) as response,
        ):
            return await _read_response(response, url, etag, last_modified, max_bytes)
    except (httpx.TimeoutException, TimeoutError):
        raise FeedFetchError(f"{url}: no complete answer within {timeout:g}s") from None
    except httpx.TooManyRedirects:
        raise FeedFetchError(f"{url}: too many redirects") from None
    except httpx.HTTPError as exc:
        raise FeedFetchError(f"{url}: {type(exc).__name__}: {exc}") from exc
    except httpx.InvalidURL as exc:
        raise FeedFetchError(f"{url}: invalid URL: {exc}") from None


async def _read_response(
    response: httpx.Response,
    url: str,
    etag: str | None,
    last_modified: str | None,
    max_bytes: int,
) -> FeedFetch:
    final_url = str(response.url)
    where = url if final_url == url else f"{url} (redirected to {final_url})"
    status = response.status_code
    if status == httpx.codes.NOT_MODIFIED:
        return FeedFetch(
            status=status,
            content=None,
            etag=response.headers.get("etag") or etag,
            last_modified=response.headers.get("last-modified") or last_modified,
            headers=dict(response.headers),
            url=final_url,
        )
    if not response.is_success:
        raise FeedFetchError(f"{where}: HTTP {status} {response.reason_phrase}".rstrip())
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FeedFetchError(f"{where}: feed is {declared} bytes, more than the {max_bytes} bytes allowed")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FeedFetchError(f"{where}: feed is larger than the {max_bytes} bytes allowed")
        chunks.append(chunk)
    return FeedFetch(
        status=status,
        content=b"".join(chunks),
        etag=response.headers.get("etag"),
        last_modified=response.headers.get("last-modified"),
        headers=dict(response.headers),
        url=final_url,
    )

"""Fetching feeds over HTTP at scale: polite, conditional, bounded, and failing in one way.

Thousands of feeds share one ``httpx.AsyncClient`` (owned by the caller, the
seam tests fake).  :class:`FeedFetcher` keeps the politeness: a global cap on
fetches in flight, at most ``per_host`` per server, and a User-Agent that
names us and a contact, so an admin who sees us in a log can reach a person.

Every fetch is bounded three ways, so no server can hold a worker or its
memory: one deadline for the whole fetch, redirects included (httpx's read
timeout restarts with every chunk, so a server dripping a byte a second would
never trip it), within which a connection must open in ``connect_timeout``
and a server may stay silent for at most ``read_timeout``; a byte cap on
the body counted *after* decompression, which we do ourselves, at most
64 KiB of output at a time (httpx inflates each network read in full, and
64 KiB of brotli can become gigabytes); and at most :data:`MAX_REDIRECTS`
hops.

Redirects are followed here rather than by httpx, so the chain can be judged:
when every hop was permanent (301/308) and the target answered, the caller is
told the feed's new address.  Validators are sent back exactly as received,
so an unchanged feed costs a 304 and no parsing.  What the server said
becomes a :class:`~monitor.errors.FeedFetchError` that names the URL (and the
redirect target): ``gone`` for 410, ``retry_after`` for 429/503, ``status``
otherwise; ``feedpolicy`` turns that into the next poll time.  Bodies of
error answers are never read, let alone logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.metadata
import logging
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from monitor.errors import BlockedAddress, FeedFetchError
from monitor.identity import user_agent
from monitor.retryafter import parse_retry_after
from monitor.sources.feedpolicy import clamp_retry_after
from monitor.sources.netguard import GuardedClient

__all__ = [
    "ACCEPT",
    "ACCEPT_ENCODING",
    "DEFAULT_MAX_BYTES",
    "MAX_REDIRECTS",
    "PAGE_ACCEPT",
    "FeedFetch",
    "FeedFetcher",
    "fetch_feed",
]

log = logging.getLogger(__name__)

ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.8"
DEFAULT_MAX_BYTES = 20_000_000
DEFAULT_TIMEOUT = 20.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 10.0
DEFAULT_CONCURRENCY = 20
DEFAULT_PER_HOST = 2
MAX_REDIRECTS = 5

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})
_PIECE = 64 * 1024  # the most decompressed output produced in one step


def _bounded_brotli() -> Any:
    """The ``brotli`` module if it can limit its output (≥ 1.2), else None: then we do not ask for br."""
    try:
        module = importlib.import_module("brotli")
    except ImportError:
        return None
    return module if hasattr(module.Decompressor, "can_accept_more_data") else None


_BROTLI = _bounded_brotli()
ACCEPT_ENCODING = "gzip, deflate, br" if _BROTLI is not None else "gzip, deflate"


@dataclass(frozen=True, slots=True)
class FeedFetch:
    """What one fetch brought back.

    ``content`` is ``None`` for a 304 (unchanged since the validators we sent);
    ``etag``/``last_modified`` are the validators to send next time (the old
    ones if a 304 did not repeat them); ``url`` is the final URL after
    redirects; ``headers`` (lower-case names) go to ``parse_feed``.
    ``permanent_url`` is set when the feed has moved for good (every hop a
    301/308 and the target answered): store it in place of the old URL.
    """

    status: int
    content: bytes | None
    etag: str | None
    last_modified: str | None
    headers: dict[str, str]
    url: str
    permanent_url: str | None = None

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
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> FeedFetch:
    """GET one feed conditionally with the client's own User-Agent and no concurrency limits.

    For a single fetch; pollers use :class:`FeedFetcher`.  Same bounds, same
    errors (:class:`FeedFetchError`); ``timeout`` bounds the whole fetch.
    """
    ask = _Ask(_feed_headers(etag, last_modified), timeout, max_bytes, etag, last_modified)
    return await _fetch(client, url, ask, lambda host: contextlib.nullcontext())


class FeedFetcher:
    """Fetches over one shared client, never more than ``max_concurrency`` at once nor ``per_host`` per host.

    Slots are taken hop by hop (host slot first, then a global one), so a
    queue for one busy host never holds global slots other hosts could use,
    and a redirect to another host waits for that host's slot.  Untrusted
    URLs (links found in feeds) go through ``untrusted``, a
    :class:`~monitor.sources.netguard.GuardedClient`, and only through it.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        max_concurrency: int = DEFAULT_CONCURRENCY,
        per_host: int = DEFAULT_PER_HOST,
        user_agent: str | None = None,
        untrusted: GuardedClient | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
    ) -> None:
        if max_concurrency < 1 or per_host < 1:
            raise ValueError(f"limits must be at least 1, got {max_concurrency=} {per_host=}")
        if connect_timeout <= 0 or read_timeout <= 0:
            raise ValueError(f"timeouts must be positive, got {connect_timeout=} {read_timeout=}")
        self.client = client
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.user_agent = user_agent if user_agent is not None else _default_user_agent()
        self.untrusted = untrusted
        self._global = asyncio.Semaphore(max_concurrency)
        self._hosts = _HostSlots(per_host)

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> FeedFetch:
        """GET a configured feed conditionally; raises :class:`FeedFetchError`."""
        headers = {**_feed_headers(etag, last_modified), "User-Agent": self.user_agent}
        connect, read = self._phases(timeout)
        ask = _Ask(headers, timeout, max_bytes, etag, last_modified, connect=connect, read=read)
        return await _fetch(self.client, url, ask, self._slot)

    async def fetch_untrusted(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_bytes: int = DEFAULT_MAX_BYTES,
        accept: str = PAGE_ACCEPT,
    ) -> FeedFetch:
        """GET a URL a stranger wrote (a link in a feed) through the guarded client.

        Raises :class:`~monitor.errors.BlockedAddress` when the URL, or any
        redirect hop, leads to an address the guard refuses.
        """
        if self.untrusted is None:
            raise RuntimeError("FeedFetcher was built without a GuardedClient: untrusted URLs are refused")
        headers = {"Accept": accept, "Accept-Encoding": ACCEPT_ENCODING, "User-Agent": self.user_agent}
        connect, read = self._phases(timeout)
        ask = _Ask(headers, timeout, max_bytes, what="page", connect=connect, read=read)
        return await _fetch(self.untrusted.client, url, ask, self._slot)

    def _phases(self, timeout: float) -> tuple[float, float]:
        """Connect and read limits, never past the fetch's own deadline."""
        return min(self.connect_timeout, timeout), min(self.read_timeout, timeout)

    @contextlib.asynccontextmanager
    async def _slot(self, host: str) -> AsyncIterator[None]:
        async with self._hosts.slot(host), self._global:
            yield


def _default_user_agent() -> str:
    return user_agent()


class _HostSlots:
    """A semaphore per host, dropped when nobody uses it, so thousands of hosts cost nothing at rest."""

    def __init__(self, per_host: int) -> None:
        self._per_host = per_host
        self._slots: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}

    @contextlib.asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        semaphore, users = self._slots.setdefault(host, (asyncio.Semaphore(self._per_host), [0]))
        users[0] += 1
        try:
            async with semaphore:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._slots[host]


@dataclass(frozen=True, slots=True)
class _Ask:
    """What every hop of one fetch sends and obeys."""

    headers: dict[str, str]
    timeout: float
    max_bytes: int
    etag: str | None = None
    last_modified: str | None = None
    what: str = "feed"
    connect: float | None = None  # None: the overall timeout
    read: float | None = None

    @property
    def phases(self) -> httpx.Timeout:
        """httpx's per-phase limits; the overall deadline is ours (``asyncio.timeout_at``)."""
        return httpx.Timeout(
            self.timeout, connect=self.connect or self.timeout, read=self.read or self.timeout
        )


def _feed_headers(etag: str | None, last_modified: str | None) -> dict[str, str]:
    headers = {"Accept": ACCEPT, "Accept-Encoding": ACCEPT_ENCODING}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


class _Chain:
    """The hops of one fetch: where we are now, and whether every move so far was permanent."""

    def __init__(self, url: str) -> None:
        self.origin = url
        self.current = url
        self.hops = 0
        self.permanent = True

    def where(self) -> str:
        """How errors name the fetch: the URL asked for and, after redirects, where it led."""
        return self.origin if self.current == self.origin else f"{self.origin} (redirected to {self.current})"

    @property
    def permanent_url(self) -> str | None:
        return self.current if self.hops and self.permanent else None

    def follow(self, status: int, location: str | None) -> None:
        """Move to the redirect's target, refusing what a feed reader must not follow."""
        if not location:
            raise FeedFetchError(f"{self.where()}: HTTP {status} redirect without a Location", status=status)
        try:
            target = httpx.URL(self.current).join(location.strip())
        except httpx.InvalidURL as exc:
            raise FeedFetchError(f"{self.where()}: redirect to an invalid URL {location!r}: {exc}") from None
        if self.hops >= MAX_REDIRECTS:
            raise FeedFetchError(f"{self.where()}: more than {MAX_REDIRECTS} redirects (next: {target})")
        if target.scheme not in ("http", "https"):
            raise FeedFetchError(f"{self.where()}: redirect to {target}, not an http(s) URL", status=status)
        log.debug("url=%s hop=%d status=%d to=%s", self.origin, self.hops + 1, status, target)
        self.hops += 1
        self.permanent = self.permanent and status in _PERMANENT
        self.current = str(target)


SlotFactory = Callable[[str], contextlib.AbstractAsyncContextManager[None]]


async def _fetch(client: httpx.AsyncClient, url: str, ask: _Ask, slot: SlotFactory) -> FeedFetch:
    """Follow the chain hop by hop under one deadline, taken when the first slot is ours."""
    chain = _Chain(url)
    deadline: float | None = None
    with _errors_named(chain, ask):
        while True:
            target = httpx.URL(chain.current)
            if target.scheme not in ("http", "https"):
                raise FeedFetchError(f"{url}: not an http(s) URL")
            async with slot(target.host):
                if deadline is None:
                    deadline = asyncio.get_running_loop().time() + ask.timeout
                async with asyncio.timeout_at(deadline):
                    answer = await _hop(client, chain, ask)
            if isinstance(answer, FeedFetch):
                return answer
            chain.follow(*answer)


@contextlib.contextmanager
def _errors_named(chain: _Chain, ask: _Ask) -> Iterator[None]:
    """httpx's and asyncio's errors become :class:`FeedFetchError` naming the URL, here and only here."""
    try:
        yield
    except httpx.ConnectTimeout:
        connect = ask.phases.connect
        raise FeedFetchError(f"{chain.where()}: no connection within {connect:g}s") from None
    except httpx.ReadTimeout:
        read = ask.phases.read
        raise FeedFetchError(f"{chain.where()}: the server sent nothing for {read:g}s") from None
    except (httpx.TimeoutException, TimeoutError):
        raise FeedFetchError(f"{chain.where()}: no complete answer within {ask.timeout:g}s") from None
    except BlockedAddress as exc:  # raised by the guard, which knows the host but not the URL
        message = f"{chain.where()}: {exc}"
        raise BlockedAddress(message, host=exc.host, address=exc.address, reason=exc.reason) from None
    except httpx.HTTPError as exc:
        raise FeedFetchError(f"{chain.where()}: {type(exc).__name__}: {exc}") from exc
    except httpx.InvalidURL as exc:
        raise FeedFetchError(f"{chain.where()}: invalid URL: {exc}") from None


async def _hop(client: httpx.AsyncClient, chain: _Chain, ask: _Ask) -> FeedFetch | tuple[int, str | None]:
    """One request: the final answer, or a redirect's (status, Location) for the chain to judge."""
    async with client.stream(
        "GET", chain.current, headers=ask.headers, timeout=ask.phases, follow_redirects=False
    ) as response:
        status = response.status_code
        if status in _REDIRECTS or status == httpx.codes.NOT_MODIFIED:
            # read the (small) body so the connection goes back to the pool: a poll of a
            # thousand unchanged feeds must not cost a thousand TCP and TLS handshakes
            await _drain(response)
        if status in _REDIRECTS:
            return status, response.headers.get("location")
        headers = dict(response.headers)
        if status == httpx.codes.NOT_MODIFIED:
            etag = headers.get("etag") or ask.etag
            modified = headers.get("last-modified") or ask.last_modified
            return FeedFetch(status, None, etag, modified, headers, chain.current, chain.permanent_url)
        if not response.is_success:
            raise _status_error(response, chain.where())
        content = await _read_body(response, chain.where(), ask)
        etag, modified = headers.get("etag"), headers.get("last-modified")
        return FeedFetch(status, content, etag, modified, headers, chain.current, chain.permanent_url)


async def _drain(response: httpx.Response, limit: int = 65_536) -> None:
    """Read a body we do not need, up to ``limit`` bytes; a bigger one just costs its connection."""
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if read > limit:
            return


def _status_error(response: httpx.Response, where: str) -> FeedFetchError:
    """The server's refusal as data the schedule can act on; the body is never read."""
    status = response.status_code
    message = f"{where}: HTTP {status} {response.reason_phrase}".rstrip()
    if status == httpx.codes.GONE:
        return FeedFetchError(f"{message}: the feed is gone, stop polling it", status=status, gone=True)
    if status in (httpx.codes.TOO_MANY_REQUESTS, httpx.codes.SERVICE_UNAVAILABLE):
        asked = parse_retry_after(response.headers.get("retry-after"), datetime.now(UTC))
        retry_after = clamp_retry_after(asked)
        if retry_after is not None:
            message += f"; retry after {retry_after:g}s"
        return FeedFetchError(message, status=status, retry_after=retry_after)
    return FeedFetchError(message, status=status)


async def _read_body(response: httpx.Response, where: str, ask: _Ask) -> bytes:
    """The decoded body, refused as soon as the wire bytes or the decoded bytes pass the cap."""
    limit = ask.max_bytes
    declared = response.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise FeedFetchError(f"{where}: {ask.what} is {declared} bytes, more than the {limit} bytes allowed")
    too_large = f"{where}: {ask.what} is larger than the {limit} bytes allowed"
    try:
        decoder = _decoder_for(response.headers.get("content-encoding", ""))
        body = bytearray()
        received = 0
        async for raw in response.aiter_raw():
            received += len(raw)
            if received > limit:
                raise FeedFetchError(too_large)
            for piece in decoder.decode(raw):
                body += piece
                if len(body) > limit:
                    raise FeedFetchError(too_large)
    except _CorruptBody as exc:
        raise FeedFetchError(f"{where}: {exc}") from None
    return bytes(body)


# -- decoding, bounded ---------------------------------------------------------------------
class _CorruptBody(ValueError):
    """The body cannot be decoded as its Content-Encoding says."""


class _Decoder(Protocol):
    def decode(self, data: bytes) -> Iterator[bytes]:
        """Decoded pieces of at most ``_PIECE`` bytes each, produced lazily."""
        ...


class _Inflate:
    """gzip (several members too) and deflate (zlib-wrapped or raw, as servers send both)."""

    def __init__(self, encoding: str) -> None:
        self._gzip = encoding != "deflate"
        self._wbits = zlib.MAX_WBITS | 16 if self._gzip else zlib.MAX_WBITS
        self._zlib = zlib.decompressobj(self._wbits)
        self._started = False
        self._done = False

    def decode(self, data: bytes) -> Iterator[bytes]:
        if not self._started:
            self._started = True
            if not self._gzip and not _zlib_header(data):
                self._wbits = -zlib.MAX_WBITS
                self._zlib = zlib.decompressobj(self._wbits)
        try:
            yield from self._inflate(data)
        except zlib.error as exc:
            raise _CorruptBody(
                f"the body is not valid {'gzip' if self._gzip else 'deflate'}: {exc}"
            ) from None

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        pending, piece = data, b""
        # a full piece may leave output inside zlib after the input is gone: ask again with b""
        while not self._done and (pending or len(piece) == _PIECE):
            piece = self._zlib.decompress(pending, _PIECE)
            if piece:
                yield piece
            if self._zlib.eof:  # the end of a gzip member: another may follow, or trailing junk
                pending, piece = self._zlib.unused_data, b""
                self._done = not (self._gzip and pending.startswith(b"\x1f\x8b"))
                self._zlib = zlib.decompressobj(self._wbits)
            else:
                pending = self._zlib.unconsumed_tail


def _zlib_header(data: bytes) -> bool:
    return len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0


class _Brotli:
    def __init__(self) -> None:
        self._brotli = _BROTLI.Decompressor()

    def decode(self, data: bytes) -> Iterator[bytes]:
        try:
            piece = self._brotli.process(data, output_buffer_limit=_PIECE)
            while True:
                if piece:
                    yield piece
                if self._brotli.can_accept_more_data():
                    return
                if not piece:
                    raise _CorruptBody("the brotli decoder stalled")
                piece = self._brotli.process(b"", output_buffer_limit=_PIECE)
        except _BROTLI.error as exc:
            raise _CorruptBody(f"the body is not valid brotli: {exc}") from None


class _Decoding:
    """Every encoding of a body (often one, possibly none), undone in the reverse of the order applied."""

    def __init__(self, decoders: list[_Decoder]) -> None:
        self._decoders = decoders

    def decode(self, data: bytes) -> Iterator[bytes]:
        pieces: Iterable[bytes] = (data,)
        for decoder in self._decoders:
            pieces = _through(decoder, pieces)
        yield from pieces


def _through(decoder: _Decoder, pieces: Iterable[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        yield from decoder.decode(piece)


def _decoder_for(header: str) -> _Decoding:
    names = [name.strip().lower() for name in header.split(",") if name.strip()]
    return _Decoding([_decoder_named(name) for name in reversed(names) if name != "identity"])


def _decoder_named(name: str) -> _Decoder:
    if name in ("gzip", "x-gzip", "deflate"):
        return _Inflate(name)
    if name == "br" and _BROTLI is not None:
        return _Brotli()
    raise _CorruptBody(f"unsupported Content-Encoding {name!r}")

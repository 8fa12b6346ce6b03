"""A real feed server on 127.0.0.1 that plays what feeds at scale meet: conditional GET, redirect
chains and loops, 410/429/503, slow, dripping, endless and compressed bodies (bombs too), and counts
the requests in flight so concurrency limits can be checked from the server's side.

Shared by the source tests and the pipeline tests; routes are plain data.  Every stream is bounded
in size and stops when the client hangs up or the server shuts down.
"""

from __future__ import annotations

import contextlib
import gzip
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

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
ESTERI = (DATA / "esteri.rss").read_bytes()
RSS_TYPE = {"Content-Type": "application/rss+xml"}
CRONACA = (
    "<rss version='2.0'><channel><title>Cronaca</title><language>it</language>"
    "<item><title>Città più cara: “perché”?</title><guid>c1</guid>"
    "<description>L’inflazione è al 5 €.</description></item></channel></rss>"
)
BOMB_SIZE = 100_000_000  # what the bombs expand to; each is a few hundred KB on the wire
ENDLESS_SIZE = 2 * 1024**3  # "endless": 2 GB, should a client never hang up
DRIP_BYTES = 100  # one byte every DRIP_INTERVAL: 20 s in all, far past any test's deadline
DRIP_INTERVAL = 0.2
STALL_SECONDS = 3.0
BUSY_SECONDS = 0.3
STUCK_SECONDS = 15.0  # the longest the stuck feed holds its answer: below the client's 20 s timeout
STUCK_UNTIL = ("/esteri.rss", 3)  # ...waiting for this many requests of another feed
FAR_FUTURE = "Fri, 01 Jan 2100 00:00:00 GMT"


@cache
def gzip_bomb() -> bytes:
    return gzip.compress(bytes(BOMB_SIZE), compresslevel=9)


@cache
def brotli_bomb() -> bytes:
    import brotli

    return bytes(brotli.compress(bytes(BOMB_SIZE), quality=5))


def brotli_esteri() -> bytes:
    import brotli

    return bytes(brotli.compress(ESTERI))


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def endless() -> Iterator[bytes]:
    chunk = b"<rss>" + b" " * (64 * 1024 - 5)
    for _ in range(ENDLESS_SIZE // len(chunk)):
        yield chunk


def drip() -> Iterator[bytes]:
    yield from (b" " for _ in range(DRIP_BYTES))


def two_hours_ahead() -> dict[str, str]:
    return {"Retry-After": format_datetime(datetime.now(UTC) + timedelta(hours=2), usegmt=True)}


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0
    send_length: bool = True
    make_body: Callable[[], bytes] | None = None  # for big bodies, built on first use
    make_headers: Callable[[], dict[str, str]] | None = None  # for headers that depend on the time
    stream: Callable[[], Iterable[bytes]] | None = None  # sent piece by piece, no Content-Length
    interval: float = 0.0  # pause between streamed pieces
    track: bool = False  # count requests in flight on this path (see LiveServer.peak)
    # the first answer comes once (path, n): that path has been asked n more times, waiting at most
    # `delay` for it; later answers come at once
    until: tuple[str, int] | None = None


def redirect(status: int, location: str | None) -> Route:
    return Route(status=status, headers={"Location": location} if location else {})


ROUTES: dict[str, Route] = {
    "/esteri.rss": Route(
        body=ESTERI,
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
    "/moved": redirect(301, "/esteri.rss"),
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
    # hostile and mis-declared feeds
    "/billion-laughs.rss": Route(
        body=(DATA / "hostile" / "billion-laughs.rss").read_bytes(), headers=RSS_TYPE
    ),
    "/xxe.rss": Route(body=(DATA / "hostile" / "xxe-etc-passwd.rss").read_bytes(), headers=RSS_TYPE),
    "/utf8-served-as-latin1.rss": Route(
        body=CRONACA.encode("utf-8"), headers={"Content-Type": "application/rss+xml; charset=iso-8859-1"}
    ),
    "/cp1252-declared-utf8.rss": Route(
        body=(
            '<?xml version="1.0" encoding="utf-8"?>' + CRONACA.replace("c1", "c2").replace("Città", "Milano")
        ).encode("cp1252"),
        headers=RSS_TYPE,
    ),
    "/latin1.rss": Route(
        body=LATIN1_RSS, headers={"Content-Type": "application/rss+xml; charset=iso-8859-1"}
    ),
    # redirects
    "/perm-1": redirect(301, "/perm-2"),
    "/perm-2": redirect(308, "/esteri.rss"),
    "/found": redirect(302, "/esteri.rss"),
    "/see-other": redirect(303, "/esteri.rss"),
    "/temporary": redirect(307, "/esteri.rss"),
    "/perm-then-found": redirect(301, "/found"),
    "/relative": redirect(301, "feeds/../esteri.rss"),
    "/loop": redirect(301, "/loop"),
    "/no-location": redirect(301, None),
    "/to-ftp": redirect(302, "ftp://example.org/feed.xml"),
    "/perm-to-gone": redirect(301, "/gone"),
    "/perm-to-error": redirect(301, "/error"),
    "/to-internal": redirect(302, "http://internal.example/feed.xml"),
    **{f"/hop/{n}": redirect(301, f"/hop/{n - 1}" if n > 1 else "/esteri.rss") for n in range(1, 7)},
    # statuses the schedule acts on
    "/gone": Route(status=410, body=b"this feed was retired"),
    "/throttled": Route(status=429, headers={"Retry-After": "120"}),
    "/throttled-date": Route(status=429, make_headers=two_hours_ahead),
    "/throttled-far": Route(status=429, headers={"Retry-After": FAR_FUTURE}),
    "/unavailable": Route(status=503, headers={"Retry-After": "5"}),
    "/unavailable-bare": Route(status=503),
    # bodies that must be cut off
    "/drip": Route(stream=drip, interval=DRIP_INTERVAL),
    "/stall": Route(stream=lambda: iter([b"<rss>", b"</rss>"]), interval=STALL_SECONDS),  # then silent
    "/endless": Route(stream=endless),
    "/huge-declared": Route(body=b"<rss/>", send_length=False, headers={"Content-Length": str(ENDLESS_SIZE)}),
    "/short-body": Route(body=b"<rss>", send_length=False, headers={"Content-Length": "1000"}),
    "/gzip-bomb": Route(make_body=gzip_bomb, headers={"Content-Encoding": "gzip"}),
    "/brotli-bomb": Route(make_body=brotli_bomb, headers={"Content-Encoding": "br"}),
    # encodings
    "/esteri.gz": Route(body=gzip.compress(ESTERI), headers={"Content-Encoding": "gzip"}),
    "/esteri-2-members.gz": Route(
        body=gzip.compress(ESTERI[:500]) + gzip.compress(ESTERI[500:]), headers={"Content-Encoding": "gzip"}
    ),
    "/esteri.zlib": Route(body=zlib.compress(ESTERI), headers={"Content-Encoding": "deflate"}),
    "/esteri.deflate": Route(body=raw_deflate(ESTERI), headers={"Content-Encoding": "deflate"}),
    "/esteri.br": Route(make_body=brotli_esteri, headers={"Content-Encoding": "br"}),
    "/esteri.gz.gz": Route(
        body=gzip.compress(gzip.compress(ESTERI)), headers={"Content-Encoding": "gzip, gzip"}
    ),
    "/not-gzip": Route(body=b"plain text, not gzip", headers={"Content-Encoding": "gzip"}),
    "/zstd": Route(body=b"\x28\xb5\x2f\xfd", headers={"Content-Encoding": "zstd"}),
    # concurrency
    "/busy": Route(body=b"<rss/>", delay=BUSY_SECONDS, track=True),
    # longer than its interval: held until the other feed was polled meanwhile, as a scheduler that
    # runs feeds side by side does (a sequential one never would: the answer then comes late)
    "/stuck.rss": Route(body=BOZO_RSS, delay=STUCK_SECONDS, until=STUCK_UNTIL, track=True),
}


class FeedServer(ThreadingHTTPServer):
    """Records every request, and the most requests ever in flight at once per tracked path."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), FeedHandler)
        self.seen: list[dict[str, str]] = []
        self.peak: dict[str, int] = {}
        self.stopping = threading.Event()
        self._in_flight: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def tracking(self, path: str) -> Iterator[None]:
        with self._lock:
            self._in_flight[path] = self._in_flight.get(path, 0) + 1
            self.peak[path] = max(self.peak.get(path, 0), self._in_flight[path])
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[path] -= 1


class FeedHandler(BaseHTTPRequestHandler):
    """Serves ROUTES (the query string is ignored), answering 304 when the client's validators match."""

    server: FeedServer

    def do_GET(self) -> None:
        self.server.seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
        path = self.path.split("?", 1)[0]
        route = ROUTES.get(self.path) or ROUTES.get(path)
        if route is None:
            self.send_error(404)
            return
        tracking = self.server.tracking(path) if route.track else contextlib.nullcontext()
        # the client hangs up on purpose (size limit, deadline): not a server error
        hung_up = contextlib.suppress(BrokenPipeError, ConnectionResetError)
        with tracking, hung_up:
            self._answer(route)

    def _answer(self, route: Route) -> None:
        path = self.path.split("?", 1)[0]
        if route.until is not None:
            if sum(1 for request in self.server.seen if request["path"] == path) == 1:
                self._hold_until(*route.until, timeout=route.delay)
        elif route.delay:
            time.sleep(route.delay)
        validators = {"ETag": route.etag, "Last-Modified": route.last_modified}
        unchanged = (route.etag and self.headers.get("If-None-Match") == route.etag) or (
            route.last_modified and self.headers.get("If-Modified-Since") == route.last_modified
        )
        self.send_response(304 if unchanged else route.status)
        extra = route.make_headers() if route.make_headers else {}
        for name, value in {**route.headers, **extra, **validators}.items():
            if value:
                self.send_header(name, value)
        if unchanged:
            self.end_headers()
            return
        if route.stream is not None:
            self.end_headers()
            self._stream(route)
            return
        body = route.make_body() if route.make_body else route.body
        if route.send_length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _hold_until(self, path: str, requests: int, timeout: float) -> None:
        def asked() -> int:
            return sum(1 for request in self.server.seen if request["path"] == path)

        target = asked() + requests
        deadline = time.monotonic() + timeout
        while asked() < target and time.monotonic() < deadline and not self.server.stopping.is_set():
            time.sleep(0.05)

    def _stream(self, route: Route) -> None:
        assert route.stream is not None
        for piece in route.stream():
            if self.server.stopping.is_set():
                return
            self.wfile.write(piece)
            self.wfile.flush()
            if route.interval:
                time.sleep(route.interval)

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


@dataclass
class LiveServer:
    base: str
    port: int
    seen: list[dict[str, str]]
    peak: dict[str, int]

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


@contextlib.contextmanager
def serve() -> Iterator[LiveServer]:
    """A running FeedServer for the duration of the block, shut down (streams stopped) after it."""
    httpd = FeedServer()
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        host, port = httpd.server_address[:2]
        yield LiveServer(f"http://{host}:{port}", int(port), httpd.seen, httpd.peak)
    finally:
        httpd.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def server() -> Iterator[tuple[str, list[dict[str, str]]]]:
    with serve() as live:
        yield live.base, live.seen

"""A real feed server on 127.0.0.1 that plays conditional GET, redirects, errors and slow bodies.

Shared by the source tests and the pipeline tests; routes are plain data.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
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

"""The operations endpoint: /livez (/healthz), /readyz, /metrics and the Atom feeds, read-only.

It runs on the daemon's own event loop (asyncio streams, HTTP/1.1 parsed by
h11), so ``/livez`` answering means the loop is turning, and it needs no
thread or framework.  One request per connection, GET and HEAD only, small
bounded requests, a deadline on every read: it is meant for a health checker
and a Prometheus scraper on localhost, not for the open internet.

``/atom/<channel>/<rule>.xml`` serves the files the ``atom`` channels write.
A name is accepted only if it is a plain file name of the folder the channel
writes to (no separators, no leading dot, resolved inside the folder), so no
request can read anything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import h11

__all__ = ["Check", "OpsEndpoint", "OpsServer", "Response"]

READ_TIMEOUT_S = 10.0
MAX_REQUEST_BYTES = 16_384
ATOM_PATH = re.compile(r"^/atom/([A-Za-z0-9_-][A-Za-z0-9._-]*)/([A-Za-z0-9_-][A-Za-z0-9._-]*\.xml)$")
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Check:
    """One readiness condition: its name, whether it holds, and what was seen."""

    name: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = TEXT


def _text(status: int, text: str) -> Response:
    return Response(status, text.encode())


class OpsEndpoint:
    """Routes a request to an answer; knows nothing of sockets, so it is tested directly."""

    def __init__(
        self,
        *,
        readiness: Callable[[], Awaitable[list[Check]]],
        metrics: Callable[[], tuple[bytes, str]],
        atom_folders: Callable[[], Mapping[str, Path]],
    ) -> None:
        self._readiness = readiness
        self._metrics = metrics
        self._atom_folders = atom_folders

    async def respond(self, method: str, target: str) -> Response:
        if method not in ("GET", "HEAD"):
            return _text(405, "method not allowed: this endpoint is read-only\n")
        path = target.split("?", 1)[0]
        if path in ("/livez", "/healthz"):
            return _text(200, "ok\n")
        if path == "/readyz":
            return await self.ready()
        if path == "/metrics":
            body, content_type = self._metrics()
            return Response(200, body, content_type)
        if path.startswith("/atom/"):
            return await self.atom(path)
        return _text(404, "not found: try /livez, /readyz, /metrics\n")

    async def ready(self) -> Response:
        checks = await self._readiness()
        lines = [
            f"{c.name} {'ok' if c.ok else 'failed'}{': ' + c.detail if c.detail else ''}" for c in checks
        ]
        failed = [c.name for c in checks if not c.ok]
        head = f"not ready: {', '.join(failed)}" if failed else "ready"
        return _text(503 if failed else 200, "\n".join([head, *lines]) + "\n")

    async def atom(self, path: str) -> Response:
        match = ATOM_PATH.match(path)
        folder = self._atom_folders().get(match[1]) if match else None
        if match is None or folder is None:
            return _text(404, "not found\n")
        try:
            body = await asyncio.to_thread(_read_inside, folder, match[2])
        except FileNotFoundError:
            return _text(404, "no such feed yet: it appears with the rule's first alert\n")
        except OSError:
            return _text(404, "not found\n")
        return Response(200, body, "application/atom+xml; charset=utf-8")


def _read_inside(folder: Path, name: str) -> bytes:
    """The file ``name`` of ``folder``, refusing one that resolves elsewhere (a symlink out)."""
    root = folder.resolve()
    path = (root / name).resolve()
    if path.parent != root or not path.is_file():
        raise FileNotFoundError(name)
    return path.read_bytes()


class OpsServer:
    """Serves an :class:`OpsEndpoint` on ``host:port`` from the running event loop."""

    def __init__(self, endpoint: OpsEndpoint, host: str, port: int) -> None:
        self.endpoint = endpoint
        self.host, self.port = host, port
        self._server: asyncio.Server | None = None

    async def start(self) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=MAX_REQUEST_BYTES)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.port = port
        return host, port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), timeout=2.0)
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_BYTES)
        try:
            request = await _read_request(conn, reader)
            if request is None:
                return
            method, target = (
                request.method.decode("ascii", "replace"),
                request.target.decode("ascii", "replace"),
            )
            response = await self.endpoint.respond(method, target)
            writer.write(_encode(conn, response, head_only=method == "HEAD"))
            await writer.drain()
        except h11.RemoteProtocolError as exc:
            with contextlib.suppress(h11.LocalProtocolError):
                writer.write(_encode(conn, _text(exc.error_status_hint, "bad request\n"), head_only=False))
        except (TimeoutError, ConnectionError):
            pass  # a client that went quiet or away: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def _read_request(conn: h11.Connection, reader: asyncio.StreamReader) -> h11.Request | None:
    """The request line and headers (a body, if any, is not read: no route takes one)."""
    async with asyncio.timeout(READ_TIMEOUT_S):
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(MAX_REQUEST_BYTES)
                conn.receive_data(data)
                if not data and conn.their_state is h11.IDLE:
                    return None
                continue
            if isinstance(event, h11.Request):
                return event
            return None


def _encode(conn: h11.Connection, response: Response, *, head_only: bool) -> bytes:
    headers = [
        ("content-type", response.content_type),
        ("content-length", str(len(response.body))),
        ("cache-control", "no-store"),
        ("x-content-type-options", "nosniff"),
        ("connection", "close"),
    ]
    out = conn.send(h11.Response(status_code=response.status, headers=headers)) or b""
    if not head_only:
        out += conn.send(h11.Data(data=response.body)) or b""
    return out + (conn.send(h11.EndOfMessage()) or b"")

"""The daemon's HTTP server: an ASGI app served by uvicorn on the daemon's own event loop.

The app is the web app (pages, API, /livez /readyz /metrics /atom/; see
monitor/web/); this module only serves it.  Running on the daemon's loop
means ``/livez`` answering proves the loop is turning.  The daemon keeps its
own signal handlers (uvicorn's are not installed), binds the socket itself
so a taken port is a clear ConfigError, and bounds what a client may hold:
a connection must send its request head within ``HEAD_TIMEOUT_S`` (uvicorn
has no such deadline of its own: a client dripping a header a byte at a
time would keep its slot), idle keep-alive connections close after a few
seconds, at most ``MAX_CONNECTIONS`` are served at once (more get a 503),
and a request head is at most ``MAX_HEAD_BYTES``.

Listening beyond loopback without a token is refused: the app shows
articles and retries alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from monitor.errors import ConfigError

__all__ = ["AppServer", "Check", "check_exposure", "is_loopback"]

log = logging.getLogger(__name__)
HEAD_TIMEOUT_S = 10.0
KEEP_ALIVE_S = 5.0
MAX_CONNECTIONS = 100
MAX_HEAD_BYTES = 16_384
STOP_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Check:
    """One readiness condition: its name, whether it holds, and what was seen."""

    name: str
    ok: bool
    detail: str = ""


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` keeps the server to this machine."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, token: str | None) -> None:
    """Refuse to serve beyond loopback without a token: the app shows articles and operates alerts."""
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"server.host is {host}, beyond this machine, and server.token is not set: the web app "
            "shows articles and retries alerts, so it refuses to listen there without a token; set "
            "server.token (or server.token_file; `openssl rand -hex 32` makes one) or listen on 127.0.0.1"
        )


class HeadDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection that has not sent a request head in time."""

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the head is in: the app's own limits take over
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection gets the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(HEAD_TIMEOUT_S, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


class _Server(uvicorn.Server):
    """uvicorn's server without its signal handlers: the daemon owns SIGTERM, SIGINT and SIGHUP."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class AppServer:
    """Serves an ASGI app on ``host:port`` from the running event loop until :meth:`close`."""

    def __init__(self, app: Any, host: str, port: int, *, token: str | None = None) -> None:
        self.app = app
        self.host, self.port = host, port
        self.token = token
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> tuple[str, int]:
        """Bind and start serving; raises ConfigError for a port taken or an exposure refused."""
        check_exposure(self.host, self.token)
        sock = self._bind()
        config = uvicorn.Config(
            self.app,
            http=HeadDeadlineProtocol,
            lifespan="on",
            log_config=None,
            log_level="warning",  # its start and stop lines repeat ours
            access_log=False,
            server_header=False,
            timeout_keep_alive=int(KEEP_ALIVE_S),
            timeout_graceful_shutdown=int(STOP_TIMEOUT_S),
            limit_concurrency=MAX_CONNECTIONS,
            h11_max_incomplete_event_size=MAX_HEAD_BYTES,
            proxy_headers=True,
            forwarded_allow_ips="127.0.0.1,::1",
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # its error, if it failed to start
                raise ConfigError(f"server: could not start on {self.host}:{self.port}")
            await asyncio.sleep(0.01)
        self.port = sock.getsockname()[1]
        return sock.getsockname()[0], self.port

    def _bind(self) -> socket.socket:
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except socket.gaierror as exc:
            raise ConfigError(f"server: cannot listen on {self.host}:{self.port}: {exc.strerror}") from None
        family, kind, proto, _name, address = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(128)
        except OSError as exc:
            sock.close()
            raise ConfigError(f"server: cannot listen on {self.host}:{self.port}: {exc.strerror}") from None
        sock.setblocking(False)
        return sock

    async def close(self) -> None:
        """Stop accepting, let answers in flight finish (briefly), then close."""
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=STOP_TIMEOUT_S * 2)
        except TimeoutError:
            self._server.force_exit = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._server = self._task = None

"""A real SMTP server (aiosmtpd) on 127.0.0.1 for the email channel's tests.

It runs in the test's own event loop, on an ephemeral port, and is used as an
async context manager::

    async with SmtpServer(starttls=ca.server_context()) as smtp:
        ... send to 127.0.0.1:smtp.port ...
        assert smtp.messages[0]["Subject"] == ...

It speaks plain SMTP, STARTTLS (``starttls=``) or implicit TLS (``implicit=``),
can demand authentication (``users=``), and answers scripted refusals
(``script("DATA", "451 4.3.0 try later")``, ``refuse["x@example.org"] = "550 …"``);
``auth_failure`` is the reply to a wrong password, ``{password}`` standing for
the one tried (a careless server that echoes it).
Messages are parsed with the standard library's default policy, as a mail
client would.  ``TestCA`` makes certificates with trustme; ``closed_port``
gives a port nobody listens on (a server that is down).
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import socket
import ssl
import warnings
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import trustme
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

__all__ = ["HOST", "Received", "SmtpServer", "TestCA", "closed_port"]

HOST = "127.0.0.1"
SERVER_NAME = "mail.test"


@dataclass
class TestCA:
    """A private CA and a server certificate for ``names``, written where a channel can read them."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    directory: Path
    names: tuple[str, ...] = (HOST,)
    ca: trustme.CA = field(default_factory=trustme.CA)

    @cached_property
    def ca_file(self) -> Path:
        path = self.directory / f"test-ca-{id(self)}.pem"
        self.ca.cert_pem.write_to_path(str(path))
        return path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(*self.names).configure_cert(context)
        return context


@dataclass(frozen=True)
class Received:
    """One accepted message: the envelope as the server saw it, and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage
    encrypted: bool
    login: str | None


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if scripted := self._server.next_reply("MAIL"):
            return scripted
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if scripted := self._server.next_reply("RCPT") or self._server.refuse.get(address):
            return scripted
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if scripted := self._server.next_reply("DATA"):
            return scripted
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        self._server.received.append(
            Received(
                mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos),
                raw=raw,
                message=message,
                encrypted=session.ssl is not None or self._server.implicit is not None,
                login=login,
            )
        )
        return "250 2.0.0 queued"


class SmtpServer:
    """aiosmtpd on ``127.0.0.1:<port>`` in the running loop; closed (with its connections) on exit."""

    def __init__(
        self,
        *,
        starttls: ssl.SSLContext | None = None,
        implicit: ssl.SSLContext | None = None,
        users: dict[str, str] | None = None,
        auth_failure: str = "535 5.7.8 Authentication credentials invalid",
    ) -> None:
        self.starttls = starttls
        self.implicit = implicit
        self.users = users
        self.auth_failure = auth_failure
        self.received: list[Received] = []
        self.refuse: dict[str, str] = {}
        self.logins: list[tuple[str, bytes]] = []
        self._replies: defaultdict[str, deque[str]] = defaultdict(deque)
        self._server: asyncio.Server | None = None
        self._protocols: list[SMTP] = []
        self.port = 0

    @property
    def messages(self) -> list[EmailMessage]:
        return [r.message for r in self.received]

    def script(self, command: str, *replies: str) -> None:
        """The next answers to ``command`` (MAIL, RCPT or DATA), one per use, before normal service."""
        self._replies[command].extend(replies)

    def next_reply(self, command: str) -> str | None:
        queue = self._replies[command]
        return queue.popleft() if queue else None

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login = data.login.decode()
        self.logins.append((login, data.password))
        ok = self.users is not None and self.users.get(login, "").encode() == data.password
        if ok:
            return AuthResult(success=True, auth_data=data)
        reply = self.auth_failure.format(login=login, password=data.password.decode(errors="replace"))
        return AuthResult(success=False, handled=False, message=reply)

    def _protocol(self) -> SMTP:
        with warnings.catch_warnings():
            # aiosmtpd only knows STARTTLS: under implicit TLS it must be told
            # not to insist on a TLS it cannot see, and warns that it was told.
            warnings.simplefilter("ignore", UserWarning)
            protocol = SMTP(
                _Handler(self),
                hostname=SERVER_NAME,
                tls_context=self.starttls,
                require_starttls=self.starttls is not None,
                authenticator=self._authenticate if self.users is not None else None,
                auth_required=self.users is not None,
                auth_require_tls=self.implicit is None,
                loop=asyncio.get_running_loop(),
            )
        self._protocols.append(protocol)
        return protocol

    async def __aenter__(self) -> Self:
        self._server = await asyncio.get_running_loop().create_server(
            self._protocol, HOST, 0, ssl=self.implicit
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        for protocol in self._protocols:
            if protocol.transport is not None:
                protocol.transport.close()
        await self._server.wait_closed()
        tasks = [p._handler_coroutine for p in self._protocols if p._handler_coroutine is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections: bound, never listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        yield sock.getsockname()[1]

"""The layers every request passes: headers, sizes, host, identity.

Plain ASGI middleware (no request objects are built here), outermost first:
:class:`SecurityHeaders` puts a strict Content-Security-Policy and friends on
every answer; :class:`RequestLimits` refuses long query strings and large
bodies before a handler reads them; :class:`HostCheck` answers only to this
machine's names in open mode; :class:`Identity` decides who is asking
(bearer token, session cookie, or anyone on loopback in open mode) and keeps
out whoever may not.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from http.cookies import SimpleCookie
from urllib.parse import quote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.web.security import CSRF_COOKIE, SESSION_COOKIE, Guard, host_allowed, new_csrf_nonce

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
]
MAX_HEADER_BYTES = 16_384
BODY_SILENCE_S = 10.0  # a body must keep coming: a client dripping it is cut off
PUBLIC = ("/livez", "/healthz", "/readyz", "/login", "/favicon.ico")
PUBLIC_PREFIXES = ("/static/",)
MACHINE = ("/metrics",)
MACHINE_PREFIXES = ("/atom/",)


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def cookies(scope: Scope) -> dict[str, str]:
    raw = header(scope, b"cookie")
    if not raw:
        return {}
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # http.cookies raises CookieError and others on junk: no cookies then
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


async def _answer(send: Send, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    """A short answer in JSON for API paths' callers and in plain text otherwise."""
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _problem(
    scope: Scope, send: Send, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    if scope["path"].startswith("/api/"):
        body = json.dumps({"error": message, "status": status}, ensure_ascii=False).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *(extra or []),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
        return
    await _answer(send, status, message + "\n", extra)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {key.lower() for key, _ in message.get("headers", ())}
                headers = list(message.get("headers", ()))
                headers += [(k, v) for k, v in HEADERS if k not in present]
                if b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class _TooLarge(Exception):
    pass


class _TooSlow(Exception):
    pass


class _Body:
    """The request's ``receive``, counting the body and timing its silences until it is complete."""

    def __init__(self, receive: Receive, limit: int) -> None:
        self._receive = receive
        self.limit = limit
        self.received = 0
        self.complete = False

    async def __call__(self) -> Message:
        if self.complete:  # what follows is a disconnect, which may come at any time
            return await self._receive()
        try:
            message = await asyncio.wait_for(self._receive(), BODY_SILENCE_S)
        except TimeoutError:
            raise _TooSlow from None
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                raise _TooLarge
            self.complete = not message.get("more_body", False)
        return message


class RequestLimits:
    """414 for a long address, 431 for large headers, 413 for a body over ``body`` bytes (declared or
    streamed), 408 for a body that stops coming."""

    def __init__(self, app: ASGIApp, *, body: Callable[[Scope], int], query: int) -> None:
        self.app = app
        self.body = body
        self.query = query

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            await _problem(scope, send, *refusal)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        body = _Body(receive, self.body(scope))
        try:
            await self.app(scope, body, watched)
        except _TooLarge:
            if not started:
                await _problem(
                    scope, send, 413, f"the request body is too large (at most {body.limit} bytes)"
                )
        except _TooSlow:
            if not started:
                await _problem(scope, send, 408, f"the request body stopped coming for {BODY_SILENCE_S:g}s")

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        if len(scope.get("query_string", b"")) > self.query or len(scope.get("raw_path", b"")) > self.query:
            return 414, f"the address is too long (at most {self.query} bytes)"
        if sum(len(k) + len(v) for k, v in scope.get("headers", ())) > MAX_HEADER_BYTES:
            return 431, f"the request headers are too large (at most {MAX_HEADER_BYTES} bytes)"
        limit = self.body(scope)
        declared = header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return 413, f"the request body is too large (at most {limit} bytes)"
        return None


class HostCheck:
    """Open mode: only requests for this machine's names (a rebound DNS name gets a 400)."""

    def __init__(self, app: ASGIApp, *, guard: Guard, bind_host: str) -> None:
        self.app = app
        self.guard = guard
        self.bind_host = bind_host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.guard.open:
            host = header(scope, b"host") or ""
            if not host_allowed(host, self.bind_host):
                await _problem(
                    scope,
                    send,
                    400,
                    "this server answers only to this machine's names (localhost, 127.0.0.1); "
                    "to reach it by another name, set server.token",
                )
                return
        await self.app(scope, receive, send)


class Identity:
    """Who is asking: ``scope["auth"]`` is bearer, session, basic or open; others are kept out.

    In open mode it also hands every browser a CSRF cookie (HttpOnly,
    SameSite=Strict) whose value the pages put in their forms.
    """

    def __init__(self, app: ASGIApp, *, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        jar = cookies(scope)
        authorization = header(scope, b"authorization")
        path = scope["path"]
        scope["csrf_nonce"] = jar.get(CSRF_COOKIE)
        if self.guard.open:
            scope["auth"] = "open"
        elif self.guard.bearer_ok(authorization):
            scope["auth"] = "bearer"
        elif (session := self.guard.session_id(jar.get(SESSION_COOKIE), time.time())) is not None:
            scope["auth"], scope["session"] = "session", session
        elif (path in MACHINE or path.startswith(MACHINE_PREFIXES)) and self.guard.basic_ok(authorization):
            scope["auth"] = "basic"
        elif path in PUBLIC or path.startswith(PUBLIC_PREFIXES):
            scope["auth"] = "none"
        else:
            await self._keep_out(scope, send, path)
            return
        if scope["csrf_nonce"] is None and not path.startswith(("/api/", "/static/", "/metrics", "/atom/")):
            scope["csrf_nonce"] = nonce = new_csrf_nonce()
            await self.app(scope, receive, self._setting_cookie(send, nonce, scope.get("scheme") == "https"))
            return
        await self.app(scope, receive, send)

    def _setting_cookie(self, send: Send, nonce: str, secure: bool) -> Send:
        cookie = f"{CSRF_COOKIE}={nonce}; Path=/; HttpOnly; SameSite=Strict" + ("; Secure" if secure else "")

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [*message.get("headers", ()), (b"set-cookie", cookie.encode())],
                }
            await send(message)

        return sending

    async def _keep_out(self, scope: Scope, send: Send, path: str) -> None:
        if path.startswith("/api/"):
            await _problem(
                scope,
                send,
                401,
                "this server wants its token: send Authorization: Bearer <server.token>",
                [(b"www-authenticate", b'Bearer realm="news-monitor"')],
            )
        elif path in MACHINE or path.startswith(MACHINE_PREFIXES):
            await _problem(
                scope,
                send,
                401,
                "this server wants its token: Authorization: Bearer <token>, "
                "or Basic with the token as password",
                [(b"www-authenticate", b'Basic realm="news-monitor"')],
            )
        elif scope["method"] in ("GET", "HEAD"):
            target = path + (
                "?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else ""
            )
            location = "/login?next=" + quote(target, safe="")
            await _answer(send, 303, "log in first\n", [(b"location", location.encode())])
        else:
            await _problem(scope, send, 401, "log in first: your session has ended")

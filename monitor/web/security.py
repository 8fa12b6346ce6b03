"""Who may use the web app, and proof that a change was asked for by our own page.

Two modes, decided by ``server.token``:

* **open** (no token): only loopback may listen, and only loopback host names
  are answered (``Host: 127.0.0.1:9464``, ``localhost``), so a web page that
  rebinds its own name to 127.0.0.1 gets nothing.
* **token**: the API wants ``Authorization: Bearer <token>``; the pages a
  session cookie set by the login form (signed, HttpOnly, SameSite=Strict);
  ``/metrics`` and ``/atom/`` also take the token as an HTTP Basic password,
  which Prometheus and feed readers can send.

Every request that changes something passes a CSRF check as well: a bearer
token (no browser sends one on its own), or a CSRF token that a page of ours
rendered — bound to the session in token mode, the double-submitted
``nm_csrf`` cookie in open mode — or, for a JSON API call in open mode, a
``Content-Type: application/json`` request that is not cross-site (a browser
cannot send one cross-origin without a preflight we never grant).  Pure: no
I/O, ``now`` passed in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from monitor.service.ops import is_loopback

SESSION_COOKIE = "nm_session"
CSRF_COOKIE = "nm_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"
SESSION_SECONDS = 12 * 3600
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")


def host_allowed(host_header: str, bind_host: str) -> bool:
    """In open mode, only the names of this machine (and the bound address) may be asked for."""
    name = host_header.strip().lower()
    if name.startswith("["):  # [::1]:9464
        name = name[: name.find("]") + 1] if "]" in name else name
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    return name in LOOPBACK_NAMES or name == bind_host.strip().lower() or is_loopback(name)


@dataclass(frozen=True, slots=True)
class Guard:
    """The token, and the keys derived from it (a new token ends every session)."""

    token: str | None

    @property
    def open(self) -> bool:
        return self.token is None

    def _key(self, purpose: str) -> bytes:
        assert self.token is not None
        return hmac.new(self.token.encode(), f"news-monitor {purpose}".encode(), hashlib.sha256).digest()

    def bearer_ok(self, authorization: str | None) -> bool:
        """``Authorization: Bearer <token>``, compared in constant time."""
        if self.token is None or not authorization:
            return False
        scheme, _, value = authorization.partition(" ")
        return scheme.lower() == "bearer" and _same(value.strip(), self.token)

    def basic_ok(self, authorization: str | None) -> bool:
        """HTTP Basic with the token as password (any user name): for scrapers and feed readers."""
        if self.token is None or not authorization:
            return False
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return False
        return _same(decoded.partition(":")[2], self.token)

    def token_ok(self, offered: str) -> bool:
        return self.token is not None and _same(offered.strip(), self.token)

    # -- sessions --------------------------------------------------------------------------
    def new_session(self, now: float) -> str:
        """A cookie value: expiry, a random id, and their signature."""
        value = f"{int(now) + SESSION_SECONDS}.{secrets.token_urlsafe(18)}"
        return f"{value}.{self._sign('session', value)}"

    def session_id(self, cookie: str | None, now: float) -> str | None:
        """The session's random id when ``cookie`` is one of ours and has not expired."""
        if self.token is None or not cookie or cookie.count(".") != 2:
            return None
        expires, ident, signature = cookie.split(".")
        if not _same(signature, self._sign("session", f"{expires}.{ident}")):
            return None
        if not expires.isdigit() or int(expires) < now:
            return None
        return ident

    def csrf_for_session(self, ident: str) -> str:
        return self._sign("csrf", ident)

    def _sign(self, purpose: str, value: str) -> str:
        digest = hmac.new(self._key(purpose), value.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def new_csrf_nonce() -> str:
    return secrets.token_urlsafe(24)


def same_origin(origin: str | None, host_header: str) -> bool:
    """Whether a request's ``Origin`` (if any) is this server as the browser reached it."""
    if not origin:
        return True
    if origin == "null":
        return False
    return urlsplit(origin).netloc.lower() == host_header.strip().lower()


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())

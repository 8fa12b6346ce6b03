"""The check every change passes (``@changes``), and the token our pages put in their forms.

A change is accepted when it carries the bearer token (no browser adds one by
itself), or the CSRF token one of our pages rendered for this browser (bound
to the session in token mode; the ``nm_csrf`` cookie's value in open mode),
or — open mode, API only — when it is a JSON request that is not cross-site,
which a browser cannot send from another origin without a CORS preflight
this server never grants.  Anything else is a 403 that says what to do.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from monitor.web.queries import BadRequest
from monitor.web.security import CSRF_FIELD, CSRF_HEADER, Guard, same_origin

Endpoint = Callable[[Request], Awaitable[Response]]
REFUSED = (
    "refused: this change did not come from a page of this server (its CSRF token is missing or "
    "wrong); reload the page and try again, or call the API with Authorization: Bearer <token>"
)


def csrf_token(request: Request) -> str:
    """The token this browser's forms must send back."""
    guard: Guard = request.app.state.ctx.guard
    session = request.scope.get("session")
    if isinstance(session, str):
        return guard.csrf_for_session(session)
    nonce = request.scope.get("csrf_nonce")
    return nonce if isinstance(nonce, str) else ""


def _json(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower() == "application/json"


async def check_change(request: Request) -> None:
    auth = request.scope.get("auth")
    if auth == "bearer":
        return
    if auth not in ("open", "session"):
        raise BadRequest("changes need the token (Authorization: Bearer) or a logged-in session", 401)
    if request.url.path.startswith("/api/") and not _json(request):
        raise BadRequest("send the body as JSON (Content-Type: application/json)", 415)
    offered = request.headers.get(CSRF_HEADER)
    if offered is None and not _json(request) and not request.url.path.startswith("/api/"):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        offered = value if isinstance(value, str) else None
    expected = csrf_token(request)
    if offered and expected and hmac.compare_digest(offered.encode(), expected.encode()):
        return
    if (
        auth == "open"
        and offered is None
        and _json(request)
        and request.url.path.startswith("/api/")
        and same_origin(request.headers.get("origin"), request.headers.get("host", ""))
        and request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")
    ):
        return
    raise BadRequest(REFUSED, 403)


def changes(endpoint: Endpoint) -> Endpoint:
    """Mark an endpoint as one that changes something: it runs only after :func:`check_change`."""

    @functools.wraps(endpoint)
    async def checked(request: Request) -> Response:
        await check_change(request)
        return await endpoint(request)

    checked.__dict__["changes"] = True
    return checked

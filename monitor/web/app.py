"""The ASGI app: pages, the JSON API and the operations endpoints, behind the security layers.

``create_app(ctx)`` builds it from a :class:`~monitor.web.context.WebContext`,
so the daemon (sharing its store, rules and pipeline), ``monitor web`` (a
database alone) and the tests assemble the same app.  Errors a client can
fix answer 4xx with a message naming the culprit; a database that cannot be
reached answers 503; nothing else should escape, and if it does the answer
is a bare 500 (the traceback goes to the log, never to the page).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from monitor.errors import StoreError
from monitor.web.api import Api
from monitor.web.context import WebContext
from monitor.web.middleware import HostCheck, Identity, RequestLimits, SecurityHeaders
from monitor.web.ops import ops_routes
from monitor.web.pages import STATIC, PageViews
from monitor.web.queries import BadRequest

log = logging.getLogger(__name__)
LARGE_BODIES = ("/api/v1/articles", "/api/v1/rules/test", "/playground")


def create_app(ctx: WebContext) -> Starlette:
    views = PageViews(ctx)
    pages = views.pages
    limits = ctx.limits

    def body_limit(scope: Scope) -> int:
        return limits.large_body if scope["path"] in LARGE_BODIES else limits.body

    async def problem(request: Request, status: int, message: str) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message, "status": status}, status_code=status)
        if request.url.path in ("/livez", "/healthz", "/readyz", "/metrics") or request.url.path.startswith(
            ("/atom/", "/static/")
        ):
            return PlainTextResponse(message + "\n", status_code=status)
        return pages.error(request, status, message)

    async def bad_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BadRequest)
        response = await problem(request, exc.status, exc.message)
        if exc.status == 405:
            response.headers["allow"] = "GET"
        return response

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        messages = {404: "not found", 405: "method not allowed"}
        response = await problem(request, exc.status_code, messages.get(exc.status_code, exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    async def store_error(request: Request, exc: Exception) -> Response:
        log.warning("web: %s %s: %s", request.method, request.url.path, exc)
        return await problem(request, 503, f"the database cannot be used now: {exc}")

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await ctx.close()

    app = Starlette(
        lifespan=lifespan,
        routes=[
            *ops_routes(ctx),
            *Api(ctx).routes(),
            *views.routes(),
            Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(RequestLimits, body=body_limit, query=limits.query_string),
            Middleware(HostCheck, guard=ctx.guard, bind_host=ctx.bind_host),
            Middleware(Identity, guard=ctx.guard),
        ],
        exception_handlers={BadRequest: bad_request, HTTPException: http_error, StoreError: store_error},
    )
    app.state.ctx = ctx
    return app

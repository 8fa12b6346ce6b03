"""The operations endpoints: /livez (/healthz), /readyz, /metrics and the Atom feeds, read-only.

``/livez`` answering means the event loop is turning (the app runs on the
daemon's own loop); ``/readyz`` lists every readiness check and is 503 while
one fails; ``/metrics`` is prometheus_client's exposition of the daemon's own
registry.  ``/atom/<channel>/<rule>.xml`` serves the files the ``atom``
channels write: a name is accepted only if it is a plain file name of the
folder the channel writes to (no separators, no leading dot, resolved inside
the folder), so no request can read anything else.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from prometheus_client import CollectorRegistry, make_asgi_app
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from monitor.web.context import WebContext

ATOM_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
TEXT = "text/plain; charset=utf-8"


def ops_routes(ctx: WebContext) -> list[BaseRoute]:
    async def livez(_request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(_request: Request) -> Response:
        checks = await ctx.readiness()
        lines = [
            f"{c.name} {'ok' if c.ok else 'failed'}{': ' + c.detail if c.detail else ''}" for c in checks
        ]
        failed = [c.name for c in checks if not c.ok]
        head = f"not ready: {', '.join(failed)}" if failed else "ready"
        return PlainTextResponse("\n".join([head, *lines]) + "\n", status_code=503 if failed else 200)

    async def atom(request: Request) -> Response:
        channel, name = request.path_params["channel"], request.path_params["name"]
        folder = ctx.atom_folders().get(channel)
        if folder is None or not ATOM_NAME.match(name) or not name.endswith(".xml"):
            return PlainTextResponse("not found\n", status_code=404)
        try:
            body = await asyncio.to_thread(read_inside, folder, name)
        except FileNotFoundError:
            return PlainTextResponse("no such feed yet: it appears with the rule's first alert\n", 404)
        except OSError:
            return PlainTextResponse("not found\n", status_code=404)
        return Response(body, media_type="application/atom+xml; charset=utf-8")

    routes: list[BaseRoute] = [
        Route("/livez", livez, methods=["GET"]),
        Route("/healthz", livez, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/atom/{channel}/{name}", atom, methods=["GET"]),
    ]
    if ctx.registry is not None:
        routes.append(Route("/metrics", MetricsApp(ctx.registry), methods=["GET"]))
    return routes


class MetricsApp:
    """prometheus_client's ASGI exposition (text format, gzip when asked), behind a GET route."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._app = make_asgi_app(registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


def read_inside(folder: Path, name: str) -> bytes:
    """The file ``name`` of ``folder``, refusing one that resolves elsewhere (a symlink out)."""
    root = folder.resolve()
    path = (root / name).resolve()
    if path.parent != root or not path.is_file():
        raise FileNotFoundError(name)
    return path.read_bytes()

"""The JSON API under /api/v1/: what the pages show, for scripts; described by /api/v1/openapi.json.

Every answer is a model of :mod:`monitor.web.schemas`; every error a
``Problem`` (``{"error": …, "status": …}``) naming what to fix.  Reads take
query parameters; whatever takes a body wants ``Content-Type:
application/json`` and passes the CSRF check (:mod:`monitor.web.csrf`).
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from monitor.web import actions, queries
from monitor.web import schemas as s
from monitor.web.context import WebContext
from monitor.web.csrf import changes
from monitor.web.openapi import openapi_document
from monitor.web.queries import BadRequest

M = TypeVar("M", bound=BaseModel)
MAX_ID = s.MAX_ID


def json_of(model: BaseModel, status: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")


async def read_body(request: Request) -> Any:
    """The request's JSON body; 415 for another type, 400 for JSON that does not parse."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/json":
        raise BadRequest("send the body as JSON (Content-Type: application/json)", 415)
    raw = await request.body()
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None


def validated(model: type[M], data: Any) -> M:
    """``data`` as ``model``; 422 naming each field that is wrong."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise BadRequest(problems, 422) from None


class Api:
    """The API's handlers over one context."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/v1/openapi.json", self.openapi, methods=["GET"]),
            Route("/api/v1/hits", self.hits, methods=["GET"]),
            Route("/api/v1/articles", self.articles, methods=["GET"]),
            Route("/api/v1/articles", changes(self.ingest), methods=["POST"]),
            Route("/api/v1/articles/{id:int}", self.article, methods=["GET"]),
            Route("/api/v1/rules", self.rules, methods=["GET"]),
            Route("/api/v1/rules/check", self.check, methods=["GET"]),
            Route("/api/v1/rules/test", changes(self.test), methods=["POST"]),
            Route("/api/v1/backtest", changes(self.backtest), methods=["POST"]),
            Route("/api/v1/feeds", self.feeds, methods=["GET"]),
            Route("/api/v1/feeds/enable", changes(self.enable), methods=["POST"]),
            Route("/api/v1/deliveries", self.deliveries, methods=["GET"]),
            Route("/api/v1/deliveries/retry", changes(self.retry), methods=["POST"]),
            Route("/api/v1/channels/{name}/test", changes(self.test_alert), methods=["POST"]),
        ]

    async def openapi(self, _request: Request) -> Response:
        return JSONResponse(openapi_document(ingest=self.ctx.ingest is not None))

    async def hits(self, request: Request) -> Response:
        wanted = queries.hit_query(request.query_params, self.ctx.clock())
        return json_of(await queries.hits(self.ctx, wanted))

    async def articles(self, request: Request) -> Response:
        wanted = queries.article_query(request.query_params, self.ctx.clock())
        return json_of(await queries.articles(self.ctx, wanted))

    async def article(self, request: Request) -> Response:
        article_id = request.path_params["id"]
        if article_id > MAX_ID:
            raise BadRequest(f"no article {article_id}", 404)
        return json_of(await queries.article(self.ctx, article_id))

    async def ingest(self, request: Request) -> Response:
        return json_of(await actions.ingest(self.ctx, await read_body(request)), 202)

    async def rules(self, request: Request) -> Response:
        return json_of(await queries.rules(self.ctx, request.query_params))

    async def check(self, request: Request) -> Response:
        options = validated(s.RuleOptions, options_of(request.query_params))
        return json_of((await queries.check_rule(self.ctx, options)).out)

    async def test(self, request: Request) -> Response:
        wanted = validated(s.RuleTestIn, await read_body(request))
        out, _article, _decision = await queries.test_rule(self.ctx, wanted)
        return json_of(out)

    async def backtest(self, request: Request) -> Response:
        wanted = validated(s.BacktestIn, await read_body(request))
        return json_of(await queries.backtest(self.ctx, wanted))

    async def feeds(self, _request: Request) -> Response:
        return json_of(await queries.sources(self.ctx))

    async def enable(self, request: Request) -> Response:
        wanted = validated(s.FeedEnableIn, await read_body(request))
        return json_of(await actions.enable_feed(self.ctx, wanted.url))

    async def deliveries(self, request: Request) -> Response:
        return json_of(await queries.outbox(self.ctx, request.query_params))

    async def retry(self, request: Request) -> Response:
        wanted = validated(s.RetryIn, await read_body(request))
        return json_of(await actions.retry(self.ctx, wanted))

    async def test_alert(self, request: Request) -> Response:
        return json_of(await actions.send_test(self.ctx, request.path_params["name"]))


def options_of(params: Any) -> dict[str, Any]:
    """Rule options from a query string (``languages`` repeated or comma-separated)."""
    languages = [
        code.strip() for value in params.getlist("languages") for code in value.split(",") if code.strip()
    ]
    out: dict[str, Any] = {"query": params.get("query", ""), "languages": languages}
    for flag in ("lemmas", "in_title"):
        if flag in params:
            out[flag] = params.get(flag, "").lower() in ("1", "true", "on", "yes")
    if params.get("min_mentions"):
        out["min_mentions"] = params.get("min_mentions")
    return out

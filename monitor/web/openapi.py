"""The API's OpenAPI 3.1 document: operations written here, payload schemas generated from the models.

Starlette rather than FastAPI: the app is a dozen routes over models we
already have, and this table is all FastAPI's generation would add.  The
schemas come from :mod:`monitor.web.schemas` (the classes the handlers
answer with), so schemathesis, run against this document, checks the
answers themselves.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from monitor import __version__
from monitor.web import schemas as s

REF = "#/components/schemas/{model}"
ERRORS = {
    "400": "a parameter is wrong (the error names it)",
    "401": "the token is missing or wrong (when server.token is set)",
    "403": "a change without the token, a session or a CSRF token",
    "404": "no such thing",
    "413": "the body is too large",
    "414": "the query string is too long",
    "415": "the body is not JSON",
    "405": "this server only reads (monitor web): it does not ingest",
    "422": "the body is JSON but not what the operation takes (the error names the field)",
    "503": "the database is unavailable",
}
HIT_FILTERS = {
    "rule": "only hits of this rule id",
    "source": "only articles of this source",
    "tag": "only hits whose rule or source has this tag",
    "language": "only articles in this language (it, en, …)",
    "since": "newer than: a duration (24h, 7d) or a date (2024-05-01)",
    "until": "older than: a duration or a date",
    "q": 'full-text search, as monitor hits --search: words, "a phrase", OR, -word, prefix*',
    "cursor": "the 'next' of the previous page",
}


def _param(
    name: str, description: str, schema: dict[str, Any] | None = None, where: str = "query"
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": schema or {"type": "string", "maxLength": 500},
    }


def _ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"$ref": REF.format(model=model.__name__)}


def _operation(
    summary: str,
    answer: type[BaseModel],
    *,
    status: str = "200",
    params: list[dict[str, Any]] | None = None,
    body: type[BaseModel] | None = None,
    errors: tuple[str, ...] = ("400", "401", "414", "503"),
) -> dict[str, Any]:
    responses: dict[str, Any] = {
        status: {"description": summary, "content": {"application/json": {"schema": _ref(answer)}}}
    }
    for code in errors:
        responses[code] = {
            "description": ERRORS[code],
            "content": {"application/json": {"schema": _ref(s.Problem)}},
        }
    operation: dict[str, Any] = {"summary": summary, "parameters": params or [], "responses": responses}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
        operation["security"] = [{"bearer": []}, {}]
    return operation


LIMIT = {"type": "integer", "minimum": 1, "maximum": 200}
CHANGE_ERRORS = ("400", "401", "403", "404", "413", "415", "422", "503")


@functools.cache
def openapi_document(*, ingest: bool = True) -> dict[str, Any]:
    _, schemas = models_json_schema([(model, "serialization") for model in s.MODELS], ref_template=REF)
    hit_params = [_param(n, d) for n, d in HIT_FILTERS.items()] + [
        _param(
            "after",
            "only hits newer than this hit id (what a page polls for)",
            {"type": "integer", "minimum": 0},
        ),
        _param("limit", "about this many hits a page (default 50; an article's hits stay together)", LIMIT),
    ]
    article_params = [_param(n, HIT_FILTERS[n]) for n in ("since", "q", "source", "language", "cursor")] + [
        _param("limit", "articles a page (default 50)", LIMIT)
    ]
    rule_params = [
        _param("query", "the query, as in a rule file", {"type": "string", "maxLength": 2000}),
        _param("languages", "language codes, comma-separated"),
        _param("lemmas", "match inflected forms", {"type": "boolean"}),
        _param("in_title", "fire only on a mention in the title", {"type": "boolean"}),
        _param("min_mentions", "mentions needed", {"type": "integer", "minimum": 1, "maximum": 1000}),
    ]
    outbox_params = [
        _param(
            "status", "pending, held, dead, sent or summarized", {"type": "string", "enum": list(_statuses())}
        ),
        _param("channel", "only this channel"),
        _param(
            "before",
            "the 'next' of the previous page",
            {"type": "integer", "minimum": 1, "maximum": s.MAX_ID},
        ),
        _param("limit", "deliveries a page (default 50)", LIMIT),
    ]
    articles_path: dict[str, Any] = {
        "get": _operation("Stored articles, newest first", s.ArticlesPage, params=article_params)
    }
    if ingest:
        articles_path["post"] = _operation(
            "Ingest an article through the pipeline (as a dropped JSON file); idempotent by id or URL",
            s.IngestOut,
            status="202",
            body=s.IngestIn,
            errors=(*CHANGE_ERRORS, "405"),
        )
    paths: dict[str, Any] = {
        "/api/v1/hits": {"get": _operation("Hits, newest first, filtered", s.HitsPage, params=hit_params)},
        "/api/v1/articles": articles_path,
        "/api/v1/articles/{id}": {
            "get": _operation(
                "One stored article: its text and every hit on it",
                s.ArticleDetailOut,
                params=[
                    _param("id", "article id", {"type": "integer", "minimum": 0, "maximum": s.MAX_ID}, "path")
                ],
                errors=("401", "404", "503"),
            )
        },
        "/api/v1/rules": {
            "get": _operation(
                "The loaded rules with hit counts, a page at a time, and the rule files' problems",
                s.RulesOut,
                params=[
                    _param("q", "only rules whose id, name or query holds this text"),
                    _param(
                        "limit",
                        "rules a page (default 200)",
                        {"type": "integer", "minimum": 1, "maximum": 5000},
                    ),
                    _param(
                        "offset",
                        "the next_offset of the previous page",
                        {"type": "integer", "minimum": 0, "maximum": 10_000_000},
                    ),
                ],
            )
        },
        "/api/v1/rules/check": {
            "get": _operation(
                "Parse and lint a query (nothing is saved)",
                s.RuleCheckOut,
                params=rule_params,
                errors=("400", "401", "414", "422"),
            )
        },
        "/api/v1/rules/test": {
            "post": _operation(
                "Try a query on a text: matches and the explanation (as rules test --explain)",
                s.RuleTestOut,
                body=s.RuleTestIn,
                errors=CHANGE_ERRORS,
            )
        },
        "/api/v1/backtest": {
            "post": _operation(
                "Run a query over the stored articles of the last N days, within a time budget",
                s.BacktestOut,
                body=s.BacktestIn,
                errors=CHANGE_ERRORS,
            )
        },
        "/api/v1/feeds": {
            "get": _operation("Feeds with their state, folders with the files read", s.SourcesOut)
        },
        "/api/v1/feeds/enable": {
            "post": _operation(
                "Poll again a disabled or backing-off feed",
                s.FeedEnableOut,
                body=s.FeedEnableIn,
                errors=CHANGE_ERRORS,
            )
        },
        "/api/v1/deliveries": {
            "get": _operation("The outbox per channel, newest first", s.OutboxOut, params=outbox_params)
        },
        "/api/v1/deliveries/retry": {
            "post": _operation(
                "Queue dead deliveries again (never sent ones)",
                s.RetryOut,
                body=s.RetryIn,
                errors=CHANGE_ERRORS,
            )
        },
        "/api/v1/channels/{name}/test": {
            "post": {
                **_operation(
                    "Send a sample alert through a channel (as monitor notify test)",
                    s.TestAlertOut,
                    params=[_param("name", "channel name", {"type": "string", "maxLength": 200}, "path")],
                    errors=("401", "403", "404", "415", "422"),
                ),
                "security": [{"bearer": []}, {}],
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "news-monitor",
            "version": __version__,
            "description": "Hits, articles, rules, sources and the outbox of news-monitor (docs/web.md).",
        },
        "paths": paths,
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "server.token"}
            },
        },
        "security": [{"bearer": []}, {}],
    }


def _statuses() -> tuple[str, ...]:
    from monitor.web.queries import STATUSES

    return STATUSES

"""The HTML pages: Hits, Article, Rules, Playground, Sources, Outbox, and the login form.

Each page renders the same wire model its JSON twin answers with (see
:mod:`monitor.web.queries`), through Jinja2 templates that escape everything
(autoescape on; article text goes through :mod:`monitor.web.highlight`).
Reading works without JavaScript; ``static/app.js`` adds new hits as they
come, linting as you type and "Copy as YAML".  Forms that change something
carry the CSRF token and answer with a redirect (POST, then GET).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from monitor.web import actions, queries
from monitor.web import schemas as s
from monitor.web.api import validated
from monitor.web.context import WebContext
from monitor.web.csrf import Endpoint, changes, csrf_token
from monitor.web.highlight import marked, marked_stars, marked_words
from monitor.web.queries import BadRequest
from monitor.web.security import SESSION_COOKIE, SESSION_SECONDS

NAV = (
    ("hits", "/", "Hits"),
    ("rules", "/rules", "Rules"),
    ("playground", "/playground", "Playground"),
    ("sources", "/sources", "Sources"),
    ("outbox", "/outbox", "Outbox"),
)
SINCE_CHOICES = (
    ("", "any time"),
    ("1h", "last hour"),
    ("24h", "last 24 hours"),
    ("7d", "last 7 days"),
    ("30d", "last 30 days"),
)
MAX_ID = s.MAX_ID


def ago(when: datetime | None, now: datetime | None = None) -> str:
    """A time as a short distance from now: "5m ago", "in 2h"."""
    if when is None:
        return "–"
    seconds = ((now or datetime.now(UTC)) - when).total_seconds()
    size = abs(seconds)
    text = (
        f"{size:.0f}s"
        if size < 120
        else f"{size / 60:.0f}m"
        if size < 7200
        else f"{size / 3600:.0f}h"
        if size < 172800
        else f"{size / 86400:.0f}d"
    )
    return f"{text} ago" if seconds >= 0 else f"in {text}"


def stamp(when: datetime | None) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if when else "–"


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("monitor.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(ago=ago, stamp=stamp, marked_words=marked_words, marked_stars=marked_stars)
    env.globals.update(nav=NAV, since_choices=SINCE_CHOICES, marked=marked)
    return env


class Pages:
    """Renders templates with what every page needs (the CSRF token, the navigation, the mode)."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.env = environment()
        self.env.filters["shown_path"] = self.shown_path

    def shown_path(self, path: str) -> str:
        """A path as the config file names it: relative to its folder when inside it."""
        config = self.ctx.settings().config_path
        if config is None:
            return path
        try:
            return str(Path(path).relative_to(config.resolve().parent))
        except ValueError:
            return path

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        template = self.env.get_template(name)
        html = template.render(
            request=request,
            csrf=csrf_token(request),
            logged_in=request.scope.get("auth") == "session",
            role=self.ctx.role,
            now=self.ctx.clock(),
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def error(self, request: Request, status: int, message: str) -> HTMLResponse:
        return self.render(request, "error.html", status=status, status_code=status, message=message, page="")


class PageViews:
    """The pages' handlers over one context."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.pages = Pages(ctx)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.hits, methods=["GET"]),
            Route("/articles/{id:int}", self.article, methods=["GET"]),
            Route("/rules", self.rules, methods=["GET"]),
            Route("/playground", self.playground, methods=["GET"]),
            Route("/playground", changes(self.playground_run), methods=["POST"]),
            Route("/sources", self.sources, methods=["GET"]),
            Route("/sources/enable", changes(self.enable), methods=["POST"]),
            Route("/outbox", self.outbox, methods=["GET"]),
            Route("/outbox/retry", changes(self.retry), methods=["POST"]),
            Route("/outbox/test", changes(self.test_alert), methods=["POST"]),
            Route("/login", self.login, methods=["GET"]),
            Route("/login", login_checked(self.login), methods=["POST"]),
            Route("/logout", changes(self.logout), methods=["POST"]),
        ]

    async def hits(self, request: Request) -> Response:
        params = request.query_params
        page = await queries.hits(self.ctx, queries.hit_query(params, self.ctx.clock()))
        filters = {k: v for k, v in params.items() if k in queries.HIT_FILTER_NAMES and v}
        if params.get("fragment") == "new":  # what static/app.js polls for: only the new items
            response = self.pages.render(request, "_hits.html", hits=page.items)
            response.headers["x-newest-id"] = str(page.newest_id)
            return response
        return self.pages.render(
            request,
            "hits.html",
            page="hits",
            hits=page.items,
            next_url=f"/?{urlencode({**filters, 'cursor': page.next})}" if page.next else None,
            json_url=f"/api/v1/hits?{urlencode(filters)}",
            filters=filters,
            facets=await queries.facets(self.ctx),
            newest_id=page.newest_id,
            first_page="cursor" not in filters,
        )

    async def article(self, request: Request) -> Response:
        article_id = request.path_params["id"]
        if article_id > MAX_ID:
            raise BadRequest(f"no article {article_id}", 404)
        out = await queries.article(self.ctx, article_id)
        decisions = await queries.explain_article(self.ctx, out)
        spans: dict[str, dict[tuple[int, int], list[str]]] = {"title": {}, "summary": {}, "body": {}}
        for hit in out.hits:
            for term in hit.terms:
                spans.setdefault(term.field, {}).setdefault((term.start, term.end), []).append(hit.rule)
        return self.pages.render(
            request,
            "article.html",
            page="hits",
            article=out,
            decisions=decisions,
            title_html=marked(out.title, spans["title"]),
            summary_html=marked(out.summary, spans["summary"]),
            body_html=marked(out.body, spans["body"]),
            json_url=f"/api/v1/articles/{out.id}",
        )

    async def rules(self, request: Request) -> Response:
        params = request.query_params
        out = await queries.rules(self.ctx, params)
        kept = {k: v for k, v in params.items() if k in ("q", "limit") and v}
        return self.pages.render(
            request,
            "rules.html",
            page="rules",
            rules=out,
            query=kept.get("q", ""),
            next_url=f"/rules?{urlencode({**kept, 'offset': out.next_offset})}" if out.next_offset else None,
            json_url=f"/api/v1/rules?{urlencode(kept)}",
            chart=chart,
        )

    async def playground(self, request: Request) -> Response:
        values = dict(request.query_params)
        return self.pages.render(request, "playground.html", page="playground", form=values, result=None)

    async def playground_run(self, request: Request) -> Response:
        form = await request.form()
        values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
        options = _options(values)
        action = values.get("action", "check")
        result: dict[str, Any] = {"action": action}
        if action == "backtest":
            wanted = validated(s.BacktestIn, {**options, "days": values.get("days") or 7})
            result["backtest"] = result["check"] = await queries.backtest(self.ctx, wanted)
        else:
            if action == "url":
                url = values.get("url", "").strip()
                if not url:
                    raise BadRequest("give the URL of an article to fetch")
                values["title"], values["text"] = await actions.fetch_page(self.ctx, url)
            result.update(await self._try_text(values, options))
        return self.pages.render(request, "playground.html", page="playground", form=values, result=result)

    async def _try_text(self, values: dict[str, str], options: dict[str, Any]) -> dict[str, Any]:
        text = {"title": values.get("title", ""), "text": values.get("text", "")}
        wanted = validated(s.RuleTestIn, {**options, **text, "language": values.get("language") or None})
        out, trial, decision = await queries.test_rule(self.ctx, wanted)
        result: dict[str, Any] = {"check": out}
        if trial is not None and decision is not None:
            found: dict[str, list[tuple[int, int]]] = {"title": [], "body": []}
            for field, start, end in decision.spans:
                found.setdefault(field, []).append((start, end))
            result["title_html"] = marked(trial.title, found["title"])
            result["body_html"] = marked(trial.body, found["body"])
        return result

    async def sources(self, request: Request) -> Response:
        out = await queries.sources(self.ctx)
        return self.pages.render(
            request,
            "sources.html",
            page="sources",
            sources=out,
            json_url="/api/v1/feeds",
            enabled=request.query_params.get("enabled"),
        )

    async def enable(self, request: Request) -> Response:
        url = str((await request.form()).get("url") or "")
        await actions.enable_feed(self.ctx, url)
        return RedirectResponse("/sources?" + urlencode({"enabled": url}), status_code=303)

    async def outbox(self, request: Request, tested: s.TestAlertOut | None = None) -> Response:
        params = request.query_params
        out = await queries.outbox(self.ctx, params)
        filters = {k: v for k, v in params.items() if k in ("status", "channel") and v}
        return self.pages.render(
            request,
            "outbox.html",
            page="outbox",
            outbox=out,
            filters=filters,
            statuses=queries.STATUSES,
            next_url=f"/outbox?{urlencode({**filters, 'before': out.next})}" if out.next else None,
            json_url=f"/api/v1/deliveries?{urlencode(filters)}",
            retried=params.get("retried"),
            tested=tested,
        )

    async def retry(self, request: Request) -> Response:
        form = await request.form()
        ids = [int(v) for v in form.getlist("id") if isinstance(v, str) and v.isdigit() and int(v) <= MAX_ID]
        done = await actions.retry(self.ctx, s.RetryIn(ids=ids[:1000], all_dead=form.get("all_dead") == "1"))
        return RedirectResponse(f"/outbox?retried={done.queued}", status_code=303)

    async def test_alert(self, request: Request) -> Response:
        channel = str((await request.form()).get("channel") or "")
        return await self.outbox(request, await actions.send_test(self.ctx, channel))

    async def login(self, request: Request) -> Response:
        target = _local(request.query_params.get("next", "/"))
        guard = self.ctx.guard
        if guard.open:
            return RedirectResponse(target, status_code=303)
        if request.method == "GET":
            return self.pages.render(request, "login.html", page="", next=target, failed=False)
        form = await request.form()
        target = _local(str(form.get("next") or "/"))
        if not guard.token_ok(str(form.get("token") or "")):
            return self.pages.render(request, "login.html", status=401, page="", next=target, failed=True)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            guard.new_session(time.time()),
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def logout(self, _request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
        return response


def login_checked(login: Endpoint) -> Endpoint:
    """The login form's POST: its CSRF check is the double-submitted cookie (there is no session yet)."""

    async def post(request: Request) -> Response:
        await _login_csrf(request, await request.form())
        return await login(request)

    post.__dict__["changes"] = True
    return post


async def _login_csrf(request: Request, form: FormData) -> None:
    nonce = request.scope.get("csrf_nonce")
    offered = form.get("csrf")
    if not (isinstance(nonce, str) and isinstance(offered, str) and nonce and offered == nonce):
        raise BadRequest("refused: the login form expired; reload the page and try again", 403)


def _local(target: str) -> str:
    """A redirect target on this server only (no //other.host, no scheme)."""
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/"


def _options(values: dict[str, str]) -> dict[str, Any]:
    languages = [
        code.strip() for code in values.get("languages", "").replace(" ", ",").split(",") if code.strip()
    ]
    return {
        "query": values.get("query", ""),
        "languages": languages,
        "lemmas": values.get("lemmas") == "on",
        "in_title": values.get("in_title") == "on",
        "min_mentions": values.get("min_mentions") or 1,
    }


def chart(daily: list[int], width: int = 120, height: int = 24) -> list[tuple[int, int, int, int, int]]:
    """Bars of an inline SVG for a rule's hits per day: (x, y, width, height, count)."""
    top = max(daily or [0]) or 1
    step = width / max(len(daily), 1)
    bars = []
    for i, count in enumerate(daily):
        size = round(height * count / top) if count else 0
        bars.append((round(i * step), height - size, max(1, round(step) - 1), size, count))
    return bars


STATIC = Path(__file__).parent / "static"

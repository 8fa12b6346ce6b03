"""A web app over a real SQLite file and a real pipeline, for the web tests (no daemon around it)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette

from monitor.config import Settings, load_settings
from monitor.matching.compiler import RuleIndex
from monitor.matching.matcher import ArticleMatcher
from monitor.matching.nlp import LanguagePipelines
from monitor.matching.rulefile import load_rules
from monitor.models import Article, make_article
from monitor.pipeline.ingest import Pipeline
from monitor.service.ops import Check
from monitor.service.wiring import build_guesser
from monitor.store.engine import open_store
from monitor.web import Limits, WebContext, create_app

RULES = """\
concepts:
  tregua: ["cessate il fuoco", tregua, ceasefire]
rules:
  - id: nato
    name: NATO
    query: NATO
    tags: [esteri]
  - id: gaza
    name: Gaza e tregua
    query: '"cessate il fuoco" NEAR/5 Gaza'
  - id: finlandia
    query: Finlandia OR Finland
"""
CONFIG = """\
database: sqlite:///state/monitor.db
state_dir: state
rules: [rules/]
default_language: it
language_models: {it: blank, en: blank}
sources:
  folders:
    - {path: inbox/, interval: 1s}
channels:
  console: {type: console}
defaults:
  notify: [console]
"""


@dataclass
class WebEnv:
    """Settings, store and pipeline in ``root``, and the app over them."""

    root: Path
    settings: Settings
    pipeline: Pipeline
    ctx: WebContext
    app: Starlette
    ingested: list[Article] = field(default_factory=list)

    def add(self, title: str, body: str = "", **extra: Any) -> Article:
        """Record one article through the pipeline, as a dropped file's would be."""
        article = make_article(
            title=title, body=body, source=extra.pop("source", "ANSA"), origin="test", **extra
        )
        self.pipeline.process([article])
        self.ingested.append(article)
        return article

    def client(self, host: str = "127.0.0.1:9464", **headers: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=f"http://{host}", headers=headers
        )


def make_env(
    root: Path,
    pipelines: LanguagePipelines,
    *,
    config: str = CONFIG,
    rules: str = RULES,
    env: dict[str, str] | None = None,
    readiness: list[Check] | None = None,
    ingest: bool = True,
    limits: Limits | None = None,
    registry: CollectorRegistry | None = None,
) -> WebEnv:
    root.mkdir(parents=True, exist_ok=True)
    (root / "rules").mkdir(exist_ok=True)
    (root / "rules" / "web.yaml").write_text(rules, encoding="utf-8")
    (root / "inbox").mkdir(exist_ok=True)
    (root / "monitor.yaml").write_text(config, encoding="utf-8")
    settings = load_settings(str(root / "monitor.yaml"), env=env or {})
    store = open_store(settings.database)
    specs = load_rules(settings.rules, settings.channels.keys()).rules
    pipeline = Pipeline(settings, store, ArticleMatcher(RuleIndex(specs, pipelines)), build_guesser(settings))

    async def process(articles: Sequence[Article]) -> None:
        await asyncio.to_thread(pipeline.process, articles)

    async def ready() -> list[Check]:
        return readiness if readiness is not None else [Check("database", True)]

    ctx = WebContext(
        settings=lambda: settings,
        store=store,
        rules=lambda: [rule.spec for rule in pipeline.matcher.index.rules],
        readiness=ready,
        atom_folders=lambda: {"feeds": root / "atom"},
        ingest=process if ingest else None,
        limits=limits or Limits(),
        registry=registry,
    )
    return WebEnv(root, settings, pipeline, ctx, create_app(ctx))


def csrf_of(html: str) -> str:
    """The CSRF token a page rendered for its forms."""
    marker = '<meta name="csrf-token" content="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def as_json(response: httpx.Response) -> Any:
    assert response.headers["content-type"].startswith("application/json"), response.text[:300]
    return json.loads(response.text)


async def asgi_get(app: Starlette, raw_path: bytes, host: bytes = b"127.0.0.1:9464") -> tuple[int, bytes]:
    """GET ``raw_path`` as a server hands it to the app, undecoded and unnormalised (no client
    in between to resolve ``..`` or decode ``%2F``)."""
    path, _, query = raw_path.partition(b"?")
    from urllib.parse import unquote_to_bytes

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": unquote_to_bytes(path).decode("utf-8", "replace"),
        "raw_path": path,
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", host)],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 9464),
    }
    status = 0
    body = b""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, body
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body += message.get("body", b"")

    await app(scope, receive, send)
    return status, body


@contextlib.contextmanager
def serve_pages(pages: dict[str, bytes]) -> Iterator[str]:
    """A local web server answering GET ``path`` with ``pages[path]`` as HTML; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()

"""The operations endpoints in the web app: health, readiness, metrics, Atom files without traversal,
and the server under them (uvicorn on the event loop) against a real socket and misbehaving clients."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from monitor.errors import ConfigError
from monitor.matching.nlp import LanguagePipelines
from monitor.service import ops
from monitor.service.ops import AppServer, Check
from tests.web.support import WebEnv, asgi_get, make_env


def metrics_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("monitor_hits", "Rule hits recorded.", registry=registry).inc(3)
    return registry


@pytest.fixture
async def site(tmp_path: Path, pipelines: LanguagePipelines) -> AsyncIterator[WebEnv]:
    atom = tmp_path / "site" / "atom"
    atom.mkdir(parents=True)
    (atom / "nato.xml").write_text("<feed/>", encoding="utf-8")
    (atom / ".nato.json").write_text("{}", encoding="utf-8")  # the sidecar: not served
    (tmp_path / "site" / "secret.xml").write_text("outside", encoding="utf-8")
    (atom / "link.xml").symlink_to(tmp_path / "site" / "secret.xml")
    env = make_env(tmp_path / "site", pipelines, registry=metrics_registry())
    yield env
    await env.ctx.close()


async def test_ops_livez_and_healthz_answer_ok(site: WebEnv) -> None:
    async with site.client() as client:
        for path in ("/livez", "/healthz", "/healthz?verbose"):
            response = await client.get(path)
            assert (response.status_code, response.text) == (200, "ok\n")


async def test_ops_readyz_names_the_failing_check(tmp_path: Path, pipelines: LanguagePipelines) -> None:
    checks = [Check("database", True), Check("scheduler", False, "last tick 99s ago"), Check("rules", True)]
    env = make_env(tmp_path, pipelines, readiness=checks)
    async with env.client() as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    lines = response.text.splitlines()
    assert lines[0] == "not ready: scheduler"
    assert "scheduler failed: last tick 99s ago" in lines and "database ok" in lines


async def test_ops_readyz_ok_when_every_check_holds(tmp_path: Path, pipelines: LanguagePipelines) -> None:
    env = make_env(tmp_path, pipelines, readiness=[Check("database", True), Check("rules", True, "3 rules")])
    async with env.client() as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.text.splitlines() == ["ready", "database ok", "rules ok: 3 rules"]


async def test_ops_endpoints_are_read_only(site: WebEnv) -> None:
    async with site.client() as client:
        assert (await client.post("/livez")).status_code == 405
        assert (await client.delete("/metrics")).status_code == 405
        assert (await client.put("/readyz")).status_code == 405
        assert (await client.get("/admin")).status_code == 404


async def test_ops_metrics_are_the_registry_in_prometheus_text(site: WebEnv) -> None:
    async with site.client() as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert "monitor_hits_total 3.0" in response.text


async def test_ops_serves_atom_files_of_the_channel_folder(site: WebEnv) -> None:
    async with site.client() as client:
        response = await client.get("/atom/feeds/nato.xml")
        assert response.status_code == 200 and response.content == b"<feed/>"
        assert response.headers["content-type"].startswith("application/atom+xml")
        missing = await client.get("/atom/feeds/other.xml")
        assert missing.status_code == 404 and "first alert" in missing.text
        assert (await client.get("/atom/nochannel/nato.xml")).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        b"/atom/feeds/../secret.xml",
        b"/atom/feeds/%2e%2e%2fsecret.xml",
        b"/atom/feeds/..%2Fsecret.xml",
        b"/atom/feeds/.nato.json",
        b"/atom/feeds/link.xml",  # a symlink out of the folder
        b"/atom/feeds//etc/passwd",
        b"/atom/../atom/feeds/nato.xml",
        b"/atom/feeds/nato.xml/..",
        b"/atom/feeds/%2e%2e",
    ],
)
async def test_ops_atom_refuses_traversal(site: WebEnv, path: bytes) -> None:
    status, body = await asgi_get(site.app, path)
    assert status == 404 and b"outside" not in body


# -- the server under the app ---------------------------------------------------------------------
@pytest.fixture
async def served(site: WebEnv) -> AsyncIterator[int]:
    server = AppServer(site.app, "127.0.0.1", 0)
    _host, port = await server.start()
    try:
        yield port
    finally:
        await server.close()


async def _raw(port: int, data: bytes, *, close: bool = True) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    if close and not data:
        writer.write_eof()
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout=30)
    writer.close()
    await writer.wait_closed()
    return answer


async def test_server_answers_http_on_a_real_socket(served: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{served}") as client:
        live = await client.get("/livez")
        assert live.status_code == 200 and live.text == "ok\n"
        metrics = await client.get("/metrics")
        assert "monitor_hits_total 3.0" in metrics.text
        head = await client.head("/atom/feeds/nato.xml")
        assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == "7"
        assert (await client.post("/livez", content=b"x")).status_code == 405
    garbage = await _raw(served, b"NOT HTTP AT ALL\r\n\r\n")
    assert garbage.startswith(b"HTTP/1.1 400")
    silent = await _raw(served, b"")  # a client that connects and closes: no crash, no answer
    assert silent == b""
    closing = b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    assert (await _raw(served, closing)).startswith(b"HTTP/1.1 200")


async def test_server_refuses_oversized_request_headers(served: int) -> None:
    big = b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n"
    answer = await _raw(served, big)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 4")
    closing = b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    assert (await _raw(served, closing)).startswith(b"HTTP/1.1 200")


async def test_server_drops_a_client_dripping_its_request_head(
    site: WebEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow client cannot keep a connection: no complete head within the deadline, closed."""
    monkeypatch.setattr(ops, "HEAD_TIMEOUT_S", 0.5)
    server = AppServer(site.app, "127.0.0.1", 0)
    _host, port = await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never ends its head
        await writer.drain()
        started = time.monotonic()
        closed = await asyncio.wait_for(reader.read(), timeout=30)  # a hang catcher only
        waited = time.monotonic() - started
        writer.close()
        assert closed == b""  # closed without an answer
        assert waited < 25
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/livez")).status_code == 200  # the server still serves
    finally:
        await server.close()


async def test_server_port_in_use_is_a_config_error_naming_it(site: WebEnv) -> None:
    first = AppServer(site.app, "127.0.0.1", 0)
    _host, port = await first.start()
    try:
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            await AppServer(site.app, "127.0.0.1", port).start()
    finally:
        await first.close()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "news.example.org"])
async def test_server_refuses_beyond_loopback_without_a_token(site: WebEnv, host: str) -> None:
    with pytest.raises(ConfigError, match=r"beyond this machine.*server\.token"):
        await AppServer(site.app, host, 0).start()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_server_loopback_needs_no_token(host: str) -> None:
    ops.check_exposure(host, None)
    assert ops.is_loopback(host)


def test_server_the_docker_config_listens_beyond_loopback_only_with_its_token() -> None:
    from monitor.config import load_settings
    from tests.conftest import REPO

    config = str(REPO / "deploy" / "docker.yaml")
    exposed = load_settings(config, env={"MONITOR_SERVER_HOST": "0.0.0.0"}).server
    with pytest.raises(ConfigError, match=r"server\.token"):
        ops.check_exposure(exposed.host, None if exposed.token is None else "x")
    token = "t" * 32
    armed = load_settings(config, env={"MONITOR_SERVER_HOST": "0.0.0.0", "MONITOR_WEB_TOKEN": token}).server
    assert armed.token is not None and armed.token.get_secret_value() == token
    ops.check_exposure(armed.host, armed.token.get_secret_value())

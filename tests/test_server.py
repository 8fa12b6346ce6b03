"""The operations endpoint: routing, Atom files without traversal, a real socket, a real daemon."""

from __future__ import annotations

import asyncio
import signal
import socket
import sqlite3
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.service.ops import Check, OpsEndpoint, OpsServer
from tests.notify.receivers import WebhookReceiver
from tests.ops_support import BASE_CONFIG, Daemon, make_workdir, wait_for
from tests.sources.feedserver import serve


def endpoint(tmp_path: Path, checks: list[Check] | None = None) -> OpsEndpoint:
    async def readiness() -> list[Check]:
        return checks if checks is not None else [Check("database", True)]

    return OpsEndpoint(
        readiness=readiness,
        metrics=lambda: (b"monitor_hits_total 3.0\n", "text/plain; version=0.0.4"),
        atom_folders=lambda: {"feeds": tmp_path / "atom"},
    )


@pytest.fixture
def atom_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "atom"
    folder.mkdir()
    (folder / "nato.xml").write_text("<feed/>", encoding="utf-8")
    (folder / ".nato.json").write_text("{}", encoding="utf-8")  # the sidecar: not served
    (tmp_path / "secret.xml").write_text("outside", encoding="utf-8")
    (folder / "link.xml").symlink_to(tmp_path / "secret.xml")
    return folder


async def test_endpoint_livez_and_healthz_answer_ok(tmp_path: Path) -> None:
    for path in ("/livez", "/healthz", "/healthz?verbose"):
        response = await endpoint(tmp_path).respond("GET", path)
        assert (response.status, response.body) == (200, b"ok\n")


async def test_endpoint_readyz_names_the_failing_check(tmp_path: Path) -> None:
    checks = [Check("database", True), Check("scheduler", False, "last tick 99s ago"), Check("rules", True)]
    response = await endpoint(tmp_path, checks).respond("GET", "/readyz")
    assert response.status == 503
    lines = response.body.decode().splitlines()
    assert lines[0] == "not ready: scheduler"
    assert "scheduler failed: last tick 99s ago" in lines and "database ok" in lines


async def test_endpoint_readyz_ok_when_every_check_holds(tmp_path: Path) -> None:
    response = await endpoint(tmp_path, [Check("database", True), Check("rules", True, "3 rules")]).respond(
        "GET", "/readyz"
    )
    assert response.status == 200
    assert response.body.decode().splitlines() == ["ready", "database ok", "rules ok: 3 rules"]


async def test_endpoint_is_read_only_and_404s_unknown_paths(tmp_path: Path) -> None:
    assert (await endpoint(tmp_path).respond("POST", "/livez")).status == 405
    assert (await endpoint(tmp_path).respond("DELETE", "/metrics")).status == 405
    assert (await endpoint(tmp_path).respond("GET", "/admin")).status == 404


async def test_endpoint_serves_atom_files_of_the_channel_folder(tmp_path: Path, atom_dir: Path) -> None:
    response = await endpoint(tmp_path).respond("GET", "/atom/feeds/nato.xml")
    assert response.status == 200 and response.body == b"<feed/>"
    assert response.content_type.startswith("application/atom+xml")
    assert (await endpoint(tmp_path).respond("GET", "/atom/feeds/other.xml")).status == 404
    assert (await endpoint(tmp_path).respond("GET", "/atom/nochannel/nato.xml")).status == 404


@pytest.mark.parametrize(
    "path",
    [
        "/atom/feeds/../secret.xml",
        "/atom/feeds/%2e%2e%2fsecret.xml",
        "/atom/feeds/..%2Fsecret.xml",
        "/atom/feeds/.nato.json",
        "/atom/feeds/link.xml",  # a symlink out of the folder
        "/atom/feeds//etc/passwd",
        "/atom/../atom/feeds/nato.xml",
        "/atom/feeds/nato.xml/..",
    ],
)
async def test_endpoint_atom_refuses_traversal(tmp_path: Path, atom_dir: Path, path: str) -> None:
    response = await endpoint(tmp_path).respond("GET", path)
    assert response.status == 404 and b"outside" not in response.body


async def test_server_answers_http_on_a_real_socket(tmp_path: Path, atom_dir: Path) -> None:
    server = OpsServer(endpoint(tmp_path), "127.0.0.1", 0)
    host, port = await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
            live = await client.get("/livez")
            assert live.status_code == 200 and live.text == "ok\n"
            assert live.headers["connection"] == "close"
            metrics = await client.get("/metrics")
            assert metrics.headers["content-type"] == "text/plain; version=0.0.4"
            assert metrics.text == "monitor_hits_total 3.0\n"
            head = await client.head("/atom/feeds/nato.xml")
            assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == "7"
            assert (await client.post("/livez", content=b"x")).status_code == 405
        garbage = await _raw(port, b"NOT HTTP AT ALL\r\n\r\n")
        assert garbage.startswith(b"HTTP/1.1 400")
        silent = await _raw(port, b"")  # a client that connects and closes: no crash, no answer
        assert silent == b""
        assert (await _raw(port, b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")).startswith(b"HTTP/1.1 200")
    finally:
        await server.close()


async def _raw(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    if not data:
        writer.write_eof()
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    await writer.wait_closed()
    return answer


async def test_server_refuses_oversized_request_headers(tmp_path: Path) -> None:
    server = OpsServer(endpoint(tmp_path), "127.0.0.1", 0)
    _host, port = await server.start()
    try:
        answer = await _raw(port, b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n")
        assert answer == b"" or answer.startswith(b"HTTP/1.1 4")
        assert (await _raw(port, b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")).startswith(b"HTTP/1.1 200")
    finally:
        await server.close()


# -- a real daemon ------------------------------------------------------------------------------
def metric_values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


DELIVER_RUNS_OK = ("monitor_job_runs_total", (("job", "deliver"), ("outcome", "ok")))


@pytest.mark.slow
def test_daemon_endpoint_reports_health_readiness_and_metrics(tmp_path: Path) -> None:
    workdir = make_workdir(tmp_path)
    with WebhookReceiver(statuses=[500]) as hook:
        daemon = Daemon(workdir, {"HOOK_URL": hook.url})
        try:
            assert daemon.get("/livez").text == "ok\n"
            assert daemon.get("/healthz").status_code == 200
            assert wait_for(lambda: len(hook.received) == 2), daemon.log  # a 500, then the retry's 200
            assert wait_for(lambda: daemon.get("/readyz").status_code == 200), daemon.get("/readyz").text
            ready = daemon.get("/readyz").text.splitlines()
            assert ready[0] == "ready" and "database ok" in ready and "rules ok: 1 rules" in ready
            values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

            def settled() -> bool:
                values.clear()
                values.update(metric_values(daemon.get("/metrics").text))
                # the gauge and the job count follow the send: wait for them, do not race them
                return (
                    values.get(("monitor_deliveries_total", (("channel", "hook"), ("outcome", "sent")))) == 1
                    and values.get(("monitor_outbox_pending", (("channel", "hook"),))) == 0
                    and values.get(DELIVER_RUNS_OK, 0) >= 1
                )

            assert wait_for(settled), values
        finally:
            assert daemon.stop() == 0, daemon.log
    assert values[("monitor_deliveries_total", (("channel", "hook"), ("outcome", "failed")))] == 1
    assert values[("monitor_deliveries_total", (("channel", "hook"), ("outcome", "dead")))] == 0
    assert values[("monitor_articles_ingested_total", (("kind", "folder"),))] == len(
        list(workdir.glob("inbox/*"))
    )
    assert values[("monitor_hits_total", ())] == 1
    assert values[("monitor_rule_index_rules", ())] == 1
    assert values[("monitor_rule_index_build_seconds", ())] > 0
    assert values[("monitor_outbox_pending", (("channel", "hook"),))] == 0
    assert values[("monitor_job_runs_total", (("job", "deliver"), ("outcome", "ok")))] >= 1
    assert values[("monitor_scheduler_last_tick_timestamp_seconds", ())] > 0
    assert ("process_resident_memory_bytes", ()) in values


@pytest.mark.slow
def test_daemon_readyz_is_503_naming_rules_when_none_loaded(tmp_path: Path) -> None:
    workdir = make_workdir(tmp_path, rules="")
    with WebhookReceiver() as hook:
        daemon = Daemon(workdir, {"HOOK_URL": hook.url})
        try:
            assert daemon.get("/livez").status_code == 200
            assert wait_for(lambda: "scheduler ok" in daemon.get("/readyz").text), daemon.log
            ready = daemon.get("/readyz")
        finally:
            assert daemon.stop() == 0, daemon.log
    assert ready.status_code == 503
    assert ready.text.splitlines()[0] == "not ready: rules"
    assert "rules failed: no rule loaded" in ready.text


@pytest.mark.slow
def test_daemon_endpoint_is_off_by_default_and_on_localhost(tmp_path: Path) -> None:
    workdir = make_workdir(tmp_path, BASE_CONFIG.replace("server: {enabled: true, port: 0}\n", ""))
    with WebhookReceiver() as hook:
        daemon = Daemon(workdir, {"HOOK_URL": hook.url})
        try:
            assert wait_for(lambda: len(hook.received) == 1), daemon.log
        finally:
            assert daemon.stop() == 0, daemon.log
    assert "ops endpoint" not in daemon.log
    from monitor.config import ServerSettings

    assert ServerSettings().host == "127.0.0.1" and ServerSettings().enabled is False


@pytest.mark.slow
def test_daemon_serves_the_atom_channel_feeds(tmp_path: Path) -> None:
    config = BASE_CONFIG.replace('hook: {type: webhook, url: "${HOOK_URL}"}', "feed: {type: atom}").replace(
        "notify: [hook]", "notify: [feed]"
    )
    workdir = make_workdir(tmp_path, config)
    daemon = Daemon(workdir, {})
    try:
        assert wait_for(lambda: daemon.get("/atom/feed/nato.xml").status_code == 200), daemon.log
        feed = daemon.get("/atom/feed/nato.xml")
        assert feed.headers["content-type"].startswith("application/atom+xml")
        assert "<feed" in feed.text and "urn:news-monitor:rule:nato" in feed.text
        assert daemon.get("/atom/feed/..%2Fmonitor.db").status_code == 404
        assert daemon.get("/atom/feed/.nato.json").status_code == 404
    finally:
        assert daemon.stop() == 0, daemon.log


@pytest.mark.slow
def test_daemon_port_in_use_exits_3_with_message(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        workdir = make_workdir(tmp_path, BASE_CONFIG.replace("port: 0", f"port: {port}"))
        daemon = Daemon(workdir, {"HOOK_URL": "http://127.0.0.1:9/x"})
        code = daemon.process.wait(timeout=120)
        daemon.stop()
    assert code == 3  # the configuration cannot be used here
    assert f"cannot listen on 127.0.0.1:{port}" in daemon.log


@pytest.mark.slow
def test_daemon_sigterm_makes_readyz_fail_then_exits_0(tmp_path: Path) -> None:
    """While draining a slow send, /readyz says 'running failed: stopping'; then exit 0."""
    workdir = make_workdir(tmp_path)
    with WebhookReceiver(delay=5.0) as hook:
        daemon = Daemon(workdir, {"HOOK_URL": hook.url})
        try:
            assert wait_for(lambda: len(hook.received) == 1), daemon.log  # the receiver holds the request
            daemon.process.send_signal(signal.SIGTERM)
            assert wait_for(lambda: "stopping" in daemon.log), daemon.log
            draining = daemon.get("/readyz")
        finally:
            code = daemon.stop()
    assert code == 0, daemon.log
    assert draining.status_code == 503 and "running failed: stopping" in draining.text
    with sqlite3.connect(workdir / "state" / "monitor.db") as db:  # the send in flight was finished
        assert db.execute("SELECT status FROM deliveries").fetchall() == [("sent",)]


@pytest.mark.slow
def test_daemon_metrics_count_feed_polls_entries_and_errors_by_feed(tmp_path: Path) -> None:
    with serve() as feeds, WebhookReceiver() as hook:
        config = BASE_CONFIG.replace(
            "channels:",
            "  feeds:\n"
            f"    - {{url: '{feeds.url('/esteri.rss')}', name: esteri, interval: 1s}}\n"
            f"    - {{url: '{feeds.url('/error')}', name: broken, interval: 1s}}\n"
            "channels:",
        )
        daemon = Daemon(make_workdir(tmp_path, config), {"HOOK_URL": hook.url})
        values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

        def polled() -> bool:
            values.clear()
            values.update(metric_values(daemon.get("/metrics").text))
            return (
                values.get(("monitor_feed_fetch_errors_total", (("feed", "broken"),)), 0) >= 1
                and values.get(("monitor_articles_ingested_total", (("kind", "feed"),)), 0) > 0
                # a job is counted once its body has returned, after what it ingested
                and values.get(("monitor_job_runs_total", (("job", "feed"), ("outcome", "ok"))), 0) >= 2
            )

        try:
            assert wait_for(polled), daemon.log
        finally:
            assert daemon.stop() == 0, daemon.log
    assert ("monitor_feed_fetch_errors_total", (("feed", "esteri"),)) not in values
    assert values[("monitor_feed_fetch_duration_seconds_count", ())] >= 2
    assert values[("monitor_job_runs_total", (("job", "feed"), ("outcome", "ok")))] >= 2

"""The daemon serving its web app: health, readiness, metrics and Atom feeds of a real daemon process.

The app's routes and the server under it are tested without a daemon in tests/web/test_ops.py.
"""

from __future__ import annotations

import signal
import socket
import sqlite3
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.cli.base import ExitCode
from tests.notify.receivers import WebhookReceiver
from tests.ops_support import BASE_CONFIG, Daemon, make_workdir, wait_for
from tests.sources.feedserver import serve


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
    assert "listening on" not in daemon.log
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
    assert code == ExitCode.UNUSABLE
    assert f"cannot listen on 127.0.0.1:{port}" in daemon.log


@pytest.mark.slow
def test_daemon_refuses_to_listen_beyond_loopback_without_a_token(tmp_path: Path) -> None:
    workdir = make_workdir(tmp_path, BASE_CONFIG.replace("port: 0", "port: 0, host: 0.0.0.0"))
    daemon = Daemon(workdir, {"HOOK_URL": "http://127.0.0.1:9/x"})
    code = daemon.process.wait(timeout=120)
    daemon.stop()
    assert code == ExitCode.UNUSABLE
    assert "server.host is 0.0.0.0, beyond this machine, and server.token is not set" in daemon.log


@pytest.mark.slow
def test_daemon_ingests_an_article_posted_to_the_api_and_alerts_it(tmp_path: Path) -> None:
    """POST /api/v1/articles goes through the daemon's pipeline: stored, matched, alerted, once."""
    workdir = make_workdir(tmp_path, rules="rules:\n  - id: nato\n    query: NATO\n")
    for seed in (workdir / "inbox").iterdir():
        seed.unlink()
    article = {"id": "api-1", "title": "La NATO si riunisce", "body": "Vertice della NATO a Bruxelles."}
    with WebhookReceiver() as hook:
        daemon = Daemon(workdir, {"HOOK_URL": hook.url})
        try:
            url = f"http://127.0.0.1:{daemon.port}/api/v1/articles"
            first = httpx.post(url, json=article, timeout=30)
            again = httpx.post(url, json=article, timeout=30)
            assert wait_for(lambda: len(hook.received) == 1), daemon.log
        finally:
            assert daemon.stop() == 0, daemon.log
    assert first.status_code == 202, first.text
    assert first.json()["duplicate"] is False and [h["rule"] for h in first.json()["hits"]] == ["nato"]
    assert again.status_code == 202 and again.json()["duplicate"] is True
    assert again.json()["id"] == first.json()["id"]
    assert len(hook.received) == 1  # the repeat alerted nothing


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

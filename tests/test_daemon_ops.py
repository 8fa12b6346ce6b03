"""The daemon under operations: job timeouts against hung peers, SIGHUP reloading the config."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.notify.receivers import WebhookReceiver
from tests.ops_support import BASE_CONFIG, WORKDIR_CONFIG, Daemon, TcpProxy, make_workdir, wait_for
from tests.test_server import metric_values

pytestmark = pytest.mark.slow  # every test here runs the daemon as a child process

ARTICLE = {
    "title": "NATO summit in Vilnius",
    "body": "NATO leaders met in Vilnius on Tuesday.",
    "url": "https://news.example.org/vilnius",
    "language": "en",
}

HUNG_CONFIG = (
    WORKDIR_CONFIG
    + """sources:
  folders:
    - {path: inbox/, interval: 1s, watch: false}
  feeds:
    - {url: "${FEED_URL}", name: hung-feed, interval: 1s}
channels:
  hung: {type: webhook, url: "${HUNG_URL}", timeout: 120s}
  fast: {type: webhook, url: "${FAST_URL}"}
defaults:
  notify: [hung, fast]
delivery: {interval: 0.5s, retry_initial: 0s, retry_max: 1s}
http: {timeout: 120s}
jobs: {timeout: 2s}
server: {enabled: true, port: 0}
"""
)


def drop(inbox: Path, name: str, article: dict[str, str]) -> None:
    tmp = inbox / f".{name}.part"
    tmp.write_text(json.dumps(article), encoding="utf-8")
    tmp.rename(inbox / name)


def test_daemon_job_timeout_frees_jobs_stuck_on_a_hung_receiver_and_feed(tmp_path: Path) -> None:
    """A receiver and a feed server that never answer: their jobs are cut at jobs.timeout and the
    daemon goes on matching files and alerting the healthy channel."""
    workdir = make_workdir(tmp_path, HUNG_CONFIG)
    with (
        socket.socket() as silent,  # accepts connections (the kernel's backlog), never answers
        WebhookReceiver(delay=600) as hung,
        WebhookReceiver() as fast,
    ):
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        feed_url = f"http://127.0.0.1:{silent.getsockname()[1]}/feed.xml"
        daemon = Daemon(workdir, {"HUNG_URL": hung.url, "FAST_URL": fast.url, "FEED_URL": feed_url})
        try:
            assert wait_for(lambda: len(fast.received) == 1 and len(hung.received) >= 1), daemon.log
            assert wait_for(lambda: "job=feed:" in daemon.log and "timed out after 2s" in daemon.log), (
                daemon.log
            )
            drop(workdir / "inbox", "vilnius.json", ARTICLE)
            assert wait_for(lambda: len(fast.received) == 2), f"the daemon stopped working:\n{daemon.log}"
            assert fast.received[1][1]["data"]["article"]["title"] == ARTICLE["title"]
            values = metric_values(daemon.get("/metrics").text)
        finally:
            code = daemon.stop(signal.SIGTERM)
    assert code == 0, daemon.log
    assert values[("monitor_job_runs_total", (("job", "feed"), ("outcome", "timeout")))] >= 1
    timed_out = {
        line.split("job=")[1].split(":")[0]
        for line in daemon.log.splitlines()
        if "timed out after 2s" in line
    }
    assert "feed" in timed_out and timed_out & {"deliver", "folder"}, daemon.log  # the sends hung too


def test_daemon_sighup_reloads_channels_sources_and_refuses_a_broken_config(tmp_path: Path) -> None:
    workdir = make_workdir(tmp_path)
    config = workdir / "monitor.yaml"
    with WebhookReceiver() as first, WebhookReceiver() as second:
        daemon = Daemon(workdir, {"HOOK_URL": first.url, "SECOND_URL": second.url})
        try:
            assert wait_for(lambda: len(first.received) == 1), daemon.log
            (workdir / "inbox2").mkdir()
            config.write_text(
                BASE_CONFIG.replace(
                    "    - {path: inbox/, interval: 1s}\n",
                    "    - {path: inbox/, interval: 1s}\n    - {path: inbox2/, interval: 1s}\n",
                )
                .replace("defaults:", '  second: {type: webhook, url: "${SECOND_URL}"}\ndefaults:')
                .replace("notify: [hook]", "notify: [hook, second]")
                + "dedup: {threshold: 0.9}\n",
                encoding="utf-8",
            )
            daemon.process.send_signal(signal.SIGHUP)
            assert wait_for(lambda: "reload: 1 rules active (were 1)" in daemon.log), daemon.log
            assert "dedup changed; it takes effect at the next restart" in daemon.log
            drop(workdir / "inbox2", "vilnius.json", ARTICLE)  # a folder that is new in the config
            assert wait_for(lambda: len(second.received) == 1 and len(first.received) == 2), daemon.log
            assert second.received[0][1]["data"]["article"]["title"] == ARTICLE["title"]

            config.write_text(config.read_text(encoding="utf-8") + "no_such_setting: 1\n", encoding="utf-8")
            daemon.process.send_signal(signal.SIGHUP)
            assert wait_for(lambda: "reload refused" in daemon.log), daemon.log
            assert "no_such_setting: unknown setting" in daemon.log
            drop(workdir / "inbox2", "riga.json", dict(ARTICLE, title="NATO in Riga", url="https://x.org/r"))
            assert wait_for(lambda: len(second.received) == 2), "the running config was not kept"
        finally:
            code = daemon.stop(signal.SIGTERM)
    assert code == 0, daemon.log


def test_daemon_readyz_names_the_database_while_postgresql_is_unreachable(
    tmp_path: Path, postgres_url: str
) -> None:
    """PostgreSQL behind a proxy that is cut, then restored: /readyz turns 503 naming the
    database while /livez stays 200, and comes back without a restart."""
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.start()
    through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    workdir = make_workdir(tmp_path)
    with WebhookReceiver() as hook:
        daemon = Daemon(workdir, {"HOOK_URL": hook.url, "MONITOR_DATABASE_URL": through_proxy})
        try:
            assert wait_for(lambda: len(hook.received) == 1), daemon.log
            assert wait_for(lambda: daemon.get("/readyz").status_code == 200), daemon.get("/readyz").text
            proxy.cut()
            answers: list[httpx.Response] = []
            assert wait_for(lambda: answers.append(daemon.get("/readyz")) or answers[-1].status_code == 503)
            down = answers[-1].text.splitlines()
            time.sleep(1)  # the pool's reconnection attempts fail too: still not ready
            assert daemon.get("/readyz").status_code == 503
            # the database is named; delivery may be too, paused while it cannot record outcomes
            assert down[0] in ("not ready: database", "not ready: database, delivery"), down
            assert daemon.get("/livez").status_code == 200
            proxy.start()
            assert wait_for(lambda: daemon.get("/readyz").status_code == 200), daemon.get("/readyz").text
            drop(workdir / "inbox", "vilnius.json", ARTICLE)  # and it works again
            assert wait_for(lambda: len(hook.received) == 2), daemon.log
        finally:
            code = daemon.stop(signal.SIGTERM)
            proxy.cut()
    assert code == 0, daemon.log
    assert any(line.startswith("database failed: OperationalError") for line in down), down

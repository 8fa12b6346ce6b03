"""The real daemon (`monitor run`) polling feeds from the real feed server on its schedule.

A slow feed never delays the others, a feed never runs twice at once, feeds are parsed in worker
processes whose warnings reach the daemon's log, and their alerts reach a webhook receiver.
"""

from __future__ import annotations

import signal
import sqlite3
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.config import load_settings
from monitor.service.daemon import Daemon
from monitor.service.wiring import build_pipeline
from tests.notify.receivers import WebhookReceiver
from tests.sources.feedserver import STUCK_UNTIL, LiveServer, serve
from tests.test_daemon import RunningDaemon, wait_for

RULES = """rules:
  - id: finlandia-nato
    query: '(Finlandia OR Finland) AND NATO'
  - id: notizia
    query: 'notizia'
"""


def write_config(workdir: Path, live: LiveServer, hook: str) -> None:
    (workdir / "rules.yaml").write_text(RULES, encoding="utf-8")
    (workdir / "monitor.yaml").write_text(
        "database: sqlite:///state/monitor.db\nstate_dir: state\nrules: [rules.yaml]\n"
        "rules_reload_interval: 0\n"
        "sources:\n  folders: []\n  feed_parsers: 2\n  feeds:\n"
        f"    - {{url: '{live.url('/esteri.rss')}', name: Esteri, interval: 1s, tags: [esteri]}}\n"
        f"    - {{url: '{live.url('/stuck.rss')}', name: Lento, interval: 1s}}\n"
        f"channels:\n  hook: {{type: webhook, url: '{hook}'}}\n"
        "delivery: {interval: 0.5s}\n"
        "http: {timeout: 20s}\n",
        encoding="utf-8",
    )


def requests_for(live: LiveServer, path: str) -> int:
    return sum(1 for request in live.seen if request["path"] == path)


@pytest.mark.slow
def test_run_daemon_polls_feeds_on_their_schedule_a_slow_one_delaying_no_other(tmp_path: Path) -> None:
    with serve() as live, WebhookReceiver() as hook:
        write_config(tmp_path, live, hook.url)
        daemon = RunningDaemon(tmp_path, {})
        try:
            assert wait_for(lambda: requests_for(live, "/stuck.rss") >= 2, timeout=60), daemon.log
            assert wait_for(lambda: len(hook.received) >= 2), daemon.log
        finally:
            code = daemon.stop(signal.SIGTERM)
        log = daemon.log
    assert code == 0, log
    order = [request["path"] for request in live.seen]
    first, second = [i for i, path in enumerate(order) if path == "/stuck.rss"][:2]
    # the slow feed's answer waited for the fast one to be polled meanwhile (at most STUCK_SECONDS)
    assert order[first:second].count("/esteri.rss") >= STUCK_UNTIL[1], order
    assert live.peak["/stuck.rss"] == 1  # never two fetches of one feed at once
    rules = {(body["data"]["rule"]["id"], body["data"]["article"]["source"]) for _h, body in hook.received}
    assert ("finlandia-nato", "Esteri") in rules and ("notizia", "Lento") in rules
    # the bozo feed was parsed in a worker process, whose warning names it in the daemon's log
    assert f"monitor.sources.parse: feed={live.url('/stuck.rss')} problem=" in log
    later = [r for r in live.seen if r["path"] == "/esteri.rss"][1:]
    assert later and all(r.get("if-none-match") == '"esteri-v1"' for r in later)  # conditional GETs
    with sqlite3.connect(tmp_path / "state" / "monitor.db") as db:
        statuses = dict(db.execute("SELECT url, last_status FROM feeds"))
    assert statuses[live.url("/esteri.rss")] == 304 and statuses[live.url("/stuck.rss")] == 200


@pytest.mark.slow
def test_daemon_schedule_spreads_a_thousand_feeds_and_runs_each_alone(tmp_path: Path) -> None:
    feeds = "".join(
        f"    - {{url: 'https://feeds{n % 50}.example/{n}.xml', interval: 10m}}\n" for n in range(1000)
    )
    (tmp_path / "monitor.yaml").write_text(
        f"database: sqlite:///monitor.db\nrules: []\nsources:\n  folders: []\n  feeds:\n{feeds}",
        encoding="utf-8",
    )
    settings = load_settings(str(tmp_path / "monitor.yaml"), env={})
    pipeline = build_pipeline(settings)
    scheduler = AsyncIOScheduler(timezone=UTC)
    before = datetime.now(UTC)
    Daemon(settings, pipeline).schedule.attach(scheduler)  # not started: the jobs as they would first run
    pipeline.store.engine.dispose()
    jobs = [job for job in scheduler.get_jobs() if job.id.startswith("feed:")]
    assert len(jobs) == 1000
    assert all(job.max_instances == 1 and job.coalesce for job in jobs)  # a feed never runs twice at once
    assert {job.trigger.interval.total_seconds() for job in jobs} == {600.0}
    assert {job.trigger.jitter for job in jobs} == {60}  # 10 % of the interval, every round
    seconds = Counter(int((job.next_run_time - before).total_seconds()) for job in jobs)
    assert max(seconds) <= 10  # the first round starts at once…
    assert max(seconds.values()) < 200  # …spread over its first seconds, never all in one

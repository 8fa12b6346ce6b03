"""The real daemon (`monitor run`) polling feeds from the real feed server on its schedule.

A slow feed never delays the others, a feed never runs twice at once, feeds are parsed in worker
processes whose warnings reach the daemon's log, and their alerts reach a webhook receiver.
"""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

from tests.notify.receivers import WebhookReceiver
from tests.sources.feedserver import LiveServer, serve
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
    # while the slow feed's first answer took STUCK_SECONDS, the fast one kept its 1 s rhythm
    assert order[first:second].count("/esteri.rss") >= 3, order
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

"""A database that stops taking writes must not turn one alert into a flood.

A real `monitor run` child process, a local webhook receiver and a SQLite
database that refuses to record what was sent (a trigger that fails every
UPDATE of the deliveries table, as a full disk would): the alert in hand goes
out once, /readyz and the metrics say delivery is paused and why, the log says
it once, and when writes work again the channel resumes with nothing sent twice.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from pathlib import Path

from tests.conftest import SEEDS
from tests.notify.receivers import WebhookReceiver
from tests.ops_support import Daemon, make_workdir, wait_for
from tests.test_server import metric_values

BIG_LINES = 10_000  # seconds to ingest, even on a fast machine: the alert's retry falls due meanwhile
REFUSE = (
    "CREATE TRIGGER refuse_outcomes BEFORE UPDATE ON deliveries "
    "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
)


def drop(inbox: Path, name: str, title: str) -> None:
    tmp = inbox / f".{name}.part"
    tmp.write_text(json.dumps({"title": title, "body": f"{title}: NATO leaders met."}), encoding="utf-8")
    tmp.rename(inbox / name)


def execute(database: Path, sql: str) -> None:
    with sqlite3.connect(database, timeout=30) as db:
        db.execute(sql)


def stalled(daemon: Daemon) -> float:
    return metric_values(daemon.get("/metrics").text)[("monitor_outbox_stalled_since_timestamp_seconds", ())]


def webhook_ids(hook: WebhookReceiver) -> list[str]:
    return [headers.get("webhook-id", "") for headers, _body in hook.received]


def test_delivery_paused_while_the_database_refuses_outcomes_sends_nothing_twice(tmp_path: Path) -> None:
    workdir = make_workdir(tmp_path)
    database = workdir / "state" / "monitor.db"
    with WebhookReceiver() as hook:
        daemon = Daemon(workdir, {"HOOK_URL": hook.url})
        try:
            assert wait_for(lambda: len(hook.received) == 1), daemon.log  # the seed's alert
            execute(database, REFUSE)
            drop(workdir / "inbox", "riga.json", "NATO in Riga")
            assert wait_for(lambda: len(hook.received) == 2), daemon.log
            assert wait_for(lambda: daemon.get("/readyz").status_code == 503), daemon.log
            ready = daemon.get("/readyz").text
            assert "delivery" in ready and "database or disk is full" in ready, ready
            assert stalled(daemon) > 0
            time.sleep(4)  # eight delivery rounds: the alert in hand is not sent again
            assert len(hook.received) == 2, webhook_ids(hook)
            assert daemon.log.count("delivery paused") == 1, daemon.log

            execute(database, "DROP TRIGGER refuse_outcomes")
            assert wait_for(lambda: "delivery resumed" in daemon.log, 60), daemon.log
            assert wait_for(lambda: daemon.get("/readyz").status_code == 200), daemon.get("/readyz").text
            drop(workdir / "inbox", "oslo.json", "NATO in Oslo")
            assert wait_for(lambda: len(hook.received) == 3), daemon.log
            time.sleep(2)  # a few more rounds: still nothing repeated
            ids = webhook_ids(hook)
            assert len(ids) == 3 and len(set(ids)) == 3, ids
            assert stalled(daemon) == 0.0
        finally:
            code = daemon.stop(signal.SIGTERM)
    assert code == 0, daemon.log
    with sqlite3.connect(database) as db:
        statuses = [status for (status,) in db.execute("SELECT status FROM deliveries")]
    assert statuses == ["sent", "sent", "sent"]  # the outcome kept in memory was recorded


def test_delivery_does_not_wait_for_a_long_ingestion(tmp_path: Path) -> None:
    """The seed's alert, recorded as the first scan begins a large JSONL file after it, fails
    once and goes out on its retry before that ingestion ends (the log shows the send before the
    folder's summary). The retry comes within a second; the file takes seconds to read."""
    workdir = make_workdir(tmp_path)
    lines = "".join(
        json.dumps({"id": f"r{n}", "title": f"Notizia {n}", "body": f"Corpo della notizia {n}."}) + "\n"
        for n in range(BIG_LINES)
    )
    (workdir / "inbox" / "zz-big.jsonl").write_text(lines, encoding="utf-8")  # read after the seeds
    ingested = f"articles={BIG_LINES + len(list(SEEDS.iterdir()))}"
    with WebhookReceiver([503]) as hook:
        daemon = Daemon(workdir, {"HOOK_URL": hook.url})
        try:
            assert wait_for(lambda: ingested in daemon.log, 180), daemon.log
        finally:
            code = daemon.stop(signal.SIGTERM)
    assert code == 0, daemon.log
    log = daemon.log
    assert len(hook.received) == 2, log  # refused, then sent
    assert log.index("rule=nato sent") < log.index(ingested), log  # sent while the file was being read

"""Outcomes recorded in groups, end to end: a kill re-sends the unrecorded group only; a stop loses none.

A real `monitor run` child process delivers twelve alerts, in order, to a local
webhook receiver that counts every request by its ``webhook-id``.  Outcomes
are recorded five at a time (``record_batch: 5``) and never by the timer
(``record_wait: 1h``), and the receiver holds its answer to the eighth request:
at that moment alerts 1–5 are recorded as sent, 6 and 7 are sent but only in
the daemon's memory, 8 is in flight.  SIGKILL then re-sends exactly 6, 7 and
8 after a restart; SIGTERM records all twelve before the process exits.  On
SQLite and, when MONITOR_TEST_DATABASE_URL is set, on PostgreSQL (where the
killed process's leases must lapse first).
"""

from __future__ import annotations

import collections
import json
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pytest
from sqlalchemy import text

from monitor.store.engine import make_engine
from tests.notify.receivers import Reply, Request, WebhookReceiver
from tests.ops_support import RunningDaemon, wait_for

pytestmark = pytest.mark.slow  # `monitor run` child processes

ALERTS = 12
HELD = 8  # the request whose answer the receiver holds back
BATCH = 5
CONFIG = """
database: sqlite:///state/monitor.db  # MONITOR_DATABASE_URL (PostgreSQL) overrides
state_dir: state
rules: [rules.yaml]
rules_reload_interval: 0
language_models: {{en: blank}}
default_language: en
sources:
  folders:
    - {{path: inbox/, interval: 1h}}
channels:
  hook: {{type: webhook, url: "${{HOOK_URL}}", timeout: 60s}}
delivery: {{interval: 0.5s, record_batch: {batch}, record_wait: 1h}}
dedup: {{enabled: false}}
leases: {{ttl: 3s}}
"""


class HoldingReceiver(WebhookReceiver):
    """Answers at once, except request number ``hold`` (counting from 1): held until ``release``."""

    def __init__(self, hold: int) -> None:
        super().__init__()
        self.hold = hold
        self.released = threading.Event()
        self._count = 0

    def answer(self, request: Request) -> Reply:
        with self._lock:
            self._count += 1
            number = self._count
        if number == self.hold:
            self.released.wait(60)
        return Reply(200, "accepted")

    def release(self) -> None:
        self.released.set()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()  # a held handler thread would keep the server from closing
        super().__exit__(exc_type, exc, tb)

    def keys(self) -> list[str]:
        return [request.headers["webhook-id"] for request in self.requests]


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The database URL the daemons use (the env var, for PostgreSQL) and the tests read."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state' / 'monitor.db'}"
    else:
        yield request.getfixturevalue("postgres_url")


def workdir(tmp_path: Path) -> Path:
    (tmp_path / "monitor.yaml").write_text(CONFIG.format(batch=BATCH), encoding="utf-8")
    (tmp_path / "rules.yaml").write_text("rules:\n  - id: nato\n    query: NATO\n", encoding="utf-8")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for n in range(ALERTS):
        body = {"title": f"NATO bulletin {n}", "body": f"NATO allies met, bulletin number {n}."}
        (inbox / f"{n:02d}.json").write_text(json.dumps(body), encoding="utf-8")
    return tmp_path


def statuses(url: str) -> collections.Counter[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as db:
            return collections.Counter(db.execute(text("SELECT status FROM deliveries")).scalars())
    finally:
        engine.dispose()


def start(tmp_path: Path, url: str, hook: WebhookReceiver) -> RunningDaemon:
    env = {"HOOK_URL": hook.url}
    if not url.startswith("sqlite"):
        env["MONITOR_DATABASE_URL"] = url
    return RunningDaemon(tmp_path, env)


def test_delivery_killed_mid_group_resends_only_the_unrecorded_outcomes(
    tmp_path: Path, database: str
) -> None:
    workdir(tmp_path)
    with HoldingReceiver(hold=HELD) as hook:
        daemon = start(tmp_path, database, hook)
        try:
            assert wait_for(lambda: len(hook.requests) == HELD, 60), daemon.log
            # the first group was recorded before the sixth send; the next is still in memory
            assert statuses(database) == {"sent": BATCH, "pending": ALERTS - BATCH}, daemon.log
        finally:
            daemon.process.kill()  # SIGKILL: no cleanup, no chance to record anything
            daemon.stop()
        hook.release()
        first = hook.keys()
        restarted = start(tmp_path, database, hook)
        try:
            assert wait_for(lambda: statuses(database) == {"sent": ALERTS}, 60), restarted.log
        finally:
            assert restarted.stop() == 0, restarted.log
    received = collections.Counter(hook.keys())
    twice = {key for key, count in received.items() if count == 2}
    assert len(received) == ALERTS and set(received.values()) <= {1, 2}
    assert twice == set(first[BATCH:HELD])  # the unrecorded group and the send in flight, no other


def test_delivery_stopped_mid_group_records_every_outcome(tmp_path: Path, database: str) -> None:
    workdir(tmp_path)
    with HoldingReceiver(hold=HELD) as hook:
        daemon = start(tmp_path, database, hook)
        try:
            assert wait_for(lambda: len(hook.requests) == HELD, 60), daemon.log
            daemon.process.send_signal(signal.SIGTERM)  # the round in hand is finished, then recorded
            hook.release()
        finally:
            code = daemon.stop()
        assert code == 0, daemon.log
        assert statuses(database) == {"sent": ALERTS}, daemon.log
        restarted = start(tmp_path, database, hook)
        try:
            assert wait_for(lambda: "monitor started" in restarted.log, 60), restarted.log
        finally:
            assert restarted.stop() == 0, restarted.log
    received = collections.Counter(hook.keys())
    assert len(received) == ALERTS and set(received.values()) == {1}  # nothing sent twice

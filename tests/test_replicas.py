"""Three `monitor run` processes on one PostgreSQL share the work; one is killed with SIGKILL midway.

Real everything: the replicas are subprocesses, feeds come from the local feed
server (tests/sources/feedserver.py), alerts go to a local webhook receiver,
files are dropped into a folder all three watch.  Checked at the end: every
expected hit recorded once, every alert received once by its idempotency key
(the killed replica may have been mid-send: that one alert may arrive twice,
with the same key), no feed fetched twice within its interval, no file read
by two replicas, and the survivors stop on SIGTERM with exit 0 and hand
their leases back.
"""

from __future__ import annotations

import collections
import json
import re
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.notify.receivers import WebhookReceiver
from tests.ops_support import RunningDaemon
from tests.sources.feedserver import ROUTES, Route, serve

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REPLICAS = 3
FEEDS = 6
ITEMS = 5  # each feed grows by one item per fetch up to this many
FILES = 12  # dropped into the watched folder while the replicas run
INTERVAL = 4.0  # every feed's polling interval, seconds
LEASE_TTL = 5.0
RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}


class GrowingFeed:
    """A feed that gains an item at each fetch (up to ITEMS) and notes when it was fetched."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.fetched_at: list[float] = []
        self._lock = threading.Lock()

    def titles(self, count: int = ITEMS) -> list[str]:
        return [f"NATO bulletin {self.number}-{k}" for k in range(count)]

    def body(self) -> bytes:
        with self._lock:
            self.fetched_at.append(time.monotonic())
            shown = min(len(self.fetched_at) + 1, ITEMS)
        items = "".join(
            f"<item><title>{title}</title><guid>feed{self.number}-item{k}</guid>"
            f"<link>https://news.example/{self.number}/{k}</link>"
            f"<description>Allies met at NATO headquarters, number {self.number}.{k}.</description></item>"
            for k, title in enumerate(self.titles(shown))
        )
        return (
            f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Feed {self.number}</title><language>en</language>{items}</channel></rss>"
        ).encode()

    @property
    def done(self) -> bool:
        return len(self.fetched_at) >= ITEMS - 1


def start_replica(workdir: Path, number: int, env: dict[str, str]) -> RunningDaemon:
    """`monitor run` as a child process, logging to its own file."""
    return RunningDaemon(workdir, env, log_name=f"replica-{number}.log")


def config(feeds: list[str], ttl: float = LEASE_TTL) -> str:
    feed_lines = "".join(
        f"\n    - {{url: '{url}', name: feed-{n}, interval: {INTERVAL}s}}" for n, url in enumerate(feeds)
    )
    return f"""
database: sqlite:///unused.db  # MONITOR_DATABASE_URL (PostgreSQL) overrides
state_dir: state
rules: [rules.yaml]
rules_reload_interval: 0
language_models: {{en: blank}}
default_language: en
sources:
  folders:
    - {{path: inbox/, interval: 3s}}
  feeds:{feed_lines or " []"}
channels:
  hook: {{type: webhook, url: "${{HOOK_URL}}"}}
delivery: {{interval: 0.5s, retry_initial: 0s, retry_max: 1s}}
dedup: {{enabled: false}}
leases: {{ttl: {ttl}s}}
"""


def wait_for(condition: Callable[[], bool], timeout: float, what: str, logs: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{logs()}")
        time.sleep(0.2)


def test_replicas_share_the_work_and_survive_a_sigkill(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "rules.yaml").write_text("rules:\n  - id: nato\n    query: NATO\n", encoding="utf-8")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    feeds = [GrowingFeed(n) for n in range(FEEDS)]
    for feed in feeds:
        monkeypatch.setitem(ROUTES, f"/replicas/{feed.number}.rss", Route(headers=RSS, make_body=feed.body))
    dropped = [f"NATO dispatch {n}" for n in range(FILES)]
    expected = {title for feed in feeds for title in feed.titles()} | set(dropped)
    db = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with serve() as server, WebhookReceiver(delay=0.25) as hook:
            (tmp_path / "monitor.yaml").write_text(
                config([server.url(f"/replicas/{feed.number}.rss") for feed in feeds]), encoding="utf-8"
            )
            env = {"MONITOR_DATABASE_URL": postgres_url, "HOOK_URL": hook.url, "MONITOR_LOG_LEVEL": "INFO"}
            replicas = [start_replica(tmp_path, n, env) for n in range(REPLICAS)]
            logs = lambda: "\n".join(f"--- replica {n}\n{r.log[-4000:]}" for n, r in enumerate(replicas))  # noqa: E731
            try:
                wait_for(lambda: len(hook.requests) >= 1, 120, "the first alert", logs)
                for n, title in enumerate(dropped):  # while the replicas work: all three watchers see them
                    path = inbox / f"dispatch-{n}.json"
                    body = {"title": title, "body": f"NATO allies, dispatch {n}.", "language": "en"}
                    path.with_suffix(".part").write_text(json.dumps(body), encoding="utf-8")
                    path.with_suffix(".part").rename(path)
                    time.sleep(0.2)
                victim = kill_a_lease_holder(db, replicas)
                claimed = in_hand(db, victim)
                survivors = [r for r in replicas if r is not victim]
                killed_at = time.monotonic()

                def finished() -> bool:
                    with db.connect() as conn:
                        hits = conn.execute(text("SELECT count(*) FROM hits")).scalar()
                        pending = conn.execute(
                            text("SELECT count(*) FROM deliveries WHERE status <> 'sent'")
                        ).scalar()
                    return all(f.done for f in feeds) and hits == len(expected) and pending == 0

                wait_for(finished, 180, "every hit recorded and every alert sent", logs)
                done_at = time.monotonic()
                time.sleep(1.5)  # a few more dispatcher rounds: nothing more may arrive
                codes = [r.stop(timeout=60) for r in survivors]
                assert codes == [0] * len(survivors), logs()
            finally:
                for replica in replicas:
                    replica.stop(signal.SIGKILL, timeout=10)

        with db.connect() as conn:
            titles = conn.execute(
                text(
                    "SELECT a.title FROM hits h JOIN articles a ON a.id = h.article_id "
                    "WHERE h.rule_id = 'nato'"
                )
            ).scalars()
            recorded = collections.Counter(titles)
            keys = set(conn.execute(text("SELECT key FROM deliveries")).scalars())
            held = conn.execute(
                text(
                    "SELECT lease_owner FROM deliveries WHERE lease_owner IS NOT NULL UNION ALL "
                    "SELECT lease_owner FROM feeds WHERE lease_owner IS NOT NULL UNION ALL "
                    "SELECT owner FROM leases WHERE owner IS NOT NULL"
                )
            ).scalars()
            still_held = {owner for owner in held if owner_pid(owner) != victim.process.pid}
    finally:
        db.dispose()

    # every expected hit, once
    assert set(recorded) == expected and set(recorded.values()) == {1}
    # every alert once by its key; only those the victim had in hand when killed may repeat, once
    received = collections.Counter(request.headers["webhook-id"] for request in hook.requests)
    assert set(received) == keys and len(keys) == len(expected)
    repeated = {key: count for key, count in received.items() if count > 1}
    assert set(repeated) <= claimed and set(repeated.values()) <= {2}, (repeated, claimed)
    # no feed fetched twice within its interval (claims book the next slot at 3/4 of it)
    for feed in feeds:
        gaps = [b - a for a, b in zip(feed.fetched_at, feed.fetched_at[1:], strict=False)]
        assert min(gaps) >= INTERVAL / 2, (feed.number, gaps)
    # no file read by two replicas (a scan claims its folder)
    files_read = sum(
        int(n) for r in replicas for n in re.findall(r"folder=\S+ (?:\(watched\) )?files=(\d+)", r.log)
    )
    assert files_read <= FILES, files_read
    # the survivors handed their leases back when they stopped
    assert still_held == set()
    sent_by = [len(re.findall(r"alert=\S+ channel=hook rule=nato sent", r.log)) for r in replicas]
    print(
        f"\nreplicas: alerts sent per replica {sent_by} (replica {replicas.index(victim)} killed), "
        f"fetches per feed {[len(f.fetched_at) for f in feeds]}, repeated after the kill {len(repeated)}, "
        f"all done {done_at - killed_at:.1f}s after the kill (lease ttl {LEASE_TTL:.0f}s)"
    )


def owner_pid(owner: str) -> int:
    return int(owner.split(":")[-2])


def kill_a_lease_holder(db: object, replicas: list[RunningDaemon]) -> RunningDaemon:
    """SIGKILL a replica that holds a lease right now (an alert or a feed in hand), else the first."""
    by_pid = {r.process.pid: r for r in replicas}
    deadline = time.monotonic() + 15
    victim = replicas[0]
    while time.monotonic() < deadline:
        with db.connect() as conn:  # type: ignore[attr-defined]
            owners = conn.execute(
                text(
                    "SELECT lease_owner FROM deliveries WHERE lease_owner IS NOT NULL UNION "
                    "SELECT lease_owner FROM feeds WHERE lease_owner IS NOT NULL"
                )
            ).scalars()
            holders = [by_pid[pid] for pid in map(owner_pid, owners) if pid in by_pid]
        if holders:
            victim = holders[0]
            break
        time.sleep(0.05)
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait(timeout=10)
    return victim


def in_hand(db: object, victim: RunningDaemon) -> set[str]:
    """The alerts a killed replica had claimed and not recorded as sent: all it may have sent
    without the outbox knowing (outcomes are recorded in small groups), so all that may go twice.
    Read at once after the kill: its leases hold them from the others until they expire."""
    with db.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(
            text("SELECT key, lease_owner FROM deliveries WHERE lease_owner IS NOT NULL AND status <> 'sent'")
        ).all()
    return {key for key, owner in rows if owner_pid(owner) == victim.process.pid}


def test_replicas_a_batch_longer_than_the_lease_is_renewed_not_sent_twice(
    tmp_path: Path, postgres_url: str
) -> None:
    """One replica claims a burst of alerts that takes longer to send than a lease lasts: its
    heartbeat keeps them, so the other replica, polling the outbox all along, sends none twice."""
    (tmp_path / "rules.yaml").write_text("rules:\n  - id: nato\n    query: NATO\n", encoding="utf-8")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for n in range(12):
        body = {"title": f"NATO dispatch {n}", "body": f"NATO allies, dispatch {n}.", "language": "en"}
        (inbox / f"dispatch-{n}.json").write_text(json.dumps(body), encoding="utf-8")
    with WebhookReceiver(delay=0.5) as hook:  # 12 alerts: 6 s of sending, twice the lease
        (tmp_path / "monitor.yaml").write_text(config([], ttl=3.0), encoding="utf-8")
        env = {"MONITOR_DATABASE_URL": postgres_url, "HOOK_URL": hook.url}
        replicas = [start_replica(tmp_path, n, env) for n in range(2)]
        logs = lambda: "\n".join(f"--- replica {n}\n{r.log[-4000:]}" for n, r in enumerate(replicas))  # noqa: E731
        try:
            wait_for(lambda: len(hook.requests) >= 12, 120, "twelve alerts", logs)
            time.sleep(2.0)  # more dispatcher rounds on both replicas: nothing more may arrive
            assert [r.stop(timeout=60) for r in replicas] == [0, 0], logs()
        finally:
            for replica in replicas:
                replica.stop(signal.SIGKILL, timeout=10)
    received = collections.Counter(request.headers["webhook-id"] for request in hook.requests)
    assert len(received) == 12 and set(received.values()) == {1}, received

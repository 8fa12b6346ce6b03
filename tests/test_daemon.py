"""End to end: the real `monitor` process over a folder, a SQLite file and real HTTP receivers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, SEEDS, SHIPPED_RULE_IDS
from tests.notify.receivers import SECRET_PATH, SlackReceiver, WebhookReceiver, refused_url
from tests.ops_support import RunningDaemon, wait_for

pytestmark = pytest.mark.slow  # every test here runs `monitor` as a child process

CONFIG = """
database: sqlite:///state/monitor.db
state_dir: state
rules: [rules/]
rules_reload_interval: 0  # reloads come from SIGHUP only, except where a test watches the folder
default_language: it
sources:
  folders:
    - {path: inbox/, interval: 1s}
channels:
  console: {type: console}
  hook: {type: webhook, url: "${HOOK_URL}"}
  slack: {type: slack, url: "${SLACK_URL}"}
defaults:
  notify: [hook, slack]
delivery: {interval: 0.5s, retry_initial: 0s, retry_max: 1s}
"""

ENGLISH = {
    "title": "Finland's NATO membership",
    "summary": "Helsinki completes its accession",
    "body": "Finland joined NATO on Tuesday, ending decades of neutrality.",
    "url": "https://news.example.org/world/finland-nato?utm_source=rss",
    "language": "en",
    "published": "2023-04-04T10:00:00Z",
}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "monitor.yaml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "rules").mkdir()
    for rule_file in (REPO / "rules").glob("*.yaml"):
        (tmp_path / "rules" / rule_file.name).write_text(
            rule_file.read_text(encoding="utf-8"), encoding="utf-8"
        )
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for seed in SEEDS.iterdir():
        (inbox / seed.name).write_bytes(seed.read_bytes())
    return tmp_path


def monitor(
    workdir: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(workdir / "monitor.yaml"), *args],
        cwd=workdir,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def hits_in_db(workdir: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(workdir / "state" / "monitor.db") as db:
        return sorted(
            db.execute("SELECT h.rule_id, a.title FROM hits h JOIN articles a ON a.id = h.article_id")
        )


def test_run_once_records_hits_and_alerts_each_once(workdir: Path) -> None:
    inbox = workdir / "inbox"
    (inbox / "english.json").write_text(json.dumps(ENGLISH), encoding="utf-8")
    (inbox / "broken.json").write_text("{not json", encoding="utf-8")
    (inbox / "garbage.txt").write_bytes(bytes(range(256)) * 4)
    (workdir / "rules" / "broken.yaml").write_text(
        "rules:\n  - id: x\n    query: '(NATO'\n", encoding="utf-8"
    )
    with WebhookReceiver() as hook, SlackReceiver() as slack:
        env = {"HOOK_URL": hook.url, "SLACK_URL": slack.url}
        first = monitor(workdir, "run", "--once", env=env)
        assert first.returncode == 0, first.stderr
        hits = hits_in_db(workdir)
        rules_hit = {rule for rule, _ in hits}
        assert rules_hit == SHIPPED_RULE_IDS
        assert ("finlandia-nato", ENGLISH["title"]) in hits
        assert len(hook.received) == len(hits) and len(slack.messages) == len(hits)
        assert len({headers["webhook-id"] for headers, _ in hook.received}) == len(hits)
        assert slack.rejections == []
        assert "broken.json" in first.stderr and "garbage.txt" in first.stderr
        assert f"{workdir / 'rules' / 'broken.yaml'}:3" in first.stderr and "never closed" in first.stderr
        assert SECRET_PATH not in first.stderr + first.stdout  # webhook URLs are secrets

        second = monitor(workdir, "run", "--once", env=env)
        assert second.returncode == 0, second.stderr
        assert hits_in_db(workdir) == hits
        assert len(hook.received) == len(hits) and len(slack.messages) == len(hits)
        assert "garbage.txt" not in second.stderr  # a bad file is reported once, not every pass


def single_rule(workdir: Path) -> None:
    for path in (workdir / "rules").glob("*.yaml"):
        path.unlink()
    (workdir / "rules" / "one.yaml").write_text(
        "rules:\n  - id: nato\n    query: NATO\n    notify: [hook]\n", encoding="utf-8"
    )


def test_run_once_webhook_500_then_200_delivers_exactly_once(workdir: Path) -> None:
    single_rule(workdir)
    with WebhookReceiver(statuses=[500]) as hook, SlackReceiver() as slack:
        env = {"HOOK_URL": hook.url, "SLACK_URL": slack.url}
        first = monitor(workdir, "run", "--once", env=env)
        assert first.returncode == 0
        assert "HTTP 500" in first.stderr
        assert monitor(workdir, "run", "--once", env=env).returncode == 0
        # one refused attempt (500), one accepted (200), nothing after: exactly once
        ids = [headers["webhook-id"] for headers, _ in hook.received]
        assert len(ids) == 2 and ids[0] == ids[1]  # the retry carries the same idempotency key
        assert hook.received[1][1]["data"]["rule"]["id"] == "nato"


def test_run_once_receiver_down_delivers_on_next_run(workdir: Path) -> None:
    single_rule(workdir)
    with refused_url() as down:
        result = monitor(workdir, "run", "--once", env={"HOOK_URL": down, "SLACK_URL": down})
    assert result.returncode == 0
    assert "T0SECRET" not in result.stderr and "xoxSECRETTOKEN" not in result.stderr
    with WebhookReceiver() as hook:
        assert (
            monitor(workdir, "run", "--once", env={"HOOK_URL": hook.url, "SLACK_URL": hook.url}).returncode
            == 0
        )
        [(_headers, body)] = hook.received
        assert body["data"]["article"]["title"].startswith("Prima chiamata tra Usa e Russia")
        assert body["data"]["terms"] == ["Nato"]


def drop(inbox: Path, name: str, article: dict[str, str]) -> None:
    """Write then rename into place, as a well-behaved producer does."""
    tmp = inbox / f"{name}.part"
    tmp.write_text(json.dumps(article), encoding="utf-8")
    tmp.rename(inbox / name)


def test_run_daemon_picks_up_new_files_and_stops_on_sigterm(workdir: Path) -> None:
    single_rule(workdir)
    with WebhookReceiver() as hook, SlackReceiver() as slack:
        daemon = RunningDaemon(workdir, {"HOOK_URL": hook.url, "SLACK_URL": slack.url})
        try:
            assert wait_for(lambda: len(hook.received) == 1), f"the seed alert never arrived:\n{daemon.log}"
            new = dict(ENGLISH, title="NATO summit in Vilnius", url="https://news.example.org/vilnius")
            drop(workdir / "inbox", "vilnius.json", new)
            assert wait_for(lambda: len(hook.received) == 2), "a file dropped while running was not picked up"
            assert hook.received[1][1]["data"]["article"]["title"] == "NATO summit in Vilnius"
        finally:
            code = daemon.stop(signal.SIGTERM)
    assert code == 0, daemon.log
    assert "stopped" in daemon.log


def test_run_daemon_matches_a_dropped_file_on_its_filesystem_event_not_the_next_scan(workdir: Path) -> None:
    single_rule(workdir)
    config = workdir / "monitor.yaml"
    config.write_text(
        config.read_text().replace("{path: inbox/, interval: 1s}", "{path: inbox/, interval: 1h}")
    )
    with WebhookReceiver() as hook, SlackReceiver() as slack:
        daemon = RunningDaemon(workdir, {"HOOK_URL": hook.url, "SLACK_URL": slack.url})
        try:
            assert wait_for(lambda: len(hook.received) == 1), f"the seed alert never arrived:\n{daemon.log}"
            new = dict(ENGLISH, title="NATO summit in Vilnius", url="https://news.example.org/vilnius")
            drop(workdir / "inbox", "vilnius.json", new)  # the next scan is an hour away
            assert wait_for(lambda: len(hook.received) == 2, timeout=20), f"not picked up:\n{daemon.log}"
            assert "(watched)" in daemon.log
        finally:
            code = daemon.stop(signal.SIGTERM)
    assert code == 0, daemon.log


def test_run_daemon_killed_between_send_and_mark_resends_with_the_same_key(workdir: Path) -> None:
    """kill -9 while the receiver holds the request: the alert was sent but never marked sent."""
    single_rule(workdir)
    (workdir / "rules" / "one.yaml").write_text(
        "rules:\n  - id: nato\n    query: NATO\n    notify: [hook, slack]\n", encoding="utf-8"
    )
    with WebhookReceiver(delay=5.0) as hook, SlackReceiver() as slack:
        env = {"HOOK_URL": hook.url, "SLACK_URL": slack.url}
        daemon = RunningDaemon(workdir, env)
        try:
            assert wait_for(lambda: len(hook.received) == 1), f"never sent:\n{daemon.log}"
            # Slack answered at once: wait until that is recorded, so only the webhook is in flight
            assert wait_for(lambda: delivery_status(workdir, "slack") == "sent"), daemon.log
        finally:
            daemon.process.kill()  # SIGKILL: no cleanup, no chance to record anything
            daemon.stop()
        hook.delay = 0.0
        restarted = RunningDaemon(workdir, env)
        try:
            assert wait_for(lambda: len(hook.received) == 2), f"not re-sent:\n{restarted.log}"
            time.sleep(2)  # a few delivery rounds: nothing more may arrive
        finally:
            assert restarted.stop() == 0, restarted.log
        keys = [headers["webhook-id"] for headers, _ in hook.received]
        assert len(keys) == 2 and len(set(keys)) == 1  # delivered twice, one alert by its key
        assert len(slack.messages) == 1, restarted.log  # the other channel: once, killed or not


def delivery_status(workdir: Path, channel: str) -> str | None:
    with contextlib.closing(sqlite3.connect(workdir / "state" / "monitor.db", timeout=5)) as db:
        row = db.execute("SELECT status FROM deliveries WHERE channel = ?", (channel,)).fetchone()
    return None if row is None else str(row[0])


def assert_new_rule_fires(workdir: Path, hook: WebhookReceiver, daemon: RunningDaemon) -> None:
    """After a reload that added the rule `vilnius`, a new article alerts for it and for `nato`."""
    drop(workdir / "inbox", "vilnius.json", dict(ENGLISH, title="Summit in Vilnius", url="https://x.org/v"))
    assert wait_for(lambda: len(hook.received) == 3), daemon.log
    fired = sorted(body["data"]["rule"]["id"] for _h, body in hook.received[1:])
    assert fired == ["nato", "vilnius"]


def test_run_daemon_reloads_rules_on_sighup_and_stops_on_sigint(workdir: Path) -> None:
    single_rule(workdir)
    with WebhookReceiver() as hook:
        daemon = RunningDaemon(workdir, {"HOOK_URL": hook.url, "SLACK_URL": hook.url})
        try:
            assert wait_for(lambda: len(hook.received) == 1), daemon.log
            rules = workdir / "rules" / "one.yaml"
            rules.write_text(
                rules.read_text(encoding="utf-8") + "  - id: vilnius\n    query: Vilnius\n"
                "    notify: [hook]\n  - id: broken\n    query: '(x'\n",
                encoding="utf-8",
            )
            daemon.process.send_signal(signal.SIGHUP)
            assert wait_for(lambda: "reload refused" in daemon.log), daemon.log
            assert "never closed" in daemon.log  # the broken rule is named; the running set is kept
            rules.write_text(rules.read_text(encoding="utf-8").replace("'(x'", "'x'"), encoding="utf-8")
            daemon.process.send_signal(signal.SIGHUP)
            assert wait_for(lambda: "reload: 3 rules active (were 1)" in daemon.log), daemon.log
            assert_new_rule_fires(workdir, hook, daemon)
        finally:
            code = daemon.stop(signal.SIGINT)
    assert code == 0, daemon.log


def test_run_daemon_reloads_rules_when_a_rule_file_changes(workdir: Path) -> None:
    single_rule(workdir)
    config = workdir / "monitor.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("rules_reload_interval: 0", "rules_reload_interval: 0.5s"),
        encoding="utf-8",
    )
    with WebhookReceiver() as hook:
        daemon = RunningDaemon(workdir, {"HOOK_URL": hook.url, "SLACK_URL": hook.url})
        try:
            assert wait_for(lambda: len(hook.received) == 1), daemon.log
            (workdir / "rules" / "broken.yaml").write_text(
                "rules:\n  - id: b\n    query: '(x'\n", encoding="utf-8"
            )
            assert wait_for(lambda: "reload refused" in daemon.log), daemon.log
            (workdir / "rules" / "broken.yaml").write_text(
                "rules:\n  - id: vilnius\n    query: Vilnius\n    notify: [hook]\n", encoding="utf-8"
            )
            assert wait_for(lambda: "reload: 2 rules active (were 1)" in daemon.log), daemon.log
            assert "rule files changed: reloading rules" in daemon.log
            assert_new_rule_fires(workdir, hook, daemon)
        finally:
            code = daemon.stop(signal.SIGTERM)
    assert code == 0, daemon.log


def test_run_daemon_reloads_a_saved_rule_file_at_once_without_waiting_for_the_check(workdir: Path) -> None:
    single_rule(workdir)
    config = workdir / "monitor.yaml"
    config.write_text(  # the periodic check would first run an hour from now: only the watcher can reload
        config.read_text(encoding="utf-8").replace("rules_reload_interval: 0", "rules_reload_interval: 1h"),
        encoding="utf-8",
    )
    with WebhookReceiver() as hook:
        daemon = RunningDaemon(workdir, {"HOOK_URL": hook.url, "SLACK_URL": hook.url})
        try:
            assert wait_for(lambda: len(hook.received) == 1), daemon.log
            assert wait_for(lambda: "rule files: watching" in daemon.log), daemon.log
            rules = workdir / "rules" / "one.yaml"
            saving = rules.with_name(".one.yaml.swp")  # as editors save: a temporary file renamed over it
            vilnius = "  - id: vilnius\n    query: Vilnius\n    notify: [hook]\n"
            saving.write_text(rules.read_text(encoding="utf-8") + vilnius, encoding="utf-8")
            os.replace(saving, rules)
            assert wait_for(lambda: "reload: 2 rules active (were 1)" in daemon.log), daemon.log
            assert "reload refused" not in daemon.log
            assert_new_rule_fires(workdir, hook, daemon)
        finally:
            code = daemon.stop(signal.SIGTERM)
    assert code == 0, daemon.log


def test_run_once_invalid_config_exits_3_with_message(workdir: Path) -> None:
    (workdir / "monitor.yaml").write_text(
        "sources:\n  folders:\n    - {path: inbox/, intervall: 1s}\n", encoding="utf-8"
    )
    result = monitor(workdir, "run", "--once")
    assert result.returncode == 3
    assert "monitor.yaml:3: sources.folders.0.intervall: unknown setting" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_once_missing_env_secret_names_the_variable(workdir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("HOOK_URL", "SLACK_URL")}
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(workdir / "monitor.yaml"), "run", "--once"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3
    assert "channels.hook.url: environment variable HOOK_URL (or HOOK_URL_FILE) is not set" in result.stderr


def test_run_once_on_postgresql_records_and_alerts_once(workdir: Path, postgres_url: str) -> None:
    single_rule(workdir)
    with WebhookReceiver() as hook:
        env = {"HOOK_URL": hook.url, "SLACK_URL": hook.url, "MONITOR_DATABASE_URL": postgres_url}
        first = monitor(workdir, "run", "--once", env=env)
        assert first.returncode == 0, first.stderr
        assert monitor(workdir, "run", "--once", env=env).returncode == 0
        assert len(hook.received) == 1
        listed = monitor(workdir, "hits", "--json", env=env)
        [row] = [json.loads(line) for line in listed.stdout.splitlines()]
        assert row["rule"] == "nato" and row["terms"] == ["Nato"]


def test_run_a_second_monitor_on_the_same_sqlite_file_is_refused(workdir: Path) -> None:
    single_rule(workdir)
    with WebhookReceiver() as hook:
        env = {"HOOK_URL": hook.url, "SLACK_URL": hook.url}
        daemon = RunningDaemon(workdir, env)
        try:
            assert wait_for(lambda: len(hook.received) == 1), daemon.log
            second = monitor(workdir, "run", "--once", env=env)
            assert second.returncode == 4  # another monitor holds the outbox
            assert f"another monitor (pid {daemon.process.pid}) is already sending alerts" in second.stderr
            assert "rules loaded" not in second.stderr  # refused before it builds anything
            # a backfill while the daemon runs: recorded here, sent once, by the daemon
            archive = workdir / "archive"
            archive.mkdir()
            (archive / "old.json").write_text(
                json.dumps(dict(ENGLISH, url="https://x.org/old")), encoding="utf-8"
            )
            scan = monitor(workdir, "scan", str(archive), env=env)
            assert scan.returncode == 0, scan.stderr
            assert "a running monitor holds the outbox" in scan.stderr
            assert wait_for(lambda: len(hook.received) == 2), daemon.log
            time.sleep(1.5)  # several dispatcher rounds: nothing is sent twice
            assert len(hook.received) == 2
        finally:
            assert daemon.stop() == 0, daemon.log
    after = monitor(workdir, "run", "--once", env=env)  # the lock went with the daemon
    assert after.returncode == 0, after.stderr


def test_run_sigterm_during_a_long_scan_drains_and_loses_nothing(workdir: Path) -> None:
    single_rule(workdir)
    inbox = workdir / "inbox"
    words = [
        "il",
        "governo",
        "la",
        "Nato",
        "e",
        "la",
        "guerra",
        "tregua",
        "Roma",
        "Mosca",
        "città",
        "parola",
        "testo",
    ]
    for n in range(3000):
        body = " ".join(words[(n + k) % len(words)] for k in range(700))
        (inbox / f"{n:05d}.txt").write_text(f"Notizia {n}\n\n{body}", encoding="utf-8")
    with WebhookReceiver() as hook:
        daemon = RunningDaemon(workdir, {"HOOK_URL": hook.url, "SLACK_URL": hook.url})
        try:
            assert wait_for(lambda: len(hook.received) >= 1, timeout=60), daemon.log  # mid-scan
        finally:
            code = daemon.stop(signal.SIGTERM)
        log = daemon.log
        assert code == 0, log
        assert "the rest next time" in log and "Traceback" not in log and "CancelledError" not in log
        with sqlite3.connect(workdir / "state" / "monitor.db") as db:
            files = db.execute("SELECT count(*) FROM files").fetchone()[0]
            statuses = dict(db.execute("SELECT status, count(*) FROM deliveries GROUP BY status").fetchall())
        assert 0 < files < 3000  # stopped part-way, what was read is recorded
        assert statuses.get("sent", 0) == len(hook.received)
        inbox.rename(workdir / "later")  # the rest of the folder is for another day
        inbox.mkdir()
        assert (
            monitor(workdir, "run", "--once", env={"HOOK_URL": hook.url, "SLACK_URL": hook.url}).returncode
            == 0
        )
        ids = [headers["webhook-id"] for headers, _ in hook.received]
        assert len(ids) == len(set(ids)) == sum(statuses.values()) == files  # every alert once, none twice


def test_run_once_sigterm_ends_the_pass_cleanly(workdir: Path) -> None:
    single_rule(workdir)
    for n in range(3000):
        (workdir / "inbox" / f"{n:05d}.txt").write_text(f"Notizia {n}\n\nLa Nato {n} " * 50, encoding="utf-8")
    with WebhookReceiver() as hook:
        log_path = workdir / "once.log"
        with log_path.open("w", encoding="utf-8") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "monitor", "--config", str(workdir / "monitor.yaml"), "run", "--once"],
                cwd=workdir,
                env={**os.environ, "HOOK_URL": hook.url, "SLACK_URL": hook.url},
                stdout=subprocess.DEVNULL,
                stderr=log_file,
            )
            try:
                assert wait_for(lambda: len(hook.received) >= 1, timeout=60)
                process.send_signal(signal.SIGTERM)
                code = process.wait(timeout=45)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
    log = log_path.read_text(encoding="utf-8")
    assert code == 0, log
    assert "the rest next time" in log and "Traceback" not in log
    with sqlite3.connect(workdir / "state" / "monitor.db") as db:
        assert 0 < db.execute("SELECT count(*) FROM files").fetchone()[0] < 3001

"""Hostile YAML against the real daemon: a bomb is refused by name, the old rules run on, a stop stops.

A nine-level alias bomb once took a running daemon from 1.5 to 8.2 GB, and
SIGTERM could not end it.  Memory is watched through /proc while the daemon
runs: past RSS_LIMIT the test kills it (a bomb catcher, not a measurement).
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.notify.receivers import WebhookReceiver
from tests.ops_support import BASE_CONFIG, RunningDaemon, make_workdir, wait_for
from tests.test_yamlfile import alias_bomb

RSS_LIMIT = 1 << 30  # 1 GiB: the daemon runs in about a third of it
WATCHED_CONFIG = BASE_CONFIG.replace("rules_reload_interval: 0", "rules_reload_interval: 0.5s")
NATO = {"title": "NATO summit in Vilnius", "body": "NATO leaders meet.", "language": "en"}


def rss(pid: int) -> int:
    """Resident memory of a process in bytes (0 once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@contextmanager
def memory_guard(daemon: RunningDaemon) -> Iterator[list[int]]:
    """Samples the daemon's RSS until the block ends; kills it if it passes RSS_LIMIT."""
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1) and daemon.process.poll() is None:
            peak[0] = max(peak[0], rss(daemon.process.pid))
            if peak[0] > RSS_LIMIT:
                daemon.process.kill()
                return

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        done.set()
        thread.join()


def drop(inbox: Path, name: str, article: dict[str, str]) -> None:
    partial = inbox / f"{name}.part"
    partial.write_text(json.dumps(article), encoding="utf-8")
    partial.rename(inbox / name)


def bomb_rule_file() -> str:
    """A rule file whose one rule carries nine levels of aliases (387 million tags once expanded)."""
    lines = alias_bomb(9).splitlines()
    return (
        "concepts:\n"
        + "".join(f"  {line}\n" for line in lines)
        + ("rules:\n  - id: bomb\n    query: NATO\n    tags: *l8\n")
    )


def test_run_daemon_refuses_a_yaml_alias_bomb_keeps_its_rules_and_stops(tmp_path: Path) -> None:
    workdir = make_workdir(tmp_path, WATCHED_CONFIG)
    with WebhookReceiver() as hook:
        daemon = RunningDaemon(workdir, {"HOOK_URL": hook.url})
        with memory_guard(daemon) as peak:
            try:
                assert wait_for(lambda: len(hook.received) == 1, 60), f"no seed alert:\n{daemon.log}"
                bomb = workdir / "rules" / "bomb.yaml"
                bomb.write_text(bomb_rule_file(), encoding="utf-8")
                assert wait_for(lambda: "reload refused" in daemon.log), daemon.log
                assert f"{bomb}:6:12: alias *l3 " in daemon.log  # the file, line and column of the culprit

                drop(workdir / "inbox", "vilnius.json", NATO)  # the rules already running still match
                assert wait_for(lambda: len(hook.received) == 2), daemon.log
                assert hook.received[1][1]["data"]["rule"]["id"] == "nato"

                config = workdir / "monitor.yaml"  # the same bomb in the configuration, on SIGHUP
                config.write_text(WATCHED_CONFIG + alias_bomb(9), encoding="utf-8")
                daemon.process.send_signal(signal.SIGHUP)
                assert wait_for(lambda: "reload: the configuration is invalid" in daemon.log), daemon.log
                assert f"{config}:" in daemon.log.split("reload: the configuration is invalid", 1)[1]
                bomb.unlink()
                drop(workdir / "inbox", "again.json", dict(NATO, title="NATO again"))
                assert wait_for(lambda: len(hook.received) == 3), daemon.log
            finally:
                code = daemon.stop(signal.SIGTERM)
    assert peak[0] <= RSS_LIMIT, f"the daemon reached {peak[0] >> 20} MiB"
    assert code == 0, daemon.log
    assert "stopped" in daemon.log


def large_rule_file(path: Path, budget: int) -> int:
    """Rules filling ``budget`` bytes (just under the size limit): a reload of tens of seconds."""
    partial = path.with_name(f".{path.name}.part")
    rules = 0
    with partial.open("w", encoding="utf-8") as out:
        out.write("rules:\n")
        written = 7
        while True:
            rule = f"  - id: rule-{rules:06d}\n    query: '\"parola {rules}\" OR termine{rules}'\n"
            if written + len(rule) > budget:
                break
            out.write(rule)
            written += len(rule)
            rules += 1
    partial.rename(path)
    return rules


def test_run_daemon_stops_at_once_on_sigterm_during_a_long_rule_reload(tmp_path: Path) -> None:
    from monitor.yamlfile import MAX_YAML_BYTES

    workdir = make_workdir(tmp_path, WATCHED_CONFIG)
    with WebhookReceiver() as hook:
        daemon = RunningDaemon(workdir, {"HOOK_URL": hook.url})
        try:
            assert wait_for(lambda: len(hook.received) == 1, 60), f"no seed alert:\n{daemon.log}"
            rules = large_rule_file(workdir / "rules" / "many.yaml", MAX_YAML_BYTES - 1024)
            assert rules > 40_000
            assert wait_for(lambda: "rule files changed: reloading rules" in daemon.log), daemon.log
        finally:
            code = daemon.stop(signal.SIGTERM, timeout=45)  # the reload alone takes longer than this
    assert code == 0, daemon.log
    assert "rule reload in progress abandoned" in daemon.log
    assert "rules active" not in daemon.log  # it was left behind, not waited for
    assert daemon.log.rstrip().endswith("stopped")


@pytest.mark.parametrize("where", ["rules/huge.yaml", "monitor.yaml"])
def test_run_daemon_refuses_a_yaml_file_over_the_size_limit_by_name(tmp_path: Path, where: str) -> None:
    from monitor.yamlfile import MAX_YAML_BYTES

    workdir = make_workdir(tmp_path, WATCHED_CONFIG)
    with WebhookReceiver() as hook:
        daemon = RunningDaemon(workdir, {"HOOK_URL": hook.url})
        try:
            assert wait_for(lambda: len(hook.received) == 1, 60), f"no seed alert:\n{daemon.log}"
            huge = workdir / where
            filler = "# " + "x" * 1022 + "\n"
            huge.write_text(
                (WATCHED_CONFIG if where == "monitor.yaml" else "") + filler * (MAX_YAML_BYTES // 1024 + 1),
                encoding="utf-8",
            )
            if where == "monitor.yaml":
                daemon.process.send_signal(signal.SIGHUP)
            assert wait_for(lambda: f"{huge}: larger than" in daemon.log), daemon.log
            drop(workdir / "inbox", "vilnius.json", NATO)
            assert wait_for(lambda: len(hook.received) == 2), daemon.log
        finally:
            code = daemon.stop(signal.SIGTERM)
    assert code == 0, daemon.log

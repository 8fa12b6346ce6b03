"""A rule reload runs beside the daemon's work: articles go on matching the running rules meanwhile."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from monitor.yamlfile import MAX_YAML_BYTES
from tests.notify.receivers import WebhookReceiver
from tests.ops_support import RunningDaemon, make_workdir, wait_for
from tests.test_daemon_yaml_limits import NATO, WATCHED_CONFIG, drop, large_rule_file

pytestmark = pytest.mark.slow  # runs `monitor` as a child process


def test_run_daemon_matches_articles_with_the_running_rules_during_a_long_reload(tmp_path: Path) -> None:
    workdir = make_workdir(tmp_path, WATCHED_CONFIG)
    with WebhookReceiver() as hook:
        daemon = RunningDaemon(workdir, {"HOOK_URL": hook.url})
        try:
            assert wait_for(lambda: len(hook.received) == 1, 60), f"no seed alert:\n{daemon.log}"
            # a new file of 16,000 rules: parsed, checked and indexed, seconds of work on its thread
            added = large_rule_file(workdir / "rules" / "many.yaml", MAX_YAML_BYTES // 4)
            assert wait_for(lambda: "rule files changed: reloading rules" in daemon.log), daemon.log
            drop(workdir / "inbox", "during.json", NATO)
            assert wait_for(lambda: len(hook.received) == 2), daemon.log
            log_at_alert = daemon.log
            assert hook.received[1][1]["data"]["rule"]["id"] == "nato"
            assert "rules active" not in log_at_alert  # matched while the reload still ran

            reloaded = f"reload: {added + 1} rules active (were 1)"
            assert wait_for(lambda: reloaded in daemon.log, timeout=300), daemon.log  # slow on a busy machine
            drop(workdir / "inbox", "after.json", dict(NATO, title="Termine7 in Vilnius", body="termine7"))
            assert wait_for(lambda: len(hook.received) == 3), daemon.log
            assert hook.received[2][1]["data"]["rule"]["id"] == "rule-000007"
        finally:
            code = daemon.stop(signal.SIGTERM)
    assert code == 0, daemon.log

"""`monitor deliveries`: the outbox made visible, and dead alerts sent again with the same key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from tests.notify.receivers import WebhookReceiver

CONFIG = """
database: sqlite:///{tmp}/monitor.db
rules: [{tmp}/rules.yaml]
sources: {{folders: [{{path: {tmp}/inbox}}]}}
channels:
  hook: {{type: webhook, url: "{url}"}}
delivery: {{max_attempts: 1, retry_initial: 0s}}
"""


def invoke(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--config", str(config), *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def write_config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "monitor.yaml"
    config.write_text(CONFIG.format(tmp=tmp_path, url=url), encoding="utf-8")
    return config


@pytest.mark.slow
def test_deliveries_failed_lists_dead_alerts_and_retry_sends_them_once_with_the_same_key(
    tmp_path: Path,
) -> None:
    (tmp_path / "rules.yaml").write_text("rules:\n  - id: nato\n    query: NATO\n", encoding="utf-8")
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "a.txt").write_text("Vertice NATO\n\nLa NATO si riunisce.", encoding="utf-8")
    with WebhookReceiver([404]) as hook:
        config = write_config(tmp_path, hook.url)
        code, _, _ = invoke(config, "run", "--once")
        assert code == 0 and len(hook.received) == 1  # answered 404: permanent, dead at once
        code, out, _ = invoke(config, "deliveries", "--failed", "--json")
        [dead] = [json.loads(line) for line in out.splitlines()]
        assert code == 0 and (dead["status"], dead["channel"], dead["rule"]) == ("dead", "hook", "nato")
        assert "404" in dead["last_error"]

        code, _, err = invoke(config, "deliveries", "retry", "--all-failed")
        assert code == 0 and err.startswith("1 delivery(ies) queued again")
        invoke(config, "run", "--once")
        assert len(hook.received) == 2
        assert hook.received[1][0]["webhook-id"] == hook.received[0][0]["webhook-id"] == dead["key"]
        code, out, _ = invoke(config, "deliveries", "--sent", "--json")
        assert [json.loads(line)["id"] for line in out.splitlines()] == [dead["id"]]

        code, _, err = invoke(config, "deliveries", "retry", str(dead["id"]))  # sent: never twice
        assert code == 1 and err.startswith("0 delivery(ies)")
        assert f"not queued: {dead['id']}: already sent" in err
        invoke(config, "run", "--once")
        assert len(hook.received) == 2


def test_deliveries_retry_without_ids_says_what_to_pass(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/hook")
    code, _, err = invoke(config, "deliveries", "retry")
    assert code == 2 and "--all-failed" in err


def test_deliveries_retry_names_unknown_ids_and_exits_1(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/hook")
    assert invoke(config, "db", "upgrade")[0] == 0
    code, _, err = invoke(config, "deliveries", "retry", "4242", "4243")
    assert code == 1
    assert err.startswith("0 delivery(ies) queued again")
    assert "not queued: 4242: no such delivery" in err and "not queued: 4243: no such delivery" in err

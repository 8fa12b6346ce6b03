"""`monitor notify test CHANNEL`: a sample through the real channel, and the receiver's true answer."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from monitor.cli import main
from monitor.notify.sample import SAMPLE_KEY_PREFIX
from tests.notify.receivers import SlackReceiver, WebhookReceiver, refused_url

CONFIG = """
database: sqlite:///{tmp}/monitor.db
rules: [{tmp}/rules.yaml]
channels:
  hook: {{type: webhook, url: "{hook}"}}
  slack: {{type: slack, url: "{slack}"}}
  console: {{type: console}}
"""


def invoke(tmp_path: Path, hook: str, slack: str, *args: str) -> tuple[int, str, str]:
    config = tmp_path / "monitor.yaml"
    config.write_text(CONFIG.format(tmp=tmp_path, hook=hook, slack=slack), encoding="utf-8")
    (tmp_path / "rules.yaml").write_text("rules:\n  - id: nato\n    query: NATO\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "notify", "test", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_notify_test_sends_one_sample_per_channel_and_exits_0(tmp_path: Path) -> None:
    with WebhookReceiver() as hook, SlackReceiver() as slack:
        code, out, err = invoke(tmp_path, hook.url, slack.url, "hook", "slack", "hook")
        assert code == 0, err
        assert "hook: sent" in out and "slack: sent" in out
        [(headers, body)] = hook.received  # named twice, tested once
        assert headers["webhook-id"].startswith(SAMPLE_KEY_PREFIX)
        assert body["data"]["rule"]["id"] == "test-news-monitor"
        assert len(slack.messages) == 1 and "cessate il fuoco" in slack.messages[0]["text"]
        assert hook.url not in out + err and slack.url not in out + err  # URLs are secrets


def test_notify_test_a_404_is_a_failure_with_the_receivers_answer(tmp_path: Path) -> None:
    with WebhookReceiver([404]) as hook, SlackReceiver() as slack:
        code, out, err = invoke(tmp_path, hook.url, slack.url, "hook")
        assert code == 1 and out == ""
        assert "hook: failed" in err and "404" in err and "sent" not in err


def test_notify_test_slack_error_code_under_200_is_a_failure(tmp_path: Path) -> None:
    with WebhookReceiver() as hook, SlackReceiver() as slack:
        slack.fail(1, status=200, body="channel_is_archived")
        code, _, err = invoke(tmp_path, hook.url, slack.url, "slack")
        assert code == 1 and "channel_is_archived" in err


def test_notify_test_receiver_down_says_it_may_pass(tmp_path: Path) -> None:
    with refused_url() as down:
        code, _, err = invoke(tmp_path, down, down, "console", "hook")
        assert code == 1
        assert "hook: failed, may pass" in err and down not in err


def test_notify_test_unknown_channel_is_named_with_the_configured_ones(tmp_path: Path) -> None:
    with refused_url() as down:
        code, _, err = invoke(tmp_path, down, down, "slak")
        assert code == 3
        assert "'slak'" in err and "hook, slack, console" in err

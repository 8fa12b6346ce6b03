"""Log shapes (human, JSON lines, journald) and the promise that no secret reaches a log line."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.config import load_settings, secret_values
from monitor.logs import (
    HumanFormatter,
    JournalFormatter,
    JsonFormatter,
    configure_logging,
    pick_format,
    redact,
    remember_secrets,
)
from tests.notify.receivers import WebhookReceiver, refused_url
from tests.ops_support import WORKDIR_CONFIG, make_workdir


def record(message: str, *args: object, level: int = logging.INFO, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError("boom at https://hooks.example.org/T0SECRET")
        except RuntimeError:
            exc_info = sys.exc_info()
    return logging.LogRecord("monitor.service.daemon", level, __file__, 1, message, args, exc_info)


def test_human_formatter_has_time_level_and_logger() -> None:
    line = HumanFormatter().format(record("feed=%s failed", "Esteri", level=logging.WARNING))
    assert line.endswith("WARNING monitor.service.daemon: feed=Esteri failed")
    assert line[:4].isdigit()  # a timestamp first


def test_journal_formatter_prefixes_every_line_with_its_priority_and_no_time() -> None:
    formatter = JournalFormatter()
    assert formatter.format(record("x", level=logging.ERROR)) == "<3>monitor.service.daemon: x"
    assert formatter.format(record("x", level=logging.WARNING)) == "<4>monitor.service.daemon: x"
    assert formatter.format(record("x", level=logging.INFO)) == "<6>monitor.service.daemon: x"
    assert formatter.format(record("x", level=logging.DEBUG)) == "<7>monitor.service.daemon: x"
    lines = formatter.format(record("failed", level=logging.ERROR, exc=True)).splitlines()
    assert len(lines) > 3 and all(line.startswith("<3>") for line in lines)  # the traceback too


def test_json_formatter_one_object_per_line_with_exception() -> None:
    line = JsonFormatter().format(record("hit rule=%s", "nato", level=logging.ERROR, exc=True))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["logger"] == "monitor.service.daemon"
    assert entry["message"] == "hit rule=nato"
    assert "RuntimeError: boom" in entry["exc"]
    assert entry["ts"].endswith("+00:00")


@pytest.mark.parametrize("formatter", [HumanFormatter, JournalFormatter, JsonFormatter])
def test_formatters_mask_secrets_in_message_and_traceback(formatter: type[logging.Formatter]) -> None:
    fmt = formatter(secrets=["T0SECRET", "tok"])  # type: ignore[call-arg]
    line = fmt.format(record("posting to %s", "https://hooks.example.org/T0SECRET/x", exc=True))
    assert "T0SECRET" not in line and "***" in line
    assert "tok" in fmt.format(record("token"))  # too short to be a secret: words stay intact
    if formatter is JsonFormatter:
        json.loads(line)


def test_redact_masks_the_longest_secret_first() -> None:
    assert redact("url=https://h/a/b/c", ["/a/b/c", "https://h/a/b/c"]) == "url=***"


def test_secret_values_finds_urls_tokens_and_their_secret_parts(tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text(
        "database: postgresql://u:dbPassw0rd@db/monitor\n"
        "channels:\n"
        "  hook: {type: webhook, url: 'https://u:pw123456@siem.example.org/in/abcdef?key=qwerty12',"
        " headers: {Authorization: 'Bearer s3cr3t-t0ken'}}\n"
        "  mail: {type: email, host: smtp.example.org, from: a@example.org, to: b@example.org,"
        " password: 'mail-pa55word'}\n",
        encoding="utf-8",
    )
    secrets = set(secret_values(load_settings(str(config), env={})))
    assert {
        "Bearer s3cr3t-t0ken",
        "mail-pa55word",
        "dbPassw0rd",
        "pw123456",
        "/in/abcdef",
        "key=qwerty12",
    } <= secrets


def test_pick_format_journal_only_when_journal_stream_is_our_stderr(tmp_path: Path) -> None:
    with (tmp_path / "a").open("w") as ours, (tmp_path / "b").open("w") as other:
        stat = os.fstat(ours.fileno())
        assert pick_format("auto", (stat.st_dev, stat.st_ino), ours) == "journal"
        assert pick_format("auto", (stat.st_dev, stat.st_ino), other) == "human"  # inherited, not ours
        assert pick_format("auto", None, ours) == "human"
        assert pick_format("json", (stat.st_dev, stat.st_ino), ours) == "json"


def test_configure_logging_installs_the_chosen_formatter() -> None:
    stream = io.StringIO()
    try:
        assert configure_logging("INFO", "json", secrets=["hunter2-secret"], stream=stream) == "json"
        logging.getLogger("monitor.test").info("password is %s", "hunter2-secret")
        logging.getLogger("httpx").info("quiet: below WARNING")
    finally:
        logging.basicConfig(force=True, handlers=[logging.NullHandler()])
    [line] = stream.getvalue().splitlines()
    assert json.loads(line)["message"] == "password is ***"


def test_remember_secrets_masks_a_reloaded_channels_secrets_and_still_the_old_ones() -> None:
    stream = io.StringIO()
    try:
        configure_logging("INFO", "human", secrets=["old-s3cret-token"], stream=stream)
        remember_secrets(["https://hooks.example.org/services/T9NEWSECRET/new-hook-t0ken"])
        log = logging.getLogger("monitor.test")
        log.info("echo: no hook new-hook-t0ken at /services/T9NEWSECRET (old-s3cret-token)")
    finally:
        logging.basicConfig(force=True, handlers=[logging.NullHandler()])
    line = stream.getvalue()
    assert "echo: no hook *** at /services/*** (***)" in line, line


# -- the real daemon: no secret in any line, in any format ---------------------------------------
SECRET_CONFIG = (
    WORKDIR_CONFIG
    + """sources:
  folders:
    - {path: inbox/, interval: 1s}
  feeds:
    - {url: "${FEED_URL}", name: broken-feed, interval: 1s}
channels:
  hook:
    type: webhook
    url: "${HOOK_URL}"
    headers: {Authorization: "Bearer ${API_TOKEN}"}
    secret: "${SIGNING_SECRET}"
  dead: {type: webhook, url: "${DEAD_URL}"}
  slack: {type: slack, url: "${SLACK_URL}"}
  mail:
    type: email
    host: 127.0.0.1
    port: ${SMTP_PORT}
    security: none
    allow_insecure: true
    username: monitor
    password: "${SMTP_PASSWORD}"
    from: monitor@example.org
    to: desk@example.org
  apprise: {type: apprise, urls: "${APPRISE_URL}"}
defaults:
  notify: [hook, dead, slack, mail, apprise]
delivery: {interval: 0.5s, retry_initial: 0s, retry_max: 1s, max_attempts: 2}
server: {enabled: true, port: 0}
"""
)
API_TOKEN = "tok-9f8e7d6c5b4a"
SIGNING_SECRET = "whsec_" + "c2VjcmV0LXNpZ25pbmcta2V5LTEyMzQ1Njc4"
SMTP_PASSWORD = "smtp-Pa55w0rd-xyz"
APPRISE_TOKEN = "appriseTOKEN123"


@pytest.mark.slow
@pytest.mark.parametrize("log_format", ["human", "json", "journal"])
def test_daemon_logs_no_secret_in_any_line(tmp_path: Path, log_format: str) -> None:
    workdir = make_workdir(tmp_path, SECRET_CONFIG)
    (workdir / "rules" / "bad.yaml").write_text("rules:\n  - id: bad\n    query: '(x'\n", encoding="utf-8")
    with (
        refused_url() as down,
        refused_url("/feed.xml?token=feedtok") as feed,
        refused_url(f"/{APPRISE_TOKEN}") as apprise_down,
        WebhookReceiver(statuses=[404] * 10) as dead,
    ):
        dead.path = "/hooks/deadSECRETPATH"
        smtp_port = down.split(":")[2].split("/")[0]
        env = {
            "HOOK_URL": down,
            "SLACK_URL": down.replace("T0SECRET", "T1SECRET"),
            "DEAD_URL": dead.url,
            "API_TOKEN": API_TOKEN,
            "SIGNING_SECRET": SIGNING_SECRET,
            "SMTP_PORT": smtp_port,
            "SMTP_PASSWORD": SMTP_PASSWORD,
            "APPRISE_URL": apprise_down.replace("http://", "json://"),
            "FEED_URL": feed,
        }
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "monitor",
                "--config",
                str(workdir / "monitor.yaml"),
                "--log-level",
                "DEBUG",
                "--log-format",
                log_format,
                "run",
                "--once",
            ],
            cwd=workdir,
            env={**{k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}, **env},
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = (result.stdout + result.stderr).splitlines()
    failures = [line for line in lines if "attempt 1 failed" in line or " dead" in line]
    channels = {
        name
        for name in ("hook", "slack", "mail", "apprise", "dead")
        if any(f"channel={name} " in line for line in failures)
    }
    assert channels == {"hook", "slack", "mail", "apprise", "dead"}, "\n".join(lines[-40:])
    assert any("never closed" in line for line in lines)  # the broken rule was logged too
    secrets = [
        "T0SECRET",
        "B0SECRET",
        "xoxSECRETTOKEN",
        "T1SECRET",
        "deadSECRETPATH",
        API_TOKEN,
        SIGNING_SECRET,
        SIGNING_SECRET.removeprefix("whsec_"),
        SMTP_PASSWORD,
        APPRISE_TOKEN,
    ]
    leaks = [(secret, line) for line in lines for secret in secrets if secret in line]
    assert leaks == [], leaks[:5]
    logged = result.stderr.splitlines()
    if log_format == "json":
        assert all(json.loads(line)["level"] for line in logged)
    elif log_format == "journal":
        assert all(line[:3] in ("<7>", "<6>", "<4>", "<3>", "<2>") for line in logged), logged[:5]

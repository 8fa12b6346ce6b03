"""A receiver that echoes what it was sent (path, query, Authorization) must not leak it anywhere.

End to end: the real `monitor` process, a real local receiver answering 404 with
our secrets quoted back in its body, then the stored error, the log, `monitor
deliveries` (text and JSON) and `monitor notify test` are searched for every
piece of every secret.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from tests.notify.receivers import Reply, Request, WebhookReceiver
from tests.ops_support import WORKDIR_CONFIG, make_workdir

TOKEN_SEGMENT = "xoxPATHt0ken9876"
QUERY_KEY = "qk-5e4d3c2b1a"
API_TOKEN = "tok-9f8e7d6c5b4a"
CONFIG = (
    WORKDIR_CONFIG
    + """sources:
  folders:
    - {path: inbox/, interval: 1s}
channels:
  hook:
    type: webhook
    url: "${HOOK_URL}"
    headers: {Authorization: "Bearer ${API_TOKEN}"}
defaults:
  notify: [hook]
delivery: {interval: 0.5s, retry_initial: 0s, retry_max: 1s, max_attempts: 2}
"""
)
SECRETS = (TOKEN_SEGMENT, QUERY_KEY, API_TOKEN, "T0SECRET")


class EchoReceiver(WebhookReceiver):
    """Answers 404 quoting, in every way a careless server does, what it was sent."""

    def answer(self, request: Request) -> Reply:
        parts = urlsplit(request.path)
        segment = parts.path.rsplit("/", 1)[-1]
        key = parts.query.partition("key=")[2]
        authorization = request.headers.get("authorization", "")
        token = authorization.partition(" ")[2]
        body = (
            f"404 no hook at {request.path} (hook {segment}, key {key}); "
            f"you sent Authorization: {authorization}; token {token} unknown"
        )
        return Reply(404, body)


def monitor(workdir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    return subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(workdir / "monitor.yaml"), *args],
        cwd=workdir,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret.casefold() in text.casefold()]


def test_secrets_echoed_by_a_receiver_reach_no_stored_error_log_or_cli_output(tmp_path: Path) -> None:
    workdir = make_workdir(tmp_path, CONFIG)
    with EchoReceiver() as hook:
        hook.path = f"/services/T0SECRET/{TOKEN_SEGMENT}?key={QUERY_KEY}"
        env = {"HOOK_URL": hook.url, "API_TOKEN": API_TOKEN}
        run = monitor(workdir, env, "run", "--once")
        assert run.returncode == 0, run.stderr[-3000:]
        # the receiver did quote every secret back: the test is not vacuous
        echoed = hook.answer(hook.requests[0]).body
        assert all(secret in echoed for secret in SECRETS)

        with sqlite3.connect(workdir / "state" / "monitor.db") as db:
            stored = [row[0] for row in db.execute("SELECT last_error FROM deliveries")]
        assert stored and all("HTTP 404" in error for error in stored), stored
        assert [leaks(error) for error in stored] == [[] for _ in stored], stored
        assert "HTTP 404" in run.stderr and leaks(run.stderr + run.stdout) == [], run.stderr[-2000:]

        listing = monitor(workdir, env, "deliveries")
        as_json = monitor(workdir, env, "deliveries", "--json")
        assert "dead" in listing.stdout and '"last_error"' in as_json.stdout
        assert leaks(listing.stdout + listing.stderr + as_json.stdout + as_json.stderr) == []

        tried = monitor(workdir, env, "notify", "test", "hook")
        assert tried.returncode == 1 and "HTTP 404" in tried.stderr
        assert leaks(tried.stdout + tried.stderr) == [], tried.stderr


def test_deliveries_masks_secrets_in_errors_stored_before_masking_existed(tmp_path: Path) -> None:
    workdir = make_workdir(tmp_path, CONFIG)
    with EchoReceiver() as hook:
        hook.path = f"/services/T0SECRET/{TOKEN_SEGMENT}?key={QUERY_KEY}"
        env = {"HOOK_URL": hook.url, "API_TOKEN": API_TOKEN}
        assert monitor(workdir, env, "run", "--once").returncode == 0
    with sqlite3.connect(workdir / "state" / "monitor.db") as db:  # as an older version stored it
        db.execute("UPDATE deliveries SET last_error = ?", (f"HTTP 404: {hook.path}, Bearer {API_TOKEN}",))
    listing = monitor(workdir, env, "deliveries")
    as_json = monitor(workdir, env, "deliveries", "--json")
    assert "HTTP 404: ***" in listing.stdout and "HTTP 404: ***" in as_json.stdout, listing.stdout
    assert leaks(listing.stdout + as_json.stdout) == []

"""Receivers that misbehave, end to end through the outbox: every alert arrives, once by its key."""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from tests.notify.receivers import Reply, Request, WebhookReceiver

CONFIG = """
database: sqlite:///{tmp}/monitor.db
rules: [{tmp}/rules.yaml]
sources: {{folders: [{{path: {tmp}/inbox}}]}}
channels:
  hook: {{type: webhook, url: "{url}", timeout: 0.5s}}
delivery: {{retry_initial: 0s, max_attempts: 5}}
"""


def run(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--config", str(config), *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def setup(tmp_path: Path, url: str) -> Path:
    (tmp_path / "rules.yaml").write_text("rules:\n  - id: nato\n    query: NATO\n", encoding="utf-8")
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "a.txt").write_text("Vertice NATO\n\nLa NATO si riunisce.", encoding="utf-8")
    config = tmp_path / "monitor.yaml"
    config.write_text(CONFIG.format(tmp=tmp_path, url=url), encoding="utf-8")
    return config


def statuses(config: Path) -> list[str]:
    _, out, _ = run(config, "deliveries", "--json")
    return [json.loads(line)["status"] for line in out.splitlines()]


def test_delivery_429_with_retry_after_is_not_retried_sooner_then_arrives_once(tmp_path: Path) -> None:
    with WebhookReceiver() as hook:
        hook.script(Reply(429, "slow down", (("Retry-After", "4"),)))
        config = setup(tmp_path, hook.url)
        code, _, err = run(config, "run", "--once")
        assert code == 0 and "HTTP 429" in err and statuses(config) == ["pending"]
        for _ in range(20):  # retry_initial is 0s: only the receiver's Retry-After holds it back
            run(config, "run", "--once")
            if statuses(config) == ["sent"]:
                break
            time.sleep(0.5)
        first, second = hook.requests
        assert second.received_at - first.received_at >= 4.0
        assert first.headers["webhook-id"] == second.headers["webhook-id"]
        assert statuses(config) == ["sent"]


def test_delivery_slow_receiver_times_out_then_arrives_with_the_same_key(tmp_path: Path) -> None:
    with WebhookReceiver(delay=2.0) as hook:  # longer than the channel's 0.5 s timeout
        config = setup(tmp_path, hook.url)
        code, _, err = run(config, "run", "--once")
        assert code == 0 and "no answer within the timeout" in err and statuses(config) == ["pending"]
        hook.delay = 0.0
        run(config, "run", "--once")
        keys = [headers["webhook-id"] for headers, _ in hook.received]
        # the slow attempts (the run retries at once: retry_initial 0s) reached the receiver:
        # repeats, recognisable by their key
        assert len(keys) >= 2 and len(set(keys)) == 1 and statuses(config) == ["sent"]
        run(config, "run", "--once")
        assert len(hook.received) == len(keys)  # sent: never again


@pytest.mark.slow
def test_delivery_receiver_failing_every_time_ends_dead_after_max_attempts(tmp_path: Path) -> None:
    with WebhookReceiver([503] * 10) as hook:
        config = setup(tmp_path, hook.url)
        for _ in range(6):
            run(config, "run", "--once")
        assert len(hook.received) == 5 and statuses(config) == ["dead"]
        code, out, _ = run(config, "deliveries", "--failed")
        assert code == 0 and "503" in out


class DrippingReceiver:
    """Answers ``200`` and then one byte of its body every ``pace`` seconds: no read timeout ever trips."""

    def __init__(self, pace: float = 0.2) -> None:
        self.pace = pace
        self.requests = 0
        self._stop = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.getsockname()[1]}/hook"

    def _serve(self) -> None:
        self._server.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            self.requests += 1
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n")
            while not self._stop.wait(self.pace):
                try:
                    conn.sendall(b".")
                except OSError:
                    return

    def __enter__(self) -> DrippingReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._server.close()


def test_delivery_receiver_dripping_its_answer_is_cut_off_by_send_timeout_and_retried(
    tmp_path: Path,
) -> None:
    with DrippingReceiver() as hook:
        config = setup(tmp_path, hook.url)
        text = config.read_text(encoding="utf-8").replace(
            "delivery: {retry_initial: 0s, max_attempts: 5}",
            "delivery: {retry_initial: 1h, max_attempts: 5, send_timeout: 2s}",
        )
        config.write_text(text, encoding="utf-8")
        code, _, err = run(config, "run", "--once")
        assert code == 0 and "no complete answer within 2s" in err
        assert hook.requests == 1 and statuses(config) == ["pending"]  # retried later, with backoff
        _, out, _ = run(config, "deliveries", "--pending", "--json")
        [pending] = [json.loads(line) for line in out.splitlines()]
        assert pending["attempts"] == 1 and "no complete answer" in pending["last_error"]


class ThrottlingReceiver(WebhookReceiver):
    """A receiver whose quota is spent: for ``pause`` seconds after the first request it answers
    ``429`` with the ``Retry-After`` left, to every request; then ``200``."""

    def __init__(self, pause: float) -> None:
        super().__init__()
        self.pause = pause
        self.until: float | None = None
        self.refused: list[Request] = []

    def answer(self, request: Request) -> Reply:
        with self._lock:
            if self.until is None:
                self.until = request.received_at + self.pause
            left = self.until - request.received_at
            if left > 0:
                self.refused.append(request)
                return Reply(429, "quota exceeded", (("Retry-After", str(math.ceil(left))),))
        return Reply(200, "accepted")


def test_delivery_429_pauses_the_whole_webhook_channel_then_every_alert_goes_once(tmp_path: Path) -> None:
    """30 alerts for a receiver over its quota: one request is refused, not 30; all go after the pause."""
    with ThrottlingReceiver(pause=6.0) as hook:
        config = setup(tmp_path, hook.url)
        for n in range(1, 30):
            (tmp_path / "inbox" / f"{n}.txt").write_text(f"NATO {n}\n\nLa NATO, notizia {n}.", "utf-8")
        run(config, "run", "--once")
        assert len(hook.requests) == 1 and len(hook.refused) == 1
        _, out, _ = run(config, "deliveries", "--json")
        waiting = [json.loads(line) for line in out.splitlines()]
        assert len(waiting) == 30 and {row["status"] for row in waiting} == {"pending"}
        assert sorted(row["attempts"] for row in waiting) == [0] * 29 + [1]  # a pause is not an attempt
        for _ in range(40):  # retry_initial is 0s: only the receiver's pause holds the alerts back
            run(config, "run", "--once")
            if set(statuses(config)) == {"sent"}:
                break
            time.sleep(0.5)
        assert len(hook.refused) == 1
        assert hook.until is not None
        accepted = [r for r in hook.requests if all(r is not x for x in hook.refused)]
        assert len(accepted) == 30 and min(r.received_at for r in accepted) >= hook.until
        assert len({r.headers["webhook-id"] for r in accepted}) == 30  # each alert once
        assert statuses(config) == ["sent"] * 30

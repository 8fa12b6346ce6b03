"""A real `monitor run` child process for the operations tests: its endpoint, its logs."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import REPO, SEEDS

# What every daemon test's configuration starts with: a working directory of its own.
WORKDIR_CONFIG = """
database: sqlite:///state/monitor.db
state_dir: state
rules: [rules/]
rules_reload_interval: 0
default_language: it
"""
BASE_CONFIG = (
    WORKDIR_CONFIG
    + """sources:
  folders:
    - {path: inbox/, interval: 1s}
channels:
  hook: {type: webhook, url: "${HOOK_URL}"}
defaults:
  notify: [hook]
delivery: {interval: 0.5s, retry_initial: 0s, retry_max: 1s}
server: {enabled: true, port: 0}
"""
)
ONE_RULE = "rules:\n  - id: nato\n    query: NATO\n"


def make_workdir(tmp_path: Path, config: str = BASE_CONFIG, rules: str | None = ONE_RULE) -> Path:
    """A config, a rule folder (one rule, or the shipped rules if ``rules`` is None) and the seed inbox."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "monitor.yaml").write_text(config, encoding="utf-8")
    (tmp_path / "rules").mkdir()
    if rules is None:
        for rule_file in (REPO / "rules").glob("*.yaml"):
            shutil.copy(rule_file, tmp_path / "rules" / rule_file.name)
    elif rules:
        (tmp_path / "rules" / "one.yaml").write_text(rules, encoding="utf-8")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for seed in SEEDS.iterdir():
        shutil.copy(seed, inbox / seed.name)
    return tmp_path


def wait_for(condition: Callable[[], bool], timeout: float = 90.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


class RunningDaemon:
    """`monitor [options] run` as a child process, its log (stderr) in a file: a full pipe would block it."""

    def __init__(
        self,
        workdir: Path,
        env: dict[str, str],
        *options: str,
        log_name: str = "daemon.log",
        stdout_name: str | None = None,
    ) -> None:
        self.workdir = workdir
        self.log_path = workdir / log_name
        self._files = [self.log_path.open("w", encoding="utf-8")]
        stdout: Any = subprocess.DEVNULL
        if stdout_name is not None:
            self.stdout_path = workdir / stdout_name
            stdout = self.stdout_path.open("w", encoding="utf-8")
            self._files.append(stdout)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(workdir / "monitor.yaml"), *options, "run"],
            cwd=workdir,
            env=self.environment(env),
            stdout=stdout,
            stderr=self._files[0],
            text=True,
        )

    def environment(self, env: dict[str, str]) -> dict[str, str]:
        return {**os.environ, **env}

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 45) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            for file in self._files:
                file.close()


class Daemon(RunningDaemon):
    """A daemon for the operations tests: stdout kept too, and none of the caller's service variables."""

    def __init__(self, workdir: Path, env: dict[str, str], *options: str) -> None:
        self._port: int | None = None
        super().__init__(workdir, env, *options, log_name="daemon.err", stdout_name="daemon.out")

    def environment(self, env: dict[str, str]) -> dict[str, str]:
        clean = {
            k: v for k, v in os.environ.items() if not k.startswith(("MONITOR_", "NOTIFY_", "WATCHDOG_"))
        }
        clean.pop("JOURNAL_STREAM", None)
        return {**clean, **env}

    @property
    def output(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8")

    @property
    def port(self) -> int:
        """The endpoint's port, read from the start-up line (the config asks for any free port)."""
        if self._port is None:
            pattern = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")
            assert wait_for(lambda: bool(pattern.search(self.log)) or self.process.poll() is not None, 60)
            found = pattern.search(self.log)
            assert found, f"the endpoint never started:\n{self.log}"
            self._port = int(found[1])
        return self._port

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=10)


class TcpProxy:
    """A TCP forwarder to ``upstream`` on a fixed local port: cut it to make a server vanish
    (every connection closed, nothing listening), start it again to bring the server back."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
                server = socket.create_connection(self.upstream)
            except OSError:
                return
            with self._lock:
                self._conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        if self._listener is not None:  # shutdown first: it wakes the thread blocked in accept()
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._conns.clear()

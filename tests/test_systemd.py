"""sd_notify spoken over a real AF_UNIX datagram socket, alone and from the real daemon."""

from __future__ import annotations

import signal
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.config import service_environment
from monitor.service.systemd import SystemdNotifier, notify_address
from tests.notify.receivers import WebhookReceiver
from tests.ops_support import Daemon, make_workdir, wait_for


class NotifySocket:
    """What systemd listens on: a datagram socket; ``messages`` are the datagrams received."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(notify_address(address))
        self.sock.settimeout(0.2)
        self.messages: list[dict[str, str]] = []

    def receive(self, timeout: float = 30.0, until: str | None = None) -> list[dict[str, str]]:
        """Collect datagrams until one carries ``until`` (KEY=value) or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            message = dict(line.split("=", 1) for line in data.decode().splitlines())
            self.messages.append(message)
            if until is not None and message.get(until.split("=")[0]) == until.split("=", 1)[1]:
                break
        return self.messages

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(params=["path", "abstract"])
def notify_socket(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NotifySocket]:
    address = str(tmp_path / "notify") if request.param == "path" else f"@monitor-test-{uuid.uuid4().hex}"
    listener = NotifySocket(address)
    yield listener
    listener.close()


def test_notify_address_abstract_and_path() -> None:
    assert notify_address("@systemd/notify") == b"\0systemd/notify"
    assert notify_address("/run/systemd/notify") == "/run/systemd/notify"


def test_systemd_notifier_sends_each_state_as_one_datagram(notify_socket: NotifySocket) -> None:
    notifier = SystemdNotifier(notify_socket.address, watchdog_usec=3_000_000)
    assert notifier.enabled and notifier.watchdog_interval == 1.5
    before = time.monotonic_ns() // 1000
    assert notifier.ready("3 rules")
    assert notifier.watchdog()
    assert notifier.reloading()
    assert notifier.stopping()
    messages = notify_socket.receive(timeout=5, until="STOPPING=1")
    assert messages[0] == {"READY": "1", "STATUS": "3 rules"}
    assert messages[1] == {"WATCHDOG": "1"}
    assert messages[2]["RELOADING"] == "1"
    assert before <= int(messages[2]["MONOTONIC_USEC"]) <= time.monotonic_ns() // 1000
    assert messages[3] == {"STOPPING": "1"}


def test_systemd_notifier_without_socket_is_a_no_op() -> None:
    notifier = SystemdNotifier(None, watchdog_usec=3_000_000)
    assert not notifier.enabled and notifier.watchdog_interval is None
    assert notifier.ready() is False and notifier.watchdog() is False


def test_systemd_notifier_survives_a_socket_that_is_gone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = SystemdNotifier(str(tmp_path / "nobody-listens"))
    assert notifier.ready() is False and notifier.watchdog() is False
    warnings = [r.getMessage() for r in caplog.records if "notify socket unusable" in r.getMessage()]
    assert len(warnings) == 1  # warned once, not at every ping


def test_service_environment_reads_systemd_variables() -> None:
    env = {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "30000000", "JOURNAL_STREAM": "8:12345"}
    found = service_environment(env, pid=42)
    assert found.notify_socket == "@x" and found.watchdog_usec == 30_000_000
    assert found.journal_stream == (8, 12345)
    # a watchdog meant for another process (WATCHDOG_PID) is not ours
    assert service_environment({**env, "WATCHDOG_PID": "7"}, pid=42).watchdog_usec is None
    assert service_environment({**env, "WATCHDOG_PID": "42"}, pid=42).watchdog_usec == 30_000_000
    assert service_environment({}, pid=42) == service_environment({"JOURNAL_STREAM": "junk"}, pid=42)


@pytest.mark.slow
def test_daemon_speaks_the_notify_protocol_from_start_to_stop(tmp_path: Path) -> None:
    """READY once started, WATCHDOG at half WATCHDOG_USEC, RELOADING then READY on SIGHUP, STOPPING."""
    workdir = make_workdir(tmp_path / "work")
    listener = NotifySocket(str(tmp_path / "notify"))
    try:
        with WebhookReceiver() as hook:
            env = {"HOOK_URL": hook.url, "NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": "2000000"}
            daemon = Daemon(workdir, env)
            try:
                listener.receive(timeout=60, until="READY=1")
                assert listener.messages and listener.messages[-1]["READY"] == "1", daemon.log
                assert "1 rules" in listener.messages[-1]["STATUS"]
                pings = []
                deadline = time.monotonic() + 10
                while len(pings) < 3 and time.monotonic() < deadline:
                    pings = [m for m in listener.receive(timeout=1) if m.get("WATCHDOG") == "1"]
                assert len(pings) >= 3, listener.messages
                daemon.process.send_signal(signal.SIGHUP)
                listener.receive(timeout=30, until="READY=1")
                after_hup = listener.messages[listener.messages.index(pings[-1]) :]
                reloading = [i for i, m in enumerate(after_hup) if m.get("RELOADING") == "1"]
                ready = [i for i, m in enumerate(after_hup) if m.get("READY") == "1"]
                assert reloading and ready and reloading[0] < ready[-1], after_hup
                assert int(after_hup[reloading[0]]["MONOTONIC_USEC"]) > 0
                assert wait_for(lambda: "reload: 1 rules active" in daemon.log), daemon.log
            finally:
                code = daemon.stop(signal.SIGTERM)
            listener.receive(timeout=5, until="STOPPING=1")
    finally:
        listener.close()
    assert code == 0, daemon.log
    assert listener.messages[-1]["STOPPING"] == "1"
    assert sum(1 for m in listener.messages if m.get("READY") == "1") == 2  # start and after the reload


@pytest.mark.slow
def test_daemon_without_notify_socket_runs_as_before(tmp_path: Path) -> None:
    workdir = make_workdir(tmp_path)
    with WebhookReceiver() as hook:
        daemon = Daemon(workdir, {"HOOK_URL": hook.url})
        try:
            assert wait_for(lambda: len(hook.received) == 1), daemon.log
        finally:
            assert daemon.stop() == 0, daemon.log
    assert "notify socket" not in daemon.log and "stopped" in daemon.log

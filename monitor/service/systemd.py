"""sd_notify(3) spoken directly: one datagram per state change on ``$NOTIFY_SOCKET``.

The protocol is a newline-separated ``KEY=value`` list sent to an AF_UNIX
datagram socket: a path, or an abstract name written with a leading ``@``.
It is a few lines of socket code, so no libsystemd binding is needed.  Outside
systemd (no NOTIFY_SOCKET) every call is a no-op; a send that fails is logged
once and never stops the daemon, as libsystemd's sd_notify would not either.
"""

from __future__ import annotations

import logging
import socket
import time

__all__ = ["SystemdNotifier", "notify_address", "reloading_message"]

log = logging.getLogger(__name__)


def notify_address(value: str) -> str | bytes:
    """The socket address for ``NOTIFY_SOCKET``: ``@name`` is Linux's abstract namespace."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


def reloading_message(monotonic_usec: int) -> str:
    """RELOADING=1 with the CLOCK_MONOTONIC time systemd ≥ 253 wants next to it."""
    return f"RELOADING=1\nMONOTONIC_USEC={monotonic_usec}\nSTATUS=reloading configuration and rules"


class SystemdNotifier:
    """Tells the service manager we are ready, alive, reloading or stopping."""

    def __init__(self, socket_path: str | None, watchdog_usec: int | None = None) -> None:
        self.address = notify_address(socket_path) if socket_path else None
        self.watchdog_usec = watchdog_usec if self.address is not None else None
        self._warned = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between two WATCHDOG=1 pings: half the deadline, as sd_watchdog_enabled(3) advises."""
        return self.watchdog_usec / 2_000_000 if self.watchdog_usec else None

    def notify(self, message: str) -> bool:
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message.encode(), self.address)
        except OSError as exc:
            if not self._warned:
                log.warning("systemd notify socket unusable: %s; state changes are not reported", exc)
                self._warned = True
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def reloading(self) -> bool:
        return self.notify(reloading_message(time.monotonic_ns() // 1000))

    def stopping(self, status: str = "") -> bool:
        return self.notify("STOPPING=1" + (f"\nSTATUS={status}" if status else ""))

    def status(self, status: str) -> bool:
        return self.notify(f"STATUS={status}")

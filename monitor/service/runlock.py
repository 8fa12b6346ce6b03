"""One dispatcher per SQLite database: a second `monitor run` on the same file is refused.

Two processes sending from the same outbox would both pick up the same pending
alerts and send them twice.  SQLite has no row leases, so the process that
sends alerts holds an exclusive ``flock`` on ``<database>.lock``; the kernel
drops it when the process dies, even by SIGKILL, so a stale lock cannot block
a restart.  (PostgreSQL deployments coordinate through the database instead.)
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from monitor.errors import ConfigError


class AlreadyRunning(ConfigError):
    """Another process sends alerts from this database."""


def lock_path(database_url: str) -> Path | None:
    """Where the lock of a SQLite database lives; None for server databases."""
    from sqlalchemy.engine import make_url  # here: every command catches AlreadyRunning, few take the lock

    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(f"{url.database}.lock")


class RunLock:
    """Exclusive and non-blocking: a second holder is told at once, never made to wait."""

    def __init__(self, database_url: str) -> None:
        self.path = lock_path(database_url)
        self._fd: int | None = None

    def acquire(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise AlreadyRunning(
                f"another monitor (pid {holder}) is already sending alerts from {self.path.with_suffix('')}; "
                "stop it first, or use PostgreSQL to run several"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

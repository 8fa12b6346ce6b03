"""Blocking work that a stop leaves behind instead of waiting for: rebuilding the rules on a reload.

A reload only reads and builds (rule files parsed, an index compiled) and
swaps the result in at the end, so abandoning it at any point loses nothing:
the next start reads the files again.  It may also be long (tens of seconds
for a large rule set).  ``asyncio.to_thread`` would make a stop wait for it
twice over: the drain waits for the running job, and the interpreter joins
every executor thread at exit, however long that takes.  Work run through
:class:`Abandonable` lives in a daemon thread instead; :meth:`Abandonable.abandon`
releases its waiters at once with :class:`Abandoned`, and the process exits
without joining the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from monitor.errors import MonitorError

__all__ = ["Abandonable", "Abandoned"]

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")


class Abandoned(MonitorError):
    """The work was left unfinished because the process is stopping."""


class Abandonable:
    """Runs blocking calls in daemon threads and lets a stop stop waiting for them."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._waiting: set[asyncio.Future[Any]] = set()
        self._abandoned = False

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` off the loop; raises Abandoned if the stop comes first."""
        if self._abandoned:
            raise Abandoned(f"{self.name}: not started, stopping")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def settle(result: Any, error: BaseException | None) -> None:
            if future.done():  # abandoned meanwhile
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

        def work() -> None:
            try:
                outcome: tuple[Any, BaseException | None] = (fn(*args, **kwargs), None)
            except BaseException as exc:  # handed to the waiter, which decides
                outcome = (None, exc)
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(settle, *outcome)

        threading.Thread(target=work, name=f"monitor-{self.name}", daemon=True).start()
        self._waiting.add(future)
        try:
            return await future
        finally:
            self._waiting.discard(future)

    def abandon(self) -> None:
        """Stop waiting for what runs now, and refuse to start more."""
        self._abandoned = True
        pending = [future for future in self._waiting if not future.done()]
        if pending:
            log.info("stopping: %s in progress abandoned (nothing is lost: it is redone at start)", self.name)
        for future in pending:
            future.set_exception(Abandoned(f"{self.name}: abandoned, stopping"))

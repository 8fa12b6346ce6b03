"""The configured rule files as ``monitor rules check`` reads them, read again only when they change.

The rules page lists their problems and the playground resolves ``@concepts``
from them.  Reading thousands of rules takes seconds, so it happens on a
thread, once per change of the files (size and modification time), and a
page waits for it only a little: meanwhile it shows the last reading.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from pathlib import Path

from monitor.matching.rulefile import FilesSignature, RuleSet, files_signature, load_rules


class RuleFiles:
    """The last reading of the rule files, refreshed off the event loop when they change."""

    def __init__(self, paths: Callable[[], list[Path]], channels: Callable[[], Iterable[str]]) -> None:
        self._paths = paths
        self._channels = channels
        self._seen: FilesSignature | None = None
        self._read: RuleSet | None = None
        self._reading: asyncio.Task[None] | None = None

    @property
    def last(self) -> RuleSet | None:
        return self._read

    async def current(self, wait: float) -> RuleSet | None:
        """The rule files as they are now, if reading them takes less than ``wait`` seconds;
        else the last reading (None before the first one ends)."""
        paths = self._paths()
        signature = await asyncio.to_thread(files_signature, paths)
        if signature != self._seen and (self._reading is None or self._reading.done()):
            self._reading = asyncio.create_task(self._refresh(paths, signature))
        if self._reading is not None and not self._reading.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._reading), wait)
        return self._read

    async def _refresh(self, paths: list[Path], signature: FilesSignature) -> None:
        channels = list(self._channels())
        self._read = await asyncio.to_thread(load_rules, paths, channels)
        self._seen = signature

    async def close(self) -> None:
        if self._reading is not None and not self._reading.done():
            self._reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reading

"""Watched folders that react at once: inotify (through watchfiles) instead of waiting for the next scan.

:class:`FolderWatcher` is an async iterator of batches of file paths that are
ready to read.  It only says *which* files; reading, hashing and matching stay
in the pipeline, exactly as for a periodic scan, and the same files qualify
(the folder's patterns, no hidden or temporary files, subfolders only when
``recursive``).  Deletions are ignored.

Ready means complete.  A file is yielded once its size and modification time
have stayed the same, with no new event, for ``settle`` seconds, so a download
or a slow copy is read once, whole, instead of half-way.  A file whose
modification time is already ``settle`` seconds old when it appears (moved or
renamed into place after being written elsewhere, the usual "write to a
temporary name, then rename" of editors, rsync and exporters) needs no wait
beyond one look at it.  A file that never stops changing is yielded anyway
after ``max_wait`` seconds, with a warning, so a log that grows forever is
still read.  Each settling yields a path once; a later change yields it again
(the pipeline skips content it has already ingested).

Latency.  watchfiles by default groups changes for up to 1.6 s; here
``debounce`` is 100 ms and ``step`` 50 ms (a batch closes 50 ms after the
last change), and settled files are looked for every 100 ms, so a file dropped
in one go is yielded about ``settle`` + 0.15 s later: under half a second with
the default ``settle`` of 0.3 s.

Fallback contract.  Watching can be impossible: the folder is missing, it is
on a filesystem without inotify (network shares), or the system's inotify
watch limit (``fs.inotify.max_user_watches``) is reached.  Then iterating
raises :class:`SourceError` naming the folder and the cause, and the caller
carries on with the periodic scan, which it should keep running anyway at a
longer interval: inotify can drop events when its queue overflows, and it
never sees changes made by another machine on a shared folder.  Stopping
(the ``stop_event`` set) ends the iteration cleanly; files still settling
then are left to the next scan.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Protocol, cast

from watchfiles import Change, awatch

from monitor.config import FolderSource
from monitor.errors import SourceError
from monitor.sources.confine import walk_folder
from monitor.sources.files import _wanted

log = logging.getLogger(__name__)

DEBOUNCE_MS = 100
STEP_MS = 50
# How often files that are settling are looked at again when nothing else happens.
_TICK_MS = 100


class StopEvent(Protocol):
    """What ends the watch: an ``asyncio.Event``, ``anyio.Event`` or ``threading.Event``."""

    def is_set(self) -> bool: ...


def wanted_file(folder: FolderSource, relative: PurePath) -> bool:
    """Whether a periodic scan of ``folder`` would read the file at ``relative`` (to the folder).

    The same rule as :func:`monitor.sources.files.iter_folder`: the name matches
    a pattern, case-insensitively, and is neither hidden nor temporary, no
    folder on the way is hidden, and subfolders count only when ``recursive``.
    """
    folders = relative.parts[:-1]
    if folders and not folder.recursive:
        return False
    if any(part.startswith(".") for part in folders):
        return False
    return _wanted(relative.name, [pattern.lower() for pattern in folder.patterns])


class StopSwitch:
    """The stop event as awatch sees it: awatch sets its event when cancelled, and that
    must not stop everyone else who shares the caller's event."""

    def __init__(self, outer: StopEvent) -> None:
        self._outer = outer
        self._stopped = False

    def is_set(self) -> bool:
        return self._stopped or self._outer.is_set()

    def set(self) -> None:
        self._stopped = True


@dataclass
class _Settling:
    """A file seen changing: when, and what it looked like the last time we looked."""

    first_seen: float
    last_event: float
    signature: tuple[int, int] | None = None
    stable_since: float = 0.0


class FolderWatcher:
    """Batches of paths in ``folder`` that were created, changed or moved in, each once complete.

    Iterate it with ``async for``; it ends when ``stop_event`` is set and raises
    :class:`SourceError` when the folder cannot be watched (see the module's
    fallback contract).  Paths are ``folder.path / relative``, the same form a
    periodic scan yields, in sorted order within a batch.
    """

    def __init__(
        self,
        folder: FolderSource,
        *,
        settle: float = 0.3,
        stop_event: StopEvent,
        max_wait: float = 60.0,
    ) -> None:
        if settle < 0:
            raise ValueError("settle must not be negative")
        if max_wait < settle:
            raise ValueError("max_wait must be at least settle")
        self.folder = folder
        self.settle = settle
        self.max_wait = max_wait
        self._stop_event = stop_event
        # True while inotify watches are in place: a scan made after this misses nothing.
        self.watching = False

    def __repr__(self) -> str:
        return f"FolderWatcher({str(self.folder.path)!r}, settle={self.settle})"

    def __aiter__(self) -> AsyncIterator[list[Path]]:
        return self._batches()

    async def _batches(self) -> AsyncIterator[list[Path]]:
        root = self.folder.path
        if not root.is_dir():
            raise SourceError(f"{root}: folder not found or not a directory: cannot watch it")
        # Events name absolute paths; yielded paths keep the form the folder was configured with.
        absolute = root.resolve()
        settling: dict[Path, _Settling] = {}
        watch = awatch(
            absolute,
            watch_filter=None,  # filtered below, so that ignored files still give us a chance to check
            debounce=DEBOUNCE_MS,
            step=STEP_MS,
            stop_event=cast(Any, StopSwitch(self._stop_event)),  # awatch only calls is_set() and set()
            rust_timeout=_TICK_MS,
            yield_on_timeout=True,
            recursive=self.folder.recursive,
        )
        log.info("folder=%s watching for changes", root)
        try:
            async with aclosing(watch) as batches:
                async for changes in batches:
                    self.watching = True  # awatch answers (a change or a tick) only once it watches
                    now = time.monotonic()
                    for change, raw in changes:
                        relative = _relative(raw, absolute)
                        if relative is not None:
                            self._note(settling, change, relative, now)
                    ready = self._ready(settling, now)
                    if ready:
                        log.debug("folder=%s ready=%d", root, len(ready))
                        yield [root / relative for relative in ready]
        except OSError as exc:  # raised by watchfiles when it sets up or loses its inotify watches
            raise SourceError(
                f"{root}: cannot watch for changes ({exc}): falling back to periodic scans"
            ) from exc
        finally:
            self.watching = False
        log.info("folder=%s stopped watching", root)

    def _note(self, settling: dict[Path, _Settling], change: Change, relative: Path, now: float) -> None:
        """Record one event; a folder that appears (moved in whole) brings its files along."""
        if change == Change.deleted:
            settling.pop(relative, None)
            return
        path = self.folder.path / relative
        # a link to a folder is walked by the periodic scan's rules (monitor/sources/confine.py)
        linked = path.is_symlink() and not self.folder.follow_symlinks
        if change == Change.added and self.folder.recursive and path.is_dir() and not linked:
            for found in _files_below(path, self.folder):
                if wanted_file(self.folder, found):
                    settling.setdefault(found, _Settling(now, now)).last_event = now
            return
        if wanted_file(self.folder, relative):
            settling.setdefault(relative, _Settling(now, now)).last_event = now

    def _ready(self, settling: dict[Path, _Settling], now: float) -> list[Path]:
        """The settling files that are complete now; they are forgotten until they change again."""
        ready = []
        for relative, state in list(settling.items()):
            try:
                info = os.stat(self.folder.path / relative)
            except OSError:  # gone again (a temporary file renamed away) or unreadable
                del settling[relative]
                continue
            if not stat.S_ISREG(info.st_mode):
                del settling[relative]
                continue
            if self._complete(relative, state, info, now):
                ready.append(relative)
                del settling[relative]
        return sorted(ready)

    def _complete(self, relative: Path, state: _Settling, info: os.stat_result, now: float) -> bool:
        signature = (info.st_size, info.st_mtime_ns)
        if now - state.first_seen >= self.max_wait:
            log.warning(
                "folder=%s file=%s still changing after %.0fs: read anyway",
                self.folder.path,
                relative,
                self.max_wait,
            )
            return True
        if signature != state.signature:
            state.signature, state.stable_since = signature, now
            # Untouched for `settle` already: written elsewhere, then moved or renamed into place.
            return time.time_ns() - info.st_mtime_ns >= self.settle * 1e9
        return now - max(state.stable_since, state.last_event) >= self.settle


def _relative(raw: str, root: Path) -> Path | None:
    try:
        return Path(raw).relative_to(root)
    except ValueError:
        return None


def _files_below(directory: Path, folder: FolderSource) -> Iterator[Path]:
    """Every file under ``directory``, relative to the folder, outside hidden folders."""
    for path in walk_folder(directory, root=folder.path, follow=folder.follow_symlinks):
        if not path.is_dir():  # a link to a folder outside: the scan reports it
            yield path.relative_to(folder.path)

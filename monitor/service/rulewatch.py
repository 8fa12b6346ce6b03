"""Rule files that reload when saved: inotify (through watchfiles) instead of waiting for the next check.

:class:`RuleFileWatcher` only says *that* rule files changed and have settled;
what changed, and whether to reload, stays the Reloader's periodic check
(a rule file added, removed, or with another size or modification time), so
an edit seen here and one found by the check reload the same way, once.  That
check keeps running every ``rules_reload_interval`` as the safety net: inotify
drops events when its queue overflows, and sees nothing of an edit made on
another machine of a network share.

What is watched.  Each configured rule folder with its subfolders (rule files
are found in them too), and for a configured rule file the folder that holds
it, not the file: editors save by writing a temporary file and renaming it
over the old one, and a watch on the file would follow the old one away.
Events about files with another extension (an editor's ``.swp``, ``~`` or
``.tmp`` files, a database beside the rules) are ignored; those about rule
files, and about names without one (folders, moved in or out), count.

Settling.  A save is a burst of events: a temporary file written and renamed
over the old one, or the file truncated and written in place, sometimes a
second write by a formatter.  The watcher waits until no event has come for
``settle`` seconds, so one save is one reload and a file written in place is
read whole instead of refused half-written and reloaded a moment later.
Events that never stop are answered anyway after ``max_wait`` seconds.  With
watchfiles' own grouping (``DEBOUNCE_MS``, ``STEP_MS``, shared with the folder
watcher), a save starts its reload about ``settle`` + 0.1 s after it ends.

Fallback.  When watching is impossible (no configured rule path exists, the
system's inotify watch limit is reached) iterating raises ``OSError``;
:func:`watch_rule_files` logs a warning naming the cause, and the periodic
check alone remains.  Stopping (the stop event set) ends the iteration.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from watchfiles import awatch

from monitor.matching.rulefile import RULE_SUFFIXES
from monitor.sources.watch import DEBOUNCE_MS, STEP_MS, StopEvent, StopSwitch

__all__ = ["MAX_WAIT_S", "SETTLE_S", "RuleFileWatcher", "WatchRoot", "watch_roots", "watch_rule_files"]

log = logging.getLogger(__name__)
SETTLE_S = 0.2
MAX_WAIT_S = 5.0
# The watching thread answers at least this often (an empty batch) when nothing changes.
_TICK_MS = 1_000


@dataclass(frozen=True)
class WatchRoot:
    """One folder inotify watches: a rule folder (with its subfolders), or the folder of rule files."""

    folder: Path  # absolute
    recursive: bool
    files: frozenset[str] | None = None  # only the files of these names count; None: every rule file

    def concerns(self, path: Path) -> bool:
        """Whether an event about ``path`` may be a change to the rule set (by name: watchfiles may
        name the folder by another path, through a link)."""
        if self.files is not None:
            return path.name in self.files
        return not path.suffix or path.suffix in RULE_SUFFIXES


def watch_roots(paths: Iterable[Path]) -> list[WatchRoot]:
    """What to watch for the configured rule paths; those that do not exist are left out."""
    folders: list[Path] = []
    files: dict[Path, set[str]] = {}
    for path in paths:
        absolute = path.absolute()
        if absolute.is_dir():
            folders.append(absolute)
        elif absolute.is_file():
            files.setdefault(absolute.parent, set()).add(absolute.name)
    roots = [WatchRoot(folder, True) for folder in dict.fromkeys(folders)]
    for folder, wanted in files.items():
        if not any(folder.is_relative_to(root.folder) for root in roots):  # already watched whole
            roots.append(WatchRoot(folder, False, frozenset(wanted)))
    return roots


_ENDED: Any = object()


class RuleFileWatcher:
    """Yields, each time rule files changed and then stayed quiet for ``settle`` seconds, the paths
    that changed (for the log).  Iterate it with ``async for``; it ends when ``stop_event`` is set
    and raises ``OSError`` when the rule paths cannot be watched (see the module's fallback)."""

    def __init__(
        self,
        paths: Sequence[Path],
        *,
        stop_event: StopEvent,
        settle: float = SETTLE_S,
        max_wait: float = MAX_WAIT_S,
    ) -> None:
        if settle < 0 or max_wait < settle:
            raise ValueError("settle must be at least 0, and max_wait at least settle")
        self.paths = list(paths)
        self.settle = settle
        self.max_wait = max_wait
        self._stop_event = stop_event
        self._answered: set[WatchRoot] = set()
        self._roots: list[WatchRoot] = []

    @property
    def watching(self) -> bool:
        """True once every watch is in place: a change made after this is seen."""
        return bool(self._roots) and len(self._answered) == len(self._roots)

    def __aiter__(self) -> AsyncIterator[set[Path]]:
        return self._settled()

    async def _settled(self) -> AsyncIterator[set[Path]]:
        self._roots = roots = watch_roots(self.paths)
        if not roots:
            names = ", ".join(str(path) for path in self.paths) or "none configured"
            raise FileNotFoundError(f"no rule file or folder to watch ({names})")
        queue: asyncio.Queue[Any] = asyncio.Queue()
        pumps = [asyncio.create_task(self._pump(root, queue)) for root in roots]
        try:
            ended = 0
            announced = False
            pending: set[Path] = set()
            first = last = 0.0
            while ended < len(pumps):
                try:
                    item = await asyncio.wait_for(queue.get(), self._wait(pending, first, last))
                except TimeoutError:
                    changed, pending = pending, set()
                    yield changed
                    continue
                if not announced and self.watching:
                    announced = True
                    folders = ", ".join(str(root.folder) for root in roots)
                    log.info("rule files: watching %s for changes", folders)
                if item is _ENDED:
                    ended += 1
                elif isinstance(item, OSError):
                    raise item
                elif item:
                    now = time.monotonic()
                    if not pending:
                        first = now
                    pending.update(item)
                    last = now
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)

    def _wait(self, pending: set[Path], first: float, last: float) -> float | None:
        """How long to wait for the next event: for ever when nothing is pending, else until the
        changes have settled (or waited ``max_wait``)."""
        if not pending:
            return None
        return max(0.0, min(last + self.settle, first + self.max_wait) - time.monotonic())

    async def _pump(self, root: WatchRoot, queue: asyncio.Queue[Any]) -> None:
        """Put the changes inotify reports under ``root`` that concern rule files on ``queue``."""
        try:
            async for changes in awatch(
                root.folder,
                watch_filter=None,
                debounce=DEBOUNCE_MS,
                step=STEP_MS,
                stop_event=cast(Any, StopSwitch(self._stop_event)),  # awatch calls is_set() and set()
                recursive=root.recursive,
                rust_timeout=_TICK_MS,
                yield_on_timeout=True,
            ):
                self._answered.add(root)  # awatch answers (a change or a tick) only once it watches
                paths = {Path(raw) for _change, raw in changes}
                queue.put_nowait({path for path in paths if root.concerns(path)})
        except OSError as exc:  # raised by watchfiles when it sets up or loses its inotify watches
            queue.put_nowait(exc)
        finally:
            self._answered.discard(root)
            queue.put_nowait(_ENDED)


async def watch_rule_files(
    paths: Sequence[Path],
    stop: StopEvent,
    check: Callable[[], Awaitable[Any]],
    interval: float,
) -> None:
    """Run ``check`` (the Reloader's: reload if the rule files changed) whenever they settle after a
    change, until ``stop``; when they cannot be watched, say so and leave it to the periodic check.

    ``check`` must not raise: a failure would end the watching (the daemon guards it).
    """
    try:
        async for changed in RuleFileWatcher(paths, stop_event=stop):
            log.debug("rule files changed: %s", ", ".join(sorted(map(str, changed))))
            await check()
    except OSError as exc:
        log.warning(
            "rule files: cannot watch for changes (%s): they are checked every %gs instead", exc, interval
        )

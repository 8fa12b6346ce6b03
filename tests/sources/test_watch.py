"""FolderWatcher against real files in tmp_path, with real inotify.

Timeouts are generous (seconds, not the sub-second latency the watcher aims
for) so that a loaded CI machine cannot make these tests flaky; each test ends
with a sentinel file, so "not yielded" is checked after the watcher has
demonstrably caught up, never by waiting an arbitrary time.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path, PurePath

import pytest

from monitor.config import FolderSource
from monitor.errors import SourceError
from monitor.sources import watch
from monitor.sources.watch import FolderWatcher, wanted_file

TIMEOUT = 10.0


class Watching:
    """A FolderWatcher run in a task, collecting batches and the size of each file when yielded."""

    def __init__(self, folder: FolderSource, **options: float) -> None:
        self.folder = folder
        self.stop = asyncio.Event()
        self.watcher = FolderWatcher(folder, stop_event=self.stop, **options)
        self.batches: list[list[Path]] = []
        self.sizes: list[tuple[Path, int]] = []

    async def run(self) -> None:
        async for batch in self.watcher:
            self.batches.append(batch)
            self.sizes.extend((path, path.stat().st_size) for path in batch if path.exists())

    @property
    def yielded(self) -> list[Path]:
        return [path for batch in self.batches for path in batch]

    def relative(self) -> list[str]:
        return [path.relative_to(self.folder.path).as_posix() for path in self.yielded]

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}; yielded {self.relative()}"
            await asyncio.sleep(0.02)

    async def until_yielded(self, name: str) -> None:
        await self.until(lambda: name in self.relative(), name)


@asynccontextmanager
async def watching(folder: FolderSource, **options: float) -> AsyncIterator[Watching]:
    """Watch until the block ends; the watcher must then stop within the timeout."""
    run = Watching(folder, **options)
    task = asyncio.create_task(run.run())
    try:
        await run.until(lambda: run.watcher.watching or task.done(), "the watch to start")
        if task.done():
            task.result()  # surface the error
        yield run
    finally:
        run.stop.set()
        await asyncio.wait_for(task, TIMEOUT)


def folder_at(path: Path, **options: object) -> FolderSource:
    path.mkdir(exist_ok=True)
    return FolderSource(path=path, **options)  # type: ignore[arg-type]


async def test_folder_watcher_yields_a_dropped_file(tmp_path: Path) -> None:
    folder = folder_at(tmp_path / "in")
    async with watching(folder) as run:
        (folder.path / "notizia.txt").write_text("Titolo\nSommario\nCorpo\n", encoding="utf-8")
        await run.until_yielded("notizia.txt")
    assert run.batches[0] == [folder.path / "notizia.txt"]
    assert run.relative() == ["notizia.txt"]


async def test_folder_watcher_yields_a_slowly_written_file_once_complete(tmp_path: Path) -> None:
    folder = folder_at(tmp_path / "in")
    path = folder.path / "lento.txt"
    chunk = b"Una riga dell'articolo scritta a pezzi.\n" * 50

    def write_slowly() -> None:
        with path.open("wb") as file:
            for _ in range(5):
                file.write(chunk)
                file.flush()
                time.sleep(0.2)

    # settle 0.5 s leaves 0.3 s of margin over the 0.2 s pauses on a busy machine.
    async with watching(folder, settle=0.5) as run:
        writer = threading.Thread(target=write_slowly)
        writer.start()
        await asyncio.to_thread(writer.join)
        await run.until_yielded("lento.txt")
        (folder.path / "sentinella.txt").write_text("fine", encoding="utf-8")
        await run.until_yielded("sentinella.txt")
    assert run.relative().count("lento.txt") == 1
    assert (path, 5 * len(chunk)) in run.sizes


async def test_folder_watcher_yields_a_file_renamed_into_place(tmp_path: Path) -> None:
    folder = folder_at(tmp_path / "in")
    outside = tmp_path / "outside"
    outside.mkdir()
    async with watching(folder) as run:
        temporary = folder.path / ".salvataggio.txt.tmp"
        temporary.write_text("scritto altrove", encoding="utf-8")
        temporary.rename(folder.path / "salvato.txt")
        (outside / "spostato.txt").write_text("da fuori", encoding="utf-8")
        (outside / "spostato.txt").rename(folder.path / "spostato.txt")
        await run.until(lambda: {"salvato.txt", "spostato.txt"} <= set(run.relative()), "both moves")
    assert sorted(run.relative()) == ["salvato.txt", "spostato.txt"]


async def test_folder_watcher_old_file_moved_in_needs_no_settling(tmp_path: Path) -> None:
    folder = folder_at(tmp_path / "in")
    old = tmp_path / "archivio.txt"
    old.write_text("Articolo di ieri", encoding="utf-8")
    yesterday = time.time() - 86_400
    os.utime(old, (yesterday, yesterday))
    # With 5 s of settling, only the fast path can yield it within 4 s.
    async with watching(folder, settle=5.0, max_wait=10.0) as run:
        started = time.monotonic()
        old.rename(folder.path / "archivio.txt")
        await run.until_yielded("archivio.txt")
        assert time.monotonic() - started < 4.0


async def test_folder_watcher_ignores_hidden_and_temporary_files(tmp_path: Path) -> None:
    folder = folder_at(tmp_path / "in")
    async with watching(folder) as run:
        for name in [".nascosto.txt", "bozza.txt~", "a.tmp", "b.txt.part", "c.txt.crdownload", ".d.txt.swp"]:
            (folder.path / name).write_text("x", encoding="utf-8")
        (folder.path / ".git").mkdir()
        (folder.path / ".git" / "interno.txt").write_text("x", encoding="utf-8")
        (folder.path / "cartella.txt").mkdir()
        (folder.path / "sentinella.txt").write_text("fine", encoding="utf-8")
        await run.until_yielded("sentinella.txt")
    assert run.relative() == ["sentinella.txt"]


async def test_folder_watcher_respects_the_folder_patterns(tmp_path: Path) -> None:
    folder = folder_at(tmp_path / "in", patterns=["*.txt"])
    async with watching(folder) as run:
        (folder.path / "dati.json").write_text("{}", encoding="utf-8")
        (folder.path / "pagina.html").write_text("<p>x</p>", encoding="utf-8")
        (folder.path / "MAIUSCOLO.TXT").write_text("x", encoding="utf-8")
        await run.until_yielded("MAIUSCOLO.TXT")
    assert run.relative() == ["MAIUSCOLO.TXT"]


async def test_folder_watcher_yields_nested_files_when_recursive(tmp_path: Path) -> None:
    folder = folder_at(tmp_path / "in")
    moved = tmp_path / "cartella"
    (moved / "dentro").mkdir(parents=True)
    (moved / "dentro" / "a.txt").write_text("a", encoding="utf-8")
    (moved / "b.json").write_text('{"title": "b"}', encoding="utf-8")
    async with watching(folder) as run:
        (folder.path / "anno" / "mese").mkdir(parents=True)
        (folder.path / "anno" / "mese" / "n.txt").write_text("annidato", encoding="utf-8")
        moved.rename(folder.path / "cartella")  # a whole folder moved in: no event for its files
        expected = {"anno/mese/n.txt", "cartella/dentro/a.txt", "cartella/b.json"}
        await run.until(lambda: expected <= set(run.relative()), "nested files")
    assert sorted(run.relative()) == sorted(expected)


async def test_folder_watcher_does_not_walk_a_link_to_a_folder_outside(tmp_path: Path) -> None:
    folder = folder_at(tmp_path / "in")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("segreto", encoding="utf-8")
    async with watching(folder) as run:
        (folder.path / "link").symlink_to(outside, target_is_directory=True)  # "moved in" whole
        (folder.path / "sentinel.txt").write_text("s", encoding="utf-8")
        await run.until_yielded("sentinel.txt")
    assert run.relative() == ["sentinel.txt"]  # the periodic scan reports the link, once


async def test_folder_watcher_ignores_subfolders_when_not_recursive(tmp_path: Path) -> None:
    folder = folder_at(tmp_path / "in", recursive=False)
    async with watching(folder) as run:
        (folder.path / "sotto").mkdir()
        (folder.path / "sotto" / "n.txt").write_text("annidato", encoding="utf-8")
        (folder.path / "sentinella.txt").write_text("fine", encoding="utf-8")
        await run.until_yielded("sentinella.txt")
    assert run.relative() == ["sentinella.txt"]


async def test_folder_watcher_ignores_deletions(tmp_path: Path) -> None:
    folder = folder_at(tmp_path / "in")
    async with watching(folder) as run:
        (folder.path / "a.txt").write_text("a", encoding="utf-8")
        await run.until_yielded("a.txt")
        (folder.path / "a.txt").unlink()
        (folder.path / "sentinella.txt").write_text("fine", encoding="utf-8")
        await run.until_yielded("sentinella.txt")
    assert run.relative() == ["a.txt", "sentinella.txt"]


async def test_folder_watcher_file_created_and_deleted_before_settling_is_not_yielded(tmp_path: Path) -> None:
    folder = folder_at(tmp_path / "in")
    async with watching(folder, settle=1.0) as run:
        (folder.path / "effimero.txt").write_text("x", encoding="utf-8")
        await asyncio.sleep(0.3)
        (folder.path / "effimero.txt").unlink()
        (folder.path / "sentinella.txt").write_text("fine", encoding="utf-8")
        await run.until_yielded("sentinella.txt")
    assert run.relative() == ["sentinella.txt"]


async def test_folder_watcher_stop_event_ends_iteration(tmp_path: Path) -> None:
    folder = folder_at(tmp_path / "in")
    stop = asyncio.Event()
    watcher = FolderWatcher(folder, stop_event=stop)
    batches = []

    async def consume() -> None:
        async for batch in watcher:
            batches.append(batch)

    task = asyncio.create_task(consume())
    while not watcher.watching:
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, TIMEOUT)
    assert batches == []
    assert not watcher.watching


async def test_folder_watcher_cancelled_leaves_the_shared_stop_event_alone(tmp_path: Path) -> None:
    stop = asyncio.Event()
    watcher = FolderWatcher(folder_at(tmp_path / "in"), stop_event=stop)

    async def consume() -> None:
        async for _ in watcher:
            pass

    task = asyncio.create_task(consume())
    while not watcher.watching:
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not stop.is_set()  # awatch sets the event it is given when cancelled: not ours


def test_folder_watcher_leaves_no_thread_behind(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    folder = folder_at(tmp_path / "in")

    async def main() -> None:
        async with watching(folder) as run:
            (folder.path / "a.txt").write_text("a", encoding="utf-8")
            await run.until_yielded("a.txt")

    asyncio.run(main())
    for thread in set(threading.enumerate()) - before:
        thread.join(TIMEOUT)  # anyio's worker thread ends once the loop has shut down
    assert [t for t in threading.enumerate() if t not in before] == []


async def test_folder_watcher_missing_folder_raises_naming_it(tmp_path: Path) -> None:
    folder = FolderSource(path=tmp_path / "manca")
    with pytest.raises(SourceError, match=r"manca: folder not found or not a directory: cannot watch it"):
        async for _ in FolderWatcher(folder, stop_event=asyncio.Event()):
            pass


async def test_folder_watcher_without_inotify_raises_source_error_for_the_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_watches(*paths: object, **options: object) -> AsyncIterator[set[object]]:
        raise OSError(28, "OS file watch limit reached")
        yield set()  # pragma: no cover  (makes this an async generator, like awatch)

    monkeypatch.setattr(watch, "awatch", no_watches)
    folder = folder_at(tmp_path / "in")
    with pytest.raises(SourceError, match=r"in: cannot watch for changes \(.*watch limit.*\): falling back"):
        async for _ in FolderWatcher(folder, stop_event=asyncio.Event()):
            pass


@pytest.mark.parametrize(("settle", "max_wait"), [(-1.0, 60.0), (2.0, 1.0)])
def test_folder_watcher_rejects_impossible_timings(tmp_path: Path, settle: float, max_wait: float) -> None:
    with pytest.raises(ValueError, match="must"):
        FolderWatcher(
            FolderSource(path=tmp_path), settle=settle, stop_event=asyncio.Event(), max_wait=max_wait
        )


@pytest.mark.parametrize(
    ("relative", "recursive", "expected"),
    [
        ("a.txt", True, True),
        ("A.TXT", True, True),
        ("sub/a.txt", True, True),
        ("sub/a.txt", False, False),
        (".hidden/a.txt", True, False),
        ("sub/.a.txt", True, False),
        ("a.txt~", True, False),
        ("a.txt.part", True, False),
        ("a.crdownload", True, False),
        ("a.tmp", True, False),
        (".a.swp", True, False),
        ("a.pdf", True, False),
    ],
)
def test_wanted_file_matches_what_a_scan_reads(relative: str, recursive: bool, expected: bool) -> None:
    folder = FolderSource(path=Path("in"), recursive=recursive)
    assert wanted_file(folder, PurePath(relative)) is expected

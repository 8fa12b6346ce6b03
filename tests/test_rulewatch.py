"""RuleFileWatcher against real rule files in tmp_path, with real inotify.

As in tests/sources/test_watch.py, timeouts are generous and "not yielded" is
checked after a sentinel edit has been seen, never by waiting an arbitrary time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from monitor.service.rulewatch import RuleFileWatcher, WatchRoot, watch_roots, watch_rule_files

TIMEOUT = 10.0
RULE = "rules:\n  - id: {id}\n    query: {query}\n"


class Watching:
    """A RuleFileWatcher run in a task: each settled batch, and what each changed file held then."""

    def __init__(self, paths: list[Path], **options: float) -> None:
        self.stop = asyncio.Event()
        self.watcher = RuleFileWatcher(paths, stop_event=self.stop, **options)
        self.batches: list[set[Path]] = []
        self.contents: list[tuple[str, str]] = []

    async def run(self) -> None:
        async for batch in self.watcher:
            self.batches.append(batch)
            self.contents.extend((p.name, p.read_text(encoding="utf-8")) for p in batch if p.is_file())

    def names(self) -> list[set[str]]:
        return [{path.name for path in batch} for batch in self.batches]

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}; batches {self.names()}"
            await asyncio.sleep(0.02)

    async def until_batch_with(self, name: str) -> None:
        await self.until(lambda: any(name in batch for batch in self.names()), name)


@asynccontextmanager
async def watching(paths: list[Path], **options: float) -> AsyncIterator[Watching]:
    run = Watching(paths, **options)
    task = asyncio.create_task(run.run())
    try:
        await run.until(lambda: run.watcher.watching or task.done(), "the watch to start")
        if task.done():
            task.result()  # surface the error
        yield run
    finally:
        run.stop.set()
        await asyncio.wait_for(task, TIMEOUT)


def save_like_an_editor(path: Path, text: str) -> None:
    """Write a temporary file beside it, then rename it over the file (vim, VS Code, sed -i)."""
    temporary = path.with_name(f".{path.name}.swp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


async def test_rule_watcher_yields_once_for_an_editor_save(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    one = rules / "one.yaml"
    one.write_text(RULE.format(id="nato", query="NATO"), encoding="utf-8")
    async with watching([rules]) as run:
        save_like_an_editor(one, RULE.format(id="nato", query="NATO OR Vilnius"))
        await run.until_batch_with("one.yaml")
        (rules / "sentinel.yaml").write_text(RULE.format(id="s", query="s"), encoding="utf-8")
        await run.until_batch_with("sentinel.yaml")
    assert run.names() == [{"one.yaml"}, {"sentinel.yaml"}]  # the .swp file never counted


async def test_rule_watcher_waits_for_a_file_written_in_place_to_settle(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    path = rules / "slow.yaml"
    parts = ["rules:\n", "  - id: a\n", "    query: Vilnius\n", "  - id: b\n", "    query: Riga\n"]

    def write_slowly() -> None:
        with path.open("w", encoding="utf-8") as file:
            for part in parts:
                file.write(part)
                file.flush()
                time.sleep(0.15)

    # settle 0.6 s leaves 0.45 s of margin over the pauses on a busy machine.
    async with watching([rules], settle=0.6) as run:
        writer = threading.Thread(target=write_slowly)
        writer.start()
        await asyncio.to_thread(writer.join)
        await run.until_batch_with("slow.yaml")
        (rules / "sentinel.yaml").write_text(RULE.format(id="s", query="s"), encoding="utf-8")
        await run.until_batch_with("sentinel.yaml")
    assert run.names().count({"slow.yaml"}) == 1
    assert ("slow.yaml", "".join(parts)) in run.contents  # read whole, never half-written


async def test_rule_watcher_ignores_files_that_are_not_rule_files(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    async with watching([rules]) as run:
        (rules / "notes.txt").write_text("not rules", encoding="utf-8")
        (rules / "one.yaml~").write_text("an editor's backup", encoding="utf-8")
        (rules / "monitor.db-wal").write_bytes(b"\0" * 100)
        (rules / "sentinel.yml").write_text(RULE.format(id="s", query="s"), encoding="utf-8")
        await run.until_batch_with("sentinel.yml")
    assert run.names() == [{"sentinel.yml"}]


async def test_rule_watcher_sees_rule_files_in_subfolders(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    (rules / "desk" / "esteri").mkdir(parents=True)
    async with watching([rules]) as run:
        save_like_an_editor(rules / "desk" / "esteri" / "nato.yaml", RULE.format(id="n", query="NATO"))
        await run.until_batch_with("nato.yaml")


async def test_rule_watcher_watches_a_configured_file_through_its_folder(tmp_path: Path) -> None:
    configured = tmp_path / "desk.yaml"
    configured.write_text(RULE.format(id="nato", query="NATO"), encoding="utf-8")
    assert watch_roots([configured]) == [WatchRoot(tmp_path, False, frozenset({"desk.yaml"}))]
    async with watching([configured]) as run:
        (tmp_path / "other.yaml").write_text(RULE.format(id="o", query="o"), encoding="utf-8")
        save_like_an_editor(configured, RULE.format(id="nato", query="NATO OR Vilnius"))
        await run.until_batch_with("desk.yaml")
        save_like_an_editor(configured, RULE.format(id="nato", query="Vilnius"))  # a second save
        await run.until(lambda: len(run.batches) == 2, "the second save")
    assert run.names() == [{"desk.yaml"}, {"desk.yaml"}]  # other.yaml is no rule file of the config


async def test_rule_watcher_watches_a_configured_file_through_a_linked_folder(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    configured = tmp_path / "link" / "desk.yaml"
    configured.write_text(RULE.format(id="nato", query="NATO"), encoding="utf-8")
    async with watching([configured]) as run:
        save_like_an_editor(configured, RULE.format(id="nato", query="NATO OR Vilnius"))
        await run.until_batch_with("desk.yaml")


def test_rule_watcher_watches_a_folder_once_with_the_files_inside_it(tmp_path: Path) -> None:
    inside = tmp_path / "inside.yaml"
    inside.write_text("rules: []\n", encoding="utf-8")
    assert watch_roots([tmp_path, inside, tmp_path / "missing"]) == [WatchRoot(tmp_path, True)]


async def test_rule_watcher_stops_when_asked(tmp_path: Path) -> None:
    async with watching([tmp_path]) as run:
        pass
    assert run.batches == []  # and the context's wait_for saw the task end


async def test_watch_rule_files_falls_back_to_the_check_when_nothing_can_be_watched(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def never() -> None:
        raise AssertionError("no change can be seen")

    with caplog.at_level(logging.WARNING, logger="monitor.service.rulewatch"):
        await asyncio.wait_for(watch_rule_files([tmp_path / "gone"], asyncio.Event(), never, 5.0), TIMEOUT)
    assert "rule files: cannot watch for changes" in caplog.text
    assert "checked every 5s instead" in caplog.text


async def test_watch_rule_files_runs_the_check_after_each_save(tmp_path: Path) -> None:
    checks: list[float] = []

    async def check() -> None:
        checks.append(time.monotonic())

    stop = asyncio.Event()
    task = asyncio.create_task(watch_rule_files([tmp_path], stop, check, 5.0))
    deadline = time.monotonic() + TIMEOUT
    while not checks:  # saving until the watch is in place and has seen one
        assert time.monotonic() < deadline, "the save was never seen"
        save_like_an_editor(tmp_path / "one.yaml", RULE.format(id="n", query="NATO"))
        await asyncio.sleep(0.5)
    stop.set()
    await asyncio.wait_for(task, TIMEOUT)

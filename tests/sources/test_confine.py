"""Watched folders keep their reading inside: symbolic links out are refused, once, with the reason."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from monitor.config import FolderSource, load_settings
from monitor.pipeline.ingest import Pipeline
from monitor.service.wiring import build_pipeline
from monitor.sources.confine import FolderBounds, RefusedFile, walk_folder
from monitor.sources.files import iter_folder
from tests.conftest import REPO

STORY = json.dumps({"title": "NATO summit", "body": "Finland joined NATO on Tuesday."})
SECRET = json.dumps({"title": "NATO secret plans", "body": "The outside file: NATO must never see it."})


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """inbox/ with a story, a link to a file outside, a link to a folder outside, a link inside."""
    outside = tmp_path / "outside"
    (outside / "private").mkdir(parents=True)
    (outside / "secret.json").write_text(SECRET, encoding="utf-8")
    (outside / "private" / "plans.json").write_text(SECRET.replace("plans", "memo"), encoding="utf-8")
    inbox = tmp_path / "inbox"
    (inbox / "desk").mkdir(parents=True)
    (inbox / "desk" / "story.json").write_text(STORY, encoding="utf-8")
    (inbox / "passwd.json").symlink_to(outside / "secret.json")
    (inbox / "elsewhere").symlink_to(outside / "private", target_is_directory=True)
    (inbox / "again.json").symlink_to(Path("desk") / "story.json")  # relative, inside
    return inbox


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    config = tmp_path / "monitor.yaml"
    config.write_text(f"rules: [{REPO / 'rules'}]\nsources: {{folders: []}}\n", encoding="utf-8")
    return build_pipeline(load_settings(str(config), env={}))


def file_records(tmp_path: Path) -> dict[str, tuple[str, str | None]]:
    with sqlite3.connect(tmp_path / "data" / "monitor.db") as db:
        rows = db.execute("SELECT path, status, reason FROM files")
        return {Path(path).name: (status, reason) for path, status, reason in rows}


def titles(pipeline: Pipeline) -> list[str]:
    with pipeline.store.engine.connect() as connection:
        return sorted(row[0] for row in connection.exec_driver_sql("SELECT title FROM articles"))


def test_walk_folder_lists_file_links_and_yields_folder_links_out_instead_of_walking_them(tree: Path) -> None:
    found = sorted(str(p.relative_to(tree)) for p in walk_folder(tree))
    assert found == ["again.json", "desk/story.json", "elsewhere", "passwd.json"]  # not elsewhere/plans


def test_walk_folder_following_links_walks_each_folder_once_even_through_a_loop(tree: Path) -> None:
    (tree / "desk" / "up").symlink_to(tree, target_is_directory=True)  # a link back up
    (tree / "twice").symlink_to(tree.parent / "outside" / "private", target_is_directory=True)
    found = sorted(str(p.relative_to(tree)) for p in walk_folder(tree, follow=True))
    # the private folder is reached by two links: walked through whichever comes first, once
    linked = [name for name in found if name.endswith("/plans.json")]
    assert len(linked) == 1 and linked[0] in ("elsewhere/plans.json", "twice/plans.json")
    assert [name for name in found if name not in linked] == ["again.json", "desk/story.json", "passwd.json"]


def test_folder_bounds_refuse_a_link_out_and_read_a_link_inside(tree: Path) -> None:
    bounds = FolderBounds.of(FolderSource(path=tree))
    reason = bounds.refusal(tree / "passwd.json")
    assert reason is not None and "passwd.json" in reason and "outside the folder" in reason
    assert str(tree.parent / "outside" / "secret.json") in reason
    assert (
        bounds.refusal(tree / "again.json") is None and bounds.refusal(tree / "desk" / "story.json") is None
    )
    assert bounds.read(tree / "again.json", 10_000) == STORY.encode()
    with pytest.raises(RefusedFile, match="outside the folder"):
        bounds.read(tree / "passwd.json", 10_000)  # read directly: refused where it is opened
    follow = FolderBounds.of(FolderSource(path=tree, follow_symlinks=True))
    assert follow.refusal(tree / "passwd.json") is None
    assert follow.read(tree / "passwd.json", 10_000) == SECRET.encode()


def test_folder_bounds_read_only_regular_files_and_at_most_the_limit(tree: Path) -> None:
    os.mkfifo(tree / "pipe.json")  # reading a FIFO would block the scan for good
    bounds = FolderBounds.of(FolderSource(path=tree))
    with pytest.raises(RefusedFile, match="not a regular file"):
        bounds.read(tree / "pipe.json", 10_000)
    with pytest.raises(RefusedFile, match="larger than"):
        bounds.read(tree / "desk" / "story.json", 10)


def test_iter_folder_lists_folder_links_out_only_for_the_scan_to_report(tree: Path) -> None:
    folder = FolderSource(path=tree)
    assert sorted(p.name for p in iter_folder(folder)) == ["again.json", "passwd.json", "story.json"]
    assert "elsewhere" in {p.name for p in iter_folder(folder, refused_links=True)}


def test_pipeline_scan_refuses_links_out_of_the_folder_once_and_reads_links_inside(
    pipeline: Pipeline, tree: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = FolderSource(path=tree)
    first = pipeline.scan_folder(folder)
    assert titles(pipeline) == ["NATO summit"]  # the outside file never became an article
    assert first.failed == 2 and first.articles == 1
    records = file_records(tmp_path)
    for name, target in (("passwd.json", "secret.json"), ("elsewhere", "private")):
        status, reason = records[name]
        assert status == "failed" and reason is not None
        assert name in reason and target in reason and "outside the folder" in reason
    # the link inside is read: its content is the story's, so one of the two is a duplicate
    assert {records["again.json"][0], records["story.json"][0]} == {"ingested", "duplicate"}
    assert "passwd.json" in caplog.text

    caplog.clear()
    again = pipeline.scan_folder(folder)
    assert (again.failed, again.articles) == (0, 0)  # reported once, not at every scan
    assert "passwd.json" not in caplog.text


def test_pipeline_scan_refuses_a_file_swapped_for_a_link_after_the_listing(
    pipeline: Pipeline, tree: Path
) -> None:
    folder = FolderSource(path=tree)
    listed = pipeline.list_folder(folder)
    story = tree / "desk" / "story.json"
    story.unlink()
    story.symlink_to(tree.parent / "outside" / "secret.json")
    report = pipeline.scan_folder_files(folder, listed)
    assert titles(pipeline) == []
    assert any("story.json" in failure and "outside" in failure for failure in report.failures)


def test_pipeline_scan_follows_links_out_when_the_folder_allows_it(pipeline: Pipeline, tree: Path) -> None:
    report = pipeline.scan_folder(FolderSource(path=tree, follow_symlinks=True))
    assert report.failed == 0
    assert titles(pipeline) == ["NATO secret memo", "NATO secret plans", "NATO summit"]

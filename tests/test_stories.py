"""One story, one alert: a wire story republished by several outlets alerts once, even across restarts."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from monitor.config import FolderSource, load_settings
from monitor.pipeline.ingest import Pipeline
from monitor.service.wiring import build_pipeline
from monitor.store.search import recent_hits

CORPUS = Path(__file__).parent / "data" / "near_duplicates"
RULES = """rules:
  - id: gaza
    query: Gaza OR tregua OR "cessate il fuoco"
"""


def make_pipeline(tmp_path: Path, dedup: str = "") -> Pipeline:
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"database: sqlite:///{tmp_path}/monitor.db\nrules: [{tmp_path / 'rules.yaml'}]\n{dedup}",
        encoding="utf-8",
    )
    return build_pipeline(load_settings(str(config), env={}))


def drop(files: list[Path], inbox: Path) -> FolderSource:
    inbox.mkdir(exist_ok=True)
    for path in files:
        shutil.copy(path, inbox / f"{path.parent.name}-{path.name}")
    return FolderSource(path=inbox)


@pytest.fixture
def republished() -> list[Path]:
    return sorted((CORPUS / "same" / "it-gaza-tregua").glob("*.txt"))


def test_story_republished_by_four_outlets_records_four_hits_and_one_alert(
    tmp_path: Path, republished: list[Path]
) -> None:
    pipeline = make_pipeline(tmp_path)
    report = pipeline.scan_folder(drop(republished, tmp_path / "in"))
    assert (report.articles, report.hits, report.alerts) == (4, 4, 1)
    with sqlite3.connect(tmp_path / "monitor.db") as db:
        rows = db.execute("SELECT uid, story FROM articles ORDER BY id").fetchall()
    assert {story for _, story in rows} == {rows[0][0]}  # one story, named by its first article


def test_different_stories_on_the_same_topic_each_alert(tmp_path: Path) -> None:
    pipeline = make_pipeline(tmp_path)
    files = sorted((CORPUS / "different" / "it-gaza-negoziati").glob("*.txt"))
    report = pipeline.scan_folder(drop(files, tmp_path / "in"))
    assert (report.articles, report.hits, report.alerts) == (2, 2, 2)


def test_republication_after_a_restart_still_joins_its_story(tmp_path: Path, republished: list[Path]) -> None:
    first = make_pipeline(tmp_path)
    assert first.scan_folder(drop(republished[:1], tmp_path / "in")).alerts == 1
    restarted = make_pipeline(tmp_path)  # a new process: the index is rebuilt from the database
    report = restarted.scan_folder(drop(republished[1:], tmp_path / "in"))
    assert (report.articles, report.hits, report.alerts) == (3, 3, 0)


def test_signatures_from_an_older_release_are_made_again_so_a_restart_still_joins_the_story(
    tmp_path: Path, republished: list[Path]
) -> None:
    first = make_pipeline(tmp_path)
    assert first.scan_folder(drop(republished[:1], tmp_path / "in")).alerts == 1
    with sqlite3.connect(tmp_path / "monitor.db") as db:  # as the previous shingling format left it
        for uid, signature in db.execute("SELECT uid, signature FROM articles").fetchall():
            db.execute("UPDATE articles SET signature = ? WHERE uid = ?", (b"\x01" + signature[1:], uid))
    restarted = make_pipeline(tmp_path)
    report = restarted.scan_folder(drop(republished[1:], tmp_path / "in"))
    assert (report.articles, report.hits, report.alerts) == (3, 3, 0)
    with sqlite3.connect(tmp_path / "monitor.db") as db:
        versions = {row[0] for row in db.execute("SELECT substr(signature, 1, 1) FROM articles")}
    assert versions == {bytes([2])}  # saved again: the next restart need not redo it


def test_dedup_disabled_alerts_every_outlet(tmp_path: Path, republished: list[Path]) -> None:
    pipeline = make_pipeline(tmp_path, "dedup: {enabled: false}\n")
    report = pipeline.scan_folder(drop(republished, tmp_path / "in"))
    assert (report.articles, report.alerts) == (4, 4)


def test_a_stricter_threshold_splits_lightly_edited_copies(tmp_path: Path, republished: list[Path]) -> None:
    pipeline = make_pipeline(tmp_path, "dedup: {threshold: 0.99}\n")
    report = pipeline.scan_folder(drop(republished, tmp_path / "in"))
    assert report.alerts == 4


def test_hits_name_the_other_outlets_that_carried_the_story(tmp_path: Path, republished: list[Path]) -> None:
    pipeline = make_pipeline(tmp_path)
    pipeline.scan_folder(drop(republished[:1], tmp_path / "ansa").model_copy(update={"name": "ANSA"}))
    pipeline.scan_folder(drop(republished[1:2], tmp_path / "rai").model_copy(update={"name": "Rai News"}))
    by_source = {h.source: h.also_reported_by for h in recent_hits(pipeline.store)}
    assert by_source == {"ANSA": ("Rai News",), "Rai News": ("ANSA",)}

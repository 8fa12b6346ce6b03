"""The pipeline over a real folder and SQLite file: bad files are named once, fixed files come back."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import monitor.pipeline.ingest as pipeline_module
from monitor.config import FolderSource, load_settings
from monitor.pipeline.ingest import Pipeline
from monitor.service.wiring import build_pipeline
from monitor.store.search import recent_hits
from tests.conftest import REPO, SEEDS, SHIPPED_RULE_IDS


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    config = tmp_path / "monitor.yaml"
    config.write_text(f"rules: [{REPO / 'rules'}]\nsources: {{folders: []}}\n", encoding="utf-8")
    return build_pipeline(load_settings(str(config), env={}))


def test_pipeline_failed_file_is_reported_once_and_retried_when_changed(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    broken = inbox / "story.json"
    broken.write_text('{"title": "Finland and NATO", "body": ', encoding="utf-8")
    folder = FolderSource(path=inbox)
    first = pipeline.scan_folder(folder)
    assert (first.failed, first.articles) == (1, 0)
    assert "story.json" in first.failures[0]
    again = pipeline.scan_folder(folder)
    assert (again.failed, again.skipped) == (0, 1)  # not read, not reported again
    broken.write_text(
        json.dumps({"title": "Finland and NATO", "body": "Finland joined NATO."}), encoding="utf-8"
    )
    os.utime(broken, ns=(1, 10**18))  # a distinct mtime even on coarse filesystems
    fixed = pipeline.scan_folder(folder)
    assert (fixed.failed, fixed.articles, fixed.hits) == (0, 1, 3)


def test_pipeline_oversized_file_is_refused_unread(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline_module, "MAX_FILE_BYTES", 1000)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "huge.txt").write_text("Titolo\n" + "parola " * 1000, encoding="utf-8")
    report = pipeline.scan_folder(FolderSource(path=inbox))
    assert report.failed == 1 and "larger than" in report.failures[0]


def test_pipeline_articles_without_hits_are_stored_once(pipeline: Pipeline, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.txt").write_text("Meteo\nSole su Roma\nDomani ancora sole.", encoding="utf-8")
    (inbox / "seed.txt").write_bytes(next(SEEDS.glob("*.txt")).read_bytes())
    report = pipeline.scan_folder(FolderSource(path=inbox))
    shipped = len(SHIPPED_RULE_IDS)
    assert (report.articles, report.hits, report.alerts) == (2, shipped, shipped)
    (inbox / "b.jsonl").write_text(
        json.dumps({"title": "Meteo", "summary": "Sole su Roma", "body": "Domani ancora sole."}) + "\n",
        encoding="utf-8",
    )
    report = pipeline.scan_folder(FolderSource(path=inbox))
    assert (report.articles, report.duplicates) == (0, 1)  # same content through another format


def test_pipeline_missing_folder_is_a_clear_error(pipeline: Pipeline, tmp_path: Path) -> None:
    from monitor.errors import SourceError

    with pytest.raises(SourceError, match="does not exist"):
        pipeline.scan_folder(FolderSource(path=tmp_path / "nowhere"))


def test_pipeline_text_a_database_cannot_store_is_cleaned(pipeline: Pipeline, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    # JSON escapes can carry NUL (PostgreSQL refuses it) and lone surrogates (not encodable).
    (inbox / "odd.json").write_text(
        '{"title": "Nato\\u0000 al vertice \\ud800", "body": "La Nato."}', encoding="utf-8"
    )
    report = pipeline.scan_folder(FolderSource(path=inbox))
    assert (report.failed, report.articles, report.hits) == (0, 1, 1)
    [hit] = recent_hits(pipeline.store)
    assert hit.title == "Nato al vertice ?"


def test_pipeline_a_row_the_database_refuses_fails_only_its_file(pipeline: Pipeline, tmp_path: Path) -> None:
    with pipeline.store.engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON articles WHEN NEW.title LIKE '%POISON%' "
            "BEGIN SELECT RAISE(ABORT, 'poison article refused'); END"
        )
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.txt").write_text("La Nato a Vilnius\n\nIl vertice della Nato.", encoding="utf-8")
    (inbox / "b.txt").write_text("POISON Nato\n\nTesto.", encoding="utf-8")
    (inbox / "c.txt").write_text("Tregua a Gaza\n\nChiesto il cessate il fuoco.", encoding="utf-8")
    report = pipeline.scan_folder(FolderSource(path=inbox))
    assert (report.articles, report.failed) == (2, 1)
    assert "b.txt" in report.failures[0] and "poison article refused" in report.failures[0]
    assert {h.title for h in recent_hits(pipeline.store)} == {"La Nato a Vilnius", "Tregua a Gaza"}
    again = pipeline.scan_folder(FolderSource(path=inbox))
    assert (again.failed, again.skipped) == (0, 3)  # the culprit is reported once, like any bad file


def test_daemon_scans_a_large_folder_in_chunks(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    import monitor.service.jobs as jobs_module
    from monitor.service.daemon import Daemon

    monkeypatch.setattr(jobs_module, "SCAN_CHUNK_FILES", 2)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for n in range(5):
        (inbox / f"{n}.txt").write_text(
            f"Vertice Nato numero {n}\n\nLa Nato si riunisce ({n}).", encoding="utf-8"
        )
    chunks: list[int] = []
    scan = pipeline.scan_folder_files

    def spy(folder: FolderSource, paths: list[Path], on_file: None = None) -> object:
        chunks.append(len(paths))
        return scan(folder, paths, on_file)

    monkeypatch.setattr(pipeline, "scan_folder_files", spy)
    settings = pipeline.settings.model_copy(
        update={
            "sources": pipeline.settings.sources.model_copy(update={"folders": [FolderSource(path=inbox)]})
        }
    )
    daemon = Daemon(settings, pipeline)
    assert asyncio.run(daemon.run_once()) == 0
    assert chunks == [2, 2, 1]
    assert len(recent_hits(pipeline.store, rule="nato")) == 5


def test_pipeline_checks_file_contents_against_the_store_once_per_group_of_files(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "000-stored.txt").write_text("Già letto\nUn articolo già in archivio.", encoding="utf-8")
    assert pipeline.scan_folder(FolderSource(path=inbox)).articles == 1
    for i in range(120):
        (inbox / f"{i + 1:03d}.txt").write_text(f"Notizia {i}\nIl testo numero {i}.", encoding="utf-8")
    (inbox / "050-copy.txt").write_text("Notizia 7\nIl testo numero 7.", encoding="utf-8")  # same group
    (inbox / "110-copy.txt").write_text("Notizia 3\nIl testo numero 3.", encoding="utf-8")  # a later group
    (inbox / "111-old.txt").write_text("Già letto\nUn articolo già in archivio.", encoding="utf-8")
    queries = []
    seen = pipeline.store.fingerprint_seen
    monkeypatch.setattr(pipeline.store, "fingerprint_seen", lambda fps: queries.append(1) or seen(fps))
    report = pipeline.scan_folder(FolderSource(path=inbox))
    new_files = 123
    assert report.files == new_files
    assert len(queries) == -(-new_files // pipeline_module.READ_AHEAD_FILES)  # not one per file
    assert report.articles == 120
    assert (report.skipped, report.duplicates) == (1 + 3, 0)  # the stored file unread; copies not parsed
    again = pipeline.scan_folder(FolderSource(path=inbox))
    assert (again.files, again.articles, again.skipped) == (0, 0, 124)


def test_pipeline_deeply_nested_json_file_fails_with_a_plain_reason_and_no_traceback(
    pipeline: Pipeline, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "bomb.json").write_bytes(b"[" * 100_000 + b"]" * 100_000)
    (inbox / "bomb.jsonl").write_bytes(b"[" * 100_000 + b"]" * 100_000 + b"\n")
    (inbox / "news.json").write_text(json.dumps({"title": "Finland and NATO"}), encoding="utf-8")
    report = pipeline.scan_folder(FolderSource(path=inbox))
    assert (report.failed, report.articles) == (2, 1)  # its neighbour is read all the same
    nested = "JSON nested too deeply to be an article (arrays or objects inside each other)"
    assert report.failures == [
        f"{inbox / 'bomb.json'}: {nested}",
        f"{inbox / 'bomb.jsonl'}: no readable record: {inbox / 'bomb.jsonl'}:1: {nested}",
    ]
    assert not [r for r in caplog.records if r.exc_info]  # logged as a reason, not as a crash

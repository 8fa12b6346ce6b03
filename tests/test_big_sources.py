"""One big file or feed must not block its source: statements stay within the drivers' limits,
a file goes in bounded batches, and a source that fails says so without stopping its neighbours.

Real SQLite and (with MONITOR_TEST_DATABASE_URL) a real PostgreSQL; the inputs are generated.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import event

from monitor.cli import main
from monitor.config import FolderSource, load_settings
from monitor.pipeline.ingest import BATCH_ARTICLES, Pipeline
from monitor.service.daemon import Daemon
from monitor.service.wiring import build_pipeline
from monitor.store.repo import Store
from tests.sources.feedserver import ROUTES, Route

RULES = "rules:\n  - id: nato\n    query: NATO\n"
LINES = 70_000  # past PostgreSQL's 65,535 bind parameters in any one-statement design


def write_config(tmp_path: Path, database: str, feeds: str = "[]") -> Path:
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"database: '{database}'\nrules: [rules.yaml]\n"
        f"sources:\n  folders: []\n  feeds: {feeds}\n"
        "channels:\n  out: {type: console}\ndefaults: {notify: [out]}\n",
        encoding="utf-8",
    )
    return config


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'monitor.db'}"
    else:
        yield request.getfixturevalue("postgres_url")


def big_jsonl(path: Path, lines: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        for n in range(lines):
            text = "Vertice NATO a Vilnius" if n % 10_000 == 0 else f"Notizia numero {n}"
            out.write(json.dumps({"id": f"r{n}", "title": text, "body": f"Corpo {n}."}) + "\n")


def pipeline_for(tmp_path: Path, database: str) -> Pipeline:
    return build_pipeline(load_settings(str(write_config(tmp_path, database)), env={}))


def count(store: Store, table: str) -> int:
    with store.engine.connect() as db:
        return int(db.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() or 0)


@pytest.mark.parametrize(
    "lines",
    [
        2_500,  # several batches, quick
        pytest.param(LINES, marks=pytest.mark.corpus),  # past PostgreSQL's limit: minutes on a busy machine
    ],
)
def test_scan_jsonl_large_file_is_ingested_in_batches(tmp_path: Path, database: str, lines: int) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    big_jsonl(inbox / "a-big.jsonl", lines)
    (inbox / "b-next.txt").write_text("Dopo\nIl file dopo\nNATO ancora.", encoding="utf-8")
    pipeline = pipeline_for(tmp_path, database)
    batches: list[int] = []
    process = pipeline.process

    def counting(articles, files=()):  # type: ignore[no-untyped-def]
        batches.append(len(articles))
        return process(articles, files)

    pipeline.process = counting  # type: ignore[method-assign]
    report = pipeline.scan_folder(FolderSource(path=inbox))
    assert (report.files, report.failed, report.articles) == (2, 0, lines + 1)
    assert report.hits == (lines - 1) // 10_000 + 2
    assert max(batches) <= BATCH_ARTICLES  # never the whole file in one transaction
    assert count(pipeline.store, "articles") == lines + 1
    with pipeline.store.engine.connect() as db:
        rows = dict(db.exec_driver_sql("SELECT path, articles FROM files").all())
    assert rows == {str(inbox / "a-big.jsonl"): lines, str(inbox / "b-next.txt"): 1}
    again = pipeline.scan_folder(FolderSource(path=inbox))
    assert (again.files, again.skipped, again.articles) == (0, 2, 0)  # recorded: not read again
    pipeline.store.engine.dispose()


def test_scan_a_failing_file_does_not_stop_its_neighbours(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.jsonl").write_bytes(b"\x00\x01 not json\n" * 3)
    (inbox / "b.txt").write_bytes(b"Troppo\n" + b"parola " * (2**21 // 7 + 1))  # past 2 MiB: one article
    (inbox / "c.txt").write_text("Vertice\nNATO a Vilnius\nTesto.", encoding="utf-8")
    pipeline = pipeline_for(tmp_path, f"sqlite:///{tmp_path / 'monitor.db'}")
    report = pipeline.scan_folder(FolderSource(path=inbox))
    assert (report.files, report.failed, report.articles, report.hits) == (3, 2, 1, 1)
    with pipeline.store.engine.connect() as db:
        found = db.exec_driver_sql("SELECT path, status, reason FROM files")
        rows = {Path(p).name: (s, r) for p, s, r in found}
    assert rows["c.txt"] == ("ingested", None)
    assert rows["a.jsonl"][0] == "failed" and "no readable record" in rows["a.jsonl"][1]
    assert rows["b.txt"][0] == "failed" and "larger than 2 MiB" in rows["b.txt"][1]


def test_scan_jsonl_line_past_the_article_bound_is_skipped_and_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    huge = json.dumps({"title": "Enorme", "body": "x" * (2 * 2**20)})
    (inbox / "mixed.jsonl").write_text(
        json.dumps({"title": "Vertice NATO", "body": "Testo."}) + "\n" + huge + "\n", encoding="utf-8"
    )
    pipeline = pipeline_for(tmp_path, f"sqlite:///{tmp_path / 'monitor.db'}")
    report = pipeline.scan_folder(FolderSource(path=inbox))
    assert (report.failed, report.articles, report.hits) == (0, 1, 1)
    assert f"{inbox / 'mixed.jsonl'}:2: longer than 2 MiB" in caplog.text


def feed_of(entries: int) -> bytes:
    items = "".join(
        f"<item><title>Notizia {n}</title><guid>g{n}</guid><description>Testo {n}</description></item>"
        for n in range(entries)
    )
    return f"<rss version='2.0'><channel><title>Grande</title>{items}</channel></rss>".encode()


def feeds_output(config: Path) -> str:
    result = CliRunner().invoke(main, ["--config", str(config), "feeds"])
    assert result.exit_code == 0, result.output
    return result.output


def test_feeds_a_feed_the_database_refuses_shows_its_error_and_spares_its_neighbours(
    tmp_path: Path, server: tuple[str, list[dict[str, str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A driver limit (here SQLite's, lowered so a modest feed crosses it) fails the big feed's
    statements: `monitor feeds` shows that feed failing with the database's reason, and the
    small feed polled in the same round is recorded."""
    base, _seen = server
    monkeypatch.setitem(ROUTES, "/big.rss", Route(body=feed_of(300)))
    monkeypatch.setitem(ROUTES, "/small.rss", Route(body=feed_of(1).replace(b"Notizia 0", b"NATO")))
    feeds = f"[{{url: '{base}/big.rss', name: big}}, {{url: '{base}/small.rss', name: small}}]"
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'monitor.db'}", feeds)
    settings = load_settings(str(config), env={})
    pipeline = build_pipeline(settings)

    @event.listens_for(pipeline.store.engine, "connect")
    def tiny_limit(dbapi: sqlite3.Connection, _record: object) -> None:
        dbapi.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 250)  # below a batch's IN list

    pipeline.store.engine.dispose()  # connections made from now on have the limit
    asyncio.run(Daemon(settings, pipeline).run_once())
    pipeline.store.engine.dispose()
    shown = feeds_output(config)
    big = next(line for line in shown.splitlines() if "big" in line)
    assert big.split()[1] == "failing" and "too many SQL variables" in big
    assert count(pipeline.store, "articles") == 1  # the small feed's one entry


@pytest.mark.parametrize(
    "entries",
    [
        5_000,  # several batches, quick
        pytest.param(100_000, marks=pytest.mark.corpus),  # feedparser alone takes tens of seconds
    ],
)
def test_feeds_a_feed_of_many_entries_is_recorded(
    tmp_path: Path,
    server: tuple[str, list[dict[str, str]]],
    monkeypatch: pytest.MonkeyPatch,
    database: str,
    entries: int,
) -> None:
    base, _seen = server
    monkeypatch.setitem(ROUTES, "/huge.rss", Route(body=feed_of(entries)))
    config = write_config(tmp_path, database, f"[{{url: '{base}/huge.rss', name: huge}}]")
    settings = load_settings(str(config), env={})
    pipeline = build_pipeline(settings)
    asyncio.run(Daemon(settings, pipeline).run_once())
    assert count(pipeline.store, "articles") == entries
    pipeline.store.engine.dispose()
    [shown] = [line.split() for line in feeds_output(config).splitlines() if line.startswith("huge")]
    assert shown[1] == "ok" and shown[shown.index("new") + 1] == str(entries), shown

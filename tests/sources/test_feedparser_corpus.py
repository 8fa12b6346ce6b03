"""feedparser's own ~2,200 test feeds, parsed and then ingested: only ArticleParseError may escape.

The corpus is not in the repository: ``bench/fetch_feedparser_corpus.py``
extracts it from feedparser's sdist into ``.cache/feedparser-tests/``, or
``FEEDPARSER_CORPUS`` names another copy.  Without it the test is skipped and
says how to get it.  Every article parsed is then recorded through the real
pipeline (language detection, the shipped rules, near-duplicate grouping, a
SQLite store), so odd text from odd feeds cannot break the stages after parsing.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from monitor.config import load_settings
from monitor.errors import ArticleParseError
from monitor.models import Article
from monitor.service.wiring import build_pipeline
from monitor.sources.parse import parse_feed

REPO = Path(__file__).resolve().parents[2]
MAX_SECONDS_PER_FILE = 5.0
SAMPLE_STRIDE = 10  # the everyday suite ingests every tenth file of the corpus
BATCH_FILES = 100  # files recorded per transaction, as a scan does  # the slowest file takes about 30 ms


def _fetcher() -> ModuleType:
    """The bench script, for its file listing and header reading (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "fetch_feedparser_corpus", REPO / "bench" / "fetch_feedparser_corpus.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FETCHER = _fetcher()
CORPUS = Path(os.environ.get("FEEDPARSER_CORPUS") or FETCHER.DEFAULT_DEST)


def corpus_files() -> list[Path]:
    files: list[Path] = FETCHER.corpus_files(CORPUS) if CORPUS.is_dir() else []
    if not files:
        pytest.skip(
            f"feedparser's test corpus not found in {CORPUS}: run "
            "`.venv/bin/python bench/fetch_feedparser_corpus.py` or set FEEDPARSER_CORPUS"
        )
    return files


@pytest.mark.slow
def test_parse_feed_feedparser_corpus_raises_only_article_parse_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    files = corpus_files()
    outcomes: Counter[str] = Counter()
    crashes = []
    slow = []
    caplog.set_level(logging.CRITICAL, logger="monitor.sources.parse")  # thousands of expected warnings
    for path in files:
        data = path.read_bytes()
        started = time.monotonic()
        try:
            parse_feed(data, source="corpus", origin=path.name, headers=FETCHER.corpus_headers(data))
            outcomes["parsed"] += 1
        except ArticleParseError:
            outcomes["ArticleParseError"] += 1
        except Exception as exc:  # the point of the test: list every crash, not just the first
            crashes.append(f"{path.relative_to(CORPUS)}: {type(exc).__name__}: {exc}")
        if time.monotonic() - started > MAX_SECONDS_PER_FILE:
            slow.append(str(path.relative_to(CORPUS)))
    assert crashes == [], f"{len(crashes)} of {len(files)} files crashed"
    assert slow == []
    assert outcomes["parsed"] > len(files) // 2  # most of the corpus is well-formed feeds


@pytest.mark.parametrize(
    "stride",
    [
        SAMPLE_STRIDE,  # every tenth file: each kind of feed in the corpus, in the everyday suite
        pytest.param(1, marks=pytest.mark.corpus),  # every file: `make test-corpus`
    ],
)
def test_pipeline_ingests_every_article_of_the_feedparser_corpus(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, stride: int
) -> None:
    files = corpus_files()[::stride]
    caplog.set_level(logging.CRITICAL, logger="monitor.sources.parse")
    parsed: list[tuple[Path, list[Article]]] = []
    for path in files:
        data = path.read_bytes()
        origin = str(path.relative_to(CORPUS))
        try:
            found = parse_feed(
                data, source=path.parent.name, origin=origin, headers=FETCHER.corpus_headers(data)
            )
        except ArticleParseError:
            continue
        if found:
            parsed.append((path, found))
    (tmp_path / "monitor.yaml").write_text(
        f"database: sqlite:///monitor.db\nrules: [{REPO / 'rules'}]\nsources: {{folders: []}}\n",
        encoding="utf-8",
    )
    pipeline = build_pipeline(load_settings(str(tmp_path / "monitor.yaml"), env={}))
    crashes = []
    recorded = 0
    try:
        for start in range(0, len(parsed), BATCH_FILES):
            batch = parsed[start : start + BATCH_FILES]
            try:
                result = pipeline.process([article for _path, found in batch for article in found])
                recorded += result.articles + result.duplicates
                continue
            except Exception:  # retried file by file below, to name the culprit
                pass
            for path, found in batch:
                try:
                    result = pipeline.process(found)
                except Exception as exc:  # the point of the test: list every failure, not just the first
                    crashes.append(f"{path.relative_to(CORPUS)}: {type(exc).__name__}: {exc}")
                    continue
                recorded += result.articles + result.duplicates
        stored = sum(1 for _ in pipeline.store.iter_articles())
    finally:
        pipeline.store.engine.dispose()
    assert crashes == []
    assert recorded == sum(len(found) for _path, found in parsed)  # each new or a known duplicate
    assert 0 < stored <= recorded

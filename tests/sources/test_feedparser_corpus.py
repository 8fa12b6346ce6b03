"""parse_feed over feedparser's own ~2,200 test feeds: only ArticleParseError may escape.

The corpus is not in the repository: ``bench/fetch_feedparser_corpus.py``
extracts it from feedparser's sdist into ``.cache/feedparser-tests/``, or
``FEEDPARSER_CORPUS`` names another copy.  Without it the test is skipped and
says how to get it.
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

from monitor.errors import ArticleParseError
from monitor.sources.parse import parse_feed

REPO = Path(__file__).resolve().parents[2]
MAX_SECONDS_PER_FILE = 5.0  # the slowest file takes about 30 ms


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


def test_parse_feed_feedparser_corpus_raises_only_article_parse_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    files = FETCHER.corpus_files(CORPUS) if CORPUS.is_dir() else []
    if not files:
        pytest.skip(
            f"feedparser's test corpus not found in {CORPUS}: run "
            "`.venv/bin/python bench/fetch_feedparser_corpus.py` or set FEEDPARSER_CORPUS"
        )
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

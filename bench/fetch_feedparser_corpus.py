"""Fetch feedparser's own test feeds, and optionally run ``parse_feed`` over all of them.

feedparser's source distribution carries about 2,200 small feeds (well-formed,
ill-formed, odd encodings, entities) that its authors collected over twenty
years of bug reports: a free fuzzing corpus for our parsing layer.  The wheel
does not include them, so this script downloads the sdist of the installed
version and extracts only ``tests/``::

    .venv/bin/python bench/fetch_feedparser_corpus.py            # into .cache/feedparser-tests/
    .venv/bin/python bench/fetch_feedparser_corpus.py --report   # then parse every file, print counts
    .venv/bin/python -m pytest tests/sources/test_feedparser_corpus.py

``tests/sources/test_feedparser_corpus.py`` runs over the same directory (or
``$FEEDPARSER_CORPUS``) and is skipped, with the reason, when it is absent.
Downloading uses pip, so it honours the same index and proxy settings as
installing does.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DEST = REPO / ".cache" / "feedparser-tests"
_HEADER = re.compile(rb"^Header:\s+([^:]+):(.+)$", re.MULTILINE)
# Only the headers that change how a document is parsed; the rest drive feedparser's HTTP tests.
_PARSING_HEADERS = frozenset({"content-type", "content-language", "content-location"})


def fetch(dest: Path, feedparser_version: str) -> int:
    """Download the sdist with pip and extract its ``tests/`` into ``dest``; return the file count."""
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                f"feedparser=={feedparser_version}",
                "--no-binary",
                ":all:",
                "--no-deps",
                "--quiet",
                "-d",
                scratch,
            ],
            check=True,
        )
        [sdist] = Path(scratch).glob("feedparser-*.tar.gz")
        with tarfile.open(sdist) as archive:
            prefix = f"feedparser-{feedparser_version}/tests/"
            # Feeds only: its test runner (.py) would be linted by `ruff check .` and is not needed.
            members = [
                m
                for m in archive.getmembers()
                if m.name.startswith(prefix) and m.isfile() and not m.name.endswith(".py")
            ]
            for member in members:
                member.name = member.name[len(prefix) :]
            dest.mkdir(parents=True, exist_ok=True)
            archive.extractall(dest, members=members, filter="data")
    (dest / ".feedparser-version").write_text(feedparser_version + "\n", encoding="utf-8")
    return len(members)


def corpus_files(root: Path) -> list[Path]:
    """The feeds under ``root``: everything but Python files and our version marker."""
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file() and path.suffix != ".py" and not path.name.startswith(".")
    )


def corpus_headers(data: bytes) -> dict[str, str]:
    """The HTTP headers feedparser's test server would send with this file (its ``Header:`` lines)."""
    headers = {}
    for name, value in _HEADER.findall(data):
        key = name.decode("ascii", "replace").strip().lower()
        if key in _PARSING_HEADERS:
            headers[key] = value.decode("latin-1").strip()
    return headers


def report(root: Path) -> int:
    """Parse every corpus file, print outcome counts and the slowest files; 1 if anything crashed."""
    from monitor.errors import ArticleParseError
    from monitor.sources.parse import parse_feed

    outcomes: Counter[str] = Counter()
    crashes: list[str] = []
    timings: list[tuple[float, str]] = []
    for path in corpus_files(root):
        data = path.read_bytes()
        started = time.perf_counter()
        try:
            parse_feed(
                data, source="corpus", origin=str(path.relative_to(root)), headers=corpus_headers(data)
            )
            outcomes["articles (possibly none)"] += 1
        except ArticleParseError:
            outcomes["ArticleParseError"] += 1
        except Exception as exc:  # a crash is exactly what this report looks for
            outcomes["crash"] += 1
            crashes.append(f"{path.relative_to(root)}: {type(exc).__name__}: {exc}")
        timings.append((time.perf_counter() - started, str(path.relative_to(root))))
    print(f"{sum(outcomes.values())} files in {sum(t for t, _ in timings):.1f}s: {dict(outcomes)}")
    for seconds, name in sorted(timings, reverse=True)[:5]:
        print(f"  slowest: {seconds * 1000:.0f} ms {name}")
    for crash in crashes:
        print(f"  CRASH {crash}")
    return 1 if crashes else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dest", type=Path, default=DEFAULT_DEST, help="where to extract (default: %(default)s)"
    )
    parser.add_argument(
        "--version", default=version("feedparser"), help="feedparser version (default: installed)"
    )
    parser.add_argument("--report", action="store_true", help="parse every file and print the outcomes")
    args = parser.parse_args()
    if not corpus_files(args.dest):
        count = fetch(args.dest, args.version)
        print(f"extracted {count} files of feedparser {args.version} into {args.dest}")
    else:
        print(f"{args.dest} already holds the corpus (delete it to fetch again)")
    return report(args.dest) if args.report else 0


if __name__ == "__main__":
    sys.exit(main())

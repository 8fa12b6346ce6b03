"""Watched folders: which files to read, and how each kind becomes Articles.

The caller reads the bytes (it hashes them to skip files already ingested) and
hands them to :func:`read_article_file`, which dispatches on the suffix:

``.txt``
    Line 1 the title, line 2 the standfirst (summary), the rest the body;
    leading blank lines are skipped, a blank line 2 means "no standfirst",
    and a one-line file is a title-only article.
``.json``
    One record, or an array of records (see :mod:`monitor.sources.records`).
``.jsonl``
    One record per line.  Bad lines are logged as ``path:line`` and skipped,
    so one broken line does not hold back a day's export; only a file with no
    usable line at all raises.
``.html`` / ``.htm``
    A saved web page; its main text is extracted.
``.xml`` / ``.rss`` / ``.atom``
    A saved RSS or Atom feed; every entry is an article.

An article's origin is the file path; when a file holds several articles,
``path#<id>`` (their own id) or ``path#<n>`` (array position or line number).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from fnmatch import fnmatchcase
from pathlib import Path

from monitor.config import FolderSource
from monitor.errors import ArticleParseError, SourceError
from monitor.models import Article, make_article
from monitor.sources.confine import walk_folder
from monitor.sources.parse import parse_feed
from monitor.sources.records import article_from_record, load_json, record_id
from monitor.sources.text import decode_bytes, extract_html_article

log = logging.getLogger(__name__)

# Files still being written by a download, an editor or rsync: reading them now
# would ingest half an article, then the whole one as a "different" article.
_TEMP_SUFFIXES = (".part", ".partial", ".tmp", ".temp", ".crdownload", ".download", ".swp", "~")
_TEMP_PREFIXES = (".", "~$", "#")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_MAX_REPORTED_ERRORS = 3


def iter_folder(folder: FolderSource, *, refused_links: bool = False) -> Iterator[Path]:
    """The files of ``folder`` that its patterns select, sorted by relative path.

    Patterns match the file name, case-insensitively (``*.txt`` takes
    ``NOTE.TXT``).  Hidden files and directories and temporary files are never
    yielded.  Sorting makes a scan reproducible, so the same folder always
    produces articles in the same order.  Symbolic links are listed as files
    are; links to folders are walked only with ``follow_symlinks``, and with
    ``refused_links`` those leading outside the folder are yielded too, for
    the scan to report (see :mod:`monitor.sources.confine`).
    """
    root = folder.path
    if not root.is_dir():
        raise SourceError(f"{root}: folder not found or not a directory")
    patterns = [pattern.lower() for pattern in folder.patterns]
    found: list[Path] = []
    for path in walk_folder(root, recursive=folder.recursive, follow=folder.follow_symlinks):
        listed = _wanted(path.name, patterns) and path.is_file()
        # walk_folder yields no folder but a link to one outside, for the scan to refuse
        if listed or (refused_links and path.is_dir()):
            found.append(path)
    found.sort(key=lambda path: path.relative_to(root).parts)
    yield from found


def _wanted(name: str, patterns: list[str]) -> bool:
    lowered = name.lower()
    if lowered.startswith(_TEMP_PREFIXES) or lowered.endswith(_TEMP_SUFFIXES):
        return False
    return any(fnmatchcase(lowered, pattern) for pattern in patterns)


def read_article_file(
    path: Path,
    data: bytes,
    *,
    source: str,
    language: str | None = None,
    tags: tuple[str, ...] = (),
) -> list[Article]:
    """The articles in one file's ``data``; raises :class:`ArticleParseError` naming ``path``.

    ``language`` is the folder's configured language and wins over any the file
    declares.  The result is never empty: a file with nothing to read raises.
    """
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise ArticleParseError(f"{path}: unsupported file type {path.suffix or '(none)'!r}")
    if not data.strip():
        raise ArticleParseError(f"{path}: empty file")
    try:
        articles = reader(path, data, source, language, tags)
    except ArticleParseError as exc:
        message = str(exc)
        if message.startswith(str(path)):
            raise
        raise ArticleParseError(f"{path}: {message}") from None
    if not articles:
        raise ArticleParseError(f"{path}: no articles in file")
    return articles


_Reader = Callable[[Path, bytes, str, str | None, tuple[str, ...]], list[Article]]


def _read_text(
    path: Path, data: bytes, source: str, language: str | None, tags: tuple[str, ...]
) -> list[Article]:
    lines = decode_bytes(data).splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        raise ArticleParseError(f"{path}: empty file")
    title = lines[0]
    summary = lines[1] if len(lines) > 1 else ""
    body = "\n".join(lines[2:])
    return [
        make_article(
            title=title,
            summary=summary,
            body=body,
            language=language,
            source=source,
            origin=str(path),
            tags=tags,
        )
    ]


def _read_json(
    path: Path, data: bytes, source: str, language: str | None, tags: tuple[str, ...]
) -> list[Article]:
    try:
        value = load_json(decode_bytes(data))
    except json.JSONDecodeError as exc:
        raise ArticleParseError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except ValueError as exc:
        raise ArticleParseError(f"{path}: {exc}") from None
    if isinstance(value, dict):
        return [
            article_from_record(
                value,
                where=str(path),
                source=source,
                origin=str(path),
                language=language,
                tags=tags,
            )
        ]
    if not isinstance(value, list):
        raise ArticleParseError(f"{path}: expected a JSON object or an array of objects")
    records = [(f"{path}: item {index}", index, item) for index, item in enumerate(value, start=1)]
    return _read_records(path, records, source, language, tags)


def _read_jsonl(
    path: Path, data: bytes, source: str, language: str | None, tags: tuple[str, ...]
) -> list[Article]:
    records: list[tuple[str, int, object]] = []
    errors: list[tuple[int, str]] = []
    for number, line in enumerate(decode_bytes(data).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((f"{path}:{number}", number, load_json(line)))
        except json.JSONDecodeError as exc:
            errors.append((number, f"{path}:{number}: invalid JSON: {exc.msg}"))
        except ValueError as exc:
            errors.append((number, f"{path}:{number}: {exc}"))
    return _read_records(path, records, source, language, tags, errors)


def _read_records(
    path: Path,
    records: list[tuple[str, int, object]],
    source: str,
    language: str | None,
    tags: tuple[str, ...],
    bad_lines: list[tuple[int, str]] | None = None,
) -> list[Article]:
    """Articles from located records; bad ones are logged and skipped unless all are bad."""
    failures = list(bad_lines or ())
    articles = []
    for where, number, record in records:
        ident = record_id(record) if isinstance(record, dict) else None
        try:
            articles.append(
                article_from_record(
                    record,
                    where=where,
                    source=source,
                    origin=f"{path}#{ident or number}",
                    language=language,
                    tags=tags,
                )
            )
        except ArticleParseError as exc:
            failures.append((number, str(exc)))
    errors = [message for _, message in sorted(failures)]
    if not articles:
        if not errors:
            raise ArticleParseError(f"{path}: no records in file")
        more = len(errors) - _MAX_REPORTED_ERRORS
        shown = "; ".join(errors[:_MAX_REPORTED_ERRORS]) + (f" (and {more} more)" if more > 0 else "")
        raise ArticleParseError(f"{path}: no readable record: {shown}")
    for error in errors:
        log.warning("file=%s skipped record: %s", path, error)
    return articles


def _read_html(
    path: Path, data: bytes, source: str, language: str | None, tags: tuple[str, ...]
) -> list[Article]:
    declared = _META_CHARSET.search(data[:4096])
    html = decode_bytes(data, declared.group(1).decode("ascii") if declared else None)
    title, text = extract_html_article(html)
    if not title and not text:
        raise ArticleParseError(f"{path}: no readable text in the page")
    return [
        make_article(title=title, body=text, language=language, source=source, origin=str(path), tags=tags)
    ]


def _read_feed(
    path: Path, data: bytes, source: str, language: str | None, tags: tuple[str, ...]
) -> list[Article]:
    return parse_feed(data, source=source, origin=str(path), language=language, tags=tags)


_READERS: dict[str, _Reader] = {
    ".txt": _read_text,
    ".json": _read_json,
    ".jsonl": _read_jsonl,
    ".html": _read_html,
    ".htm": _read_html,
    ".xml": _read_feed,
    ".rss": _read_feed,
    ".atom": _read_feed,
}

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

Sizes are bounded, so one file cannot take the daemon's memory: a ``.txt`` is
one article and is refused past ``MAX_ARTICLE_BYTES``; a JSONL file is read
line by line and handed on in batches, and a line (one record) past
``MAX_ARTICLE_BYTES`` is skipped like any bad line; the formats parsed whole
(JSON, HTML, saved feeds) are refused past ``MAX_DOCUMENT_BYTES``.  The caller
refuses any file past its kind's :func:`size_limit` unread.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
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
MAX_ARTICLE_BYTES = 2 * 2**20  # one article's text: far past any news story, well within memory
MAX_DOCUMENT_BYTES = 16 * 2**20  # a file parsed as a whole (JSON, HTML, a saved feed)
MAX_STREAMED_BYTES = 50 * 2**20  # a JSONL file, read a line at a time


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


def size_limit(path: Path) -> int:
    """The largest file of this kind that is read at all (see the module's note on sizes)."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return MAX_STREAMED_BYTES
    if suffix == ".txt":
        return MAX_ARTICLE_BYTES
    return MAX_DOCUMENT_BYTES


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
    return list(iter_article_file(path, data, source=source, language=language, tags=tags))


def iter_article_file(
    path: Path,
    data: bytes,
    *,
    source: str,
    language: str | None = None,
    tags: tuple[str, ...] = (),
) -> Iterator[Article]:
    """Like :func:`read_article_file`, one article at a time: a JSONL file is parsed as it is
    consumed, so a large one never has all its records in memory at once.  A file with nothing
    usable raises once its end is reached (having yielded nothing)."""
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise ArticleParseError(f"{path}: unsupported file type {path.suffix or '(none)'!r}")
    if not data.strip():
        raise ArticleParseError(f"{path}: empty file")
    found = 0
    try:
        for article in reader(path, data, source, language, tags):
            found += 1
            yield article
    except ArticleParseError as exc:
        message = str(exc)
        if message.startswith(str(path)):
            raise
        raise ArticleParseError(f"{path}: {message}") from None
    if not found:
        raise ArticleParseError(f"{path}: no articles in file")


_Reader = Callable[[Path, bytes, str, str | None, tuple[str, ...]], Iterable[Article]]


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
) -> Iterable[Article]:
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
) -> Iterable[Article]:
    return _read_records(path, _jsonl_records(path, data), source, language, tags)


def _jsonl_records(path: Path, data: bytes) -> Iterator[tuple[str, int, object]]:
    """(where, line number, record or the error that stands for it), one line at a time."""
    for number, raw in enumerate(_lines(data), start=1):
        if not raw.strip():
            continue
        where = f"{path}:{number}"
        if len(raw) > MAX_ARTICLE_BYTES:
            yield where, number, ArticleParseError(f"{where}: longer than {MAX_ARTICLE_BYTES // 2**20} MiB")
            continue
        try:
            yield where, number, load_json(decode_bytes(raw))
        except json.JSONDecodeError as exc:
            yield where, number, ArticleParseError(f"{where}: invalid JSON: {exc.msg}")
        except ValueError as exc:  # built to break the decoder (records.load_json says how)
            yield where, number, ArticleParseError(f"{where}: {exc}")
        except ArticleParseError as exc:  # binary or undecodable: this line only
            yield where, number, ArticleParseError(f"{where}: {exc}")


def _lines(data: bytes) -> Iterator[bytes]:
    """The lines of ``data`` without copying the whole of it into a list (a BOM is dropped).

    UTF-16 and UTF-32 (known by their byte-order mark) cannot be split on a newline byte:
    those files are decoded whole first, and handed on as UTF-8 lines."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        data = decode_bytes(data).encode("utf-8")
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    while start < len(data):
        end = data.find(b"\n", start)
        if end < 0:
            end = len(data)
        yield data[start:end].rstrip(b"\r")
        start = end + 1


def _read_records(
    path: Path,
    records: Iterable[tuple[str, int, object]],
    source: str,
    language: str | None,
    tags: tuple[str, ...],
) -> Iterator[Article]:
    """Articles from located records; bad ones (or the errors that stand for them) are logged and
    skipped unless all are bad, and then the first few are the file's error."""
    errors: list[str] = []
    failed = found = 0
    for where, number, record in records:
        try:
            if isinstance(record, ArticleParseError):
                raise record
            ident = record_id(record) if isinstance(record, dict) else None
            article = article_from_record(
                record,
                where=where,
                source=source,
                origin=f"{path}#{ident or number}",
                language=language,
                tags=tags,
            )
            _check_length(article, where)
        except ArticleParseError as exc:
            failed += 1
            if len(errors) < _MAX_REPORTED_ERRORS:
                errors.append(str(exc))
            log.warning("file=%s skipped record: %s", path, exc)
            continue
        found += 1
        yield article
    if not found:
        if not failed:
            raise ArticleParseError(f"{path}: no records in file")
        more = failed - len(errors)
        shown = "; ".join(errors) + (f" (and {more} more)" if more > 0 else "")
        raise ArticleParseError(f"{path}: no readable record: {shown}")


def _check_length(article: Article, where: str) -> None:
    """One article's text stays within what matching handles in bounded memory."""
    if len(article.title) + len(article.summary) + len(article.body) > MAX_ARTICLE_BYTES:
        limit = MAX_ARTICLE_BYTES // 2**20
        raise ArticleParseError(f"{where}: the article's text is longer than {limit} MiB")


def _read_html(
    path: Path, data: bytes, source: str, language: str | None, tags: tuple[str, ...]
) -> list[Article]:
    declared = _META_CHARSET.search(data[:4096])
    html = decode_bytes(data, declared.group(1).decode("ascii") if declared else None)
    title, text = extract_html_article(html)
    if not title and not text:
        raise ArticleParseError(f"{path}: no readable text in the page")
    if len(title) + len(text) > MAX_ARTICLE_BYTES:
        raise ArticleParseError(f"{path}: the page's text is longer than {MAX_ARTICLE_BYTES // 2**20} MiB")
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

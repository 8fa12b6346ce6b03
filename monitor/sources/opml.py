"""OPML feed lists in and out: how people move their subscriptions between readers.

Every feed reader (Feedly, Inoreader, NetNewsWire, Miniflux, …) exports its
subscriptions as OPML: ``<outline>`` elements with an ``xmlUrl`` are feeds, and
the ``<outline>`` elements around them are folders.  Here a feed's folders
become its tags (nested folders give several, outermost first) and so does
OPML 2.0's ``category`` attribute, so a newsroom's "Esteri / Europa" folder
follows its feeds into ``monitor.yaml``.  Pure: bytes in, values out, no CLI and
no network (an OPML ``include`` is reported, never fetched).

The file comes from someone else's export, so it is parsed with defusedxml:
any entity declaration (billion laughs, external entities, parameter-entity
tricks) is refused with :class:`OpmlError` naming the file, before expansion.
A harmless ``<!DOCTYPE opml>`` is accepted, and an external DTD is never
loaded.  One bad outline (a ``file:`` or ``javascript:`` URL) does not cost
the user the rest of the import: it becomes an :class:`OpmlProblem`.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit

import defusedxml
import defusedxml.ElementTree as SafeET
from pydantic import ValidationError

from monitor.config import FeedSource
from monitor.errors import ConfigError, SourceError
from monitor.models import normalise_language

log = logging.getLogger(__name__)

_SPEC = "http://opml.org/spec2.opml"
# Characters XML 1.0 cannot carry at all, not even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# What OPML 2.0's category attribute cannot hold in one tag: it is a comma-separated list of /paths.
_CATEGORY_SEPARATORS = re.compile("[,/]")


class OpmlError(SourceError):
    """An OPML file that cannot be read at all; the message names the file.

    A SourceError, not a ConfigError: the configuration is fine, the file
    handed to an import is not.
    """


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    """One subscription: what a feed reader knows about a feed, and what we keep of it."""

    url: str
    name: str | None = None
    html_url: str | None = None
    tags: tuple[str, ...] = ()
    language: str | None = None

    def __post_init__(self) -> None:
        if not _is_http(self.url):
            raise ValueError(f"a feed URL must be http:// or https://, not {self.url!r}")
        if any(not tag.strip() for tag in self.tags):
            raise ValueError(f"feed {self.url}: tags cannot be blank")


@dataclass(frozen=True, slots=True)
class OpmlProblem:
    """An outline that was skipped or partly ignored, located for a person to fix."""

    origin: str
    outline: str  # its title, text or URL: OPML outlines have no better name
    message: str

    def __str__(self) -> str:
        return f"{self.origin}: outline {self.outline!r}: {self.message}"


@dataclass(frozen=True, slots=True)
class OpmlImport:
    """The feeds of an OPML file, in document order, and what could not be taken from it."""

    feeds: list[OpmlFeed] = field(default_factory=list)
    problems: list[OpmlProblem] = field(default_factory=list)


def read_opml(data: bytes, *, origin: str) -> OpmlImport:
    """Parse an OPML export; raise :class:`OpmlError` only when the file as a whole is unusable.

    A feed filed in several folders (Feedly exports one outline per folder)
    is one feed with the tags of all of them.
    """
    body = _body(data, origin)
    feeds: dict[str, _FeedDraft] = {}
    problems: list[OpmlProblem] = []
    for outline, folders in _walk(body, ()):
        feed = _draft(outline, folders, origin, problems)
        if feed is None:
            continue
        if feed.url in feeds:
            feeds[feed.url].merge(feed)
        else:
            feeds[feed.url] = feed
    return OpmlImport([draft.freeze() for draft in feeds.values()], problems)


def parse_opml(data: bytes, *, origin: str) -> list[OpmlFeed]:
    """The feeds of an OPML export; skipped outlines are logged as warnings.

    Use :func:`read_opml` to show the problems to the user instead.
    """
    result = read_opml(data, origin=origin)
    for problem in result.problems:
        log.warning("opml=%s outline=%r problem=%s", problem.origin, problem.outline, problem.message)
    return result.feeds


def render_opml(feeds: Iterable[OpmlFeed], *, title: str, now: datetime) -> bytes:
    """An OPML 2.0 document that any feed reader imports, and :func:`parse_opml` reads back equal.

    Feeds are grouped by folder (folders in order of first use, feeds in the
    given order within each), so they read back in that order.

    A feed's first tag is its folder: readers that know one level of folders
    (most of them) file it there.  Later tags go in ``category``; when a later
    tag holds a comma or a slash, which ``category`` cannot carry, the tags up
    to it become nested folders instead, so the order of tags survives.
    """
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = _xml_text(title)
    ET.SubElement(head, "dateCreated").text = format_datetime(now)
    ET.SubElement(head, "docs").text = _SPEC
    body = ET.SubElement(root, "body")
    folders: dict[tuple[str, ...], ET.Element] = {(): body}
    for feed in feeds:
        path, categories = _placement(feed.tags)
        parent = _folder(folders, path)
        attributes = {"type": "rss", "text": _xml_text(feed.name or feed.url)}
        if feed.name:
            attributes["title"] = _xml_text(feed.name)
        attributes["xmlUrl"] = _xml_text(feed.url)
        if feed.html_url:
            attributes["htmlUrl"] = _xml_text(feed.html_url)
        if feed.language:
            attributes["language"] = _xml_text(feed.language)
        if categories:
            attributes["category"] = ",".join("/" + _xml_text(tag) for tag in categories)
        ET.SubElement(parent, "outline", attributes)
    ET.indent(root, space="  ")
    document = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{document}\n'.encode()


def config_entries(feeds: Iterable[OpmlFeed], *, interval: str | None = None) -> list[dict[str, Any]]:
    """Feed entries for ``sources.feeds`` in ``monitor.yaml``, in the shape :class:`FeedSource` takes.

    Only what the OPML said is written (plus ``interval`` when given, as
    written, e.g. ``"10m"``), so the config's defaults keep applying.  Each
    entry is validated here, raising :class:`ConfigError` (a bad ``interval``):
    a file the CLI writes from these must load.
    """
    entries: list[dict[str, Any]] = []
    for feed in feeds:
        entry: dict[str, Any] = {"url": feed.url}
        if feed.name:
            entry["name"] = feed.name
        if interval is not None:
            entry["interval"] = interval
        if feed.language:
            entry["language"] = feed.language
        if feed.tags:
            entry["tags"] = list(feed.tags)
        try:
            FeedSource.model_validate(entry)
        except ValidationError as exc:
            details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"feed {feed.url}: {details}") from exc
        entries.append(entry)
    return entries


@dataclass(slots=True)
class _FeedDraft:
    url: str
    name: str | None
    html_url: str | None
    tags: list[str]
    language: str | None

    def merge(self, other: _FeedDraft) -> None:
        self.name = self.name or other.name
        self.html_url = self.html_url or other.html_url
        self.language = self.language or other.language
        self.tags = _unique([*self.tags, *other.tags])

    def freeze(self) -> OpmlFeed:
        return OpmlFeed(self.url, self.name, self.html_url, tuple(self.tags), self.language)


def _body(data: bytes, origin: str) -> ET.Element:
    try:
        root: ET.Element = SafeET.fromstring(
            data, forbid_dtd=False, forbid_entities=True, forbid_external=True
        )
    except defusedxml.EntitiesForbidden as exc:
        source = f" from {exc.sysid}" if exc.sysid else ""
        raise OpmlError(
            f"{origin}: refused: the file declares the XML entity {exc.name!r}{source}; OPML exports "
            "never need entities, and they are how XML bombs and file-disclosure attacks work"
        ) from exc
    except defusedxml.DefusedXmlException as exc:  # external references, unsupported constructs
        raise OpmlError(f"{origin}: refused: {exc}; OPML exports never need it") from exc
    except ET.ParseError as exc:
        line, column = exc.position
        raise OpmlError(f"{origin}:{line}:{column}: not well-formed XML: {exc.msg}") from exc
    if _local(root.tag) != "opml":
        raise OpmlError(f"{origin}: not an OPML file: the root element is <{_local(root.tag)}>, not <opml>")
    body = next((child for child in root if _local(child.tag) == "body"), None)
    if body is None:
        raise OpmlError(f"{origin}: not an OPML file: <opml> has no <body>")
    return body


def _walk(element: ET.Element, folders: tuple[str, ...]) -> Iterator[tuple[ET.Element, tuple[str, ...]]]:
    """Every outline with the names of the folders around it, in document order."""
    for child in element:
        if _local(child.tag) != "outline":
            continue
        yield child, folders
        attributes = _attributes(child)
        if attributes.get("xmlurl", "").strip():
            yield from _walk(child, folders)  # a feed with outlines inside (rare): same folders
        else:
            name = _name(attributes)
            yield from _walk(child, (*folders, name) if name else folders)


def _draft(
    outline: ET.Element, folders: tuple[str, ...], origin: str, problems: list[OpmlProblem]
) -> _FeedDraft | None:
    attributes = _attributes(outline)
    url = attributes.get("xmlurl", "").strip()
    name = _name(attributes)
    if not url:
        if attributes.get("type", "").lower() == "include":
            message = "an OPML include is not followed: import its file"
            problems.append(OpmlProblem(origin, name or attributes.get("url", ""), message))
        return None  # a folder, a separator or a plain link
    if not _is_http(url):
        problems.append(OpmlProblem(origin, name or url, f"not an http(s) feed URL, skipped: {url}"))
        return None
    language = None
    if attributes.get("language", "").strip():
        language = normalise_language(attributes["language"])
        if language is None:
            message = f"language {attributes['language']!r} is not a language code, ignored"
            problems.append(OpmlProblem(origin, name or url, message))
    categories = [
        part for item in attributes.get("category", "").split(",") for part in item.split("/") if part.strip()
    ]
    return _FeedDraft(
        url=url,
        name=name if name != url else None,
        html_url=attributes.get("htmlurl", "").strip() or None,
        tags=_unique([*folders, *categories]),
        language=language,
    )


def _attributes(outline: ET.Element) -> dict[str, str]:
    # Exporters disagree on case (xmlUrl, xmlurl, xmlURL).
    return {_local(key).lower(): value for key, value in outline.attrib.items()}


def _name(attributes: dict[str, str]) -> str | None:
    return attributes.get("title", "").strip() or attributes.get("text", "").strip() or None


def _unique(tags: Iterable[str]) -> list[str]:
    """Tags stripped, blanks dropped, the first spelling kept of those equal but for case."""
    seen: set[str] = set()
    result: list[str] = []
    for tag in tags:
        tag = tag.strip()
        if tag and tag.casefold() not in seen:
            seen.add(tag.casefold())
            result.append(tag)
    return result


def _placement(tags: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split tags into a folder path and ``category`` values, keeping their order."""
    if not tags:
        return (), ()
    cut = 1
    for i, tag in enumerate(tags[1:], start=2):
        if _CATEGORY_SEPARATORS.search(tag):
            cut = i
    return tags[:cut], tags[cut:]


def _folder(folders: dict[tuple[str, ...], ET.Element], path: tuple[str, ...]) -> ET.Element:
    if path not in folders:
        parent = _folder(folders, path[:-1])
        name = _xml_text(path[-1])
        folders[path] = ET.SubElement(parent, "outline", {"text": name, "title": name})
    return folders[path]


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _is_http(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)

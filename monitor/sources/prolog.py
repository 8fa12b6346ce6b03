"""The prolog of a feed made harmless before any XML parser reads it.

A feed is untrusted input.  XML's DTD lets a few hundred bytes declare
entities that expand to gigabytes (billion laughs, quadratic blow-up) or
that name a local file or a URL (XXE, external DTD).  feedparser 6.0 by
itself never reads a file or URL (external entities are off in its SAX
parser; expat ≥ 2.4 also caps amplification at 100×), and before parsing
it rewrites the DOCTYPE with regular expressions, keeping only entities
whose value holds no ``&``.  That rewrite has gaps, measured on 6.0.14: a
"safe" entity may be of any size and the loose parser expands every
reference (a 100 kB entity referenced 2,000 times expands to 600 MB, 10,000
times to 3 GB), and text before the DOCTYPE, a DOCTYPE inside a
comment, a UTF-16 or UTF-7 document, or a ``<`` inside an entity value
slips declarations past it.

So ``parse.py`` first decodes the document exactly as feedparser would
(its own ``convert_to_utf8``), which lets this guard read the characters the
XML parser will read whatever the encoding, and the prolog (everything
before the first element) is rebuilt here: comments and processing
instructions go, and
the DOCTYPE keeps its name and only the internal entities whose value is
plain text or one character reference, as long as all references to them
together add at most :data:`_MAX_ENTITY_EXPANSION` characters
(``<!ENTITY nbsp "&#160;">`` and ``<!ENTITY id "tag:example.com,">`` keep
working).  External, parameter and nested entities are dropped and counted
in a warning; references to them stay as literal text.  A prolog that
never ends raises :class:`ArticleParseError`.  Whichever XML parser
feedparser picks (expat, or libxml2 when installed), it never sees a DTD
that can read anything or grow.  Other pathological input (say 200,000
nested elements) costs feedparser time in proportion to its size, which
``feeds.py``'s size limit bounds.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from monitor.errors import ArticleParseError

# All references to the kept entities together may add this many characters, no more.
_MAX_ENTITY_EXPANSION = 1_000_000
# An entity this short (or a character reference) is never longer than its own "&x;".
_NEVER_GROWS = 3
# More growing entities than this is no feed we know; counting their references would cost too much.
_MAX_GROWING_ENTITIES = 64
_XML_DECLARATION = b"<?xml version='1.0' encoding='utf-8'?>"
_NETSCAPE_DOCTYPE = (
    b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
    b'"http://my.netscape.com/publish/formats/rss-0.91.dtd"'
)
# feedparser's own test for where the prolog ends; the guard must look at least that far.
_ELEMENT_START = re.compile(rb"<\w")
# Where text in the prolog ends: the next element, comment, declaration or processing instruction.
_PROLOG_MARKUP = re.compile(rb"<[\w!?]")
_SPACE = re.compile(rb"\s*")
_DOCTYPE_WORD = re.compile(rb"""[^\s"'\[>]+""")
_DECLARATION_STOP = re.compile(rb"""["'>]""")
_PE_REFERENCE = re.compile(rb"%[^;\s<>%&]+;")
_DOCTYPE_NAME = re.compile(rb"[A-Za-z_][\w.:-]*")
# Names and values feedparser's own filter keeps too (``\w+`` names, double-quoted values).
_ENTITY_DECLARATION = re.compile(rb"""<!ENTITY\s+([A-Za-z_]\w*)\s+(?:"([^"]*)"|'([^'"]*)')\s*>""")
_CHAR_REFERENCE = re.compile(rb"&#(?:[0-9]{1,7}|x[0-9A-Fa-f]{1,6});")
_PLAIN_VALUE = re.compile(rb"[^<>&%]*")


class _Doctype(NamedTuple):
    """A DOCTYPE as it will be written: its opening words and the entities that may stay."""

    head: bytes
    entities: list[tuple[bytes, bytes]]

    def render(self) -> bytes:
        if not self.entities:
            return self.head + b">"
        declarations = b"\n".join(b'<!ENTITY %s "%s">' % entity for entity in self.entities)
        return self.head + b" [\n" + declarations + b"\n]>"


def defuse_prolog(document: bytes, origin: str) -> tuple[bytes, int]:
    """``document`` (UTF-8) with a prolog no XML parser can be hurt by, and how many
    entity declarations were refused.

    A prolog without any ``<!`` (most feeds) is returned untouched.  Otherwise
    it is rebuilt from the XML declaration, the text between markup (kept so
    that a document that was not well-formed stays so), and one rewritten
    DOCTYPE, each part on its own line as feedparser's filter expects;
    comments and processing instructions are dropped because feedparser's
    regular expressions would read declarations inside them.
    """
    pieces = [_XML_DECLARATION]
    doctype: _Doctype | None = None
    refused = 0
    rewrite = False
    pos, size = 0, len(document)
    while pos < size and not _ELEMENT_START.match(document, pos):
        if document.startswith(b"<?", pos):
            pos = _construct_end(document, pos, b"?>", "processing instruction", origin)
        elif document.startswith(b"<!--", pos):
            pos, rewrite = _construct_end(document, pos + 2, b"-->", "comment", origin), True
        elif document.startswith(b"<!DOCTYPE", pos):
            found, pos, dropped = _read_doctype(document, pos, origin)
            refused += dropped + (len(found.entities) if doctype else 0)  # a second DOCTYPE is dropped
            doctype, rewrite = doctype or found, True
        elif document.startswith(b"<!", pos):
            end = _declaration_end(document, pos)
            if end < 0:
                raise ArticleParseError(f"{origin}: declaration never closed before the first element")
            refused += document.startswith(b"<!ENTITY", pos)
            pos, rewrite = end, True
        else:
            following = _PROLOG_MARKUP.search(document, pos + 1)
            end = size if following is None else following.start()
            pieces.append(document[pos:end])
            pos = end
    if not rewrite:
        return document, 0
    if doctype is not None:
        entities, dropped = _affordable(doctype.entities, document, pos)
        refused += dropped
        pieces.append(b"\n" + doctype._replace(entities=entities).render() + b"\n")
    return b"".join(pieces) + document[pos:], refused


def _affordable(
    entities: list[tuple[bytes, bytes]], document: bytes, start: int
) -> tuple[list[tuple[bytes, bytes]], int]:
    """``entities`` without the growing ones if, all references expanded, they would add more
    than :data:`_MAX_ENTITY_EXPANSION` characters; and how many were dropped.

    Counting stops at the budget, so an attack costs no more than a legitimate feed.
    """
    growing: dict[bytes, int] = {}
    for name, value in entities:
        length = len(value.decode("utf-8", "replace"))
        if length > _NEVER_GROWS and not _CHAR_REFERENCE.fullmatch(value):
            growing[name] = max(length, growing.get(name, 0))
    if not growing:
        return entities, 0
    if len(growing) <= _MAX_GROWING_ENTITIES:
        references = re.compile(rb"&(" + b"|".join(re.escape(name) for name in growing) + rb");")
        added = 0
        for reference in references.finditer(document, start):
            added += growing[reference.group(1)]
            if added > _MAX_ENTITY_EXPANSION:
                break
        else:
            return entities, 0
    kept = [(name, value) for name, value in entities if name not in growing]
    return kept, len(entities) - len(kept)


def _skip_space(document: bytes, at: int) -> int:
    match = _SPACE.match(document, at)
    return match.end() if match else at


def _construct_end(document: bytes, pos: int, terminator: bytes, what: str, origin: str) -> int:
    end = document.find(terminator, pos + 2)
    if end < 0:
        raise ArticleParseError(f"{origin}: {what} never closed before the first element")
    return end + len(terminator)


def _declaration_end(document: bytes, pos: int) -> int:
    """Index just past the ``>`` closing the ``<!…`` at ``pos`` (quoted ``>`` skipped), or -1."""
    at = pos + 2
    while (stop := _DECLARATION_STOP.search(document, at)) is not None:
        if stop.group() == b">":
            return stop.end()
        close = document.find(stop.group(), stop.end())
        if close < 0:
            return -1
        at = close + 1
    return -1


def _read_doctype(document: bytes, pos: int, origin: str) -> tuple[_Doctype, int, int]:
    """The safe form of the DOCTYPE at ``pos``, where it ends, and how many entities it lost."""
    words, at = _doctype_words(document, pos + len(b"<!DOCTYPE"), origin)
    entities: list[tuple[bytes, bytes]] = []
    refused = 0
    if document.startswith(b"[", at):
        at, entities, refused = _internal_subset(document, at + 1, origin)
    if not document.startswith(b">", at):
        raise ArticleParseError(f"{origin}: malformed DOCTYPE")
    name = words[0] if words and _DOCTYPE_NAME.fullmatch(words[0]) else b"feed"
    netscape = any(b"netscape" in word.lower() for word in words)  # feedparser's RSS 0.91 marker
    head = _NETSCAPE_DOCTYPE if netscape else b"<!DOCTYPE " + name
    return _Doctype(head, entities), at + 1, refused


def _doctype_words(document: bytes, at: int, origin: str) -> tuple[list[bytes], int]:
    """The name and external id of a DOCTYPE, up to its ``[`` or ``>``."""
    words: list[bytes] = []
    while True:
        at = _skip_space(document, at)
        char = document[at : at + 1]
        if char in (b"", b"[", b">"):
            if not char:
                raise ArticleParseError(f"{origin}: DOCTYPE never closed")
            return words, at
        if char in (b'"', b"'"):
            close = document.find(char, at + 1)
            if close < 0:
                raise ArticleParseError(f"{origin}: DOCTYPE never closed")
            words.append(document[at : close + 1])
            at = close + 1
        else:
            word = _DOCTYPE_WORD.match(document, at)
            assert word is not None  # the character is none of the stops
            words.append(word.group())
            at = word.end()


def _internal_subset(document: bytes, at: int, origin: str) -> tuple[int, list[tuple[bytes, bytes]], int]:
    """Walk a DOCTYPE's ``[…]``: the kept entity declarations, where ``]`` ends, how many refused."""
    kept: list[tuple[bytes, bytes]] = []
    refused = 0
    while True:
        at = _skip_space(document, at)
        if at >= len(document):
            raise ArticleParseError(f"{origin}: DOCTYPE never closed")
        if document.startswith(b"]", at):
            return _skip_space(document, at + 1), kept, refused
        if document.startswith(b"<!--", at):
            at = _construct_end(document, at + 2, b"-->", "comment", origin)
        elif document.startswith(b"<?", at):
            at = _construct_end(document, at, b"?>", "processing instruction", origin)
        elif document.startswith(b"<!", at):
            end = _declaration_end(document, at)
            if end < 0:
                raise ArticleParseError(f"{origin}: DOCTYPE declaration never closed")
            if document.startswith(b"<!ENTITY", at):
                safe = _safe_entity(document[at:end])
                if safe is None:
                    refused += 1
                else:
                    kept.append(safe)
            at = end
        elif (reference := _PE_REFERENCE.match(document, at)) is not None:
            refused += 1
            at = reference.end()
        else:
            raise ArticleParseError(f"{origin}: malformed DOCTYPE")


def _safe_entity(declaration: bytes) -> tuple[bytes, bytes] | None:
    """Name and value of an internal entity whose value is plain text or one character reference."""
    match = _ENTITY_DECLARATION.fullmatch(declaration)
    if match is None:
        return None  # parameter entity, external (SYSTEM/PUBLIC) entity, or unparsable
    name, value = match.group(1), match.group(2) if match.group(2) is not None else match.group(3)
    if _PLAIN_VALUE.fullmatch(value) or _CHAR_REFERENCE.fullmatch(value):
        return name, _referenced_character(value)
    return None  # refers to other entities: the seed of every expansion attack


def _referenced_character(value: bytes) -> bytes:
    """A character reference written as its character: feedparser's loose parser turns an
    entity defined as ``&#160;`` into the text "&&#160;;".  Markup characters, controls and
    code points that are no characters keep their reference."""
    if not _CHAR_REFERENCE.fullmatch(value):
        return value
    digits = value[2:-1]
    code = int(digits[1:], 16) if digits.startswith(b"x") else int(digits)
    try:
        character = chr(code).encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        return value
    return value if code < 0x20 or character in b"<>&%\"'" else character

"""YAML text → dicts and lists that remember where each key, value and item was written.

libyaml (PyYAML's C parser) scans and parses; this module builds the values from its events
in one pass.  Building them here rather than in a YAML library's composer and constructor is
what makes a rule file fast to read (ruamel's round-trip loader, in pure Python, took 6–22 s
for 10,000 rules) while keeping what the messages need:

- every mapping and list knows the line and column of itself, of each key, value and item;
- plain scalars are resolved by YAML 1.2's core schema, not libyaml's YAML 1.1: ``no`` (the
  Norwegian language code) stays a string, so do ``on``/``off`` and dates;
- aliases are priced as they are met: an alias costs the number of values it stands for
  (nested aliases multiplied out), and past ``max_aliased`` in all the build stops at the
  alias, before anything is expanded; an alias to the collection it sits in is refused;
- nesting past ``max_depth`` stops the build where it goes deeper;
- a duplicate key, a second document, a key that is a list or a mapping, or a tag other
  than YAML's own are refused with their position.

Without libyaml, PyYAML's own Python parser yields the same events, slower.  Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

LIBYAML = hasattr(yaml, "CSafeLoader")  # PyYAML built with libyaml (its wheels are)
_TAG = "tag:yaml.org,2002:"
# A key's position and its value's: key line, key column, value line, value column (all
# 0-based), and the value's quoting ("'" or '"', "" when plain or a collection).
Position = tuple[int, int, int, int, str]


class YamlMap(dict[Any, Any]):
    """A mapping as written: ``line``/``column`` where it starts, ``positions`` by key."""

    __slots__ = ("column", "line", "positions")

    def __init__(self, line: int, column: int) -> None:
        super().__init__()
        self.line, self.column = line, column
        self.positions: dict[Any, Position] = {}


class YamlSeq(list[Any]):
    """A list as written: ``line``/``column`` where it starts, ``positions`` of each item."""

    __slots__ = ("column", "line", "positions")

    def __init__(self, line: int, column: int) -> None:
        super().__init__()
        self.line, self.column = line, column
        self.positions: list[tuple[int, int]] = []


class TreeError(Exception):
    """Text that is no YAML we read; ``line`` and ``column`` are 0-based, ``limit`` for a bound."""

    def __init__(self, message: str, line: int | None, column: int | None, *, limit: bool = False) -> None:
        super().__init__(message)
        self.message, self.line, self.column, self.limit = message, line, column, limit


# -- scalars: YAML 1.2's core schema, with ruamel's readings of numbers (underscores, 0b, 0o, 0x)
_INT = re.compile(r"[-+]?(?:0b[01_]+|0o[0-7_]+|0x[0-9a-fA-F_]+|[0-9_]+)")
_FLOAT = re.compile(
    r"""[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN)""",
    re.X,
)
_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_NUMBER_START = frozenset("-+0123456789.")
_BASES = {"0b": 2, "0o": 8, "0x": 16}


def resolve_plain(text: str) -> Any:
    """The value of an untagged, unquoted scalar."""
    if text in _NULLS:
        return None
    if text[0] in "tTfF" and text in _BOOLS:
        return _BOOLS[text]
    if text[0] in _NUMBER_START:
        if _INT.fullmatch(text):
            return _int(text, text)
        if _FLOAT.fullmatch(text):
            return _float(text)
    return text


def _int(text: str, fallback: Any) -> Any:
    digits = text.replace("_", "")
    sign = -1 if digits[:1] == "-" else 1
    digits = digits.lstrip("-+")
    base = _BASES.get(digits[:2], 10)
    digits = digits[2:] if base != 10 else digits
    return sign * int(digits, base) if digits else fallback


def _float(text: str) -> float:
    value = text.replace("_", "").lower()
    if value.endswith((".inf", ".nan")):
        return -math.inf if value[0] == "-" else math.nan if value.endswith("nan") else math.inf
    return float(value)


def _tagged(text: str, tag: str, line: int, column: int) -> Any:
    """A scalar with an explicit tag: YAML's own types only (!!str, !!int, !!float, !!bool, !!null)."""
    kind = tag.removeprefix(_TAG) if tag.startswith(_TAG) else None
    if kind == "str":
        return text
    value: Any = _NOT_READ
    if kind == "int" and _INT.fullmatch(text):
        value = _int(text, _NOT_READ)
    elif kind == "float" and (_FLOAT.fullmatch(text) or _INT.fullmatch(text)):
        value = _float(text)
    elif kind == "bool":
        value = _BOOLS.get(text, _NOT_READ)
    elif kind == "null" and text in _NULLS:
        value = None
    elif kind is None or kind not in ("int", "float", "bool", "null"):
        raise TreeError(f"unknown tag {tag}: only plain YAML values are read", line, column)
    if value is _NOT_READ:
        raise TreeError(f"{text!r} is not a valid !!{kind}", line, column)
    return value


_NOT_READ: Any = object()


# -- the build ------------------------------------------------------------------------------
class _Open:
    """A mapping or list being built, with what it will cost an alias that names it."""

    __slots__ = ("anchor", "container", "key", "key_at", "merge", "merges", "size")

    def __init__(self, container: YamlMap | YamlSeq, anchor: str | None) -> None:
        self.container, self.anchor = container, anchor
        self.size = 1
        self.key: Any = _NOT_READ  # a mapping's key awaiting its value
        self.key_at = (0, 0)
        self.merge = False  # that key is ``<<``
        self.merges: list[tuple[Any, Any]] = []  # (value of a ``<<``, its position)


class _Builder:
    def __init__(self, max_aliased: int, max_depth: int) -> None:
        self.max_aliased, self.max_depth = max_aliased, max_depth
        self.anchors: dict[str, tuple[Any, int | None]] = {}  # name → (value, size; None while open)
        self.aliased = 0

    def document(self, parser: Any) -> Any:
        """The one document of the stream (None when there is none)."""
        parser.get_event()  # StreamStart
        if parser.check_event(StreamEndEvent):
            return None
        parser.get_event()  # DocumentStart
        value = self.node(parser)
        parser.get_event()  # DocumentEnd
        if parser.check_event(DocumentStartEvent):
            mark = parser.peek_event().start_mark
            raise TreeError("expected one document in the file, found a second one", mark.line, mark.column)
        return value

    def node(self, parser: Any) -> Any:
        """The document's root, built with an explicit stack: depth is bounded, not recursed."""
        get = parser.get_event
        stack: list[_Open] = []
        while True:
            event = get()
            kind = type(event)
            style = ""
            if kind is ScalarEvent:
                value, size, style = self.scalar(event), 1, event.style or ""
                if event.anchor is not None:
                    self.anchors[event.anchor] = (value, 1)
                line, column = event.start_mark.line, event.start_mark.column
            elif kind is AliasEvent:
                value, size = self.alias(event)
                line, column = event.start_mark.line, event.start_mark.column
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                stack.append(self.open(event, kind is MappingStartEvent, len(stack)))
                continue
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                done = stack.pop()
                value, size = self.close(done), done.size
                line, column = value.line, value.column
            else:  # the parser yields nothing else inside a document
                mark = event.start_mark
                raise TreeError(f"unexpected {kind.__name__}", mark.line, mark.column)
            if not stack:
                return value
            self.place(stack[-1], value, size, line, column, style, event)

    def scalar(self, event: Any) -> Any:
        tag = event.tag
        if tag is None and event.implicit[0]:
            return resolve_plain(event.value)
        if tag is None or tag == "!":
            return event.value
        return _tagged(event.value, tag, event.start_mark.line, event.start_mark.column)

    def alias(self, event: Any) -> tuple[Any, int]:
        mark = event.start_mark
        found = self.anchors.get(event.anchor)
        if found is None:
            raise TreeError(
                f"alias *{event.anchor} names no anchor (&{event.anchor}) above it", mark.line, mark.column
            )
        value, size = found
        if size is None:
            raise TreeError(
                f"alias *{event.anchor} refers to the collection it is in (a loop): refused",
                mark.line,
                mark.column,
                limit=True,
            )
        self.aliased += size
        if self.aliased > self.max_aliased:
            raise TreeError(
                f"alias *{event.anchor} brings the values repeated by aliases past {self.max_aliased:,} "
                "(a YAML alias bomb?): refused before anything was built; write the values out"
                " (rule files: share terms with concepts and @name)",
                mark.line,
                mark.column,
                limit=True,
            )
        return value, size

    def open(self, event: Any, mapping: bool, depth: int) -> _Open:
        mark = event.start_mark
        if depth >= self.max_depth:
            raise TreeError(
                f"nested more than {self.max_depth} levels deep: refused", mark.line, mark.column, limit=True
            )
        tag = event.tag
        if tag is not None and tag != "!" and tag != _TAG + ("map" if mapping else "seq"):
            raise TreeError(f"unknown tag {tag}: only plain YAML values are read", mark.line, mark.column)
        container = YamlMap(mark.line, mark.column) if mapping else YamlSeq(mark.line, mark.column)
        if event.anchor is not None:
            self.anchors[event.anchor] = (container, None)
        return _Open(container, event.anchor)

    def close(self, done: _Open) -> Any:
        container = done.container
        if done.merges and isinstance(container, YamlMap):
            _merge(container, done.merges)
        if done.anchor is not None:
            self.anchors[done.anchor] = (container, done.size)
        return container

    def place(
        self, into: _Open, value: Any, size: int, line: int, column: int, style: str, event: Any
    ) -> None:
        """Put ``value`` (written at ``line``, ``column``) into the collection being built."""
        into.size += size
        container = into.container
        if isinstance(container, YamlSeq):
            container.append(value)
            container.positions.append((line, column))
            return
        if into.key is _NOT_READ:
            if isinstance(value, dict | list):
                raise TreeError("a key must be a single value, not a list or a mapping", line, column)
            into.key, into.key_at = value, (line, column)
            into.merge = (
                value == "<<" and type(event) is ScalarEvent and event.tag is None and event.implicit[0]
            )
            return
        key, (key_line, key_column) = into.key, into.key_at
        into.key = _NOT_READ
        if into.merge:
            into.merges.append((value, (key_line, key_column)))
            return
        if key in container:
            raise TreeError(f"duplicate key {key!r} (a key appears once in a mapping)", key_line, key_column)
        container[key] = value
        container.positions[key] = (key_line, key_column, line, column, style)


def _merge(container: YamlMap, merges: list[tuple[Any, Any]]) -> None:
    """``<<: *base`` (or a list of them): their keys, unless written here or by an earlier one."""
    for value, (line, column) in merges:
        sources = value if isinstance(value, list) else [value]
        for source in sources:
            if not isinstance(source, YamlMap):
                raise TreeError("<< merges a mapping, or a list of mappings, into this one", line, column)
            for key, item in source.items():
                if key not in container:
                    container[key] = item
                    container.positions[key] = source.positions[key]


def build(text: str, *, max_aliased: int, max_depth: int, pure: bool = False) -> Any:
    """The values of a one-document YAML text; raises TreeError with the position at fault.

    ``pure`` parses with PyYAML's Python parser even where libyaml is there.
    """
    pure = pure or not LIBYAML
    parser = None
    try:
        parser = yaml.SafeLoader(text) if pure else yaml.CSafeLoader(text)  # the reader checks characters
        return _Builder(max_aliased, max_depth).document(parser)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(str(part) for part in (exc.context, exc.problem) if part) or "invalid YAML"
        deep = "maximum nesting depth" in message  # libyaml's own bound (1,000), met scanning ahead
        if deep:
            message = f"nested more than {max_depth} levels deep: refused"
        line, column = (mark.line, mark.column) if mark else (None, None)
        raise TreeError(message, line, column, limit=deep) from None
    except yaml.reader.ReaderError as exc:
        # libyaml counts bytes of UTF-8, PyYAML's reader characters
        head = text[: exc.position] if pure else text.encode()[: exc.position].decode(errors="ignore")
        line, column = head.count("\n"), len(head) - (head.rfind("\n") + 1)
        message = f"the character U+{exc.character:04X} is not allowed in YAML ({exc.reason})"
        raise TreeError(message, line, column) from None
    except yaml.YAMLError as exc:
        raise TreeError(str(exc), None, None) from None
    finally:
        if parser is not None:
            parser.dispose()

"""YAML loading that keeps line numbers, so every error can point at the line to fix.

YAML 1.2 (ruamel.yaml) is used on purpose: under YAML 1.1 the language code
``no`` (Norwegian) silently becomes ``False``.

Rule files and ``monitor.yaml`` are read again on every reload, from whatever
an editor (or an intruder) left there, so reading them is bounded before
anything is built from them:

- a file larger than :data:`MAX_YAML_BYTES` is refused unread;
- aliases (``*name``) may bring at most :data:`MAX_ALIAS_NODES` values in all.
  An alias costs nothing to parse, but everything downstream (plain copies,
  validation) expands it, and nine nested lists of nine aliases ("billion
  laughs") expand to 387 million values from a few hundred bytes.  The
  composer counts what each alias would expand to as it meets it and stops
  at the bound, naming the line, before a single value is built;
- an alias to the collection it sits in (a loop) is refused the same way;
- nesting deeper than :data:`MAX_DEPTH` is refused (the composer recurses).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer, ComposerError, MaxDepthExceededError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

MAX_YAML_BYTES = 4 * 2**20  # about 50,000 rules: more go in several files (parsing is slow)
MAX_ALIAS_NODES = 10_000  # reuse of a few lists or mappings, never an amplification
MAX_DEPTH = 64  # rule files and monitor.yaml nest 5 or 6 levels


class YamlSyntaxError(Exception):
    """A file that is not valid YAML; ``line`` is 1-based."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path, self.line, self.message = path, line, message
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")


class YamlLimitError(YamlSyntaxError):
    """A file refused for its size, its aliases or its depth, before it was built."""


class _AliasLimit(ComposerError):
    """Raised inside the composer; becomes a YamlLimitError with the file's name."""


class _BoundedComposer(Composer):
    """A composer that prices every alias it meets and refuses past MAX_ALIAS_NODES values in all.

    An alias's price is the number of values (scalars and collections) of the
    node it names, aliases inside that node included, so nested aliases are
    priced at what they multiply to.  Sizes are remembered per node, so pricing
    is linear in the document however the aliases nest.
    """

    def compose_document(self: Any) -> Any:
        self._sizes: dict[int, int] = {}
        self._aliased = 0
        return super().compose_document()

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.parser.check_event(AliasEvent):
            event = self.parser.peek_event()
            node = self.anchors.get(event.anchor)
            if node is not None:
                self._price(node, event)
        return super().compose_node(parent, index)

    def _price(self, node: Node, event: Any) -> None:
        if isinstance(node, SequenceNode | MappingNode) and node.end_mark is None:
            raise _AliasLimit(
                None,
                None,
                f"alias *{event.anchor} refers to the collection it is in (a loop): refused",
                event.start_mark,
            )
        self._aliased += _size(node, self._sizes, MAX_ALIAS_NODES + 1)
        if self._aliased > MAX_ALIAS_NODES:
            raise _AliasLimit(
                None,
                None,
                f"alias *{event.anchor} brings the values repeated by aliases past {MAX_ALIAS_NODES:,} "
                "(a YAML alias bomb?): refused before anything was built; write the values out"
                " (rule files: share terms with concepts and @name)",
                event.start_mark,
            )


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _size(root: Node, sizes: dict[int, int], cap: int) -> int:
    """Values under ``root`` once every alias is expanded (at most ``cap``), without recursion."""
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if children_done:
            sizes[id(node)] = min(cap, 1 + sum(sizes[id(child)] for child in children))
        else:
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
    return sizes[id(root)]


def load_yaml(path: Path) -> Any:
    """Parse one YAML file, keeping positions; raises YamlSyntaxError (YamlLimitError) or OSError."""
    with path.open("rb") as file:
        data = file.read(MAX_YAML_BYTES + 1)
    if len(data) > MAX_YAML_BYTES:
        raise YamlLimitError(
            str(path),
            None,
            f"larger than {MAX_YAML_BYTES // 2**20} MiB: refused unread (split it in several files)",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise YamlSyntaxError(str(path), line, f"not UTF-8 text (byte {exc.start + 1})") from None
    return parse_yaml(text, str(path))


def _loader() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Composer = _BoundedComposer
    yaml.max_depth = MAX_DEPTH
    return yaml


def parse_yaml(text: str, name: str) -> Any:
    yaml = _loader()
    try:
        return yaml.load(text)
    except _AliasLimit as exc:
        mark = exc.problem_mark
        raise YamlLimitError(name, mark.line + 1 if mark else None, str(exc.problem)) from None
    except MaxDepthExceededError as exc:
        mark = exc.problem_mark
        message = f"nested more than {MAX_DEPTH} levels deep: refused"
        raise YamlLimitError(name, mark.line + 1 if mark else None, message) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise YamlSyntaxError(name, line, message or "invalid YAML") from None
    except YAMLError as exc:
        raise YamlSyntaxError(name, None, str(exc)) from None


def line_of(node: Any, key: str | int | None = None) -> int | None:
    """1-based line of a mapping key / sequence item (or of the node itself)."""
    try:
        if key is None:
            return int(node.lc.line) + 1
        if isinstance(node, CommentedMap) and key in node:
            return int(node.lc.key(key)[0]) + 1
        if isinstance(node, CommentedSeq) and isinstance(key, int):
            return int(node.lc.item(key)[0]) + 1
    except (AttributeError, KeyError, IndexError, TypeError):
        return None
    return None


def value_position(node: Any, key: str) -> tuple[int, int] | None:
    """1-based (line, column) where the value of ``key`` starts."""
    try:
        line, col = node.lc.value(key)
        return int(line) + 1, int(col) + 1
    except (AttributeError, KeyError, TypeError):
        return None


def locate(root: Any, loc: tuple[int | str, ...]) -> int | None:
    """Best line for a pydantic error location inside ``root``."""
    node, best = root, line_of(root)
    for part in loc:
        line = line_of(node, part)
        if line is not None:
            best = line
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
    return best


def to_plain(node: Any) -> Any:
    """ruamel containers → dicts and lists (pydantic validates plain data)."""
    if isinstance(node, dict):
        return {str(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    return node


def append_to_list(path: Path, keys: tuple[str, ...], items: list[dict[str, Any]]) -> None:
    """Append ``items`` to the list at ``keys`` in a YAML file, keeping its comments and layout.

    Missing mappings on the way are created.  The file is replaced atomically,
    so an interrupted write never leaves half a configuration.
    """
    root = load_yaml(path) if path.exists() else None
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    root = root if isinstance(root, CommentedMap) else CommentedMap()
    node = root
    for key in keys[:-1]:
        if not isinstance(node.get(key), CommentedMap):
            node[key] = CommentedMap()
        node = node[key]
    if not isinstance(node.get(keys[-1]), CommentedSeq):
        node[keys[-1]] = CommentedSeq()
    node[keys[-1]].extend(items)
    partial = path.with_name(f".{path.name}.partial")
    with partial.open("w", encoding="utf-8") as out:
        yaml.dump(root, out)
    partial.replace(path)

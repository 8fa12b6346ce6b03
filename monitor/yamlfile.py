"""YAML loading that keeps line numbers, so every error can point at the line to fix.

YAML 1.2 (ruamel.yaml) is used on purpose: under YAML 1.1 the language code
``no`` (Norwegian) silently becomes ``False``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError


class YamlSyntaxError(Exception):
    """A file that is not valid YAML; ``line`` is 1-based."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path, self.line, self.message = path, line, message
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")


def load_yaml(path: Path) -> Any:
    """Parse one YAML file, keeping positions; raises YamlSyntaxError or OSError."""
    text = path.read_text(encoding="utf-8")
    return parse_yaml(text, str(path))


def parse_yaml(text: str, name: str) -> Any:
    yaml = YAML(typ="rt")
    try:
        return yaml.load(text)
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
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    root = yaml.load(path.read_text(encoding="utf-8")) if path.exists() else None
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

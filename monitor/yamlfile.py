"""YAML loading that keeps line numbers, so every error can point at the line to fix.

YAML 1.2 is read on purpose: under YAML 1.1 the language code ``no`` (Norwegian)
silently becomes ``False``.  libyaml parses; :mod:`monitor.yamltree` builds the values
with their positions (ruamel's round-trip loader, in pure Python, made a reload of
10,000 rules take many seconds).  ruamel stays for what must keep a file's comments
and layout when it is written back (:func:`append_to_list`).

Rule files and ``monitor.yaml`` are read again on every reload, from whatever
an editor (or an intruder) left there, so reading them is bounded before
anything is built from them:

- a file larger than :data:`MAX_YAML_BYTES` is refused unread;
- aliases (``*name``) may bring at most :data:`MAX_ALIAS_NODES` values in all.
  An alias costs nothing to parse, but everything downstream (plain copies,
  validation) expands it, and nine nested lists of nine aliases ("billion
  laughs") expand to 387 million values from a few hundred bytes.  The
  builder counts what each alias would expand to as it meets it and stops
  at the bound, naming the line, before a single value is copied;
- an alias to the collection it sits in (a loop) is refused the same way;
- nesting deeper than :data:`MAX_DEPTH` is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monitor.yamltree import TreeError, YamlMap, YamlSeq, build

MAX_YAML_BYTES = 4 * 2**20  # about 50,000 rules: more go in several files
MAX_ALIAS_NODES = 10_000  # reuse of a few lists or mappings, never an amplification
MAX_DEPTH = 64  # rule files and monitor.yaml nest 5 or 6 levels


class YamlSyntaxError(Exception):
    """A file that is not valid YAML; ``line`` and ``column`` are 1-based."""

    def __init__(self, path: str, line: int | None, message: str, column: int | None = None) -> None:
        self.path, self.line, self.message, self.column = path, line, message, column
        where = f"{path}:{line}" if line else path
        where += f":{column}" if line and column else ""
        super().__init__(f"{where}: {message}")


class YamlLimitError(YamlSyntaxError):
    """A file refused for its size, its aliases or its depth, before it was built."""


def read_bytes(path: Path) -> bytes:
    """A YAML file's bytes, MAX_YAML_BYTES and one more at most (``decode`` refuses those)."""
    with path.open("rb") as file:
        return file.read(MAX_YAML_BYTES + 1)


def read_text(path: Path) -> str:
    """A YAML file's text, refused unread past MAX_YAML_BYTES; raises YamlSyntaxError or OSError."""
    return decode(read_bytes(path), str(path))


def decode(data: bytes, name: str) -> str:
    """The UTF-8 text of a YAML file's bytes, refused past MAX_YAML_BYTES (YamlSyntaxError)."""
    if len(data) > MAX_YAML_BYTES:
        raise YamlLimitError(
            name,
            None,
            f"larger than {MAX_YAML_BYTES // 2**20} MiB: refused unread (split it in several files)",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise YamlSyntaxError(name, line, f"not UTF-8 text (byte {exc.start + 1})") from None


def load_yaml(path: Path) -> Any:
    """Parse one YAML file, keeping positions; raises YamlSyntaxError (YamlLimitError) or OSError."""
    return parse_yaml(read_text(path), str(path))


def parse_yaml(text: str, name: str) -> Any:
    """The values of ``text`` (dicts and lists that know their positions); ``name`` is for errors."""
    try:
        return build(text, max_aliased=MAX_ALIAS_NODES, max_depth=MAX_DEPTH)
    except TreeError as exc:
        kind = YamlLimitError if exc.limit else YamlSyntaxError
        line = exc.line + 1 if exc.line is not None else None
        column = exc.column + 1 if exc.column is not None else None
        raise kind(name, line, exc.message, column) from None


def line_of(node: Any, key: str | int | None = None) -> int | None:
    """1-based line of a mapping key / sequence item (or of the node itself)."""
    if key is None:
        return node.line + 1 if isinstance(node, YamlMap | YamlSeq) else None
    if isinstance(node, YamlMap):
        position = node.positions.get(key)
        return position[0] + 1 if position is not None else None
    if isinstance(node, YamlSeq) and isinstance(key, int) and 0 <= key < len(node.positions):
        return node.positions[key][0] + 1
    return None


def value_position(node: Any, key: str) -> tuple[int, int] | None:
    """1-based (line, column) where the value of ``key`` starts (its opening quote, if quoted)."""
    position = node.positions.get(key) if isinstance(node, YamlMap) else None
    return (position[2] + 1, position[3] + 1) if position is not None else None


def value_quote(node: Any, key: str) -> str:
    """The quote the value of ``key`` is written in (``'`` or ``"``), "" when it is unquoted."""
    position = node.positions.get(key) if isinstance(node, YamlMap) else None
    return position[4] if position is not None else ""


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
    """Read containers → plain dicts and lists with string keys (what pydantic validates)."""
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
    # here: reading settings and rules never needs ruamel, and every command reads them
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.error import YAMLError

    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    root = None
    if path.exists():
        text = read_text(path)
        parse_yaml(text, str(path))  # the bounds first: ruamel's loader would expand a bomb
        try:
            root = yaml.load(text)
        except YAMLError as exc:
            raise YamlSyntaxError(str(path), None, f"cannot be rewritten: {exc}") from None
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

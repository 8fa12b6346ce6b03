"""Reading YAML that anyone may have edited: bombs, loops, huge and deep files are refused, located."""

from __future__ import annotations

import io
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from monitor.config import load_settings
from monitor.errors import ConfigError
from monitor.matching.rulefile import load_rules
from monitor.yamlfile import (
    MAX_ALIAS_NODES,
    MAX_DEPTH,
    MAX_YAML_BYTES,
    YamlLimitError,
    YamlSyntaxError,
    append_to_list,
    line_of,
    load_yaml,
    locate,
    parse_yaml,
    to_plain,
    value_position,
    value_quote,
)
from monitor.yamltree import TreeError, build


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """``levels`` nested lists of ``width`` aliases each ("billion laughs"): width**levels values."""
    names = [f"l{i}" for i in range(levels)]
    lines = ["lol: &l0 [" + ", ".join(['"lol"'] * width) + "]"]
    for prev, name in pairwise(names):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_parse_yaml_refuses_a_billion_laughs_bomb_naming_file_and_line() -> None:
    with pytest.raises(YamlLimitError) as caught:
        parse_yaml(alias_bomb(), "rules/bomb.yaml")
    error = caught.value
    # 9 + 81 + 729 values by the third level, 6,561 more by the fourth, past 10,000 at the fifth
    assert (error.path, error.line, error.column) == ("rules/bomb.yaml", 5, 10)
    assert str(error).startswith("rules/bomb.yaml:5:10: alias *l3 ")
    assert f"{MAX_ALIAS_NODES:,}" in error.message and "refused" in error.message


def test_parse_yaml_refuses_an_alias_bomb_of_mappings() -> None:
    lines = ["a: &a {x: 1, y: 2, z: 3, w: 4}"]
    for level in range(1, 9):
        keys = ", ".join(f"k{i}: *{chr(96 + level)}" for i in range(8))
        lines.append(f"{chr(97 + level)}: &{chr(97 + level)} {{{keys}}}")
    with pytest.raises(YamlLimitError, match="alias"):
        parse_yaml("\n".join(lines), "monitor.yaml")


def test_parse_yaml_refuses_many_aliases_of_one_large_list() -> None:
    lines = ["a: &a [" + ", ".join(str(i) for i in range(200)) + "]"]
    lines += [f"k{i}: *a" for i in range(60)]  # 60 x 201 values through aliases
    with pytest.raises(YamlLimitError) as caught:
        parse_yaml("\n".join(lines), "monitor.yaml")
    assert caught.value.line is not None and caught.value.line < 60


@pytest.mark.parametrize("text", ["a: &a [1, *a]", "a: &a {b: {c: *a}}"])
def test_parse_yaml_refuses_an_alias_to_the_collection_it_is_in(text: str) -> None:
    with pytest.raises(YamlLimitError, match=r"loop"):
        parse_yaml(text, "x.yaml")


def test_parse_yaml_keeps_ordinary_reuse_of_anchors_and_merge_keys() -> None:
    text = (
        "common: &common {timeout: 10s, tags: [esteri, it]}\n"
        "channels:\n"
        "  a: {<<: *common, type: webhook}\n"
        "  b: {<<: *common, type: slack}\n"
        "terms: &terms [Finlandia, Finland, finlandese]\n"
        "again: *terms\n"
    )
    doc = to_plain(parse_yaml(text, "monitor.yaml"))
    assert doc["channels"]["b"] == {"timeout": "10s", "tags": ["esteri", "it"], "type": "slack"}
    assert doc["again"] == ["Finlandia", "Finland", "finlandese"]


def test_parse_yaml_allows_aliases_up_to_the_bound() -> None:
    width = 100
    lines = ["a: &a [" + ", ".join(["x"] * (width - 1)) + "]"]  # 100 values with the list itself
    lines += [f"k{i}: *a" for i in range(MAX_ALIAS_NODES // width)]
    doc = parse_yaml("\n".join(lines), "ok.yaml")
    assert len(doc) == 1 + MAX_ALIAS_NODES // width
    with pytest.raises(YamlLimitError):
        parse_yaml("\n".join([*lines, "one_more: *a"]), "over.yaml")


def test_parse_yaml_refuses_nesting_deeper_than_the_bound() -> None:
    deep = "[" * (MAX_DEPTH * 20) + "]" * (MAX_DEPTH * 20)
    with pytest.raises(YamlLimitError, match=f"more than {MAX_DEPTH} levels"):
        parse_yaml(f"a:\n  b: {deep}\n", "deep.yaml")
    assert parse_yaml("a: " + "[" * 20 + "]" * 20, "ok.yaml") is not None


def test_load_yaml_refuses_a_file_over_the_size_limit_unread(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    with huge.open("w", encoding="utf-8") as out:
        line = "# " + "x" * 1020 + "\n"
        for _ in range(MAX_YAML_BYTES // len(line) + 1):
            out.write(line)
    with pytest.raises(YamlLimitError, match=r"larger than \d+ MiB"):
        load_yaml(huge)


def test_load_yaml_names_the_line_of_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("rules:\n  - id: citt\xe0\n".encode("latin-1"))
    with pytest.raises(YamlSyntaxError, match=r"latin1.yaml:2: not UTF-8"):
        load_yaml(path)


def test_load_rules_reports_an_alias_bomb_with_its_line_and_loads_the_other_files(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "good.yaml").write_text("rules:\n  - id: nato\n    query: NATO\n", encoding="utf-8")
    # five levels (59,049 values) inside a rule: small enough to expand if nothing stops it
    bomb = "concepts:\n" + "".join(f"  {line}\n" for line in alias_bomb(5).splitlines())
    bomb += "rules:\n  - id: bomb\n    query: NATO\n    tags: *l4\n"
    (rules / "bomb.yaml").write_text(bomb, encoding="utf-8")
    loaded = load_rules([rules])
    assert [rule.id for rule in loaded.rules] == ["nato"]
    [problem] = loaded.errors
    assert (problem.path, problem.line, problem.column) == (str(rules / "bomb.yaml"), 6, 12)
    assert "alias *l3" in problem.message and not problem.message.startswith("not valid YAML")


def test_load_settings_refuses_an_alias_bomb_in_the_config_naming_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text("state_dir: data\n" + alias_bomb(), encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{config}:6:10: alias \*l3 "):
        load_settings(str(config), env={})


def test_append_to_list_refuses_a_config_with_an_alias_bomb(tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text(alias_bomb(), encoding="utf-8")
    with pytest.raises(YamlLimitError):
        append_to_list(config, ("sources", "feeds"), [{"url": "https://example.org/rss"}])
    assert config.read_text(encoding="utf-8") == alias_bomb()  # untouched


# -- the reader itself: libyaml's events built into located values (monitor/yamltree.py) ------------


@pytest.mark.parametrize("pure", [False, True], ids=["libyaml", "python"])
def test_build_refuses_bombs_loops_and_depth_with_either_parser(pure: bool) -> None:
    def refused(text: str) -> TreeError:
        with pytest.raises(TreeError) as caught:
            build(text, max_aliased=MAX_ALIAS_NODES, max_depth=MAX_DEPTH, pure=pure)
        assert caught.value.limit
        return caught.value

    bomb = refused(alias_bomb())
    assert (bomb.line, bomb.column) == (4, 9) and bomb.message.startswith("alias *l3 ")
    assert "loop" in refused("a: &a [1, *a]").message
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    assert f"more than {MAX_DEPTH} levels" in refused(f"a: {deep}").message


def test_parse_yaml_reads_plain_values_as_yaml_1_2() -> None:
    doc = parse_yaml(
        "v: [no, yes, on, off, y, true, False, ~, null, '', 12, -3, 0o17, 0x1F, 1_000, 0755, 1.5, 1e3,"
        " .inf, 2024-01-01, 22:00, '12', \"true\", !!str 12, !!int '7']\n"
        "empty:\n",
        "x.yaml",
    )
    assert doc["v"] == [
        "no", "yes", "on", "off", "y", True, False, None, None, "", 12, -3, 15, 31, 1000, 755, 1.5,
        1000.0, float("inf"), "2024-01-01", "22:00", "12", "true", "12", 7,
    ]  # fmt: skip
    assert doc["empty"] is None


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ("rules:\n  - id: a\n    query: [x\n  - id: b\n", 4, 7, "flow sequence"),
        ("a: 1\nb: 2\na: 3\n", 3, 1, "duplicate key 'a'"),
        ("a: 1\n---\nb: 2\n", 2, 1, "a second one"),
        ("a: !python/object x\n", 1, 4, "unknown tag"),
        ("a: *nowhere\n", 1, 4, "alias *nowhere names no anchor"),
        ("? [1, 2]\n: x\n", 1, 3, "a key must be a single value"),
        ("a: ok\nb: x\x07y\n", 2, 5, "U+0007 is not allowed"),
        ("a: è\nb: x\x07y\n", 2, 5, "U+0007 is not allowed"),
    ],
)
def test_parse_yaml_names_line_and_column_of_what_it_refuses(
    text: str, line: int, column: int, message: str
) -> None:
    with pytest.raises(YamlSyntaxError) as caught:
        parse_yaml(text, "rules/x.yaml")
    error = caught.value
    assert (error.line, error.column) == (line, column)
    assert message in error.message
    assert str(error).startswith(f"rules/x.yaml:{line}:{column}: ")


def test_parse_yaml_values_know_where_they_were_written() -> None:
    doc = parse_yaml("rules:\n  - id: a\n    query: 'NATO'\n  - id: b\n    query: OTAN\n", "x.yaml")
    items = doc["rules"]
    assert line_of(doc) == 1 and line_of(doc, "rules") == 1
    assert [line_of(items, i) for i in range(2)] == [2, 4]
    assert line_of(items[1], "query") == 5 and line_of(items, 7) is None
    assert value_position(items[0], "query") == (3, 12) and value_quote(items[0], "query") == "'"
    assert value_position(items[1], "query") == (5, 12) and value_quote(items[1], "query") == ""
    assert locate(doc, ("rules", 1, "query")) == 5


def test_parse_yaml_merged_keys_yield_to_the_keys_written_beside_them() -> None:
    text = "a: &a {x: 1, y: 2}\nb: &b {y: 3, z: 4}\nc:\n  w: 0\n  <<: [*a, *b]\n  x: 9\n"
    doc = parse_yaml(text, "x.yaml")
    assert doc["c"] == {"w": 0, "x": 9, "y": 2, "z": 4}
    assert line_of(doc["c"], "y") == 1  # where the merged value was written


# A plain ``:x`` is YAML 1.2 that libyaml (YAML 1.1) refuses: the one difference found in what
# ruamel writes.  A rule file or monitor.yaml that holds one gets a located error.
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12).filter(
    lambda text: not text.startswith(":")
)
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), _TEXT, st.floats(allow_nan=False))
_DOCUMENTS = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=20,
)


@given(_DOCUMENTS, st.sampled_from([None, True, False]))
def test_parse_yaml_reads_what_ruamel_writes_as_ruamel_reads_it(document: object, flow: bool | None) -> None:
    """ruamel (YAML 1.2, the loader we had) is the reference: any document it writes, in block or
    flow style, reads back the same through libyaml's events."""
    writer = YAML(typ="rt")
    writer.default_flow_style = flow
    out = io.StringIO()
    writer.dump({"doc": document}, out)
    text = out.getvalue()
    try:
        expected = to_plain(YAML(typ="rt").load(text))
    except YAMLError:  # ruamel cannot read all it writes (``{:0: null}`` in flow style)
        assume(False)
    assert to_plain(parse_yaml(text, "x.yaml")) == expected

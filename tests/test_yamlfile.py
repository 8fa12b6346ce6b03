"""Reading YAML that anyone may have edited: bombs, loops, huge and deep files are refused, located."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

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
    load_yaml,
    parse_yaml,
    to_plain,
)


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
    assert (error.path, error.line) == ("rules/bomb.yaml", 5)
    assert str(error).startswith("rules/bomb.yaml:5: alias *l3 ")
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
    assert (problem.path, problem.line) == (str(rules / "bomb.yaml"), 6)
    assert "alias *l3" in problem.message and not problem.message.startswith("not valid YAML")


def test_load_settings_refuses_an_alias_bomb_in_the_config_naming_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text("state_dir: data\n" + alias_bomb(), encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{config}:6: alias \*l3 "):
        load_settings(str(config), env={})


def test_append_to_list_refuses_a_config_with_an_alias_bomb(tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text(alias_bomb(), encoding="utf-8")
    with pytest.raises(YamlLimitError):
        append_to_list(config, ("sources", "feeds"), [{"url": "https://example.org/rss"}])
    assert config.read_text(encoding="utf-8") == alias_bomb()  # untouched

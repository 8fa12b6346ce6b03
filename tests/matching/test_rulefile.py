"""Rule files: every mistake reported with file and line; valid rules still load."""

from __future__ import annotations

from pathlib import Path

from monitor.matching.rulefile import load_rules


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def messages(tmp_path: Path, text: str, channels: tuple[str, ...] = ("console",)) -> list[str]:
    write(tmp_path, "rules.yaml", text)
    return [str(p) for p in load_rules([tmp_path], channels).errors]


def test_rulefile_loads_shipped_rules() -> None:
    result = load_rules([Path(__file__).resolve().parents[2] / "rules"], ["console"])
    assert result.problems == []
    assert {"cessate-il-fuoco", "nato", "finlandia", "finlandia-nato"} <= {r.id for r in result.rules}


def test_rulefile_unknown_key_names_file_and_line(tmp_path: Path) -> None:
    [problem] = messages(tmp_path, "rules:\n  - id: a\n    query: x\n    notfy: [console]\n")
    assert problem.startswith(f"{tmp_path / 'rules.yaml'}:4:")
    assert "unknown key 'notfy'" in problem


def test_rulefile_empty_query(tmp_path: Path) -> None:
    [problem] = messages(tmp_path, "rules:\n  - id: a\n    query: ''\n")
    assert ":3:" in problem and "the query is empty" in problem


def test_rulefile_unbalanced_parenthesis_points_at_column(tmp_path: Path) -> None:
    [problem] = messages(tmp_path, "rules:\n  - id: a\n    query: '(Finlandia OR Finland'\n")
    assert ":3:13:" in problem  # line 3, column of the '(' inside the quoted value
    assert "'(' is never closed" in problem
    assert "    ^" in problem


def test_rulefile_query_error_column_is_the_culprits_whatever_the_quotes(tmp_path: Path) -> None:
    for quote in ("", "'", '"'):
        [problem] = messages(tmp_path, f"rules:\n  - id: a\n    query: {quote}x AND (y{quote}\n")
        assert f":3:{18 + len(quote)}:" in problem, problem  # the '(' after "    query: x AND "
        assert "'(' is never closed" in problem


def test_rulefile_unknown_channel(tmp_path: Path) -> None:
    [problem] = messages(tmp_path, "rules:\n  - id: a\n    query: x\n    notify: [slack-esteri]\n")
    assert "unknown channel(s) slack-esteri" in problem and "console" in problem


def test_rulefile_duplicate_id_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "rules:\n  - id: nato\n    query: NATO\n")
    write(tmp_path, "b.yaml", "rules:\n\n  - id: nato\n    query: OTAN\n")
    result = load_rules([tmp_path], ["console"])
    [problem] = result.problems
    assert str(problem).startswith(f"{tmp_path / 'b.yaml'}:3:")
    assert f"first defined at {tmp_path / 'a.yaml'}:2" in str(problem)
    assert [r.query for r in result.rules] == ["NATO"]


def test_rulefile_invalid_yaml_is_reported_and_other_files_load(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "rules:\n  - id: ok\n    query: NATO\n")
    write(tmp_path, "b.yaml", "rules:\n  - id: [broken\n")
    result = load_rules([tmp_path], ["console"])
    assert [r.id for r in result.rules] == ["ok"]
    [problem] = result.problems
    assert "b.yaml" in str(problem) and "not valid YAML" in str(problem)


def test_rulefile_missing_query_and_bad_language(tmp_path: Path) -> None:
    problems = messages(tmp_path, "rules:\n  - id: a\n  - id: b\n    query: x\n    languages: [Italian]\n")
    assert any("missing required key 'query'" in p for p in problems)
    assert any("'Italian' is not a language code" in p and ":5:" in p for p in problems)


def test_rulefile_query_that_matches_everything_is_refused(tmp_path: Path) -> None:
    [problem] = messages(tmp_path, "rules:\n  - id: a\n    query: NOT calcio\n")
    assert "could fire on an article holding none of its words" in problem


def test_rulefile_disabled_rule_is_not_loaded(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "rules:\n  - id: a\n    query: x\n    enabled: false\n")
    assert load_rules([tmp_path], ["console"]).rules == []


def test_rulefile_missing_path_is_a_problem(tmp_path: Path) -> None:
    [problem] = load_rules([tmp_path / "nope"], ["console"]).problems
    assert "no such file or folder" in str(problem)


def test_rulefile_norway_is_a_language_not_false(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "rules:\n  - id: a\n    query: x\n    languages: [no, it]\n")
    [spec] = load_rules([tmp_path], ["console"]).rules
    assert spec.languages == ("no", "it")


def test_rulefile_accepts_a_single_value_where_a_list_is_expected(tmp_path: Path) -> None:
    write(
        tmp_path, "a.yaml", "rules:\n  - id: 2024\n    query: 2022\n    notify: console\n    languages: it\n"
    )
    [spec] = load_rules([tmp_path], ["console"]).rules
    assert (spec.id, spec.query, spec.notify, spec.languages) == ("2024", "2022", ("console",), ("it",))


def test_rulefile_accepts_a_bare_list(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", "- id: nato\n  query: NATO\n")
    assert [r.id for r in load_rules([tmp_path], ["console"]).rules] == ["nato"]


def test_rulefile_unknown_field_points_a_caret_at_it(tmp_path: Path) -> None:
    [problem] = messages(tmp_path, "rules:\n  - id: a\n    query: 'NATO AND titel:Finlandia'\n")
    assert ":3:22:" in problem and "unknown field 'titel'" in problem
    assert problem.endswith("    NATO AND titel:Finlandia\n             ^")


def test_rulefile_bad_language_in_query_is_an_error(tmp_path: Path) -> None:
    [problem] = messages(tmp_path, "rules:\n  - id: a\n    query: 'NATO AND lang:zz'\n")
    assert "lang:zz is not a language code" in problem


def test_rulefile_metadata_alone_is_refused(tmp_path: Path) -> None:
    [problem] = messages(tmp_path, "rules:\n  - id: a\n    query: 'source:ansa'\n")
    assert "could fire on an article holding none of its words" in problem


def test_rulefile_unknown_concept_is_an_error(tmp_path: Path) -> None:
    [problem] = messages(tmp_path, "concepts:\n  nato: [NATO, OTAN]\nrules:\n  - id: a\n    query: '@natp'\n")
    assert "unknown concept @natp (concepts: @nato)" in problem


def test_rulefile_concept_declared_twice_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "concepts:\n  nato: [NATO]\n")
    write(tmp_path, "b.yaml", "concepts:\n  nato: [OTAN]\n")
    [problem] = [str(p) for p in load_rules([tmp_path], ["console"]).errors]
    assert "b.yaml:2:" in problem and "declared twice" in problem


def test_rulefile_bad_option_values_are_located(tmp_path: Path) -> None:
    problems = messages(
        tmp_path, "rules:\n  - id: a\n    query: NATO\n    min_mentions: 0\n    examples:\n      mach: [x]\n"
    )
    assert any(":4:" in p and "min_mentions" in p for p in problems)
    assert any(":6:" in p and "unknown key 'examples.mach'" in p for p in problems)


def test_rulefile_risky_queries_are_warnings_and_still_load(tmp_path: Path) -> None:
    write(
        tmp_path,
        "rules.yaml",
        "rules:\n"
        "  - id: a\n    query: 'UE OR *zione OR (Finlandia NEAR/80 NATO)'\n"
        "  - id: b\n    query: 'Finlandia and NATO'\n",
    )
    result = load_rules([tmp_path], ["console"])
    assert result.errors == [] and {r.id for r in result.rules} == {"a", "b"}
    warnings = "\n".join(str(w) for w in result.warnings)
    assert "'UE' is a bare 2-character term" in warnings
    assert "'*zione' starts with a wildcard" in warnings
    assert "a proximity of 80 words is very wide" in warnings
    assert "'and' is looked for as a word; write AND" in warnings
    assert ":3:" in warnings and "warning:" in warnings


def test_rulefile_examples_are_kept_with_their_lines(tmp_path: Path) -> None:
    write(
        tmp_path,
        "rules.yaml",
        "rules:\n  - id: a\n    query: NATO\n    examples:\n      match:\n        - La NATO si riunisce.\n"
        "      no_match:\n        - text: Il bambino è nato.\n          lang: it\n",
    )
    [spec] = load_rules([tmp_path], ["console"]).rules
    assert [(e.text, e.should_match, e.line) for e in spec.examples] == [
        ("La NATO si riunisce.", True, 6),
        ("Il bambino è nato.", False, 8),
    ]

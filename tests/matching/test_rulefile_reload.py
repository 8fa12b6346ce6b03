"""Reloads read again only what changed, and say exactly what a load from scratch says."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor.matching.query import Or, Term
from monitor.matching.rulefile import RuleFileCache, RuleSet, load_rules

CHANNELS = ("console",)


def desk(folder: Path, number: int, rules: int = 3) -> Path:
    path = folder / f"desk-{number:02d}.yaml"
    lines = ["rules:"]
    for i in range(rules):
        lines += [f"  - id: d{number}-r{i}", f"    query: 'parola{number}x{i} OR \"due parole{i}\"'"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def said(rules: RuleSet) -> tuple[list[str], list[str], list[tuple[str, str, int | None]]]:
    return (
        [str(p) for p in rules.problems],
        [repr(spec.expr) for spec in rules.rules],
        [(spec.id, spec.path, spec.line) for spec in rules.rules],
    )


def reload_agrees(folder: Path, cache: RuleFileCache) -> RuleSet:
    """A load through ``cache`` that says what a fresh load says."""
    reloaded = load_rules([folder], CHANNELS, cache=cache)
    assert said(reloaded) == said(load_rules([folder], CHANNELS, cache=RuleFileCache()))
    return reloaded


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir()
    for number in range(5):
        desk(rules, number)
    return rules


def test_load_rules_parses_again_only_the_edited_file(folder: Path) -> None:
    cache = RuleFileCache()
    first = load_rules([folder], CHANNELS, cache=cache)
    assert len(first.parsed) == 5 and len(first.rules) == 15
    assert load_rules([folder], CHANNELS, cache=cache).parsed == []
    edited = folder / "desk-03.yaml"
    append(edited, "  - id: vilnius\n    query: Vilnius\n")
    reloaded = reload_agrees(folder, cache)
    assert reloaded.parsed == [edited]
    assert "vilnius" in {spec.id for spec in reloaded.rules}


def test_load_rules_sees_an_edit_that_keeps_the_size_and_modification_time(folder: Path) -> None:
    cache = RuleFileCache()
    load_rules([folder], CHANNELS, cache=cache)
    edited = folder / "desk-01.yaml"
    before = edited.stat()
    edited.write_text(edited.read_text(encoding="utf-8").replace("parola1x0", "parola1y0"), encoding="utf-8")
    os.utime(edited, ns=(before.st_atime_ns, before.st_mtime_ns))
    reloaded = reload_agrees(folder, cache)
    assert reloaded.parsed == [edited]
    assert "parola1y0" in next(spec.query for spec in reloaded.rules if spec.id == "d1-r0")


def test_load_rules_error_in_the_edited_file_names_file_line_and_column(folder: Path) -> None:
    cache = RuleFileCache()
    load_rules([folder], CHANNELS, cache=cache)
    edited = folder / "desk-02.yaml"
    append(edited, "  - id: broken\n    query: (Vilnius OR Riga\n")
    reloaded = reload_agrees(folder, cache)
    [error] = reloaded.errors
    assert str(error).startswith(f"{edited}:9:12: rule 'broken': query: unbalanced parenthesis")
    assert reloaded.parsed == [edited]
    assert len(reloaded.rules) == 15  # the file's other rules, and every other file's, still load
    append(edited, "  - id: twice\n    query: Riga\n    query: Tallinn\n")
    [error] = reload_agrees(folder, cache).errors
    assert str(error).startswith(f"{edited}:12:5: not valid YAML: duplicate key 'query'")


def test_load_rules_forgets_the_rules_of_a_deleted_file(folder: Path) -> None:
    cache = RuleFileCache()
    load_rules([folder], CHANNELS, cache=cache)
    (folder / "desk-04.yaml").unlink()
    reloaded = reload_agrees(folder, cache)
    assert reloaded.parsed == []
    assert not any(spec.id.startswith("d4-") for spec in reloaded.rules) and len(reloaded.rules) == 12
    assert len(cache) == 4


def test_load_rules_renamed_file_keeps_its_rules_under_the_new_name(folder: Path) -> None:
    cache = RuleFileCache()
    load_rules([folder], CHANNELS, cache=cache)
    renamed = (folder / "desk-00.yaml").rename(folder / "zz-esteri.yaml")
    reloaded = reload_agrees(folder, cache)
    assert reloaded.parsed == [renamed]
    assert {spec.path for spec in reloaded.rules if spec.id.startswith("d0-")} == {str(renamed)}


def test_load_rules_a_duplicate_id_follows_the_file_order_after_an_edit(folder: Path) -> None:
    cache = RuleFileCache()
    append(folder / "desk-04.yaml", "  - id: shared\n    query: Riga\n")
    load_rules([folder], CHANNELS, cache=cache)
    append(folder / "desk-01.yaml", "  - id: shared\n    query: Tallinn\n")
    reloaded = reload_agrees(folder, cache)
    assert [spec.query for spec in reloaded.rules if spec.id == "shared"] == ["Tallinn"]
    [duplicate] = reloaded.errors
    assert duplicate.path == str(folder / "desk-04.yaml") and "first defined at" in duplicate.message


def test_load_rules_a_concept_edit_checks_again_the_rules_that_name_it(folder: Path) -> None:
    cache = RuleFileCache()
    concepts = folder / "concepts.yaml"
    concepts.write_text("concepts:\n  baltic: [Riga, Tallinn]\n", encoding="utf-8")
    user = folder / "user.yaml"
    user.write_text("rules:\n  - id: baltic\n    query: '@baltic AND summit'\n", encoding="utf-8")
    load_rules([folder], CHANNELS, cache=cache)
    concepts.write_text("concepts:\n  baltic: [Riga, Tallinn, Vilnius]\n", encoding="utf-8")
    reloaded = reload_agrees(folder, cache)
    assert sorted(map(str, reloaded.parsed)) == sorted([str(concepts), str(user)])  # not the desks
    [spec] = [spec for spec in reloaded.rules if spec.id == "baltic"]
    [alternatives] = [item for item in spec.expr.items if isinstance(item, Or)]  # type: ignore[union-attr]
    assert [t.text for t in alternatives.items if isinstance(t, Term)] == ["Riga", "Tallinn", "Vilnius"]


def test_load_rules_an_unknown_concept_lists_the_concepts_of_the_latest_files(folder: Path) -> None:
    cache = RuleFileCache()
    user = folder / "user.yaml"
    user.write_text("rules:\n  - id: u\n    query: '@baltics'\n", encoding="utf-8")
    [error] = load_rules([folder], CHANNELS, cache=cache).errors
    assert "(concepts: none declared)" in error.message
    (folder / "concepts.yaml").write_text("concepts:\n  baltic: [Riga]\n", encoding="utf-8")
    [error] = reload_agrees(folder, cache).errors
    assert "unknown concept @baltics (concepts: @baltic)" in error.message


def test_load_rules_shares_the_process_cache_by_default(folder: Path) -> None:
    load_rules([folder], CHANNELS)
    append(folder / "desk-02.yaml", "  - id: vilnius\n    query: Vilnius\n")
    assert load_rules([folder], CHANNELS).parsed == [folder / "desk-02.yaml"]

"""Rules as code: examples run through the real index; a wrong one is reported with its line."""

from __future__ import annotations

from pathlib import Path

from monitor.matching.compiler import RuleIndex
from monitor.matching.examples import check_examples
from monitor.matching.nlp import LanguagePipelines
from monitor.matching.rulefile import load_rules


def test_examples_report_a_missed_match_and_an_unwanted_one(
    tmp_path: Path, pipelines: LanguagePipelines
) -> None:
    (tmp_path / "r.yaml").write_text(
        "rules:\n"
        "  - id: nato\n    query: NATO\n    examples:\n"
        "      match: [La Nato si riunisce., L'Alleanza atlantica decide.]\n"
        "      no_match: [Il bambino è nato ieri., Vertice NATO a Vilnius.]\n"
        "  - id: quiet\n    query: Finlandia\n    examples:\n      match: [La Finlandia vota.]\n",
        encoding="utf-8",
    )
    rules = load_rules([tmp_path], ["console"])
    problems = check_examples(rules.rules, RuleIndex(rules.rules, pipelines))
    assert [(p.rule_id, p.line) for p in problems] == [("nato", 5), ("nato", 6)]
    assert 'example does not match (match): "L\'Alleanza atlantica decide."' in problems[0].message
    assert "example matches (no_match): 'Vertice NATO a Vilnius.'" in problems[1].message


def test_shipped_rule_examples_pass(pipelines: LanguagePipelines) -> None:
    rules = load_rules([Path(__file__).resolve().parents[2] / "rules"], ["console"])
    assert sum(len(r.examples) for r in rules.rules) > 0
    assert check_examples(rules.rules, RuleIndex(rules.rules, pipelines)) == []

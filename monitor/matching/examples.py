"""Rules as code: run each rule's ``examples`` through the real index and report the surprises.

A desk reviews rule edits like code: ``monitor rules check`` fails when a rule
misses a text it must match or fires on one it must not, with the example's
file and line.  The examples go through the same RuleIndex and matcher as live
articles, so a passing example means the daemon would behave the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.errors import RuleProblem
from monitor.matching.compiler import RuleIndex
from monitor.matching.matcher import ArticleMatcher
from monitor.matching.rulefile import RuleExample, RuleSpec
from monitor.models import Article, make_article


def example_article(spec: RuleSpec, example: RuleExample, index: int) -> Article:
    lang = example.lang or (spec.languages[0] if len(spec.languages) == 1 else None)
    return make_article(
        title=example.title,
        body=example.text,
        language=lang,
        source="examples",
        origin=f"{spec.path}:{example.line or spec.line}",
        external_id=f"{spec.id}#{index}",
    )


def check_examples(specs: Sequence[RuleSpec], index: RuleIndex) -> list[RuleProblem]:
    """One problem per example the rule gets wrong; rules without examples cost nothing."""
    matcher = ArticleMatcher(index)
    problems = []
    for spec in specs:
        if not spec.examples:
            continue
        articles = [example_article(spec, example, i) for i, example in enumerate(spec.examples)]
        for example, matches in zip(spec.examples, matcher.match_many(articles), strict=True):
            fired = any(m.rule_id == spec.id for m in matches)
            if fired == example.should_match:
                continue
            verdict = "does not match" if example.should_match else "matches"
            kind = "match" if example.should_match else "no_match"
            problems.append(
                RuleProblem(
                    spec.path,
                    example.line or spec.line,
                    f"example {verdict} ({kind}): {_short(example.text)!r}",
                    spec.id,
                )
            )
    return problems


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"

"""Rules as code: run each rule's ``examples`` through the real index and report the surprises.

A desk reviews rule edits like code: ``monitor rules check`` fails when a rule
misses a text it must match or fires on one it must not, with the example's
file and line.  The examples go through the same RuleIndex and matcher as live
articles, so a passing example means the daemon would behave the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from monitor.errors import RuleProblem
from monitor.matching.compiler import RuleIndex
from monitor.matching.matcher import ArticleMatcher
from monitor.matching.rulefile import RuleExample, RuleSpec
from monitor.models import Article, make_article


def example_article(
    spec: RuleSpec, example: RuleExample, index: int, guess: Callable[[str], str] | None = None
) -> Article:
    """The example as an article: its language as written, else the rule's only one, else guessed."""
    lang = example.lang or (spec.languages[0] if len(spec.languages) == 1 else None)
    if lang is None and guess is not None:
        lang = guess(f"{example.title}\n{example.text}")
    return make_article(
        title=example.title,
        body=example.text,
        language=lang,
        source="examples",
        origin=f"{spec.path}:{example.line or spec.line}",
        external_id=f"{spec.id}#{index}",
    )


def check_examples(
    specs: Sequence[RuleSpec], index: RuleIndex, guess: Callable[[str], str] | None = None
) -> list[RuleProblem]:
    """One problem per example the rule gets wrong; ``guess`` tells an example's language."""
    matcher = ArticleMatcher(index)
    problems = []
    for spec in specs:
        if not spec.examples:
            continue
        articles = [example_article(spec, example, i, guess) for i, example in enumerate(spec.examples)]
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

"""``monitor rules test``: what would match, with nothing stored and nothing sent."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from monitor.config import FolderSource, Settings
from monitor.errors import ArticleParseError, RuleProblem
from monitor.language import LanguageGuesser
from monitor.matching.compiler import RuleIndex
from monitor.matching.matcher import ArticleMatcher
from monitor.matching.nlp import LanguagePipelines
from monitor.matching.rulefile import load_rules
from monitor.models import Article, Match
from monitor.sources.files import iter_folder, read_article_file


@dataclass
class DryRunOutcome:
    results: list[tuple[Path, Article, list[Match]]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    rule_problems: list[RuleProblem] = field(default_factory=list)

    def lines(self, as_json: bool) -> Iterator[str]:
        for path, article, matches in self.results:
            if as_json:
                for match in matches:
                    yield json.dumps(
                        {
                            "path": str(path),
                            "title": article.title,
                            "rule": match.rule_id,
                            "rule_name": match.rule_name,
                            "terms": match.matched_texts,
                            "snippet": match.snippet,
                            "language": article.language,
                            "hits": [asdict(hit) for hit in match.terms],
                        },
                        ensure_ascii=False,
                    )
                continue
            yield f"{path}: {article.title[:100]} [{article.language}]"
            for match in matches:
                yield f"  ✓ {match.rule_id}: {', '.join(match.matched_texts)}"
                yield f"      {match.snippet}"
            if not matches:
                yield "  (no rule matches)"


def _expand(paths: Sequence[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from iter_folder(FolderSource(path=path))
        else:
            yield path


def dry_run(
    settings: Settings, paths: Sequence[Path], pipelines: LanguagePipelines, guesser: LanguageGuesser
) -> DryRunOutcome:
    """Parse ``paths`` as articles and match them against the configured rules."""
    rules = load_rules(settings.rules, channels=settings.channels.keys())
    matcher = ArticleMatcher(RuleIndex(rules.rules, pipelines))
    outcome = DryRunOutcome(rule_problems=rules.problems)
    for path in _expand(paths):
        try:
            articles = read_article_file(path, path.read_bytes(), source=path.parent.name or "test")
        except (ArticleParseError, OSError) as exc:
            outcome.failures.append(f"{path}: {exc}")
            continue
        articles = [guesser.ensure(a) for a in articles]
        for article, matches in zip(articles, matcher.match_many(articles), strict=True):
            outcome.results.append((path, article, matches))
    return outcome

"""``monitor rules test``: what would match, with nothing stored and nothing sent.

With ``--explain`` every rule's decision on every article is shown clause by
clause, with each term occurrence located (field and character offsets) and
framed by its sentence, the terms marked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.config import FolderSource, Settings
from monitor.errors import ArticleParseError, RuleProblem
from monitor.matching.compiler import RuleIndex
from monitor.matching.evaluate import Explanation, Occurrence
from monitor.matching.matcher import ArticleMatcher, RuleExplanation, explain_article
from monitor.matching.nlp import LanguagePipelines
from monitor.matching.rulefile import load_rules
from monitor.matching.snippet import mark, sentence_bounds
from monitor.models import Article, Match
from monitor.sources.files import iter_folder, read_article_file
from monitor.sources.language import LanguageGuesser

FIELD_ORDER = ("title", "summary", "body")
MAX_SENTENCES = 10  # per rule and article in the text output; --json carries every occurrence
MAX_SENTENCE_CHARS = 400


@dataclass
class DryRunResult:
    """One article read from ``path``, the rules that fired and, with --explain, every rule's decision."""

    path: Path
    article: Article
    matches: list[Match]
    explained: list[RuleExplanation] | None = None


@dataclass
class DryRunOutcome:
    results: list[DryRunResult] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    rule_problems: list[RuleProblem] = field(default_factory=list)
    rule_names: dict[str, str] = field(default_factory=dict)

    def lines(self, as_json: bool) -> Iterator[str]:
        for result in self.results:
            if result.explained is not None:
                yield from (self._explained_json if as_json else self._explained_text)(result)
            elif as_json:
                for match in result.matches:
                    yield json.dumps(_match_record(result, match), ensure_ascii=False)
            else:
                yield _heading(result)
                for match in result.matches:
                    yield f"  ✓ {match.rule_id}: {', '.join(match.matched_texts)}"
                    yield f"      {match.snippet}"
                if not result.matches:
                    yield "  (no rule matches)"

    def _explained_text(self, result: DryRunResult) -> Iterator[str]:
        yield _heading(result)
        matches = {m.rule_id: m for m in result.matches}
        for decision in result.explained or ():
            match = matches.get(decision.rule_id)
            if match is not None:
                yield f"  ✓ {decision.rule_id}: {', '.join(match.matched_texts)}"
            else:
                why = f" ({decision.reason})" if decision.reason else ""
                yield f"  ✗ {decision.rule_id}: not fired{why}"
            yield from (f"      {line}" for line in decision.tree.lines())
            yield from (f"      {line}" for line in evidence_lines(result.article, decision.tree))
        if not result.explained:
            yield "  (no rules)"

    def _explained_json(self, result: DryRunResult) -> Iterator[str]:
        matches = {m.rule_id: m for m in result.matches}
        for decision in result.explained or ():
            match = matches.get(decision.rule_id)
            if match is not None:
                record = _match_record(result, match)
            else:
                name = self.rule_names.get(decision.rule_id, decision.rule_id)
                record = _miss_record(result, decision.rule_id, name)
            record.update(fired=decision.fired, reason=decision.reason)
            record["explain"] = explanation_dict(decision.tree)
            yield json.dumps(record, ensure_ascii=False)


def _heading(result: DryRunResult) -> str:
    return f"{result.path}: {result.article.title[:100]} [{result.article.language}]"


def _match_record(result: DryRunResult, match: Match) -> dict[str, Any]:
    return {
        "path": str(result.path),
        "title": result.article.title,
        "rule": match.rule_id,
        "rule_name": match.rule_name,
        "terms": match.matched_texts,
        "snippet": match.snippet,
        "language": result.article.language,
        "hits": [hit.as_dict() for hit in match.terms],
    }


def _miss_record(result: DryRunResult, rule_id: str, rule_name: str) -> dict[str, Any]:
    return {
        "path": str(result.path),
        "title": result.article.title,
        "rule": rule_id,
        "rule_name": rule_name,
        "terms": [],
        "snippet": "",
        "language": result.article.language,
        "hits": [],
    }


def explanation_dict(tree: Explanation) -> dict[str, Any]:
    """An Explanation as plain JSON: label, value, children, occurrences (field, start, end)."""
    return {
        "label": tree.label,
        "value": tree.value,
        "children": [explanation_dict(child) for child in tree.children],
        "occurrences": [{"field": o.field, "start": o.start, "end": o.end} for o in tree.occurrences],
    }


def occurrences_of(tree: Explanation) -> list[Occurrence]:
    """Every occurrence anywhere in the tree (negated terms too), each place once, in reading order."""
    seen: dict[tuple[str, int, int], Occurrence] = {}
    stack = [tree]
    while stack:
        node = stack.pop()
        for o in node.occurrences:
            seen.setdefault((o.field, o.start, o.end), o)
        stack.extend(node.children)
    return sorted(seen.values(), key=lambda o: (_field_rank(o.field), o.start, o.end))


def _field_rank(name: str) -> int:
    return FIELD_ORDER.index(name) if name in FIELD_ORDER else len(FIELD_ORDER)


def evidence_lines(article: Article, tree: Explanation) -> list[str]:
    """``field[start:end], …: the sentence with **terms** marked``, one line per sentence.

    A sentence too long for one line (a list without full stops, say) gives one
    line per cluster of nearby occurrences, each cut around its own terms.
    """
    groups: dict[tuple[str, int, int], list[Occurrence]] = {}
    for occurrence in occurrences_of(tree):
        text: str = getattr(article, occurrence.field)
        left, right = sentence_bounds(text, occurrence.start, occurrence.end)
        groups.setdefault((occurrence.field, left, right), []).append(occurrence)
    passages = [
        (name, left, right, found, cluster)
        for (name, left, right), found in groups.items()
        for cluster in _clusters(found, whole=right - left <= MAX_SENTENCE_CHARS)
    ]
    out = []
    for name, left, right, found, cluster in passages[:MAX_SENTENCES]:
        where = ", ".join(f"{name}[{o.start}:{o.end}]" for o in cluster)
        spans = [(o.start, o.end) for o in found]
        focus = (cluster[0].start, cluster[-1].end)
        out.append(f"{where}: {marked_sentence(getattr(article, name), left, right, spans, focus=focus)}")
    if len(passages) > MAX_SENTENCES:
        out.append(f"(+{len(passages) - MAX_SENTENCES} more sentence(s))")
    return out


def _clusters(found: list[Occurrence], *, whole: bool) -> list[list[Occurrence]]:
    """``found`` (in order) split where the next occurrence would not fit in one cut-down line."""
    if whole:
        return [found]
    reach = MAX_SENTENCE_CHARS - MAX_SENTENCE_CHARS // 3  # what marked_sentence shows after the first
    clusters = [[found[0]]]
    for occurrence in found[1:]:
        if occurrence.end - clusters[-1][0].start <= reach:
            clusters[-1].append(occurrence)
        else:
            clusters.append([occurrence])
    return clusters


def marked_sentence(
    text: str,
    left: int,
    right: int,
    spans: Iterable[tuple[int, int]],
    *,
    focus: tuple[int, int] | None = None,
    limit: int = MAX_SENTENCE_CHARS,
) -> str:
    """``text[left:right]`` on one line with ``spans`` in **bold**.

    A sentence longer than ``limit`` is cut at spaces around ``focus`` (default:
    from the first span to the last), with … where it was cut.
    """
    spans = sorted(spans)
    first, last = focus or (spans[0][0], spans[-1][1])
    start, end = left, right
    if right - left > limit:
        start = max(left, first - limit // 3)
        end = min(right, max(last, start + limit))
        if start > left and (space := text.find(" ", start, first)) != -1:
            start = space + 1
        if end < right and (space := text.rfind(" ", last, end)) != -1:
            end = space
    inside = [(s - start, e - start) for s, e in spans if s >= start and e <= end]
    body = " ".join(mark(text[start:end], inside).split())
    return f"{'…' if start > left else ''}{body}{'…' if end < right else ''}"


def _expand(paths: Sequence[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from iter_folder(FolderSource(path=path))
        else:
            yield path


def dry_run(
    settings: Settings,
    paths: Sequence[Path],
    pipelines: LanguagePipelines,
    guesser: LanguageGuesser,
    *,
    explain: bool = False,
) -> DryRunOutcome:
    """Parse ``paths`` as articles and match them against the configured rules.

    ``explain`` adds every rule's decision on every article (:func:`explain_article`).
    """
    rules = load_rules(settings.rules, channels=settings.channels.keys())
    index = RuleIndex(rules.rules, pipelines)
    matcher = ArticleMatcher(index)
    outcome = DryRunOutcome(rule_problems=rules.problems, rule_names={r.id: r.name for r in rules.rules})
    for path in _expand(paths):
        try:
            articles = read_article_file(path, path.read_bytes(), source=path.parent.name or "test")
        except (ArticleParseError, OSError) as exc:
            outcome.failures.append(f"{path}: {exc}")
            continue
        articles = guesser.ensure_all(articles)
        for article, matches in zip(articles, matcher.match_many(articles), strict=True):
            explained = explain_article(index, article) if explain else None
            outcome.results.append(DryRunResult(path, article, matches, explained))
    return outcome

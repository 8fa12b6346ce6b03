"""``monitor rules backtest``: what a new or changed rule would have matched among stored articles.

The rule file under test is loaded together with the configured rule files, so
its queries can use the concepts declared there; only the rules it defines are
run.  It goes first, so a copy of a configured rule with the same id (the usual
way to try a change) replaces the configured one instead of clashing with it.
Stored articles are read newest first, in chunks, and matched with a fresh
index: nothing is recorded and nothing is sent.  Only the articles that hold
the rules' words are matched (:mod:`monitor.pipeline.prefilter` says which
words, :mod:`monitor.pipeline.sieve` finds them in the folded texts), which
gives the answer of a full scan in a fraction of its time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.config import Settings
from monitor.matching.matcher import ArticleMatcher
from monitor.matching.rulefile import RuleSet, RuleSpec, load_rules, rule_files
from monitor.models import Match
from monitor.pipeline.prefilter import WordQuery
from monitor.pipeline.sieve import TextSieve
from monitor.store.history import ArticleText
from monitor.store.repo import Store, StoredArticle

BATCH = 200  # articles per match_many call


def load_candidates(paths: Sequence[Path], settings: Settings) -> RuleSet:
    """The rules defined in ``paths`` and only their problems; @concepts resolve from the configured rules.

    Problems of the configured files are left to ``monitor rules check``: the
    rule file under test is what is being judged.
    """
    candidates, missing = rule_files(paths)
    chosen = {path.resolve() for path in candidates}
    configured, _ = rule_files(settings.rules)
    context = [path for path in configured if path.resolve() not in chosen]
    loaded = load_rules([*candidates, *context], channels=settings.channels.keys())
    mine = {str(path) for path in candidates}
    return RuleSet(
        rules=[spec for spec in loaded.rules if spec.path in mine],
        problems=missing + [problem for problem in loaded.problems if problem.path in mine],
        files=candidates,
        concepts=loaded.concepts,
    )


@dataclass(frozen=True, slots=True)
class BacktestHit:
    """A rule that would have fired on a stored article."""

    stored: StoredArticle
    match: Match

    @property
    def date(self) -> datetime:
        """When the article was published, else when it was ingested."""
        return self.stored.article.published or self.stored.ingested_at

    def record(self) -> dict[str, Any]:
        article, match = self.stored.article, self.match
        return {
            "rule": match.rule_id,
            "rule_name": match.rule_name,
            "title": article.title,
            "source": article.source,
            "url": article.url,
            "published": article.published.isoformat() if article.published else None,
            "ingested_at": self.stored.ingested_at.isoformat(),
            "language": article.language,
            "terms": match.matched_texts,
            "snippet": match.snippet,
        }

    def lines(self, as_json: bool) -> list[str]:
        if as_json:
            return [json.dumps(self.record(), ensure_ascii=False)]
        article, match = self.stored.article, self.match
        where = article.source + (f" · {article.url}" if article.url else "")
        return [
            f"{self.date:%Y-%m-%d %H:%M} {match.rule_id:<20} {article.title[:70]}  "
            f"[{', '.join(match.matched_texts)}]",
            f"    {where}",
            f"    {match.snippet}",
        ]


@dataclass
class Backtest:
    """Runs rules over stored articles and counts, per rule, the articles it would have matched."""

    rules: Sequence[RuleSpec]
    articles: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.counts = {spec.id: 0 for spec in self.rules}

    def run(
        self,
        store: Store,
        matcher: ArticleMatcher,
        query: WordQuery | None,
        *,
        since: datetime | None,
        limit: int | None = None,
    ) -> Iterator[BacktestHit]:
        """Every (article, rule) match, newest article first; reads the store, writes nothing.

        ``query``: the prefilter's (``Prefilter.query``), None to match every article."""
        for covered, matching in scan(store, matcher, query, since, limit=limit):
            self.articles += covered
            for stored, matches in matching():
                for match in matches:
                    self.counts[match.rule_id] = self.counts.get(match.rule_id, 0) + 1
                    yield BacktestHit(stored, match)

    def summary(self) -> list[str]:
        return [f"rule {rule}: {count} of {self.articles} articles" for rule, count in self.counts.items()]


Matched = list[tuple[StoredArticle, list[Match]]]  # the chunk's articles that may match, with their matches
WINDOW_READ = 1_000  # articles of the window read per query (ids, languages, texts): fewer round trips


def scan(
    store: Store,
    matcher: ArticleMatcher,
    query: WordQuery | None,
    since: datetime | None,
    *,
    limit: int | None = None,
    chunk: int = BATCH,
) -> Iterator[tuple[int, Callable[[], Matched]]]:
    """The stored articles since ``since`` (the newest ``limit``), newest first, a chunk at a time:
    how many articles the chunk covers, and the work that matches those of them ``query`` leaves.

    The work is handed over undone, so a caller with a deadline can ask for the next chunk (one
    read) to learn whether there is one, without matching it.  ``query`` None: every article is
    matched.
    """
    sieve = None if query is None else TextSieve(query.formulas, after_digit=query.after_digit)
    resolve = matcher.index.pipelines.resolve
    for rows in store.newest_texts(since, limit=limit, chunk=max(chunk, WINDOW_READ)):
        kept = [True] * len(rows) if query is None or sieve is None else _kept(rows, query, sieve, resolve)
        # the other columns of the kept articles, in one query for the read (a round trip each)
        chosen = [row for row, keep in zip(rows, kept, strict=True) if keep]
        articles = {stored.id: stored for stored in store.with_texts(chosen)}
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            wanted = [articles[row.id] for row in part if row.id in articles]

            def matching(wanted: list[StoredArticle] = wanted) -> Matched:
                return _matched(matcher, wanted)

            yield len(part), matching


def _kept(
    rows: Sequence[ArticleText], query: WordQuery, sieve: TextSieve, resolve: Callable[[str | None], str]
) -> list[bool]:
    """Whether each article may match: in a language some rule takes, and holding the query's words
    (an article in a language whose tokenizer the query was not read with is always kept)."""
    languages = [resolve(row.language) for row in rows]
    taken = [query.rule_languages is None or lang in query.rule_languages for lang in languages]
    kept = [take and lang not in query.languages for take, lang in zip(taken, languages, strict=True)]
    sifted = [i for i, lang in enumerate(languages) if taken[i] and lang in query.languages]
    passing = sieve.passing([(rows[i].title, rows[i].summary, rows[i].body) for i in sifted])
    for i, passes in zip(sifted, passing, strict=True):
        kept[i] = passes
    return kept


def _matched(matcher: ArticleMatcher, stored: list[StoredArticle]) -> Matched:
    found = matcher.match_many([s.article for s in stored])
    return [(s, matches) for s, matches in zip(stored, found, strict=True)]

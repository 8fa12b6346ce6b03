"""Matching for the web app: explanations, trial texts and backtests, apart from the daemon's matcher.

The daemon's spaCy pipelines belong to its worker thread (memory zones free
the words a batch met, which another thread's document may still hold), and
a backtest can be seconds of CPU.  So the web app matches on pipelines of its
own, on one thread of its own: serving a page never waits for ingestion and
never slows it beyond sharing the CPU.  A rule index for a handful of rules
builds in milliseconds and is kept for the next request that asks for the
same rules.  Backtests match only the stored articles that hold the rule's
words (:mod:`monitor.pipeline.prefilter`, :mod:`monitor.pipeline.sieve`), read
the store in chunks and stop at their deadline, saying how far they got.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from monitor.matching.compiler import RuleIndex
from monitor.matching.matcher import ArticleMatcher, explain_article
from monitor.matching.nlp import LanguagePipelines
from monitor.matching.rulefile import RuleSpec
from monitor.models import Article, Match
from monitor.pipeline.backtest import scan
from monitor.pipeline.dryrun import evidence_lines, explanation_dict, occurrences_of
from monitor.pipeline.prefilter import Prefilter
from monitor.sources.language import LanguageGuesser
from monitor.store.repo import Store

P = ParamSpec("P")
T = TypeVar("T")
KEPT_INDEXES = 256  # one-rule indexes: small, and an article page asks for a few
BACKTEST_CHUNK = 200
BACKTEST_SHOWN = 50


@dataclass(frozen=True, slots=True)
class Decision:
    """One rule's decision on one article, as plain data (the article's words are freed after)."""

    rule_id: str
    fired: bool
    reason: str
    tree: dict[str, Any]  # explanation_dict: label, value, children, occurrences
    evidence: list[str]  # "field[start:end]: the sentence with **terms**"
    spans: list[tuple[str, int, int]]  # (field, start, end) of every occurrence, for highlighting
    match: Match | None


@dataclass
class BacktestResult:
    since: datetime | None
    scanned: int = 0
    matched: int = 0
    complete: bool = True
    seconds: float = 0.0
    shown: list[tuple[int, datetime, Article, Match]] = field(default_factory=list)


class Workbench:
    """spaCy pipelines, a language guesser and one thread, owned by the web app."""

    def __init__(self, models: dict[str, str], default_language: str) -> None:
        self._models = dict(models)
        self._default = default_language
        self._pipelines: LanguagePipelines | None = None
        self._guesser = LanguageGuesser(models.keys(), default_language)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor-web-match")
        self._indexes: OrderedDict[tuple[RuleSpec, ...], RuleIndex] = OrderedDict()
        self._prefilter: Prefilter | None = None
        self._matcher: ArticleMatcher | None = None

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn`` on the workbench's thread: one matching job at a time, the loop free meanwhile."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)

    @property
    def pipelines(self) -> LanguagePipelines:
        if self._pipelines is None:
            self._pipelines = LanguagePipelines(self._models, self._default)
        return self._pipelines

    @property
    def prefilter(self) -> Prefilter:
        if self._prefilter is None:
            self._prefilter = Prefilter(self.pipelines)
        return self._prefilter

    def index_for(self, specs: Sequence[RuleSpec]) -> RuleIndex:
        """An index of ``specs`` on the workbench's pipelines, kept for the next ask of the same rules
        (the least recently used ones go first)."""
        key = tuple(specs)
        index = self._indexes.get(key)
        if index is None:
            index = self._indexes[key] = RuleIndex(list(specs), self.pipelines)
            while len(self._indexes) > KEPT_INDEXES:
                self._indexes.popitem(last=False)
        self._indexes.move_to_end(key)
        return index

    def matcher_for(self, specs: Sequence[RuleSpec]) -> ArticleMatcher:
        """One matcher for every backtest, its index swapped: a matcher warms its pipelines up on
        its first articles (every chunk cut, outside a memory zone), which the workbench's
        pipelines need once, not at each backtest."""
        index = self.index_for(specs)
        if self._matcher is None:
            self._matcher = ArticleMatcher(index)
        self._matcher.swap(index)
        return self._matcher

    def with_language(self, article: Article) -> Article:
        return self._guesser.ensure(article)

    def decide(self, specs: Sequence[RuleSpec], article: Article, *, matches: bool = True) -> list[Decision]:
        """Every rule of ``specs`` on ``article``: fired or not, why, clause by clause (blocking).

        Each rule is explained with an index of its own, kept for the next article: an index of
        the few rules an article page asks about would rarely be asked for again, and building
        one is most of the cost.  ``matches``: also the Match (terms, snippet) of a rule that fired.
        """
        article = self.with_language(article)
        nlp = self.pipelines.article_nlp(self.pipelines.resolve(article.language))
        out = []
        with nlp.memory_zone():
            for spec in specs:
                index = self.index_for([spec])
                [explained] = explain_article(index, article)
                match = None
                if matches and explained.fired:
                    found = ArticleMatcher(index).match_many([article])[0]
                    match = found[0] if found else None
                out.append(
                    Decision(
                        explained.rule_id,
                        explained.fired,
                        explained.reason,
                        explanation_dict(explained.tree),
                        evidence_lines(article, explained.tree),
                        [(o.field, o.start, o.end) for o in occurrences_of(explained.tree)],
                        match,
                    )
                )
        return out

    def backtest(
        self,
        spec: RuleSpec,
        store: Store,
        since: datetime | None,
        deadline: float,
        *,
        shown: int = BACKTEST_SHOWN,
    ) -> BacktestResult:
        """``spec`` over the stored articles since ``since``, newest first, until ``deadline``
        (a ``time.monotonic()`` value); reads the store, writes nothing (blocking)."""
        started = time.monotonic()
        result = BacktestResult(since)
        matcher = self.matcher_for([spec])
        chunks = scan(store, matcher, self.prefilter.query([spec]), since, chunk=BACKTEST_CHUNK)
        for covered, matching in chunks:
            for stored, matches in matching():
                for match in matches:
                    result.matched += 1
                    if len(result.shown) < shown:
                        result.shown.append((stored.id, stored.ingested_at, stored.article, match))
            result.scanned += covered
            if time.monotonic() >= deadline:
                result.complete = next(chunks, None) is None  # one more read, nothing matched
                break
        result.seconds = time.monotonic() - started
        return result


def languages_of(specs: Iterable[RuleSpec]) -> set[str]:
    return {code for spec in specs for code in spec.languages}

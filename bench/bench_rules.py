"""Rule matching at scale, each figure against its baseline measured in the same run, on one core.

    python bench/bench_rules.py [--quick] [--articles N] [--articles-flat N] [--scan-articles N]

1. 10 … 10,000 rules: index build time and memory, ms per article against spaCy
   tokenization alone and against a naive engine (one Python regex per rule);
2. 100,000 rules: what matching adds to tokenization per article;
3. 350,000 rules: articles/s end to end of matching against Bloomberg's load;
4. a long run of the daemon's matching loop: resident memory must stay flat;
5. ``monitor scan`` of a folder into a fresh SQLite database against tokenization.

Rules and articles are generated (bench/corpus.py, seeded), so the figures compare
designs on this machine; they are not a promise.  Targets are printed with ✓/✗;
nothing is asserted.  This is a benchmark, not a test: pytest never collects it.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core: no BLAS threads behind our back

import argparse  # noqa: E402
import contextlib  # noqa: E402
import cProfile  # noqa: E402
import functools  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import pstats  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import spacy  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from corpus import (  # noqa: E402
    BANK_SIZE,
    ZIPF_ENTITIES,
    ArticleGenerator,
    GeneratedArticle,
    RuleGenerator,
    common_vocabularies,
    scan_in_turns,
)

from monitor.folding import fold  # noqa: E402
from monitor.matching.compiler import RuleIndex  # noqa: E402
from monitor.matching.matcher import WARMUP_ARTICLES, ArticleMatcher, find_occurrences  # noqa: E402
from monitor.matching.nlp import LanguagePipelines  # noqa: E402
from monitor.matching.query import Meta, Near, Node, Term, evaluate, near_alternatives, parse_query, terms  # noqa: E402
from monitor.matching.rulefile import RuleSpec  # noqa: E402
from monitor.models import Article, make_article  # noqa: E402
from monitor.pipeline.ingest import BATCH_ARTICLES  # noqa: E402

LANGUAGES = ("it", "en")
BATCH = 200  # articles per match_many call, as the pipeline and backtest do
TURN = 50  # articles per turn when tokenization and matching are timed in turns (Bench.interleaved)
SCAN_TURN = 500  # files per turn of part 5's scan, timed in turns with tokenization alone
# Targets
TARGET_SPEEDUP = 1000.0  # index vs one regex per rule, at 10,000 rules
TARGET_OVERHEAD = 0.15  # matching adds < 15% to tokenization at 10,000 rules
TARGET_BUILD_S = 1.0
TARGET_BUILD_MB = 50.0
TARGET_OVERHEAD_MS_100K = 1.0
TARGET_RATE_350K = 52.0  # 900,000 stories/day ÷ 86,400 s × 5 peak headroom
TARGET_FLAT_MB = 10.0  # RSS growth over the long run
TARGET_SCAN_RATIO = 0.5
_ACRONYM = re.compile(r"\b(?!(?:AND|OR|NOT|NEAR)\b)[A-Z]{2,}\b")


def clock() -> float:
    """CPU seconds of this process (``--wall``: wall-clock seconds).

    The machine is shared: CPU time leaves out the time other processes held our core,
    so a figure and its baseline stay comparable even when the load changes between them.
    """
    return time.perf_counter() if WALL else time.process_time()


WALL = False


def mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def rss_mb() -> float:
    """Current resident set size (not the peak)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def batches(items: Sequence[Article], size: int = BATCH) -> list[Sequence[Article]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def to_articles(generated: Sequence[GeneratedArticle], first: int) -> list[Article]:
    return [
        make_article(title=g.title, body=g.body, language=g.language, source="bench", origin=f"{first + i}")
        for i, g in enumerate(generated)
    ]


# -- measurements ---------------------------------------------------------------------------


@dataclass
class Folded:
    """Each article's folded fields, by turn (TURN articles) and language, as match_many groups them."""

    groups: list[list[tuple[str, list[str]]]]  # turn → (lang, folded texts)

    @classmethod
    def of(cls, articles: Sequence[Article]) -> Folded:
        groups = []
        for batch in batches(articles, TURN):
            by_lang: dict[str, list[str]] = defaultdict(list)
            for article in batch:
                lang = article.language or "it"
                by_lang[lang] += [fold(article.title).text, fold(article.body).text]
            groups.append(list(by_lang.items()))
        return cls(groups)


def time_tokenize(pipelines: LanguagePipelines, folded: Folded) -> float:
    """spaCy tokenization alone of the folded title and body, one memory zone per batch and language."""
    started = clock()
    for group in folded.groups:
        for lang, texts in group:
            nlp = pipelines.article_nlp(lang)
            with nlp.memory_zone():
                for text in texts:
                    nlp.tokenizer(text)
    return clock() - started


class TokenizeLikeMatcher:
    """Tokenizing articles' folded title and body once each, from a fresh pipeline, with
    ArticleMatcher's warm-up and memory zones and the scan's batches: all a scan's tokenization.
    Called on successive slices of the articles, it keeps its state between calls, as a scan does."""

    def __init__(self, pipelines: LanguagePipelines, articles: Sequence[Article]) -> None:
        self.pipelines = pipelines
        self.folded = [(a.language or "it", fold(a.title).text, fold(a.body).text) for a in articles]
        self.warm: dict[str, int] = defaultdict(int)

    def __call__(self, first: int, end: int) -> float:
        """Seconds to tokenize articles ``first`` to ``end``."""
        started = clock()
        for start in range(first, end, BATCH_ARTICLES):
            by_lang: dict[str, list[str]] = defaultdict(list)
            for lang, title, body in self.folded[start : min(start + BATCH_ARTICLES, end)]:
                by_lang[lang] += [title, body]
            for lang, texts in by_lang.items():
                nlp = self.pipelines.article_nlp(lang)
                warming = self.warm[lang] < WARMUP_ARTICLES
                self.warm[lang] += len(texts) // 2
                with contextlib.nullcontext() if warming else nlp.memory_zone():
                    for text in texts:
                        nlp.tokenizer(text)
        return clock() - started


def time_match(matcher: ArticleMatcher, articles: Sequence[Article]) -> tuple[float, int]:
    hits = 0
    started = clock()
    for batch in batches(articles):
        hits += sum(len(m) for m in matcher.match_many(batch))
    return clock() - started, hits


def build_index(specs: Sequence[RuleSpec], pipelines: LanguagePipelines) -> tuple[RuleIndex, float]:
    gc.collect()
    started = clock()
    index = RuleIndex(specs, pipelines).build(LANGUAGES)
    return index, clock() - started


def build_memory(specs: Sequence[RuleSpec], pipelines: LanguagePipelines) -> tuple[float, float]:
    """tracemalloc peak and retained MB of one more build (timed apart: tracemalloc slows it)."""
    gc.collect()
    tracemalloc.start()
    index = RuleIndex(specs, pipelines).build(LANGUAGES)
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del index
    return peak / 2**20, retained / 2**20


class StockPipelines:
    """``spacy.blank(lang)`` as it comes: the tokenizer the issue's 2 ms reference is about."""

    def __init__(self) -> None:
        self._nlp: dict[str, spacy.language.Language] = {}

    def article_nlp(self, lang: str) -> spacy.language.Language:
        if lang not in self._nlp:
            self._nlp[lang] = spacy.blank(lang)
        return self._nlp[lang]


# -- the naive baseline ---------------------------------------------------------------------


def _term_regex(text: str) -> str:
    words = []
    for word in text.split():
        words.append("".join(r"\w*" if c == "*" else r"\w" if c == "?" else re.escape(c) for c in word))
    return r"\s+".join(words)


class RegexBaseline:
    """One compiled regex per rule (its terms as alternatives), run over the text; the boolean logic
    is evaluated per rule.  Case-insensitive everywhere; NEAR counts as AND; fields are ignored."""

    def __init__(self, specs: Sequence[RuleSpec]) -> None:
        self.rules: list[tuple[RuleSpec, re.Pattern[str], dict[str, int]]] = []
        for spec in specs:
            texts = list(dict.fromkeys(term.text for term, _ in terms(spec.expr)))
            groups = {text: i + 1 for i, text in enumerate(texts)}
            alternatives = "|".join(f"({_term_regex(text)})" for text in texts)
            self.rules.append((spec, re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE), groups))

    def match(self, article: Article) -> list[str]:
        text = f"{article.title}\n{article.body}"
        lang = article.language or "it"
        fired = []
        for spec, regex, groups in self.rules:
            if spec.languages and lang not in spec.languages:
                continue
            found = {m.lastindex for m in regex.finditer(text)}
            if found and evaluate(spec.expr, _present(groups, found)):
                fired.append(spec.id)
        return fired


def _present(groups: dict[str, int], found: set[int | None]) -> Callable[[Node], bool]:
    def present(leaf: Node) -> bool:
        if isinstance(leaf, Term):
            return groups[leaf.text] in found
        if isinstance(leaf, Near):
            return all(any(groups[t.text] in found for t in near_alternatives(i)) for i in leaf.items)
        assert isinstance(leaf, Meta)
        return False

    return present


# -- the parts ------------------------------------------------------------------------------


@dataclass
class Row:
    rules: int
    build_s: float
    peak_mb: float
    retained_mb: float
    rss_mb: float
    tokenize_s: float
    match_s: float
    articles: int
    hits: int
    candidates: float  # rules whose logic is evaluated, per article
    regex_ms: float | None = None
    regex_articles: int = 0
    regex_compile_s: float = 0.0
    agreement: str = ""

    @property
    def tok_ms(self) -> float:
        return self.tokenize_s / self.articles * 1e3

    @property
    def match_ms(self) -> float:
        return self.match_s / self.articles * 1e3

    @property
    def overhead_ms(self) -> float:
        return self.match_ms - self.tok_ms

    @property
    def overhead(self) -> float:
        return self.match_s / self.tokenize_s - 1


def candidates_per_article(index: RuleIndex, articles: Sequence[Article]) -> float:
    """Rules one of whose positive terms occurred: the ones whose boolean logic runs."""
    total = 0
    for article in articles:
        lang = article.language or "it"
        with index.pipelines.article_nlp(lang).memory_zone():  # leave the vocabulary as it was
            found = find_occurrences(index, lang, article)
            total += len({i for key in found for i in index.rules_by_key.get(key, ())})
    return total / len(articles)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick: bool = args.quick
        self.wall = time.perf_counter()
        self.pipelines = LanguagePipelines({"it": "blank", "en": "blank"}, "it")
        for lang in LANGUAGES:
            self.pipelines.article_nlp(lang)
            self.pipelines.pattern_nlp(lang)
        self.common = common_vocabularies()
        self.generator = RuleGenerator(self.common)

    def specs(self, n: int, parse: int) -> list[RuleSpec]:
        """The first ``n`` generated rules; the first ``parse`` of them parsed from their query text."""
        stream = self.generator.rules(n)
        parsed = [parse_query(rule.query) for rule in stream[:parse]]
        return [rule.spec(i, parsed[i] if i < len(parsed) else None) for i, rule in enumerate(stream)]

    def load_rules(self) -> list[RuleSpec]:
        n = self.args.max_rules
        started = time.perf_counter()
        stream = self.generator.rules(n)
        generate_s = time.perf_counter() - started
        limit = min(self.args.parse_limit, n)
        started = time.perf_counter()
        parsed = [parse_query(rule.query) for rule in stream[:limit]]
        parse_s = time.perf_counter() - started
        differ = sum(expr != rule.expr for expr, rule in zip(parsed, stream, strict=False))
        specs = [rule.spec(i, parsed[i] if i < limit else None) for i, rule in enumerate(stream)]
        distinct = len({term.text.casefold() for rule in stream for term, _ in terms(rule.expr)})
        per_ms = parse_s / max(limit, 1) * 1e3
        print(
            f"rules: {n:,} generated in {generate_s:.1f} s ({distinct:,} distinct terms; entities from a bank"
            f" of {BANK_SIZE:,}, popularity Zipf s={ZIPF_ENTITIES})"
        )
        print(
            f"  rule loading: luqum parse_query {per_ms:.3f} ms/rule → {per_ms * n / 1e3:.0f} s for {n:,}."
            f" Only the first {limit:,} are parsed; the rest use the AST the generator builds"
            f"\n  alongside the query text, which is identical for the parsed ones ({limit - differ:,}"
            f"/{limit:,} equal), so that parsing does not dominate the bench"
        )
        shares = {
            "OR": sum(" OR " in r.query for r in stream),
            "AND": sum(" AND " in r.query for r in stream),
            "NOT": sum(" NOT " in r.query for r in stream),
            "proximity": sum(isinstance(r.expr, Near) for r in stream),
            "prefix*": sum("*" in r.query for r in stream),
            "ACRONYM": sum(bool(_ACRONYM.search(r.query)) for r in stream),
            "title:": sum("title:" in r.query for r in stream),
            "languages:": sum(bool(r.languages) for r in stream),
        }
        print("  rules with " + ", ".join(f"{k} {v / n:.0%}" for k, v in shares.items()))
        for rule in stream[:3]:
            print(f"  e.g. {rule.query}")
        return specs

    def corpus(self) -> None:
        generator = ArticleGenerator(
            self.common, self.generator.rules(self.args.max_rules), self.generator.bank
        )
        warm = 2 * WARMUP_ARTICLES
        started = time.perf_counter()
        self.warmup = to_articles(generator.batch(0, warm), 0)
        self.timed = to_articles(generator.batch(warm, self.args.articles), warm)
        words = sum(len(a.body.split()) + len(a.title.split()) for a in self.timed) / len(self.timed)
        print(
            f"corpus: {len(self.timed):,} timed articles (it/en alternating, {words:.0f} words: Zipfian"
            f" common words, {generator.rare:.0%} never-seen words,\n  the words of {generator.plants} rules"
            f" chosen log-uniformly among the {self.args.max_rules:,}, {generator.stray} stray entities)"
            f" after {warm:,} warm-up articles; generated in {time.perf_counter() - started:.1f} s"
        )
        self.folded = Folded.of(self.timed)

    def scale(self, specs: Sequence[RuleSpec], counts: Sequence[int]) -> list[Row]:
        """Parts 1–3: every rule count against tokenization (and the regex baseline up to 10,000)."""
        matcher = ArticleMatcher(RuleIndex(specs[:10], self.pipelines).build(LANGUAGES))
        for batch in batches(self.warmup):  # the daemon's warm-up: after it, every batch is in a zone
            matcher.match_many(batch)
        time_tokenize(self.pipelines, self.folded)  # one untimed pass: caches and CPU warm for all counts
        self.stock_ms = self.stock_tokenizer_ms()
        rows = []
        for n in counts:
            rows.append(self.one_count(matcher, specs[:n]))
            matcher.swap(RuleIndex((), self.pipelines))
            gc.collect()
        return rows

    def stock_tokenizer_ms(self) -> float:
        """ms/article of spaCy's own ``spacy.blank(lang)`` tokenizer, warmed up like ours."""
        stock = StockPipelines()
        for group in Folded.of(self.warmup).groups:
            for lang, texts in group:
                for text in texts:
                    stock.article_nlp(lang).tokenizer(text)
        best = min(time_tokenize(stock, self.folded) for _ in range(3))  # type: ignore[arg-type]
        return best / len(self.timed) * 1e3

    def one_count(self, matcher: ArticleMatcher, specs: Sequence[RuleSpec]) -> Row:
        n = len(specs)
        rss_before = rss_mb()
        index, build_s = build_index(specs, self.pipelines)
        rss_after = rss_mb()
        peak, retained = build_memory(specs, self.pipelines) if n <= self.args.trace_limit else (0.0, 0.0)
        matcher.swap(index)
        matcher.match_many(self.timed[:50])  # fill the per-index wildcard cache a little
        repeats = 1 if self.quick else (3 if n <= 10_000 else 2)
        tok, match, hits = float("inf"), float("inf"), 0
        for _ in range(repeats):  # keep the best pass of each
            tok_s, match_s, hits = self.interleaved(matcher)
            tok, match = min(tok, tok_s), min(match, match_s)
        candidates = candidates_per_article(index, self.timed[:100])
        row = Row(
            n, build_s, peak, retained, rss_after - rss_before, tok, match, len(self.timed), hits, candidates
        )
        if self.args.profile and n in (10_000, self.args.max_rules):
            profile(lambda: time_match(matcher, self.timed), f"matching at {n:,} rules")
        if n <= 10_000:
            self.regex(row, specs, matcher)
        print(f"  {n:>7,} rules: done ({time.perf_counter() - self.wall:.0f} s into the run)", flush=True)
        return row

    def interleaved(self, matcher: ArticleMatcher) -> tuple[float, float, int]:
        """Seconds of tokenization alone and of matching over the timed articles, one batch of
        each in turn, the order swapped every batch: a machine whose speed drifts during the
        run (a shared VM does) slows both alike, so the ratio between them holds."""
        tok = match = 0.0
        hits = 0
        for k, (batch, group) in enumerate(zip(batches(self.timed, TURN), self.folded.groups, strict=True)):
            if k % 2:
                seconds, found = time_match(matcher, batch)
                tok += time_tokenize(self.pipelines, Folded([group]))
            else:
                tok += time_tokenize(self.pipelines, Folded([group]))
                seconds, found = time_match(matcher, batch)
            match += seconds
            hits += found
        return tok, match, hits

    def regex(self, row: Row, specs: Sequence[RuleSpec], matcher: ArticleMatcher) -> None:
        budget = {10: 200, 100: 100, 1_000: 20, 10_000: 5}
        count = min(len(self.timed), budget.get(row.rules, 5) // (2 if self.quick else 1))
        started = clock()
        baseline = RegexBaseline(specs)
        row.regex_compile_s = clock() - started
        articles = self.timed[:count]
        started = clock()
        fired = [set(baseline.match(article)) for article in articles]
        row.regex_ms = (clock() - started) / count * 1e3
        row.regex_articles = count
        ours = [{m.rule_id for m in matches} for matches in matcher.match_many(articles)]
        both = sum(len(a & b) for a, b in zip(fired, ours, strict=True))
        row.agreement = f"{sum(map(len, ours))} index / {sum(map(len, fired))} regex / {both} both"

    def flat(self, control: bool) -> dict[str, float]:
        """Part 4: the daemon's matching loop over many articles full of never-seen words.

        With ``control``, the same articles are only folded and tokenized, in the same memory zones:
        the baseline that says how much of any growth is spaCy's own."""
        total, nrules, rare = self.args.articles_flat, 10_000, 0.15
        generator = ArticleGenerator(
            self.common, self.generator.rules(nrules), self.generator.bank, rare=rare, seed=4242
        )
        run: Callable[[Sequence[Article]], object]
        if control:
            run = self.tokenize_in_zones
            for start in range(0, 2 * WARMUP_ARTICLES, BATCH):
                for article in to_articles(generator.batch(start, BATCH), start):
                    nlp = self.pipelines.article_nlp(article.language or "it")
                    nlp.tokenizer(fold(article.title).text)
                    nlp.tokenizer(fold(article.body).text)
        else:
            index, _ = build_index(self.specs(nrules, nrules), self.pipelines)
            run = ArticleMatcher(index).match_many
            for start in range(0, 2 * WARMUP_ARTICLES, BATCH):  # warm-up: common words become permanent
                run(to_articles(generator.batch(start, BATCH), start))
        strings = {lang: len(self.pipelines.article_nlp(lang).vocab.strings) for lang in LANGUAGES}
        gc.collect()
        rss_start = rss_mb()
        samples: list[tuple[int, float]] = []
        first = 2 * WARMUP_ARTICLES
        run_s = 0.0
        started = time.perf_counter()
        step = max(BATCH, total // 10 // BATCH * BATCH)
        for done in range(0, total, BATCH):
            articles = to_articles(generator.batch(first + done, BATCH), first + done)
            t = clock()
            run(articles)
            run_s += clock() - t
            if (done + BATCH) % step == 0 or done + BATCH >= total:
                samples.append((done + BATCH, rss_mb()))
        wall = time.perf_counter() - started
        gc.collect()
        rss_end = rss_mb()
        steady = samples[0][1] if len(samples) > 1 else rss_start
        result = {"start": rss_start, "end": rss_end, "steady": steady, "rate": total / run_s}
        if control:
            return result
        after = {lang: len(self.pipelines.article_nlp(lang).vocab.strings) for lang in LANGUAGES}
        print(
            f"\n4. Memory over a long run (a fresh process): {total:,} articles through"
            f" ArticleMatcher.match_many in batches of {BATCH},\n   {nrules:,} rules, after the"
            f" {2 * WARMUP_ARTICLES:,}-article warm-up; {rare:.0%} of every article's words never seen before"
            f" (≈{int(total * 700 * rare):,} in all)"
        )
        print(
            f"   matching {total / run_s:.0f} articles/s ({run_s / total * 1e3:.2f} ms/article);"
            f" {wall:.0f} s with article generation"
        )
        print("   RSS (MB) after N articles: " + ", ".join(f"{n:,}: {mb:.0f}" for n, mb in samples))
        grown = rss_end - steady
        print(
            f"   RSS at start {rss_start:.1f} MB, at end {rss_end:.1f} MB: {rss_end - rss_start:+.1f} MB"
            f" in all, {grown:+.1f} MB after the first {samples[0][0]:,} articles"
            f"\n   (target: flat, < {TARGET_FLAT_MB:.0f} MB growth once running)"
            f" {mark(grown < TARGET_FLAT_MB)}"
        )
        # A leak rises all along; pipeline renewals make a saw-tooth that reaches its top once
        # (the allocator keeps the pages of a freed pipeline): compare the tops of the two halves.
        half = len(samples) // 2
        first_top, second_top = max(mb for _, mb in samples[:half]), max(mb for _, mb in samples[half:])
        print(
            f"   highest RSS in the first half {first_top:.0f} MB, in the second half {second_top:.0f} MB:"
            f" {second_top - first_top:+.1f} MB (target < {TARGET_FLAT_MB:.0f} MB)"
            f" {mark(second_top - first_top < TARGET_FLAT_MB)}"
        )
        print(
            "   string store entries (memory zones free the rare words): "
            + ", ".join(f"{lang} {strings[lang]:,} → {after[lang]:,}" for lang in LANGUAGES)
        )
        base = self.args.control
        if base:
            print(
                f"   baseline, another fresh process only folding and tokenizing the same articles in the"
                f" same memory zones\n   ({base['rate']:.0f} articles/s): RSS {base['start']:.1f} →"
                f" {base['end']:.1f} MB, {base['end'] - base['start']:+.1f} MB in all,"
                f" {base['end'] - base['steady']:+.1f} MB after the first {samples[0][0]:,} articles;"
                f"\n   the matcher adds {grown - (base['end'] - base['steady']):+.1f} MB to that growth"
            )
        return result

    def tokenize_in_zones(self, articles: Sequence[Article]) -> None:
        """What the matcher does to a batch, minus the matching: fold and tokenize, a zone per language."""
        for lang in LANGUAGES:
            nlp = self.pipelines.article_nlp(lang)
            with nlp.memory_zone():
                for article in articles:
                    if (article.language or "it") == lang:
                        nlp.tokenizer(fold(article.title).text)
                        nlp.tokenizer(fold(article.body).text)

    def scan(self) -> None:
        """Part 5: ``monitor scan`` of a folder into a fresh SQLite database, against tokenization."""
        count, nrules = self.args.scan_articles, 1_000
        stream = self.generator.rules(nrules)
        generated = ArticleGenerator(self.common, stream, self.generator.bank, seed=555).batch(0, count)
        texts = [(g.title, g.body) for g in generated]
        # the floor: a fresh pipeline tokenizing each article once, as the scan's matcher does
        # (cold cache, warm-up outside memory zones, then a zone per batch of BATCH_ARTICLES),
        # timed in the same turns of SCAN_TURN files as the scan, before and after them in turn
        tokenize = TokenizeLikeMatcher(
            LanguagePipelines({"it": "blank", "en": "blank"}, "it"), to_articles(generated, 0)
        )
        pipelines = LanguagePipelines({"it": "blank", "en": "blank"}, "it")
        specs = self.specs(nrules, nrules)
        started = clock()
        matcher = ArticleMatcher(RuleIndex(specs, pipelines).build(LANGUAGES))
        build_s = clock() - started
        with tempfile.TemporaryDirectory() as tmp:
            run = functools.partial(
                scan_in_turns, texts, matcher, Path(tmp), clock, turn=SCAN_TURN, beside=tokenize
            )
            if self.args.profile:
                profiler = cProfile.Profile()
                report, scan_s, tokenize_s = profiler.runcall(run)
            else:
                report, scan_s, tokenize_s = run()
        scan_rate, tok_rate = report.articles / scan_s, count / tokenize_s
        ratio = scan_rate / tok_rate
        print(
            f"\n5. monitor scan of {count:,} article files into a fresh SQLite database, {nrules:,} rules"
            f" (a fresh process; index built in {build_s:.2f} s)\n   {report.articles:,} articles,"
            f" {report.hits:,} hits, {report.alerts:,} alerts; read, detect language (lingua), match,"
            " record in batches"
        )
        print(
            f"   {'spaCy tokenization alone (baseline)':<46}{tok_rate:>9.0f} articles/s  (each article once,"
            f" cold start, the matcher's warm-up and memory zones;\n{'':<49}timed in turns of"
            f" {SCAN_TURN} files with the scan, before and after them in turn)"
        )
        print(
            f"   {'monitor scan end to end':<46}{scan_rate:>9.0f} articles/s  = {ratio:.2f}× tokenization"
            f"  (target ≥ {TARGET_SCAN_RATIO}×) {mark(ratio >= TARGET_SCAN_RATIO)}"
        )
        if self.args.profile:
            print_profile(profiler, "the scan", "cumtime")
            print_profile(profiler, "the scan", "tottime")


def profile(run: Callable[[], object], title: str) -> None:
    profiler = cProfile.Profile()
    profiler.runcall(run)
    print_profile(profiler, title, "tottime")


def print_profile(profiler: cProfile.Profile, title: str, order: str) -> None:
    print(f"\n  cProfile of {title} (top 15 by {order}):")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats(order).print_stats(15)


def report_scale(rows: Sequence[Row], big: int, headline: int, stock_ms: float = 0.0) -> None:
    print(
        "\n1. Matching per article, one core (tok = nlp.tokenizer on the folded title and body alone;"
        "\n   match = ArticleMatcher.match_many: fold + tokenize + scan + boolean logic + snippets;"
        "\n   +ms, +% = what matching adds to tokenization; cand = rules whose logic runs per article)"
    )
    print(
        f"{'rules':>9}{'build s':>9}{'peak MB':>9}{'kept MB':>9}{'tok ms':>8}{'match ms':>10}"
        f"{'art/s':>7}{'+ms':>7}{'+% tok':>8}{'cand':>7}{'hits':>7}{'regex ms':>10}{'index ×':>9}"
    )
    for row in rows:
        regex = f"{row.regex_ms:>10.1f}{row.regex_ms / row.match_ms:>8.1f}×" if row.regex_ms else ""
        peak = f"{row.peak_mb:>9.1f}{row.retained_mb:>9.1f}" if row.peak_mb else f"{'-':>9}{'-':>9}"
        print(
            f"{row.rules:>9,}{row.build_s:>9.2f}{peak}{row.tok_ms:>8.2f}{row.match_ms:>10.2f}"
            f"{1e3 / row.match_ms:>7.0f}{row.overhead_ms:>7.2f}{row.overhead:>8.1%}{row.candidates:>7.0f}"
            f"{row.hits / row.articles:>7.1f}{regex}"
        )
    print(
        "   build = RuleIndex(...).build(['it', 'en']); peak/kept = tracemalloc during/after a second build"
        "\n   regex = one compiled re per rule, timed on "
        + ", ".join(f"{r.regex_articles} articles at {r.rules:,}" for r in rows if r.regex_ms)
        + " rules\n   (compiling them took "
        + ", ".join(f"{r.regex_compile_s:.2f} s" for r in rows if r.regex_ms)
        + ")"
    )
    for row in rows:
        if row.agreement:
            print(f"   rules fired on those articles at {row.rules:>6,} rules: {row.agreement}")
    ten = next((r for r in rows if r.rules == 10_000), None)
    if ten is not None:
        print("   targets at 10,000 rules:")
        if ten.regex_ms:
            # "matching (index plus boolean evaluation plus snippets)" is what the issue compares:
            # the work beyond tokenization (700 ms / 1,000 is less than tokenizing alone takes)
            speedup = ten.regex_ms / ten.overhead_ms
            print(
                f"     matching (beyond tokenization) vs one regex per rule: {speedup:,.0f}× faster"
                f" (target ≥ {TARGET_SPEEDUP:,.0f}×) {mark(speedup >= TARGET_SPEEDUP)};"
                f"\n       end to end, tokenization included, {ten.regex_ms / ten.match_ms:,.0f}×"
                f" (tokenization alone is {ten.regex_ms / ten.tok_ms:,.0f}× faster than the regexes)"
            )
        print(
            f"     matching adds {ten.overhead:.1%} to tokenization ({ten.overhead_ms:.2f} ms on"
            f" {ten.tok_ms:.2f} ms) (target < {TARGET_OVERHEAD:.0%}) {mark(ten.overhead < TARGET_OVERHEAD)}"
        )
        if stock_ms:
            print(
                f"       for reference, spaCy's stock blank tokenizer takes {stock_ms:.2f} ms on these texts"
                f" (ours splits elisions and hyphens and\n       computes only the lexeme attributes matching"
                f" reads): matching end to end is {ten.match_ms / stock_ms - 1:+.1%} on that"
            )
        print(
            f"     index build {ten.build_s:.2f} s (target < {TARGET_BUILD_S:.0f} s)"
            f" {mark(ten.build_s < TARGET_BUILD_S)}; memory {ten.peak_mb:.1f} MB tracemalloc peak,"
            f" {ten.retained_mb:.1f} MB kept, RSS {ten.rss_mb:+.1f} MB"
            f" (target < {TARGET_BUILD_MB:.0f} MB) {mark(0 < ten.peak_mb < TARGET_BUILD_MB)}"
        )
    for row in rows:
        if row.rules == big:
            print(
                f"\n2. {big:,} rules: {row.match_ms:.2f} ms/article end to end, of which matching beyond"
                f" tokenization {row.overhead_ms:.2f} ms\n   ({row.overhead:.1%} of {row.tok_ms:.2f} ms;"
                f" target < {TARGET_OVERHEAD_MS_100K:.0f} ms)"
                f" {mark(row.overhead_ms < TARGET_OVERHEAD_MS_100K)};"
                f" index build {row.build_s:.2f} s, RSS {row.rss_mb:+.0f} MB"
            )
        if row.rules == headline:
            rate = 1e3 / row.match_ms
            print(
                f"\n3. Headline, {headline:,} rules: {rate:,.0f} articles/s end to end of matching"
                f" (tokenize + match; {row.match_ms:.2f} ms/article)\n   against the target of"
                f" {TARGET_RATE_350K:.0f} articles/s (Bloomberg 2014: 900,000 stories/day vs 350,000 saved"
                f" searches, ×5 peak headroom):\n   {rate / TARGET_RATE_350K:.2f}× the target"
                f" {mark(rate >= TARGET_RATE_350K)}; tokenization alone {1e3 / row.tok_ms:,.0f} articles/s,"
                f" matching adds {row.overhead:.0%};\n   {row.candidates:,.0f} rules evaluated and"
                f" {row.hits / row.articles:.1f} fired per article; index build {row.build_s:.1f} s,"
                f" RSS {row.rss_mb:+.0f} MB"
            )


def child(part: str, args: argparse.Namespace, extra: Sequence[str] = (), capture: bool = False) -> str:
    """Run one part in a fresh interpreter, so its memory figures owe nothing to the parts before it."""
    command = [sys.executable, __file__, "--part", part, "--max-rules", "10000", *extra]
    command += ["--articles-flat", str(args.articles_flat), "--scan-articles", str(args.scan_articles)]
    command += ["--cpu", str(args.cpu)] + (["--quick"] if args.quick else []) + (["--profile"] * args.profile)
    command += ["--wall"] * args.wall
    sys.stdout.flush()
    done = subprocess.run(command, check=False, text=True, stdout=subprocess.PIPE if capture else None)
    return done.stdout or ""


def code_version() -> str:
    """The commit measured, and whether monitor/ had uncommitted changes."""
    try:
        git = ["git", "-C", str(ROOT)]
        commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "monitor"], capture_output=True, text=True
        ).stdout
    except OSError:
        return "unknown"
    return commit.strip() + (" + uncommitted changes in monitor/" if dirty.strip() else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer articles everywhere (a few minutes)")
    parser.add_argument(
        "--articles", type=int, help="timed articles per rule count (default 1000, quick 300)"
    )
    parser.add_argument("--articles-flat", type=int, help="part 4 (default 100000, quick 10000; 0 skips)")
    parser.add_argument("--scan-articles", type=int, help="part 5 (default 5000, quick 2000; 0 skips)")
    parser.add_argument("--max-rules", type=int, default=350_000, help="the headline rule count")
    parser.add_argument("--big", type=int, default=100_000, help="the part 2 rule count")
    parser.add_argument("--parse-limit", type=int, default=10_000, help="rules parsed with luqum")
    parser.add_argument("--trace-limit", type=int, default=100_000, help="tracemalloc builds up to this")
    parser.add_argument("--cpu", type=int, help="pin to this CPU (default: the last one allowed)")
    parser.add_argument("--profile", action="store_true", help="cProfile matching at 10,000 and max rules")
    parser.add_argument("--wall", action="store_true", help="time with the wall clock, not CPU time")
    parser.add_argument(
        "--part", choices=("all", "scale", "flat", "control", "scan"), default="all", help=argparse.SUPPRESS
    )
    parser.add_argument("--control", type=json.loads, help=argparse.SUPPRESS)
    args = parser.parse_args()
    global WALL
    WALL = args.wall
    args.articles = args.articles or (300 if args.quick else 1000)
    if args.articles_flat is None:
        args.articles_flat = 10_000 if args.quick else 100_000
    if args.scan_articles is None:
        args.scan_articles = 2_000 if args.quick else 5_000
    if args.cpu is None:
        args.cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {args.cpu})
    if args.part in ("flat", "control", "scan"):
        bench = Bench(args)
        if args.part == "scan":
            bench.scan()
        else:
            result = bench.flat(control=args.part == "control")
            if args.part == "control":
                print(json.dumps(result))
        return
    print(
        f"bench_rules{' --quick' if args.quick else ''}: one process pinned to CPU {args.cpu}"
        f" ({'wall-clock' if WALL else 'CPU'} time)"
        f" ({os.cpu_count()} on this machine), load average {os.getloadavg()[0]:.2f},"
        f" Python {sys.version.split()[0]}, code {code_version()}"
    )
    bench = Bench(args)
    specs = bench.load_rules()
    bench.corpus()
    counts = sorted({c for c in (10, 100, 1_000, 10_000, args.big, args.max_rules) if c <= args.max_rules})
    rows = bench.scale(specs, counts)
    report_scale(rows, args.big, args.max_rules, bench.stock_ms)
    if args.part == "all":
        del rows, specs, bench.timed, bench.warmup, bench.folded
        if args.articles_flat:
            control = child("control", args, capture=True).strip().splitlines()[-1]
            child("flat", args, ["--control", control])
        if args.scan_articles:
            child("scan", args)
    print(
        f"\nwall time {time.perf_counter() - bench.wall:.0f} s; load average now {os.getloadavg()[0]:.2f}"
        f" (figures from one run of generated data on this machine; nothing is asserted)"
    )


if __name__ == "__main__":
    main()

"""End-to-end throughput of `monitor scan` against tokenization alone, in one run.

    python bench/bench_scan.py [--articles 2000] [--rules 1000] [--words 700]

Prints articles/s for: spaCy tokenization alone (the floor every design pays),
matching (fold + tokenize + index + boolean logic + snippets), and the whole
scan (read files, parse, detect language, match, store in SQLite in batches),
each as a ratio to tokenization, plus peak memory.  Generated corpus, so the
figures compare designs on this machine; they are not a promise.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from corpus import scan_to_sqlite, vocabulary  # noqa: E402

from monitor.folding import fold  # noqa: E402
from monitor.matching.compiler import RuleIndex  # noqa: E402
from monitor.matching.matcher import WARMUP_ARTICLES, ArticleMatcher  # noqa: E402
from monitor.matching.nlp import LanguagePipelines  # noqa: E402
from monitor.matching.query import parse_query  # noqa: E402
from monitor.matching.rulefile import RuleSpec  # noqa: E402
from monitor.models import make_article  # noqa: E402


def rules(n: int, vocab: list[str], rng: random.Random) -> list[RuleSpec]:
    """Two-word phrases OR-ed, sometimes with AND NOT: rare enough that hits are news, as in life."""
    specs = []
    for i in range(n):
        a, b, c, d, e = rng.sample(vocab, 5)
        query = f'"{a} {b}" OR "{c} {d}"' + (f" NOT {e}" if i % 3 == 0 else "")
        specs.append(RuleSpec(f"r{i}", f"r{i}", query, parse_query(query), "bench", i))
    return specs


def corpus(
    n: int, words: int, vocab: list[str], specs: list[RuleSpec], rng: random.Random
) -> list[tuple[str, str]]:
    """Articles of random words; one in ten carries a planted phrase from a random rule."""
    texts = []
    for i in range(n):
        body = [rng.choice(vocab) for _ in range(words)]
        if i % 10 == 0:
            phrase = specs[rng.randrange(len(specs))].query.split('"')[1]
            body[rng.randrange(words)] = phrase
        sentences = [" ".join(body[j : j + 20]).capitalize() + "." for j in range(0, words, 20)]
        texts.append((f"Articolo {i} {rng.choice(vocab)}", " ".join(sentences)))
    return texts


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--words", type=int, default=700)
    args = parser.parse_args()
    rng = random.Random(42)
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    vocab = vocabulary(20_000, rng)
    specs = rules(args.rules, vocab, rng)
    texts = corpus(args.articles, args.words, vocab, specs, rng)
    pipelines = LanguagePipelines({"it": "blank", "en": "blank"}, "it")
    articles = [
        make_article(title=t, body=b, source="bench", origin=f"{i}", language="it" if i % 2 == 0 else "en")
        for i, (t, b) in enumerate(texts)
    ]

    def tokenize_all(zone: bool) -> None:
        """Warm-up outside a memory zone, then one zone per batch: what the matcher does."""
        for lang in ("it", "en"):
            nlp = pipelines.article_nlp(lang)
            with nlp.memory_zone() if zone else contextlib.nullcontext():
                for article in articles:
                    if article.language == lang:
                        nlp.make_doc(article.title)
                        nlp.make_doc(article.body)

    tokenize_all(zone=False)
    started = time.perf_counter()
    tokenize_all(zone=True)
    tokenize = rate(len(articles), time.perf_counter() - started)

    started = time.perf_counter()
    index = RuleIndex(specs, pipelines)
    for lang in ("it", "en"):
        index.for_language(lang)
    build = time.perf_counter() - started

    matcher = ArticleMatcher(index)
    matcher.match_many(articles[: WARMUP_ARTICLES * 2])  # warm-up, as in a running daemon
    started = time.perf_counter()
    hits = sum(len(m) for m in matcher.match_many(articles))
    match = rate(len(articles), time.perf_counter() - started)

    started = time.perf_counter()
    for article in articles:
        fold(article.body)
    folding = rate(len(articles), time.perf_counter() - started)

    with tempfile.TemporaryDirectory() as tmp:
        report, seconds = scan_to_sqlite(texts, matcher, Path(tmp))
        scan = rate(report.articles, seconds)
    rss_end = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"corpus: {args.articles} articles x {args.words} words (it/en), {args.rules} rules, {hits} hits")
    print(f"rule index build (2 languages): {build:.2f} s")
    print(f"{'stage':<44}{'articles/s':>12}{'vs tokenize':>13}")
    for name, value in [
        ("spaCy tokenization alone (baseline)", tokenize),
        ("text folding alone", folding),
        ("matching (fold+tokenize+index+logic+snippets)", match),
        ("monitor scan end to end (files -> SQLite)", scan),
    ]:
        print(f"{name:<44}{value:>12.0f}{value / tokenize:>12.2f}x")
    print(f"peak RSS: {rss_start:.0f} MB at start, {rss_end:.0f} MB at end")


if __name__ == "__main__":
    main()

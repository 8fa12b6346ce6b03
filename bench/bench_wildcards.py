"""Wildcards and long queries against hostile input: the cost must grow linearly with the input.

    python bench/bench_wildcards.py [--runs 3]

1. One hostile word of 100 … 100,000 characters against hostile wildcard patterns: the
   matcher's time per character (each of ``--runs`` runs), against Python's ``fnmatch``
   and against the backtracking regular expression the rules used to compile to, each
   run in a child process that is stopped after a few seconds;
2. the same words as the daemon meets them: in an article, through the rule index and
   the matcher, against folding and tokenizing the article alone;
3. queries of 1,000 … 40,000 OR-ed terms parsed by luqum's parser and by ours
   (``monitor.matching.lucene``): time per term.

Prints the load average before and after: the machine is shared, so read the figures
against it.  Nothing is asserted; pytest never collects this file.  About a minute.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from luqum.parser import parser as luqum_parser  # noqa: E402

from monitor.folding import fold  # noqa: E402
from monitor.matching.compiler import RuleIndex  # noqa: E402
from monitor.matching.lucene import parse_lucene  # noqa: E402
from monitor.matching.matcher import ArticleMatcher  # noqa: E402
from monitor.matching.nlp import LanguagePipelines  # noqa: E402
from monitor.matching.query import parse_query  # noqa: E402
from monitor.matching.rulefile import RuleSpec  # noqa: E402
from monitor.matching.wildcard import MAX_WILDCARD_WORD, Wildcard  # noqa: E402
from monitor.models import make_article  # noqa: E402

SIZES = (100, 1_000, 10_000, 100_000)
# (pattern, the word of n characters it is worst against)
HOSTILE: tuple[tuple[str, Callable[[int], str]], ...] = (
    ("ab*c*d*e", lambda n: ("ab" + "cd" * n)[:n]),  # the word of the freeze: refused at once
    ("ab*c*d*e", lambda n: "ab" + "c" * (n - 3) + "e"),  # found: the search for d reads it all
    ("aa*a*a*a*a*a*b", lambda n: "a" * n),
    ("*a?a?a?b*", lambda n: "ab" * (n // 2)),  # a candidate at every other letter
    ("a*?b?*?c", lambda n: "a" + "b" * (n - 1)),
)
BASELINE_SECONDS = 2.0  # a baseline slower than this at one size is not tried at larger ones
QUERY_TERMS = (1_000, 5_000, 10_000, 40_000)
LUQUM_TERMS = 10_000  # luqum's own parser is not tried beyond: its time grows with the square


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def timed(call: Callable[[], object], budget: float = 0.1) -> float:
    """Seconds per call: repeated until ``budget`` seconds are spent, at least once."""
    calls, started = 0, time.perf_counter()
    while True:
        call()
        calls += 1
        spent = time.perf_counter() - started
        if spent >= budget:
            return spent / calls


def old_regex(pattern: str) -> str:
    """What compiler.py made of a wildcard before: a regular expression that backtracks."""
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


def baseline_in_child(kind: str, pattern: str, word: str) -> float | None:
    """Seconds per match by ``re`` (the old translation) or ``fnmatch``, in a child process:
    a backtracking match holds the GIL and cannot be interrupted; None when stopped."""
    match = (
        f"re.compile({old_regex(pattern)!r}).fullmatch(word)"
        if kind == "re"
        else f"fnmatch.fnmatchcase(word, {pattern!r})"
    )
    code = (
        "import fnmatch, re, sys, time\n"
        "word = sys.stdin.read()\n"
        f"{match}\n"  # compile, warm up
        "calls, started = 0, time.perf_counter()\n"
        "while True:\n"
        f"    {match}\n"
        "    calls += 1\n"
        "    if time.perf_counter() - started >= 0.1: break\n"
        "print((time.perf_counter() - started) / calls)\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code],
            input=word,
            capture_output=True,
            text=True,
            timeout=BASELINE_SECONDS,
            check=True,
        )
    except subprocess.TimeoutExpired:
        return None
    return float(done.stdout)


def per_char(seconds: float | None, size: int) -> str:
    return f"> {BASELINE_SECONDS:.0f} s" if seconds is None else f"{seconds / size * 1e9:9.1f}"


def bench_matcher(runs: int) -> None:
    print(f"\n1. one hostile word, ns per character (ours: {runs} runs; baselines: one run, a child process)")
    print(
        f"{'pattern':<16}{'chars':>8}  {'ours, each run':<32}{'fnmatch':>10}{'old regex':>12}{'fn/ours':>9}"
    )
    for pattern, make in HOSTILE:
        wildcard = Wildcard(pattern)
        given_up: set[str] = set()
        for size in SIZES:
            word = make(size)
            ours = [timed(lambda w=word, m=wildcard.matches: m(w)) for _ in range(runs)]
            assert wildcard.matches(word) == fnmatch.fnmatchcase(word, pattern)
            found: dict[str, float | None] = {}
            for kind in ("fnmatch", "re"):
                found[kind] = None if kind in given_up else baseline_in_child(kind, pattern, word)
                if found[kind] is None:
                    given_up.add(kind)
            best = min(ours)
            ratio = f"{found['fnmatch'] / best:8.1f}x" if found["fnmatch"] else "        -"
            each = " ".join(f"{t / size * 1e9:7.1f}" for t in ours)
            print(
                f"{pattern:<16}{size:>8,}  {each:<32}{per_char(found['fnmatch'], size):>10}"
                f"{per_char(found['re'], size):>12}{ratio}"
            )


def bench_articles(runs: int) -> None:
    print(f"\n2. an article of the hostile words, through the matcher (ms, best of {runs})")
    print(f"   (a word over {MAX_WILDCARD_WORD:,} characters is never tried against a pattern)")
    pipelines = LanguagePipelines({"en": "blank"}, "en")
    specs = [RuleSpec(f"r{i}", f"r{i}", p, parse_query(p), "bench", 1) for i, (p, _) in enumerate(HOSTILE)]
    matcher = ArticleMatcher(RuleIndex(specs, pipelines).build(["en"]))
    matcher.match(make_article(title="", body="warm up", language="en", source="bench", origin="bench"))
    plain = LanguagePipelines({"en": "blank"}, "en").article_nlp("en")  # a vocabulary without rules
    print(f"{'chars':>8}{'fold+tokenize':>15}{'match':>10}")
    for size in SIZES:
        tokenize, match = [], []
        for run in range(runs):
            body = " ".join(make(size + run) for _, make in HOSTILE)  # new words: spaCy tests each once
            article = make_article(title="", body=body, language="en", source="bench", origin="bench")
            started = time.perf_counter()
            plain.tokenizer(fold(body).text)
            tokenize.append(time.perf_counter() - started)
            started = time.perf_counter()
            matcher.match(article)
            match.append(time.perf_counter() - started)
        print(f"{size:>8,}{min(tokenize) * 1e3:>15.2f}{min(match) * 1e3:>10.2f}")


def bench_queries(runs: int) -> None:
    print(
        f"\n3. n OR-ed terms: µs per term to parse (best of {runs}; luqum's parser to {LUQUM_TERMS:,} terms)"
    )
    print(f"{'terms':>8}{'luqum':>10}{'ours':>10}{'parse_query':>13}")
    for terms in QUERY_TERMS:
        query = " OR ".join(f"w{i}" for i in range(terms))
        theirs = (
            min(timed(lambda q=query: luqum_parser.parse(q), 0) for _ in range(runs))
            if terms <= LUQUM_TERMS
            else None
        )
        ours = min(timed(lambda q=query: parse_lucene(q), 0) for _ in range(runs))
        try:
            whole = (
                f"{min(timed(lambda q=query: parse_query(q), 0) for _ in range(runs)) / terms * 1e6:13.1f}"
            )
        except ValueError:
            whole = "    refused"  # past MAX_QUERY_LENGTH
        shown = "-" if theirs is None else f"{theirs / terms * 1e6:.1f}"
        print(f"{terms:>8,}{shown:>10}{ours / terms * 1e6:>10.1f}{whole}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each measure (default 3)")
    args = parser.parse_args()
    started = time.perf_counter()
    print(f"load average {load()} on {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    for section in (bench_matcher, bench_articles, bench_queries):
        began = time.perf_counter()
        section(args.runs)
        print(f"({time.perf_counter() - began:.0f} s)")
    print(f"\nload average {load()}; {time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()

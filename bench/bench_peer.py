"""Our matcher against a plain pyahocorasick matcher, the peer a user could write instead.

    python bench/bench_peer.py [--quick] [--articles N] [--counts 10,1000,...] [--runs N] [--profile N]

The peer folds each text field as we do (``normalize.fold``), runs one Aho-Corasick automaton
of every rule's folded terms over it, keeps the hits with a word boundary on both sides (a
prefix wildcard extends to the end of its word; an acronym wants a capital in the original),
decides each candidate rule's boolean query (proximity on word numbers of a regular-expression
word split), and builds term hits and a sentence snippet for the rules that fire.  Both matchers
run in this process, in alternating turns of TURN articles over the same generated corpus
(bench/corpus.py), and every article's fired rules are compared: a disagreement is printed
with an example.  ``ArticleMatcher`` is built as the daemon builds it (blank pipelines, the
index built for it and en, warmed up on WARMUP_ARTICLES articles a language).

Figures are CPU seconds of this process; the load average is printed with each run.  Index
memory is the Python allocations traced while building (tracemalloc) plus, for the peer, the
automaton's own C memory (``get_stats()``), which tracemalloc cannot see.  ``--profile N``
prints where our matcher spends its time at N rules instead of timing.  A benchmark, not a
test: nothing is asserted.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import cProfile  # noqa: E402
import gc  # noqa: E402
import pstats  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from bisect import bisect_left  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from itertools import pairwise  # noqa: E402
from pathlib import Path  # noqa: E402

import ahocorasick  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from corpus import ArticleGenerator, RuleGenerator, common_vocabularies  # noqa: E402

from monitor.folding import FoldedText, fold  # noqa: E402
from monitor.matching.acronyms import common_words, may_be_a_common_word  # noqa: E402
from monitor.matching.compiler import RuleIndex, acronym_spans  # noqa: E402
from monitor.matching.matcher import MAX_HITS_PER_RULE, WARMUP_ARTICLES, ArticleMatcher  # noqa: E402
from monitor.matching.nlp import LanguagePipelines  # noqa: E402
from monitor.matching.query import (  # noqa: E402
    TEXT_FIELDS,
    And,
    Meta,
    Near,
    Node,
    Or,
    Term,
    evaluate,
    near_alternatives,
    terms,
)
from monitor.matching.rulefile import RuleSpec  # noqa: E402
from monitor.models import Article, Match, TermHit, make_article  # noqa: E402

LANGUAGES = ("it", "en")
TURN = 50  # articles per turn: ours, then the peer, then ours...
_WORD = re.compile(r"[^\W_]+")
_NON_WORD = re.compile(r"[\W_]")
_SENTENCE_END = re.compile(r"[.!?]\s")


def rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


# -- the peer -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeerTerm:
    """A distinct way of matching: folded text, a prefix wildcard or not, where capitals count."""

    folded: str
    prefix: bool
    capitals: tuple[tuple[int, int], ...]  # the term's words in capitals (offsets in the term)


@dataclass
class PeerRule:
    spec: RuleSpec
    ids: dict[int, int]  # id(Term) → term number
    positive: list[tuple[Term, int]]


class PeerIndex:
    """One automaton over the folded terms of every rule; the rules each term can make fire."""

    def __init__(self, specs: Sequence[RuleSpec]) -> None:
        self.terms: list[PeerTerm] = []
        numbers: dict[PeerTerm, int] = {}
        self.rules: list[PeerRule] = []
        self.rules_by_term: list[list[int]] = []
        self.skipped: list[str] = []  # rules the peer cannot express (interior wildcards)
        by_key: dict[str, list[int]] = defaultdict(list)
        for spec in specs:
            rule = PeerRule(spec, {}, [])
            pending = []
            for term, positive in terms(spec.expr):
                peer = _peer_term(term)
                if peer is None:
                    break
                pending.append((term, positive, peer))
            else:
                triggers = {id(term) for term in _triggers(spec.expr)}
                for term, positive, peer in pending:
                    number = numbers.get(peer)
                    if number is None:
                        number = numbers[peer] = len(self.terms)
                        self.terms.append(peer)
                        self.rules_by_term.append([])
                        by_key[f" {_spaced(peer.folded)}{'' if peer.prefix else ' '}"].append(number)
                    rule.ids[id(term)] = number
                    if positive:
                        rule.positive.append((term, number))
                    if id(term) in triggers:
                        self.rules_by_term[number].append(len(self.rules))
                self.rules.append(rule)
                continue
            self.skipped.append(spec.id)
        self.automaton = ahocorasick.Automaton()
        for key, numbers_of_key in by_key.items():
            self.automaton.add_word(key, (len(key), tuple(numbers_of_key)))  # key: " word " or " stem"
        self.automaton.make_automaton()

    def c_memory_mb(self) -> float:
        return float(self.automaton.get_stats()["total_size"]) / 2**20


def _triggers(node: Node) -> list[Term]:
    """Terms one of which occurs in every article the rule fires on: the rule is decided only when
    one does.  Of an AND, the side whose shortest term is longest (names beat common words)."""
    if isinstance(node, Term):
        return [node]
    if isinstance(node, Near):
        return list(near_alternatives(node.items[0]))
    if isinstance(node, Or):
        sides = [_triggers(item) for item in node.items]
        return [] if not all(sides) else [term for side in sides for term in side]
    if isinstance(node, And):
        sides = [side for side in (_triggers(item) for item in node.items) if side]
        return max(sides, key=lambda side: min(len(t.text.rstrip("*")) for t in side), default=[])
    return []  # NOT and metadata cannot make a rule fire alone


def _peer_term(term: Term) -> PeerTerm | None:
    text = term.text
    prefix = text.endswith("*")
    if prefix:
        text = text[:-1]
    if "*" in text or "?" in text:
        return None
    folded = fold(text).text
    return PeerTerm(folded, prefix, acronym_spans(text))


def _spaced(text: str) -> str:
    """Every character that is not part of a word as a space (same length): word boundaries become
    spaces, so the automaton's keys carry them and most hits inside words are never reported."""
    if text.isascii():  # nearly every folded text: one C-level translate of its bytes
        return text.encode("ascii").translate(_ASCII_SPACED).decode("ascii")
    return _NON_WORD.sub(" ", text)


_ASCII_SPACED = bytes(c if chr(c).isalnum() else 0x20 for c in range(256))


Occurrence = tuple[str, int, int]  # field, start, end (folded offsets)


@dataclass
class PeerField:
    original: str
    folded: FoldedText
    _word_starts: list[int] | None = None

    def words(self, start: int, end: int) -> tuple[int, int]:
        """The first word and the end word of ``[start, end)``, for proximity."""
        if self._word_starts is None:
            self._word_starts = [m.start() for m in _WORD.finditer(self.folded.text)]
        return bisect_left(self._word_starts, start), bisect_left(self._word_starts, end)

    def span(self, start: int, end: int) -> tuple[int, int]:
        return self.folded.original_span(start, end) if self.folded.shifted else (start, end)


@dataclass
class PeerArticle:
    fields: dict[str, PeerField] = field(default_factory=dict)
    found: dict[int, list[Occurrence]] = field(default_factory=lambda: defaultdict(list))


class PeerMatcher:
    def __init__(self, index: PeerIndex) -> None:
        self.index = index

    def scan(self, article: Article) -> PeerArticle:
        seen = PeerArticle()
        lang = article.language or "it"
        iterate = self.index.automaton.iter
        peer_terms = self.index.terms
        for name in TEXT_FIELDS:
            original = getattr(article, name)
            if not original:
                continue
            folded = fold(original)
            text = folded.text
            seen.fields[name] = PeerField(original, folded)
            padded = f" {_spaced(text)} "  # text offset i is padded offset i + 1
            for last, (length, numbers) in iterate(padded):
                start = last - length + 1  # the key's leading space in padded is the word's start in text
                # a whole word (" word ") ends before its last space; a prefix (" stem") with its word
                stop = last - 1 if padded[last] == " " else padded.index(" ", last) - 1
                for number in numbers:
                    term = peer_terms[number]
                    if term.capitals and not _capitals(original, folded, start, term.capitals, lang):
                        continue
                    seen.found[number].append((name, start, stop))
        return seen

    def match(self, article: Article) -> list[Match]:
        seen = self.scan(article)
        if not seen.found:
            return []
        lang = article.language or "it"
        by_term = self.index.rules_by_term
        candidates = sorted({r for number in seen.found for r in by_term[number]})
        out = []
        for r in candidates:
            rule = self.index.rules[r]
            spec = rule.spec
            if spec.languages and lang not in spec.languages:
                continue
            if not evaluate(spec.expr, _present(rule, seen)):
                continue
            hits = _hits(rule, seen, article)
            if not hits:
                continue
            out.append(Match(spec.id, spec.name, hits, _snippet(article, hits), spec.notify, spec.tags))
        return out


def _capitals(
    original: str, folded: FoldedText, start: int, capitals: tuple[tuple[int, int], ...], lang: str
) -> bool:
    """A capital where the term has one, and not a title-case common word opening a sentence
    (our own helpers from monitor.matching.acronyms: "Può" opening a sentence is no PUO)."""
    for first, end in capitals:
        at, stop = start + first, start + end
        if folded.shifted:
            at, stop = folded.original_offset(at), folded.original_offset(stop - 1) + 1
        if not original[at : at + 1].isupper():
            return False
        word = folded.text[start + first : start + end]
        if may_be_a_common_word(original, at, stop) and common_words(lang, (word,)):
            return False
    return True


def _occurrences(rule: PeerRule, seen: PeerArticle, term: Term) -> list[Occurrence]:
    found = seen.found.get(rule.ids[id(term)], ())
    return [o for o in found if term.field is None or o[0] == term.field]


def _present(rule: PeerRule, seen: PeerArticle):  # type: ignore[no-untyped-def]
    def present(leaf: Node) -> bool:
        if isinstance(leaf, Term):
            return bool(_occurrences(rule, seen, leaf))
        if isinstance(leaf, Near):
            return _near(rule, seen, leaf)
        assert isinstance(leaf, Meta)
        return False

    return present


def _near(rule: PeerRule, seen: PeerArticle, node: Near) -> bool:
    """Two or more items, one occurrence each, in one field, with at most ``distance`` words between."""
    placed: list[list[tuple[str, int, int]]] = []
    for item in node.items:
        words = []
        for term in near_alternatives(item):
            for name, start, end in _occurrences(rule, seen, term):
                first, stop = seen.fields[name].words(start, end)
                words.append((name, first, stop))
        if not words:
            return False
        placed.append(words)
    return _near_choice(placed, node.distance, 0, None, 0, [])


def _near_choice(
    placed: list[list[tuple[str, int, int]]],
    distance: int,
    depth: int,
    name: str | None,
    covered: int,
    chosen: list[tuple[int, int]],
) -> bool:
    if depth == len(placed):
        ordered = sorted(chosen)
        if any(a[1] > b[0] for a, b in pairwise(ordered)):
            return False  # overlapping occurrences
        return ordered[-1][1] - ordered[0][0] - covered <= distance
    for where, first, end in placed[depth][:200]:
        if name is None or where == name:
            chosen.append((first, end))
            if _near_choice(placed, distance, depth + 1, where, covered + end - first, chosen):
                return True
            chosen.pop()
    return False


def _hits(rule: PeerRule, seen: PeerArticle, article: Article) -> tuple[TermHit, ...]:
    places: dict[Occurrence, Term] = {}
    for term, _ in rule.positive:
        for occurrence in _occurrences(rule, seen, term):
            places.setdefault(occurrence, term)
    hits = []
    for (name, start, end), term in sorted(
        places.items(), key=lambda p: (TEXT_FIELDS.index(p[0][0]), p[0][1])
    ):
        peer_field = seen.fields[name]
        first, stop = peer_field.span(start, end)
        text = " ".join(peer_field.original[first:stop].split())
        hits.append(TermHit(term.text, text, name, first, stop))
        if len(hits) == MAX_HITS_PER_RULE:
            break
    return tuple(hits)


def _snippet(article: Article, hits: Sequence[TermHit]) -> str:
    """The sentence around the first hit in the body, else the summary, else the title."""
    order = {"body": 0, "summary": 1, "title": 2}
    first = min(hits, key=lambda h: (order[h.field], h.start))
    text: str = getattr(article, first.field)
    left = max(
        (m.end() for m in _SENTENCE_END.finditer(text, max(0, first.start - 400), first.start)), default=0
    )
    right_match = _SENTENCE_END.search(text, first.end, first.end + 400)
    right = right_match.start() + 1 if right_match else min(len(text), first.end + 400)
    return " ".join(text[left:right].split())


# -- the bench ------------------------------------------------------------------------------


@dataclass
class Built:
    build_s: float
    traced_mb: float
    c_mb: float = 0.0
    rss_mb: float = 0.0


def build_ours(specs: Sequence[RuleSpec], pipelines: LanguagePipelines) -> tuple[RuleIndex, Built]:
    gc.collect()
    before = rss_mb()
    started = time.process_time()
    index = RuleIndex(specs, pipelines).build(LANGUAGES)
    build_s = time.process_time() - started
    rss = rss_mb() - before
    tracemalloc.start()
    again = RuleIndex(specs, pipelines).build(LANGUAGES)
    traced = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    del again
    return index, Built(build_s, traced, 0.0, rss)


def build_peer(specs: Sequence[RuleSpec]) -> tuple[PeerIndex, Built]:
    gc.collect()
    before = rss_mb()
    started = time.process_time()
    index = PeerIndex(specs)
    build_s = time.process_time() - started
    rss = rss_mb() - before
    tracemalloc.start()
    again = PeerIndex(specs)
    traced = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    del again
    return index, Built(build_s, traced, index.c_memory_mb(), rss)


@dataclass
class Disagreement:
    ours_only: Counter[str] = field(default_factory=Counter)
    peer_only: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    articles: int = 0
    fired: int = 0


def compare(
    disagreement: Disagreement,
    articles: Sequence[Article],
    ours: Sequence[list[Match]],
    peer: Sequence[list[Match]],
    specs: dict[str, RuleSpec],
) -> None:
    for article, mine, theirs in zip(articles, ours, peer, strict=True):
        a, b = {m.rule_id for m in mine}, {m.rule_id for m in theirs}
        disagreement.articles += 1
        disagreement.fired += len(a)
        for rule_id, counter, who in (
            (a - b, disagreement.ours_only, "ours"),
            (b - a, disagreement.peer_only, "peer"),
        ):
            for r in sorted(rule_id):
                counter[r] += 1
                if len(disagreement.examples) < 8:
                    hits = next(m for m in (mine if who == "ours" else theirs) if m.rule_id == r).terms
                    said = "; ".join(f"{h.field}:{h.text!r}@{h.start}" for h in hits[:3])
                    disagreement.examples.append(
                        f"only {who} fires {r} [{specs[r].query}] on {article.origin}: {said}"
                    )


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.pipelines = LanguagePipelines({"it": "blank", "en": "blank"}, "it")
        common = common_vocabularies()
        self.generator = RuleGenerator(common)
        top = max(args.counts)
        started = time.perf_counter()
        stream = self.generator.rules(top)
        self.specs = [rule.spec(i) for i, rule in enumerate(stream)]
        articles = ArticleGenerator(common, stream, self.generator.bank)
        warm = 2 * WARMUP_ARTICLES
        self.warmup = self._articles(articles.batch(0, warm), 0)
        # each run times articles of its own: a matcher that remembers what it read must not
        # meet the same articles again in the second run
        self.runs = [
            self._articles(articles.batch(at, args.articles), at)
            for at in range(warm, warm + args.runs * args.articles, args.articles)
        ]
        self.timed = self.runs[0]
        print(
            f"{top:,} rules and {warm + args.runs * args.articles:,} articles generated in"
            f" {time.perf_counter() - started:.1f} s; {args.articles:,} timed, turns of {TURN}; load {load()}"
        )
        self.matcher = ArticleMatcher(RuleIndex(self.specs[:10], self.pipelines).build(LANGUAGES))
        for start in range(0, warm, 200):  # the daemon's warm-up
            self.matcher.match_many(self.warmup[start : start + 200])

    @staticmethod
    def _articles(generated: Sequence, first: int) -> list[Article]:  # type: ignore[type-arg]
        return [
            make_article(
                title=g.title, body=g.body, language=g.language, source="bench", origin=f"a{first + i}"
            )
            for i, g in enumerate(generated)
        ]

    def one_count(self, n: int) -> None:
        specs = self.specs[:n]
        index, ours_built = build_ours(specs, self.pipelines)
        peer_index, peer_built = build_peer(specs)
        self.matcher.swap(index)
        peer = PeerMatcher(peer_index)
        by_id = {spec.id: spec for spec in specs}
        disagreement = Disagreement()
        rates = []
        for timed in self.runs:
            ours_s = peer_s = 0.0
            for start in range(0, len(timed), TURN):
                turn = timed[start : start + TURN]
                began = time.process_time()
                mine = self.matcher.match_many(turn)
                ours_s += time.process_time() - began
                began = time.process_time()
                theirs = [peer.match(article) for article in turn]
                peer_s += time.process_time() - began
                compare(disagreement, turn, mine, theirs, by_id)
            rates.append((len(timed) / ours_s, len(timed) / peer_s, load()))
        print(
            f"\n{n:,} rules: build ours {ours_built.build_s:.2f} s, {ours_built.traced_mb:.1f} MB traced,"
            f" RSS +{ours_built.rss_mb:.0f} MB | peer {peer_built.build_s:.2f} s,"
            f" {peer_built.traced_mb:.1f} MB traced + {peer_built.c_mb:.1f} MB automaton,"
            f" RSS +{peer_built.rss_mb:.0f} MB"
            + (f"; the peer skipped {len(peer_index.skipped)} rules" if peer_index.skipped else "")
        )
        for ours_rate, peer_rate, at in rates:
            print(
                f"  articles/s ours {ours_rate:,.0f}  peer {peer_rate:,.0f}"
                f"  ours÷peer {ours_rate / peer_rate:.2f}×  (load {at})"
            )
        d = disagreement
        print(
            f"  agreement: {d.fired / d.articles:.1f} rules fire an article (ours); ours only"
            f" {sum(d.ours_only.values())} firings of {len(d.ours_only)} rules, peer only"
            f" {sum(d.peer_only.values())} of {len(d.peer_only)} rules"
        )
        for example in d.examples:
            print("   ", example)
        self.matcher.swap(RuleIndex((), self.pipelines))
        del index, peer_index, peer
        gc.collect()

    def profile(self, n: int) -> None:
        index, _ = build_ours(self.specs[:n], self.pipelines)
        self.matcher.swap(index)
        self.matcher.match_many(self.timed[:TURN])  # the new index's flags marked in the vocabulary, once
        profiler = cProfile.Profile()
        profiler.enable()
        for start in range(0, len(self.timed), TURN):
            self.matcher.match_many(self.timed[start : start + TURN])
        profiler.disable()
        stats = pstats.Stats(profiler)
        split(stats, n, len(self.timed))
        stats.sort_stats("tottime").print_stats(25)


# Where ArticleMatcher's time goes: cumulative time of these functions (file suffix, name).
PARTS = (
    ("spaCy's tokenizer (new chunks; overlaps)", ("spacy/tokenizer.pyx", "__call__")),
    ("folding", ("monitor/folding.py", "fold")),
    ("scan of the chunks for anchors", ("monitor/matching/scan.py", "scan_text")),
    ("deciding candidate rules", ("monitor/matching/matcher.py", "evaluate_rules")),
    ("  of which hits and snippets", ("monitor/matching/matcher.py", "of")),
    ("  of which snippets", ("monitor/matching/matcher.py", "_snippet")),
    ("  of which token tables (proximity…)", ("monitor/matching/scan.py", "table")),
    ("all matching", ("monitor/matching/matcher.py", "match_many")),
)
_SPLIT = ("folding", "scan of the chunks for anchors", "deciding candidate rules")  # they add up


def split(stats: pstats.Stats, n: int, articles: int) -> None:
    totals: dict[str, float] = {}
    for (filename, _, name), (_, _, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        for label, (suffix, function) in PARTS:
            if filename.endswith(suffix) and name == function:
                totals[label] = totals.get(label, 0.0) + cumulative
    whole = totals.get("all matching", 0.0) or 1.0
    print(f"\nprofile at {n:,} rules, {articles:,} articles (cProfile, load {load()}):")
    for label, _ in PARTS:
        spent = totals.get(label, 0.0)
        print(f"  {label:34} {spent / articles * 1e3:6.3f} ms/article  {spent / whole:5.1%}")
    scan = whole - sum(totals.get(label, 0.0) for label in _SPLIT)
    print(f"  {'the rest':34} {scan / articles * 1e3:6.3f} ms/article  {scan / whole:5.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="10, 1,000 and 10,000 rules, 200 articles, 1 run"
    )
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--counts", default="10,1000,10000,100000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", type=int, default=0, help="profile ours at this many rules instead")
    args = parser.parse_args()
    if args.quick:
        args.articles, args.counts, args.runs = 200, "10,1000,10000", 1
    args.counts = [int(c) for c in args.counts.split(",")]
    if args.profile:
        args.counts = [args.profile]
    bench = Bench(args)
    if args.profile:
        bench.profile(args.profile)
        return
    for n in args.counts:
        bench.one_count(n)


if __name__ == "__main__":
    main()

"""Deterministic generators shared by the benchmarks: vocabularies, watch rules, articles.

Everything is seeded: the same arguments give the same rules and the same
articles on every machine, so two runs (or two designs) see the same input.

- ``vocabulary``: random syllable words (the original bench_scan generator).
- ``RuleGenerator``: realistic watch rules over a bank of tens of thousands of
  generated named entities (1–3 words, Italian- and English-looking, some
  acronyms in capitals), combined with OR / AND / NOT, a few proximities,
  prefix wildcards and ``title:`` terms.  Each rule comes with its query text,
  the AST ``parse_query`` gives for that text (built directly, so 350,000 rules
  do not cost 20 s of luqum parsing) and a *witness*: words that make it fire.
- ``ArticleGenerator``: ~700-word Italian or English articles from a Zipfian
  common vocabulary, with elisions, numbers and accents, a share of never-seen
  rare words, and planted witnesses of some rules plus stray rule terms.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

from monitor.config import load_settings
from monitor.matching.matcher import ArticleMatcher
from monitor.matching.query import And, Near, Node, Not, Or, Term
from monitor.matching.rulefile import RuleSpec
from monitor.pipeline.ingest import IngestReport, Pipeline
from monitor.sources.language import LanguageGuesser
from monitor.store.engine import make_engine, prepare_schema
from monitor.store.repo import Store


def _list(text: str) -> list[str]:
    return text.split()


SYLLABLES = _list("ba be ci co da de fi fo ga gu la le mi mo na ne pa po ra re sa so ta to va vi za")
IT_SYLLABLES = [
    *SYLLABLES,
    *_list("bri chi ghe gli gno lli mbo nte nza pre rro sca sco sti stra tri tta zio zzo cchi ppo sse"),
]
EN_SYLLABLES = _list(
    "al an ar ber bro by cal chester dale den don er ford gan ham har ing kin land ley lin low mar "
    "mond more ner ney ock son ston ter thorn ton vel wick win wood worth"
)
IT_FUNCTION = _list(
    "di e il la che a in per un del della non è con si le da una al dei nel alla più anche come "
    "ma sono ha delle gli dal sul tra questo anni essere stato dopo prima ancora suo sua loro "
    "così perché già città governo paese però può"
)
EN_FUNCTION = _list(
    "the of and to a in is that for on it with as was by he at from are this be have has an not "
    "but they which or his her their were been will would after also said year new more about "
    "government people country could than"
)
# Never generated as a word: luqum operators and their lowercase twins.
RESERVED = frozenset({"and", "or", "not", "to", "near"})
BANK_SIZE = 60_000  # distinct named entities rules draw from
ZIPF_ENTITIES = 0.3  # how much more often popular entities are watched


def vocabulary(size: int, rng: random.Random) -> list[str]:
    """``size`` distinct random words of 2–4 syllables (the bench_scan vocabulary)."""
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def make_word(rng: random.Random, syllables: Sequence[str], low: int, high: int) -> str:
    return "".join(rng.choice(syllables) for _ in range(rng.randint(low, high)))


def zipf_cumulative(n: int, exponent: float) -> list[float]:
    """Cumulative Zipf weights for ranks 1..n (for ``random.choices(cum_weights=...)``)."""
    return list(accumulate(1.0 / (rank**exponent) for rank in range(1, n + 1)))


def _distinct(count: int, make: Iterator[str], avoid: set[str]) -> list[str]:
    """``count`` distinct words from ``make``, none in ``avoid`` nor a query operator."""
    words: list[str] = []
    seen = set(avoid)
    while len(words) < count:
        word = next(make)
        if word not in seen and word.lower() not in RESERVED:
            seen.add(word)
            words.append(word)
    return words


def _words(rng: random.Random, syllables: Sequence[str], low: int, high: int) -> Iterator[str]:
    while True:
        yield make_word(rng, syllables, low, high)


@dataclass(frozen=True)
class Language:
    """The common vocabulary of one language, most frequent first."""

    code: str
    words: list[str]
    cumulative: list[float]
    syllables: list[str]


def common_vocabularies(seed: int = 7, size: int = 12_000) -> dict[str, Language]:
    """Italian- and English-looking common words: real function words first, then generated ones."""
    rng = random.Random(seed)
    out = {}
    for code, function, syllables in (
        ("it", IT_FUNCTION, IT_SYLLABLES),
        ("en", EN_FUNCTION, EN_SYLLABLES),
    ):
        generated = _distinct(size - len(function), _words(rng, syllables, 2, 4), set(function))
        if code == "it":  # a few accented words (città, perché): folding's slow path
            accents = {"a": "à", "e": "è", "i": "ì", "o": "ò", "u": "ù"}
            generated = [
                w[:-1] + accents[w[-1]] if i % 40 == 0 and w[-1] in accents else w
                for i, w in enumerate(generated)
            ]
        words = function + generated
        out[code] = Language(code, words, zipf_cumulative(len(words), 1.0), syllables)
    return out


# -- rules ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratedRule:
    """A rule's query, the AST parse_query returns for it, and words that make it fire."""

    query: str
    expr: Node
    witness: tuple[tuple[str, str], ...]  # (field, text): plant these and the rule fires
    languages: tuple[str, ...] = ()

    def spec(self, number: int, expr: Node | None = None) -> RuleSpec:
        return RuleSpec(
            f"r{number}",
            f"rule {number}",
            self.query,
            self.expr if expr is None else expr,
            "bench",
            number,
            languages=self.languages,
        )


class _Query:
    """Builds a query's text and AST together, so every Term has the column the parser gives it."""

    def __init__(self) -> None:
        self.text = ""

    def add(self, text: str) -> None:
        self.text += text

    def term(self, text: str, field: str | None = None) -> Term:
        if field:
            self.add(f"{field}:")
        if " " in text:
            self.add('"')
            term = Term(text, len(self.text), field)
            self.add(text + '"')
        else:
            term = Term(text, len(self.text), field)
            self.add(text)
        return term

    def any_of(self, texts: Sequence[str], grouped: bool) -> Node:
        if grouped and len(texts) > 1:
            self.add("(")
        items = []
        for i, text in enumerate(texts):
            if i:
                self.add(" OR ")
            items.append(self.term(text))
        if grouped and len(texts) > 1:
            self.add(")")
        return items[0] if len(items) == 1 else Or(tuple(items))


class TermBank:
    """Named entities a newsroom watches: people, companies, places, acronyms."""

    def __init__(self, size: int, common: dict[str, Language], seed: int = 11) -> None:
        rng = random.Random(seed)
        avoid = {w for lang in common.values() for w in lang.words}
        parts_it = _distinct(size // 3, _words(rng, IT_SYLLABLES, 2, 4), avoid)
        parts_en = _distinct(size // 3, _words(rng, EN_SYLLABLES, 2, 3), avoid | set(parts_it))
        connectors = {"it": ["di", "del", "della"], "en": ["of", "for"]}
        terms: set[str] = set()
        ordered: list[str] = []
        while len(ordered) < size:
            roll = rng.random()
            lang, parts = ("it", parts_it) if rng.random() < 0.5 else ("en", parts_en)
            if roll < 0.05:
                term = make_word(rng, "ABCDEFGHILMNOPRSTUVZ", 2, 5)
                if term.lower() in RESERVED or term.lower() in avoid:
                    continue
            elif roll < 0.45:
                term = rng.choice(parts).capitalize()
            elif roll < 0.85:
                term = f"{rng.choice(parts).capitalize()} {rng.choice(parts).capitalize()}"
            elif roll < 0.93:
                first, last = rng.choice(parts).capitalize(), rng.choice(parts).capitalize()
                term = f"{first} {rng.choice(connectors[lang])} {last}"
            else:
                words = [rng.choice(parts).capitalize() for _ in range(3)]
                term = " ".join(words)
            if term not in terms:
                terms.add(term)
                ordered.append(term)
        self.terms = ordered
        # Popular entities are watched by more rules: a mild Zipf (s=0.3) over the bank
        self.cumulative = zipf_cumulative(len(ordered), ZIPF_ENTITIES)

    def uniform(self, rng: random.Random, k: int) -> list[str]:
        """Entities mentioned in passing: any of the bank, popular or not."""
        return rng.sample(self.terms, k)

    def draw(self, rng: random.Random, k: int) -> list[str]:
        picked: list[str] = []
        while len(picked) < k:
            term = rng.choices(self.terms, cum_weights=self.cumulative)[0]
            if term not in picked:
                picked.append(term)
        return picked


class RuleGenerator:
    """A deterministic stream of watch rules: ``rules(n)`` is always the first n of the same stream."""

    SHAPES = (  # percent of rules
        ("any_of", 32),
        ("single", 12),
        ("all_of", 12),
        ("topic", 10),
        ("not", 12),
        ("near", 5),
        ("prefix", 5),
        ("acronym", 5),
        ("title", 7),
    )

    def __init__(self, common: dict[str, Language], bank_size: int = BANK_SIZE, seed: int = 23) -> None:
        self.common = common
        self.bank = TermBank(bank_size, common)
        self.rng = random.Random(seed)
        self.acronyms = [t for t in self.bank.terms if t.isupper()]
        self._shapes = [name for name, _ in self.SHAPES]
        self._shape_weights = list(accumulate(weight for _, weight in self.SHAPES))
        self._stream: list[GeneratedRule] = []
        self._stems = {  # words whose stem a prefix wildcard names (negozia* for negoziato)
            code: [w for w in lang.words[200:3000] if w.isascii() and len(w) >= 6]
            for code, lang in common.items()
        }

    def rules(self, n: int) -> list[GeneratedRule]:
        while len(self._stream) < n:
            self._stream.append(self._one())
        return self._stream[:n]

    def _topic_words(self, lang: str, k: int) -> list[str]:
        """Lowercase subject words of middling frequency (accordo, sanzioni): AND-ed with an entity."""
        words = self.common[lang].words
        return [w for w in self.rng.sample(words[500:5000], k) if w.isascii()] or [words[500]]

    def _one(self) -> GeneratedRule:
        rng = self.rng
        shape = rng.choices(self._shapes, cum_weights=self._shape_weights)[0]
        q = _Query()
        lang = rng.choice(("it", "en"))
        witness: list[tuple[str, str]] = []
        expr: Node
        left: Node
        if shape == "any_of":
            texts = self.bank.draw(rng, rng.randint(2, 5))
            expr = q.any_of(texts, grouped=False)
            witness.append(("body", rng.choice(texts)))
        elif shape == "single":
            texts = self.bank.draw(rng, 1)
            expr = q.term(texts[0])
            witness.append(("body", texts[0]))
        elif shape == "all_of":
            a, b = self.bank.draw(rng, 2)
            left = q.term(a)
            q.add(" AND ")
            expr = And((left, q.term(b)))
            witness += [("body", a), ("body", b)]
        elif shape == "topic":
            names = self.bank.draw(rng, rng.randint(1, 3))
            topics = self._topic_words(lang, rng.randint(1, 3))
            left = q.any_of(names, grouped=True)
            q.add(" AND ")
            expr = And((left, q.any_of(topics, grouped=True)))
            witness += [("body", rng.choice(names)), ("body", rng.choice(topics))]
        elif shape == "not":
            *names, excluded = self.bank.draw(rng, rng.randint(2, 4))
            left = q.any_of(names, grouped=True)
            q.add(" AND NOT ")
            expr = And((left, Not(q.term(excluded))))
            witness.append(("body", rng.choice(names)))
        elif shape == "near":
            expr, planted = self._near(q, lang)
            witness.append(("body", planted))
        elif shape == "prefix":
            word = rng.choice(self._stems[lang])
            stem = word[: max(4, len(word) - 2)]
            name = self.bank.draw(rng, 1)[0]
            left = q.term(stem + "*")
            q.add(" AND ")
            expr = And((left, q.term(name)))
            witness += [("body", stem + "ato"), ("body", name)]
        elif shape == "acronym":
            acronym = rng.choice(self.acronyms)
            names = [t for t in self.bank.draw(rng, rng.randint(1, 3)) if t != acronym]
            left = q.term(acronym)
            q.add(" AND ")
            expr = And((left, q.any_of(names, grouped=True)))
            witness += [("body", acronym), ("body", rng.choice(names))]
        else:  # title
            a, b = self.bank.draw(rng, 2)
            left = q.term(a, field="title")
            q.add(" AND ")
            expr = And((left, q.term(b)))
            witness += [("title", a), ("body", b)]
        languages = (lang,) if rng.random() < 0.1 else ()
        return GeneratedRule(q.text, expr, tuple(witness), languages)

    def _near(self, q: _Query, lang: str) -> tuple[Node, str]:
        rng = self.rng
        if rng.random() < 0.5:  # "a b"~N over two single words
            a, b = (t.split()[0] for t in self.bank.draw(rng, 2))
            distance = rng.choice((3, 5, 10))
            start = len(q.text)
            q.add('"')
            first = Term(a, len(q.text))
            q.add(a + " ")
            second = Term(b, len(q.text))
            q.add(f'{b}"~{distance}')
            return Near((first, second), distance, start), f"{b} {self.common[lang].words[0]} {a}"
        a, b = self.bank.draw(rng, 2)
        distance = rng.choice((5, 10, 20))
        left = q.term(a)
        q.add(" ")
        column = len(q.text)
        q.add(f"NEAR/{distance} ")
        right = q.term(b)
        filler = " ".join(self.common[lang].words[:3])
        return Near((left, right), distance, column), f"{a} {filler} {b}"


# -- articles -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratedArticle:
    title: str
    body: str
    language: str


class ArticleGenerator:
    """~``words``-word articles; article ``i`` is the same whatever else is generated.

    Each article plants the witnesses of ``plants`` rules chosen log-uniformly
    over the first ``pool`` rules (so every rule count from 10 to ``pool`` sees a
    few hits an article) and ``stray`` terms of the entity bank (candidates that
    mostly do not fire), and replaces ``rare`` of its words with never-seen words.
    """

    def __init__(
        self,
        common: dict[str, Language],
        rules: Sequence[GeneratedRule],
        bank: TermBank,
        *,
        words: int = 700,
        plants: int = 3,
        stray: int = 3,
        rare: float = 0.03,
        seed: int = 97,
    ) -> None:
        self.common = common
        self.rules = rules
        self.bank = bank
        self.words = words
        self.plants = plants
        self.stray = stray
        self.rare = rare
        self.seed = seed
        self._rare_syllables = sorted(set(IT_SYLLABLES) | set(EN_SYLLABLES))

    def article(self, i: int) -> GeneratedArticle:
        rng = random.Random(self.seed * 1_000_003 + i)
        lang = "it" if i % 2 == 0 else "en"
        common = self.common[lang]
        body = rng.choices(common.words, cum_weights=common.cumulative, k=self.words)
        for _ in range(int(self.words * self.rare)):
            body[rng.randrange(self.words)] = make_word(rng, self._rare_syllables, 3, 6)
        title = rng.choices(common.words, cum_weights=common.cumulative, k=rng.randint(7, 12))
        planted: list[tuple[str, str]] = []
        if self.rules:
            for _ in range(self.plants):
                planted += self.rules[log_uniform_index(rng, len(self.rules))].witness
        planted += [("body", term) for term in self.bank.uniform(rng, self.stray)]
        for field, text in planted:
            target = title if field == "title" else body
            target.insert(rng.randrange(len(target) + 1), "\x00" + text)  # \x00: keep its capitals
        return GeneratedArticle(_sentence(title, rng, lang, title=True), _prose(body, rng, lang), lang)

    def batch(self, start: int, count: int) -> list[GeneratedArticle]:
        return [self.article(i) for i in range(start, start + count)]


def _word(word: str, rng: random.Random, lang: str) -> str:
    if word.startswith("\x00"):
        return word[1:]
    roll = rng.random()
    if roll < 0.01:
        return str(rng.randint(2, 2030))
    if roll < 0.025 and lang == "it" and len(word) > 3 and word[0] in "aeiou":
        return rng.choice(("l'", "dell'", "all'", "un'")) + word
    if roll < 0.035:
        return word.capitalize() + ("'s" if lang == "en" else "")
    return word


def _sentence(words: Sequence[str], rng: random.Random, lang: str, *, title: bool = False) -> str:
    out = [_word(w, rng, lang) for w in words]
    for i in range(6, len(out) - 3, rng.randint(7, 11)):
        if not title:
            out[i] += ","
    text = " ".join(out)
    return text[:1].upper() + text[1:] + ("" if title else ".")


def _prose(words: Sequence[str], rng: random.Random, lang: str) -> str:
    sentences, i = [], 0
    while i < len(words):
        n = rng.randint(12, 28)
        sentences.append(_sentence(words[i : i + n], rng, lang))
        i += n
    paragraphs, j = [], 0
    while j < len(sentences):
        n = rng.randint(3, 6)
        paragraphs.append(" ".join(sentences[j : j + n]))
        j += n
    return "\n\n".join(paragraphs)


def log_uniform_index(rng: random.Random, n: int) -> int:
    """An index in [0, n) whose logarithm is uniform: rule 5 is planted as often as rules 1,000–1,999."""
    return min(n - 1, int(math.exp(rng.uniform(0, math.log(n)))))


# -- the whole pipeline ---------------------------------------------------------------------


def scan_to_sqlite(
    texts: Sequence[tuple[str, str]],
    matcher: ArticleMatcher,
    workdir: Path,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[IngestReport, float]:
    """What ``monitor scan FOLDER`` does with a folder of ``title\n\nbody`` files, into a fresh
    SQLite database: read, parse, detect the language, match, record hits and alerts in batches.
    Returns the report and the seconds the scan took (writing the files is not timed)."""
    report, seconds, _ = scan_in_turns(texts, matcher, workdir, clock)
    return report, seconds


def scan_in_turns(
    texts: Sequence[tuple[str, str]],
    matcher: ArticleMatcher,
    workdir: Path,
    clock: Callable[[], float] = time.perf_counter,
    *,
    turn: int | None = None,
    beside: Callable[[int, int], float] | None = None,
) -> tuple[IngestReport, float, float]:
    """``scan_to_sqlite``, the folder's files scanned ``turn`` at a time (in name order) with
    ``beside(first, end)`` run for the same files before or after each turn, alternately: a
    baseline timed in the same turns, so a machine whose speed drifts slows both alike.
    Returns the report, the scan's seconds and the seconds ``beside`` reported."""
    folder = workdir / "in"
    folder.mkdir()
    for i, (title, body) in enumerate(texts):
        (folder / f"{i:06d}.txt").write_text(f"{title}\n\n{body}\n", encoding="utf-8")
    config = workdir / "monitor.yaml"  # explicit, so the bench never reads ./monitor.yaml
    config.write_text(
        f"database: sqlite:///{workdir}/bench.db\nstate_dir: {workdir}/state\nrules: []\n"
        "language_models: {it: blank, en: blank}\ndefault_language: it\n",
        encoding="utf-8",
    )
    settings = load_settings(str(config), env={})
    engine = make_engine(settings.database)
    prepare_schema(engine)
    try:
        pipeline = Pipeline(settings, Store(engine), matcher, LanguageGuesser(["it", "en"], "it"))
        paths = sorted(folder.iterdir())
        step = turn or len(paths)
        report, scan_s, beside_s = IngestReport(), 0.0, 0.0
        for k, first in enumerate(range(0, len(paths), step)):
            end = min(first + step, len(paths))
            if beside is not None and k % 2:
                beside_s += beside(first, end)
            started = clock()
            report.merge(pipeline.scan_files(paths[first:end], source="bench", under=str(folder)))
            scan_s += clock() - started
            if beside is not None and not k % 2:
                beside_s += beside(first, end)
        return report, scan_s, beside_s
    finally:
        engine.dispose()

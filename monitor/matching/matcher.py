"""Article → matches: fold each field once, scan its chunks for anchors, decide only candidate rules.

Pure with respect to I/O: given a RuleIndex and an Article it returns Match
values with every matched term, its field, character offsets in the original
text and a snippet.  The tokens are spaCy's, cut chunk by chunk and remembered
(monitor.matching.chunks, monitor.matching.scan); the few chunks spaCy still cuts
for a batch are cut inside ``nlp.memory_zone()`` so a long-running daemon's
string store does not grow with every new word.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from spacy.tokenizer import Tokenizer

from monitor.folding import fold
from monitor.matching.compiler import CompiledRule, LanguageIndex, RuleIndex
from monitor.matching.evaluate import ArticleFacts, Evaluation, Explanation, Found, Occurrence, explain
from monitor.matching.query import TEXT_FIELDS, Term
from monitor.matching.scan import FieldText, Hit, lemma_hits, scan_chunks, scan_table, scan_text
from monitor.matching.snippet import make_snippet
from monitor.models import Article, Match, TermHit

FIELDS = TEXT_FIELDS
_SNIPPET_FIELD_ORDER = ("body", "summary", "title")
MAX_HITS_PER_RULE = 50


def find_occurrences(index: RuleIndex, lang: str, article: Article) -> ArticleOccurrences:
    """Every occurrence of every indexed term in the article, keyed by term key id: the anchors
    found by the scan, the other terms looked up when asked."""
    table = index.for_language(lang)
    found = ArticleOccurrences(table)
    for field in FIELDS:
        original = getattr(article, field)
        if original:
            _scan_field(index, table, lang, field, original, found)
    return found


RawHits = dict[int, list[tuple[FieldText, int, int]]]  # key → (field, folded start, folded end)


class ArticleOccurrences:
    """Term key → occurrences in one article, each key's list built on first use (see ``Found``).

    The scan filled ``raw`` with the anchors; a term that is no anchor is looked up in the
    article's fields the first time a rule asks about it.
    """

    __slots__ = ("_built", "_lazy", "_looked_up", "_table", "_wild", "fields", "raw")

    def __init__(self, table: LanguageIndex) -> None:
        self.raw: RawHits = defaultdict(list)
        self.fields: list[FieldText] = []
        self._built: dict[int, list[Occurrence]] = {}
        self._looked_up: set[int] = set()
        self._lazy = table.lazy_keys  # the keys the scan does not look for
        self._wild: list[tuple[FieldText, list[tuple[int, int]], list[str]]] | None = None
        self._table = table

    def get(self, key: int, /) -> list[Occurrence] | None:
        built = self._built.get(key)
        if built is None:
            if key in self._lazy and key not in self._looked_up:
                self._look_up(key)
            raw = self.raw.get(key)
            if raw is None:
                return None
            capitals = self._table.capitals.get(key)
            built = self._built[key] = [
                text.occurrence(start, end)
                for text, start, end in raw
                if capitals is None or text.capitals_ok(capitals, start, self._table)
            ]
        return built

    def has(self, key: int, /) -> bool:
        if key in self._lazy and key not in self._looked_up:
            self._look_up(key)
        if key not in self.raw:
            return False
        return key not in self._table.capitals or bool(self.get(key))

    def _look_up(self, key: int) -> None:
        self._looked_up.add(key)
        forms = self._table.deferred.get(key)
        if forms is not None:
            for text in self.fields:
                spans = text.phrase_spans(forms, self._table.stands_apart)
                if spans:
                    self.raw[key].extend((text, start, end) for start, end in spans)
            return
        wildcards = self._table.deferred_wildcards
        prefix = wildcards.prefix_of(key)
        if prefix is not None:  # the common kind, prefix*: looked for where the text holds it
            for text in self.fields:
                spans = text.prefixed(prefix, self._table.stands_apart)
                if spans:
                    self.raw[key].extend((text, start, end) for start, end in spans)
            return
        matching = wildcards.matching
        for text, spans, words in self._words():
            hits = [(text, *spans[j]) for j in matching(key, words)]
            if hits:
                self.raw[key].extend(hits)

    def _words(self) -> list[tuple[FieldText, list[tuple[int, int]], list[str]]]:
        """Each field's words (no punctuation), read once, then tested for each pattern (``?ato``,
        ``att*co``) a woken rule asks about."""
        words = self._wild
        if words is None:
            words = self._wild = []
            for text in self.fields:
                positions, texts = text.words()
                starts = text.table().starts
                spans = [(starts[i], starts[i] + len(word)) for i, word in zip(positions, texts, strict=True)]
                words.append((text, spans, texts))
        return words

    def __iter__(self) -> Iterator[int]:
        return iter(self.raw)

    def __bool__(self) -> bool:
        return bool(self.raw)


def _scan_field(
    index: RuleIndex, table: LanguageIndex, lang: str, field: str, original: str, found: ArticleOccurrences
) -> None:
    pipelines = index.pipelines
    folded = fold(original)
    chunks = pipelines.chunks(lang)
    hits: list[Hit]
    nlp = pipelines.article_nlp(lang)
    if table.lemma_phrases or not isinstance(nlp.tokenizer, Tokenizer):
        # lemmas in context, or a tokenizer that does not cut at whitespace: the field whole
        doc = nlp.tokenizer(folded.text)  # not make_doc: no length cap, long articles are news too
        text = FieldText(field, original, folded, chunks, doc)
        hits = scan_table(table, text)
        if table.lemma_phrases:
            lemmas = [
                lemma
                for lemma, token in zip(pipelines.lemmas(lang, doc), doc, strict=True)
                if not token.is_space
            ]
            hits += lemma_hits(table.lemma_phrases, lemmas, text)
            hits.sort()
    else:
        text = FieldText(field, original, folded, chunks)
        hits = scan_text(table, text) if table.by_text else scan_chunks(table, text)
    found.fields.append(text)
    raw = found.raw
    for start, end, key in hits:
        raw[key].append((text, start, end))


def facts_of(article: Article, lang: str) -> ArticleFacts:
    return ArticleFacts(lang, article.source, article.url or "", article.tags)


Mentions = list[tuple[Term, Occurrence]]


def rule_fires(rule: CompiledRule, evaluation: Evaluation) -> Mentions | None:
    """The rule's mentions when it fires on this article, else None."""
    spec = rule.spec
    if spec.languages and evaluation.facts.lang not in spec.languages:
        return None
    if not evaluation.holds(spec.expr):
        return None
    mentions = evaluation.mentions(rule.positive_terms)
    if len(mentions) < spec.min_mentions:
        return None
    if spec.in_title and not any(o.field == "title" for _, o in mentions):
        return None
    return mentions


def evaluate_rules(index: RuleIndex, lang: str, article: Article, found: ArticleOccurrences) -> list[Match]:
    """Rules whose terms occurred, whose language fits, and whose logic and prominence hold."""
    by_key = index.rules_by_key
    candidates = sorted(set().union(*map(by_key.__getitem__, by_key.keys() & found.raw.keys())))
    evaluation = Evaluation({}, found, facts_of(article, lang))
    evidence = _Evidence(article, found)  # rules firing on the same words share their hits and snippet
    rules = index.rules
    matches = []
    for i in candidates:
        rule = rules[i]
        spec = rule.spec
        if spec.languages and lang not in spec.languages:
            continue
        evaluation.keys = rule.keys  # one Evaluation for the article, pointed at each rule in turn
        if rule.any_of:  # it holds when one of its terms occurred: finding which decides it
            lone = _lone_term(rule, found)
            if lone == _NO_TERM:
                continue
        elif evaluation.holds(spec.expr):
            lone = _lone_term(rule, found)
        else:
            continue
        fired = evidence.of(rule, evaluation, lone)
        if fired is not None:
            matches.append(Match(spec.id, spec.name, fired[0], fired[1], spec.notify, spec.tags))
    return matches


_NO_TERM = -1  # none of a rule's positive terms occurred
_GATHER = -2  # several did, or one scoped to a field: its mentions are gathered term by term


def _lone_term(rule: CompiledRule, found: Found) -> int:
    """The position among the rule's positive terms of the one that occurred, when only one
    did and it is not scoped to a field (then its mentions are that term's, whichever rule
    asks); else _NO_TERM or _GATHER."""
    lone = _NO_TERM
    has = found.has
    for position, key in enumerate(rule.positive_keys):
        if has(key):
            if lone != _NO_TERM:
                return _GATHER
            lone = position
    if lone != _NO_TERM and rule.positive_terms[lone].field is not None:
        return _GATHER
    return lone


Place = tuple[str, int, int]  # field, start and end in the original text


@dataclass(slots=True)
class _TermEvidence:
    """One term's mentions in one article, ready for every rule that fires on it alone."""

    hits: tuple[TermHit, ...]  # in reading order, at most MAX_HITS_PER_RULE
    count: int  # all the mentions, for min_mentions
    in_title: bool
    snippet: str


class _Evidence:
    """The hits and snippets of one article's matches, each made once.

    Most rules that fire on an article fire on one of its terms alone (an OR of names, one of
    which occurs): at 100,000 generated rules, 35 rules fire an article on 12 places. Those
    rules share one ``_TermEvidence`` per term, so their match is one look-up; a rule that
    fires on several terms gathers its mentions, sharing each hit and snippet by place.
    """

    __slots__ = ("_article", "_found", "_hits", "_snippets", "_terms")

    def __init__(self, article: Article, found: Found) -> None:
        self._article = article
        self._found = found
        self._hits: dict[tuple[str, str, int, int], TermHit] = {}
        self._snippets: dict[Place, str] = {}
        self._terms: dict[tuple[int, str], _TermEvidence] = {}

    def of(
        self, rule: CompiledRule, evaluation: Evaluation, lone: int
    ) -> tuple[tuple[TermHit, ...], str] | None:
        """The hits and snippet of a rule whose query holds, or None when its prominence does not.

        ``lone`` is what ``_lone_term`` said of the rule."""
        spec = rule.spec
        if lone >= 0:
            term, key = rule.positive_terms[lone], rule.positive_keys[lone]
            evidence = self._terms.get((key, term.text))
            if evidence is None:
                evidence = self._terms[key, term.text] = self._term(term, self._found.get(key) or [])
            if evidence.count < spec.min_mentions or (spec.in_title and not evidence.in_title):
                return None
            return evidence.hits, evidence.snippet
        mentions = evaluation.mentions(rule.positive_terms)
        if len(mentions) < spec.min_mentions:
            return None
        if spec.in_title and not any(o.field == "title" for _, o in mentions):
            return None
        hits = self._hits_of(mentions)
        return hits, self._snippet(hits)

    def _term(self, term: Term, occurrences: list[Occurrence]) -> _TermEvidence:
        places: dict[Place, Occurrence] = {}
        for o in occurrences:
            places.setdefault((o.field, o.start, o.end), o)
        in_title = any(field == "title" for field, _, _ in places)
        mentions = [(term, o) for o in places.values()]
        hits = self._hits_of(mentions)
        return _TermEvidence(hits, len(mentions), in_title, self._snippet(hits))

    def _hits_of(self, mentions: Mentions) -> tuple[TermHit, ...]:
        if len(mentions) > 1:
            mentions.sort(key=_reading_order)
        hits = []
        known = self._hits
        for term, o in mentions[:MAX_HITS_PER_RULE]:
            place = (term.text, o.field, o.start, o.end)
            hit = known.get(place)
            if hit is None:
                hit = known[place] = _hit(self._article, term, o)
            hits.append(hit)
        return tuple(hits)

    def _snippet(self, hits: Sequence[TermHit]) -> str:
        """The sentence around the first hit in the body, else in the summary, else in the title."""
        if not hits:
            return ""
        first = min(hits, key=_snippet_preference)
        where = (first.field, first.start, first.end)
        snippet = self._snippets.get(where)
        if snippet is None:
            snippet = self._snippets[where] = make_snippet(
                getattr(self._article, first.field), first.start, first.end
            )
        return snippet


_FIELD_RANK = {field: rank for rank, field in enumerate(FIELDS)}
_SNIPPET_RANK = {field: rank for rank, field in enumerate(_SNIPPET_FIELD_ORDER)}


def _reading_order(mention: tuple[Term, Occurrence]) -> tuple[int, int]:
    return _FIELD_RANK[mention[1].field], mention[1].start


def _snippet_preference(hit: TermHit) -> tuple[int, int]:
    return _SNIPPET_RANK[hit.field], hit.start


def _hit(article: Article, term: Term, occurrence: Occurrence) -> TermHit:
    original: str = getattr(article, occurrence.field)
    text = " ".join(original[occurrence.start : occurrence.end].split())  # as written, one line
    return TermHit(term.text, text, occurrence.field, occurrence.start, occurrence.end)


@dataclass(frozen=True)
class RuleExplanation:
    """Why one rule did or did not fire on one article."""

    rule_id: str
    fired: bool
    tree: Explanation
    reason: str  # "" when the query decided it, else what stopped it (language, prominence)


def explain_article(index: RuleIndex, article: Article) -> list[RuleExplanation]:
    """Every rule's decision on ``article``, clause by clause (for ``rules test --explain``)."""
    lang = index.pipelines.resolve(article.language)
    found = find_occurrences(index, lang, article)
    facts = facts_of(article, lang)
    out = []
    for rule in index.rules:
        evaluation = Evaluation(rule.keys, found, facts)
        tree = explain(rule.spec.expr, evaluation)
        mentions = rule_fires(rule, evaluation)
        reason = ""
        if tree.value and mentions is None:
            spec = rule.spec
            if spec.languages and lang not in spec.languages:
                reason = f"article language {lang} is not among {', '.join(spec.languages)}"
            elif spec.in_title:
                reason = "no mention in the title (in_title: true)"
            else:
                reason = f"fewer than min_mentions: {spec.min_mentions}"
        out.append(RuleExplanation(rule.spec.id, mentions is not None, tree, reason))
    return out


WARMUP_ARTICLES = 500
# Words met inside memory zones (counted again at each sighting) after which a language's article
# pipeline is replaced by a fresh one: it bounds the growth of spaCy's hash tables, while real news,
# with few new words an article, reaches it seldom (bench/RESULTS.md: memory over a long run).
RENEW_AFTER_WORDS = 500_000


class ArticleMatcher:
    """Matches articles against the current RuleIndex; ``swap`` installs a new one atomically.

    The first WARMUP_ARTICLES articles of each language are cut into tokens whole, chunk
    by chunk, outside any memory zone, so the language's common chunks are remembered
    (monitor.matching.chunks) and its common words become permanent; after that every
    batch runs in a memory zone, so the rare words that spaCy still cuts for a
    long-running daemon are freed.  After RENEW_AFTER_WORDS words met
    in zones the language's pipeline is renewed (see LanguagePipelines.renew) and
    warmed up again, so resident memory stays flat too.
    """

    def __init__(self, index: RuleIndex) -> None:
        self.index = index
        self._warm: dict[str, int] = defaultdict(int)
        self._settled: dict[str, int] = {}  # vocabulary size when the language's warm-up ended

    def swap(self, index: RuleIndex) -> None:
        self.index = index

    def match(self, article: Article) -> list[Match]:
        return next(iter(self.match_many([article])))

    def match_many(self, articles: Sequence[Article]) -> list[list[Match]]:
        index = self.index  # one index for the whole batch, even if swapped meanwhile
        by_lang: dict[str, list[int]] = defaultdict(list)
        for position, article in enumerate(articles):
            by_lang[index.pipelines.resolve(article.language)].append(position)
        out: dict[int, list[Match]] = {}
        for lang, positions in by_lang.items():
            warming = self._warm[lang] < WARMUP_ARTICLES
            self._warm[lang] += len(positions)
            nlp = index.pipelines.article_nlp(lang)
            index.for_language(lang)  # built outside the memory zone
            if not warming:
                self._settled.setdefault(lang, len(nlp.vocab))
            with contextlib.nullcontext() if warming else nlp.memory_zone():
                for position in positions:
                    article = articles[position]
                    found = find_occurrences(index, lang, article)
                    if warming:  # every chunk cut and remembered, not only those the scan needs
                        for text in found.fields:
                            text.word_at(0)
                    out[position] = evaluate_rules(index, lang, article, found) if found else []
            if not warming and len(nlp.vocab) - self._settled[lang] > RENEW_AFTER_WORDS:
                index.pipelines.renew(lang, nlp)
                self._warm[lang] = 0
                del self._settled[lang]
        return [out[i] for i in range(len(articles))]

"""Article → matches: tokenize each field once, scan its tokens once, decide only candidate rules.

Pure with respect to I/O: given a RuleIndex and an Article it returns Match
values with every matched term, its field, character offsets in the original
text and a snippet.  Work for a batch runs inside ``nlp.memory_zone()`` so a
long-running daemon's string store does not grow with every new word.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import compress, count

import numpy as np
from spacy.strings import get_string_id
from spacy.tokens import Doc, Token

from monitor.folding import FoldedText, fold
from monitor.matching.acronyms import may_be_a_common_word
from monitor.matching.columns import (
    FlaggedWords,
    Forms,
    Spans,
    flagged_words,
    phrase_spans,
    prefixed_words,
    word_columns,
    word_numbers,
)
from monitor.matching.compiler import START, WILD, CompiledRule, LanguageIndex, Phrases, RuleIndex
from monitor.matching.evaluate import ArticleFacts, Evaluation, Explanation, Found, Occurrence, explain
from monitor.matching.query import TEXT_FIELDS, Term
from monitor.matching.snippet import make_snippet
from monitor.models import Article, Match, TermHit

FIELDS = TEXT_FIELDS
_SNIPPET_FIELD_ORDER = ("body", "summary", "title")
MAX_HITS_PER_RULE = 50


def find_occurrences(index: RuleIndex, lang: str, article: Article) -> ArticleOccurrences:
    """Every occurrence of every indexed term in the article, keyed by term key id: the anchors
    found by the scan, the other terms looked up when asked."""
    table = index.for_language(lang)
    vocab = index.pipelines.article_nlp(lang).vocab
    table.mark_starts(vocab)
    found = ArticleOccurrences(table)
    for field in FIELDS:
        original = getattr(article, field)
        if original:
            _scan_field(index, table, lang, field, original, found)
    return found


class FieldTokens:
    """One field's tokens, kept while the article's rules are decided.

    Only the token hashes are read out of spaCy for every token; character
    offsets come from the few tokens a candidate rule asks about, and word
    positions from one array read when a proximity rule first asks.
    """

    __slots__ = ("_words", "doc", "field", "folded", "kept", "original", "orths")

    def __init__(
        self,
        field: str,
        original: str,
        folded: FoldedText,
        doc: Doc,
        kept: np.ndarray | None,
        orths: np.ndarray,
    ) -> None:
        self.field = field
        self.original = original
        self.folded = folded
        self.doc = doc
        self.kept = kept  # doc positions of the non-space tokens, None when every token is one
        self.orths = orths  # the hash of each (non-space) token
        self._words: np.ndarray | None = None

    def _token(self, i: int) -> Token:
        return self.doc[i if self.kept is None else int(self.kept[i])]

    def occurrence(self, first: int, end: int) -> Occurrence:
        head, last = self._token(first), self._token(end - 1)
        start, stop = head.idx, last.idx + len(last)
        if self.folded.shifted:  # else folded and original offsets are the same
            start, stop = self.folded.original_span(start, stop)
        return Occurrence(self.field, first, end, start, stop, self)

    def word_at(self, token: int) -> int:
        """The word position of a token: punctuation does not count when measuring proximity.

        Read from one array of the field, built when a proximity rule first asks.
        """
        words = self._words
        if words is None:
            words = self._words = word_numbers(self.doc, self.kept)
        return int(words[token])

    def flagged(self, flag: int) -> FlaggedWords:
        """The positions and texts of the tokens whose lexeme has ``flag``: read only when asked."""
        return flagged_words(self.doc, self.folded.text, self.kept, flag)

    def prefixed(self, flag: int, prefix: str) -> list[int]:
        """The positions of the tokens whose lexeme has ``flag`` and whose text starts with ``prefix``."""
        return prefixed_words(self.doc, self.folded.text, self.kept, flag, prefix)

    def phrase_spans(self, forms: Forms) -> Spans:
        """Token spans (end exclusive) where one of a term's forms occurs, in reading order."""
        return phrase_spans(self.orths, forms)

    def capitals_ok(self, capitals: tuple[int, ...], first: int, table: LanguageIndex) -> bool:
        """An acronym in the query (NATO) matches NATO or Nato, never the word nato, nor a Nato
        that opens a sentence as the common word nato does (see ``acronyms``)."""
        for offset in capitals:
            token = self._token(first + offset)
            start, end = token.idx, token.idx + len(token)
            if self.folded.shifted:
                start, end = self.folded.original_span(start, end)
            original = self.original
            if not original[start : start + 1].isupper():
                return False
            if may_be_a_common_word(original, start, end) and table.is_common_word(token.text):
                return False
        return True


RawHits = dict[int, list[tuple[FieldTokens, int, int]]]  # key → (field, first token, end token)


class ArticleOccurrences:
    """Term key → occurrences in one article, each key's list built on first use (see ``Found``).

    The scan filled ``raw`` with the anchors; a term that is no anchor is looked up in the
    article's fields the first time a rule asks about it.
    """

    __slots__ = ("_built", "_lazy", "_looked_up", "_table", "_wild", "fields", "raw")

    def __init__(self, table: LanguageIndex) -> None:
        self.raw: RawHits = defaultdict(list)
        self.fields: list[FieldTokens] = []
        self._built: dict[int, list[Occurrence]] = {}
        self._looked_up: set[int] = set()
        self._lazy = table.lazy_keys  # the keys the scan does not look for
        self._wild: list[tuple[FieldTokens, list[int], list[str]]] | None = None
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
                tokens.occurrence(first, end)
                for tokens, first, end in raw
                if capitals is None or tokens.capitals_ok(capitals, first, self._table)
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
            for tokens in self.fields:
                spans = tokens.phrase_spans(forms)
                if spans:
                    self.raw[key].extend((tokens, first, end) for first, end in spans)
            return
        wildcards = self._table.deferred_wildcards
        prefix = wildcards.prefix_of(key)
        if prefix is not None:  # the common kind, prefix*: its words are compared in place
            for tokens in self.fields:
                positions = tokens.prefixed(WILD, prefix)
                if positions:
                    self.raw[key].extend((tokens, j, j + 1) for j in positions)
            return
        matching = wildcards.matching
        for tokens, positions, words in self._wildcard_words():
            hits = [(tokens, positions[j], positions[j] + 1) for j in matching(key, words)]
            if hits:
                self.raw[key].extend(hits)

    def _wildcard_words(self) -> list[tuple[FieldTokens, list[int], list[str]]]:
        """Each field's words that match some deferred wildcard (flagged WILD when spaCy made
        them): their positions and texts, read once, then tested for each key a rule asks about."""
        words = self._wild
        if words is None:
            words = self._wild = []
            for tokens in self.fields:
                positions, texts = tokens.flagged(WILD)
                if positions:
                    words.append((tokens, positions, texts))
        return words

    def __iter__(self) -> Iterator[int]:
        return iter(self.raw)

    def __bool__(self) -> bool:
        return bool(self.raw)


def _scan_field(
    index: RuleIndex, table: LanguageIndex, lang: str, field: str, original: str, found: ArticleOccurrences
) -> None:
    nlp = index.pipelines.article_nlp(lang)
    folded = fold(original)
    text = folded.text
    doc = nlp.tokenizer(text)  # not make_doc: no length cap, long articles are news too
    if len(doc) == 0:
        return
    # whitespace tokens are not words: phrases match across them
    orths, kept, starting = word_columns(doc, text, START)  # starting: the few that start an anchor
    tokens = FieldTokens(field, original, folded, doc, kept, orths)
    found.fields.append(tokens)
    raw = found.raw
    strings = nlp.vocab.strings
    known = table.starts.get
    last = len(orths) - 1
    if len(starting):
        # each flagged token's hash and the next one's, read in C for the few flagged
        after = orths[np.minimum(starting + 1, last)].tolist()
        for i, orth, following in zip(starting.tolist(), orths[starting].tolist(), after, strict=True):
            alone, longer = known(orth) or table.wildcard_entry(orth, strings)
            if alone:
                one_word = (tokens, i, i + 1)
                for key in alone:
                    raw[key].append(one_word)
            if longer is not None and i < last:
                for rest, key in longer.get(following, ()):
                    end = i + 2 + len(rest)
                    if not rest or tuple(orths[i + 2 : end].tolist()) == rest:
                        raw[key].append((tokens, i, end))
    if table.lemma_phrases:
        lemmas = [get_string_id(lemma) for lemma in index.pipelines.lemmas(lang, doc)]
        _phrase_hits(
            table.lemma_phrases, lemmas if kept is None else [lemmas[i] for i in kept.tolist()], tokens, raw
        )


def _phrase_hits(phrases: dict[int, Phrases], orths: list[int], tokens: FieldTokens, raw: RawHits) -> None:
    for i in compress(count(), map(phrases.__contains__, orths)):
        for rest, key in phrases[orths[i]]:
            if not rest:
                raw[key].append((tokens, i, i + 1))
            elif tuple(orths[i + 1 : i + 1 + len(rest)]) == rest:
                raw[key].append((tokens, i, i + 1 + len(rest)))


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


def evaluate_rules(index: RuleIndex, lang: str, article: Article, found: Found) -> list[Match]:
    """Rules whose terms occurred, whose language fits, and whose logic and prominence hold."""
    by_key = index.rules_by_key
    candidates = sorted(set().union(*map(by_key.__getitem__, by_key.keys() & set(found))))
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

    The first WARMUP_ARTICLES articles of each language are tokenized outside any
    memory zone, so the language's common words become permanent and stay in the
    tokenizer cache; after that every batch runs in a memory zone, so the rare
    words of a long-running daemon are freed.  After RENEW_AFTER_WORDS words met
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
            index.for_language(lang).mark_starts(nlp.vocab)  # build and mark outside the memory zone
            if not warming:
                self._settled.setdefault(lang, len(nlp.vocab))
            with contextlib.nullcontext() if warming else nlp.memory_zone():
                for position in positions:
                    article = articles[position]
                    found = find_occurrences(index, lang, article)
                    out[position] = evaluate_rules(index, lang, article, found) if found else []
            if not warming and len(nlp.vocab) - self._settled[lang] > RENEW_AFTER_WORDS:
                index.pipelines.renew(lang, nlp)
                self._warm[lang] = 0
                del self._settled[lang]
        return [out[i] for i in range(len(articles))]

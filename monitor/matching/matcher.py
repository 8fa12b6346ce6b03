"""Article → matches: tokenize each field once, scan its tokens once, decide only candidate rules.

Pure with respect to I/O: given a RuleIndex and an Article it returns Match
values with every matched term, its field, character offsets in the original
text and a snippet.  Work for a batch runs inside ``nlp.memory_zone()`` so a
long-running daemon's string store does not grow with every new word.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from spacy.attrs import IDX, IS_PUNCT, IS_SPACE, LENGTH, ORTH
from spacy.strings import StringStore, get_string_id

from monitor.matching.compiler import CompiledRule, LanguageIndex, RuleIndex
from monitor.matching.evaluate import ArticleFacts, Evaluation, Explanation, Found, Occurrence, explain
from monitor.matching.normalize import FoldedText, fold
from monitor.matching.query import TEXT_FIELDS, Term, terms
from monitor.matching.snippet import make_snippet
from monitor.models import Article, Match, TermHit

FIELDS = TEXT_FIELDS
_SNIPPET_FIELD_ORDER = ("body", "summary", "title")
MAX_HITS_PER_RULE = 50
Hit = tuple[int, int, int]  # (term key, first token, end token), counting only non-space tokens


def find_occurrences(index: RuleIndex, lang: str, article: Article) -> Found:
    """Every occurrence of every indexed term in the article, keyed by term key id."""
    table = index.for_language(lang)
    found: Found = defaultdict(list)
    for field in FIELDS:
        original = getattr(article, field)
        if original:
            _scan_field(index, table, lang, field, original, found)
    return found


def _scan_field(
    index: RuleIndex, table: LanguageIndex, lang: str, field: str, original: str, found: Found
) -> None:
    nlp = index.pipelines.article_nlp(lang)
    folded = fold(original)
    doc = nlp.tokenizer(folded.text)  # not make_doc: no length cap, long articles are news too
    if len(doc) == 0:
        return
    columns = doc.to_array([ORTH, IS_PUNCT, IS_SPACE, IDX, LENGTH])
    # Whitespace tokens (line breaks, runs of spaces) are not words: phrases match across them.
    spaces = columns[:, 2] != 0
    kept: list[int] | None = np.flatnonzero(~spaces).tolist() if spaces.any() else None
    if kept is not None:
        columns = columns[~spaces]
    orths: list[int] = columns[:, 0].tolist()
    hits = _phrase_hits(table.phrases, table.first_tokens, orths)
    if table.lemma_phrases:
        lemmas = [get_string_id(lemma) for lemma in index.pipelines.lemmas(lang, doc)]
        hits += _phrase_hits(
            table.lemma_phrases,
            frozenset(table.lemma_phrases),
            lemmas if kept is None else [lemmas[i] for i in kept],
        )
    if table.has_wildcards:
        hits += _wildcard_hits(table, nlp.vocab.strings, orths, columns[:, 1])
    if not hits:
        return
    # word positions: punctuation and spaces do not count when measuring proximity
    words = np.concatenate(([0], np.cumsum(columns[:, 1] == 0))).tolist()
    starts: list[int] = columns[:, 3].tolist()
    lengths: list[int] = columns[:, 4].tolist()
    capitals = table.capitals
    shifted = folded.shifted  # else folded and original offsets are the same
    for key, first, end in hits:
        if key in capitals and not _capitals_ok(capitals[key], starts, first, folded, original):
            continue
        start, stop = starts[first], starts[end - 1] + lengths[end - 1]
        if shifted:
            start, stop = folded.original_span(start, stop)
        found[key].append(Occurrence(field, words[first], words[end], start, stop))


def _wildcard_hits(table: LanguageIndex, strings: StringStore, orths: list[int], punct: Any) -> list[Hit]:
    """Each distinct word is looked up once (and cached across articles), then its places listed."""
    matching = table.wildcard_orths(orths, strings)
    if not matching:
        return []
    positions = [i for i, orth in enumerate(orths) if orth in matching]
    is_punct = punct.tolist()
    keys_of = table.keys_of
    return [(key, i, i + 1) for i in positions if not is_punct[i] for key in keys_of(orths[i])]


def _phrase_hits(
    phrases: dict[int, list[tuple[tuple[int, ...], int]]], firsts: frozenset[int], tokens: list[int]
) -> list[Hit]:
    present = firsts.intersection(tokens)  # in C, over the article's tokens; the loop visits only starts
    if not present:
        return []
    hits: list[Hit] = []
    for i, token in enumerate(tokens):
        if token in present:
            for rest, key in phrases[token]:
                end = i + 1 + len(rest)
                if not rest or tuple(tokens[i + 1 : end]) == rest:
                    hits.append((key, i, end))
    return hits


def _capitals_ok(
    capitals: tuple[int, ...], starts: list[int], first: int, folded: FoldedText, original: str
) -> bool:
    """An acronym in the query (NATO) matches NATO or Nato, never the word nato."""
    for offset in capitals:
        at = folded.original_offset(starts[first + offset])
        if not original[at : at + 1].isupper():
            return False
    return True


def facts_of(article: Article, lang: str) -> ArticleFacts:
    return ArticleFacts(lang, article.source, article.url or "")


Mentions = list[tuple[Term, Occurrence]]


def rule_fires(rule: CompiledRule, evaluation: Evaluation) -> Mentions | None:
    """The rule's mentions when it fires on this article, else None."""
    spec = rule.spec
    if spec.languages and evaluation.facts.lang not in spec.languages:
        return None
    if not evaluation.holds(spec.expr):
        return None
    mentions = evaluation.mentions(t for t, positive in terms(spec.expr) if positive)
    if len(mentions) < spec.min_mentions:
        return None
    if spec.in_title and not any(o.field == "title" for _, o in mentions):
        return None
    return mentions


def evaluate_rules(index: RuleIndex, lang: str, article: Article, found: Found) -> list[Match]:
    """Rules whose terms occurred, whose language fits, and whose logic and prominence hold."""
    candidates = sorted({i for key in found for i in index.rules_by_key.get(key, ())})
    facts = facts_of(article, lang)
    matches = []
    for i in candidates:
        rule = index.rules[i]
        mentions = rule_fires(rule, Evaluation(rule.keys, found, facts))
        if mentions is not None:
            matches.append(_to_match(rule, article, mentions))
    return matches


def _to_match(rule: CompiledRule, article: Article, mentions: Mentions) -> Match:
    mentions.sort(key=lambda m: (FIELDS.index(m[1].field), m[1].start))
    hits = tuple(_hit(article, term, o) for term, o in mentions[:MAX_HITS_PER_RULE])
    snippet = ""
    for field in _SNIPPET_FIELD_ORDER:
        first = next((h for h in hits if h.field == field), None)
        if first is not None:
            snippet = make_snippet(getattr(article, field), first.start, first.end)
            break
    spec = rule.spec
    return Match(spec.id, spec.name, hits, snippet, spec.notify, spec.tags)


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


class ArticleMatcher:
    """Matches articles against the current RuleIndex; ``swap`` installs a new one atomically.

    The first WARMUP_ARTICLES articles of each language are tokenized outside any
    memory zone, so the language's common words become permanent and stay in the
    tokenizer cache; after that every batch runs in a memory zone, so the rare
    words of a long-running daemon are freed and memory stays flat.
    """

    def __init__(self, index: RuleIndex) -> None:
        self.index = index
        self._warm: dict[str, int] = defaultdict(int)

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
            index.for_language(lang)  # build outside the memory zone
            warming = self._warm[lang] < WARMUP_ARTICLES
            self._warm[lang] += len(positions)
            nlp = index.pipelines.article_nlp(lang)
            with contextlib.nullcontext() if warming else nlp.memory_zone():
                for position in positions:
                    article = articles[position]
                    found = find_occurrences(index, lang, article)
                    out[position] = evaluate_rules(index, lang, article, found) if found else []
        return [out[i] for i in range(len(articles))]

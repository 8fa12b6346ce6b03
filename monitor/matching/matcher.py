"""Article → matches: tokenize each field once, scan once, evaluate only candidate rules.

Pure with respect to I/O: given a RuleIndex and an Article it returns Match
values with every matched term, its field, character offsets in the original
text and a snippet.  Work for a batch runs inside ``nlp.memory_zone()`` so a
long-running daemon's string store does not grow with every new word.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Sequence

from monitor.matching.compiler import CompiledRule, LanguageMatcher, RuleIndex
from monitor.matching.normalize import fold
from monitor.matching.query import evaluate
from monitor.matching.snippet import make_snippet
from monitor.models import Article, Match, TermHit

FIELDS = ("title", "summary", "body")
_SNIPPET_FIELD_ORDER = ("body", "summary", "title")
MAX_HITS_PER_RULE = 50


def find_terms(index: RuleIndex, lang: str, article: Article) -> dict[str, list[TermHit]]:
    """Every occurrence of every indexed term in the article, keyed by term key."""
    compiled = index.for_language(lang)
    nlp = index.pipelines.article_nlp(lang)
    found: dict[str, list[TermHit]] = defaultdict(list)
    for field in FIELDS:
        original = getattr(article, field)
        if not original:
            continue
        folded = fold(original)
        doc = nlp.tokenizer(folded.text)  # not make_doc: no length cap, long articles are news too
        for key_hash, start, end in compiled.matcher(doc):
            key = nlp.vocab.strings[key_hash]
            span_start, span_end = folded.original_span(doc[start].idx, doc[end - 1].idx + len(doc[end - 1]))
            if not _capitals_ok(compiled, key, doc, start, folded, original):
                continue
            text = " ".join(original[span_start:span_end].split())  # as written, one line
            found[key].append(TermHit(index.terms[key], text, field, span_start, span_end))
    return found


def _capitals_ok(
    compiled: LanguageMatcher, key: str, doc: object, start: int, folded: object, original: str
) -> bool:
    """An acronym in the query (NATO) matches NATO or Nato, never the word nato."""
    for offset in compiled.capitals.get(key, ()):
        token = doc[start + offset]  # type: ignore[index]
        first = folded.original_offset(token.idx)  # type: ignore[attr-defined]
        if not original[first : first + 1].isupper():
            return False
    return True


def evaluate_rules(
    index: RuleIndex, lang: str, article: Article, found: dict[str, list[TermHit]]
) -> list[Match]:
    """Rules whose terms occurred, whose language fits, and whose logic holds."""
    candidates = sorted({i for key in found for i in index.rules_by_term.get(key, ())})
    matches = []
    for i in candidates:
        rule = index.rules[i]
        if rule.spec.languages and lang not in rule.spec.languages:
            continue
        if evaluate(rule.spec.expr, lambda term, r=rule: r.keys[term] in found):  # type: ignore[misc]
            matches.append(_to_match(rule, article, found))
    return matches


def _to_match(rule: CompiledRule, article: Article, found: dict[str, list[TermHit]]) -> Match:
    hits = sorted(
        (hit for key in rule.positive_keys for hit in found.get(key, ())),
        key=lambda h: (FIELDS.index(h.field), h.start),
    )[:MAX_HITS_PER_RULE]
    snippet = ""
    for field in _SNIPPET_FIELD_ORDER:
        first = next((h for h in hits if h.field == field), None)
        if first is not None:
            snippet = make_snippet(getattr(article, field), first.start, first.end)
            break
    spec = rule.spec
    return Match(spec.id, spec.name, tuple(hits), snippet, spec.notify, spec.tags)


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
            index.for_language(lang)  # build outside the memory zone: patterns must persist
            warming = self._warm[lang] < WARMUP_ARTICLES
            self._warm[lang] += len(positions)
            nlp = index.pipelines.article_nlp(lang)
            with contextlib.nullcontext() if warming else nlp.memory_zone():
                for position in positions:
                    article = articles[position]
                    found = find_terms(index, lang, article)
                    out[position] = evaluate_rules(index, lang, article, found) if found else []
        return [out[i] for i in range(len(articles))]

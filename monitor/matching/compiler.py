"""All rules → one index: every distinct term once, one PhraseMatcher per language.

An article is tokenized once and scanned once whatever the number of rules;
boolean logic then runs only for rules one of whose terms occurred (a rule
that could fire with none of its terms present is refused by the rule loader).
The PhraseMatcher for a language is built the first time an article in that
language arrives, from a pattern tokenizer separate from the article vocabulary.
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from spacy.matcher import PhraseMatcher

from monitor.matching.nlp import LanguagePipelines
from monitor.matching.normalize import fold_plain
from monitor.matching.query import Term, terms
from monitor.matching.rulefile import RuleSpec

_WORD = re.compile(r"[^\W_]+")


def acronym_spans(text: str) -> tuple[tuple[int, int], ...]:
    """Spans of words written in capitals (NATO, USA, UE): those must not match lowercase words."""
    return tuple(
        m.span()
        for m in _WORD.finditer(text)
        if m.group().isupper() and sum(c.isalpha() for c in m.group()) >= 2
    )


def term_key(text: str) -> str:
    """Identity of a term across rules: folded text plus where capitals are required."""
    spans = acronym_spans(text)
    marks = ",".join(f"{s}-{e}" for s, e in spans)
    return f"{fold_plain(text)}|{marks}"


@dataclass(frozen=True, slots=True)
class CompiledRule:
    spec: RuleSpec
    positive_keys: frozenset[str]
    keys: dict[Term, str]


@dataclass(frozen=True, slots=True)
class LanguageMatcher:
    """The PhraseMatcher of one language and, per term, the pattern tokens that need capitals."""

    matcher: PhraseMatcher
    capitals: dict[str, tuple[int, ...]]


class RuleIndex:
    """The compiled form of a rule set, shared by every article until the next reload."""

    def __init__(self, specs: Sequence[RuleSpec], pipelines: LanguagePipelines) -> None:
        self.pipelines = pipelines
        self.rules: list[CompiledRule] = []
        self.terms: dict[str, str] = {}  # key -> term as first written
        self.rules_by_term: dict[str, list[int]] = defaultdict(list)
        for spec in specs:
            keys: dict[Term, str] = {}
            positive_keys = set()
            for term, positive in terms(spec.expr):
                key = keys[term] = term_key(term.text)
                self.terms.setdefault(key, term.text)
                if positive:
                    positive_keys.add(key)
            index = len(self.rules)
            self.rules.append(CompiledRule(spec, frozenset(positive_keys), keys))
            for key in positive_keys:
                self.rules_by_term[key].append(index)
        self._languages: dict[str, LanguageMatcher] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.rules)

    def for_language(self, lang: str) -> LanguageMatcher:
        with self._lock:
            if lang not in self._languages:
                self._languages[lang] = self._build(lang)
            return self._languages[lang]

    def _build(self, lang: str) -> LanguageMatcher:
        vocab = self.pipelines.article_nlp(lang).vocab
        make_pattern = self.pipelines.pattern_nlp(lang).make_doc
        matcher = PhraseMatcher(vocab, attr="ORTH")
        capitals: dict[str, tuple[int, ...]] = {}
        for key, text in self.terms.items():
            pattern = make_pattern(fold_plain(text))
            if len(pattern) == 0:
                continue
            spans = acronym_spans(text)
            capitals[key] = tuple(
                i
                for i, tok in enumerate(pattern)
                if any(tok.idx < e and tok.idx + len(tok) > s for s, e in spans)
            )
            matcher.add(key, [pattern])
        return LanguageMatcher(matcher, capitals)

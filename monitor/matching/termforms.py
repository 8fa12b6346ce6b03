"""How a rule's term is written in tokens: its key, the tokens of each of its forms, and which of
them must be written in capitals (acronyms).

Pure functions of the term's text and a language's pattern pipeline (a blank spaCy
pipeline of its own, monitor.matching.nlp), shared by the cold build of an index
(monitor.matching.compiler) and the rebuild after an edit (monitor.matching.rebuild).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import islice, product

from spacy.language import Language

from monitor.folding import fold_plain
from monitor.matching.lemmas import MAX_VARIANTS, lemma_table
from monitor.matching.query import Term

__all__ = ["Spans", "acronym_spans", "key_of", "pattern_tokens", "term_key", "term_variants"]

Spans = tuple[tuple[int, int], ...]
_WORD = re.compile(r"[^\W_]+")
_PLAIN = re.compile(r"[a-z]+|[0-9]+")


def acronym_spans(text: str) -> tuple[tuple[int, int], ...]:
    """Spans of words written in capitals (NATO, USA, UE): those must not match lowercase words."""
    return tuple(
        m.span()
        for m in _WORD.finditer(text)
        if m.group().isupper() and sum(c.isalpha() for c in m.group()) >= 2
    )


def term_key(term: Term, lemmas: bool = False) -> str:
    """Identity of a term across rules: how it is matched, its folded text, where capitals count."""
    return key_of(term.text, term.wildcard, lemmas, fold_plain(term.text), acronym_spans(term.text))


def key_of(text: str, wildcard: bool, lemmas: bool, folded: str, spans: tuple[tuple[int, int], ...]) -> str:
    """``term_key`` from the parts of the term the index has already worked out."""
    if wildcard:
        return f"wild:{folded}"
    marks = ",".join(f"{s}-{e}" for s, e in spans)
    return f"{'lemma' if lemmas else 'exact'}:{folded}|{marks}"


def pattern_tokens(nlp: Language, folded: str) -> list[tuple[str, int]]:
    """Tokens of a folded term (text, offset), exactly as the article tokenizer would cut them.

    Plain lowercase words and numbers that are no tokenizer exception are one
    token each: that shortcut skips spaCy for most terms and keeps reloads fast.
    """
    words = folded.split(" ")
    special = getattr(nlp.tokenizer, "rules", None) or {}
    if all(_PLAIN.fullmatch(w) and w not in special for w in words):
        tokens, offset = [], 0
        for word in words:
            tokens.append((word, offset))
            offset += len(word) + 1
        return tokens
    return [(t.text, t.idx) for t in nlp.tokenizer(folded) if not t.is_space]


def term_variants(
    nlp: Language, lang: str, folded: str, spans: tuple[tuple[int, int], ...], lemmas: bool
) -> Iterator[tuple[tuple[str, ...], tuple[int, ...]]]:
    """The tokens of every form of a term (``folded``, its ``acronym_spans``), each with the
    positions that need capitals."""
    tokens = pattern_tokens(nlp, folded)
    if not tokens:
        return
    capitals = (
        tuple(
            i for i, (tok, idx) in enumerate(tokens) if any(idx < e and idx + len(tok) > s for s, e in spans)
        )
        if spans
        else ()
    )
    if not lemmas:
        yield tuple(tok for tok, _ in tokens), capitals
        return
    table = lemma_table(lang)
    choices = [
        sorted(f for f in table.variants(tok) if len(pattern_tokens(nlp, f)) == 1) if tok.isalpha() else [tok]
        for tok, _ in tokens
    ]
    for combination in islice(product(*choices), MAX_VARIANTS):
        yield tuple(combination), capitals

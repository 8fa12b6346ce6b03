"""A plain reference evaluator: per rule, per term, per token; no index, no candidate selection.

It shares only folding, the tokenizer, the lemma table and the list of a
language's common words with the real matcher, and spells out the rule
language's semantics the slow, obvious way so the property tests can hold the
compiled index to it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

from monitor.folding import fold
from monitor.matching.acronyms import common_words
from monitor.matching.lemmas import lemma_table
from monitor.matching.nlp import LanguagePipelines
from monitor.matching.query import And, Meta, Near, Node, Not, Or, Term, terms
from monitor.matching.rulefile import RuleSpec


@dataclass(frozen=True)
class Place:
    field: str
    first_word: int
    end_word: int
    first_token: int  # identity of the place: the same tokens are the same mention
    end_token: int


@dataclass(frozen=True)
class Doc:
    """One article as the reference sees it."""

    fields: dict[str, str]
    lang: str
    source: str = "test"
    url: str = ""


Token = tuple[str, int, int | None, int]  # folded text, original offset, word number, original end


def _tokens(pipelines: LanguagePipelines, lang: str, text: str) -> list[Token]:
    """(folded token, original offset, word number or None for punctuation, original end);
    whitespace is no token."""
    folded = fold(text)
    out, words = [], 0
    for token in pipelines.article_nlp(lang).tokenizer(folded.text):
        if token.is_space:
            continue
        is_word = not token.is_punct
        end = folded.original_offset(token.idx + len(token) - 1) + 1
        out.append((token.text, folded.original_offset(token.idx), words if is_word else None, end))
        words += is_word
    return out


_LINE_BREAKS = "\n\r\u2028\u2029\x0b\x0c\x85"
_DASHES = "-‐‑‒–—―•·*"
_QUOTES = '"«“„‹¿¡'  # double quotes open a sentence wherever they are
_OPENING = '"«“„‘‹([{¿¡'
_JOINING = {"e", "ed", "o", "od", "and", "or", "&"}
# what may stand before the first word of a sentence: spaces, opening quotes and brackets,
# an apostrophe that follows no letter, a run of dashes or bullets that follows a space or nothing
_LEAD = re.compile(rf"(?:\s|[{re.escape(_OPENING)}]|(?<![^\W_])'|(?:(?<=\s)|^)[{re.escape(_DASHES)}]+)*$")


def _reads_as_common_word(text: str, start: int, end: int, word: str, lang: str) -> bool:
    """A title-case word opening a sentence, a line, a title or a segment after a dash, with
    nothing after it that says acronym, and a common word of the language (see acronyms.py)."""
    if text[start:end].isupper():
        return False
    lead = _LEAD.search(text, 0, start)
    assert lead is not None
    before, between = text[: lead.start()], lead.group()
    opens = (
        not before
        or any(c in _LINE_BREAKS or c in _DASHES or c in _QUOTES for c in between)
        or before[-1] in ".!?…"
        or (before[-1] == ":" and any(c in _OPENING or c == "'" for c in between))
        or re.search(rf"(?:^|[{_LINE_BREAKS}])[ \t]*\(?[^\W_]{{1,3}}\)$", before) is not None  # 1) (2) b)
    )
    if not opens:
        return False
    after = text[end:]
    if not after:
        marked = True  # nothing follows: a title of one word
    elif not after[0].isspace():
        marked = not after[0].isalnum() and after[0] not in "'’"  # glued punctuation or symbol
    else:  # a conjunction, then a capitalised word: "Usa e Cina"
        words = re.split(r"[^\S\n]+", after, maxsplit=2)
        name = words[2][1:] if len(words) == 3 and words[2][:1] in '"«“‘(' else words[-1]
        marked = len(words) == 3 and not words[0] and words[1] in _JOINING and name[:1].isupper()
    return not marked and word in common_words(lang, {word})


def _capitalised_words(text: str) -> list[tuple[int, int]]:
    return [
        m.span()
        for m in re.finditer(r"[^\W_]+", text)
        if m.group().isupper() and sum(c.isalpha() for c in m.group()) >= 2
    ]


def places(pipelines: LanguagePipelines, term: Term, lemmas: bool, doc: Doc) -> list[Place]:
    found = []
    for field, text in doc.fields.items():
        if not text or (term.field and term.field != field):
            continue
        tokens = _tokens(pipelines, doc.lang, text)
        if term.wildcard:
            regex = re.compile(
                "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in fold(term.text).text)
            )
            for i, (tok, _at, word, _end) in enumerate(tokens):
                if word is not None and regex.fullmatch(tok):
                    found.append(Place(field, word, word + 1, i, i + 1))
            continue
        pattern = [(t.text, t.idx) for t in pipelines.pattern_nlp(doc.lang).tokenizer(fold(term.text).text)]
        capitals = _capitalised_words(term.text)
        table = lemma_table(doc.lang) if lemmas else None
        allowed = [
            table.variants(tok) | {tok} if table is not None and tok.isalpha() else {tok}
            for tok, _ in pattern
        ]
        needs_capital = [any(s < idx + len(tok) and idx < e for s, e in capitals) for tok, idx in pattern]
        for i in range(len(tokens) - len(pattern) + 1):
            window = tokens[i : i + len(pattern)]
            if all(w[0] in ok for w, ok in zip(window, allowed, strict=True)) and all(
                text[w[1] : w[1] + 1].isupper()
                and not _reads_as_common_word(text, w[1], w[3], w[0], doc.lang)
                for w, cap in zip(window, needs_capital, strict=True)
                if cap
            ):
                first = next((w[2] for w in window if w[2] is not None), _words_before(tokens, i))
                words_in = sum(w[2] is not None for w in window)
                found.append(Place(field, first, first + words_in, i, i + len(pattern)))
    return found


def _words_before(tokens: list[Token], i: int) -> int:
    return sum(t[2] is not None for t in tokens[:i])


class Reference:
    """Decides rules the obvious way."""

    def __init__(self, pipelines: LanguagePipelines, spec: RuleSpec, doc: Doc) -> None:
        self.pipelines, self.spec, self.doc = pipelines, spec, doc

    def places(self, term: Term) -> list[Place]:
        return places(self.pipelines, term, self.spec.lemmas and not term.wildcard, self.doc)

    def holds(self, node: Node) -> bool:
        if isinstance(node, Term):
            return bool(self.places(node))
        if isinstance(node, Meta):
            value = node.value.lower()
            return {"lang": self.doc.lang.lower() == value, "source": self.doc.source.lower() == value}.get(
                node.field, value in self.doc.url.lower()
            )
        if isinstance(node, Near):
            options = [
                [p for t in (item.items if isinstance(item, Or) else (item,)) for p in self.places(t)]  # type: ignore[arg-type]
                for item in node.items
            ]
            return any(_close(choice, node.distance) for choice in product(*options))
        if isinstance(node, Not):
            return not self.holds(node.item)
        if isinstance(node, And):
            return all(self.holds(item) for item in node.items)
        assert isinstance(node, Or)
        return any(self.holds(item) for item in node.items)

    def mentions(self) -> set[tuple[str, int, int]]:
        """The places (field, first and end token) of the rule's positive terms, each once."""
        return {
            (p.field, p.first_token, p.end_token)
            for t, positive in terms(self.spec.expr)
            if positive
            for p in self.places(t)
        }

    def fires(self) -> bool:
        spec = self.spec
        if spec.languages and self.doc.lang not in spec.languages:
            return False
        if not self.holds(spec.expr):
            return False
        mentions = self.mentions()
        if len(mentions) < spec.min_mentions:
            return False
        return not spec.in_title or any(field == "title" for field, _, _ in mentions)


def _close(choice: Sequence[Place], distance: int) -> bool:
    """All in one field, no two sharing a word, and at most ``distance`` other words in their span."""
    if len({p.field for p in choice}) != 1:
        return False
    covered: set[int] = set()
    for place in choice:
        words = set(range(place.first_word, place.end_word))
        if words & covered:
            return False
        covered |= words
    span = range(min(p.first_word for p in choice), max(p.end_word for p in choice))
    return len([w for w in span if w not in covered]) <= distance

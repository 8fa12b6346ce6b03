"""Rules → the words every article they can fire on holds: the backtest's prefilter.

The sieve (:mod:`monitor.pipeline.sieve`) finds in the folded text of stored
articles the ones that hold a formula of words (:mod:`monitor.pipeline.formula`);
this module says which formula a rule needs, from the tokenizers the matcher
uses, so that the candidates include every article the rule can fire on and a
backtest answers what a full scan answers.  A term needs the words (runs of
letters and digits) of each of its tokens, as the pattern tokenizer cuts them
(``pattern_tokens``): a phrase needs each of its words, anywhere; order and
proximity are the matcher's to check.

Where spaCy cuts a token out of a longer run of letters and digits, the text
holds only the longer word, so such a token is loosened: one that can be cut
off the end of a word (the English ``cannot`` → ``can|not``, a unit after a
number: ``10|km``) needs nothing, one that can be cut off its start needs a
word that begins with it (``can*``, ``2024*``).  The cuts are read from the
tokenizer itself: its exceptions, and how it cuts the token after a digit or a
letter.  Only a rule's digits-then-letter cut cannot be listed for a wildcard,
so a wildcard's word may also begin right after a digit (``10km`` for ``km*``).

What no formula of words can express stands for any article, and a rule that
any article could satisfy is scanned whole: NOT (words cannot find an article
without a word), metadata (``lang:``, ``source:``), lemma rules (the
inflected forms are the matcher's), a wildcard that does not begin with
letters or digits (``*ato``), words with letters beyond ASCII.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from spacy.attrs import ORTH
from spacy.tokenizer import Tokenizer

from monitor.folding import fold_plain
from monitor.matching.compiler import pattern_tokens
from monitor.matching.nlp import LanguagePipelines
from monitor.matching.query import And, Near, Node, Or, Term
from monitor.matching.rulefile import RuleSpec
from monitor.matching.wildcard import Wildcard
from monitor.pipeline.formula import Formula, Word, all_of, any_of

_WORD = re.compile(r"[^\W_]+")
_WILDCARDS = re.compile(r"[*?]")
# Tokens whose formula is remembered: a long-running web app meets every query typed in its
# playground, so the least recently used ones go first.
KEPT_TOKENS = 10_000
# What is tried before and after a token to see whether spaCy cuts it out of a longer word.
_BEFORE = ("0", "00", "a")
_AFTER = ("a", "0")


@dataclass(frozen=True, slots=True)
class WordQuery:
    """What the sieve looks for in one backtest."""

    # An article the rules can fire on satisfies one of these (one per language's tokenizer).
    formulas: tuple[Formula, ...]
    languages: frozenset[str]  # the tokenizers read: an article in another is always a candidate
    # An article whose language none of the rules takes is never one (None: some rule takes any).
    rule_languages: frozenset[str] | None
    # A prefix word may also begin right after a digit: a wildcard's token may be a unit cut off
    # a number (10km → 10|km for km*).
    after_digit: bool = False


class Prefilter:
    """Builds word queries on the matcher's pipelines, remembering what each token needs."""

    def __init__(self, pipelines: LanguagePipelines) -> None:
        self.pipelines = pipelines
        self._cuts: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
        self._tokens: OrderedDict[tuple[str, str], Formula | None] = OrderedDict()

    def query(self, specs: Sequence[RuleSpec]) -> WordQuery | None:
        """The query for a backtest of ``specs``; None when it must read every article."""
        if not specs:
            return None
        languages = sorted({*self.pipelines.models, self.pipelines.default_language})
        formulas: list[Formula] = []
        wild = False
        for lang in languages:
            reading = _Reading(self, lang)
            formula = any_of(reading.node(spec.expr, spec.lemmas) for spec in specs)
            if formula is None:
                return None
            formulas.append(formula)
            wild = wild or reading.wild
        kept = tuple(dict.fromkeys(formulas))
        taken = (
            None
            if any(not spec.languages for spec in specs)
            else frozenset().union(*(s.languages for s in specs))
        )
        return WordQuery(kept, frozenset(languages), taken, wild)

    def token(self, text: str, lang: str) -> Formula | None:
        """The words an article holding the (folded) token ``text`` holds, remembered for the
        KEPT_TOKENS tokens met last."""
        key = (lang, text)
        if key in self._tokens:
            self._tokens.move_to_end(key)
            return self._tokens[key]
        formula = self._tokens[key] = self._token(text, lang)
        while len(self._tokens) > KEPT_TOKENS:
            self._tokens.popitem(last=False)
        return formula

    def remembered(self) -> int:
        """How many tokens' formulas are remembered."""
        return len(self._tokens)

    def _token(self, text: str, lang: str) -> Formula | None:
        words = []
        for found in _WORD.finditer(text):
            word, start, end = found.group(), found.start(), found.end()
            if not word.isascii():
                continue
            if start == 0 and self.cut_before(text, lang):
                continue
            words.append(Word(word, prefix=end == len(text) and self.cut_after(text, lang)))
        return all_of(words)

    def cut_before(self, text: str, lang: str) -> bool:
        """Whether spaCy may cut ``text`` off the end of a longer run of letters and digits."""
        if not text[:1].isalnum():
            return False
        if text in self._exception_cuts(lang)[1]:
            return True
        tokenizer = self._tokenizer(lang)
        return any(_cut(tokenizer, before + text, len(before)) for before in _BEFORE)

    def cut_after(self, text: str, lang: str) -> bool:
        """Whether spaCy may cut ``text`` off the start of a longer run (always after a digit:
        a unit may follow it)."""
        if not text[-1:].isalnum():
            return False
        if text[-1].isdecimal() or text in self._exception_cuts(lang)[0]:
            return True
        tokenizer = self._tokenizer(lang)
        return any(_cut(tokenizer, text + after, len(text)) for after in _AFTER)

    def cut_pieces(self, lang: str) -> frozenset[str]:
        """The tokens the tokenizer's exceptions cut off the end of a longer word (can|not → not)."""
        return self._exception_cuts(lang)[1]

    def _tokenizer(self, lang: str) -> Tokenizer:
        tokenizer: Tokenizer = self.pipelines.article_nlp(lang).tokenizer
        return tokenizer

    def _exception_cuts(self, lang: str) -> tuple[frozenset[str], frozenset[str]]:
        """(the pieces before, the pieces after) each cut the exceptions make between two letters
        or digits (cannot → can|not: can, not)."""
        if lang not in self._cuts:
            lefts, rights = set(), set()
            for attrs in self._tokenizer(lang).rules.values():
                pieces = [fold_plain(str(a.get(ORTH, a.get("ORTH", "")))) for a in attrs]
                for left, right in pairwise(pieces):
                    if left[-1:].isalnum() and right[:1].isalnum():
                        lefts.add(left)
                        rights.add(right)
            self._cuts[lang] = (frozenset(lefts), frozenset(rights))
        return self._cuts[lang]


def _cut(tokenizer: Tokenizer, text: str, at: int) -> bool:
    return any(token.idx == at for token in tokenizer(text))


class _Reading:
    """One rule's formula as one language's tokenizers read it."""

    def __init__(self, prefilter: Prefilter, lang: str) -> None:
        self.prefilter = prefilter
        self.lang = lang
        self.wild = False  # a wildcard was read: see WordQuery.after_digit

    def node(self, node: Node, lemmas: bool) -> Formula | None:
        if isinstance(node, Term):
            return self.term(node, lemmas)
        if isinstance(node, And | Near):
            return all_of(self.node(item, lemmas) for item in node.items)
        if isinstance(node, Or):
            return any_of(self.node(item, lemmas) for item in node.items)
        return None  # Not, Meta: their truth needs no word

    def term(self, term: Term, lemmas: bool) -> Formula | None:
        folded = fold_plain(term.text)
        if term.wildcard:
            return self.wildcard(folded)
        if lemmas:
            return None
        nlp = self.prefilter.pipelines.pattern_nlp(self.lang)
        return all_of(self.prefilter.token(text, self.lang) for text, _ in pattern_tokens(nlp, folded))

    def wildcard(self, folded: str) -> Formula | None:
        """A wildcard's token begins with the letters before its first * or ?."""
        head = _WILDCARDS.split(folded, maxsplit=1)[0]
        if not (head.isascii() and _WORD.fullmatch(head)):
            return None
        pattern = Wildcard(folded)
        if any(pattern.matches(piece) for piece in self.prefilter.cut_pieces(self.lang)):
            return None
        self.wild = self.wild or not head[0].isdecimal()
        return Word(head, prefix=True)

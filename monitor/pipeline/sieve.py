"""The backtest's sieve: which stored articles hold a rule's words, read in their folded text.

A backtest matched every stored article of its window, and matching (spaCy's
tokens, the rules' logic, snippets) costs a fraction of a millisecond an
article.  A rule needs a formula of words (:mod:`monitor.pipeline.prefilter`),
and looking for a few words in a folded text costs microseconds, so only the
articles that hold the formula are matched.  The words are read as the matcher
reads the text: folded as it folds (``fold_plain``), a word being a run of
letters and digits, each field apart.  So an article the sieve leaves out is
one the rule cannot fire on, and the backtest gives the full scan's answer.

The database's full-text index cannot say as much: it folds and cuts some
texts otherwise than the matcher (``Straße``, a soft hyphen, PostgreSQL's
hosts and signed numbers), and PostgreSQL's holds stems, which a typed prefix
cannot be compared with.  The sieve reads the window's text instead, which the
index would have needed anyway to find the texts it reads otherwise.

A batch of articles is folded in one go (``fold_plain_many``) and searched as
one string: each word with ``str.find`` when a query has few, else every word
in one Aho-Corasick pass.  Batches hold at most MAX_FOLDED characters of text,
so memory stays bounded whatever the texts, and no article's words are
collected: only which articles hold which of the query's words.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence

import ahocorasick

from monitor.folding import fold_plain_many
from monitor.pipeline.formula import AllOf, Formula, Word, any_of, words_of

FEW_WORDS = 8  # up to this many words, each is found with str.find; beyond, one Aho-Corasick pass
MAX_FOLDED = 1 << 20  # characters of text folded and searched at once (an article is never cut)
_SEPARATOR = "\x00"  # between two texts of a batch: no letter, folds to itself


class TextSieve:
    """Which articles may hold one of ``formulas``: a word held is a run of letters and digits of
    the folded text that equals it (or, for a prefix, begins with it)."""

    def __init__(
        self,
        formulas: Sequence[Formula],
        *,
        after_digit: bool = False,
        few_words: int = FEW_WORDS,
        max_folded: int = MAX_FOLDED,
    ) -> None:
        formula = any_of(formulas)
        if formula is None:
            raise ValueError("a sieve needs a formula")
        self.formula = formula
        self.words = tuple(dict.fromkeys(words_of(formula)))
        self.after_digit = after_digit  # a prefix may also begin right after a digit
        self.max_folded = max_folded
        self._automaton: ahocorasick.Automaton | None = None
        if len(self.words) > few_words:
            self._automaton = ahocorasick.Automaton()
            for number, word in enumerate(self.words):
                self._automaton.add_word(word.text, number)  # several Words may share a text
            self._automaton.make_automaton()

    def passing(self, articles: Sequence[Sequence[str]]) -> list[bool]:
        """For each article (its texts: title, summary, body), whether it may hold the formula."""
        out: list[bool] = []
        for batch in _batches(articles, self.max_folded):
            out.extend(self._batch(batch))
        return out

    def _batch(self, articles: Sequence[Sequence[str]]) -> list[bool]:
        folded = fold_plain_many([part for texts in articles for part in texts])
        text = _SEPARATOR.join(folded)  # every field apart: none ends a word nor begins one
        starts, at, parts = [], 0, iter(folded)
        for texts in articles:
            starts.append(at)
            at += sum(len(next(parts)) + 1 for _ in texts)
        holding = self._find(text, starts)
        found = _holding(self.formula, holding)
        return [number in found for number in range(len(articles))]

    def _find(self, text: str, starts: list[int]) -> dict[Word, set[int]]:
        """Word → the articles (their numbers in the batch) holding it."""
        if self._automaton is None:
            return {word: self._articles_with(word, text, starts) for word in self.words}
        holding: dict[Word, set[int]] = {word: set() for word in self.words}
        texts: dict[str, list[Word]] = {}
        for word in self.words:
            texts.setdefault(word.text, []).append(word)
        for end, number in self._automaton.iter(text):
            found = self.words[number]
            start = end + 1 - len(found.text)
            article = None
            for word in texts[found.text]:
                if self._stands(word, text, start):
                    article = bisect_right(starts, start) - 1 if article is None else article
                    holding[word].add(article)
        return holding

    def _articles_with(self, word: Word, text: str, starts: list[int]) -> set[int]:
        found: set[int] = set()
        at = text.find(word.text)
        while at != -1:
            if not self._stands(word, text, at):
                at = text.find(word.text, at + 1)
                continue
            article = bisect_right(starts, at) - 1
            found.add(article)
            if article + 1 == len(starts):
                break
            at = text.find(word.text, starts[article + 1])  # the next article: this one holds it
        return found

    def _stands(self, word: Word, text: str, at: int) -> bool:
        """Whether ``word`` found at ``at`` begins a word of ``text`` (and, unless a prefix, ends it)."""
        before = text[at - 1] if at else ""
        if before.isalnum() and not (word.prefix and self.after_digit and before.isdecimal()):
            return False
        end = at + len(word.text)
        return word.prefix or not text[end : end + 1].isalnum()


def _holding(formula: Formula, holding: dict[Word, set[int]]) -> set[int]:
    if isinstance(formula, Word):
        return holding[formula]
    sets = [_holding(item, holding) for item in formula.items]
    if isinstance(formula, AllOf):
        sets.sort(key=len)
        return sets[0].intersection(*sets[1:])
    return set().union(*sets)


def _batches(articles: Sequence[Sequence[str]], limit: int) -> Iterator[Sequence[Sequence[str]]]:
    """Runs of ``articles`` of at most ``limit`` characters (an article longer goes alone)."""
    first, size = 0, 0
    for number, texts in enumerate(articles):
        length = sum(map(len, texts))
        if size and size + length > limit:
            yield articles[first:number]
            first, size = number, 0
        size += length
    if first < len(articles):
        yield articles[first:]

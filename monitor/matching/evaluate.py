"""A rule's truth, and why, given where its terms occurred in one article.

The matcher finds every occurrence of every indexed term once per article;
this module then decides each candidate rule: boolean logic, field scoping,
metadata tests, proximity and prominence.  ``explain`` returns the same
decision as a tree a person can read.  Pure: no spaCy, no I/O.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise, product
from math import prod
from operator import itemgetter
from typing import NamedTuple, Protocol

from monitor.matching.query import And, Meta, Near, Node, Not, Or, Term, near_alternatives


class WordPositions(Protocol):
    """Token position → word position in a field, where punctuation does not count."""

    def word_at(self, token: int, /) -> int: ...


class NearWords(WordPositions, Protocol):
    """Word positions that proximity may ask for only where it needs them (see ``near_holds``)."""

    def near_words(self, tokens: Sequence[int], distance: int, /) -> list[int]:
        """Numbers for the sorted, distinct token positions ``tokens``, where two consecutive ones
        differ as their word positions do when those are at most ``distance`` apart, and by more
        than ``distance`` when they are further apart."""
        ...


class Occurrence(NamedTuple):
    """One place a term occurred: its field, token positions (end exclusive) and original characters.

    A NamedTuple, not a dataclass: a 10,000-rule index creates about a hundred per article.
    Word positions, which only proximity needs, come from ``positions`` when asked: counting
    a field's punctuation costs more than the rest of deciding most rules.
    """

    field: str
    first_token: int
    end_token: int
    start: int
    end: int
    positions: WordPositions

    @property
    def first_word(self) -> int:
        return self.positions.word_at(self.first_token)

    @property
    def end_word(self) -> int:
        return self.positions.word_at(self.end_token)


@dataclass(frozen=True, slots=True)
class ArticleFacts:
    """What metadata tests look at."""

    lang: str
    source: str
    url: str
    tags: tuple[str, ...] = ()


class Found(Protocol):
    """Term key → its occurrences in one article.

    A plain dict will do (tests, the reference evaluator); the matcher's own
    builds each key's occurrences only when a rule asks, because most terms
    found in an article belong to rules that never become candidates.
    """

    def get(self, key: int, /) -> list[Occurrence] | None: ...

    def has(self, key: int, /) -> bool:
        """Whether the term occurred, which is most often all a rule asks: cheaper than ``get``."""
        ...

    def __iter__(self) -> Iterator[int]: ...


MAX_NEAR_CHOICES = 100_000  # bounds proximity work on pathological articles


def term_occurrences(term: Term, key: int, found: Found) -> list[Occurrence]:
    occurrences = found.get(key)
    if not occurrences:
        return []
    if term.field is None:
        return occurrences
    return [o for o in occurrences if o.field == term.field]


def meta_holds(meta: Meta, facts: ArticleFacts) -> bool:
    """``lang:`` is the language, ``source:`` the source name and ``tag:`` one of the source's tags
    (both with wildcards), ``url:`` part of the URL."""
    value = meta.value.casefold()
    if meta.field == "lang":
        return facts.lang.casefold() == value
    if meta.field == "source":
        return fnmatch.fnmatchcase(facts.source.casefold(), value)
    if meta.field == "tag":
        return any(fnmatch.fnmatchcase(tag.casefold(), value) for tag in facts.tags)
    return value in facts.url.casefold()


_Placed = tuple[int, int, Occurrence]  # first word, end word (exclusive), the occurrence


def near_holds(items: Sequence[Sequence[Occurrence]], distance: int) -> tuple[Occurrence, ...] | None:
    """One occurrence per item, in one field, not overlapping, with at most ``distance`` words between.

    "Words between" counts the words of the window from the first chosen
    occurrence to the last that belong to none of them: ``"Finlandia Nato"~0``
    means adjacent, in either order.  Returns the closest choice, or None.
    """
    by_field: dict[str, list[list[Occurrence]]] = {}
    for position, occurrences in enumerate(items):
        for occurrence in occurrences:
            by_field.setdefault(occurrence.field, [[] for _ in items])[position].append(occurrence)
    best: tuple[int, tuple[_Placed, ...]] | None = None
    for found in by_field.values():
        if any(not occurrences for occurrences in found):
            continue
        lists = _placed(found, distance)
        while prod(len(occurrences) for occurrences in lists) > MAX_NEAR_CHOICES:
            # a word repeated hundreds of times: its first mentions are the ones that count
            longest = max(lists, key=len)
            del longest[len(longest) // 2 :]
        for choice in product(*lists):
            gap = _gap(choice)
            if gap is not None and gap <= distance and (best is None or gap < best[0]):
                best = (gap, choice)
                if gap == 0:
                    return tuple(placed[2] for placed in choice)
    return tuple(placed[2] for placed in best[1]) if best else None


def _placed(found: list[list[Occurrence]], distance: int) -> list[list[_Placed]]:
    """The occurrences of one field, each with its first and end word.

    Where they share positions that count words only where proximity needs them
    (``NearWords``), the numbers differ as the word positions do up to ``distance`` and by
    more beyond: every comparison ``near_holds`` makes (which comes first, whether two overlap,
    whether a gap is within ``distance``, and the gap then) comes out the same, and a field
    need not be counted word by word from its start for two names far apart.
    """
    positions = found[0][0].positions
    near_words = getattr(positions, "near_words", None)
    if near_words is None or any(o.positions is not positions for occurrences in found for o in occurrences):
        return [[(o.first_word, o.end_word, o) for o in occurrences] for occurrences in found]
    tokens = sorted({t for occurrences in found for o in occurrences for t in (o.first_token, o.end_token)})
    words = dict(zip(tokens, near_words(tokens, distance), strict=True))
    return [[(words[o.first_token], words[o.end_token], o) for o in occurrences] for occurrences in found]


def _gap(choice: Sequence[_Placed]) -> int | None:
    ordered = sorted(choice, key=itemgetter(0))
    for left, right in pairwise(ordered):
        if right[0] < left[1]:
            return None  # overlapping occurrences are one mention, not two
    covered = sum(end - first for first, end, _ in ordered)
    return max(end for _, end, _ in ordered) - ordered[0][0] - covered


@dataclass(slots=True)
class Evaluation:
    """Decides one rule's nodes; ``keys`` maps id() of each Term node to its term key."""

    keys: dict[int, int]
    found: Found
    facts: ArticleFacts

    def occurrences(self, term: Term) -> list[Occurrence]:
        return term_occurrences(term, self.keys[id(term)], self.found)

    def holds(self, node: Node) -> bool:
        # the hot path of a large index: the common kinds are tested first, and plain loops
        # instead of all()/any() over generators decide candidates faster in a large index
        if isinstance(node, Term):
            if node.field is None:
                return self.found.has(self.keys[id(node)])
            field = node.field
            for occurrence in self.found.get(self.keys[id(node)]) or ():  # noqa: SIM110
                if occurrence.field == field:
                    return True
            return False
        if isinstance(node, And):
            for item in node.items:  # noqa: SIM110
                if not self.holds(item):
                    return False
            return True
        if isinstance(node, Or):
            for item in node.items:  # noqa: SIM110
                if self.holds(item):
                    return True
            return False
        if isinstance(node, Not):
            return not self.holds(node.item)
        if isinstance(node, Meta):
            return meta_holds(node, self.facts)
        return self.near(node) is not None

    def near(self, node: Near) -> tuple[Occurrence, ...] | None:
        items = [
            [o for term in near_alternatives(item) for o in self.occurrences(term)] for item in node.items
        ]
        return near_holds(items, node.distance)

    def mentions(self, positive: Iterable[Term]) -> list[tuple[Term, Occurrence]]:
        """Occurrences of the rule's positive terms, within their fields, each place once."""
        seen: dict[tuple[str, int, int], tuple[Term, Occurrence]] = {}
        get, keys = self.found.get, self.keys
        for term in positive:  # term_occurrences, inlined: this runs for every rule that fires
            field = term.field
            for occurrence in get(keys[id(term)]) or ():
                if field is None or occurrence.field == field:
                    seen.setdefault((occurrence.field, occurrence.start, occurrence.end), (term, occurrence))
        return list(seen.values())


@dataclass
class Explanation:
    """One node of a rule's query, whether it held, and the occurrences behind a true term."""

    label: str
    value: bool
    children: list[Explanation] = field(default_factory=list)
    occurrences: list[Occurrence] = field(default_factory=list)

    def lines(self, depth: int = 0) -> list[str]:
        mark = "✓" if self.value else "✗"
        where = ", ".join(f"{o.field}[{o.start}:{o.end}]" for o in self.occurrences[:10])
        more = f" (+{len(self.occurrences) - 10} more)" if len(self.occurrences) > 10 else ""
        own = f"{'  ' * depth}{mark} {self.label}" + (f"  @ {where}{more}" if where else "")
        return [own] + [line for child in self.children for line in child.lines(depth + 1)]


def explain(node: Node, evaluation: Evaluation) -> Explanation:
    """The decision for ``node`` as a tree of labelled true/false clauses."""
    if isinstance(node, Term):
        found = evaluation.occurrences(node)
        return Explanation(describe(node), bool(found), occurrences=found)
    if isinstance(node, Meta):
        return Explanation(describe(node), meta_holds(node, evaluation.facts))
    if isinstance(node, Near):
        chosen = evaluation.near(node)
        children = [explain(item, evaluation) for item in node.items]
        return Explanation(describe(node), chosen is not None, children, list(chosen or ()))
    if isinstance(node, Not):
        inner = explain(node.item, evaluation)
        return Explanation("NOT", not inner.value, [inner])
    children = [explain(item, evaluation) for item in node.items]
    if isinstance(node, And):
        return Explanation("AND", all(c.value for c in children), children)
    return Explanation(node.label or "OR", any(c.value for c in children), children)


def describe(node: Node) -> str:
    """A node as the user would write it."""
    if isinstance(node, Term):
        text = f'"{node.text}"' if " " in node.text else node.text
        return f"{node.field}:{text}" if node.field else text
    if isinstance(node, Meta):
        return f"{node.field}:{node.value}"
    if isinstance(node, Near):
        return f"NEAR/{node.distance}"
    if isinstance(node, Not):
        return f"NOT {describe(node.item)}"
    if isinstance(node, Or) and node.label:
        return node.label
    joiner = " AND " if isinstance(node, And) else " OR "
    return "(" + joiner.join(describe(item) for item in node.items) + ")"

"""Word formulas: folded ASCII words joined by AND and OR, what the backtest's sieve looks for.

A rule becomes a formula (:mod:`monitor.pipeline.prefilter`) that every article it
can fire on satisfies, reading the article's words as runs of letters and digits
of its folded text; the sieve (:mod:`monitor.pipeline.sieve`) finds which
articles do.  None stands for "any article": what no formula of words can say.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Word:
    """A word the folded text must hold: folded ASCII letters and digits."""

    text: str
    prefix: bool = False  # a word that begins with it will do


@dataclass(frozen=True, slots=True)
class AllOf:
    items: tuple[Formula, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    items: tuple[Formula, ...]


Formula = Word | AllOf | AnyOf


def all_of(items: Iterable[Formula | None]) -> Formula | None:
    """Every one of ``items``; None (any article) stands for an item that rules nothing out."""
    kept: list[Formula] = []
    for item in items:
        if item is not None:
            kept.extend(item.items if isinstance(item, AllOf) else (item,))
    kept = list(dict.fromkeys(kept))
    return None if not kept else kept[0] if len(kept) == 1 else AllOf(tuple(kept))


def any_of(items: Iterable[Formula | None]) -> Formula | None:
    """One of ``items``: any article as soon as one of them is."""
    kept: list[Formula] = []
    for item in items:
        if item is None:
            return None
        kept.extend(item.items if isinstance(item, AnyOf) else (item,))
    kept = list(dict.fromkeys(kept))
    return None if not kept else kept[0] if len(kept) == 1 else AnyOf(tuple(kept))


def words_of(formula: Formula) -> Iterator[Word]:
    if isinstance(formula, Word):
        yield formula
    else:
        for item in formula.items:
            yield from words_of(item)

"""The backtest's prefilter: which stored articles a rule could fire on, asked of the full-text index.

A backtest tokenized and matched every stored article of its window, and
tokenizing is nearly all of its time; the full-text index says which articles
hold some words in milliseconds.  So a rule becomes (in
:mod:`monitor.pipeline.prefilter`, which knows the tokenizer) a *word formula*:
folded ASCII words joined by AND and OR that every article the rule can fire
on satisfies, wherever the index read the text as the matcher does.  Here the
formula is written for the database, and each article of the window is a
candidate when the index finds the formula in it or when its text has a spot
the index may read otherwise (:mod:`monitor.store.blindspots`).  Only the
candidates are matched, so the answer is the full scan's.

- SQLite: one FTS5 ``MATCH`` per formula.  Its tokenizer cuts at every
  character but letters and digits, as the words of a formula are cut.
- PostgreSQL: the tsvector holds stems, each article's in its own
  configuration, and a word read in the same configuration meets the same
  stem.  What a stem cannot answer stands for any article: a prefix (the
  stem of ``cessate`` is ``cess``, which ``cessat*`` does not begin), a stop
  word of the configuration (the index drops it), a word joined to another
  by punctuation inside one token (``3.5`` is one lexeme).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    and_,
    bindparam,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
)
from sqlalchemy import text as sql_text

from monitor.store.blindspots import blind_spots
from monitor.store.ftsquery import fts5_query
from monitor.store.history import ARTICLE_COLUMNS, StoredArticle, article_of
from monitor.store.notices import not_notice
from monitor.store.repo import Store, StoreGuard
from monitor.store.searchindex import PG_CONFIGS, PG_OTHER_CONFIG
from monitor.store.searchquery import And, Node, Or, Term
from monitor.store.tables import ARTICLES

WINDOW_READ = 1_000  # articles of the window read per query (ids, languages, texts): fewer round trips


@dataclass(frozen=True, slots=True)
class Word:
    """A word the index must hold: folded ASCII letters and digits."""

    text: str
    prefix: bool = False  # an indexed word that begins with it will do
    # Inside its token, next to a character other than an apostrophe or a hyphen between letters
    # (``3.5``, ``u.s``): FTS5 cuts there as the formula does; PostgreSQL may keep one token.
    joined: bool = False


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


def depth_of(formula: Formula) -> int:
    return 0 if isinstance(formula, Word) else 1 + max(depth_of(item) for item in formula.items)


def fts5_of(formula: Formula) -> str:
    """The FTS5 MATCH expression of ``formula``."""
    return fts5_query(_search_node(formula))


def _search_node(formula: Formula) -> Node:
    if isinstance(formula, Word):
        return Term(formula.text, formula.prefix)
    items = tuple(_search_node(item) for item in formula.items)
    return And(items) if isinstance(formula, AllOf) else Or(items)


def tsquery_of(formula: Formula, stop_words: frozenset[str]) -> str | None:
    """The ``to_tsquery`` input of ``formula`` in a configuration with these stop words; None when
    a stem cannot rule any article out."""
    reading = _stems(formula, stop_words)
    return None if reading is None else _tsquery(reading)


def _stems(formula: Formula, stop_words: frozenset[str]) -> Formula | None:
    if isinstance(formula, Word):
        plain = not (formula.prefix or formula.joined or formula.text in stop_words)
        return formula if plain else None
    items = (_stems(item, stop_words) for item in formula.items)
    return all_of(items) if isinstance(formula, AllOf) else any_of(items)


def _tsquery(formula: Formula) -> str:
    if isinstance(formula, Word):
        return f"'{formula.text}'"  # letters and digits: nothing to escape
    joiner = " & " if isinstance(formula, AllOf) else " | "
    return joiner.join(
        _tsquery(item) if isinstance(item, Word) else f"({_tsquery(item)})" for item in formula.items
    )


@dataclass(frozen=True, slots=True)
class WindowRow:
    """An article of the window, and whether it may match: the index or a blind spot says so."""

    id: int
    language: str | None
    candidate: bool


class Candidates:
    """The articles of a backtest's window, newest first, each a candidate or not."""

    def __init__(self, store: Store, *, chunk: int = 200) -> None:
        self.store = store
        self.engine: Engine = store.engine
        self.chunk = chunk  # articles per chunk handed out (a caller with a deadline checks it between)

    def window(
        self,
        formulas: Sequence[Formula],
        since: datetime | None,
        *,
        limit: int | None = None,
        also: re.Pattern[str] | None = None,
    ) -> Iterator[list[WindowRow]]:
        """The articles ingested since ``since`` (the newest ``limit``), in chunks: a candidate when
        the index finds one of ``formulas`` in it, when its text has a blind spot, or when ``also``
        is found in its text (what the caller knows the index misses)."""
        found = self.found(formulas, since)
        spots = blind_spots(self.engine)
        columns = (
            ARTICLES.c.language,
            ARTICLES.c.title,
            ARTICLES.c.summary,
            ARTICLES.c.body,
        )
        read = max(self.chunk, WINDOW_READ)
        for rows in self.store.newest_rows(columns, since, limit=limit, chunk=read):
            for start in range(0, len(rows), self.chunk):
                chunk = []
                for id_, _at, language, title, summary, body in rows[start : start + self.chunk]:
                    candidate = (
                        id_ in found
                        or spots.hide(title, summary, body)
                        or (also is not None and any(also.search(part) for part in (title, summary, body)))
                    )
                    chunk.append(WindowRow(id_, language, candidate))
                yield chunk

    def found(self, formulas: Sequence[Formula], since: datetime | None) -> set[int]:
        """The articles since ``since`` in which the index finds one of ``formulas``."""
        if not formulas:
            return set()
        conditions: list[ColumnElement[bool]] = [not_notice()]
        if since is not None:
            conditions.append(ARTICLES.c.ingested_at >= since)
        if self.engine.dialect.name == "sqlite":
            fts = table("articles_fts", column("rowid"))
            found: set[int] = set()
            for formula in dict.fromkeys(formulas):
                match = literal_column("articles_fts").op("MATCH")(bindparam("words", fts5_of(formula)))
                query = (
                    select(ARTICLES.c.id).join(fts, fts.c.rowid == ARTICLES.c.id).where(match, *conditions)
                )
                found.update(self._ids(query))
            return found
        query = select(ARTICLES.c.id).where(self._postgres_match(formulas), *conditions)
        return set(self._ids(query))

    def articles(self, ids: Sequence[int]) -> list[StoredArticle]:
        """The stored articles with these ids, in the order given."""
        if not ids:
            return []
        query = select(ARTICLES.c.id, ARTICLES.c.ingested_at, *ARTICLE_COLUMNS).where(
            ARTICLES.c.id.in_(list(ids))
        )
        with StoreGuard(self.engine), self.engine.connect() as connection:
            rows = connection.execute(query).all()
        by_id = {row.id: row for row in rows}
        return [
            StoredArticle(i, article_of(row), row.ingested_at)
            for i in ids
            if (row := by_id.get(i)) is not None
        ]

    def _ids(self, query: Any) -> list[int]:
        with StoreGuard(self.engine), self.engine.connect() as connection:
            return [int(i) for (i,) in connection.execute(query)]

    def _postgres_match(self, formulas: Sequence[Formula]) -> ColumnElement[bool]:
        """Each article's formula read in its own configuration, stop words of each standing for
        any article (the index holds none of them)."""
        plain = sorted({w.text for f in formulas for w in words_of(f) if not (w.prefix or w.joined)})
        stops = self._stop_words(plain)
        language = ARTICLES.c.language
        vector: ColumnElement[Any] = literal_column("articles.search")
        other = or_(language.is_(None), language.not_in(list(PG_CONFIGS)))
        clauses = []
        for code, config in (*PG_CONFIGS.items(), (None, PG_OTHER_CONFIG)):
            written = [tsquery_of(formula, stops.get(config, frozenset())) for formula in formulas]
            these = language == code if code is not None else other
            if any(w is None for w in written):
                clauses.append(these)
                continue
            words = " | ".join(f"({w})" for w in dict.fromkeys(w for w in written if w is not None))
            query = func.to_tsquery(
                literal_column(f"'{config}'::regconfig"), bindparam(f"words_{config}", words)
            )
            clauses.append(and_(these, vector.op("@@")(query)))
        return or_(*clauses)

    def _stop_words(self, words: Sequence[str]) -> dict[str, frozenset[str]]:
        """Configuration → which of ``words`` it drops (its stop words)."""
        if not words:
            return {}
        configs = [*PG_CONFIGS.values(), PG_OTHER_CONFIG]
        query = sql_text(
            "SELECT c, w FROM unnest(CAST(:configs AS text[])) AS c, unnest(CAST(:words AS text[])) AS w "
            "WHERE numnode(to_tsquery(c::regconfig, quote_literal(w))) = 0"
        )
        out: dict[str, set[str]] = {}
        with StoreGuard(self.engine), self.engine.connect() as db:
            for config, word in db.execute(query, {"configs": configs, "words": list(words)}):
                out.setdefault(config, set()).add(word)
        return {config: frozenset(found) for config, found in out.items()}

"""The history: stored hits and articles, filtered, full-text searched and streamed.

Full-text search is the database's own, fed a search read with the rules'
grammar (``monitor.store.searchquery``) and written in each engine's query
language (``monitor.store.ftsquery``): an SQLite FTS5 index kept by triggers
beside the articles table (unicode61 with diacritics removed, so ``perche``
finds ``perché`` as rule matching does), or a PostgreSQL ``tsvector`` column
generated from the article in its language (``italian``, ``english``, else
``simple``) under a GIN index.  Results are ranked by bm25 (SQLite; title
weighted over summary over body) or ``ts_rank`` (PostgreSQL, same weights by
``setweight``), best first.

Listings stream: rows come from a server-side cursor in chunks, so an export
of millions of hits keeps memory flat; bodies are never read for a listing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    and_,
    bindparam,
    case,
    column,
    exists,
    func,
    literal_column,
    null,
    or_,
    select,
    table,
)

from monitor.store.notices import not_notice
from monitor.store.repo import HitView, Store, StoreGuard
from monitor.store.searchindex import PG_BODY_INDEXED, PG_CONFIGS, PG_OTHER_CONFIG, pg_config
from monitor.store.tables import ARTICLES, HITS

if TYPE_CHECKING:
    from monitor.store.ftsquery import SearchQuery

AnySelect = Select[*tuple[Any, ...]]
STREAM_CHUNK = 500
HEADLINE_MARK = "**"
# bm25 weight per FTS5 column (title, summary, body): a word in the title says more
SQLITE_WEIGHTS = (10.0, 4.0, 1.0)


# -- queries --------------------------------------------------------------------------------
def _read(search: str | None) -> SearchQuery | None:
    """A filter's search, read when the filter is made: a typo is refused before any query runs."""
    if search is None:
        return None
    from monitor.store.ftsquery import search_query  # the grammar (luqum) loads with the first search

    return search_query(search)


@dataclass(frozen=True, slots=True)
class HitFilter:
    """Which hits: all of them by default, newest first; by relevance with ``search``.

    Raises SearchError when ``search`` cannot be read.
    """

    rule: str | None = None
    since: datetime | None = None
    search: str | None = None
    limit: int | None = 100  # None: every one
    written: SearchQuery | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "written", _read(self.search))


@dataclass(frozen=True, slots=True)
class ArticleFilter:
    """Which stored articles, whether they had hits or not; raises SearchError as HitFilter does."""

    since: datetime | None = None
    search: str | None = None
    source: str | None = None
    language: str | None = None
    without_hits: bool = False
    limit: int | None = 100
    written: SearchQuery | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "written", _read(self.search))


@dataclass(frozen=True, slots=True)
class FoundHit:
    hit: HitView
    score: float | None  # relevance when searching, higher is better


@dataclass(frozen=True, slots=True)
class ArticleView:
    id: int
    uid: str
    title: str
    url: str | None
    source: str
    origin: str
    language: str | None
    published: datetime | None
    ingested_at: datetime
    tags: list[str]
    hits: int
    body_kept: bool  # False once retention dropped the body
    headline: str | None  # the text around the searched words, marked with **
    score: float | None


class SearchClause:
    """One dialect's way of finding, ranking and quoting articles for a search text: what the
    history and the web app's views add to their queries (``apply``, ``score``, ``headline``)."""

    @classmethod
    def for_text(cls, dialect: str, search: str) -> SearchClause:
        """The clause for what a user typed (``monitor hits --search``); raises SearchError."""
        from monitor.store.ftsquery import search_query  # the grammar (luqum) loads with the first search

        return cls(dialect, search_query(search))

    def __init__(self, dialect: str, written: SearchQuery) -> None:
        self.dialect = dialect
        if dialect == "sqlite":
            self.query: ColumnElement[Any] = bindparam("search", written.fts5)
            self.where: ColumnElement[Any] = literal_column("articles_fts").op("MATCH")(self.query)
            return
        # Each article is searched with the text read in its own language's configuration: one
        # query for all would let an exclusion read in English miss an Italian stop word.
        words: ColumnElement[str] = bindparam("search", written.tsquery)
        language = ARTICLES.c.language
        vector: ColumnElement[Any] = literal_column("articles.search")

        def read_as(name: str) -> ColumnElement[Any]:
            return func.to_tsquery(literal_column(f"'{name}'::regconfig"), words)

        def found(name: str) -> ColumnElement[Any]:
            # "the -cat" read in English loses its stop word and would keep every article
            # without "cat": a query left with only exclusions ('T' to querytree) finds nothing.
            query = read_as(name)
            return and_(vector.op("@@")(query), func.querytree(query) != "T")

        other = or_(language.is_(None), language.not_in(list(PG_CONFIGS)))
        self.where = or_(
            *(and_(language == code, found(name)) for code, name in PG_CONFIGS.items()),
            and_(other, found(PG_OTHER_CONFIG)),
        )
        self.query = case(
            *((language == code, read_as(name)) for code, name in PG_CONFIGS.items()),
            else_=read_as(PG_OTHER_CONFIG),
        )

    def apply(self, query: AnySelect) -> AnySelect:
        if self.dialect == "sqlite":
            fts = table("articles_fts", column("rowid"))
            query = query.join(fts, fts.c.rowid == ARTICLES.c.id)
        return query.where(self.where)

    def score(self) -> ColumnElement[Any]:
        if self.dialect == "sqlite":
            return -func.bm25(literal_column("articles_fts"), *SQLITE_WEIGHTS)
        return func.ts_rank(literal_column("articles.search"), self.query, 1)  # 1: long texts not favoured

    def headline(self) -> ColumnElement[Any]:
        mark = HEADLINE_MARK
        if self.dialect == "sqlite":
            return func.snippet(literal_column("articles_fts"), -1, mark, mark, "…", 16)
        rest = func.concat_ws(
            " ", func.nullif(ARTICLES.c.summary, ""), func.left(ARTICLES.c.body, PG_BODY_INDEXED)
        )
        document = ARTICLES.c.title + " — " + rest
        options = f"StartSel={mark}, StopSel={mark}, MaxWords=24, MinWords=10, MaxFragments=2"
        return func.ts_headline(literal_column(pg_config("articles.language")), document, self.query, options)


class History:
    """Read-only views of what was recorded, for ``monitor hits`` and ``monitor articles``."""

    def __init__(self, store: Store, *, chunk: int = STREAM_CHUNK) -> None:
        self.store = store
        self.engine: Engine = store.engine
        self.chunk = chunk

    def _match(self, written: SearchQuery | None) -> SearchClause | None:
        return SearchClause(self.engine.dialect.name, written) if written is not None else None

    def hits(self, wanted: HitFilter) -> Iterator[FoundHit]:
        """Hits, newest first (best match first when searching), streamed."""
        match = self._match(wanted.written)
        query: AnySelect = (
            select(
                HITS.c.id,
                HITS.c.rule_id,
                HITS.c.rule_name,
                HITS.c.created_at,
                ARTICLES.c.title,
                ARTICLES.c.url,
                ARTICLES.c.source,
                ARTICLES.c.origin,
                HITS.c.terms,
                HITS.c.snippet,
                ARTICLES.c.story,
            )
            .select_from(HITS)
            .join(ARTICLES, ARTICLES.c.id == HITS.c.article_id)
        )
        if wanted.rule:
            query = query.where(HITS.c.rule_id == wanted.rule)
        if wanted.since:
            query = query.where(HITS.c.created_at >= wanted.since)
        newest = (HITS.c.created_at.desc(), HITS.c.id.desc())
        if match is None:
            query = query.add_columns(null()).order_by(*newest)
        else:
            score = match.score()
            query = match.apply(query).add_columns(score).order_by(score.desc(), *newest)
        if wanted.limit is not None:
            query = query.limit(wanted.limit)
        for rows in self._stream(query):
            carried = self.store.story_sources({row[10] for row in rows if row[10]})
            for row in rows:
                (id_, rule_id, rule_name, at, title, url, source, origin, terms, snippet, story, score) = row
                also = tuple(s for s in carried.get(story or "", ()) if s != source)
                view = HitView(id_, rule_id, rule_name, at, title, url, source, origin, terms, snippet, also)
                yield FoundHit(view, None if score is None else float(score))

    def articles(self, wanted: ArticleFilter) -> Iterator[ArticleView]:
        """Stored articles, newest first (best match first when searching), streamed."""
        match = self._match(wanted.written)
        hit_count = select(func.count()).where(HITS.c.article_id == ARTICLES.c.id).scalar_subquery()
        query: AnySelect = select(
            ARTICLES.c.id,
            ARTICLES.c.uid,
            ARTICLES.c.title,
            ARTICLES.c.url,
            ARTICLES.c.source,
            ARTICLES.c.origin,
            ARTICLES.c.language,
            ARTICLES.c.published,
            ARTICLES.c.ingested_at,
            ARTICLES.c.tags,
            hit_count,
            ARTICLES.c.body != "",
        ).select_from(ARTICLES)
        query = query.where(not_notice())  # digests and health alerts: `monitor deliveries` lists them
        if wanted.since:
            query = query.where(ARTICLES.c.ingested_at >= wanted.since)
        if wanted.source:
            query = query.where(ARTICLES.c.source == wanted.source)
        if wanted.language:
            query = query.where(ARTICLES.c.language == wanted.language)
        if wanted.without_hits:
            query = query.where(~exists().where(HITS.c.article_id == ARTICLES.c.id))
        newest = (ARTICLES.c.ingested_at.desc(), ARTICLES.c.id.desc())
        if match is None:
            query = query.add_columns(null(), null()).order_by(*newest)
        else:
            score = match.score()
            query = match.apply(query).add_columns(match.headline(), score).order_by(score.desc(), *newest)
        if wanted.limit is not None:
            query = query.limit(wanted.limit)
        for rows in self._stream(query):
            for row in rows:
                id_, uid, title, url, source, origin, language, published, at, tags, hits, kept = row[:12]
                headline, score = row[12:]
                yield ArticleView(
                    id_,
                    uid,
                    title,
                    url,
                    source,
                    origin,
                    language,
                    published,
                    at,
                    tags,
                    hits,
                    kept,
                    headline,
                    None if score is None else float(score),
                )

    def _stream(self, query: AnySelect) -> Iterator[Sequence[Any]]:
        """The query's rows in chunks, from one server-side cursor (SQLite reads lazily anyway)."""
        with StoreGuard(self.engine), self.engine.connect() as connection:
            result = connection.execution_options(yield_per=self.chunk).execute(query)
            yield from result.partitions()


def recent_hits(
    store: Store, rule: str | None = None, since: datetime | None = None, limit: int = 100
) -> list[HitView]:
    """The newest hits, as a list: :meth:`History.hits` without a search."""
    return [found.hit for found in History(store).hits(HitFilter(rule=rule, since=since, limit=limit))]

"""The stored history read back: signatures, stories' sources, articles by uid and in pages."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, bindparam, or_, select, update

from monitor.models import Article, StoredSignature
from monitor.store.base import StoreBase
from monitor.store.chunks import chunked, rows_per_statement
from monitor.store.notices import not_notice
from monitor.store.tables import ARTICLES

ARTICLE_COLUMNS = tuple(
    ARTICLES.c[name]
    for name in (
        "uid",
        "fingerprint",
        "title",
        "summary",
        "body",
        "url",
        "published",
        "language",
        "source",
        "origin",
        "tags",
        "authors",
    )
)
"""What :func:`article_of` reads: an article's text and facts, not its bookkeeping."""


@dataclass(frozen=True, slots=True)
class HitView:
    id: int
    rule_id: str
    rule_name: str
    created_at: datetime
    title: str
    url: str | None
    source: str
    origin: str
    terms: list[dict[str, Any]]
    snippet: str
    also_reported_by: tuple[str, ...] = ()  # other sources that carried the same story


@dataclass(frozen=True, slots=True)
class StoredArticle:
    """An article as stored, with when it was ingested (``published`` is often unknown)."""

    id: int
    article: Article
    ingested_at: datetime


@dataclass(frozen=True, slots=True)
class ArticleText:
    """What a backtest reads of every article of its window: the rest only of those it matches."""

    id: int
    ingested_at: datetime
    language: str | None
    title: str
    summary: str
    body: str


class HistoryStore(StoreBase):
    """What was recorded, read back for near-duplicates, summaries, search and re-matching."""

    def recent_signatures(self, since: datetime, limit: int) -> list[StoredSignature]:
        """The newest articles' near-duplicate signatures, oldest first, to rebuild the index at start."""
        query = (
            select(
                ARTICLES.c.uid,
                ARTICLES.c.signature,
                ARTICLES.c.ingested_at,
                ARTICLES.c.story,
            )
            .where(ARTICLES.c.ingested_at >= since, ARTICLES.c.signature.is_not(None))
            .order_by(ARTICLES.c.id.desc())
            .limit(limit)
        )
        with self._guard(), self._reading() as connection:
            rows = connection.execute(query).all()
        return [StoredSignature(uid, signature, at, story) for uid, signature, at, story in reversed(rows)]

    def articles_by_uid(self, uids: Iterable[str], chunk: int = 500) -> dict[str, Article]:
        """The stored articles with these uids, their text as kept (retention may have dropped a body)."""
        out = dict[str, Article]()
        for wanted in chunked(uids, chunk):
            query = select(*ARTICLE_COLUMNS).where(ARTICLES.c.uid.in_(wanted))
            with self._guard(), self._reading() as connection:
                out.update((row.uid, article_of(row)) for row in connection.execute(query))
        return out

    def save_signatures(self, signatures: Mapping[str, bytes | None]) -> None:
        """Replace stored near-duplicate signatures (made again with the current settings)."""
        if not signatures:
            return
        # one statement run for each row (executemany)
        key = ARTICLES.c.uid == bindparam("b_uid")
        stmt = update(ARTICLES).where(key).values(signature=bindparam("b_sig"))
        rows = [{"b_uid": uid, "b_sig": signature} for uid, signature in signatures.items()]
        with self._guard(), self._writing() as connection:
            for chunk in chunked(rows, rows_per_statement(2)):
                connection.execute(stmt, chunk)

    def story_sources(self, stories: Iterable[str]) -> dict[str, list[str]]:
        """Story uid → the sources that carried it, first first: "also reported by …"."""
        found: list[tuple[int, str | None, str]] = []
        with self._guard(), self._reading() as connection:
            for chunk in chunked(set(stories)):
                query = select(ARTICLES.c.id, ARTICLES.c.story, ARTICLES.c.source).where(
                    ARTICLES.c.story.in_(chunk)
                )
                found += [(id_, story, source) for id_, story, source in connection.execute(query)]
        out: dict[str, list[str]] = {}
        for _id, story, source in sorted(found, key=lambda row: row[0]):  # first first
            if story is not None and source not in out.setdefault(story, []):
                out[story].append(source)
        return out

    def iter_articles(
        self, since: datetime | None = None, *, limit: int | None = None, chunk: int = 500
    ) -> Iterator[StoredArticle]:
        """Stored articles ingested since ``since``, newest first, read ``chunk`` rows per query.

        Read-only, and memory stays flat: see :meth:`newest_rows`.
        """
        for rows in self.newest_rows(ARTICLE_COLUMNS, since, limit=limit, chunk=chunk):
            for row in rows:
                yield StoredArticle(row.id, article_of(row), row.ingested_at)

    def newest_texts(
        self, since: datetime | None = None, *, limit: int | None = None, chunk: int = 1_000
    ) -> Iterator[list[ArticleText]]:
        """The texts and languages of the articles ingested since ``since`` (the newest ``limit``),
        newest first, ``chunk`` at a time: see :meth:`newest_rows`."""
        columns = (
            ARTICLES.c.language,
            ARTICLES.c.title,
            ARTICLES.c.summary,
            ARTICLES.c.body,
        )
        for rows in self.newest_rows(columns, since, limit=limit, chunk=chunk):
            yield [ArticleText(*row) for row in rows]

    def with_texts(self, texts: Sequence[ArticleText]) -> list[StoredArticle]:
        """The stored articles of ``texts``, in their order: the columns besides those read by id,
        the texts kept (an article deleted meanwhile is left out)."""
        columns = (
            ARTICLES.c.id,
            ARTICLES.c.uid,
            ARTICLES.c.fingerprint,
            ARTICLES.c.url,
            ARTICLES.c.published,
            ARTICLES.c.source,
            ARTICLES.c.origin,
            ARTICLES.c.tags,
            ARTICLES.c.authors,
        )
        found: dict[int, Row[*tuple[Any, ...]]] = {}
        with self._guard(), self._reading() as connection:
            for ids in chunked([text.id for text in texts]):
                query = select(*columns).where(columns[0].in_(ids))
                found.update((row[0], row) for row in connection.execute(query))
        out = []
        for text in texts:
            row = found.get(text.id)
            if row is not None:
                _id, uid, fingerprint, url, published, source, origin, tags, authors = row
                article = Article(
                    uid=uid,
                    fingerprint=fingerprint,
                    title=text.title,
                    summary=text.summary,
                    body=text.body,
                    url=url,
                    published=published,
                    language=text.language,
                    source=source,
                    origin=origin,
                    tags=tuple(tags),
                    authors=tuple(authors or ()),
                )
                out.append(StoredArticle(text.id, article, text.ingested_at))
        return out

    def newest_rows(
        self,
        columns: Sequence[Any],
        since: datetime | None = None,
        *,
        limit: int | None = None,
        chunk: int = 500,
    ) -> Iterator[Sequence[Row[*tuple[Any, ...]]]]:
        """``(id, ingested_at, *columns)`` of the articles ingested since ``since`` (the newest
        ``limit`` of them), newest first, ``chunk`` rows at a time; the daemon's notices left out.

        Each chunk is a short query of its own (keyset pagination on ``ingested_at, id``), so
        memory stays flat and no read transaction stays open while the caller works through
        millions of articles.
        """
        after: tuple[datetime, int] | None = None
        remaining = limit
        while remaining is None or remaining > 0:
            size = chunk if remaining is None else min(chunk, remaining)
            query = (
                select(ARTICLES.c.id, ARTICLES.c.ingested_at, *columns)
                .where(not_notice())  # the daemon's digests and health alerts are not news
                .order_by(ARTICLES.c.ingested_at.desc(), ARTICLES.c.id.desc())
                .limit(size)
            )
            if since is not None:
                query = query.where(ARTICLES.c.ingested_at >= since)
            if after is not None:
                query = query.where(
                    or_(
                        ARTICLES.c.ingested_at < after[0],
                        and_(ARTICLES.c.ingested_at == after[0], ARTICLES.c.id < after[1]),
                    )
                )
            with self._guard(), self._reading() as connection:
                rows = connection.execute(query).all()
            if rows:
                yield rows
            if len(rows) < size:
                return
            after = (rows[-1][1], rows[-1][0])
            if remaining is not None:
                remaining -= len(rows)


def article_of(row: Row[Any]) -> Article:
    """The article of a row that has :data:`ARTICLE_COLUMNS` (by name)."""
    return Article(
        uid=row.uid,
        fingerprint=row.fingerprint,
        title=row.title,
        summary=row.summary,
        body=row.body,
        url=row.url,
        published=row.published,
        language=row.language,
        source=row.source,
        origin=row.origin,
        tags=tuple(row.tags),
        authors=tuple(row.authors or ()),
    )

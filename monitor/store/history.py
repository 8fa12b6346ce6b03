"""The stored history read back: signatures, stories' sources, articles by uid and in pages."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, bindparam, or_, select, update
from sqlmodel import col

from monitor.models import Article, StoredSignature
from monitor.store.base import StoreBase
from monitor.store.chunks import chunked, rows_per_statement
from monitor.store.notices import not_notice
from monitor.store.tables import ArticleRow


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
                col(ArticleRow.uid),
                col(ArticleRow.signature),
                col(ArticleRow.ingested_at),
                col(ArticleRow.story),
            )
            .where(col(ArticleRow.ingested_at) >= since, col(ArticleRow.signature).is_not(None))
            .order_by(col(ArticleRow.id).desc())
            .limit(limit)
        )
        with self._guard(), self._session() as session:
            rows = session.execute(query).all()
        return [StoredSignature(uid, signature, at, story) for uid, signature, at, story in reversed(rows)]

    def articles_by_uid(self, uids: Iterable[str], chunk: int = 500) -> dict[str, Article]:
        """The stored articles with these uids, their text as kept (retention may have dropped a body)."""
        out = dict[str, Article]()
        for wanted in chunked(uids, chunk):
            query = select(ArticleRow).where(col(ArticleRow.uid).in_(wanted))
            with self._guard(), self._session() as session:
                out.update((row.uid, article_of(row)) for row in session.execute(query).scalars())
        return out

    def save_signatures(self, signatures: Mapping[str, bytes | None]) -> None:
        """Replace stored near-duplicate signatures (made again with the current settings)."""
        if not signatures:
            return
        # one statement run for each row (executemany); on the connection, not as an ORM bulk update
        key = col(ArticleRow.uid) == bindparam("b_uid")
        stmt = update(ArticleRow).where(key).values(signature=bindparam("b_sig"))
        rows = [{"b_uid": uid, "b_sig": signature} for uid, signature in signatures.items()]
        with self._guard(), self._session() as session:
            for chunk in chunked(rows, rows_per_statement(2)):
                session.connection().execute(stmt, chunk)
            session.commit()

    def story_sources(self, stories: Iterable[str]) -> dict[str, list[str]]:
        """Story uid → the sources that carried it, first first: "also reported by …"."""
        found: list[tuple[int, str | None, str]] = []
        with self._guard(), self._session() as session:
            for chunk in chunked(set(stories)):
                query = select(col(ArticleRow.id), col(ArticleRow.story), col(ArticleRow.source)).where(
                    col(ArticleRow.story).in_(chunk)
                )
                found += [(id_, story, source) for id_, story, source in session.execute(query)]
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
        for rows in self.newest_rows((ArticleRow,), since, limit=limit, chunk=chunk):
            for id_, at, row in rows:
                yield StoredArticle(id_, article_of(row), at)

    def newest_texts(
        self, since: datetime | None = None, *, limit: int | None = None, chunk: int = 1_000
    ) -> Iterator[list[ArticleText]]:
        """The texts and languages of the articles ingested since ``since`` (the newest ``limit``),
        newest first, ``chunk`` at a time: see :meth:`newest_rows`."""
        columns = (
            col(ArticleRow.language),
            col(ArticleRow.title),
            col(ArticleRow.summary),
            col(ArticleRow.body),
        )
        for rows in self.newest_rows(columns, since, limit=limit, chunk=chunk):
            yield [ArticleText(*row) for row in rows]

    def with_texts(self, texts: Sequence[ArticleText]) -> list[StoredArticle]:
        """The stored articles of ``texts``, in their order: the columns besides those read by id,
        the texts kept (an article deleted meanwhile is left out)."""
        columns = (
            col(ArticleRow.id),
            col(ArticleRow.uid),
            col(ArticleRow.fingerprint),
            col(ArticleRow.url),
            col(ArticleRow.published),
            col(ArticleRow.source),
            col(ArticleRow.origin),
            col(ArticleRow.tags),
            col(ArticleRow.authors),
        )
        found: dict[int, Row[*tuple[Any, ...]]] = {}
        with self._guard(), self._session() as session:
            for ids in chunked([text.id for text in texts]):
                query = select(*columns).where(columns[0].in_(ids))
                found.update((row[0], row) for row in session.execute(query))
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
                select(col(ArticleRow.id), col(ArticleRow.ingested_at), *columns)
                .where(not_notice())  # the daemon's digests and health alerts are not news
                .order_by(col(ArticleRow.ingested_at).desc(), col(ArticleRow.id).desc())
                .limit(size)
            )
            if since is not None:
                query = query.where(col(ArticleRow.ingested_at) >= since)
            if after is not None:
                query = query.where(
                    or_(
                        col(ArticleRow.ingested_at) < after[0],
                        and_(col(ArticleRow.ingested_at) == after[0], col(ArticleRow.id) < after[1]),
                    )
                )
            with self._guard(), self._session() as session:
                rows = session.execute(query).all()
            if rows:
                yield rows
            if len(rows) < size:
                return
            after = (rows[-1][1], rows[-1][0])
            if remaining is not None:
                remaining -= len(rows)


def article_of(row: ArticleRow) -> Article:
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

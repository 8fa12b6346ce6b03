"""What the web app's pages and API read: one query per need, filtered, paginated by cursor.

A listing is ordered newest first by ids, which the store hands out in the
order things are recorded (an article and its hits in one transaction), and
continued by keyset (``before`` the last row shown), so page 500 costs what
page 1 costs and a row recorded meanwhile neither repeats nor hides one.  A
full-text search uses the store's own search clause (:mod:`monitor.store.search`,
the grammar of ``monitor hits --search``) as one more filter; its results stay
newest first, so they page the same way, and on SQLite they come in the order
of the index itself (newest article first), so a page reads only its own rows
(measured on 100,000 articles: 0.1 ms instead of 80 ms sorting every match).
Bodies are read only for one article's page.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    ColumnElement,
    Date,
    Engine,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB

from monitor.models import Article
from monitor.store.base import StoreGuard
from monitor.store.history import article_of
from monitor.store.outbox import DELIVERY_COLUMNS, DeliveryView, delivery_view
from monitor.store.repo import Store
from monitor.store.search import SearchClause
from monitor.store.tables import ARTICLES, DELIVERIES, FILES, HITS

MAX_PAGE = 200
MAX_ID = 2**62
T = TypeVar("T")
CHART_DAYS = 30


# -- cursors -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a newest-first listing goes on: strictly before article ``major`` (``minor``: the
    delivery id in the outbox, else 0)."""

    major: int
    minor: int

    def encode(self) -> str:
        return base64.urlsafe_b64encode(f"{self.major}.{self.minor}".encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """The cursor a previous page handed out; ValueError for anything else."""
        refused = "not a cursor handed out by this server (use the 'next' link)"
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
            major, _, minor = raw.partition(".")
            cursor = cls(int(major), int(minor))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ValueError(refused) from None
        if not (0 <= cursor.major <= MAX_ID and 0 <= cursor.minor <= MAX_ID):
            raise ValueError(refused)
        return cursor


# -- hits ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class HitQuery:
    """Which hits: every one by default, newest first."""

    rule: str | None = None
    source: str | None = None
    tag: str | None = None  # the rule's tags or the source's
    language: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    search: str | None = None
    before: Cursor | None = None
    after_id: int | None = None  # only hits recorded after this one (what a page polls for)
    limit: int = 50


@dataclass(frozen=True, slots=True)
class HitItem:
    id: int
    rule_id: str
    rule_name: str
    rule_tags: list[str]
    created_at: datetime
    article_id: int
    title: str
    url: str | None
    source: str
    language: str | None
    published: datetime | None
    terms: list[dict[str, Any]]
    snippet: str
    also_reported_by: tuple[str, ...] = ()

    @property
    def matched_texts(self) -> list[str]:
        return list(dict.fromkeys(str(t.get("text", "")) for t in self.terms if t.get("text")))


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next: Cursor | None  # None on the last page


@dataclass(frozen=True, slots=True)
class ArticleHit:
    rule_id: str
    rule_name: str
    rule_tags: list[str]
    created_at: datetime
    terms: list[dict[str, Any]]
    snippet: str


@dataclass(frozen=True, slots=True)
class ArticleDetail:
    id: int
    article: Article
    ingested_at: datetime
    story: str | None
    hits: list[ArticleHit]
    also_reported_by: list[tuple[int, str, str]]  # (article id, source, title) of the same story


@dataclass(frozen=True, slots=True)
class ArticleQuery:
    since: datetime | None = None
    search: str | None = None
    source: str | None = None
    language: str | None = None
    before: Cursor | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class ArticleItem:
    id: int
    uid: str
    title: str
    url: str | None
    source: str
    language: str | None
    published: datetime | None
    ingested_at: datetime
    tags: list[str]
    hits: int


@dataclass(frozen=True, slots=True)
class RuleStats:
    day: int = 0
    week: int = 0
    month: int = 0
    last: datetime | None = None
    daily: list[int] = field(default_factory=list)  # CHART_DAYS counts, oldest first


@dataclass(frozen=True, slots=True)
class FolderFiles:
    counts: dict[str, int]  # ingested | duplicate | failed → files
    failed: list[tuple[str, str, datetime]]  # (path, reason, when), newest first
    last_seen: datetime | None


def _hit_item(row: Any, carried: dict[str, list[str]]) -> HitItem:
    (id_, rule_id, rule_name, rule_tags, at, article_id, title, url, source, language, published) = row[:11]
    terms, snippet, story = row[11:14]
    also = tuple(other for other in carried.get(story or "", ()) if other != source)
    return HitItem(
        id_,
        rule_id,
        rule_name,
        rule_tags,
        at,
        article_id,
        title,
        url,
        source,
        language,
        published,
        terms,
        snippet,
        also,
    )


class Views:
    """Read-only queries for the web app; each method is one short transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine: Engine = store.engine
        self.dialect = self.engine.dialect.name

    def _rows(self, query: Any) -> Sequence[Any]:
        with StoreGuard(self.engine), self.engine.connect() as connection:
            return connection.execute(query).all()

    def _search(self, text: str | None) -> SearchClause | None:
        """The store's search clause for ``text`` (``monitor hits --search``); raises SearchError."""
        return SearchClause.for_text(self.dialect, text) if text else None

    # -- hits ----------------------------------------------------------------------------------
    def hits(self, wanted: HitQuery) -> Page[HitItem]:
        """One page of hits, newest article first, with the other outlets of each story.

        A page holds whole articles (about ``limit`` hits: an article's hits are never split
        across two pages).  Two steps: the page's articles are chosen reading only ids and the
        filters' columns (an article row is wide: a column after its body costs reading the
        body), then their hits are read whole.
        """
        limit = max(1, min(wanted.limit, MAX_PAGE))
        conditions = self._hit_conditions(wanted)
        match = self._search(wanted.search)
        article = self._article_key(match)
        chosen: Any = (
            select(HITS.c.article_id)
            .select_from(HITS)
            .join(ARTICLES, ARTICLES.c.id == HITS.c.article_id)
            .where(*conditions)
        )
        if match is not None:
            chosen = match.apply(chosen)
        if wanted.before:
            chosen = chosen.where(article < wanted.before.major)
        found = [article_id for (article_id,) in self._rows(chosen.order_by(article.desc()).limit(limit + 1))]
        articles = list(dict.fromkeys(found))
        more = len(found) > limit
        if more and len(articles) > 1:
            articles = articles[:-1]  # the last may be cut short: it opens the next page
        if not articles:
            return Page([], None)
        rows = self._rows(
            select(
                HITS.c.id,
                HITS.c.rule_id,
                HITS.c.rule_name,
                HITS.c.rule_tags,
                HITS.c.created_at,
                ARTICLES.c.id,
                ARTICLES.c.title,
                ARTICLES.c.url,
                ARTICLES.c.source,
                ARTICLES.c.language,
                ARTICLES.c.published,
                HITS.c.terms,
                HITS.c.snippet,
                ARTICLES.c.story,
            )
            .select_from(HITS)
            .join(ARTICLES, ARTICLES.c.id == HITS.c.article_id)
            .where(HITS.c.article_id.in_(articles), *conditions)
            .order_by(HITS.c.article_id.desc(), HITS.c.id.desc())
        )
        carried = self.store.story_sources({row[13] for row in rows if row[13]})
        items = [_hit_item(row, carried) for row in rows]
        return Page(items, Cursor(articles[-1], 0) if more else None)

    def _hit_conditions(self, wanted: HitQuery) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if wanted.rule:
            conditions.append(HITS.c.rule_id == wanted.rule)
        if wanted.source:
            conditions.append(ARTICLES.c.source == wanted.source)
        if wanted.language:
            conditions.append(ARTICLES.c.language == wanted.language)
        if wanted.tag:
            conditions.append(
                or_(
                    self._has_tag(HITS.c.rule_tags, wanted.tag),
                    self._has_tag(ARTICLES.c.tags, wanted.tag),
                )
            )
        if wanted.since:
            conditions.append(HITS.c.created_at >= wanted.since)
        if wanted.until:
            conditions.append(HITS.c.created_at < wanted.until)
        if wanted.after_id is not None:
            conditions.append(HITS.c.id > wanted.after_id)
        return conditions

    def _article_key(self, match: SearchClause | None, article_id: Any = None) -> Any:
        """The article id to order by: on SQLite with a search, the full-text index's own rowid
        (the same number), which the index yields in order, so the first page is read first."""
        if match is not None and self.dialect == "sqlite":
            return literal_column("articles_fts.rowid")
        return HITS.c.article_id if article_id is None else article_id

    def _has_tag(self, tags: Any, tag: str) -> ColumnElement[bool]:
        """Whether a JSON list column holds ``tag``."""
        if self.dialect == "postgresql":
            return cast(tags, JSONB).op("?")(literal(tag))
        each = func.json_each(tags).table_valued("value")
        return exists(select(literal(1)).select_from(each).where(each.c.value == tag))

    def newest_hit_id(self) -> int:
        rows = self._rows(select(func.max(HITS.c.id)))
        return int(rows[0][0] or 0)

    def sources(self) -> list[str]:
        """Every source name among the stored articles (a filter's choices)."""
        return [s for (s,) in self._rows(select(ARTICLES.c.source).distinct().order_by(ARTICLES.c.source))]

    # -- articles ------------------------------------------------------------------------------
    def article(self, article_id: int) -> ArticleDetail | None:
        """One stored article with its text, every hit on it, and its story's other outlets."""
        rows = self._rows(select(ARTICLES).where(ARTICLES.c.id == article_id))
        if not rows:
            return None
        row = rows[0]
        hits = self._rows(
            select(
                HITS.c.rule_id,
                HITS.c.rule_name,
                HITS.c.rule_tags,
                HITS.c.created_at,
                HITS.c.terms,
                HITS.c.snippet,
            )
            .where(HITS.c.article_id == article_id)
            .order_by(HITS.c.rule_id)
        )
        others: list[tuple[int, str, str]] = []
        if row.story:
            others = [
                (int(i), s, t)
                for i, s, t in self._rows(
                    select(ARTICLES.c.id, ARTICLES.c.source, ARTICLES.c.title)
                    .where(ARTICLES.c.story == row.story, ARTICLES.c.id != article_id)
                    .order_by(ARTICLES.c.id)
                    .limit(MAX_PAGE)
                )
            ]
        return ArticleDetail(
            row.id or 0,
            article_of(row),
            row.ingested_at,
            row.story,
            [ArticleHit(*hit) for hit in hits],
            others,
        )

    def article_id(self, uid: str, fingerprint: str) -> int | None:
        """The stored article that is this story or says the same (what an ingest was a copy of)."""
        rows = self._rows(
            select(ARTICLES.c.id)
            .where(or_(ARTICLES.c.uid == uid, ARTICLES.c.fingerprint == fingerprint))
            .order_by(case((ARTICLES.c.uid == uid, 0), else_=1))
            .limit(1)
        )
        return int(rows[0][0]) if rows else None

    def articles(self, wanted: ArticleQuery) -> Page[ArticleItem]:
        """One page of stored articles, hits or not, newest first."""
        limit = max(1, min(wanted.limit, MAX_PAGE))
        hit_count = select(func.count()).where(HITS.c.article_id == ARTICLES.c.id).scalar_subquery()
        query: Any = select(
            ARTICLES.c.id,
            ARTICLES.c.uid,
            ARTICLES.c.title,
            ARTICLES.c.url,
            ARTICLES.c.source,
            ARTICLES.c.language,
            ARTICLES.c.published,
            ARTICLES.c.ingested_at,
            ARTICLES.c.tags,
            hit_count,
        ).select_from(ARTICLES)
        if wanted.since:
            query = query.where(ARTICLES.c.ingested_at >= wanted.since)
        if wanted.source:
            query = query.where(ARTICLES.c.source == wanted.source)
        if wanted.language:
            query = query.where(ARTICLES.c.language == wanted.language)
        match = self._search(wanted.search)
        if match is not None:
            query = match.apply(query)
        key = self._article_key(match, ARTICLES.c.id)
        if wanted.before:
            query = query.where(key < wanted.before.major)
        query = query.order_by(key.desc()).limit(limit + 1)
        rows = self._rows(query)
        items = [ArticleItem(*row) for row in rows[:limit]]
        return Page(items, Cursor(items[-1].id, 0) if len(rows) > limit else None)

    # -- rules ---------------------------------------------------------------------------------
    def rule_stats(self, now: datetime) -> dict[str, RuleStats]:
        """Per rule with a hit in the last 30 days: hits in the last 24 h, 7 d and 30 d, its last hit,
        and one count a day for a chart.  One pass over the month's hits (the time index), not the
        whole history; :meth:`last_hits` finds the last hit of the others."""
        day, week, month = (now - timedelta(days=n) for n in (1, 7, CHART_DAYS))
        at = HITS.c.created_at
        bucket = func.date(at) if self.dialect == "sqlite" else cast(at, Date)
        rows = self._rows(
            select(
                HITS.c.rule_id,
                bucket,
                func.count(),
                func.sum(case((at >= day, 1), else_=0)),
                func.sum(case((at >= week, 1), else_=0)),
                func.max(at),
            )
            .where(at >= month)
            .group_by(HITS.c.rule_id, bucket)
        )
        first = (now - timedelta(days=CHART_DAYS - 1)).date()
        out: dict[str, RuleStats] = {}
        for rule_id, when, count, in_day, in_week, last in rows:
            stats = out.setdefault(rule_id, RuleStats(daily=[0] * CHART_DAYS))
            moment = when if isinstance(when, date) else date.fromisoformat(str(when))
            slot = (moment - first).days
            if 0 <= slot < CHART_DAYS:
                stats.daily[slot] += int(count)
            out[rule_id] = RuleStats(
                stats.day + int(in_day or 0),
                stats.week + int(in_week or 0),
                stats.month + int(count),
                last if stats.last is None or last > stats.last else stats.last,
                stats.daily,
            )
        return out

    def last_hits(self, rule_ids: Sequence[str]) -> dict[str, datetime]:
        """The last hit of each of these rules (through the rule index: only their own hits are read)."""
        if not rule_ids:
            return {}
        rows = self._rows(
            select(HITS.c.rule_id, func.max(HITS.c.created_at))
            .where(HITS.c.rule_id.in_(list(rule_ids)))
            .group_by(HITS.c.rule_id)
        )
        return {rule_id: last for rule_id, last in rows if last is not None}

    # -- outbox --------------------------------------------------------------------------------
    def outbox_counts(self) -> dict[str, dict[str, int]]:
        """channel → status → alerts."""
        out: dict[str, dict[str, int]] = {}
        rows = self._rows(
            select(DELIVERIES.c.channel, DELIVERIES.c.status, func.count()).group_by(
                DELIVERIES.c.channel, DELIVERIES.c.status
            )
        )
        for channel, status, count in rows:
            out.setdefault(channel, {})[status] = int(count)
        return out

    def deliveries(
        self,
        status: str | None = None,
        channel: str | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> Page[DeliveryView]:
        """One page of the outbox, newest first (continued ``before`` a delivery id)."""
        limit = max(1, min(limit, MAX_PAGE))
        query: Any = (
            select(*DELIVERY_COLUMNS)
            .join(HITS, HITS.c.id == DELIVERIES.c.hit_id)
            .join(ARTICLES, ARTICLES.c.id == HITS.c.article_id)
            .order_by(DELIVERIES.c.id.desc())
            .limit(limit + 1)
        )
        if status:
            query = query.where(DELIVERIES.c.status == status)
        if channel:
            query = query.where(DELIVERIES.c.channel == channel)
        if before is not None:
            query = query.where(DELIVERIES.c.id < before)
        rows = self._rows(query)
        items = [delivery_view(row) for row in rows[:limit]]
        last = items[-1] if len(rows) > limit else None
        return Page(items, Cursor(0, last.id) if last else None)

    # -- sources -------------------------------------------------------------------------------
    def folder_files(self, folder: str, failures: int = 20) -> FolderFiles:
        """What was read from one watched folder: files by outcome, and the newest failures' reasons."""
        under = FILES.c.path.startswith(folder.rstrip("/") + "/", autoescape=True)
        counts = {
            status: int(n)
            for status, n in self._rows(
                select(FILES.c.status, func.count()).where(under).group_by(FILES.c.status)
            )
        }
        failed = [
            (path, reason or "", seen)
            for path, reason, seen in self._rows(
                select(FILES.c.path, FILES.c.reason, FILES.c.seen_at)
                .where(under, FILES.c.status == "failed")
                .order_by(FILES.c.seen_at.desc(), FILES.c.id.desc())
                .limit(failures)
            )
        ]
        last = self._rows(select(func.max(FILES.c.seen_at)).where(under))[0][0]
        return FolderFiles(counts, failed, last)

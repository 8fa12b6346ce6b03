"""Idempotent reads and writes: what the pipeline asks of the database.

A batch of articles, with their hits, deliveries and the files they came from,
commits in one transaction, so a crash leaves either all of it or none; and
every insert is ``ON CONFLICT DO NOTHING`` on the table's unique key, so
processing the same input twice records nothing twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Engine, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError
from sqlmodel import Session, col

from monitor.errors import StoreError
from monitor.models import (
    SUMMARY_RULE,
    Alert,
    Article,
    FeedState,
    HealthEvent,
    HeldAlert,
    Match,
    StoredSignature,
    TermHit,
    make_article,
)
from monitor.store.tables import ArticleRow, DeliveryRow, FeedRow, FileRow, HitRow

ReleaseAt = Callable[[HeldAlert, datetime], datetime | None]
"""(held alert, now) → when it goes under the settings in force now (None: keep it held)."""
Summarize = Callable[[Sequence[Alert], str, Mapping[str, Sequence[str]]], tuple[str, str, tuple[str, ...]]]
"""(alerts, reason, other outlets by key) → (title, text, terms) of the summary that stands for them."""


def delivery_key(rule_id: str, article_uid: str, channel: str) -> str:
    """The idempotency key of one alert: the same hit to the same channel is one alert, forever."""
    digest = hashlib.sha256(f"{rule_id}\x1f{article_uid}\x1f{channel}".encode()).hexdigest()
    return f"nm_{digest[:40]}"


@dataclass(frozen=True, slots=True)
class FileRecord:
    path: str
    size: int
    mtime_ns: int
    fingerprint: str
    status: str  # ingested | duplicate | failed
    reason: str | None = None
    articles: int = 0


@dataclass(frozen=True, slots=True)
class Routed:
    """An article with its matches and, per match, the channels it goes to."""

    article: Article
    matches: Sequence[tuple[Match, Sequence[str]]]
    story: str | None = None  # uid of the story's first article when this one republishes it
    signature: bytes | None = None  # for near-duplicate detection after a restart

    @property
    def story_uid(self) -> str:
        return self.story or self.article.uid


@dataclass
class BatchResult:
    articles: int = 0
    duplicates: int = 0
    hits: int = 0
    deliveries: int = 0

    def merge(self, other: BatchResult) -> None:
        self.articles += other.articles
        self.duplicates += other.duplicates
        self.hits += other.hits
        self.deliveries += other.deliveries


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
class DeliveryView:
    id: int
    key: str
    channel: str
    status: str  # pending | sent | dead
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    rule_id: str
    title: str
    source: str


class RetryOutcome(NamedTuple):
    """How many deliveries were queued again, and why each named id that was not, was not."""

    queued: int
    refused: dict[int, str]


RETRYABLE = ("dead", "pending")


def _not_retried(status: str | None) -> str:
    if status is None:
        return "no such delivery"
    if status == "sent":
        return "already sent; a sent alert is never sent twice"
    return f"it is {status}, not dead or pending"


@dataclass(frozen=True, slots=True)
class StoredArticle:
    """An article as stored, with when it was ingested (``published`` is often unknown)."""

    id: int
    article: Article
    ingested_at: datetime


HEALTH_RULE = "source-health"


class Store:
    """The one door to the database; every method is a transaction of its own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # -- files ---------------------------------------------------------------------------
    def file_index(self, paths_under: str) -> dict[str, tuple[int, int]]:
        """(size, mtime_ns) of files already handled under a folder, so unchanged ones are skipped unread."""
        with self._guard(), self._session() as session:
            rows = session.execute(
                select(col(FileRow.path), col(FileRow.size), col(FileRow.mtime_ns)).where(
                    col(FileRow.path).startswith(paths_under, autoescape=True)
                )
            )
            return {path: (size, mtime) for path, size, mtime in rows}

    def fingerprint_seen(self, fingerprints: Iterable[str]) -> set[str]:
        wanted = list(set(fingerprints))
        if not wanted:
            return set()
        with self._guard(), self._session() as session:
            rows = session.execute(
                select(col(FileRow.fingerprint)).where(col(FileRow.fingerprint).in_(wanted))
            )
            return {fp for (fp,) in rows}

    # -- articles, hits, deliveries ------------------------------------------------------
    def unseen(self, articles: Sequence[Article]) -> list[Article]:
        """Articles whose story (uid) and content (fingerprint) are both new, first copy only."""
        if not articles:
            return []
        uids = {a.uid for a in articles}
        fps = {a.fingerprint for a in articles}
        with self._guard(), self._session() as session:
            rows = session.execute(
                select(col(ArticleRow.uid), col(ArticleRow.fingerprint)).where(
                    or_(col(ArticleRow.uid).in_(uids), col(ArticleRow.fingerprint).in_(fps))
                )
            )
            known_uids: set[str] = set()
            known_fps: set[str] = set()
            for uid, fp in rows:
                known_uids.add(uid)
                known_fps.add(fp)
        fresh = []
        for article in articles:
            if article.uid in known_uids or article.fingerprint in known_fps:
                continue
            known_uids.add(article.uid)
            known_fps.add(article.fingerprint)
            fresh.append(article)
        return fresh

    def record(self, routed: Sequence[Routed], files: Sequence[FileRecord], now: datetime) -> BatchResult:
        """Store articles with their hits and deliveries, and the files read, in one transaction.

        Each table gets a few multi-row ``INSERT … ON CONFLICT DO NOTHING
        RETURNING`` statements per batch rather than one per row: the rows a
        unique key refused are simply absent from what comes back.
        """
        with self._guard(), self._session() as session, session.begin():
            result = self._record_in(session, routed, now)
            self._upsert_files(session, files, now)
        return result

    def _record_in(self, session: Session, routed: Sequence[Routed], now: datetime) -> BatchResult:
        result = BatchResult()
        article_ids = self._insert_articles(session, routed, now)
        result.articles = len(article_ids)
        result.duplicates = len(routed) - len(article_ids)
        hits = []
        for item in routed:
            # pop: when a batch holds the same article twice, only the first one's matches count
            article_id = article_ids.pop(item.article.uid, None)
            if article_id is not None:
                # one alert per story: a republication's delivery keys are its story's
                hits += [(article_id, item.story_uid, match, channels) for match, channels in item.matches]
        hit_ids = self._insert_hits(session, [(article_id, match) for article_id, _, match, _ in hits], now)
        result.hits = len(hit_ids)
        deliveries = [
            {
                "key": delivery_key(match.rule_id, uid, channel),
                "hit_id": hit_ids[article_id, match.rule_id],
                "channel": channel,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for article_id, uid, match, channels in hits
            if (article_id, match.rule_id) in hit_ids
            for channel in channels
        ]
        result.deliveries = len(self._insert_many(session, DeliveryRow, deliveries, DeliveryRow.key))
        return result

    def _insert_many(
        self, session: Session, table: Any, rows: list[dict[str, Any]], *returning: Any
    ) -> list[Any]:
        """Insert the rows a unique key does not already hold; what ``returning`` says of the new ones.

        One executemany: SQLAlchemy's "insertmanyvalues" sends multi-row
        statements, compiled once, and gathers what each returns.
        """
        if not rows:
            return []
        stmt = self._insert(table.__table__).on_conflict_do_nothing().returning(*returning)
        return list(session.execute(stmt, rows).all())

    def _insert_articles(self, session: Session, routed: Sequence[Routed], now: datetime) -> dict[str, int]:
        """uid → id of the articles that were new."""
        rows = [
            {
                "story": item.story_uid,
                "signature": item.signature,
                "uid": article.uid,
                "fingerprint": article.fingerprint,
                "title": article.title,
                "summary": article.summary,
                "body": article.body,
                "url": article.url,
                "published": article.published,
                "language": article.language,
                "source": article.source,
                "origin": article.origin,
                "tags": list(article.tags),
                "authors": list(article.authors),
                "ingested_at": now,
            }
            for item in routed
            for article in [item.article]
        ]
        return {
            uid: id_
            for id_, uid in self._insert_many(session, ArticleRow, rows, ArticleRow.id, ArticleRow.uid)
        }

    def _insert_hits(
        self, session: Session, hits: Sequence[tuple[int, Match]], now: datetime
    ) -> dict[tuple[int, str], int]:
        """(article id, rule id) → hit id of the hits that were new."""
        rows = [
            {
                "rule_id": match.rule_id,
                "rule_name": match.rule_name,
                "article_id": article_id,
                "terms": [t.as_dict() for t in match.terms],
                "snippet": match.snippet,
                "rule_tags": list(match.tags),
                "created_at": now,
            }
            for article_id, match in hits
        ]
        returned = self._insert_many(session, HitRow, rows, HitRow.id, HitRow.article_id, HitRow.rule_id)
        return {(article_id, rule_id): id_ for id_, article_id, rule_id in returned}

    def _upsert_files(self, session: Session, records: Sequence[FileRecord], now: datetime) -> None:
        # one row per path: PostgreSQL refuses a statement that would update a row twice
        rows = list({r.path: {**asdict(r), "seen_at": now} for r in records}.values())
        if not rows:
            return
        # one statement for every batch, compiled once and run for each row (executemany), not
        # a multi-row VALUES of each batch's size, which SQLAlchemy compiled again every batch
        stmt = self._insert(FileRow)
        stmt = stmt.on_conflict_do_update(
            index_elements=[FileRow.path],
            set_={k: stmt.excluded[k] for k in rows[0] if k != "path"},
        )
        session.execute(stmt, rows)

    # -- delivery outbox -----------------------------------------------------------------
    def due_deliveries(self, now: datetime, limit: int, channels: Iterable[str]) -> list[Alert]:
        """Pending alerts whose time has come, oldest first, for channels that exist."""
        with self._guard(), self._session() as session:
            rows = session.execute(
                select(DeliveryRow, HitRow, ArticleRow)
                .join(HitRow, col(HitRow.id) == col(DeliveryRow.hit_id))
                .join(ArticleRow, col(ArticleRow.id) == col(HitRow.article_id))
                .where(col(DeliveryRow.status) == "pending", col(DeliveryRow.next_attempt_at) <= now)
                .where(col(DeliveryRow.channel).in_(list(channels)))
                .order_by(col(DeliveryRow.next_attempt_at), col(DeliveryRow.id))
                .limit(limit)
            ).all()
        return [_alert_of(d, h, a) for d, h, a in rows]

    def claim_deliveries(
        self, now: datetime, limit: int, channels: Iterable[str], owner: str, until: datetime
    ) -> list[Alert]:
        """Like ``due_deliveries``, but each alert is leased to ``owner`` until ``until``.

        ``FOR UPDATE SKIP LOCKED`` (PostgreSQL): replicas claiming at the same
        moment each get different rows, never waiting on each other; a lease
        whose holder died is claimable again once it has expired.
        """
        free = or_(col(DeliveryRow.lease_expires).is_(None), col(DeliveryRow.lease_expires) < now)
        wanted = (
            select(col(DeliveryRow.id))
            .where(col(DeliveryRow.status) == "pending", col(DeliveryRow.next_attempt_at) <= now)
            .where(col(DeliveryRow.channel).in_(list(channels)), free)
            .order_by(col(DeliveryRow.next_attempt_at), col(DeliveryRow.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with self._guard(), self._session() as session, session.begin():
            ids = list(session.execute(wanted).scalars())
            if not ids:
                return []
            session.execute(
                update(DeliveryRow)
                .where(col(DeliveryRow.id).in_(ids))
                .values(lease_owner=owner, lease_expires=until)
            )
            rows = session.execute(
                select(DeliveryRow, HitRow, ArticleRow)
                .join(HitRow, col(HitRow.id) == col(DeliveryRow.hit_id))
                .join(ArticleRow, col(ArticleRow.id) == col(HitRow.article_id))
                .where(col(DeliveryRow.id).in_(ids))
                .order_by(col(DeliveryRow.next_attempt_at), col(DeliveryRow.id))
            ).all()
        return [_alert_of(d, h, a) for d, h, a in rows]

    def hold(self, key: str, until: datetime, reason: str) -> None:
        """Keep an alert back (digest, quiet hours, throttle) to go out in a summary at ``until``."""
        self._update(key, status="held", next_attempt_at=until, last_error=f"held: {reason}")

    def sent_count(self, rule_id: str, channel: str, since: datetime) -> int:
        """Alerts of ``rule_id`` sent to ``channel`` since ``since``: what a throttle counts."""
        query = (
            select(func.count())
            .select_from(DeliveryRow)
            .join(HitRow, col(HitRow.id) == col(DeliveryRow.hit_id))
            .where(col(HitRow.rule_id) == rule_id, col(DeliveryRow.channel) == channel)
            .where(col(DeliveryRow.status) == "sent", col(DeliveryRow.sent_at) >= since)
        )
        with self._guard(), self._session() as session:
            return int(session.execute(query).scalar() or 0)

    def release_held(self, now: datetime, summarize: Summarize, release_at: ReleaseAt | None = None) -> int:
        """Fold the held alerts whose time has come into one summary alert per channel.

        ``release_at(held, now)`` says when each held alert goes (None: not yet
        known, keep it), under the settings in force now
        (:func:`monitor.notify.flood.release_at`); without it, at the time
        forecast when it was held.

        One transaction: the summary (an article of source ``news-monitor``, a hit
        of rule ``summary``, a pending delivery) is queued and the held alerts
        are marked ``summarized`` together, so a crash neither loses them nor
        sends them twice; the summary's key is derived from the keys it stands for.
        ``summarize`` writes it (:func:`monitor.notify.flood.summary_text`: the
        store keeps rows, it does not word messages).
        """
        query = (
            select(DeliveryRow, HitRow, ArticleRow)
            .join(HitRow, col(HitRow.id) == col(DeliveryRow.hit_id))
            .join(ArticleRow, col(ArticleRow.id) == col(HitRow.article_id))
            .where(col(DeliveryRow.status) == "held")
            .order_by(col(DeliveryRow.id))
        )
        if release_at is None:
            query = query.where(col(DeliveryRow.next_attempt_at) <= now)
        else:
            due = self._held_due(now, release_at)
            if not due:
                return 0
            query = query.where(col(DeliveryRow.id).in_(due))
        with self._guard(), self._session() as session:
            rows = session.execute(query).all()
        by_channel: dict[str, list[tuple[DeliveryRow, HitRow, ArticleRow]]] = {}
        for row in rows:
            by_channel.setdefault(row[0].channel, []).append(row)
        for channel, held in by_channel.items():
            alerts = [_alert_of(d, h, a) for d, h, a in held]
            reason = (held[0][0].last_error or "held: summary").removeprefix("held: ")
            carried = self.story_sources({a.story for _, _, a in held if a.story})
            also = {d.key: [s for s in carried.get(a.story or "", ()) if s != a.source] for d, _, a in held}
            title, text, terms = summarize(alerts, reason, also)
            digest = _digest_uid("\x1f".join(sorted(a.key for a in alerts)))
            article = make_article(
                title=title,
                body=text,
                source="news-monitor",
                origin=f"summary:{channel}",
                language="en",
                external_id=f"urn:news-monitor:summary:{digest}",
                tags=("summary", reason),
            )
            article = replace(article, fingerprint=article.uid)
            terms_hits = tuple(TermHit(term, term, "body", 0, 0) for term in terms)
            match = Match(SUMMARY_RULE, title, terms_hits, text, (channel,), ("summary",))
            with self._guard(), self._session() as session, session.begin():
                ids = [d.id for d, _, _ in held]
                session.execute(
                    update(DeliveryRow).where(col(DeliveryRow.id).in_(ids)).values(status="summarized")
                )
                self._record_in(session, [Routed(article, [(match, [channel])])], now)
        return len(by_channel)

    def _held_due(self, now: datetime, release_at: ReleaseAt) -> list[int]:
        """Ids of the held alerts whose time has come; only the few columns the decision reads are loaded."""
        query = (
            select(
                col(DeliveryRow.id),
                col(DeliveryRow.key),
                col(DeliveryRow.channel),
                col(HitRow.rule_id),
                col(DeliveryRow.last_error),
                col(DeliveryRow.created_at),
                col(DeliveryRow.next_attempt_at),
            )
            .join(HitRow, col(HitRow.id) == col(DeliveryRow.hit_id))
            .where(col(DeliveryRow.status) == "held")
        )
        with self._guard(), self._session() as session:
            rows = session.execute(query).all()
        due = []
        for row_id, key, channel, rule_id, error, since, until in rows:
            reason = (error or "held: summary").removeprefix("held: ")
            when = release_at(HeldAlert(key, channel, rule_id, reason, since, until), now)
            if when is not None and when <= now:
                due.append(row_id)
        return due

    def mark_sent(self, key: str, now: datetime) -> None:
        self._update(key, status="sent", sent_at=now, attempts=col(DeliveryRow.attempts) + 1, last_error=None)

    def mark_retry(self, key: str, next_at: datetime, error: str) -> None:
        self._update(key, next_attempt_at=next_at, attempts=col(DeliveryRow.attempts) + 1, last_error=error)

    def defer(self, key: str, next_at: datetime, error: str) -> None:
        """Not tried (its channel is paused): due again at ``next_at``, no attempt counted."""
        self._update(key, next_attempt_at=next_at, last_error=error)

    def mark_dead(self, key: str, error: str) -> None:
        self._update(key, status="dead", attempts=col(DeliveryRow.attempts) + 1, last_error=error)

    def _update(self, key: str, **values: Any) -> None:
        """The outcome of a send: only a pending alert changes, and its lease (if any) ends.

        Pending only: a replica whose lease lapsed mid-send must not turn an
        alert another replica has since sent into a dead one.
        """
        query = update(DeliveryRow).where(col(DeliveryRow.key) == key, col(DeliveryRow.status) == "pending")
        with self._guard(), self._session() as session, session.begin():
            session.execute(query.values(lease_owner=None, lease_expires=None, **values))

    def deliveries(
        self, status: str | None = None, channel: str | None = None, limit: int = 100
    ) -> list[DeliveryView]:
        """The outbox, newest first: what was sent, what waits, what died and why."""
        query = (
            select(DeliveryRow, HitRow, ArticleRow)
            .join(HitRow, col(HitRow.id) == col(DeliveryRow.hit_id))
            .join(ArticleRow, col(ArticleRow.id) == col(HitRow.article_id))
            .order_by(col(DeliveryRow.id).desc())
            .limit(limit)
        )
        if status:
            query = query.where(col(DeliveryRow.status) == status)
        if channel:
            query = query.where(col(DeliveryRow.channel) == channel)
        with self._guard(), self._session() as session:
            rows = session.execute(query).all()
        return [
            DeliveryView(
                d.id or 0,
                d.key,
                d.channel,
                d.status,
                d.attempts,
                d.next_attempt_at,
                d.last_error,
                d.created_at,
                d.sent_at,
                h.rule_id,
                a.title,
                a.source,
            )
            for d, h, a in rows
        ]

    def retry_deliveries(
        self, now: datetime, ids: Sequence[int] = (), *, all_dead: bool = False
    ) -> RetryOutcome:
        """Put dead (or backing-off) deliveries back in the queue, due now.

        A sent delivery is never re-queued: it would reach the receiver twice.
        The idempotency key is kept, so a receiver that did get it can drop it.
        Each named id that could not be queued comes back with the reason.
        """
        query = update(DeliveryRow).where(col(DeliveryRow.status).in_(RETRYABLE))
        if all_dead:
            query = query.where(col(DeliveryRow.status) == "dead")
        else:
            query = query.where(col(DeliveryRow.id).in_(list(ids)))
        with self._guard(), self._session() as session, session.begin():
            named = col(DeliveryRow.id).in_(list(ids))
            found = select(col(DeliveryRow.id), col(DeliveryRow.status)).where(named)
            statuses: dict[int, str] = {row[0]: row[1] for row in session.execute(found)}
            result = session.execute(query.values(status="pending", attempts=0, next_attempt_at=now))
        refused = {
            i: _not_retried(statuses.get(i)) for i in dict.fromkeys(ids) if statuses.get(i) not in RETRYABLE
        }
        return RetryOutcome(int(getattr(result, "rowcount", 0) or 0), refused)

    def pending_by_channel(self) -> dict[str, int]:
        """Alerts waiting in the outbox, per channel name."""
        with self._guard(), self._session() as session:
            rows = session.execute(
                select(col(DeliveryRow.channel), func.count())
                .where(col(DeliveryRow.status) == "pending")
                .group_by(col(DeliveryRow.channel))
            )
            return {channel: count for channel, count in rows}

    def delivery_counts(self) -> dict[str, int]:
        with self._guard(), self._session() as session:
            rows = session.execute(
                select(col(DeliveryRow.status), func.count()).group_by(col(DeliveryRow.status))
            )
            return {status: count for status, count in rows}

    # -- feeds ---------------------------------------------------------------------------
    def feed_state(self, url: str) -> FeedState:
        with self._guard(), self._session() as session:
            row = session.get(FeedRow, url)
            return FeedState(url) if row is None else _feed_state_of(row)

    def feed_states(self) -> dict[str, FeedState]:
        with self._guard(), self._session() as session:
            return {row.url: _feed_state_of(row) for row in session.execute(select(FeedRow)).scalars()}

    def save_feed_state(self, state: FeedState) -> None:
        """Upsert the feed's HTTP state and health; its lease columns belong to the claim."""
        values = asdict(state)
        stmt = self._insert(FeedRow).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[FeedRow.url], set_={k: stmt.excluded[k] for k in values if k != "url"}
        )
        with self._guard(), self._session() as session, session.begin():
            session.execute(stmt)

    def record_health(
        self, url: str, source: str, event: HealthEvent, channel: str | None, now: datetime
    ) -> int:
        """A feed's health change as an alert through the outbox (retried, never sent twice).

        It is stored as an article of source ``news-monitor`` with a hit of rule
        ``source-health``, so every channel renders it and ``monitor hits
        --rule source-health`` lists a desk's source incidents.
        """
        article = make_article(
            title=event.message,
            body=f"{event.message}\n\n{source} ({url}), {now:%Y-%m-%d %H:%M} UTC",
            source="news-monitor",
            origin=f"health:{url}",
            language="en",
            external_id=f"urn:news-monitor:health:{_digest_uid(url)}:{event.kind}:{now.isoformat()}",
            tags=("source-health", event.kind),
        )
        article = replace(article, fingerprint=article.uid)  # the same words twice are two events
        match = Match(
            HEALTH_RULE, "Source health", (), event.message, (), ("source-health", event.kind, source)
        )
        return self.record([Routed(article, [(match, [channel] if channel else [])])], [], now).deliveries

    # -- history -------------------------------------------------------------------------
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
        wanted, out = list(uids), dict[str, Article]()
        for first in range(0, len(wanted), chunk):
            query = select(ArticleRow).where(col(ArticleRow.uid).in_(wanted[first : first + chunk]))
            with self._guard(), self._session() as session:
                out.update((row.uid, _article_of(row)) for row in session.execute(query).scalars())
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
            session.connection().execute(stmt, rows)
            session.commit()

    def story_sources(self, stories: Iterable[str]) -> dict[str, list[str]]:
        """Story uid → the sources that carried it, first first: "also reported by …"."""
        query = (
            select(col(ArticleRow.story), col(ArticleRow.source))
            .where(col(ArticleRow.story).in_(list(stories)))
            .order_by(col(ArticleRow.id))
        )
        out: dict[str, list[str]] = {}
        with self._guard(), self._session() as session:
            for story, source in session.execute(query).all():
                if story is not None and source not in out.setdefault(story, []):
                    out[story].append(source)
        return out

    def iter_articles(
        self, since: datetime | None = None, *, limit: int | None = None, chunk: int = 500
    ) -> Iterator[StoredArticle]:
        """Stored articles ingested since ``since``, newest first, read ``chunk`` rows per query.

        Read-only.  Each chunk is a short query of its own (keyset pagination on
        ``ingested_at, id``), so memory stays flat and no read transaction stays
        open while the caller works through millions of articles.
        """
        after: tuple[datetime, int] | None = None
        remaining = limit
        while remaining is None or remaining > 0:
            size = chunk if remaining is None else min(chunk, remaining)
            query = (
                select(ArticleRow)
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
                rows = session.execute(query).scalars().all()
            for row in rows:
                yield StoredArticle(row.id or 0, _article_of(row), row.ingested_at)
            if len(rows) < size:
                return
            after = (rows[-1].ingested_at, rows[-1].id or 0)
            if remaining is not None:
                remaining -= len(rows)

    def _guard(self) -> _StoreGuard:
        return _StoreGuard(self.engine)


def _article_of(row: ArticleRow) -> Article:
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


def _alert_of(d: DeliveryRow, h: HitRow, a: ArticleRow) -> Alert:
    return Alert(
        key=d.key,
        channel=d.channel,
        rule_id=h.rule_id,
        rule_name=h.rule_name,
        title=a.title,
        url=a.url,
        source=a.source,
        published=a.published,
        language=a.language,
        terms=_distinct_terms(h.terms),
        snippet=h.snippet,
        matched_at=h.created_at,
        rule_tags=tuple(h.rule_tags),
        attempt=d.attempts + 1,
    )


def _feed_state_of(row: FeedRow) -> FeedState:
    return FeedState(**{f.name: getattr(row, f.name) for f in fields(FeedState)})


def _digest_uid(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _distinct_terms(terms: list[dict[str, Any]]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for term in terms:
        seen.setdefault(str(term.get("text", "")), None)
    return tuple(seen)


class _StoreGuard:
    """Turns SQLAlchemy's errors into StoreError naming the database (password hidden)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _tb: Any) -> None:
        if exc is None or not isinstance(exc, SQLAlchemyError):
            return
        where = self.engine.url.render_as_string(hide_password=True)
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        hint = (
            " (another process holds the lock; it will be retried)"
            if (isinstance(exc, OperationalError) and "locked" in detail)
            else ""
        )
        # A rejected row (bad value, broken constraint) will be rejected again: not transient.
        transient = not isinstance(exc, IntegrityError | DataError | ProgrammingError)
        raise StoreError(f"database {where}: {detail}{hint}", transient=transient) from exc

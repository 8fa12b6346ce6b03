"""The delivery outbox: alerts due and claimed, held and summarized, sent, retried or dead."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Integer, Row, Text, bindparam, func, or_, select, update

from monitor.models import SUMMARY_RULE, Alert, DeliveryOutcome, HeldAlert, Match, TermHit, make_article
from monitor.store.articles import ArticleStore, Routed
from monitor.store.base import _digest_uid
from monitor.store.chunks import chunked
from monitor.store.history import HistoryStore
from monitor.store.notices import NOTICE_SOURCE, notice_origin
from monitor.store.tables import ARTICLES, DELIVERIES, HITS, UTCDateTime

ReleaseAt = Callable[[HeldAlert, datetime], datetime | None]
"""(held alert, now) → when it goes under the settings in force now (None: keep it held)."""
Summarize = Callable[[Sequence[Alert], str, Mapping[str, Sequence[str]]], tuple[str, str, tuple[str, ...]]]
"""(alerts, reason, other outlets by key) → (title, text, terms) of the summary that stands for them."""


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

_RECORD_OUTCOME = (
    update(DELIVERIES)
    .where(DELIVERIES.c.key == bindparam("o_key"), DELIVERIES.c.status == "pending")
    .values(
        status=bindparam("o_status"),
        attempts=DELIVERIES.c.attempts + bindparam("o_tried", type_=Integer()),
        next_attempt_at=func.coalesce(bindparam("o_next", type_=UTCDateTime()), DELIVERIES.c.next_attempt_at),
        sent_at=bindparam("o_sent", type_=UTCDateTime()),
        last_error=bindparam("o_error", type_=Text()),
        lease_owner=None,
        lease_expires=None,
    )
)
"""One outcome of :class:`DeliveryOutcome`'s single shape; executed with many parameter sets."""


def held_outcome(key: str, until: datetime, reason: str) -> DeliveryOutcome:
    """An alert kept back (digest, quiet hours, throttle) until ``until``: not an attempt."""
    return DeliveryOutcome(key, "held", False, until, error=f"held: {reason}")


DELIVERY_COLUMNS = (
    DELIVERIES.c.id,
    DELIVERIES.c.key,
    DELIVERIES.c.channel,
    DELIVERIES.c.status,
    DELIVERIES.c.attempts,
    DELIVERIES.c.next_attempt_at,
    DELIVERIES.c.last_error,
    DELIVERIES.c.created_at,
    DELIVERIES.c.sent_at,
    HITS.c.rule_id,
    ARTICLES.c.title,
    ARTICLES.c.source,
)
"""What an outbox listing reads of a delivery, its hit and its article, in :class:`DeliveryView`'s order."""


def delivery_view(row: Any) -> DeliveryView:
    """One outbox row as listed (selected as :data:`DELIVERY_COLUMNS`), with its rule and article."""
    return DeliveryView(
        row.id,
        row.key,
        row.channel,
        row.status,
        row.attempts,
        row.next_attempt_at,
        row.last_error,
        row.created_at,
        row.sent_at,
        row.rule_id,
        row.title,
        row.source,
    )


def _not_retried(status: str | None) -> str:
    if status is None:
        return "no such delivery"
    if status == "sent":
        return "already sent; a sent alert is never sent twice"
    return f"it is {status}, not dead or pending"


class OutboxStore(ArticleStore, HistoryStore):
    """The outbox: a summary is recorded as articles are, and names the stories' other sources."""

    def due_deliveries(self, now: datetime, limit: int, channels: Iterable[str]) -> list[Alert]:
        """Pending alerts whose time has come, oldest first, for channels that exist."""
        with self._guard(), self.engine.connect() as connection:
            rows = connection.execute(
                _ALERTS.where(DELIVERIES.c.status == "pending", DELIVERIES.c.next_attempt_at <= now)
                .where(DELIVERIES.c.channel.in_(list(channels)))
                .order_by(DELIVERIES.c.next_attempt_at, DELIVERIES.c.id)
                .limit(limit)
            ).all()
        return [_alert_from(row) for row in rows]

    def claim_deliveries(
        self, now: datetime, limit: int, channels: Iterable[str], owner: str, until: datetime
    ) -> list[Alert]:
        """Like ``due_deliveries``, but each alert is leased to ``owner`` until ``until``.

        ``FOR UPDATE SKIP LOCKED`` (PostgreSQL): replicas claiming at the same
        moment each get different rows, never waiting on each other; a lease
        whose holder died is claimable again once it has expired.
        """
        free = or_(DELIVERIES.c.lease_expires.is_(None), DELIVERIES.c.lease_expires < now)
        wanted = (
            select(DELIVERIES.c.id)
            .where(DELIVERIES.c.status == "pending", DELIVERIES.c.next_attempt_at <= now)
            .where(DELIVERIES.c.channel.in_(list(channels)), free)
            .order_by(DELIVERIES.c.next_attempt_at, DELIVERIES.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with self._guard(), self.engine.begin() as connection:
            ids = list(connection.execute(wanted).scalars())
            if not ids:
                return []
            rows: list[Any] = []
            for chunk in chunked(ids):
                connection.execute(
                    update(DELIVERIES)
                    .where(DELIVERIES.c.id.in_(chunk))
                    .values(lease_owner=owner, lease_expires=until)
                )
                rows += connection.execute(_ALERTS.where(DELIVERIES.c.id.in_(chunk))).all()
        rows.sort(key=lambda row: (row.next_attempt_at, row.id))
        return [_alert_from(row) for row in rows]

    def hold(self, key: str, until: datetime, reason: str) -> None:
        """Keep an alert back (digest, quiet hours, throttle) to go out in a summary at ``until``."""
        self.record_outcomes([held_outcome(key, until, reason)])

    def sent_count(self, rule_id: str, channel: str, since: datetime) -> int:
        """Alerts of ``rule_id`` sent to ``channel`` since ``since``: what a throttle counts."""
        query = (
            select(func.count())
            .select_from(DELIVERIES)
            .join(HITS, HITS.c.id == DELIVERIES.c.hit_id)
            .where(HITS.c.rule_id == rule_id, DELIVERIES.c.channel == channel)
            .where(DELIVERIES.c.status == "sent", DELIVERIES.c.sent_at >= since)
        )
        with self._guard(), self._reading() as connection:
            return int(connection.execute(query).scalar() or 0)

    def release_held(self, now: datetime, summarize: Summarize, release_at: ReleaseAt | None = None) -> int:
        """Fold the held alerts whose time has come into one summary alert per channel.

        ``release_at(held, now)`` says when each held alert goes (None: not yet
        known, keep it), under the settings in force now
        (:func:`monitor.notify.flood.release_at`); without it, at the time
        forecast when it was held.

        One transaction: the summary (a notice, store/notices.py: an article row
        that article listings leave out, a hit of rule ``summary``, a pending
        delivery) is queued and the held alerts
        are marked ``summarized`` together, so a crash neither loses them nor
        sends them twice; the summary's key is derived from the keys it stands for.
        ``summarize`` writes it (:func:`monitor.notify.flood.summary_text`: the
        store keeps rows, it does not word messages).
        """
        query = (
            _ALERTS.add_columns(DELIVERIES.c.last_error, ARTICLES.c.story)
            .where(DELIVERIES.c.status == "held")
            .order_by(DELIVERIES.c.id)
        )
        with self._guard(), self._reading() as connection:
            if release_at is None:
                rows = list(connection.execute(query.where(DELIVERIES.c.next_attempt_at <= now)).all())
            else:
                rows = []
                for due in chunked(self._held_due(now, release_at)):
                    rows += connection.execute(query.where(DELIVERIES.c.id.in_(due))).all()
                rows.sort(key=lambda row: row.id)
        if not rows:
            return 0
        by_channel: dict[str, list[Row[Any]]] = {}
        for row in rows:
            by_channel.setdefault(row.channel, []).append(row)
        for channel, held in by_channel.items():
            alerts = [_alert_from(row) for row in held]
            reason = (held[0].last_error or "held: summary").removeprefix("held: ")
            carried = self.story_sources({row.story for row in held if row.story})
            also = {row.key: [s for s in carried.get(row.story or "", ()) if s != row.source] for row in held}
            title, text, terms = summarize(alerts, reason, also)
            digest = _digest_uid("\x1f".join(sorted(a.key for a in alerts)))
            article = make_article(
                title=title,
                body=text,
                source=NOTICE_SOURCE,
                origin=notice_origin("summary", channel),
                language="en",
                external_id=f"urn:news-monitor:summary:{digest}",
                tags=("summary", reason),
            )
            article = replace(article, fingerprint=article.uid)
            terms_hits = tuple(TermHit(term, term, "body", 0, 0) for term in terms)
            match = Match(SUMMARY_RULE, title, terms_hits, text, (channel,), ("summary",))
            with self._guard(), self._writing() as connection:
                for ids in chunked(row.id for row in held):
                    connection.execute(
                        update(DELIVERIES).where(DELIVERIES.c.id.in_(ids)).values(status="summarized")
                    )
                self._record_in(connection, [Routed(article, [(match, [channel])])], now)
        return len(by_channel)

    def _held_due(self, now: datetime, release_at: ReleaseAt) -> list[int]:
        """Ids of the held alerts whose time has come; only the few columns the decision reads are loaded."""
        query = (
            select(
                DELIVERIES.c.id,
                DELIVERIES.c.key,
                DELIVERIES.c.channel,
                HITS.c.rule_id,
                DELIVERIES.c.last_error,
                DELIVERIES.c.created_at,
                DELIVERIES.c.next_attempt_at,
            )
            .join(HITS, HITS.c.id == DELIVERIES.c.hit_id)
            .where(DELIVERIES.c.status == "held")
        )
        with self._guard(), self._reading() as connection:
            rows = connection.execute(query).all()
        due = []
        for row_id, key, channel, rule_id, error, since, until in rows:
            reason = (error or "held: summary").removeprefix("held: ")
            when = release_at(HeldAlert(key, channel, rule_id, reason, since, until), now)
            if when is not None and when <= now:
                due.append(row_id)
        return due

    def mark_sent(self, key: str, now: datetime) -> None:
        self.record_outcomes([DeliveryOutcome(key, "sent", True, sent_at=now)])

    def mark_retry(self, key: str, next_at: datetime, error: str) -> None:
        self.record_outcomes([DeliveryOutcome(key, "pending", True, next_at, error=error)])

    def defer(self, key: str, next_at: datetime, error: str) -> None:
        """Not tried (its channel is paused): due again at ``next_at``, no attempt counted."""
        self.record_outcomes([DeliveryOutcome(key, "pending", False, next_at, error=error)])

    def mark_dead(self, key: str, error: str) -> None:
        self.record_outcomes([DeliveryOutcome(key, "dead", True, error=error)])

    def record_outcomes(self, outcomes: Sequence[DeliveryOutcome]) -> None:
        """What a group of sends came to, in one statement (executemany) and one commit.

        Only a pending row changes, and its lease (if any) ends: a replica whose
        lease lapsed mid-send must not turn an alert another replica has since
        sent into a dead one, and an outcome recorded twice (a retry of a
        commit whose answer was lost) leaves a sent, dead or held row as it is.
        """
        if not outcomes:
            return
        rows = [
            {
                "o_key": o.key,
                "o_status": o.status,
                "o_tried": int(o.attempted),
                "o_next": o.next_at,
                "o_sent": o.sent_at,
                "o_error": o.error,
            }
            for o in outcomes
        ]
        with self._guard(), self.engine.begin() as connection:
            connection.execute(_RECORD_OUTCOME, rows)

    def deliveries(
        self, status: str | None = None, channel: str | None = None, limit: int = 100
    ) -> list[DeliveryView]:
        """The outbox, newest first: what was sent, what waits, what died and why."""
        query = (
            select(*DELIVERY_COLUMNS)
            .join(HITS, HITS.c.id == DELIVERIES.c.hit_id)
            .join(ARTICLES, ARTICLES.c.id == HITS.c.article_id)
            .order_by(DELIVERIES.c.id.desc())
            .limit(limit)
        )
        if status:
            query = query.where(DELIVERIES.c.status == status)
        if channel:
            query = query.where(DELIVERIES.c.channel == channel)
        with self._guard(), self._reading() as connection:
            rows = connection.execute(query).all()
        return [delivery_view(row) for row in rows]

    def retry_deliveries(
        self, now: datetime, ids: Sequence[int] = (), *, all_dead: bool = False
    ) -> RetryOutcome:
        """Put dead (or backing-off) deliveries back in the queue, due now.

        A sent delivery is never re-queued: it would reach the receiver twice.
        The idempotency key is kept, so a receiver that did get it can drop it.
        Each named id that could not be queued comes back with the reason.
        """
        query = update(DELIVERIES).where(DELIVERIES.c.status.in_(RETRYABLE))
        queued = 0
        statuses: dict[int, str] = {}
        with self._guard(), self._writing() as connection:
            if all_dead:
                result = connection.execute(
                    query.where(DELIVERIES.c.status == "dead").values(
                        status="pending", attempts=0, next_attempt_at=now
                    )
                )
                queued += int(getattr(result, "rowcount", 0) or 0)
            for chunk in chunked(dict.fromkeys(ids)):
                named = DELIVERIES.c.id.in_(chunk)
                found = select(DELIVERIES.c.id, DELIVERIES.c.status).where(named)
                statuses.update((row[0], row[1]) for row in connection.execute(found))
                if not all_dead:
                    result = connection.execute(
                        query.where(named).values(status="pending", attempts=0, next_attempt_at=now)
                    )
                    queued += int(getattr(result, "rowcount", 0) or 0)
        refused = {
            i: _not_retried(statuses.get(i)) for i in dict.fromkeys(ids) if statuses.get(i) not in RETRYABLE
        }
        return RetryOutcome(queued, refused)

    def pending_by_channel(self) -> dict[str, int]:
        """Alerts waiting in the outbox, per channel name."""
        with self._guard(), self._reading() as connection:
            rows = connection.execute(
                select(DELIVERIES.c.channel, func.count())
                .where(DELIVERIES.c.status == "pending")
                .group_by(DELIVERIES.c.channel)
            )
            return {channel: count for channel, count in rows}

    def delivery_counts(self) -> dict[str, int]:
        with self._guard(), self._reading() as connection:
            rows = connection.execute(select(DELIVERIES.c.status, func.count()).group_by(DELIVERIES.c.status))
            return {status: count for status, count in rows}


_ALERTS = (
    select(
        DELIVERIES.c.id,
        DELIVERIES.c.key,
        DELIVERIES.c.channel,
        DELIVERIES.c.attempts,
        DELIVERIES.c.next_attempt_at,
        HITS.c.rule_id,
        HITS.c.rule_name,
        HITS.c.terms,
        HITS.c.snippet,
        HITS.c.created_at,
        HITS.c.rule_tags,
        ARTICLES.c.title,
        ARTICLES.c.url,
        ARTICLES.c.source,
        ARTICLES.c.published,
        ARTICLES.c.language,
    )
    .join(HITS, HITS.c.id == DELIVERIES.c.hit_id)
    .join(ARTICLES, ARTICLES.c.id == HITS.c.article_id)
)
"""What an alert is made of, and no more: a claim reads no article body."""


def _alert_from(row: Any) -> Alert:
    return Alert(
        key=row.key,
        channel=row.channel,
        rule_id=row.rule_id,
        rule_name=row.rule_name,
        title=row.title,
        url=row.url,
        source=row.source,
        published=row.published,
        language=row.language,
        terms=_distinct_terms(row.terms),
        snippet=row.snippet,
        matched_at=row.created_at,
        rule_tags=tuple(row.rule_tags),
        attempt=row.attempts + 1,
    )


def _distinct_terms(terms: list[dict[str, Any]]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for term in terms:
        seen.setdefault(str(term.get("text", "")), None)
    return tuple(seen)

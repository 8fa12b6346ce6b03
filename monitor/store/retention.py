"""The retention policy applied: old bodies emptied, old rows deleted, in small transactions.

What each setting may remove, and what it never does:

- ``deliveries_sent``: outbox rows of alerts sent (or folded into a summary)
  longer ago.  Pending, held and dead alerts stay.
- ``hits``: hits older than this, with their alerts, unless one of those
  alerts is still pending or held: nothing waiting to be sent is lost.
- ``articles``: articles ingested longer ago that have no hit (left), so a
  hit kept forever keeps its article's title and link.
- ``article_bodies``: the body of articles ingested longer ago becomes empty;
  title, summary, URL, the uid and content fingerprint that deduplicate
  (exact copies) and the MinHash signature (near copies) stay, so a
  re-published story is still recognised and its hits still list.

The full-text index follows by itself (triggers on SQLite, a generated column
on PostgreSQL).  Work goes in rounds of at most ``chunk`` rows per kind, each
kind in its own short transaction, so a first prune of a years-old database
never holds the SQLite write lock for long and the daemon's other jobs run
between rounds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, delete, exists, false, func, select, update
from sqlalchemy.engine import Connection

from monitor.config import RetentionSettings
from monitor.store.repo import StoreGuard
from monitor.store.tables import ARTICLES, DELIVERIES, HITS

PRUNE_CHUNK = 1000
DONE = ("sent", "summarized")  # alerts that left, or went out inside a summary
WAITING = ("pending", "held")  # alerts still to be sent: never removed


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """Per kind, the time before which it goes (None: kept forever)."""

    article_bodies: datetime | None = None
    articles: datetime | None = None
    hits: datetime | None = None
    deliveries_sent: datetime | None = None


def cutoffs(policy: RetentionSettings, now: datetime) -> Cutoffs:
    def before(seconds: float | None) -> datetime | None:
        return None if seconds is None else now - timedelta(seconds=seconds)

    return Cutoffs(
        article_bodies=before(policy.article_bodies),
        articles=before(policy.articles),
        hits=before(policy.hits),
        deliveries_sent=before(policy.deliveries_sent),
    )


@dataclass
class PruneReport:
    deliveries: int = 0
    hits: int = 0
    articles: int = 0
    bodies: int = 0

    @property
    def total(self) -> int:
        return self.deliveries + self.hits + self.articles + self.bodies

    def merge(self, other: PruneReport) -> None:
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))

    def summary(self) -> str:
        return " ".join(f"{field.name}={getattr(self, field.name)}" for field in fields(self))


# -- which rows: one predicate per kind, shared by the count and the removal ------------------
def _old_sent(cut: datetime) -> ColumnElement[bool]:
    sent_at = func.coalesce(DELIVERIES.c.sent_at, DELIVERIES.c.created_at)
    return DELIVERIES.c.status.in_(DONE) & (sent_at < cut)


def _waiting_alert() -> ColumnElement[bool]:
    return exists().where(DELIVERIES.c.hit_id == HITS.c.id, DELIVERIES.c.status.in_(WAITING))


def _old_hit(cut: datetime | None) -> ColumnElement[bool]:
    if cut is None:
        return false()
    return (HITS.c.created_at < cut) & ~_waiting_alert()


def _old_article(cut: datetime | None, hits_cut: datetime | None, *, ahead: bool) -> ColumnElement[bool]:
    """Articles to delete; ``ahead``: counting, so hits about to be deleted no longer protect theirs."""
    if cut is None:
        return false()
    kept_hit = HITS.c.article_id == ARTICLES.c.id
    if ahead:
        kept_hit = kept_hit & ~_old_hit(hits_cut)
    return (ARTICLES.c.ingested_at < cut) & ~exists().where(kept_hit)


def _full_body(cut: Cutoffs) -> ColumnElement[bool]:
    """Bodies to empty: of old articles that are not about to be deleted anyway."""
    if cut.article_bodies is None:
        return false()
    doomed = _old_article(cut.articles, cut.hits, ahead=True)
    return (ARTICLES.c.ingested_at < cut.article_bodies) & (ARTICLES.c.body != "") & ~doomed


class Retention:
    """Counts (dry run) or removes what the cutoffs say is too old."""

    def __init__(self, engine: Engine, *, chunk: int = PRUNE_CHUNK) -> None:
        self.engine = engine
        self.chunk = chunk

    def count(self, cut: Cutoffs) -> PruneReport:
        """What a prune would remove now, changing nothing."""
        doomed = _old_article(cut.articles, cut.hits, ahead=True)
        queries = {
            "deliveries": select(func.count())
            .select_from(DELIVERIES)
            .where(_old_sent(cut.deliveries_sent) if cut.deliveries_sent else false()),
            "hits": select(func.count()).select_from(HITS).where(_old_hit(cut.hits)),
            "articles": select(func.count()).select_from(ARTICLES).where(doomed),
            "bodies": select(func.count()).select_from(ARTICLES).where(_full_body(cut)),
        }
        with StoreGuard(self.engine), self.engine.connect() as db:
            return PruneReport(
                **{kind: int(db.execute(query).scalar() or 0) for kind, query in queries.items()}
            )

    def prune(self, cut: Cutoffs, *, stopping: Callable[[], bool] = lambda: False) -> PruneReport:
        """Rounds until nothing is left to remove (or ``stopping`` says so)."""
        total = PruneReport()
        while not stopping():
            report = self.prune_round(cut)
            total.merge(report)
            if not report.total:
                break
        return total

    def prune_round(self, cut: Cutoffs) -> PruneReport:
        """At most ``chunk`` rows of each kind, each kind one transaction, dependants first."""
        report = PruneReport()
        with StoreGuard(self.engine):
            if cut.deliveries_sent is not None:
                report.deliveries = self._in_transaction(self._sent_deliveries, cut.deliveries_sent)
            if cut.hits is not None:
                report.hits = self._in_transaction(self._hits, cut.hits)
            if cut.articles is not None:
                report.articles = self._in_transaction(self._articles, cut.articles)
            if cut.article_bodies is not None:
                report.bodies = self._in_transaction(self._bodies, cut)
        return report

    def _in_transaction(self, step: Callable[[Connection, Any], int], cut: Any) -> int:
        with self.engine.begin() as db:
            return step(db, cut)

    def _ids(self, db: Connection, id_column: Any, where: ColumnElement[bool]) -> Sequence[int]:
        return (
            db.execute(select(id_column).where(where).order_by(id_column).limit(self.chunk)).scalars().all()
        )

    def _sent_deliveries(self, db: Connection, cut: datetime) -> int:
        ids = self._ids(db, DELIVERIES.c.id, _old_sent(cut))
        if ids:
            db.execute(delete(DELIVERIES).where(DELIVERIES.c.id.in_(ids)))
        return len(ids)

    def _hits(self, db: Connection, cut: datetime) -> int:
        ids = self._ids(db, HITS.c.id, _old_hit(cut))
        if not ids:
            return 0
        # the status is checked again: an alert re-queued meanwhile keeps its hit
        db.execute(
            delete(DELIVERIES).where(DELIVERIES.c.hit_id.in_(ids), DELIVERIES.c.status.not_in(WAITING))
        )
        result = db.execute(delete(HITS).where(HITS.c.id.in_(ids), ~_waiting_alert()))
        return int(result.rowcount or 0)

    def _articles(self, db: Connection, cut: datetime) -> int:
        ids = self._ids(db, ARTICLES.c.id, _old_article(cut, None, ahead=False))
        if not ids:
            return 0
        no_hit = ~exists().where(HITS.c.article_id == ARTICLES.c.id)
        result = db.execute(delete(ARTICLES).where(ARTICLES.c.id.in_(ids), no_hit))
        return int(result.rowcount or 0)

    def _bodies(self, db: Connection, cut: Cutoffs) -> int:
        ids = self._ids(db, ARTICLES.c.id, _full_body(cut))
        if ids:
            db.execute(update(ARTICLES).where(ARTICLES.c.id.in_(ids)).values(body=""))
        return len(ids)


__all__ = ["Cutoffs", "PruneReport", "Retention", "cutoffs"]

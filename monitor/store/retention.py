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
from sqlmodel import col

from monitor.config import RetentionSettings
from monitor.store.repo import StoreGuard
from monitor.store.tables import ArticleRow, DeliveryRow, HitRow

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
    sent_at = func.coalesce(col(DeliveryRow.sent_at), col(DeliveryRow.created_at))
    return col(DeliveryRow.status).in_(DONE) & (sent_at < cut)


def _waiting_alert() -> ColumnElement[bool]:
    return exists().where(col(DeliveryRow.hit_id) == col(HitRow.id), col(DeliveryRow.status).in_(WAITING))


def _old_hit(cut: datetime | None) -> ColumnElement[bool]:
    if cut is None:
        return false()
    return (col(HitRow.created_at) < cut) & ~_waiting_alert()


def _old_article(cut: datetime | None, hits_cut: datetime | None, *, ahead: bool) -> ColumnElement[bool]:
    """Articles to delete; ``ahead``: counting, so hits about to be deleted no longer protect theirs."""
    if cut is None:
        return false()
    kept_hit = col(HitRow.article_id) == col(ArticleRow.id)
    if ahead:
        kept_hit = kept_hit & ~_old_hit(hits_cut)
    return (col(ArticleRow.ingested_at) < cut) & ~exists().where(kept_hit)


def _full_body(cut: Cutoffs) -> ColumnElement[bool]:
    """Bodies to empty: of old articles that are not about to be deleted anyway."""
    if cut.article_bodies is None:
        return false()
    doomed = _old_article(cut.articles, cut.hits, ahead=True)
    return (col(ArticleRow.ingested_at) < cut.article_bodies) & (col(ArticleRow.body) != "") & ~doomed


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
            .select_from(DeliveryRow)
            .where(_old_sent(cut.deliveries_sent) if cut.deliveries_sent else false()),
            "hits": select(func.count()).select_from(HitRow).where(_old_hit(cut.hits)),
            "articles": select(func.count()).select_from(ArticleRow).where(doomed),
            "bodies": select(func.count()).select_from(ArticleRow).where(_full_body(cut)),
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
        ids = self._ids(db, col(DeliveryRow.id), _old_sent(cut))
        if ids:
            db.execute(delete(DeliveryRow).where(col(DeliveryRow.id).in_(ids)))
        return len(ids)

    def _hits(self, db: Connection, cut: datetime) -> int:
        ids = self._ids(db, col(HitRow.id), _old_hit(cut))
        if not ids:
            return 0
        # the status is checked again: an alert re-queued meanwhile keeps its hit
        db.execute(
            delete(DeliveryRow).where(
                col(DeliveryRow.hit_id).in_(ids), col(DeliveryRow.status).not_in(WAITING)
            )
        )
        result = db.execute(delete(HitRow).where(col(HitRow.id).in_(ids), ~_waiting_alert()))
        return int(result.rowcount or 0)

    def _articles(self, db: Connection, cut: datetime) -> int:
        ids = self._ids(db, col(ArticleRow.id), _old_article(cut, None, ahead=False))
        if not ids:
            return 0
        no_hit = ~exists().where(col(HitRow.article_id) == col(ArticleRow.id))
        result = db.execute(delete(ArticleRow).where(col(ArticleRow.id).in_(ids), no_hit))
        return int(result.rowcount or 0)

    def _bodies(self, db: Connection, cut: Cutoffs) -> int:
        ids = self._ids(db, col(ArticleRow.id), _full_body(cut))
        if ids:
            db.execute(update(ArticleRow).where(col(ArticleRow.id).in_(ids)).values(body=""))
        return len(ids)


__all__ = ["Cutoffs", "PruneReport", "Retention", "cutoffs"]

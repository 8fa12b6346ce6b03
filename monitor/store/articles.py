"""Idempotent reads and writes: what the pipeline asks of the database.

A batch of articles, with their hits, deliveries and the files they came from,
commits in one transaction, so a crash leaves either all of it or none; and
every insert is ``ON CONFLICT DO NOTHING`` on the table's unique key, so
processing the same input twice records nothing twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from monitor.models import Article, Match
from monitor.store.base import StoreBase
from monitor.store.chunks import chunked, rows_per_statement
from monitor.store.tables import ARTICLES, DELIVERIES, FILES, HITS


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


class ArticleStore(StoreBase):
    """Files handled, and articles recorded with their hits and deliveries."""

    # -- files ---------------------------------------------------------------------------
    def file_index(self, paths_under: str) -> dict[str, tuple[int, int]]:
        """(size, mtime_ns) of files already handled under a folder, so unchanged ones are skipped unread."""
        with self._guard(), self._reading() as connection:
            rows = connection.execute(
                select(FILES.c.path, FILES.c.size, FILES.c.mtime_ns).where(
                    FILES.c.path.startswith(paths_under, autoescape=True)
                )
            )
            return {path: (size, mtime) for path, size, mtime in rows}

    def fingerprint_seen(self, fingerprints: Iterable[str]) -> set[str]:
        seen: set[str] = set()
        with self._guard(), self._reading() as connection:
            for wanted in chunked(set(fingerprints)):
                query = select(FILES.c.fingerprint).where(FILES.c.fingerprint.in_(wanted))
                seen.update(fp for (fp,) in connection.execute(query))
        return seen

    # -- articles, hits, deliveries ------------------------------------------------------
    def unseen(self, articles: Sequence[Article]) -> list[Article]:
        """Articles whose story (uid) and content (fingerprint) are both new, first copy only."""
        if not articles:
            return []
        known_uids: set[str] = set()
        known_fps: set[str] = set()
        with self._guard(), self._reading() as connection:
            uids, fps = {a.uid for a in articles}, {a.fingerprint for a in articles}
            for key, values in ((ARTICLES.c.uid, uids), (ARTICLES.c.fingerprint, fps)):
                for wanted in chunked(values):
                    query = select(ARTICLES.c.uid, ARTICLES.c.fingerprint).where(key.in_(wanted))
                    for uid, fp in connection.execute(query):
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
        with self._guard(), self._writing() as connection:
            result = self._record_in(connection, routed, now)
            self._upsert_files(connection, files, now)
        return result

    def _record_in(self, connection: Connection, routed: Sequence[Routed], now: datetime) -> BatchResult:
        result = BatchResult()
        article_ids = self._insert_articles(connection, routed, now)
        result.articles = len(article_ids)
        result.duplicates = len(routed) - len(article_ids)
        hits = []
        for item in routed:
            # pop: when a batch holds the same article twice, only the first one's matches count
            article_id = article_ids.pop(item.article.uid, None)
            if article_id is not None:
                # one alert per story: a republication's delivery keys are its story's
                hits += [(article_id, item.story_uid, match, channels) for match, channels in item.matches]
        hit_ids = self._insert_hits(
            connection, [(article_id, match) for article_id, _, match, _ in hits], now
        )
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
        result.deliveries = len(self._insert_many(connection, DELIVERIES, deliveries, DELIVERIES.c.key))
        return result

    def _insert_many(
        self, connection: Connection, table: Any, rows: list[dict[str, Any]], *returning: Any
    ) -> list[Any]:
        """Insert the rows a unique key does not already hold; what ``returning`` says of the new ones.

        An executemany per chunk of rows (store/chunks.py): SQLAlchemy's
        "insertmanyvalues" sends multi-row statements, compiled once, and gathers
        what each returns; the chunks keep any one statement within the drivers' limits.
        """
        if not rows:
            return []
        stmt = self._insert(table).on_conflict_do_nothing().returning(*returning)
        out: list[Any] = []
        for chunk in chunked(rows, rows_per_statement(len(rows[0]))):
            out += connection.execute(stmt, chunk).all()
        return out

    def _insert_articles(
        self, connection: Connection, routed: Sequence[Routed], now: datetime
    ) -> dict[str, int]:
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
            for id_, uid in self._insert_many(connection, ARTICLES, rows, ARTICLES.c.id, ARTICLES.c.uid)
        }

    def _insert_hits(
        self, connection: Connection, hits: Sequence[tuple[int, Match]], now: datetime
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
        returned = self._insert_many(connection, HITS, rows, HITS.c.id, HITS.c.article_id, HITS.c.rule_id)
        return {(article_id, rule_id): id_ for id_, article_id, rule_id in returned}

    def _upsert_files(self, connection: Connection, records: Sequence[FileRecord], now: datetime) -> None:
        # one row per path: PostgreSQL refuses a statement that would update a row twice
        rows = list({r.path: {**asdict(r), "seen_at": now} for r in records}.values())
        if not rows:
            return
        # one statement for every batch, compiled once and run for each row (executemany), not
        # a multi-row VALUES of each batch's size, which SQLAlchemy compiled again every batch
        stmt = self._insert(FILES)
        stmt = stmt.on_conflict_do_update(
            index_elements=[FILES.c.path],
            set_={k: stmt.excluded[k] for k in rows[0] if k != "path"},
        )
        for chunk in chunked(rows, rows_per_statement(len(rows[0]))):
            connection.execute(stmt, chunk)

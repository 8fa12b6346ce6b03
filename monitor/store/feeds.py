"""Feeds' HTTP state and health, and a health change as an alert through the outbox."""

from __future__ import annotations

from dataclasses import asdict, fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select

from monitor.models import FeedState, HealthEvent, Match, make_article
from monitor.store.articles import ArticleStore, Routed
from monitor.store.base import _digest_uid
from monitor.store.notices import NOTICE_SOURCE, notice_origin
from monitor.store.tables import FEEDS

HEALTH_RULE = "source-health"


class FeedStore(ArticleStore):
    """Feed state; a health alert is recorded as articles are."""

    def feed_state(self, url: str) -> FeedState:
        with self._guard(), self._reading() as connection:
            row = connection.execute(select(FEEDS).where(FEEDS.c.url == url)).first()
            return FeedState(url) if row is None else _feed_state_of(row)

    def feed_states(self) -> dict[str, FeedState]:
        with self._guard(), self._reading() as connection:
            return {row.url: _feed_state_of(row) for row in connection.execute(select(FEEDS))}

    def save_feed_state(self, state: FeedState) -> None:
        """Upsert the feed's HTTP state and health; its lease columns belong to the claim."""
        values = asdict(state)
        stmt = self._insert(FEEDS).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[FEEDS.c.url], set_={k: stmt.excluded[k] for k in values if k != "url"}
        )
        with self._guard(), self._writing() as connection:
            connection.execute(stmt)

    def record_health(
        self, url: str, source: str, event: HealthEvent, channel: str | None, now: datetime
    ) -> int:
        """A feed's health change as an alert through the outbox (retried, never sent twice).

        It is stored as a notice (store/notices.py: an article row that article
        listings leave out) with a hit of rule ``source-health``, so every channel
        renders it and ``monitor hits --rule source-health`` lists a desk's source incidents.
        """
        article = make_article(
            title=event.message,
            body=f"{event.message}\n\n{source} ({url}), {now:%Y-%m-%d %H:%M} UTC",
            source=NOTICE_SOURCE,
            origin=notice_origin("health", url),
            language="en",
            external_id=f"urn:news-monitor:health:{_digest_uid(url)}:{event.kind}:{now.isoformat()}",
            tags=("source-health", event.kind),
        )
        article = replace(article, fingerprint=article.uid)  # the same words twice are two events
        match = Match(
            HEALTH_RULE, "Source health", (), event.message, (), ("source-health", event.kind, source)
        )
        return self.record([Routed(article, [(match, [channel] if channel else [])])], [], now).deliveries


def _feed_state_of(row: Row[Any]) -> FeedState:
    return FeedState(**{f.name: getattr(row, f.name) for f in fields(FeedState)})

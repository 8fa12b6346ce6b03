"""One story, one alert: which earlier article a new one republishes.

The pure comparison lives in :mod:`monitor.stories.nearduplicate`; this is its use by the
pipeline: the index of recent signatures is rebuilt from the store on first
use (so a restart forgets nothing inside the window), new articles are placed
in order, and what left the window is dropped.  An article that repeats an
earlier story carries that story's uid; the store then gives its matches the
story's delivery keys, so the outbox, which refuses a key twice, sends each
rule's alert for a story once, however many outlets carry it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from monitor.config import DedupSettings
from monitor.models import Article, StoredSignature
from monitor.store.repo import Store
from monitor.stories.nearduplicate import (
    NearDuplicateIndex,
    NearDuplicateSettings,
    article_text,
)

log = logging.getLogger(__name__)
FORGET_EVERY = timedelta(minutes=1)


class StoryGrouper:
    """The near-duplicate index of one pipeline; used from its one worker thread."""

    def __init__(self, settings: DedupSettings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self._index: NearDuplicateIndex | None = None
        self._forgotten_at: datetime | None = None

    def place(self, article: Article, now: datetime) -> tuple[str | None, bytes | None]:
        """(uid of the story it republishes or None, its signature to store or None)."""
        if not self.settings.enabled:
            return None, None
        index = self._ready(now)
        signature = index.signature(article_text(article))
        first = index.add_signature(article.uid, signature, at=now)
        return (first if first != article.uid else None), signature

    def _ready(self, now: datetime) -> NearDuplicateIndex:
        window = timedelta(seconds=self.settings.window)
        if self._index is None:
            stored = self.store.recent_signatures(now - window, self.settings.max_articles)
            settings = self._compare_settings()
            self._index = NearDuplicateIndex.from_signatures(self._signed_again(stored, settings), settings)
            log.info("near-duplicate index: %d recent article(s) from the last %s", len(self._index), window)
        if self._forgotten_at is None or now - self._forgotten_at >= FORGET_EVERY:
            self._index.forget_before(now - window)
            self._forgotten_at = now
        return self._index

    def _signed_again(
        self, stored: list[StoredSignature], settings: NearDuplicateSettings
    ) -> list[StoredSignature]:
        """The stored signatures, those made with other settings or an older release made again
        from the stored text and saved: else each story in the window would alert once more."""
        signer = NearDuplicateIndex(settings)
        outdated = [item.article_id for item in stored if not signer.compatible(item.signature)]
        if not outdated:
            return stored
        articles = self.store.articles_by_uid(str(uid) for uid in outdated)
        fresh = {uid: signer.signature(article_text(article)) for uid, article in articles.items()}
        self.store.save_signatures(fresh)
        log.info("near-duplicate index: signed %d stored article(s) again with today's settings", len(fresh))
        again = []
        for item in stored:
            signature = fresh.get(str(item.article_id), item.signature)
            if signature is not None:
                again.append(item._replace(signature=signature))
        return again

    def _compare_settings(self) -> NearDuplicateSettings:
        return NearDuplicateSettings(
            threshold=self.settings.threshold,
            min_shingles=self.settings.min_words,
            max_articles=self.settings.max_articles,
        )

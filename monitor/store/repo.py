"""Idempotent reads and writes: what the pipeline asks of the database.

:class:`Store` is the one door; each job is a part of its own: recording articles, hits and
files (articles.py), the delivery outbox (outbox.py), feed state and health (feeds.py), the
history read back (history.py), over what they share (base.py). The names below stay
importable from here.
"""

from __future__ import annotations

from monitor.store.articles import BatchResult, FileRecord, Routed, delivery_key
from monitor.store.base import StoreGuard
from monitor.store.feeds import HEALTH_RULE, FeedStore
from monitor.store.history import HitView, StoredArticle
from monitor.store.outbox import RETRYABLE, DeliveryView, OutboxStore, ReleaseAt, RetryOutcome, Summarize

__all__ = [
    "HEALTH_RULE",
    "RETRYABLE",
    "BatchResult",
    "DeliveryView",
    "FileRecord",
    "HitView",
    "ReleaseAt",
    "RetryOutcome",
    "Routed",
    "Store",
    "StoreGuard",
    "StoredArticle",
    "Summarize",
    "delivery_key",
]


class Store(OutboxStore, FeedStore):
    """The one door to the database; every method is a transaction of its own."""

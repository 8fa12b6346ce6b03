"""The daemon's own notices (digests, throttle summaries, source-health alerts) are not articles.

They travel through the outbox like any alert, so they are stored as a row of
``articles`` with a hit and a delivery: retried, never sent twice, listed by
``monitor deliveries`` and ``monitor hits``.  But nobody wrote them: every
listing, search, export and backtest of *articles* leaves them out, with
:func:`not_notice`, the one condition that tells them apart.  Their source is
``news-monitor`` and their origin ``summary:<channel>`` or ``health:<url>``,
which no folder (absolute paths) or feed (URLs) can produce.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, not_, or_

from monitor.store.tables import ARTICLES

NOTICE_SOURCE = "news-monitor"
KINDS = ("summary", "health")


def notice_origin(kind: str, key: str) -> str:
    """The origin of a notice of ``kind`` (summary, health) about ``key`` (a channel, a feed URL)."""
    if kind not in KINDS:
        raise ValueError(f"unknown notice kind {kind!r}")
    return f"{kind}:{key}"


def is_notice() -> ColumnElement[bool]:
    origin = ARTICLES.c.origin
    return and_(
        ARTICLES.c.source == NOTICE_SOURCE,
        or_(*(origin.startswith(f"{kind}:", autoescape=True) for kind in KINDS)),
    )


def not_notice() -> ColumnElement[bool]:
    """True for the articles that came from a source: what article listings select."""
    return not_(is_notice())

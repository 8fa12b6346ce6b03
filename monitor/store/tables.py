"""The SQLModel models' tables, as the store's queries use them (SQLAlchemy Core).

The schema is declared once, by the models in ``models.py``; these are the
same ``Table`` objects, named for the queries: ``ARTICLES.c.title``.  Queries
run on connections and hand back rows as named tuples (``row.title`` works on
them too); nothing goes through the ORM's session or builds objects per row.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table
from sqlmodel import SQLModel

from monitor.store.models import (
    ArticleRow,
    DeliveryRow,
    FeedRow,
    FileRow,
    HitRow,
    LeaseRow,
    MetaRow,
    UTCDateTime,
)

__all__ = ["ARTICLES", "DELIVERIES", "FEEDS", "FILES", "HITS", "LEASES", "META", "UTCDateTime", "metadata"]

metadata = SQLModel.metadata


def _table(model: type[SQLModel]) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


ARTICLES = _table(ArticleRow)
HITS = _table(HitRow)
DELIVERIES = _table(DeliveryRow)
FILES = _table(FileRow)
FEEDS = _table(FeedRow)
LEASES = _table(LeaseRow)
META = _table(MetaRow)

"""Databases as news-monitor made them before migrations: ``create_all`` and a ``schema_version`` row.

Version 2 is today's tables without what revision 0003 added (leases);
version 1 also lacks what version 2 added, exactly as the old additive
upgrade found them.  ``early_v2`` is a version 2 database from before
``articles.authors`` arrived (the version number did not change then).
"""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlmodel import SQLModel

import monitor.store.tables  # noqa: F401  (the tables on SQLModel.metadata)

ADDED_IN_V2 = {
    "articles": ["story", "signature", "authors"],
    "feeds": [
        "fetch_url",
        "next_fetch_at",
        "disabled",
        "failing_since",
        "last_new",
        "last_new_at",
        "usual_gap",
        "health_alerted",
    ],
}
ADDED_IN_0003 = {
    "deliveries": ["lease_owner", "lease_expires"],
    "feeds": ["lease_owner", "lease_expires", "due_at"],
}


def make_legacy(engine: Engine, version: int, *, early_v2: bool = False) -> None:
    """An empty database turned into one the old ``prepare_schema`` left at ``version``."""
    SQLModel.metadata.create_all(engine)
    with engine.begin() as db:
        db.execute(text("DROP TABLE leases"))
        drop = {table: list(columns) for table, columns in ADDED_IN_0003.items()}
        if version == 1:
            db.execute(text("DROP INDEX ix_articles_story"))
            for table, columns in ADDED_IN_V2.items():
                drop.setdefault(table, []).extend(columns)
        elif early_v2:
            drop["articles"] = ["authors"]
        for table, columns in drop.items():
            for column in columns:
                db.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        db.execute(
            text("INSERT INTO monitor_meta (key, value) VALUES ('schema_version', :v)"), {"v": str(version)}
        )

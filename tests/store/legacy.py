"""Databases as news-monitor made them before migrations: tables, a ``schema_version`` row, no alembic.

Built by the revisions that describe those schemas (``0001`` is schema version 1,
``0002`` version 2), so later changes to the models cannot leak into them;
then alembic's own table goes and the old version marker comes.  ``early_v2``
is a version 2 database from before ``articles.authors`` arrived (the version
number did not change then).
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from monitor.store.schema import MIGRATIONS

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


def migrate(engine: Engine, revision: str) -> None:
    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def make_legacy(engine: Engine, version: int, *, early_v2: bool = False) -> None:
    """An empty database turned into one the old ``prepare_schema`` left at ``version``."""
    migrate(engine, "0001" if version == 1 else "0002")
    with engine.begin() as db:
        db.execute(text("DROP TABLE alembic_version"))
        if early_v2:
            db.execute(text("ALTER TABLE articles DROP COLUMN authors"))
        db.execute(
            text("INSERT INTO monitor_meta (key, value) VALUES ('schema_version', :v)"), {"v": str(version)}
        )

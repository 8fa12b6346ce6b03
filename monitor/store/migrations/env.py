"""How alembic reaches the database: the connection news-monitor hands it, or a URL.

``monitor db upgrade`` passes an open connection (already holding the
migration lock) in ``config.attributes["connection"]``.  A developer writing a
revision can instead run ``alembic -c alembic.ini revision --autogenerate``
with ``-x url=sqlite:///data/dev.db``.  Batch mode lets SQLite alter tables
(it cannot drop or change a column in place).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from monitor.store.searchindex import include_object
from monitor.store.tables import metadata

config = context.config


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
        include_object=include_object,  # the full-text index is not in the tables (0004)
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        run(given)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the database with -x url=... (e.g. -x url=sqlite:///data/dev.db)")
    engine = create_engine(url)
    with engine.connect() as connection:
        run(connection)
    engine.dispose()


main()

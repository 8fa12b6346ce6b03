"""Schema version 2: near-duplicate stories, authors, feed polling policy and health.

Databases made before migrations reached version 2 by adding columns one by
one (and ``articles.authors`` arrived after the version number did), so this
revision adds each column and index only where it is missing: on an adopted
database it completes whatever the old upgrade left out and keeps every row.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def columns() -> dict[str, list[sa.Column[object]]]:
    """New Column objects each time: a Column belongs to the one table it is added to."""
    return {
        "articles": [
            sa.Column("authors", sa.JSON(), nullable=True),
            sa.Column("story", sa.String(length=64), nullable=True),
            sa.Column("signature", sa.LargeBinary(), nullable=True),
        ],
        "feeds": [
            sa.Column("fetch_url", sa.Text(), nullable=True),
            sa.Column("next_fetch_at", sa.DateTime(), nullable=True),
            sa.Column("disabled", sa.Text(), nullable=True),
            sa.Column("failing_since", sa.DateTime(), nullable=True),
            # existing rows need a value: the server default fills them in
            sa.Column("last_new", sa.Integer(), nullable=False, server_default="0"),
            sa.Column("last_new_at", sa.DateTime(), nullable=True),
            sa.Column("usual_gap", sa.Float(), nullable=True),
            sa.Column("health_alerted", sa.String(length=16), nullable=True),
        ],
    }


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table, added in columns().items():
        have = {column["name"] for column in inspector.get_columns(table)}
        missing = [column for column in added if column.name not in have]
        if not missing:
            continue
        with op.batch_alter_table(table) as batch:
            for column in missing:
                batch.add_column(column)
    if "ix_articles_story" not in {index["name"] for index in inspector.get_indexes("articles")}:
        op.create_index("ix_articles_story", "articles", ["story"])


def downgrade() -> None:
    op.drop_index("ix_articles_story", table_name="articles")
    for table, added in columns().items():
        with op.batch_alter_table(table) as batch:
            for column in added:
                batch.drop_column(column.name)

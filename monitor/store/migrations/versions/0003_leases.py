"""Leases: several replicas on one PostgreSQL share the work, one holder at a time.

A delivery, a feed and a named task (a folder scan) can each be claimed by
one process (``lease_owner``) until ``lease_expires``; a replica that dies
simply stops renewing and its claims lapse.  ``feeds.due_at`` is when the
feed may next be claimed: set at claim time, so no replica fetches a feed
twice within its interval, even if the one that fetched it died.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("lease_expires", sa.DateTime(), nullable=True))
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("lease_expires", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("due_at", sa.DateTime(), nullable=True))
    op.create_table(
        "leases",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("expires", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("leases")
    with op.batch_alter_table("feeds") as batch:
        for name in ("due_at", "lease_expires", "lease_owner"):
            batch.drop_column(name)
    with op.batch_alter_table("deliveries") as batch:
        for name in ("lease_expires", "lease_owner"):
            batch.drop_column(name)

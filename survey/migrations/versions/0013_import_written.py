"""import jobs keep the response ids their committed transactions wrote (SQLite writes in parts)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("importjob", sa.Column("written", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # As 0012's downgrade: the older revisions' downgrades rebuild tables that other rows
        # point at, and SQLite ignores this pragma once the transaction started (at the first
        # revision's version update), so the newest revision switches it off.
        op.execute("PRAGMA foreign_keys = OFF")
    with op.batch_alter_table("importjob") as batch:
        batch.drop_column("written")

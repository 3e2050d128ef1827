"""the other OPDs' latest answers of a wave by one backward index scan (the pattern alarm)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_response_wave_time", "response", ["wave_id", "submitted_at", "id", "opd_id"]
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # As 0012's and 0013's downgrades: the older revisions' downgrades rebuild tables that
        # other rows point at, and SQLite ignores this pragma once the transaction started, so
        # the newest revision switches it off.
        op.execute("PRAGMA foreign_keys = OFF")
    op.drop_index("ix_response_wave_time", table_name="response")

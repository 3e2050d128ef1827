"""wavelogo: the evaluator's logo for the covers of a wave's reports (PNG or JPEG)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wavelogo",
        sa.Column("wave_id", sa.Integer(), nullable=False),
        sa.Column("media_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["wave_id"], ["wave.id"]),
        sa.PrimaryKeyConstraint("wave_id"),
    )


def downgrade() -> None:
    op.drop_table("wavelogo")

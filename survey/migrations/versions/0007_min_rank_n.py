"""wave.min_rank_n: the per-wave minimum number of respondents for an OPD to be ranked

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("wave", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("min_rank_n", sa.Integer(), server_default="15", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("wave", schema=None) as batch_op:
        batch_op.drop_column("min_rank_n")

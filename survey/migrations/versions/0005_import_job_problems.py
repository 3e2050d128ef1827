"""import job problems: why a job failed, as coded problems the page translates

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Jobs that failed before keep their English message; their list of problems is empty.
    with op.batch_alter_table("importjob", schema=None) as batch_op:
        batch_op.add_column(sa.Column("problems", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("importjob", schema=None) as batch_op:
        batch_op.drop_column("problems")

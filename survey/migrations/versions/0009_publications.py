"""publication, publicationfile: the frozen, versioned results of a published wave

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "publication",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wave_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("data_taken_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("ready_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("completed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("superseded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["wave_id"], ["wave.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("wave_id", "version", name="uq_publication_version"),
    )
    with op.batch_alter_table("publication", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_publication_wave_id"), ["wave_id"], unique=False)
    op.create_table(
        "publicationfile",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("publication_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("content_type", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("etag", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["publication_id"], ["publication.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("publication_id", "name", name="uq_publicationfile_name"),
    )
    with op.batch_alter_table("publicationfile", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_publicationfile_publication_id"), ["publication_id"], unique=False
        )
    # A wave published before versions existed gets its first version, still to be built from
    # its data as they stand (``ikm wave snapshot S``); until then its pages say "being
    # prepared" instead of vanishing. Its "data taken" time is its publication's.
    op.execute(
        "INSERT INTO publication (wave_id, version, status, done, total, created_at,"
        " data_taken_at) SELECT id, 1, 'building', 0, 0, COALESCE(published_at, created_at),"
        " COALESCE(published_at, created_at) FROM wave WHERE status = 'published'"
    )


def downgrade() -> None:
    with op.batch_alter_table("publicationfile", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_publicationfile_publication_id"))
    op.drop_table("publicationfile")
    with op.batch_alter_table("publication", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_publication_wave_id"))
    op.drop_table("publication")

"""field collection: service units, enumerators, short links, languages, multi-OPD sittings

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

OLD_ROLES = "role IN ('admin', 'evaluator', 'opd-head')"
NEW_ROLES = "role IN ('admin', 'evaluator', 'opd-head', 'enumerator')"


def upgrade() -> None:
    op.create_table(
        "serviceunit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("opd_id", sa.Integer(), nullable=False),
        sa.Column("slug", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["opd_id"], ["opd.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("opd_id", "slug", name="uq_serviceunit_slug"),
    )
    with op.batch_alter_table("serviceunit") as batch:
        batch.create_index(batch.f("ix_serviceunit_opd_id"), ["opd_id"], unique=False)
    op.create_table(
        "waveunit",
        sa.Column("wave_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("target_n", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["unit_id"], ["serviceunit.id"]),
        sa.ForeignKeyConstraint(["wave_id"], ["wave.id"]),
        sa.PrimaryKeyConstraint("wave_id", "unit_id"),
    )
    op.create_table(
        "enumeratorscope",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("wave_id", sa.Integer(), nullable=False),
        sa.Column("opd_id", sa.Integer(), nullable=True),
        sa.Column("granted_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("granted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["opd_id"], ["opd.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.ForeignKeyConstraint(["wave_id"], ["wave.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "wave_id", "opd_id", name="uq_enumeratorscope"),
    )
    with op.batch_alter_table("enumeratorscope") as batch:
        batch.create_index(batch.f("ix_enumeratorscope_user_id"), ["user_id"], unique=False)
        batch.create_index(batch.f("ix_enumeratorscope_wave_id"), ["wave_id"], unique=False)
    op.create_table(
        "shortlink",
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("wave_id", sa.Integer(), nullable=False),
        sa.Column("opd_id", sa.Integer(), nullable=True),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["opd_id"], ["opd.id"]),
        sa.ForeignKeyConstraint(["unit_id"], ["serviceunit.id"]),
        sa.ForeignKeyConstraint(["wave_id"], ["wave.id"]),
        sa.PrimaryKeyConstraint("code"),
    )
    with op.batch_alter_table("shortlink") as batch:
        batch.create_index(batch.f("ix_shortlink_wave_id"), ["wave_id"], unique=False)

    with op.batch_alter_table("questionnaire") as batch:
        batch.add_column(sa.Column("texts", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("element") as batch:
        batch.add_column(sa.Column("texts", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("wave") as batch:
        batch.add_column(
            sa.Column("multi_opd", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("kioskdevice") as batch:
        batch.add_column(sa.Column("unit_id", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("faces", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_foreign_key("fk_kioskdevice_unit_id", "serviceunit", ["unit_id"], ["id"])
    with op.batch_alter_table("response") as batch:
        batch.alter_column(
            "channel",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=8),
            type_=sqlmodel.sql.sqltypes.AutoString(length=16),
            existing_nullable=False,
        )
        batch.add_column(sa.Column("unit_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("enumerator_id", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("sitting", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
        batch.create_foreign_key("fk_response_unit_id", "serviceunit", ["unit_id"], ["id"])
        batch.create_foreign_key("fk_response_enumerator_id", "user", ["enumerator_id"], ["id"])
    with op.batch_alter_table("user") as batch:
        batch.drop_constraint("ck_user_role", type_="check")
        batch.create_check_constraint("ck_user_role", NEW_ROLES)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        # Dropping a column rebuilds the table on SQLite, and dropping a table that rows of
        # another point at (the built-in questionnaire's elements) fails while foreign keys
        # are enforced. The rebuilt tables keep every row, so nothing can dangle afterwards.
        op.execute("PRAGMA foreign_keys = OFF")
    with op.batch_alter_table("user") as batch:
        batch.drop_constraint("ck_user_role", type_="check")
        batch.create_check_constraint("ck_user_role", OLD_ROLES)
    with op.batch_alter_table("response") as batch:
        batch.drop_constraint("fk_response_enumerator_id", type_="foreignkey")
        batch.drop_constraint("fk_response_unit_id", type_="foreignkey")
        batch.drop_column("sitting")
        batch.drop_column("enumerator_id")
        batch.drop_column("unit_id")
        batch.alter_column(
            "channel",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=16),
            type_=sqlmodel.sql.sqltypes.AutoString(length=8),
            existing_nullable=False,
        )
    with op.batch_alter_table("kioskdevice") as batch:
        batch.drop_constraint("fk_kioskdevice_unit_id", type_="foreignkey")
        batch.drop_column("faces")
        batch.drop_column("unit_id")
    with op.batch_alter_table("wave") as batch:
        batch.drop_column("multi_opd")
    with op.batch_alter_table("element") as batch:
        batch.drop_column("texts")
    with op.batch_alter_table("questionnaire") as batch:
        batch.drop_column("texts")
    op.drop_table("shortlink")
    op.drop_table("enumeratorscope")
    op.drop_table("waveunit")
    op.drop_table("serviceunit")
    if sqlite:
        op.execute("PRAGMA foreign_keys = ON")

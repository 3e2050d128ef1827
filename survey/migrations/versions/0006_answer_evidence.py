"""answer evidence: the signals kept with each answer, kiosks, visit codes, shared limits,
alarms, staff sessions and the services an OPD lists

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ratecounter",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "bucket"),
    )
    with op.batch_alter_table("ratecounter", schema=None) as batch_op:
        batch_op.create_index("ix_ratecounter_bucket", ["bucket"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        # Counters of the last hour need no crash safety: unlogged, a counter's write costs no
        # WAL flush (a server crash empties the table, which only forgives an hour of limits).
        op.execute("ALTER TABLE ratecounter SET UNLOGGED")

    op.create_table(
        "opdservice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("opd_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["opd_id"],
            ["opd.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("opd_id", "name", name="uq_opdservice_name"),
    )
    with op.batch_alter_table("opdservice", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_opdservice_opd_id"), ["opd_id"], unique=False)

    op.create_table(
        "alarm",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wave_id", sa.Integer(), nullable=False),
        sa.Column("opd_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("raised_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("cleared_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("cleared_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["opd_id"],
            ["opd.id"],
        ),
        sa.ForeignKeyConstraint(
            ["wave_id"],
            ["wave.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alarm", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alarm_raised_at"), ["raised_at"], unique=False)
        batch_op.create_index("ix_alarm_wave_opd", ["wave_id", "opd_id"], unique=False)

    op.create_table(
        "kioskdevice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wave_id", sa.Integer(), nullable=False),
        sa.Column("opd_id", sa.Integer(), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("enrolled_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("enrolled_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("revoked_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["opd_id"],
            ["opd.id"],
        ),
        sa.ForeignKeyConstraint(
            ["wave_id"],
            ["wave.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("kioskdevice", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kioskdevice_wave_id"), ["wave_id"], unique=False)

    op.create_table(
        "staffsession",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("ended_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("staffsession", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staffsession_user_id"), ["user_id"], unique=False)

    op.create_table(
        "visitcode",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wave_id", sa.Integer(), nullable=False),
        sa.Column("opd_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("code_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["opd_id"],
            ["opd.id"],
        ),
        sa.ForeignKeyConstraint(
            ["wave_id"],
            ["wave.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("wave_id", "code_hash", name="uq_visitcode_hash"),
    )
    with op.batch_alter_table("visitcode", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visitcode_opd_id"), ["opd_id"], unique=False)

    with op.batch_alter_table("opd", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("service_hours", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )

    with op.batch_alter_table("response", schema=None) as batch_op:
        batch_op.add_column(sa.Column("device_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("verified", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("seconds", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("straightline", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("repeat_device", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("burst", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("off_hours", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("network", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )
        batch_op.create_foreign_key("fk_response_device_id", "kioskdevice", ["device_id"], ["id"])

    with op.batch_alter_table("wave", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "verification",
                sqlmodel.sql.sqltypes.AutoString(length=8),
                server_default="off",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("wave", schema=None) as batch_op:
        batch_op.drop_column("verification")

    with op.batch_alter_table("response", schema=None) as batch_op:
        batch_op.drop_constraint("fk_response_device_id", type_="foreignkey")
        batch_op.drop_column("network")
        batch_op.drop_column("off_hours")
        batch_op.drop_column("burst")
        batch_op.drop_column("repeat_device")
        batch_op.drop_column("straightline")
        batch_op.drop_column("seconds")
        batch_op.drop_column("verified")
        batch_op.drop_column("device_id")

    with op.batch_alter_table("opd", schema=None) as batch_op:
        batch_op.drop_column("service_hours")

    with op.batch_alter_table("visitcode", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visitcode_opd_id"))

    op.drop_table("visitcode")
    with op.batch_alter_table("staffsession", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staffsession_user_id"))

    op.drop_table("staffsession")
    with op.batch_alter_table("kioskdevice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kioskdevice_wave_id"))

    op.drop_table("kioskdevice")
    with op.batch_alter_table("alarm", schema=None) as batch_op:
        batch_op.drop_index("ix_alarm_wave_opd")
        batch_op.drop_index(batch_op.f("ix_alarm_raised_at"))

    op.drop_table("alarm")
    with op.batch_alter_table("opdservice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_opdservice_opd_id"))

    op.drop_table("opdservice")
    with op.batch_alter_table("ratecounter", schema=None) as batch_op:
        batch_op.drop_index("ix_ratecounter_bucket")

    op.drop_table("ratecounter")

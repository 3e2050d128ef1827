"""tallies: kept sufficient statistics per (wave, OPD, service unit, verified), backfilled;
an index of each OPD's responses by time (the dashboard's last answers, the alarms' series)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

NOT_APPLICABLE = 0
STAT_FIELDS = ("n", "n_answers", "n_both", "sums", "products", "pair_sums", "counts")


def _stats(x: np.ndarray, scale: int) -> dict[str, Any]:
    """Sufficient statistics of rows of answers (0 = no answer), as scoring.Aggregates has them.

    A frozen copy of their definition (scoring/aggregates.py), so that this revision computes
    the same figures whatever later code does.
    """
    d = (x > 0).astype(np.int64)
    k = x.shape[1]
    counts = np.zeros((k, scale), np.int64)
    for j in range(k):
        counts[j] = np.bincount(x[:, j], minlength=scale + 1)[1 : scale + 1]
    return {
        "n": int(d.any(axis=1).sum()),
        "n_answers": d.sum(axis=0),
        "n_both": d.T @ d,
        "sums": x.sum(axis=0),
        "products": x.T @ x,
        "pair_sums": x.T @ d,
        "counts": counts,
    }


def _wave_figures(
    bind: sa.engine.Connection, wave_id: int, positions: list[int], scale: int
) -> dict[tuple[int, int, bool], dict[str, Any]]:
    """Return a wave's figures by (OPD, unit or 0, verified), reading the answers in blocks."""
    k = len(positions)
    keyed: dict[tuple[int, int, bool], dict[str, Any]] = {}

    def figures(opd_id: Any, unit_id: Any, verified: Any) -> dict[str, Any]:
        key = (int(opd_id), int(unit_id), bool(verified))
        if key not in keyed:
            keyed[key] = {
                "responses": 0,
                "counted": 0,
                "flagged": Counter(),
                "not_applicable": np.zeros(k, np.int64),
                "stats": _stats(np.zeros((0, k), np.int64), scale),
            }
        return keyed[key]

    key = "opd_id, COALESCE(unit_id, 0), verified"
    for opd_id, unit_id, verified, status, reason, count in bind.execute(
        sa.text(
            f"SELECT {key}, status, flag_reason, COUNT(*) FROM response "  # nosec B608: fixed words
            f"WHERE wave_id = :w GROUP BY {key}, status, flag_reason"
        ),
        {"w": wave_id},
    ):
        target = figures(opd_id, unit_id, verified)
        target["responses"] += int(count)
        if status == "counted":
            target["counted"] += int(count)
        else:
            target["flagged"][str(reason or "manual")] += int(count)
    if not k:
        return keyed
    answers = ", ".join(f"a{p}" for p in positions)
    # A driver cursor: plain tuples, which NumPy converts many times faster than rows.
    cursor = bind.connection.cursor()
    try:
        cursor.execute(
            f"SELECT {key}, {answers} FROM response "  # nosec B608: fixed words, integer id
            f"WHERE wave_id = {int(wave_id)} AND status = 'counted'"
        )
        while part := cursor.fetchmany(20_000):
            block = np.array(part, dtype=np.float64)  # None becomes NaN
            keys, group = np.unique(block[:, :3].astype(np.int64), axis=0, return_inverse=True)
            order = np.argsort(group.reshape(-1), kind="stable")
            block = block[order]
            starts = np.searchsorted(group.reshape(-1)[order], np.arange(len(keys)))
            chose = (block[:, 3:] == NOT_APPLICABLE).astype(np.float64)
            x = np.nan_to_num(block[:, 3:], nan=0.0)
            d = (x > 0).astype(np.float64)
            z = np.concatenate([x, d, d.any(axis=1, keepdims=True)], axis=1)
            # Every row's outer product, summed per key: whole numbers below 2**53, exact.
            gram = np.add.reduceat(z[:, :, None] * z[:, None, :], starts, axis=0)
            gram = np.rint(gram).astype(np.int64)
            na = np.rint(np.add.reduceat(chose, starts, axis=0)).astype(np.int64)
            codes = (
                (
                    np.arange(len(keys)).repeat(np.diff(np.append(starts, len(x))))[:, None] * k
                    + np.arange(k)
                )
                * scale
                + x.astype(np.int64)
                - 1
            )
            counts = np.bincount(codes[x > 0], minlength=len(keys) * k * scale).reshape(
                len(keys), k, scale
            )
            for i, (opd_id, unit_id, verified) in enumerate(keys.tolist()):
                g = gram[i]
                part_stats = {
                    "n": int(g[2 * k, 2 * k]),
                    "n_answers": g[2 * k, k : 2 * k],
                    "n_both": g[k : 2 * k, k : 2 * k],
                    "sums": g[2 * k, :k],
                    "products": g[:k, :k],
                    "pair_sums": g[:k, k : 2 * k],
                    "counts": counts[i],
                }
                target = figures(opd_id, unit_id, verified)
                target["not_applicable"] += na[i]
                target["stats"] = {f: target["stats"][f] + part_stats[f] for f in STAT_FIELDS}
    finally:
        cursor.close()
    return keyed


def _backfill(bind: sa.engine.Connection) -> None:
    """Count every wave's responses into the new table."""
    tally = sa.table(
        "tally",
        *(sa.column(c) for c in ("wave_id", "opd_id", "unit_id", "verified", "responses")),
        sa.column("counted"),
        *(sa.column(c, sa.JSON) for c in ("flagged", "not_applicable", "stats")),
    )
    waves = bind.execute(
        sa.text(
            "SELECT wave.id, questionnaire.scale_points, wave.questionnaire_id FROM wave "
            "JOIN questionnaire ON questionnaire.id = wave.questionnaire_id ORDER BY wave.id"
        )
    ).all()
    for wave_id, scale, questionnaire_id in waves:
        positions = [
            int(p)
            for (p,) in bind.execute(
                sa.text(
                    "SELECT position FROM element WHERE questionnaire_id = :q AND kind = 'ikm' "
                    "ORDER BY position"
                ),
                {"q": questionnaire_id},
            )
        ]
        inserts = [
            {
                "wave_id": wave_id,
                "opd_id": key[0],
                "unit_id": key[1],
                "verified": key[2],
                "responses": figures["responses"],
                "counted": figures["counted"],
                "flagged": {r: c for r, c in sorted(figures["flagged"].items())},
                "not_applicable": figures["not_applicable"].tolist(),
                "stats": {
                    f: int(v) if f == "n" else np.asarray(v).tolist()
                    for f, v in figures["stats"].items()
                },
            }
            for key, figures in sorted(_wave_figures(bind, wave_id, positions, scale).items())
        ]
        if inserts:
            bind.execute(tally.insert(), inserts)


def upgrade() -> None:
    op.create_table(
        "tally",
        sa.Column("wave_id", sa.Integer(), nullable=False),
        sa.Column("opd_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("responses", sa.Integer(), nullable=False),
        sa.Column("counted", sa.Integer(), nullable=False),
        sa.Column("flagged", sa.JSON(), nullable=False),
        sa.Column("not_applicable", sa.JSON(), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["opd_id"], ["opd.id"]),
        sa.ForeignKeyConstraint(["wave_id"], ["wave.id"]),
        sa.PrimaryKeyConstraint("wave_id", "opd_id", "unit_id", "verified"),
    )
    _backfill(op.get_bind())
    op.create_index(
        "ix_response_wave_opd_time", "response", ["wave_id", "opd_id", "submitted_at"], unique=False
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # The older revisions' downgrades rebuild tables that other rows point at, with foreign
        # keys off; SQLite ignores that pragma inside a transaction, which starts at the first
        # revision's version update, so it is switched off here, before. Each new connection
        # switches it on again (survey.core.database).
        op.execute("PRAGMA foreign_keys = OFF")
    op.drop_index("ix_response_wave_opd_time", table_name="response")
    op.drop_table("tally")

"""The kept sufficient statistics of a wave's responses (``Tally`` rows), so scores cost O(OPDs).

One row per (wave, OPD, service unit or 0, verified) holds what scoring needs of its responses:
how many there are, how many are counted, the flagged ones by reason, the counted ones that
chose "not applicable" per IKM element, and :class:`scoring.Aggregates` of the counted answers
to the wave's questionnaire's IKM elements (in questionnaire order). Every path that writes
responses calls this module in its own transaction, before its commit:

* :func:`rows_added` after inserting rows (a submission, a bulk import, the demo);
* :func:`rows_changed` around a change of status (flag, restore, the automatic rules);
* :func:`forget_wave` when a wave and its responses are deleted.

Each change locks the rows it touches (``SELECT ... FOR UPDATE`` on PostgreSQL, in key order so
two writers cannot deadlock; SQLite serialises writers), reads them, adds the change and writes
them back; a key with no row yet is inserted with ``INSERT ... ON CONFLICT DO NOTHING`` and, if
another writer inserted it meanwhile, locked and updated instead. So concurrent writers lose
nothing. :func:`recount` computes the same figures from the rows, :func:`rebuild` replaces the
kept ones by it, :func:`differences` names the keys where they differ (``ikm aggregates``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np
import orjson
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlmodel import Session, col, select

from survey.core.models import MAX_ITEMS, Element, Questionnaire, Response, Tally, Wave
from survey.core.notapplicable import NOT_APPLICABLE

# The statistics of scoring.Aggregates, in its order (as_dict keys).
STAT_FIELDS = ("n", "n_answers", "n_both", "sums", "products", "pair_sums", "counts")
TABLE: sa.Table = Tally.__table__  # type: ignore[attr-defined]  # added by SQLModel
RESPONSES: sa.Table = Response.__table__  # type: ignore[attr-defined]
# Columns of a response that the figures depend on.
KEY_COLUMNS = ("wave_id", "opd_id", "unit_id", "verified", "status", "flag_reason")
ANSWER_COLUMNS = tuple(f"a{p}" for p in range(1, MAX_ITEMS + 1))
FIGURE_COLUMNS = KEY_COLUMNS + ANSWER_COLUMNS
_IN_CHUNK = 500  # ids per IN (...) list

Key = tuple[int, int, int, bool]  # (wave id, OPD id, unit id or 0, verified)


@dataclass(frozen=True)
class Layout:
    """What a wave's figures are over: its IKM elements' positions and the scale's points."""

    positions: tuple[int, ...]
    scale_points: int

    @property
    def k(self) -> int:
        """Number of IKM elements."""
        return len(self.positions)


def layout(session: Session, *, wave_id: int) -> Layout:
    """Return the IKM positions and scale of the wave's questionnaire (fixed once answered)."""
    query = (
        select(Element.position, Questionnaire.scale_points)
        .join(Questionnaire, col(Questionnaire.id) == Element.questionnaire_id)
        .join(Wave, col(Wave.questionnaire_id) == Questionnaire.id)
        .where(Wave.id == wave_id, Element.kind == "ikm")
        .order_by(col(Element.position))
    )
    found = session.exec(query).all()
    if found:
        return Layout(tuple(int(p) for p, _ in found), int(found[0][1]))
    points = session.exec(
        select(Questionnaire.scale_points)
        .join(Wave, col(Wave.questionnaire_id) == Questionnaire.id)
        .where(Wave.id == wave_id)
    ).first()
    return Layout((), int(points or 4))


def _zero_stats(k: int, m: int) -> dict[str, Any]:
    zk, zkk = np.zeros(k, np.int64), np.zeros((k, k), np.int64)
    return {
        "n": 0,
        "n_answers": zk,
        "n_both": zkk,
        "sums": zk.copy(),
        "products": zkk.copy(),
        "pair_sums": zkk.copy(),
        "counts": np.zeros((k, m), np.int64),
    }


@dataclass
class Figures:
    """The figures of one key, or a change to them (then they may be negative)."""

    k: int
    scale_points: int
    responses: int = 0
    counted: int = 0
    flagged: Counter[str] = field(default_factory=Counter)
    not_applicable: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    stats: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.not_applicable.shape != (self.k,):
            self.not_applicable = np.zeros(self.k, np.int64)
        if not self.stats:
            self.stats = _zero_stats(self.k, self.scale_points)

    def add(self, other: Figures, sign: int = 1) -> None:
        """Add ``other`` (times ``sign``, +1 or -1) to these figures, in place."""
        if (other.k, other.scale_points) != (self.k, self.scale_points):
            raise ValueError(
                f"figures over {other.k} elements x {other.scale_points} points cannot be "
                f"added to figures over {self.k} x {self.scale_points}"
            )
        self.responses += sign * other.responses
        self.counted += sign * other.counted
        for reason, count in other.flagged.items():
            self.flagged[reason] += sign * count
        self.flagged = Counter({r: c for r, c in self.flagged.items() if c})
        self.not_applicable = self.not_applicable + sign * other.not_applicable
        self.stats = {name: self.stats[name] + sign * other.stats[name] for name in STAT_FIELDS}

    def is_zero(self) -> bool:
        """True when these figures are all zero (no response, or a change that changes nothing)."""
        return (
            self.responses == 0
            and self.counted == 0
            and not any(self.flagged.values())
            and not np.any(self.not_applicable)
            and all(not np.any(self.stats[name]) for name in STAT_FIELDS)
        )

    def values(self) -> dict[str, Any]:
        """Return the column values of a ``Tally`` row (plain ints and lists, for JSON)."""
        return {
            "responses": int(self.responses),
            "counted": int(self.counted),
            "flagged": {r: int(c) for r, c in sorted(self.flagged.items()) if c},
            "not_applicable": [int(v) for v in self.not_applicable],
            "stats": {
                name: int(self.stats[name])
                if name == "n"
                else np.asarray(self.stats[name]).tolist()
                for name in STAT_FIELDS
            },
        }

    @classmethod
    def from_values(cls, values: Mapping[Any, Any], lay: Layout) -> Figures:
        """Return the figures of a stored ``Tally`` row (its column values)."""
        stats = values["stats"] or {}
        if stats and np.asarray(stats["counts"]).shape != (lay.k, lay.scale_points):
            raise ValueError(
                f"kept statistics over {np.asarray(stats['counts']).shape} do not fit the "
                f"wave's {lay.k} elements x {lay.scale_points} points; run ikm aggregates rebuild"
            )
        return cls(
            k=lay.k,
            scale_points=lay.scale_points,
            responses=int(values["responses"]),
            counted=int(values["counted"]),
            flagged=Counter({str(r): int(c) for r, c in (values["flagged"] or {}).items()}),
            not_applicable=np.asarray(values["not_applicable"] or [0] * lay.k, dtype=np.int64),
            stats={
                name: (int(stats[name]) if name == "n" else np.asarray(stats[name], np.int64))
                for name in STAT_FIELDS
            }
            if stats
            else {},
        )

    def aggregates(self) -> Any:
        """Return the counted answers' statistics as :class:`scoring.Aggregates`."""
        from scoring import Aggregates

        return Aggregates(**self.stats)


def _stats_of(group: NDArray[np.int64], answers: NDArray[np.float64], groups: int, m: int) -> Any:
    """Return scoring.Aggregates per group of rows (NaN = no answer)."""
    from scoring import aggregate_units

    return aggregate_units(group, answers, groups, scale_points=m)


def figures_of(
    rows: Iterable[Mapping[str, Any]], layouts: Mapping[int, Layout]
) -> dict[Key, Figures]:
    """Return the figures of response rows (dicts of column values) by key.

    A missing ``status`` is "counted", a missing ``verified`` False and a missing ``unit_id``
    none, as the table's defaults are.
    """
    keyed: dict[Key, Figures] = {}
    # Per key: the IKM answers of its counted rows (NaN for no answer and "not applicable").
    answered: dict[Key, list[list[float]]] = {}
    for row in rows:
        wave_id = int(row["wave_id"])
        lay = layouts[wave_id]
        key = (wave_id, int(row["opd_id"]), int(row.get("unit_id") or 0), bool(row.get("verified")))
        figures = keyed.get(key)
        if figures is None:
            figures = keyed[key] = Figures(lay.k, lay.scale_points)
            answered[key] = []
        figures.responses += 1
        if (row.get("status") or "counted") != "counted":
            figures.flagged[str(row.get("flag_reason") or "manual")] += 1
            continue
        figures.counted += 1
        values = [row.get(f"a{p}") for p in lay.positions]
        chose = [v == NOT_APPLICABLE for v in values]
        if any(chose):
            figures.not_applicable = figures.not_applicable + np.array(chose, np.int64)
        answered[key].append(
            [np.nan if v is None or v == NOT_APPLICABLE else float(v) for v in values]
        )
    for key, rows_of_key in answered.items():
        figures = keyed[key]
        if len(rows_of_key) == 1 and figures.k:  # one answer, as the survey page stores it
            figures.stats = _one_row_stats(rows_of_key[0], figures.scale_points)
        elif rows_of_key and figures.k:
            arr = np.array(rows_of_key, dtype=np.float64)
            (agg,) = _stats_of(np.zeros(len(arr), np.int64), arr, 1, figures.scale_points)
            figures.stats = {name: getattr(agg, name) for name in STAT_FIELDS}
    return keyed


def _one_row_stats(values: Sequence[float], m: int) -> dict[str, Any]:
    """The statistics of a single row of answers (NaN = none), as :func:`_stats_of` gives
    them, without its machinery for many rows (a tenth of the cost of storing an answer)."""
    row = np.asarray(values, dtype=np.float64)
    given = ~np.isnan(row)
    answered = given.astype(np.int64)
    x = np.where(given, row, 0.0).astype(np.int64)
    counts = np.zeros((row.size, m), np.int64)
    counts[np.flatnonzero(given), x[given] - 1] = 1
    return {
        "n": int(given.any()),
        "n_answers": answered,
        "n_both": np.multiply.outer(answered, answered),
        "sums": x,
        "products": np.multiply.outer(x, x),
        "pair_sums": np.multiply.outer(x, answered),
        "counts": counts,
    }


def figures_of_tuples(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], layouts: Mapping[int, Layout]
) -> dict[Key, Figures]:
    """Return what :func:`figures_of` returns for rows given as tuples of ``columns``' values.

    The bulk insert's form: one pass to key the rows, then NumPy for the answers (a tenth of
    :func:`figures_of`'s time on 100,000 rows). Columns left out take the table's defaults,
    as there; answer columns left out are no answer.
    """
    index = {name: i for i, name in enumerate(columns)}
    w, o = index["wave_id"], index["opd_id"]
    u, v = index.get("unit_id"), index.get("verified")
    s, f = index.get("status"), index.get("flag_reason")
    slots: dict[Key, int] = {}
    found: list[Figures] = []
    group = np.empty(len(rows), np.int64)
    counted = np.ones(len(rows), bool)
    for i, row in enumerate(rows):
        key = (
            int(row[w]),
            int(row[o]),
            int(row[u] or 0) if u is not None else 0,
            bool(row[v]) if v is not None else False,
        )
        slot = slots.get(key)
        if slot is None:
            slot = slots[key] = len(found)
            lay = layouts[key[0]]
            found.append(Figures(lay.k, lay.scale_points))
        group[i] = slot
        if s is not None and (row[s] or "counted") != "counted":
            counted[i] = False
            found[slot].flagged[str((row[f] if f is not None else None) or "manual")] += 1
    responses = np.bincount(group, minlength=len(found))
    counts = np.bincount(group[counted], minlength=len(found))
    for slot, figures in enumerate(found):
        figures.responses = int(responses[slot])
        figures.counted = int(counts[slot])
    keys = list(slots)
    for wave_id in sorted({key[0] for key in keys}):
        lay = layouts[wave_id]
        if not lay.k:
            continue
        in_wave = np.array([key[0] == wave_id for key in keys], bool)[group] & counted
        chosen = np.flatnonzero(in_wave)
        if not len(chosen):
            continue
        places = [index.get(f"a{p}") for p in lay.positions]
        taken = [i for i in places if i is not None]
        answers = np.full((len(chosen), lay.k), np.nan)
        if taken:
            pick = itemgetter(*taken)
            values = np.array([pick(rows[i]) for i in chosen.tolist()], np.float64)
            answers[:, [j for j, i in enumerate(places) if i is not None]] = values.reshape(
                len(chosen), len(taken)
            )
        chose = answers == NOT_APPLICABLE
        answers[chose] = np.nan
        slots_used, local = np.unique(group[chosen], return_inverse=True)
        local = local.reshape(-1)
        stats = _stats_of(local, answers, len(slots_used), lay.scale_points)
        # Per slot and element: the counted rows that chose "not applicable".
        not_applicable = np.stack(
            [np.bincount(local[chose[:, j]], minlength=len(slots_used)) for j in range(lay.k)],
            axis=1,
        ).astype(np.int64)
        for at, (slot, agg) in enumerate(zip(slots_used.tolist(), stats, strict=True)):
            figures = found[slot]
            figures.not_applicable = not_applicable[at]
            figures.stats = {name: getattr(agg, name) for name in STAT_FIELDS}
    return {key: found[slot] for key, slot in slots.items()}


def _layouts(session: Session, wave_ids: Iterable[int]) -> dict[int, Layout]:
    return {w: layout(session, wave_id=w) for w in set(wave_ids)}


# One key's row, by bound parameters: built once, not at every stored answer.
_KEY_IS = (
    TABLE.c.wave_id == sa.bindparam("w"),
    TABLE.c.opd_id == sa.bindparam("o"),
    TABLE.c.unit_id == sa.bindparam("u"),
    TABLE.c.verified == sa.bindparam("v"),
)
_LOCK_ROW = sa.select(TABLE).where(*_KEY_IS).with_for_update()
_DELETE_ROW = sa.delete(TABLE).where(*_KEY_IS)
_VALUE_COLUMNS = ("responses", "counted", "flagged", "not_applicable", "stats")
_UPDATE_ROW = (
    sa.update(TABLE)
    .where(*_KEY_IS)
    .values({c: sa.bindparam(f"new_{c}", type_=TABLE.c[c].type) for c in _VALUE_COLUMNS})
)


def autocommit(session: Session) -> bool:
    """Tell whether the session's connection runs each statement in a transaction of its own."""
    options = session.connection().get_execution_options()
    return bool(options.get("isolation_level") == "AUTOCOMMIT")


def apply(session: Session, changes: Mapping[Key, Figures]) -> None:
    """Add each key's change to its kept row, locking it; no commit (the caller's transaction).

    Keys are taken in order, so two transactions lock their rows in the same order. Refused
    on a connection in autocommit mode: the read and the write of a kept row would then be
    two transactions, and two concurrent writers would each add to the same old figures (one
    change lost), besides the rows changing without their figures if the second failed.
    """
    if autocommit(session):
        raise RuntimeError(
            "the kept statistics change in the writer's transaction, not in autocommit"
        )
    for key in sorted(changes):
        change = changes[key]
        if change.is_zero():
            continue
        wave_id, opd_id, unit_id, verified = key
        where = {"w": wave_id, "o": opd_id, "u": unit_id, "v": verified}
        lay = Layout(tuple(range(1, change.k + 1)), change.scale_points)
        while True:
            found = session.execute(_LOCK_ROW, where).first()
            if found is None:
                fresh = Figures(change.k, change.scale_points)
                fresh.add(change)
                _check_not_negative(fresh, key)
                insert = _insert_ignoring_conflict(session).values(
                    wave_id=wave_id, opd_id=opd_id, unit_id=unit_id, verified=verified,
                    **fresh.values(),
                )  # fmt: skip
                if session.execute(insert.returning(TABLE.c.wave_id)).first() is not None:
                    break
                continue  # another writer inserted it meanwhile: lock theirs and add to it
            kept = Figures.from_values(found._mapping, lay)
            kept.add(change)
            _check_not_negative(kept, key)
            if kept.responses == 0 and kept.is_zero():
                session.execute(_DELETE_ROW, where)
            else:
                new = {f"new_{column}": value for column, value in kept.values().items()}
                session.execute(_UPDATE_ROW, {**where, **new})
            break


def _insert_ignoring_conflict(session: Session) -> Any:
    """Return ``INSERT INTO tally ... ON CONFLICT DO NOTHING`` for the session's backend."""
    # The dialects' modules are imported here, not with this module: the PostgreSQL one
    # costs about 26 ms, a seventieth of ``ikm score`` on SQLite, which never needs it.
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(TABLE).on_conflict_do_nothing()
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(TABLE).on_conflict_do_nothing()


def _check_not_negative(figures: Figures, key: Key) -> None:
    """Refuse a change that would take a figure below zero (the kept rows were wrong)."""
    if (
        figures.responses < 0
        or figures.counted < 0
        or any(c < 0 for c in figures.flagged.values())
        or np.any(figures.not_applicable < 0)
        or any(np.any(np.asarray(figures.stats[name]) < 0) for name in STAT_FIELDS)
    ):
        raise ValueError(
            f"kept statistics of {key} would go below zero; run ikm aggregates rebuild"
        )


def rows_added(
    session: Session,
    rows: Iterable[Mapping[str, Any]],
    layouts: Mapping[int, Layout] | None = None,
) -> None:
    """Add newly inserted response rows (dicts of column values) to the kept figures.

    ``layouts``: the waves' layouts when the caller keeps them (the survey page keeps its
    questionnaire's, as it keeps its form); the others are read."""
    rows = list(rows)
    if rows:
        known = layouts or {}
        missing = {int(r["wave_id"]) for r in rows} - known.keys()
        apply(session, figures_of(rows, {**known, **_layouts(session, missing)}))


def figures_of_new_rows(
    session: Session, rows: Sequence[Mapping[str, Any]], into: dict[Key, Figures]
) -> None:
    """Add the figures of new rows to ``into``, for one :func:`apply` after several batches
    (each transaction then locks its keys once, in order, so two bulk inserts cannot
    deadlock)."""
    for key, figures in figures_of(rows, _layouts(session, (r["wave_id"] for r in rows))).items():
        if key in into:
            into[key].add(figures)
        else:
            into[key] = figures


def rows_changed(
    session: Session,
    before: Sequence[Mapping[str, Any]],
    after: Sequence[Mapping[str, Any]],
) -> None:
    """Replace rows as they were (``before``) by what they became (``after``) in the figures.

    A deleted row appears only in ``before``, a new one only in ``after``.
    """
    if not before and not after:
        return
    layouts = _layouts(session, (r["wave_id"] for r in [*before, *after]))
    changes = figures_of(after, layouts)
    for key, figures in figures_of(before, layouts).items():
        lay = layouts[key[0]]
        changes.setdefault(key, Figures(lay.k, lay.scale_points)).add(figures, -1)
    apply(session, changes)


def locked_rows(session: Session, *conditions: sa.ColumnElement[bool]) -> list[dict[str, Any]]:
    """Return (and lock, on PostgreSQL) the responses matching ``conditions`` as column dicts.

    Holds the columns the figures depend on, and ``id``.
    """
    columns = [RESPONSES.c.id, *(RESPONSES.c[name] for name in FIGURE_COLUMNS)]
    query = sa.select(*columns).where(*conditions).order_by(RESPONSES.c.id).with_for_update()
    return [dict(row._mapping) for row in session.execute(query)]


def ids_condition(ids: Sequence[int]) -> sa.ColumnElement[bool]:
    """Return ``id IN (...)`` for these response ids, in chunks the backends accept."""
    chunks = [ids[i : i + _IN_CHUNK] for i in range(0, len(ids), _IN_CHUNK)]
    return sa.or_(sa.false(), *(RESPONSES.c.id.in_(chunk) for chunk in chunks))


def forget_wave(session: Session, *, wave_id: int) -> None:
    """Delete the kept figures of a wave (with its responses); no commit."""
    session.execute(sa.delete(TABLE).where(TABLE.c.wave_id == wave_id))


# --- Responses written through the ORM's unit of work -----------------------------------------

_PENDING = "tallies.pending"  # session.info key: (before, after) rows of the flush under way


def _row_of(obj: Response, *, old: bool) -> dict[str, Any]:
    """Return the figure columns of a Response object, as it is or as it was loaded."""
    state = sa.inspect(obj)
    row: dict[str, Any] = {}
    for name in FIGURE_COLUMNS:
        value = getattr(obj, name)
        if old:
            history = state.attrs[name].history
            if history.deleted:
                value = history.deleted[0]
        row[name] = value
    return row


def collect_flush(session: Session) -> None:
    """Note the Response objects a flush is about to insert, change or delete (before_flush).

    ``session.add(Response(...))``, a changed attribute of a loaded response and
    ``session.delete(response)`` reach the figures this way; Core statements (bulk inserts,
    ``UPDATE ... WHERE``) call :func:`rows_added` or :func:`rows_changed` themselves.
    """
    before: list[dict[str, Any]] = []
    after: list[dict[str, Any]] = []
    for obj in session.new:
        if isinstance(obj, Response):
            after.append(_row_of(obj, old=False))
    for obj in session.deleted:
        if isinstance(obj, Response):
            before.append(_row_of(obj, old=True))
    for obj in session.dirty:
        if isinstance(obj, Response) and session.is_modified(obj):
            old, new = _row_of(obj, old=True), _row_of(obj, old=False)
            if old != new:
                before.append(old)
                after.append(new)
    if before or after:
        pending = session.info.setdefault(_PENDING, ([], []))
        pending[0].extend(before)
        pending[1].extend(after)


def apply_flush(session: Session) -> None:
    """Apply what :func:`collect_flush` noted, once the flush wrote the rows (after_flush)."""
    pending = session.info.pop(_PENDING, None)
    if pending is not None:
        rows_changed(session, pending[0], pending[1])


def drop_pending(session: Session) -> None:
    """Forget what a failed flush noted (its rows were not written)."""
    session.info.pop(_PENDING, None)


# --- Recount, rebuild, verify ------------------------------------------------------------------


def recount(session: Session, *, wave_id: int) -> dict[Key, Figures]:
    """Return the figures of the wave's responses computed from the rows themselves.

    Three grouped queries for the counts and one pass over the counted answers (NumPy) for the
    statistics: seconds for a million responses.
    """
    lay = layout(session, wave_id=wave_id)
    unit = sa.func.coalesce(RESPONSES.c.unit_id, 0)
    key_columns = (RESPONSES.c.opd_id, unit, RESPONSES.c.verified)
    in_wave = RESPONSES.c.wave_id == wave_id
    found: dict[Key, Figures] = {}

    def figures(opd_id: Any, unit_id: Any, verified: Any) -> Figures:
        key = (wave_id, int(opd_id), int(unit_id), bool(verified))
        if key not in found:
            found[key] = Figures(lay.k, lay.scale_points)
        return found[key]

    by_status = sa.select(
        *key_columns, RESPONSES.c.status, RESPONSES.c.flag_reason, sa.func.count()
    ).where(in_wave)
    for opd_id, unit_id, verified, status, reason, count in session.execute(
        by_status.group_by(*key_columns, RESPONSES.c.status, RESPONSES.c.flag_reason)
    ):
        target = figures(opd_id, unit_id, verified)
        target.responses += int(count)
        if status == "counted":
            target.counted += int(count)
        else:
            target.flagged[str(reason or "manual")] += int(count)
    if not lay.k:
        return found
    counted = sa.and_(in_wave, RESPONSES.c.status == "counted")
    chose = [
        sa.func.sum(sa.case((RESPONSES.c[f"a{p}"] == NOT_APPLICABLE, 1), else_=0))
        for p in lay.positions
    ]
    for opd_id, unit_id, verified, *counts in session.execute(
        sa.select(*key_columns, *chose).where(counted).group_by(*key_columns)
    ):
        figures(opd_id, unit_id, verified).not_applicable = np.array(
            [int(c or 0) for c in counts], np.int64
        )
    answers = ", ".join(f"a{p}" for p in lay.positions)
    # A driver cursor: plain tuples, which NumPy converts many times faster than rows.
    cursor = session.connection().connection.cursor()
    try:
        cursor.execute(
            f"SELECT opd_id, COALESCE(unit_id, 0), verified, {answers} FROM response "  # nosec B608
            f"WHERE wave_id = {int(wave_id)} AND status = 'counted'"  # fixed words, int id
        )
        rows = cursor.fetchall()
    finally:
        cursor.close()
    if rows:
        # None becomes NaN in a float array; "not applicable" (0) is no answer either.
        arr = np.array(rows, dtype=np.float64)
        arr[:, 3:][arr[:, 3:] == NOT_APPLICABLE] = np.nan
        keys, group = np.unique(arr[:, :3].astype(np.int64), axis=0, return_inverse=True)
        stats = _stats_of(group.reshape(-1), arr[:, 3:], len(keys), lay.scale_points)
        for (opd_id, unit_id, verified), agg in zip(keys.tolist(), stats, strict=True):
            figures(opd_id, unit_id, verified).stats = {
                name: getattr(agg, name) for name in STAT_FIELDS
            }
    return found


def kept(
    session: Session, *, wave_id: int, lay: Layout | None = None, opd_id: int | None = None
) -> dict[Key, Figures]:
    """Return the kept figures of the wave by key (a few rows per OPD); ``opd_id``: of that
    OPD only."""
    lay = lay or layout(session, wave_id=wave_id)
    query = sa.select(TABLE).where(TABLE.c.wave_id == wave_id)
    if opd_id is not None:
        query = query.where(TABLE.c.opd_id == opd_id)
    return {
        (wave_id, int(row.opd_id), int(row.unit_id), bool(row.verified)): Figures.from_values(
            row._mapping, lay
        )
        for row in session.execute(query)
    }


@dataclass(frozen=True)
class Stacked:
    """A wave's kept figures as arrays: row i of each is key i's (keys in key order)."""

    keys: list[Key]
    flagged: list[dict[str, int]]
    not_applicable: NDArray[np.int64]  # (rows, k)
    stats: dict[str, NDArray[np.int64]]  # each STAT_FIELDS figure stacked over the rows


def kept_stacked(session: Session, *, wave_id: int, lay: Layout) -> Stacked:
    """Return the kept figures of the wave stacked in arrays (what :func:`kept` returns, without
    one object per row: the scores of 500 OPDs read them at every dashboard refresh)."""
    query = (
        sa.select(
            TABLE.c.opd_id,
            TABLE.c.unit_id,
            TABLE.c.verified,
            TABLE.c.flagged,
            TABLE.c.not_applicable,
            # As text, parsed by orjson: at 500 OPDs, json's parsing was a sixth of a refresh.
            sa.cast(TABLE.c.stats, sa.Text).label("stats"),
        )
        .where(TABLE.c.wave_id == wave_id)
        .order_by(TABLE.c.opd_id, TABLE.c.unit_id, TABLE.c.verified)
    )
    found = session.execute(query).all()
    zero = _zero_stats(lay.k, lay.scale_points)
    stats_of = [(orjson.loads(row.stats) if row.stats else None) or zero for row in found]

    def stacked(values: list[Any], shape: tuple[int, ...]) -> NDArray[np.int64]:
        if not values:
            return np.zeros((0, *shape), np.int64)
        try:
            arr = np.array(values, dtype=np.int64)
        except ValueError:
            arr = np.zeros(0, np.int64)  # ragged: figures of another layout
        if arr.shape != (len(values), *shape):
            raise ValueError(
                f"kept statistics do not fit the wave's {lay.k} elements x {lay.scale_points} "
                "points; run ikm aggregates rebuild"
            )
        return arr

    stats = {
        name: stacked([s[name] for s in stats_of], np.shape(zero[name])) for name in STAT_FIELDS
    }
    not_applicable = stacked([row.not_applicable or [0] * lay.k for row in found], (lay.k,))
    return Stacked(
        keys=[(wave_id, int(r.opd_id), int(r.unit_id), bool(r.verified)) for r in found],
        flagged=[{str(k): int(v) for k, v in (r.flagged or {}).items()} for r in found],
        not_applicable=not_applicable,
        stats=stats,
    )


def _wave_ids(session: Session, wave_id: int | None) -> list[int]:
    if wave_id is not None:
        return [wave_id]
    return [int(w or 0) for w in session.exec(select(Wave.id).order_by(col(Wave.id))).all()]


def _lock(session: Session, mode: str) -> None:
    """On PostgreSQL, lock the kept figures against writers for the rest of the transaction.

    Writers lock their rows of the table (``ROW SHARE``/``ROW EXCLUSIVE``), so ``EXCLUSIVE``
    makes them wait for a rebuild, and ``SHARE`` for a verification, to see every answer
    stored before it and none stored during it. SQLite has one writer at a time anyway.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text(f"LOCK TABLE tally IN {mode} MODE"))


def rebuild(session: Session, *, wave_id: int | None = None) -> int:
    """Replace the kept figures of one wave (or all) by a recount; return the rows written.

    No commit; answers arriving meanwhile wait for the caller's commit (PostgreSQL) or for the
    write lock (SQLite).
    """
    _lock(session, "EXCLUSIVE")
    written = 0
    for wave in _wave_ids(session, wave_id):
        session.execute(sa.delete(TABLE).where(TABLE.c.wave_id == wave))
        rows = [
            {
                "wave_id": key[0],
                "opd_id": key[1],
                "unit_id": key[2],
                "verified": key[3],
                **figures.values(),
            }
            for key, figures in sorted(recount(session, wave_id=wave).items())
            if figures.responses
        ]
        if rows:
            session.execute(TABLE.insert(), rows)
        written += len(rows)
    return written


def differences(session: Session, *, wave_id: int | None = None) -> list[Key]:
    """Return the keys whose kept figures differ from a recount of the rows (empty if none)."""
    _lock(session, "SHARE")
    columns = ("responses", "counted", "flagged", "not_applicable", "stats")
    differ: list[Key] = []
    for wave in _wave_ids(session, wave_id):
        counted = {k: f.values() for k, f in recount(session, wave_id=wave).items()}
        stored = {
            (wave, int(row.opd_id), int(row.unit_id), bool(row.verified)): {
                name: row._mapping[name] for name in columns
            }
            for row in session.execute(sa.select(TABLE).where(TABLE.c.wave_id == wave))
        }
        for key in sorted(set(counted) | set(stored)):
            if counted.get(key) != stored.get(key):
                differ.append(key)
    return differ

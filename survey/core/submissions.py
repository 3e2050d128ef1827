"""Storing one citizen's answers: the value object the form produces, and the write.

The survey form turns itself into a ``Submission`` (plain, immutable data, no form or request
objects), and ``store_submission`` writes it exactly once per (wave, submission id): a double
tap, a retried POST or two racing requests all end with one row, and each caller learns which
row that is. Flagged submissions are stored too; the verdict and the evidence stored with each
answer come from ``survey.core.evidence``. A visit code is redeemed in the same transaction as
the answer it verifies, so a code is used up only by an answer that is stored.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from operator import itemgetter
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from survey.core import periods, queries, tallies
from survey.core.codes import redeem_code
from survey.core.evidence import Evidence
from survey.core.models import (
    CHANNELS,
    FLAG_REASONS,
    MAX_ITEMS,
    RESPONSE_STATUSES,
    Response,
    Wave,
    WaveOpd,
    utcnow,
)
from survey.core.problems import ProblemError, define, problem

define(
    {
        "visit-code-required": (
            "this survey counts only answers with a visit code: enter the code printed on "
            "your ticket or receipt"
        ),
        "visit-code-invalid": (
            "the visit code is not valid for this OPD, has expired or has been used already"
        ),
    }
)


class VisitCodeError(ProblemError):
    """An answer refused for its visit code (missing where required, or not valid)."""


@dataclass(frozen=True)
class VisitCodeClaim:
    """A visit code typed with an answer, and what the wave asks of it."""

    code: str | None  # as typed; None or blank: none given
    required: bool
    secret: str
    now: datetime


@dataclass(frozen=True)
class Submission:
    """One citizen's answers for one wave and OPD, validated, ready to store."""

    wave_id: int
    opd_id: int
    submission_id: str
    channel: str = "qr"
    # Answers by question position (1-based), only the questions answered.
    answers: Mapping[int, int] = field(default_factory=dict)
    sex: str | None = None
    age: int | None = None
    education: str | None = None
    occupation: str | None = None
    service: str | None = None
    comment: str | None = None
    unit_id: int | None = None  # the OPD's service unit it was given at, if any
    enumerator_id: int | None = None  # the enumerator who recorded it (channel "interview")
    sitting: str | None = None  # shared by the responses of one multi-OPD sitting
    # When it was answered, for answers recorded offline and sent later; None: now.
    answered_at: datetime | None = None

    def __post_init__(self) -> None:
        """Refuse values no form should have let through, and freeze the answers."""
        if self.channel not in CHANNELS:
            raise ValueError(f"unknown channel {self.channel!r}")
        for position, value in self.answers.items():
            if not 1 <= position <= MAX_ITEMS:
                raise ValueError(f"question position {position} is outside 1..{MAX_ITEMS}")
            # 0 is the "not applicable" answer (survey.core.notapplicable); scores start at 1.
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"answer {value!r} at position {position} is not a score")
        object.__setattr__(self, "answers", MappingProxyType(dict(self.answers)))


@dataclass(frozen=True)
class StoreResult:
    """The row that holds a submission, and whether this call created it."""

    response_id: int
    created: bool
    status: str


def _row_values(
    submission: Submission, *, status: str, flag_reason: str | None, evidence: Evidence
) -> dict[str, object]:
    """Return the column values of the response row for a submission and its evidence."""
    values = {
        **evidence.columns(),
        "wave_id": submission.wave_id,
        "opd_id": submission.opd_id,
        "submission_id": submission.submission_id,
        "submitted_at": submission.answered_at or utcnow(),
        "channel": submission.channel,
        "status": status,
        "flag_reason": flag_reason,
        "sex": submission.sex,
        "age": submission.age,
        "education": submission.education,
        "occupation": submission.occupation,
        "service": submission.service,
        "comment": submission.comment,
        "unit_id": submission.unit_id,
        "enumerator_id": submission.enumerator_id,
        "sitting": submission.sitting,
    }
    for position, value in submission.answers.items():
        values[f"a{position}"] = value
    return values


class WaveNotOpenError(Exception):
    """The wave stopped taking answers, no longer covers the OPD, or is outside its period."""


@functools.cache
def _insert_if_open(keys: tuple[str, ...]) -> sa.Insert:
    """Return ``INSERT INTO response (keys) SELECT :keys WHERE the wave is open, covers the
    OPD and its period holds the local day :today RETURNING id``, built once per set of columns.

    A plain INSERT rather than an ORM object: the survey POST is the hot path, and building a
    validated model instance and flushing it through the unit of work cost more than the write.
    The condition rides in the same statement, so the survey page may read its wave from a
    cache of a few seconds and still no answer is stored once the wave is closed or outside
    its period (``survey.core.periods``).
    """
    table: sa.Table = Response.__table__  # type: ignore[attr-defined]  # added by SQLModel
    wave: sa.Table = Wave.__table__  # type: ignore[attr-defined]
    link: sa.Table = WaveOpd.__table__  # type: ignore[attr-defined]
    accepting = sa.exists().where(
        wave.c.id == sa.bindparam("wave_id"),
        wave.c.status == "open",
        link.c.wave_id == wave.c.id,
        link.c.opd_id == sa.bindparam("opd_id"),
        periods.period_condition(wave),
    )
    values = sa.select(*(sa.bindparam(key, type_=table.c[key].type) for key in keys))
    return table.insert().from_select(list(keys), values.where(accepting)).returning(table.c.id)


def store_submission(
    session: Session,
    *,
    submission: Submission,
    status: str = "counted",
    flag_reason: str | None = None,
    evidence: Evidence | None = None,
    visit_code: VisitCodeClaim | None = None,
    timezone: str = periods.DEFAULT_TIMEZONE,
    layout: tallies.Layout | None = None,
) -> StoreResult:
    """Store a submission once per (wave, submission id); a repeat gets the first row. Commits.

    ``layout``: the wave's :func:`survey.core.tallies.layout`, when the caller keeps it (else
    it is read).

    With a visit code the answer is stored verified only if the code is redeemed in the same
    transaction; a code that is not valid refuses the answer (VisitCodeError), as does a
    missing one where the wave requires it. Nothing is written then, and no code is used up;
    nor when the wave is no longer open, no longer covers the OPD, or the day of the answer in
    ``timezone`` is outside the wave's period (WaveNotOpenError).
    """
    if tallies.autocommit(session):
        # The row and its kept statistics change in one transaction (survey.core.tallies): a
        # caller reading in autocommit mode (the survey page) gets a session of its own. The
        # caller's connection goes back to the pool first (ending its session's nominal
        # transaction; a later read takes one again), so an answer needs one connection, not
        # two: with a pool of the threads' size, as many answers at once would wait for each
        # other until the pool's time-out.
        bind = session.get_bind()
        session.rollback()
        with Session(bind, expire_on_commit=False) as own:
            return store_submission(
                own,
                submission=submission,
                status=status,
                flag_reason=flag_reason,
                evidence=evidence,
                visit_code=visit_code,
                timezone=timezone,
                layout=layout,
            )
    if status not in RESPONSE_STATUSES:
        raise ValueError(f"unknown response status {status!r}")
    if (flag_reason is None) != (status == "counted") or (
        flag_reason is not None and flag_reason not in FLAG_REASONS
    ):
        raise ValueError(f"status {status!r} does not go with flag reason {flag_reason!r}")
    evidence = replace(evidence or Evidence(), verified=False)
    if visit_code is not None and (visit_code.code or "").strip():
        if not redeem_code(
            session,
            wave_id=submission.wave_id,
            opd_id=submission.opd_id,
            code=visit_code.code,
            secret=visit_code.secret,
            now=visit_code.now,
        ):
            session.rollback()
            # A double tap's second POST finds its code used by the first: same answer.
            existing = _existing(session, submission)
            if existing is not None:
                return existing
            raise VisitCodeError([problem("visit-code-invalid", "visit_code")])
        evidence = replace(evidence, verified=True)
    elif visit_code is not None and visit_code.required:
        raise VisitCodeError([problem("visit-code-required", "visit_code")])
    values = _row_values(submission, status=status, flag_reason=flag_reason, evidence=evidence)
    try:
        # Insert first and look only when the unique (wave, submission id) key refuses: a new
        # answer, the usual case, costs one round trip instead of a check and an insert.
        today = periods.local_day(values["submitted_at"], timezone)  # type: ignore[arg-type]
        inserted = session.execute(
            _insert_if_open(tuple(values)), {**values, "today": today}
        ).scalar()
        if inserted is None:
            # Nothing was written; a visit code's UPDATE in the same transaction goes back too.
            session.rollback()
            raise WaveNotOpenError(submission.wave_id)
        # The kept statistics change in the same transaction as the row (survey.core.tallies).
        layouts = {submission.wave_id: layout} if layout is not None else None
        tallies.rows_added(session, [values], layouts)
        session.commit()
    except IntegrityError:
        # A double tap, a retried POST, or another request with the same submission id that
        # won the race (uq_response_submission): the first row is the one that counts.
        session.rollback()
        existing = _existing(session, submission)
        if existing is None:
            raise
        return existing
    return StoreResult(int(inserted), created=True, status=status)


def _existing(session: Session, submission: Submission) -> StoreResult | None:
    """Return the stored row of a submission id, if there is one."""
    existing = queries.response_by_submission(
        session, wave_id=submission.wave_id, submission_id=submission.submission_id
    )
    if existing is None:
        return None
    assert existing.id is not None  # a stored row
    return StoreResult(existing.id, created=False, status=existing.status)


def insert_responses(
    session: Session, *, rows: Iterable[dict[str, Any]], batch_size: int = 5000
) -> int:
    """Insert response rows (dicts of column values, same keys in each) in bulk; no commit.

    The caller commits once so that the rows arrive all together or not at all; the kept
    statistics (:mod:`survey.core.tallies`) change in the same transaction.
    """
    iterator = iter(rows)
    first = next(iterator, None)
    if first is None:
        return 0
    columns = tuple(first)
    pick = itemgetter(*columns)
    tuples = (pick(row) for row in itertools.chain((first,), iterator))
    if len(columns) == 1:
        tuples = ((value,) for value in tuples)
    return insert_response_tuples(session, columns=columns, rows=tuples, batch_size=batch_size)


def insert_response_tuples(
    session: Session,
    *,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Insert response rows (tuples of the ``columns``' values) in bulk; no commit.

    Through the driver of the session's own connection, in its transaction: ``COPY`` on
    PostgreSQL, ``executemany`` of one prepared INSERT on SQLite, with each value converted as
    SQLAlchemy would bind it (so the stored rows are the same). Batches of ``batch_size`` keep
    the memory flat; their statistics are added up and applied to the kept rows once, at the
    end (each transaction then locks its keys once, in order, so two bulk inserts cannot
    deadlock). ``progress`` is called with the rows of each batch once it is sent. A row
    that breaks a constraint (a submission id already stored) raises SQLAlchemy's
    ``IntegrityError``, as an ORM insert would; the caller rolls back.
    """
    table: sa.Table = Response.__table__  # type: ignore[attr-defined]  # added by SQLModel
    defaults = _python_defaults(table, columns)
    if defaults:
        columns = (*columns, *(name for name, _default in defaults))
        rows = _with_defaults(rows, [default for _name, default in defaults])
    connection = session.connection()
    dialect = connection.dialect
    converters = [
        (i, convert)
        for i, name in enumerate(columns)
        if (convert := table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
    ]
    names = ", ".join(table.c[name].name for name in columns)
    marks = ", ".join("?" for _ in columns)
    wave_at = list(columns).index("wave_id")
    driver = connection.connection.dbapi_connection
    assert driver is not None  # a checked-out connection
    postgres = dialect.name == "postgresql"
    layouts: dict[int, tallies.Layout] = {}
    added: dict[tallies.Key, tallies.Figures] = {}
    total = 0
    with contextlib.ExitStack() as stack:
        cursor = driver.cursor()
        stack.callback(cursor.close)
        copy: Any = None  # the COPY's context manager while one runs
        writer: Any = None  # and its Copy object
        try:
            for batch in _batches(rows, batch_size):
                new_waves = {row[wave_at] for row in batch} - layouts.keys()
                if new_waves and copy is not None:
                    # No other statement while a COPY runs: end it to read the layouts.
                    copy.__exit__(None, None, None)
                    copy = None
                for wave_id in new_waves:
                    layouts[wave_id] = tallies.layout(session, wave_id=wave_id)
                stored = _converted(batch, converters)
                if postgres:
                    if copy is None:
                        copy = cursor.copy(f"COPY response ({names}) FROM STDIN")  # nosec B608
                        writer = copy.__enter__()
                    for row in stored:
                        writer.write_row(row)
                else:
                    cursor.executemany(
                        f"INSERT INTO response ({names}) VALUES ({marks})",  # nosec B608
                        stored,
                    )
                # The statistics are computed while the server takes the COPY's rows.
                for key, figures in tallies.figures_of_tuples(columns, batch, layouts).items():
                    if key in added:
                        added[key].add(figures)
                    else:
                        added[key] = figures
                total += len(batch)
                if progress is not None:
                    progress(len(batch))
            if copy is not None:
                ending, copy = copy, None
                ending.__exit__(None, None, None)
        except dialect.loaded_dbapi.IntegrityError as exc:
            raise sa.exc.IntegrityError(f"INSERT INTO response ({names})", None, exc) from exc
        finally:
            if copy is not None:
                # The COPY is abandoned (the caller rolls the transaction back).
                with contextlib.suppress(Exception):
                    copy.__exit__(*sys.exc_info())
    tallies.apply(session, added)
    return total


@dataclass(frozen=True)
class PreparedRows:
    """Response rows made ready for :func:`insert_prepared` before its transaction begins:
    the columns (with those of Python-side defaults), the values as the driver is given them,
    and the kept statistics they add."""

    columns: tuple[str, ...]
    values: list[Sequence[Any]]
    figures: dict[tallies.Key, tallies.Figures]


def _python_defaults(table: sa.Table, columns: Sequence[str]) -> list[tuple[str, Any]]:
    """The Python-side defaults SQLAlchemy would add for the columns left out (name, default);
    those with a default in the database get it there."""
    return [
        (column.name, column.default)
        for column in table.c
        if column.name not in columns
        and column.default is not None
        and column.server_default is None
        and not column.primary_key
    ]


def prepare_response_tuples(
    dialect: sa.engine.Dialect,
    *,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    layouts: Mapping[int, tallies.Layout],
) -> PreparedRows:
    """Do the Python work of :func:`insert_response_tuples` for one batch, with no session
    and no lock: the defaults, SQLAlchemy's bind conversion and the kept statistics (given
    the waves' ``layouts``). A SQLite import written in parts prepares each part before its
    transaction takes the one write lock, which it then holds only for the INSERT and the
    statistics' UPDATE (a third of the time it held it for the whole)."""
    table: sa.Table = Response.__table__  # type: ignore[attr-defined]  # added by SQLModel
    defaults = _python_defaults(table, columns)
    batch = list(rows)
    if defaults:
        columns = (*columns, *(name for name, _default in defaults))
        batch = list(_with_defaults(batch, [default for _name, default in defaults]))
    converters = [
        (i, convert)
        for i, name in enumerate(columns)
        if (convert := table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
    ]
    return PreparedRows(
        columns=tuple(columns),
        values=_converted(batch, converters),
        figures=tallies.figures_of_tuples(columns, batch, layouts),
    )


def insert_prepared(session: Session, prepared: PreparedRows) -> int:
    """Insert rows made ready by :func:`prepare_response_tuples` and add their kept statistics,
    in the session's transaction (no commit); an IntegrityError as
    :func:`insert_response_tuples` raises it."""
    table: sa.Table = Response.__table__  # type: ignore[attr-defined]  # added by SQLModel
    names = ", ".join(table.c[name].name for name in prepared.columns)
    connection = session.connection()
    dialect = connection.dialect
    driver = connection.connection.dbapi_connection
    assert driver is not None  # a checked-out connection
    cursor = driver.cursor()
    try:
        if dialect.name == "postgresql":
            with cursor.copy(f"COPY response ({names}) FROM STDIN") as copy:  # nosec B608
                for row in prepared.values:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in prepared.columns)
            cursor.executemany(
                f"INSERT INTO response ({names}) VALUES ({marks})",  # nosec B608
                prepared.values,
            )
    except dialect.loaded_dbapi.IntegrityError as exc:
        raise sa.exc.IntegrityError(f"INSERT INTO response ({names})", None, exc) from exc
    finally:
        cursor.close()
    tallies.apply(session, prepared.figures)
    return len(prepared.values)


def _with_defaults(
    rows: Iterable[Sequence[Any]], defaults: Sequence[Any]
) -> Iterator[tuple[Any, ...]]:
    """Yield rows with the values of column defaults (``ColumnDefault``) added at the end."""
    for row in rows:
        yield (
            *row,
            *(d.arg(None) if d.is_callable else d.arg for d in defaults),
        )


def _batches(rows: Iterable[Sequence[Any]], size: int) -> Iterator[list[Sequence[Any]]]:
    """Yield lists of at most ``size`` rows."""
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _converted(
    batch: list[Sequence[Any]], converters: Sequence[tuple[int, Callable[[Any], Any]]]
) -> list[Sequence[Any]]:
    """Return rows with the values the driver is given for them (SQLAlchemy's bind
    conversion, e.g. a time as SQLite's text)."""
    if not converters:
        return batch
    if len(converters) == 1:  # an import's rows: their time only
        ((i, convert),) = converters
        return [(*row[:i], convert(row[i]), *row[i + 1 :]) for row in batch]
    converted: list[Sequence[Any]] = []
    for row in batch:
        values = list(row)
        for i, convert in converters:
            values[i] = convert(values[i])
        converted.append(values)
    return converted

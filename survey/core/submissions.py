"""Storing one citizen's answers: the value object the form produces, and the write.

The survey form turns itself into a ``Submission`` (plain, immutable data, no form or request
objects), and ``store_submission`` writes it exactly once per (wave, submission id): a double
tap, a retried POST or two racing requests all end with one row, and each caller learns which
row that is. Flagged submissions are stored too; the verdict and the evidence stored with each
answer come from ``survey.core.evidence``. A visit code is redeemed in the same transaction as
the answer it verifies, so a code is used up only by an answer that is stored.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
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

    Core executemany in batches keeps a 100,000-row import to seconds and its memory flat;
    the caller commits once so that the rows arrive all together or not at all. The kept
    statistics (:mod:`survey.core.tallies`) take each batch in the same transaction.
    """
    table = Response.__table__  # type: ignore[attr-defined]  # added by SQLModel at runtime
    connection = session.connection()
    total = 0
    batch: list[dict[str, Any]] = []
    added: dict[tallies.Key, tallies.Figures] = {}
    for row in rows:
        batch.append(row)
        if len(batch) >= batch_size:
            connection.execute(table.insert(), batch)
            tallies.figures_of_new_rows(session, batch, added)
            total += len(batch)
            batch = []
    if batch:
        connection.execute(table.insert(), batch)
        tallies.figures_of_new_rows(session, batch, added)
        total += len(batch)
    tallies.apply(session, added)
    return total

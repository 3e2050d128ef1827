"""Storing one citizen's answers: the value object the form produces, and the write.

The survey form turns itself into a ``Submission`` (plain, immutable data, no form or request
objects), and ``store_submission`` writes it exactly once per (wave, submission id): a double
tap, a retried POST or two racing requests all end with one row, and each caller learns which
row that is. Flagged submissions are stored too; the verdict comes from ``survey.web.antiabuse``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from survey.core import queries
from survey.core.models import (
    CHANNELS,
    FLAG_REASONS,
    MAX_ITEMS,
    RESPONSE_STATUSES,
    Response,
    utcnow,
)


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

    def __post_init__(self) -> None:
        """Refuse values no form should have let through, and freeze the answers."""
        if self.channel not in CHANNELS:
            raise ValueError(f"unknown channel {self.channel!r}")
        for position, value in self.answers.items():
            if not 1 <= position <= MAX_ITEMS:
                raise ValueError(f"question position {position} is outside 1..{MAX_ITEMS}")
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"answer {value!r} at position {position} is not a score")
        object.__setattr__(self, "answers", MappingProxyType(dict(self.answers)))


@dataclass(frozen=True)
class StoreResult:
    """The row that holds a submission, and whether this call created it."""

    response_id: int
    created: bool
    status: str


def _row_values(
    submission: Submission, *, status: str, flag_reason: str | None
) -> dict[str, object]:
    """Return the column values of the response row for a submission."""
    values = {
        "wave_id": submission.wave_id,
        "opd_id": submission.opd_id,
        "submission_id": submission.submission_id,
        "submitted_at": utcnow(),
        "channel": submission.channel,
        "status": status,
        "flag_reason": flag_reason,
        "sex": submission.sex,
        "age": submission.age,
        "education": submission.education,
        "occupation": submission.occupation,
        "service": submission.service,
        "comment": submission.comment,
    }
    for position, value in submission.answers.items():
        values[f"a{position}"] = value
    return values


# A plain INSERT rather than an ORM object: the survey POST is the hot path, and building a
# validated model instance and flushing it through the unit of work cost more than the write.
_INSERT = sa.insert(Response.__table__)  # type: ignore[attr-defined]


def store_submission(
    session: Session,
    *,
    submission: Submission,
    status: str = "counted",
    flag_reason: str | None = None,
) -> StoreResult:
    """Store a submission once per (wave, submission id); a repeat gets the first row. Commits."""
    if status not in RESPONSE_STATUSES:
        raise ValueError(f"unknown response status {status!r}")
    if (flag_reason is None) != (status == "counted") or (
        flag_reason is not None and flag_reason not in FLAG_REASONS
    ):
        raise ValueError(f"status {status!r} does not go with flag reason {flag_reason!r}")
    values = _row_values(submission, status=status, flag_reason=flag_reason)
    try:
        # Insert first and look only when the unique (wave, submission id) key refuses: a new
        # answer, the usual case, costs one round trip instead of a check and an insert.
        result = session.execute(_INSERT, values)
        session.commit()
    except IntegrityError:
        # A double tap, a retried POST, or another request with the same submission id that
        # won the race (uq_response_submission): the first row is the one that counts.
        session.rollback()
        existing = queries.response_by_submission(
            session, wave_id=submission.wave_id, submission_id=submission.submission_id
        )
        if existing is None:
            raise
        assert existing.id is not None  # a stored row
        return StoreResult(existing.id, created=False, status=existing.status)
    inserted = cast("sa.CursorResult[Any]", result).inserted_primary_key
    assert inserted is not None  # an INSERT of one row
    [response_id] = inserted
    return StoreResult(int(response_id), created=True, status=status)


def insert_responses(
    session: Session, *, rows: Iterable[dict[str, Any]], batch_size: int = 5000
) -> int:
    """Insert response rows (dicts of column values, same keys in each) in bulk; no commit.

    Core executemany in batches keeps a 100,000-row import to seconds and its memory flat;
    the caller commits once so that the rows arrive all together or not at all.
    """
    table = Response.__table__  # type: ignore[attr-defined]  # added by SQLModel at runtime
    connection = session.connection()
    total = 0
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= batch_size:
            connection.execute(table.insert(), batch)
            total += len(batch)
            batch = []
    if batch:
        connection.execute(table.insert(), batch)
        total += len(batch)
    return total

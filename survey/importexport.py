"""The canonical response file: reading, checking and writing it as CSV.

One row per respondent: ``opd`` (slug or exact name), ``submitted_at`` (ISO 8601, optional),
one column per question code of the wave's questionnaire holding 1..scale points or nothing,
and the optional respondent fields ``sex``, ``age``, ``education``, ``occupation``,
``service`` and ``comment``. This module knows the format and its rules and nothing of Flask
or the database: the caller says what a file is checked against (an ``ImportContext``: the
wave's question codes, its OPDs, the time zone) and gets back checked rows, or every problem
with the row number a spreadsheet shows for it (the header is row 1). Export writes the same
format, losslessly, so that an export imports back into another wave unchanged.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import NamedTuple, TextIO
from zoneinfo import ZoneInfo

from .models import EDUCATIONS, OCCUPATIONS, SEXES

OPD_COLUMN = "opd"
SUBMITTED_AT_COLUMN = "submitted_at"
RESPONDENT_COLUMNS = ("sex", "age", "education", "occupation", "service", "comment")
COMMENT_MAX_LENGTH = 1200
SERVICE_MAX_LENGTH = 120  # the width of the ``service`` column
AGE_MIN, AGE_MAX = 1, 120
# A time more than this after the import is a typo (2052 for 2025), not clock skew.
FUTURE_TOLERANCE = timedelta(days=1)

_SEX_BY_KEY = {value.upper(): value for value in SEXES}
_EDUCATION_BY_KEY = {value.upper(): value for value in EDUCATIONS}
_OCCUPATION_BY_KEY = {value.upper(): value for value in OCCUPATIONS}


class FileFormatError(ValueError):
    """The file as a whole cannot be read (encoding, header, CSV syntax)."""


@dataclass(frozen=True)
class ImportContext:
    """What a file is checked against: the wave's questions and OPDs, the clock and zone."""

    question_codes: tuple[str, ...]  # in questionnaire order
    scale_points: int
    opd_ids: Mapping[str, int]  # slug and exact name of each OPD the wave covers -> OPD id
    other_opds: frozenset[str] = frozenset()  # slugs and names of OPDs outside the wave
    timezone: tzinfo = field(default_factory=lambda: ZoneInfo("Asia/Jakarta"))
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    comment_max_length: int = COMMENT_MAX_LENGTH


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One checked respondent row, ready to store (times are aware, in UTC)."""

    row: int
    opd_id: int
    submitted_at: datetime
    answers: tuple[int | None, ...]  # in questionnaire order
    sex: str | None = None
    age: int | None = None
    education: str | None = None
    occupation: str | None = None
    service: str | None = None
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class RowError:
    """The reasons one row cannot be imported."""

    row: int
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        """Return 'row N: reason; reason'."""
        return f"row {self.row}: {'; '.join(self.reasons)}"


class ExportRecord(NamedTuple):
    """One counted response as the canonical file shows it."""

    opd: str  # slug
    submitted_at: datetime  # aware
    answers: tuple[int | None, ...]  # in questionnaire order
    sex: str | None
    age: int | None
    education: str | None
    occupation: str | None
    service: str | None
    comment: str | None


@dataclass(frozen=True)
class ReadResult:
    """Every row of a file, checked: the good rows and the reasons of the bad ones."""

    rows: list[ImportRow]
    errors: list[RowError]
    missing_questions: tuple[str, ...]
    digest: str


def canonical_columns(question_codes: Sequence[str]) -> list[str]:
    """Return the canonical header for a questionnaire's question codes, in file order."""
    return [OPD_COLUMN, SUBMITTED_AT_COLUMN, *question_codes, *RESPONDENT_COLUMNS]


def file_digest(data: bytes) -> str:
    """Return the hex SHA-256 of a file's bytes."""
    return hashlib.sha256(data).hexdigest()


def import_submission_id(wave_id: int, digest: str, row: int) -> str:
    """Return the submission id of a file row imported into a wave (same inputs, same id)."""
    # Deterministic so that importing the same file into the same wave again finds its rows
    # already present (the wave/submission pair is unique in the database).
    token = hashlib.sha256(f"{wave_id}:{digest}:{row}".encode()).hexdigest()
    return f"import-{token[:40]}"


def _decode(data: bytes) -> str:
    """Decode UTF-8 with or without a byte-order mark, or explain what to do."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileFormatError(
            f"the file is not UTF-8 text (invalid byte at offset {exc.start}); "
            "save it as 'CSV UTF-8'"
        ) from None


def _delimiter(text: str) -> str:
    """Return ',' or, for a semicolon-separated header, ';'."""
    # Spreadsheets set to Indonesian (decimal comma) save "CSV" with semicolons; the column
    # names never contain either character, so the header line tells which one is used.
    header = text.split("\n", 1)[0]
    return ";" if ";" in header and "," not in header else ","


class CanonicalReader:
    """A canonical CSV file opened for import: header checked, rows checked as iterated."""

    def __init__(self, data: bytes, context: ImportContext) -> None:
        """Decode the file and check its header; raise FileFormatError if it is unusable."""
        self.context = context
        self.digest = file_digest(data)
        text = _decode(data)
        if not text.strip():
            raise FileFormatError("the file is empty")
        # Rows to come, for progress only: a comment may span lines, so this may overcount.
        lines = text.count("\n") + (0 if text.endswith("\n") else 1)
        self.estimated_rows = max(lines - 1, 0)
        self._reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
        try:
            header = next(self._reader)
        except csv.Error as exc:
            raise FileFormatError(f"row 1: unreadable CSV ({exc})") from None
        self.columns = self._check_header(header)
        self.missing_questions = tuple(
            code for code in context.question_codes if code not in self.columns
        )
        # Nearly every answer cell is exactly "1".."4" or empty: a lookup settles those fast
        # (large imports spend most of their checking time on answers); the rest get the
        # full check and its message.
        self._plain_answers: dict[str, int | None] = {"": None}
        self._plain_answers.update({str(i): i for i in range(1, context.scale_points + 1)})

    def _check_header(self, header: list[str]) -> tuple[str, ...]:
        """Map the header cells to canonical column names; refuse unknown or repeated ones."""
        known = {name.lower(): name for name in canonical_columns(self.context.question_codes)}
        columns: list[str] = []
        for index, raw in enumerate(header, start=1):
            name = raw.strip()
            if not name:
                raise FileFormatError(f"column {index} of the header has no name")
            canonical = known.get(name.lower())
            if canonical is None:
                expected = ", ".join(canonical_columns(self.context.question_codes))
                raise FileFormatError(f"unknown column {name!r} (expected: {expected})")
            if canonical in columns:
                raise FileFormatError(f"column {canonical!r} appears twice")
            columns.append(canonical)
        if OPD_COLUMN not in columns:
            raise FileFormatError(f"missing required column {OPD_COLUMN!r}")
        return tuple(columns)

    def __iter__(self) -> Iterator[ImportRow | RowError]:
        """Yield each data row, checked; blank rows are skipped but keep their numbers."""
        width = len(self.columns)
        row_number = 1
        while True:
            try:
                cells = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise FileFormatError(f"row {row_number + 1}: unreadable CSV ({exc})") from None
            row_number += 1
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > width and any(cell.strip() for cell in cells[width:]):
                yield RowError(
                    row_number, (f"{len(cells)} cells but the header has {width} columns",)
                )
                continue
            cells = cells[:width] + [""] * (width - len(cells))
            yield self._check_row(row_number, dict(zip(self.columns, cells, strict=True)))

    def _check_row(self, row: int, values: dict[str, str]) -> ImportRow | RowError:
        """Check one row's cells and build the row, or collect every reason it is bad."""
        context = self.context
        reasons: list[str] = []
        for name, value in values.items():
            if "\x00" in value:
                reasons.append(f"{name} contains a NUL character")
                values[name] = value.replace("\x00", "")
        opd_id = _check_opd(values.get(OPD_COLUMN, ""), context, reasons)
        submitted_at = _check_time(values.get(SUBMITTED_AT_COLUMN, ""), context, reasons)
        before = len(reasons)
        plain = self._plain_answers
        answers = tuple(
            plain[cell]
            if (cell := values.get(code, "")) in plain
            else _check_answer(code, cell, context.scale_points, reasons)
            for code in context.question_codes
        )
        # A row whose answers are all bad already says so; "no answer" is for blank ones.
        if len(reasons) == before and all(answer is None for answer in answers):
            reasons.append("no answer to any question")
        sex = _check_choice("sex", values.get("sex", ""), _SEX_BY_KEY, reasons)
        age = _check_age(values.get("age", ""), reasons)
        education = _check_choice(
            "education", values.get("education", ""), _EDUCATION_BY_KEY, reasons
        )
        occupation = _check_choice(
            "occupation", values.get("occupation", ""), _OCCUPATION_BY_KEY, reasons
        )
        service = _check_text("service", values.get("service", ""), SERVICE_MAX_LENGTH, reasons)
        comment = _check_text(
            "comment", values.get("comment", ""), context.comment_max_length, reasons, strip=False
        )
        if reasons:
            return RowError(row, tuple(reasons))
        assert opd_id is not None and submitted_at is not None
        return ImportRow(
            row=row,
            opd_id=opd_id,
            submitted_at=submitted_at,
            answers=answers,
            sex=sex,
            age=age,
            education=education,
            occupation=occupation,
            service=service,
            comment=comment,
        )


def _check_opd(raw: str, context: ImportContext, reasons: list[str]) -> int | None:
    """Return the id of the OPD named by slug or exact name, if the wave covers it."""
    key = raw.strip()
    if not key:
        reasons.append("opd is empty")
        return None
    opd_id = context.opd_ids.get(key)
    if opd_id is None:
        if key in context.other_opds:
            reasons.append(f"OPD {key!r} is not covered by this wave")
        else:
            reasons.append(f"unknown OPD {key!r} (use its slug or exact name)")
    return opd_id


def _check_time(raw: str, context: ImportContext, reasons: list[str]) -> datetime | None:
    """Parse ISO 8601; no offset means local time (Asia/Jakarta); empty means now."""
    text = raw.strip()
    if not text:
        return context.now.astimezone(UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        reasons.append(
            f"submitted_at {text!r} is not an ISO 8601 time (e.g. 2025-06-12T09:30:00+07:00)"
        )
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=context.timezone)
    parsed = parsed.astimezone(UTC)
    if parsed > context.now + FUTURE_TOLERANCE:
        reasons.append(f"submitted_at {text!r} is in the future")
        return None
    return parsed


def _check_answer(code: str, raw: str, scale_points: int, reasons: list[str]) -> int | None:
    """Return an answer 1..scale_points, None for an empty cell."""
    text = raw.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit() and 1 <= int(text) <= scale_points:
        return int(text)
    reasons.append(f"{code}: {text!r} is not an answer (use 1 to {scale_points} or leave empty)")
    return None


def _check_choice(
    name: str, raw: str, choices: Mapping[str, str], reasons: list[str]
) -> str | None:
    """Return the canonical spelling of a coded value (any case), None for an empty cell."""
    text = raw.strip()
    if not text:
        return None
    value = choices.get(text.upper())
    if value is None:
        reasons.append(f"{name} {text!r} is not one of {', '.join(choices.values())}")
    return value


def _check_age(raw: str, reasons: list[str]) -> int | None:
    """Return an age in whole years, None for an empty cell."""
    text = raw.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit() and AGE_MIN <= int(text) <= AGE_MAX:
        return int(text)
    reasons.append(f"age {text!r} is not a whole number of years from {AGE_MIN} to {AGE_MAX}")
    return None


def _check_text(
    name: str, raw: str, max_length: int, reasons: list[str], *, strip: bool = True
) -> str | None:
    """Return free text (None when blank); refuse text longer than the column holds."""
    if not raw.strip():
        return None
    # The comment is kept exactly as written (line breaks, spacing) so that exports round-trip.
    text = raw.strip() if strip else raw
    if len(text) > max_length:
        reasons.append(f"{name} has {len(text)} characters (at most {max_length})")
        return None
    return text


def read_csv(data: bytes, context: ImportContext) -> ReadResult:
    """Check a whole canonical CSV file; raise FileFormatError if it cannot be read at all."""
    reader = CanonicalReader(data, context)
    rows: list[ImportRow] = []
    errors: list[RowError] = []
    for item in reader:
        (errors if isinstance(item, RowError) else rows).append(item)  # type: ignore[arg-type]
    return ReadResult(rows, errors, reader.missing_questions, reader.digest)


def format_time(value: datetime) -> str:
    """Return ISO 8601 in UTC with an explicit +00:00 offset (naive values are UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def write_csv(
    stream: TextIO, question_codes: Sequence[str], records: Iterable[ExportRecord]
) -> int:
    """Write the canonical CSV (header and records) to ``stream``; return the record count.

    Free text is written as stored, without neutralising spreadsheet formulas, so that the
    file imports back unchanged; open-data exports that go to spreadsheets must neutralise.
    """
    writer = csv.writer(stream)
    writer.writerow(canonical_columns(question_codes))
    count = 0
    for record in records:
        writer.writerow(
            [
                record.opd,
                format_time(record.submitted_at),
                *("" if answer is None else answer for answer in record.answers),
                *(
                    "" if value is None else value
                    for value in (
                        record.sex,
                        record.age,
                        record.education,
                        record.occupation,
                        record.service,
                        record.comment,
                    )
                ),
            ]
        )
        count += 1
    return count

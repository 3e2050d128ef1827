"""Data in and out, shared by the command line and the web: imports, exports, open data.

The import service checks a response file against a wave (``import_context``) and writes
its new rows in one transaction with the ``import.run`` audit entry (``write_import``), so
``ikm import`` and the web import store the same submission ids for the same wave and file
and a second import of a file adds nothing. A web import is an ``ImportJob``: the upload is
kept in the job row while the evaluator checks the column mapping, then ``run_import_job``
checks every row (recording its progress in the job row, committed on its own so that any
app server can show it), and writes all rows or none. A failed job keeps why as coded
problems in ``problems`` (the page translates them; ``message`` holds the same in English, for
logs) and at most ``ERROR_LIMIT`` bad rows in ``errors``, each ``{"row": N, "problems":
[...]}``; when there were more, a last entry ``{"row": None, "problems": [], "omitted": N}``
says how many were left out. A stored problem is ``{"code", "field", "params"}``.

The export builders give the canonical CSV, the XLSX workbook and the JSON document of
``ikm export``; ``open_data_zip`` builds the public package of a published wave. Nothing
here reads a Flask request: callers pass the session, the wave and the settings.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from survey.core import queries, submissions
from survey.core.audit import audit
from survey.core.models import ImportJob, Wave, utcnow
from survey.core.problems import Problem, ProblemError, define, problem
from survey.core.responsefile import (
    COMMENT_MAX_LENGTH,
    CanonicalReader,
    ColumnMapping,
    ExportRecord,
    FileFormatError,
    FileHead,
    ImportContext,
    ImportRow,
    RowError,
    canonical_columns,
    file_digest,
    import_submission_id,
    normalise,
    read_head,
    record_cells,
    record_object,
    suggest_field,
    write_csv,
)

log = logging.getLogger(__name__)

PROGRESS_EVERY = 250  # rows between two progress commits of a web import
ERROR_LIMIT = 1000  # bad rows kept in a failed job's report
PREVIEW_ROWS = 5  # data rows shown on the mapping page
EXPORT_FORMATS = ("csv", "xlsx", "json")
OPEN_DATA_MIN_GROUP = 5  # fewer counted responses: the OPD's respondent fields are left blank
OPEN_DATA_LICENCE = "CC BY 4.0"
WRITING = "writing"  # the message of a running job whose rows are all checked
# strptime formats tried, in order, on the submitted_at cells of a file that is not ISO 8601
# (Google Forms in Indonesian writes "13/06/2025 9:30:00").
TIME_FORMATS = (
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%m/%d/%Y %H:%M:%S",
    "%d-%m-%Y %H:%M:%S",
    "%d-%m-%Y",
    "%Y/%m/%d %H:%M:%S",
)


define(
    {
        "import-timezone-unknown": "unknown time zone {value!r} (IKM_TIMEZONE)",
        "import-wave-published": ("wave {wave!r} is published; its responses can no longer change"),
        "import-wave-gone": "the wave no longer exists",
        "import-concurrent": (
            "another import into wave {wave!r} wrote some of these rows meanwhile; "
            "nothing was imported by this one, run it again"
        ),
        "import-time-format-invalid": "not a time format: use codes such as %d/%m/%Y %H:%M:%S",
        "import-time-format-unusable": "not a usable time format ({detail})",
        "import-digest-mismatch": "the stored file does not match its digest",
        "import-rows-bad": "{file}: {bad} of {total} rows have errors; nothing was imported",
        "import-no-rows": "{file}: no data rows to import",
        "import-expired": (
            "the upload was left at the mapping step and has expired; nothing was written"
        ),
        "import-stopped": (
            "the import stopped before it finished (the server restarted?); "
            "nothing was written: upload the file again"
        ),
        "import-check-crashed": "unexpected error while checking the file",
        "import-write-crashed": "unexpected error while writing; nothing was imported",
        "export-format-unknown": "unknown export format {value!r} (use {formats})",
        "export-not-published": "wave {wave!r} is not published",
    }
)


class DataIOError(ProblemError):
    """An import or export that cannot go ahead; ``problems`` say why."""


class ConcurrentImportError(DataIOError):
    """Another import wrote some of the same rows meanwhile; this one wrote nothing."""


def _refused(code: str, **params: Any) -> DataIOError:
    """Return the error of an import or export refused for one problem."""
    return DataIOError([problem(code, "", **params)])


def _published(wave: Wave) -> DataIOError:
    """Return the error of a change to a published wave's responses."""
    return _refused("import-wave-published", wave=wave.slug)


def problem_record(item: Problem) -> dict[str, Any]:
    """Return a problem as the JSON object an import job stores."""
    return {"code": item.code, "field": item.field, "params": dict(item.params)}


def stored_problems(records: Iterable[Any]) -> list[Problem]:
    """Return the problems an import job stored (``problem_record`` objects)."""
    return [
        Problem(
            code=str(record["code"]),
            field=str(record.get("field", "")),
            params=tuple(dict(record.get("params") or {}).items()),
        )
        for record in records
    ]


# --- Import: the shared service ---------------------------------------------------------------


def import_context(
    session: Session,
    *,
    wave: Wave,
    timezone: str = "Asia/Jakarta",
    comment_max_length: int = COMMENT_MAX_LENGTH,
    now: datetime | None = None,
) -> ImportContext:
    """Gather what a file for this wave is checked against."""
    questionnaire = queries.get_questionnaire(session, questionnaire_id=wave.questionnaire_id)
    assert questionnaire is not None  # a foreign key guarantees it
    elements = queries.elements(session, questionnaire_id=wave.questionnaire_id)
    opd_ids: dict[str, int] = {}
    for opd, _link in queries.wave_opds(session, wave=wave):
        assert opd.id is not None
        opd_ids[opd.slug] = opd.id
        opd_ids[opd.name] = opd.id
    others = frozenset(
        key
        for opd in queries.list_opds(session)
        if opd.slug not in opd_ids
        for key in (opd.slug, opd.name)
    )
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise _refused("import-timezone-unknown", value=timezone) from None
    return ImportContext(
        question_codes=tuple(e.code for e in elements),
        scale_points=questionnaire.scale_points,
        opd_ids=opd_ids,
        other_opds=others,
        timezone=zone,
        now=now or datetime.now(UTC),
        # The column holds 1,200 characters whatever the setting says.
        comment_max_length=min(int(comment_max_length), COMMENT_MAX_LENGTH),
        question_texts={
            e.code: (e.question_id, e.question_en, e.name_id, e.name_en) for e in elements
        },
        answer_labels={e.code: (tuple(e.labels_id), tuple(e.labels_en)) for e in elements},
    )


def answer_positions(session: Session, *, wave: Wave) -> list[int]:
    """Return the answer column positions of the wave's questions, in question order."""
    return [e.position for e in queries.elements(session, questionnaire_id=wave.questionnaire_id)]


def stored_row(
    wave: Wave, submission_id: str, row: ImportRow, positions: Sequence[int]
) -> dict[str, Any]:
    """Return the column values of a response row for one checked file row."""
    values: dict[str, Any] = {
        "wave_id": wave.id,
        "opd_id": row.opd_id,
        "submission_id": submission_id,
        "submitted_at": row.submitted_at,
        "channel": "import",
        "status": "counted",
        "flag_reason": None,
        "sex": row.sex,
        "age": row.age,
        "education": row.education,
        "occupation": row.occupation,
        "service": row.service,
        "comment": row.comment,
    }
    values.update(
        {f"a{position}": answer for position, answer in zip(positions, row.answers, strict=True)}
    )
    return values


def new_import_rows(
    session: Session, *, wave: Wave, digest: str, rows: Iterable[ImportRow]
) -> tuple[list[tuple[str, ImportRow]], int]:
    """Return the rows not yet in the wave (with their submission ids) and the count present."""
    present = queries.submission_ids(session, wave=wave, channel="import")
    fresh: list[tuple[str, ImportRow]] = []
    already = 0
    for row in rows:
        submission_id = import_submission_id(wave.id or 0, digest, row.row)
        if submission_id in present:
            already += 1
        else:
            fresh.append((submission_id, row))
    return fresh, already


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote: new rows, and rows a former import of the file already wrote."""

    imported: int
    already_present: int


def write_import(
    session: Session,
    *,
    wave: Wave,
    filename: str,
    digest: str,
    rows: Sequence[ImportRow],
    actor: str | None,
    progress: Callable[[int], None] | None = None,
    before_commit: Callable[[Session, ImportResult], None] | None = None,
    **detail: Any,
) -> ImportResult:
    """Write the checked rows new to the wave and the ``import.run`` audit entry; commit once.

    ``progress`` is called with 1 per row written; ``before_commit`` may add more changes to
    the same transaction (a web job's final state). Raise ConcurrentImportError, with nothing
    written, if another import stored some of these rows meanwhile.
    """
    if wave.status == "published":
        raise _published(wave)
    positions = answer_positions(session, wave=wave)
    fresh, already = new_import_rows(session, wave=wave, digest=digest, rows=rows)

    def values() -> Iterator[dict[str, Any]]:
        """Yield the column values of each new row, reporting progress."""
        for submission_id, row in fresh:
            if progress is not None:
                progress(1)
            yield stored_row(wave, submission_id, row, positions)

    result = ImportResult(imported=len(fresh), already_present=already)
    try:
        if fresh:
            submissions.insert_responses(session, rows=values())
        audit(
            session,
            actor=actor,
            action="import.run",
            wave=wave.slug,
            file=filename,
            sha256=digest,
            imported=result.imported,
            already_present=result.already_present,
            **detail,
        )
        if before_commit is not None:
            before_commit(session, result)
        session.commit()
    except sa.exc.IntegrityError:
        session.rollback()
        raise ConcurrentImportError([problem("import-concurrent", "", wave=wave.slug)]) from None
    return result


# --- Import: web jobs -------------------------------------------------------------------------


# A queued or running job older than this has lost its worker (the server restarted): its
# rows were never committed, since they are written in one transaction at the end.
JOB_STALE_AFTER = timedelta(hours=2)
# An upload left at the mapping step this long is dropped, bytes and all.
MAPPING_EXPIRES_AFTER = timedelta(hours=24)


def expire_stale_jobs(session: Session, *, now: datetime | None = None) -> int:
    """Fail jobs whose worker is gone and drop uploads abandoned at mapping; commit; count them."""
    now = now or utcnow()
    stale = session.exec(
        select(ImportJob).where(
            (col(ImportJob.status).in_(("queued", "running")))
            & (col(ImportJob.created_at) < now - JOB_STALE_AFTER)
            | (col(ImportJob.status) == "mapping")
            & (col(ImportJob.created_at) < now - MAPPING_EXPIRES_AFTER)
        )
    ).all()
    for job in stale:
        reason = problem("import-expired" if job.status == "mapping" else "import-stopped")
        job.message = reason.english()
        job.problems = [problem_record(reason)]
        job.status = "failed"
        job.data = b""
        job.finished_at = now
        session.add(job)
    if stale:
        session.commit()
    return len(stale)


def create_import_job(
    session: Session, *, wave: Wave, actor: str | None, filename: str, kind: str, data: bytes
) -> ImportJob:
    """Store an uploaded file as a job waiting for its column mapping. Commits.

    Raise FileFormatError (nothing stored) if the file cannot be read at all; header
    problems are left for the mapping step to show and fix.
    """
    if wave.status == "published":
        raise _published(wave)
    head = read_head(data, kind, limit=0)
    expire_stale_jobs(session)
    job = ImportJob(
        wave_id=wave.id or 0,
        actor=actor,
        filename=filename[:255],
        kind=kind,
        digest=file_digest(data),
        data=data,
        total_rows=head.estimated_rows,
    )
    session.add(job)
    session.commit()
    return job


def job_head(job: ImportJob) -> FileHead:
    """Return the header and first rows of a job's file (FileFormatError if unreadable)."""
    return read_head(job.data, job.kind, limit=PREVIEW_ROWS)


@dataclass(frozen=True)
class ColumnChoice:
    """One header cell on the mapping page: the field it is read as (None: ignored) and why."""

    index: int
    header: str
    field: str | None
    source: str  # "canonical", "mapping", "suggested" or "ignored"
    preview: tuple[str, ...]


def column_choices(
    head: FileHead, context: ImportContext, mapping: ColumnMapping | None = None
) -> list[ColumnChoice]:
    """Preselect the field of every header cell: the mapping, the canonical name, a guess.

    A field already taken by an earlier column is not offered again (the later column is
    preselected as ignored), so the preselection is always a valid mapping but for ``opd``.
    """
    known = {name.lower(): name for name in canonical_columns(context.question_codes)}
    explicit = {normalise(k): v for k, v in (mapping.columns if mapping else {}).items()}
    taken: set[str] = set()
    choices: list[ColumnChoice] = []
    for index, raw in enumerate(head.header):
        header = raw.strip()
        field: str | None
        if normalise(header) in explicit:
            target = explicit[normalise(header)]
            field, source = (known.get(target.lower()) if target else None), "mapping"
        elif header.lower() in known:
            field, source = known[header.lower()], "canonical"
        else:
            field, source = (suggest_field(header, context) if header else None), "suggested"
        if field is None or field in taken:
            field, source = None, "ignored"
        else:
            taken.add(field)
        preview = tuple(row[index] if index < len(row) else "" for row in head.rows)
        choices.append(ColumnChoice(index, header, field, source, preview))
    return choices


def guess_time_format(values: Iterable[str]) -> str | None:
    """Return the first of ``TIME_FORMATS`` that reads every non-ISO value, or None."""
    cells = [value.strip() for value in values if value.strip()]
    odd = []
    for cell in cells:
        try:
            datetime.fromisoformat(cell)
        except ValueError:
            odd.append(cell)
    if not odd:
        return None
    for fmt in TIME_FORMATS:
        try:
            for cell in odd:
                datetime.strptime(cell, fmt)
        except ValueError:
            continue
        return fmt
    return None


def check_time_format(text: str) -> str | None:
    """Return a usable strptime format (None for blank); raise DataIOError for a bad one."""
    fmt = text.strip()
    if not fmt:
        return None
    if "%" not in fmt or len(fmt) > 64:
        raise _refused("import-time-format-invalid")
    try:
        datetime(2026, 1, 13, 9, 30, 5).strftime(fmt)
        datetime.strptime(datetime(2026, 1, 13, 9, 30, 5).strftime(fmt), fmt)
    except ValueError as exc:
        raise _refused("import-time-format-unusable", detail=str(exc)) from None
    return fmt


def mapping_from_choices(
    headers: Sequence[str], fields: Sequence[str | None], time_format: str | None
) -> ColumnMapping | None:
    """Return the mapping the user chose; None when the file is canonical as it stands.

    Only headers read under another name than their own are written into the mapping, so a
    canonical file confirmed unchanged is read exactly as ``ikm import`` reads it.
    """
    columns = {
        header: field
        for header, field in zip(headers, fields, strict=True)
        if not (field is not None and header.strip().lower() == field.lower())
    }
    if not columns and time_format is None:
        return None
    return ColumnMapping(columns=columns, time_format=time_format)


def confirm_job(
    session: Session,
    *,
    job: ImportJob,
    context: ImportContext,
    mapping: ColumnMapping | None,
) -> bool:
    """Check the mapping against the file, store it and queue the job. Commits.

    Raise FileFormatError (the job unchanged) for a mapping the file cannot be read with.
    Return False if the job had left the mapping step already (a second click), else True.
    """
    wave = session.get(Wave, job.wave_id)
    if wave is None:
        raise _refused("import-wave-gone")
    if wave.status == "published":
        raise _published(wave)
    # Every column has a field or is ignored by choice, so nothing is "extra".
    CanonicalReader(job.data, context, kind=job.kind, mapping=mapping, ignore_extra=True)
    stored = mapping.to_json() if mapping is not None else {}
    # Compare and set: of two confirmations of one job only the first queues it.
    changed = _updated(
        session,
        sa.update(ImportJob)
        .where(col(ImportJob.id) == job.id, col(ImportJob.status) == "mapping")
        .values(status="queued", mapping=stored, ignore_extra=True),
    )
    session.commit()
    return bool(changed)


def _updated(session: Session, statement: sa.Update) -> int:
    """Run an UPDATE and return how many rows it changed."""
    result = session.execute(statement)
    assert isinstance(result, sa.CursorResult)  # what an UPDATE always returns
    return result.rowcount


def get_job(session: Session, *, job_id: int) -> ImportJob | None:
    """Return the import job with this id, or None."""
    return session.get(ImportJob, job_id)


def error_report(errors: Sequence[RowError]) -> list[dict[str, Any]]:
    """Return the stored report: the first ERROR_LIMIT bad rows, and how many were left out."""
    report: list[dict[str, Any]] = [
        {"row": error.row, "problems": [problem_record(item) for item in error.problems]}
        for error in errors[:ERROR_LIMIT]
    ]
    if len(errors) > ERROR_LIMIT:
        report.append({"row": None, "problems": [], "omitted": len(errors) - ERROR_LIMIT})
    return report


def report_rows(job: ImportJob) -> tuple[list[dict[str, Any]], int]:
    """Return a failed job's stored bad rows and the total number of bad rows."""
    rows = [entry for entry in job.errors if entry.get("row") is not None]
    omitted = sum(int(entry.get("omitted", 0)) for entry in job.errors if entry.get("row") is None)
    return rows, len(rows) + omitted


def _fail(
    engine: Engine,
    job_id: int,
    problems: Sequence[Problem],
    errors: list[dict[str, Any]] | None = None,
    *,
    filename: str | None = None,
) -> None:
    """Mark a job failed with its problems (and bad rows) in a transaction of its own.

    ``message`` keeps the English sentence (prefixed with the file name when given), for logs.
    """
    english = "; ".join(item.english() for item in problems)
    with Session(engine) as session:
        job = session.get(ImportJob, job_id)
        if job is None:
            return
        job.status = "failed"
        job.message = (f"{filename}: {english}" if filename else english)[:1000]
        job.problems = [problem_record(item) for item in problems]
        job.errors = errors or []
        job.data = b""
        job.finished_at = utcnow()
        session.add(job)
        session.commit()


def run_import_job(
    engine: Engine,
    *,
    job_id: int,
    timezone: str = "Asia/Jakarta",
    comment_max_length: int = COMMENT_MAX_LENGTH,
) -> None:
    """Check and write a queued job's file, all or nothing, recording progress and result.

    Safe to call twice: only the call that moves the job from queued to running works on it.
    """
    with Session(engine, expire_on_commit=False) as session:
        claimed = _updated(
            session,
            sa.update(ImportJob)
            .where(col(ImportJob.id) == job_id, col(ImportJob.status) == "queued")
            .values(status="running", processed_rows=0),
        )
        session.commit()
        if not claimed:
            return
        job = session.get(ImportJob, job_id)
        assert job is not None
        filename, digest, actor, wave_id = job.filename, job.digest, job.actor, job.wave_id
        try:
            rows, errors = _check_job(session, job, timezone, comment_max_length)
        except (FileFormatError, DataIOError) as exc:
            session.rollback()
            _fail(engine, job_id, exc.problems, filename=filename)
            return
        except Exception:
            log.exception("import job %s failed while checking", job_id)
            session.rollback()
            _fail(engine, job_id, [problem("import-check-crashed")])
            return
    if errors:
        total = len(rows) + len(errors)
        bad = problem("import-rows-bad", "", file=filename, bad=len(errors), total=total)
        _fail(engine, job_id, [bad], error_report(errors))
        return
    if not rows:
        _fail(engine, job_id, [problem("import-no-rows", "", file=filename)])
        return
    with Session(engine) as session:
        # The page says the rows are being written (one transaction, no finer progress).
        session.execute(
            sa.update(ImportJob).where(col(ImportJob.id) == job_id).values(message=WRITING)
        )
        session.commit()

    def finish(session: Session, result: ImportResult) -> None:
        """Record the job's result in the transaction that writes its rows."""
        done = session.get(ImportJob, job_id)
        assert done is not None
        done.status = "done"
        done.imported = result.imported
        done.already_present = result.already_present
        done.processed_rows = done.total_rows = len(rows)
        done.message = (
            f"{filename}: {result.imported} imported, {result.already_present} already present"
        )
        done.data = b""
        done.finished_at = utcnow()
        session.add(done)

    # A fresh session: the rows are written in one transaction that began after the last
    # progress commit (SQLite refuses to turn an older read transaction into a write).
    with Session(engine, expire_on_commit=False) as session:
        try:
            wave = session.get(Wave, wave_id)
            assert wave is not None
            write_import(
                session,
                wave=wave,
                filename=filename,
                digest=digest,
                rows=rows,
                actor=actor,
                before_commit=finish,
                job=job_id,
            )
        except DataIOError as exc:
            session.rollback()
            _fail(engine, job_id, exc.problems, filename=filename)
        except Exception:
            log.exception("import job %s failed while writing", job_id)
            session.rollback()
            _fail(engine, job_id, [problem("import-write-crashed")])


def _check_job(
    session: Session, job: ImportJob, timezone: str, comment_max_length: int
) -> tuple[list[ImportRow], list[RowError]]:
    """Check every row of a job's file, committing progress every PROGRESS_EVERY rows."""
    wave = session.get(Wave, job.wave_id)
    if wave is None:
        raise _refused("import-wave-gone")
    if wave.status == "published":
        raise _published(wave)
    context = import_context(
        session, wave=wave, timezone=timezone, comment_max_length=comment_max_length
    )
    mapping = ColumnMapping.from_json(job.mapping) if job.mapping else None
    reader = CanonicalReader(
        job.data, context, kind=job.kind, mapping=mapping, ignore_extra=job.ignore_extra
    )
    if reader.digest != job.digest:
        raise _refused("import-digest-mismatch")
    job.total_rows = reader.estimated_rows
    session.add(job)
    session.commit()
    rows: list[ImportRow] = []
    errors: list[RowError] = []
    seen = 0
    for item in reader:
        if isinstance(item, RowError):
            errors.append(item)
        else:
            rows.append(item)
        seen += 1
        if seen % PROGRESS_EVERY == 0:
            job.processed_rows = seen
            job.total_rows = max(job.total_rows, seen)
            session.add(job)
            session.commit()
    job.processed_rows = job.total_rows = seen
    session.add(job)
    session.commit()
    return rows, errors


# --- Export -----------------------------------------------------------------------------------


def question_codes(session: Session, *, wave: Wave) -> list[str]:
    """Return the wave's question codes in questionnaire order."""
    return [e.code for e in queries.elements(session, questionnaire_id=wave.questionnaire_id)]


def export_records(session: Session, *, wave: Wave) -> Iterator[ExportRecord]:
    """Yield the wave's counted responses as export records (no ids, no hashes)."""
    columns = [f"a{position}" for position in answer_positions(session, wave=wave)]
    for row in queries.counted_responses(session, wave=wave):
        yield ExportRecord(
            opd=row.opd_slug,
            submitted_at=row.submitted_at,
            answers=tuple(row._mapping[column] for column in columns),
            sex=row.sex,
            age=row.age,
            education=row.education,
            occupation=row.occupation,
            service=row.service,
            comment=row.comment,
        )


def score_rows(session: Session, *, wave: Wave) -> list[dict[str, Any]]:
    """Return the wave's score rows (as 'ikm score --format json'), none if it cannot score."""
    from survey.core.scores import ScoreError, score_wave

    try:
        return score_wave(session, wave=wave, wave_tests=False).rows()
    except ScoreError:
        return []


def score_table(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Flatten score rows as 'ikm score --format csv' does: element figures as columns."""
    if not rows:
        return ["opd"], []
    codes = list(rows[0]["elements"])
    head = [key for key in rows[0] if key != "elements"]
    parts = ("nrr", "ci_low", "ci_high", "n")
    table = [
        [row[key] for key in head]
        + [row["elements"][code][part] for code in codes for part in parts]
        for row in rows
    ]
    return head + [f"{code}_{part}" for code in codes for part in parts], table


def wave_object(wave: Wave, codes: list[str], count: int) -> dict[str, Any]:
    """Return the wave's public description for the JSON export."""
    return {
        "slug": wave.slug,
        "title": wave.title,
        "evaluator": wave.evaluator,
        "period_start": wave.period_start.isoformat() if wave.period_start else None,
        "period_end": wave.period_end.isoformat() if wave.period_end else None,
        "status": wave.status,
        "simulated": wave.simulated,
        "question_codes": codes,
        "columns": canonical_columns(codes),
        "counted": count,
    }


def export_csv(session: Session, *, wave: Wave, safe: bool = True) -> tuple[bytes, int]:
    """Return the canonical CSV of the counted responses (UTF-8) and its row count."""
    buffer = io.StringIO(newline="")
    count = write_csv(
        buffer, question_codes(session, wave=wave), export_records(session, wave=wave), safe=safe
    )
    return buffer.getvalue().encode("utf-8"), count


def export_xlsx(session: Session, *, wave: Wave) -> tuple[bytes, int]:
    """Return the workbook (sheets 'responses' and 'scores', neutralised) and its row count."""
    from survey.core.spreadsheet import xlsx_bytes

    codes = question_codes(session, wave=wave)
    cells = [record_cells(record) for record in export_records(session, wave=wave)]
    head, table = score_table(score_rows(session, wave=wave))
    data = xlsx_bytes([("responses", canonical_columns(codes), cells), ("scores", head, table)])
    return data, len(cells)


def export_json(session: Session, *, wave: Wave) -> tuple[bytes, int]:
    """Return the JSON document {"wave", "responses", "scores"} (text as stored), its count."""
    codes = question_codes(session, wave=wave)
    responses = [record_object(codes, record) for record in export_records(session, wave=wave)]
    document = {
        "wave": wave_object(wave, codes, len(responses)),
        "responses": responses,
        "scores": score_rows(session, wave=wave),
    }
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    return text.encode("utf-8"), len(responses)


EXPORT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}


def export_file(session: Session, *, wave: Wave, fmt: str) -> tuple[bytes, int]:
    """Return a web export (CSV always formula-safe) and its row count."""
    if fmt == "csv":
        return export_csv(session, wave=wave, safe=True)
    if fmt == "xlsx":
        return export_xlsx(session, wave=wave)
    if fmt == "json":
        return export_json(session, wave=wave)
    raise _refused("export-format-unknown", value=fmt, formats=", ".join(EXPORT_FORMATS))


# --- Open data --------------------------------------------------------------------------------

OPEN_RESPONSE_COLUMNS = ("opd", "submitted_at")
OPEN_RESPONDENT_COLUMNS = ("sex", "age_band", "education", "occupation")
# Column descriptions of scores.csv: (Bahasa Indonesia, English). Other columns (the element
# figures) are described by their pattern.
SCORE_COLUMNS: dict[str, tuple[str, str]] = {
    "opd": ("slug OPD", "OPD slug"),
    "name": ("nama OPD", "OPD name"),
    "n": ("jumlah respons yang dihitung", "number of counted responses"),
    "flagged": ("respons ditandai (tidak dihitung)", "flagged responses (not counted)"),
    "ikm": ("IKM pada skala 1–4", "IKM on the 1–4 scale"),
    "ikm_converted": ("IKM konversi (25–100)", "converted IKM (25–100)"),
    "ci_low": ("batas bawah interval 95% (25–100)", "lower bound of the 95% interval (25–100)"),
    "ci_high": ("batas atas interval 95% (25–100)", "upper bound of the 95% interval (25–100)"),
    "ci_method": ("metode interval", "interval method"),
    "unreliable": ("sampel di bawah 15 (kurang andal)", "sample under 15 (unreliable)"),
    "category": ("huruf kategori mutu", "quality category letter"),
    "category_label": ("nama kategori (Indonesia)", "category name (Indonesian)"),
    "category_label_en": ("nama kategori (Inggris)", "category name (English)"),
    "crosses_boundary": (
        "interval melewati batas kategori",
        "the interval crosses a category boundary",
    ),
    "rank": ("peringkat (1 = terbaik)", "rank (1 = best)"),
    "rank_ci_low": (
        "peringkat terbaik dalam himpunan kepercayaan 95% serentak",
        "best rank of the simultaneous 95% confidence set",
    ),
    "rank_ci_high": (
        "peringkat terburuk dalam himpunan kepercayaan 95% serentak",
        "worst rank of the simultaneous 95% confidence set",
    ),
    "rank_marginal_low": (
        "peringkat terbaik dalam himpunan 95% marginal",
        "best rank of the marginal 95% set",
    ),
    "rank_marginal_high": (
        "peringkat terburuk dalam himpunan 95% marginal",
        "worst rank of the marginal 95% set",
    ),
    "in_top_set": ("mungkin termasuk K terbaik", "may be among the best K"),
    "in_bottom_set": ("mungkin termasuk K terburuk", "may be among the worst K"),
    "funnel_95": (
        "posisi terhadap batas corong 95% (above, below, inside)",
        "position against the 95% funnel limits (above, below, inside)",
    ),
    "funnel_998": (
        "posisi terhadap batas corong 99,8% (above, below, inside)",
        "position against the 99.8% funnel limits (above, below, inside)",
    ),
    "shrunken": ("IKM empirical Bayes (1–4)", "empirical-Bayes IKM (1–4)"),
}


def _csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Return CSV text with LF line ends, formula-like text neutralised, None empty."""
    from survey.core.spreadsheet import neutralise

    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if value is None else neutralise(value) for value in row])
    return buffer.getvalue()


def _open_responses(
    session: Session, *, wave: Wave, zone: ZoneInfo
) -> tuple[list[str], list[list[Any]], list[str]]:
    """Return the header and sorted rows of responses.csv and the OPDs left without profile."""
    from reports.model import age_band

    codes = question_codes(session, wave=wave)
    records = list(export_records(session, wave=wave))
    per_opd = Counter(record.opd for record in records)
    small = sorted(slug for slug, n in per_opd.items() if n < OPEN_DATA_MIN_GROUP)
    rows: list[list[Any]] = []
    for record in records:
        submitted = record.submitted_at
        if submitted.tzinfo is None:
            submitted = submitted.replace(tzinfo=UTC)
        profile: list[Any] = [None] * len(OPEN_RESPONDENT_COLUMNS)
        if per_opd[record.opd] >= OPEN_DATA_MIN_GROUP:
            band = age_band(record.age) if record.age is not None else None
            profile = [record.sex, band, record.education, record.occupation]
        rows.append([record.opd, submitted.astimezone(zone).date().isoformat()])
        rows[-1] += [*record.answers, *profile]
    # Sorted on the values, so that the order says nothing of when each row was stored.
    rows.sort(key=lambda row: tuple("" if v is None else str(v) for v in row))
    header = [*OPEN_RESPONSE_COLUMNS, *codes, *OPEN_RESPONDENT_COLUMNS]
    return header, rows, small


def _readme(
    wave: Wave,
    *,
    codes: list[tuple[str, str, str]],
    score_header: list[str],
    counted: int,
    flagged: int,
    opds: int,
    small: list[str],
    taken: str,
    fingerprint: str | None,
) -> str:
    """Return README.md of the open-data package, in Bahasa Indonesia and English."""
    period = " – ".join(d.isoformat() for d in (wave.period_start, wave.period_end) if d) or "–"
    lines = [
        f"# Data terbuka / Open data: {wave.title}",
        "",
        f"- Gelombang / Wave: `{wave.slug}` — {wave.title}",
        f"- Penyelenggara / Evaluator: {wave.evaluator or '–'}",
        f"- Periode / Period: {period}",
        f"- Data diambil / Data taken: {taken} (saat diterbitkan / when published)",
        f"- Respons dihitung / Counted responses: {counted}",
        f"- Respons ditandai, tidak disertakan / Flagged responses, left out: {flagged}",
        f"- OPD: {opds}",
        f"- Sidik data / Data fingerprint: {fingerprint or '–'}",
        f"- Lisensi / Licence: {OPEN_DATA_LICENCE} (https://creativecommons.org/licenses/by/4.0/)",
    ]
    if wave.simulated:
        lines.append("- **Data simulasi (demo) / Simulated data (demo)**")
    lines += [
        "",
        "Berkas CSV berkodekan UTF-8, dipisahkan koma; teks yang diawali = + - @ diberi tanda "
        "kutip tunggal di depannya agar tidak dijalankan sebagai rumus oleh program lembar "
        "kerja. / CSV files are UTF-8, comma-separated; text starting with = + - @ has a "
        "single quote put before it so that spreadsheet programs do not run it as a formula.",
        "",
        "## responses.csv",
        "",
        "Satu baris per responden yang dihitung, diurutkan menurut nilainya; tanpa komentar, "
        "tanpa jenis layanan, tanpa pengenal apa pun. / One row per counted respondent, sorted "
        "by value; no comments, no service, no identifiers of any kind.",
        "",
        "| kolom / column | arti | meaning |",
        "| --- | --- | --- |",
        "| `opd` | slug OPD | OPD slug |",
        "| `submitted_at` | tanggal pengisian (Asia/Jakarta, YYYY-MM-DD) | date answered "
        "(Asia/Jakarta, YYYY-MM-DD) |",
    ]
    for code, name_id, name_en in codes:
        lines.append(
            f"| `{code}` | jawaban unsur {name_id} (1–4, kosong: tidak dijawab) | answer to "
            f"element {name_en} (1–4, empty: not answered) |"
        )
    lines += [
        "| `sex` | jenis kelamin (L/P) | sex (L = male, P = female) |",
        "| `age_band` | kelompok umur | age band |",
        "| `education` | pendidikan (SD … S3) | education (SD … S3) |",
        "| `occupation` | pekerjaan | occupation |",
        "",
        f"Kolom `sex`, `age_band`, `education`, `occupation` dikosongkan untuk OPD dengan "
        f"kurang dari {OPEN_DATA_MIN_GROUP} respons dihitung. / These four columns are blank "
        f"for an OPD with fewer than {OPEN_DATA_MIN_GROUP} counted responses"
        + (f": {', '.join(small)}." if small else "."),
        "",
        "## scores.csv, scores.json",
        "",
        "Skor tiap OPD seperti `ikm score` (interval 95% berklaster responden, himpunan "
        "peringkat serentak; seed 0). scores.json memuat objek yang sama dengan `elements` "
        "bersarang. / Each OPD's scores as `ikm score` gives them (respondent-clustered 95% "
        "intervals, simultaneous rank sets; seed 0). scores.json holds the same objects with "
        "`elements` nested.",
        "",
        "| kolom / column | arti | meaning |",
        "| --- | --- | --- |",
    ]
    parts = {
        "nrr": ("nilai rata-rata unsur (1–4)", "element mean (1–4)"),
        "ci_low": ("batas bawah interval 95% (1–4)", "lower bound of the 95% interval (1–4)"),
        "ci_high": ("batas atas interval 95% (1–4)", "upper bound of the 95% interval (1–4)"),
        "n": ("jumlah jawaban unsur", "answers to the element"),
    }
    for name in score_header:
        text_id, text_en = SCORE_COLUMNS.get(name, ("lihat `ikm score`", "see `ikm score`"))
        for part, (part_id, part_en) in parts.items():
            if name not in SCORE_COLUMNS and name.endswith(f"_{part}"):
                code = name[: -len(part) - 1]
                text_id, text_en = f"unsur {code}: {part_id}", f"element {code}: {part_en}"
                break
        lines.append(f"| `{name}` | {text_id} | {text_en} |")
    return "\n".join(lines) + "\n"


def open_data_zip(session: Session, *, wave: Wave, timezone: str = "Asia/Jakarta") -> bytes:
    """Return the open-data ZIP of a published wave; the same data give the same bytes."""
    from survey.core.scores import ScoreError, score_wave, to_csv, to_json

    if wave.status != "published":
        raise _refused("export-not-published", wave=wave.slug)
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise _refused("import-timezone-unknown", value=timezone) from None
    header, rows, small = _open_responses(session, wave=wave, zone=zone)
    try:
        report = score_wave(session, wave=wave, wave_tests=False)
        scores_csv, scores_json = to_csv(report), to_json(report) + "\n"
        fingerprint: str | None = report.fingerprint
        score_header = next(csv.reader(io.StringIO(scores_csv)))
    except ScoreError:
        scores_csv, scores_json, fingerprint, score_header = "opd\n", "[]\n", None, ["opd"]
    # Score text is numbers and names; OPD names could still start like a formula.
    scores_csv = _csv_text(score_header, list(csv.reader(io.StringIO(scores_csv)))[1:])
    published = wave.published_at or wave.created_at
    if published.tzinfo is None:
        published = published.replace(tzinfo=UTC)
    local = published.astimezone(zone)
    elements = queries.elements(session, questionnaire_id=wave.questionnaire_id)
    counts = queries.response_counts(session, wave=wave)
    readme = _readme(
        wave,
        codes=[(e.code, e.name_id, e.name_en) for e in elements],
        score_header=score_header,
        counted=len(rows),
        flagged=counts.get("flagged", 0),
        opds=len(queries.wave_opds(session, wave=wave)),
        small=small,
        taken=local.isoformat(timespec="seconds"),
        fingerprint=fingerprint,
    )
    files = [
        ("README.md", readme),
        ("responses.csv", _csv_text(header, rows)),
        ("scores.csv", scores_csv),
        ("scores.json", scores_json),
    ]
    # Fixed entry times (the publication time, local) and attributes: byte-identical output.
    stamp = max(local.replace(tzinfo=None), datetime(1980, 1, 1)).timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in files:
            info = zipfile.ZipInfo(f"{wave.slug}/{name}", date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            archive.writestr(info, text.encode("utf-8"))
    return buffer.getvalue()

"""Data in: importing response files into a wave, from the command line and the web.

The import service checks a response file against a wave (``import_context``) and writes
its new rows in one transaction with the ``import.run`` audit entry (``write_import``), so
``ikm import`` and the web import store the same submission ids for the same wave and file
and a second import of a file adds nothing. A web import is an ``ImportJob``: the upload is
kept in the job row while the evaluator checks the column mapping, then ``run_import_job``
checks every row (recording its progress in the job row, committed on its own so that any
app server can show it), and writes all rows or none: in one transaction, or on SQLite, for
more than ``PARTS_ABOVE_ROWS`` rows, in parts that a failure takes back (``write_in_parts``,
also used by ``ikm import`` through ``import_rows``). A job whose worker died is failed by a
short transaction (``expire_stale_jobs``, in web requests) and the rows it committed are taken
back in parts later (``take_back_failed``: the web's background thread, the next import, ``ikm
import-cleanup``); a publication of the wave waits for that. A failed job keeps why as coded
problems in ``problems`` (the page translates them; ``message`` holds the same in English, for
logs) and at most ``ERROR_LIMIT`` bad rows in ``errors``, each ``{"row": N, "problems":
[...]}``; when there were more, a last entry ``{"row": None, "problems": [], "omitted": N}``
says how many were left out. A stored problem is ``{"code", "field", "params"}``.

Exports live in :mod:`survey.core.exports` (they share ``DataIOError``). Nothing here reads a
Flask request: callers pass the session, the wave and the settings.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from survey.core import notapplicable, opds, queries, submissions, tallies
from survey.core.audit import audit
from survey.core.models import ImportJob, Response, Wave, utcnow
from survey.core.problems import Problem, ProblemError, define, problem
from survey.core.responsefile import (
    COMMENT_MAX_LENGTH,
    COMMON_NAMES,
    PROFILE_CODES,
    CanonicalReader,
    ColumnMapping,
    ColumnMatch,
    FileFormatError,
    FileHead,
    FileScan,
    ImportContext,
    ImportRow,
    RowError,
    canonical_columns,
    file_digest,
    import_submission_ids,
    match_column,
    normalise,
    profile_code,
    read_head,
    suggest_field,
)

log = logging.getLogger(__name__)

PROGRESS_EVERY = 250  # rows between two looks at the clock for a web import's progress
# Seconds between two progress commits of a web import: each rewrites the job's row, which on
# SQLite means its whole upload (megabytes) again.
PROGRESS_SECONDS = 1.0
ERROR_LIMIT = 1000  # bad rows kept in a failed job's report
# On SQLite a big import writes its rows in transactions of this many (about 10 ms each),
# pausing after each for WRITE_PAUSE_RATIO times as long as it held the one write lock (at
# least WRITE_PAUSE_SECONDS), so that the citizens' answers waiting for it get it while their
# busy handler still polls every few ms; one transaction of a million rows held it for a
# minute, and answers waiting longer than the busy timeout (10 s) failed.
WRITE_CHUNK_ROWS = 500
WRITE_PAUSE_SECONDS = 0.01
WRITE_PAUSE_RATIO = 2.0
# Fewer rows than this are written in one transaction on SQLite too (about a second of the
# write lock at most: citizens' answers wait, none fails), and so at full speed.
PARTS_ABOVE_ROWS = 50_000
PREVIEW_ROWS = 5  # data rows shown on the mapping page
# Rows the mapping page reads for its lists (profile answers, empty elements): a page, not a
# job; the job checks every row of the file anyway.
MAPPING_SCAN_ROWS = 20_000
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
        "import-running": (
            "an import into wave {wave!r} is still running; wait until it has finished"
        ),
        "import-taking-back": (
            "the rows of a failed import into wave {wave!r} are still being taken back; "
            "try again in a few minutes"
        ),
        "import-element-empty": (
            "{code} ({element}) is not answered by any of the {rows} rows of {opd}"
        ),
        "import-element-unmapped": (
            "{code} ({element}) has no column in the file: it would be empty in all {rows} rows"
        ),
        "export-format-unknown": "unknown export format {value!r} (use {formats})",
        "export-not-published": "wave {wave!r} is not published",
    }
)


class DataIOError(ProblemError):
    """An import or export that cannot go ahead; ``problems`` say why."""


class ConcurrentImportError(DataIOError):
    """Another import wrote some of the same rows meanwhile; this one wrote nothing."""


def refused(code: str, **params: Any) -> DataIOError:
    """Return the error of an import or export refused for one problem."""
    return DataIOError([problem(code, "", **params)])


def _published(wave: Wave) -> DataIOError:
    """Return the error of a change to a published wave's responses."""
    return refused("import-wave-published", wave=wave.slug)


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


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cycle collector while an import checks and writes its rows.

    A file's rows are hundreds of thousands of small objects that live until the write, and
    each collection would walk them all again: a sixth of a 100,000-row import's time. Nothing
    an import makes needs the cycle collector (reference counting frees it); the collector
    runs again afterwards (if it was on).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
        raise refused("import-timezone-unknown", value=timezone) from None
    return ImportContext(
        question_codes=tuple(e.code for e in elements),
        scale_points=questionnaire.scale_points,
        opd_ids=opd_ids,
        other_opds=others,
        timezone=zone,
        now=now or datetime.now(UTC),
        # The column holds 1,200 characters whatever the setting says.
        comment_max_length=min(int(comment_max_length), COMMENT_MAX_LENGTH),
        services={
            opd_id: {name.casefold(): name for name in names}
            for opd_id, names in opds.listed_services(
                session, opd_ids=sorted(set(opd_ids.values()))
            ).items()
        },
        question_texts={
            e.code: (e.question_id, e.question_en, e.name_id, e.name_en) for e in elements
        },
        answer_labels={e.code: (tuple(e.labels_id), tuple(e.labels_en)) for e in elements},
        not_applicable=notapplicable.import_texts(notapplicable.by_code(elements, questionnaire)),
    )


def answer_positions(session: Session, *, wave: Wave) -> list[int]:
    """Return the answer column positions of the wave's questions, in question order."""
    return [e.position for e in queries.elements(session, questionnaire_id=wave.questionnaire_id)]


# The columns of an imported row before its answers (``write_import``).
IMPORT_COLUMNS = (
    "wave_id", "opd_id", "submission_id", "submitted_at", "channel", "status",
    "sex", "age", "education", "occupation", "service", "comment",
)  # fmt: skip


def new_import_rows(
    session: Session, *, wave: Wave, digest: str, rows: Iterable[ImportRow]
) -> tuple[list[tuple[str, ImportRow]], int]:
    """Return the rows not yet in the wave (with their submission ids) and the count present."""
    present = queries.submission_ids(session, wave=wave, channel="import")
    fresh: list[tuple[str, ImportRow]] = []
    already = 0
    submission_id = import_submission_ids(wave.id or 0, digest)
    for row in rows:
        key = submission_id(row.row)
        if key in present:
            already += 1
        else:
            fresh.append((key, row))
    return fresh, already


def import_columns(positions: Sequence[int]) -> tuple[str, ...]:
    """Return the columns an imported row is written with (``IMPORT_COLUMNS``, the answers)."""
    return (*IMPORT_COLUMNS, *(f"a{position}" for position in positions))


def import_values(
    wave_id: int, fresh: Iterable[tuple[str, ImportRow]]
) -> Iterator[tuple[Any, ...]]:
    """Yield the column values (``import_columns``) of each new row with its submission id."""
    for submission_id, row in fresh:
        yield (
            wave_id, row.opd_id, submission_id, row.submitted_at, "import", "counted",
            row.sex, row.age, row.education, row.occupation, row.service, row.comment,
            *row.answers,
        )  # fmt: skip


def _check_wave_open_to_rows(session: Session, wave_id: int | None) -> Wave:
    """Return the wave, read in the caller's transaction and share-locked on PostgreSQL (a
    publication waits for the import, or the import sees it); refuse a gone or published one.
    """
    wave = session.exec(
        select(Wave)
        .where(Wave.id == wave_id)
        .with_for_update(read=True)
        .execution_options(populate_existing=True)
    ).first()
    if wave is None:
        raise refused("import-wave-gone")
    if wave.status == "published":
        raise _published(wave)
    return wave


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

    ``progress`` is called with the rows of each batch written; ``before_commit`` may add
    more changes to the same transaction (a web job's final state). Raise
    ConcurrentImportError, with nothing written, if another import stored some of these rows
    meanwhile.
    """
    _check_wave_open_to_rows(session, wave.id)
    positions = answer_positions(session, wave=wave)
    fresh, already = new_import_rows(session, wave=wave, digest=digest, rows=rows)
    columns = import_columns(positions)
    result = ImportResult(imported=len(fresh), already_present=already)
    try:
        if fresh:
            submissions.insert_response_tuples(
                session,
                columns=columns,
                rows=import_values(wave.id or 0, fresh),
                progress=progress,
            )
            # Again, now that this transaction holds SQLite's write lock (its first read ran
            # before it had one): a publication committed meanwhile refuses the rows.
            _check_wave_open_to_rows(session, wave.id)
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
    except DataIOError:
        session.rollback()
        raise
    return result


# --- Import: web jobs -------------------------------------------------------------------------


# A queued or running job older than this (counted from its confirmation, when the mapping
# step ends) has lost its worker (the server restarted): its rows were never committed (one
# transaction at the end), or, written in parts on SQLite, are taken back from ``written``
# (``take_back_failed``, in parts, outside the request that finds the job dead).
JOB_STALE_AFTER = timedelta(hours=2)
# An upload left at the mapping step this long is dropped, bytes and all.
MAPPING_EXPIRES_AFTER = timedelta(hours=24)


def expire_stale_jobs(session: Session, *, now: datetime | None = None) -> int:
    """Fail jobs whose worker is gone and drop uploads abandoned at mapping; commit; count them.

    One short transaction of status changes (no response row is touched): the job stops
    counting as running at once. Rows a dead job committed in parts (``write_in_parts``)
    stay recorded in its ``written`` and are taken back later, in parts, by
    :func:`take_back_failed` (the web's background thread, the next import's worker, ``ikm
    import`` or ``ikm import-cleanup``): deleting a million of them here held SQLite's write
    lock for a minute inside a web request. A publication is refused until they are gone
    (:func:`check_no_running_import`).
    """
    now = now or utcnow()
    stale = 0
    for statuses, since, code in (
        (("queued", "running"), JOB_STALE_AFTER, "import-stopped"),
        (("mapping",), MAPPING_EXPIRES_AFTER, "import-expired"),
    ):
        reason = problem(code)
        # A conditional UPDATE: a job that finished meanwhile is left as it is.
        stale += _updated(
            session,
            sa.update(ImportJob)
            .where(
                col(ImportJob.status).in_(statuses),
                col(ImportJob.created_at) < now - since,
            )
            .values(
                status="failed",
                message=reason.english(),
                problems=[problem_record(reason)],
                data=b"",
                finished_at=now,
            ),
        )
    session.commit()
    return stale


def _recording_rows() -> sa.ColumnElement[bool]:
    """The condition of jobs whose ``written`` still names rows they committed."""
    return sa.cast(col(ImportJob.written), sa.Text) != "[]"


def _failed_with_rows(session: Session, wave_id: int | None) -> list[tuple[int, int]]:
    """Return (job, wave) of the failed jobs (of a wave, or all) still recording rows."""
    query = sa.select(col(ImportJob.id), col(ImportJob.wave_id)).where(
        col(ImportJob.status) == "failed", _recording_rows()
    )
    if wave_id is not None:
        query = query.where(col(ImportJob.wave_id) == wave_id)
    found = session.execute(query.order_by(col(ImportJob.id))).all()
    return [(int(job_id), int(job_wave)) for job_id, job_wave in found]


def jobs_to_take_back(session: Session, *, wave_id: int | None = None) -> list[int]:
    """Return the failed jobs (of a wave, or all) whose recorded rows are still to go."""
    return [job_id for job_id, _wave in _failed_with_rows(session, wave_id)]


def take_back_failed(engine: Engine, *, wave_id: int | None = None) -> int:
    """Delete the rows failed jobs (of a wave, or all) still record, in parts; return how many.

    A job failed as stopped (``expire_stale_jobs``) or whose own take-back failed keeps its
    committed ranges in ``written``; :func:`delete_written` takes them back as a job's own
    failure does: at most ``WRITE_CHUNK_ROWS`` ids a transaction, the record shrinking in the
    same transaction, pausing between, so citizens' answers get SQLite's write lock in
    between. Safe beside another caller doing the same (each transaction reads the record
    after taking the job row) and after an interruption (the record names the rows left).
    """
    with Session(engine) as session:
        jobs = _failed_with_rows(session, wave_id)
    deleted = 0
    for job_id, job_wave in jobs:
        deleted += delete_written(engine, job_wave, [], job_id=job_id)
    return deleted


def _take_back_quietly(engine: Engine) -> None:
    """Run :func:`take_back_failed` before an import writes; a failure of it is logged, not
    raised (the rows stay recorded for the next caller; the import's parts are refused while
    its own wave's remain)."""
    try:
        take_back_failed(engine)
    except Exception:
        log.exception("failed imports' rows could not be taken back")


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
    return read_head(job.data, job.kind, limit=PREVIEW_ROWS, estimate=False)


def mapping_scan(
    job: ImportJob, context: ImportContext, mapping: ColumnMapping | None
) -> tuple[tuple[str, ...], FileScan]:
    """Return the fields a job's file is read as with a mapping and a scan of its first
    ``MAPPING_SCAN_ROWS`` rows, for the mapping page (FileFormatError if the mapping does
    not fit the file). Every column has a field or is ignored by choice there."""
    reader = CanonicalReader(
        job.data, context, kind=job.kind, mapping=mapping, ignore_extra=True, estimate=False
    )
    return reader.columns, reader.scan(row_limit=MAPPING_SCAN_ROWS)


@dataclass(frozen=True)
class ColumnChoice:
    """One header cell on the mapping page: the field it is read as (None: ignored) and why.

    ``match`` is the question the header resembles, if any; ``needs_choice`` marks a header
    that resembles a question without clearly being it: nothing is preselected for it and the
    evaluator must choose (a question, another field, or ignore it on purpose).
    """

    index: int
    header: str
    field: str | None
    source: str  # "canonical", "mapping", "suggested", "similar", "ambiguous" or "ignored"
    preview: tuple[str, ...]
    match: ColumnMatch | None = None
    needs_choice: bool = False


def column_choices(
    head: FileHead, context: ImportContext, mapping: ColumnMapping | None = None
) -> list[ColumnChoice]:
    """Preselect the field of every header cell: the mapping, the canonical name, a guess.

    A header that resembles a question clearly (a typo in the question text, "U02") is
    preselected to it ("similar", with its score); one that resembles a question only
    weakly, or a question an earlier column already takes, is left for the evaluator to
    choose ("ambiguous"): never silently ignored. Another field already taken by an earlier
    column is not offered again (the later column is preselected as ignored).
    """
    known = {name.lower(): name for name in canonical_columns(context.question_codes)}
    questions = set(context.question_codes)
    explicit = {normalise(k): v for k, v in (mapping.columns if mapping else {}).items()}
    taken: set[str] = set()
    choices: list[ColumnChoice] = []
    for index, raw in enumerate(head.header):
        header = raw.strip()
        field: str | None
        found: ColumnMatch | None = None
        if normalise(header) in explicit:
            target = explicit[normalise(header)]
            field, source = (known.get(target.lower()) if target else None), "mapping"
        elif header.lower() in known:
            field, source = known[header.lower()], "canonical"
        else:
            field, source = (suggest_field(header, context) if header else None), "suggested"
            if header and normalise(header) not in COMMON_NAMES:
                found = match_column(header, context)
            if found is not None and field == found.code and found.reason == "similar":
                source = "similar"
            elif field is None and found is not None:
                source = "ambiguous"
        preview = tuple(row[index] if index < len(row) else "" for row in head.rows)
        if source == "ambiguous" or (
            field in taken and field in questions and source in ("suggested", "similar")
        ):
            choices.append(ColumnChoice(index, header, None, "ambiguous", preview, found, True))
            continue
        if field is None or field in taken:
            field, source = None, "ignored" if source != "mapping" else source
        else:
            taken.add(field)
        choices.append(ColumnChoice(index, header, field, source, preview, found))
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
        raise refused("import-time-format-invalid")
    try:
        datetime(2026, 1, 13, 9, 30, 5).strftime(fmt)
        datetime.strptime(datetime(2026, 1, 13, 9, 30, 5).strftime(fmt), fmt)
    except ValueError as exc:
        raise refused("import-time-format-unusable", detail=str(exc)) from None
    return fmt


def mapping_from_choices(
    headers: Sequence[str],
    fields: Sequence[str | None],
    time_format: str | None,
    values: dict[str, dict[str, str]] | None = None,
) -> ColumnMapping | None:
    """Return the mapping the user chose; None when the file is canonical as it stands.

    Only headers read under another name than their own are written into the mapping, so a
    canonical file confirmed unchanged is read exactly as ``ikm import`` reads it. ``values``
    are the chosen readings of profile answers (field -> text -> code, "" for empty); those
    that only repeat the built-in reading (a code, a common spelling) are left out.
    """
    columns = {
        header: field
        for header, field in zip(headers, fields, strict=True)
        if not (field is not None and header.strip().lower() == field.lower())
    }
    # Only readings other than the built-in one are kept: a canonical file stays canonical.
    tables = {
        name: kept
        for name, table in (values or {}).items()
        if (kept := {t: c for t, c in table.items() if c != profile_code(name, t)})
    }
    if not columns and time_format is None and not tables:
        return None
    return ColumnMapping(columns=columns, values=tables, time_format=time_format)


# --- Import: what the mapping step checks before anything is written -------------------------

# The key of an import job's mapping JSON holding the empty elements the evaluator accepted.
ACKNOWLEDGED_KEY = "acknowledged_empty"
UNKNOWN_VALUE = "?"  # a profile answer nobody has chosen a reading for yet


@dataclass(frozen=True)
class EmptyElement:
    """An element the import would leave without a single answer for one OPD (or for all)."""

    code: str
    opd_id: int | None  # None: no column is read as the element (empty for every OPD)
    rows: int

    @property
    def key(self) -> str:
        """Return a stable key ("U2@5", "U2@*") for acknowledgements and audit entries."""
        return f"{self.code}@{'*' if self.opd_id is None else self.opd_id}"


def empty_elements(
    codes: Sequence[str],
    opd_rows: dict[int, int] | Any,
    answered: dict[int, frozenset[str]] | Any,
    mapped: Iterable[str],
) -> list[EmptyElement]:
    """Return the elements left empty: unmapped ones first, then per OPD, in question order."""
    present = set(mapped)
    total = sum(opd_rows.values())
    found = [EmptyElement(code, None, total) for code in codes if code not in present]
    for opd_id in sorted(opd_rows):
        done = answered.get(opd_id, frozenset())
        found.extend(
            EmptyElement(code, opd_id, opd_rows[opd_id])
            for code in codes
            if code in present and code not in done
        )
    return found


def empty_elements_of_rows(
    codes: Sequence[str], rows: Iterable[ImportRow], mapped: Iterable[str] | None = None
) -> list[EmptyElement]:
    """Return the elements checked rows leave empty for an OPD.

    ``mapped`` are the questions the file has a column for (None: all of them); the others
    are reported once as unmapped rather than once per OPD.
    """
    opd_rows: dict[int, int] = {}
    answered: dict[int, set[int]] = {}
    width = len(codes)
    for row in rows:
        opd_rows[row.opd_id] = opd_rows.get(row.opd_id, 0) + 1
        done = answered.setdefault(row.opd_id, set())
        if len(done) < width:
            done.update(i for i, answer in enumerate(row.answers) if answer is not None)
    by_code = {opd_id: frozenset(codes[i] for i in indexes) for opd_id, indexes in answered.items()}
    return empty_elements(codes, opd_rows, by_code, codes if mapped is None else mapped)


def empty_element_problems(
    session: Session, *, wave: Wave, empties: Sequence[EmptyElement]
) -> list[Problem]:
    """Return one problem per empty element, naming the element and the OPD."""
    names = {
        e.code: e.name_id for e in queries.elements(session, questionnaire_id=wave.questionnaire_id)
    }
    opd_names = {opd.id: opd.name for opd, _link in queries.wave_opds(session, wave=wave)}
    return [
        problem(
            "import-element-unmapped",
            item.code,
            code=item.code,
            element=names.get(item.code, item.code),
            rows=item.rows,
        )
        if item.opd_id is None
        else problem(
            "import-element-empty",
            item.code,
            code=item.code,
            element=names.get(item.code, item.code),
            opd=opd_names.get(item.opd_id, str(item.opd_id)),
            rows=item.rows,
        )
        for item in empties
    ]


@dataclass(frozen=True)
class ValueChoice:
    """One distinct profile answer of a file: how often, and the code it will be stored as."""

    text: str
    rows: int
    code: str | None  # None: not chosen yet (unknown); "" : stored empty
    source: str  # "synonym" (a code or common spelling), "mapping" (chosen) or "unknown"


def value_choices(
    scan: FileScan, mapping: ColumnMapping | None = None
) -> dict[str, list[ValueChoice]]:
    """Return, per profile column of the file, each distinct answer and its reading.

    A reading chosen in ``mapping`` wins over the built-in codes and synonyms; an answer
    neither knows is unknown until the evaluator chooses (a code, or empty).
    """
    chosen = {
        name: {normalise(text): code for text, code in table.items()}
        for name, table in (mapping.values if mapping else {}).items()
    }
    result: dict[str, list[ValueChoice]] = {}
    for name in PROFILE_CODES:
        if name not in scan.values:
            continue
        table = chosen.get(name, {})
        items = []
        for text, rows in sorted(scan.values[name].items(), key=lambda item: -item[1]):
            if normalise(text) in table:
                items.append(ValueChoice(text, rows, table[normalise(text)], "mapping"))
            elif (code := profile_code(name, text)) is not None:
                items.append(ValueChoice(text, rows, code, "synonym"))
            else:
                items.append(ValueChoice(text, rows, None, "unknown"))
        result[name] = items
    return result


def _acknowledgement(keys: Sequence[str]) -> dict[str, Any]:
    """Return the audit detail of accepted empty elements (nothing when there were none)."""
    return {"empty_elements_acknowledged": list(keys)} if keys else {}


def job_mapping(job: ImportJob) -> tuple[ColumnMapping | None, list[str]]:
    """Return a job's stored column mapping and the empty elements its evaluator accepted."""
    stored = dict(job.mapping or {})
    acknowledged = [str(key) for key in stored.pop(ACKNOWLEDGED_KEY, None) or []]
    return (ColumnMapping.from_json(stored) if stored else None), acknowledged


def confirm_job(
    session: Session,
    *,
    job: ImportJob,
    context: ImportContext,
    mapping: ColumnMapping | None,
    acknowledged: Sequence[str] = (),
) -> bool:
    """Check the mapping against the file, store it and queue the job. Commits.

    ``acknowledged`` are the keys of the empty elements the evaluator accepted (recorded with
    the mapping and in the import's audit entry). Raise FileFormatError (the job unchanged)
    for a mapping the file cannot be read with. Return False if the job had left the mapping
    step already (a second click), else True.
    """
    wave = session.get(Wave, job.wave_id)
    if wave is None:
        raise refused("import-wave-gone")
    if wave.status == "published":
        raise _published(wave)
    # Every column has a field or is ignored by choice, so nothing is "extra".
    CanonicalReader(
        job.data, context, kind=job.kind, mapping=mapping, ignore_extra=True, estimate=False
    )
    stored = mapping.to_json() if mapping is not None else {}
    if acknowledged:
        stored[ACKNOWLEDGED_KEY] = list(acknowledged)
    # Compare and set: of two confirmations of one job only the first queues it.
    changed = _updated(
        session,
        sa.update(ImportJob)
        .where(col(ImportJob.id) == job.id, col(ImportJob.status) == "mapping")
        # created_at restarts: JOB_STALE_AFTER counts from here, not from the upload, which
        # may have waited at the mapping step for hours (up to MAPPING_EXPIRES_AFTER).
        .values(status="queued", mapping=stored, ignore_extra=True, created_at=utcnow()),
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
    with gc_paused():
        _run_import_job(
            engine, job_id=job_id, timezone=timezone, comment_max_length=comment_max_length
        )


def _run_import_job(engine: Engine, *, job_id: int, timezone: str, comment_max_length: int) -> None:
    """Do ``run_import_job``'s work."""
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
        acknowledged = [str(key) for key in (job.mapping or {}).get(ACKNOWLEDGED_KEY) or []]
        # The upload leaves the row now (the check reads it from memory): each progress commit
        # rewrites the job's row, which on SQLite would write the whole file again every
        # second. A job whose worker dies is failed as "upload the file again" anyway.
        data = job.data
        session.execute(sa.update(ImportJob).where(col(ImportJob.id) == job_id).values(data=b""))
        session.commit()
        try:
            rows, errors = _check_job(session, job, data, timezone, comment_max_length)
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
    # Rows failed imports left recorded (a dead job's, say) go first, in parts: this thread
    # can afford the minute a million of them take, and a job's parts are refused while
    # another job of the wave still records rows (``_check_no_other_parts``).
    _take_back_quietly(engine)
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

    detail = {"job": job_id, **_acknowledgement(acknowledged)}
    if _writes_in_parts(engine, len(rows)):
        write = JobWrite(job_id, wave_id, filename, digest, actor, detail)
        try:
            write_in_parts(engine, write, rows, finish)
        except DataIOError as exc:
            _fail(engine, job_id, exc.problems, filename=filename)
        except Exception:
            log.exception("import job %s failed while writing", job_id)
            _fail(engine, job_id, [problem("import-write-crashed")])
        return
    # A fresh session: the rows are written in one transaction that began after the last
    # progress commit. PostgreSQL's COPY writes them in seconds, locking no citizen out.
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
                **detail,
            )
        except DataIOError as exc:
            session.rollback()
            _fail(engine, job_id, exc.problems, filename=filename)
        except Exception:
            log.exception("import job %s failed while writing", job_id)
            session.rollback()
            _fail(engine, job_id, [problem("import-write-crashed")])


def import_rows(
    session: Session,
    *,
    wave: Wave,
    filename: str,
    kind: str,
    digest: str,
    rows: Sequence[ImportRow],
    actor: str | None,
    progress: Callable[[int], None] | None = None,
    **detail: Any,
) -> ImportResult:
    """Write checked rows as ``ikm import`` does: :func:`write_import` in one transaction on
    PostgreSQL and for at most ``PARTS_ABOVE_ROWS`` rows; above that on SQLite as a job of its
    own (``running``, no upload kept) written in parts
    (:func:`write_in_parts`), so that citizens are not locked out meanwhile, a publication
    waits for it, and an interrupted import takes its rows back (or, killed, leaves them to
    :func:`expire_stale_jobs` and :func:`take_back_failed`). Raise DataIOError (nothing
    written) as ``write_import`` does.
    """
    engine = session.get_bind()
    assert isinstance(engine, Engine)  # the sessions here are bound to an engine
    if not _writes_in_parts(engine, len(rows)):
        return write_import(
            session,
            wave=wave,
            filename=filename,
            digest=digest,
            rows=rows,
            actor=actor,
            progress=progress,
            **detail,
        )
    job = ImportJob(
        wave_id=wave.id or 0,
        actor=actor,
        filename=filename[:255],
        kind=kind,
        digest=digest,
        status="running",
        total_rows=len(rows),
        processed_rows=len(rows),
    )
    session.add(job)
    session.commit()
    job_id = int(job.id or 0)
    outcome: list[ImportResult] = []

    def finish(session: Session, result: ImportResult) -> None:
        """Record the job's result in the transaction of its last part."""
        outcome.append(result)
        session.execute(
            sa.update(ImportJob)
            .where(col(ImportJob.id) == job_id)
            .values(
                status="done",
                imported=result.imported,
                already_present=result.already_present,
                message=(
                    f"{filename}: {result.imported} imported, "
                    f"{result.already_present} already present"
                ),
                finished_at=utcnow(),
            )
        )

    write = JobWrite(job_id, wave.id or 0, filename, digest, actor, detail)
    try:
        # As the web's worker does: rows failed imports left recorded go first, in parts.
        _take_back_quietly(engine)
        write_in_parts(engine, write, rows, finish, progress=progress)
    except DataIOError as exc:
        _fail(engine, job_id, exc.problems, filename=filename)
        raise
    except BaseException:
        _fail(engine, job_id, [problem("import-write-crashed")])
        raise
    return outcome[0]


def _writes_in_parts(engine: Engine, rows: int) -> bool:
    """Tell whether an import of ``rows`` rows writes them in parts (on SQLite, one writer at
    a time, above ``PARTS_ABOVE_ROWS``)."""
    return engine.dialect.name == "sqlite" and rows > PARTS_ABOVE_ROWS


@dataclass(frozen=True)
class JobWrite:
    """What a job writes its rows as: its id, wave, file and audit details."""

    job_id: int
    wave_id: int
    filename: str
    digest: str
    actor: str | None
    detail: dict[str, Any]


def write_in_parts(
    engine: Engine,
    write: JobWrite,
    rows: Sequence[ImportRow],
    finish: Callable[[Session, ImportResult], None],
    *,
    chunk_rows: int | None = None,
    pause: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Write a running job's new rows in transactions of ``chunk_rows`` (SQLite's web import
    and ``ikm import``; ``WRITE_CHUNK_ROWS`` and ``WRITE_PAUSE_SECONDS`` by default). SQLite
    only: the id ranges it records hold only this job's rows because SQLite has one writer at
    a time (on PostgreSQL concurrent transactions' ids interleave).

    Each part's values and kept statistics are prepared before its transaction
    (``submissions.prepare_response_tuples``), which then holds the write lock only for the
    database work: it first claims the job (still ``running``: not expired meanwhile), checks
    the wave (not gone, not published) once it holds the write lock, inserts its rows with
    their kept statistics and records their ids in the job's ``written``; the last one adds
    the ``import.run`` audit entry and ``finish``'s final state and clears ``written``. The
    rows count as they are written (a dashboard sees them grow); if anything fails, the rows
    written are deleted again, with their statistics, before the error is raised, and a job
    whose worker died is failed by :func:`expire_stale_jobs` and its rows taken back by
    :func:`take_back_failed`. A publication waits for the
    job (:func:`check_no_running_import`).
    """
    chunk_rows = chunk_rows or WRITE_CHUNK_ROWS
    pause = WRITE_PAUSE_SECONDS if pause is None else pause
    with Session(engine, expire_on_commit=False) as session:
        wave = _check_wave_open_to_rows(session, write.wave_id)
        slug = wave.slug
        columns = import_columns(answer_positions(session, wave=wave))
        # The wave's questionnaire is fixed while it has responses (and the columns above
        # already assume it): its layout serves every part's statistics.
        layouts = {write.wave_id: tallies.layout(session, wave_id=write.wave_id)}
        fresh, already = new_import_rows(session, wave=wave, digest=write.digest, rows=rows)
    written: list[list[int]] = []
    held = 0.0  # seconds the last part's transaction held the write lock
    try:
        for start in range(0, len(fresh), chunk_rows):
            if start:
                # The next part is prepared after the pause, not within it: preparing it
                # within (sleeping only the rest) made a 1,000,000-row job 10-14% faster, but
                # the citizens beside it slower (POST p99 +45 ms and +15 ms in two runs each,
                # December 2026): the lock was free for less time.
                _pause(max(pause, WRITE_PAUSE_RATIO * held))
            part = fresh[start : start + chunk_rows]
            # The part's values and statistics are made before its transaction takes the
            # write lock (their Python work was two thirds of the time the lock was held).
            prepared = submissions.prepare_response_tuples(
                engine.dialect,
                columns=columns,
                rows=import_values(write.wave_id, part),
                layouts=layouts,
            )
            with Session(engine, expire_on_commit=False) as session:
                began = time.monotonic()
                _claim_part(session, write.job_id)
                _check_wave_open_to_rows(session, write.wave_id)
                _check_no_other_parts(session, write, slug)
                before = _last_response_id(session)
                submissions.insert_prepared(session, prepared=prepared)
                last = _last_response_id(session)
                if written and written[-1][1] == before:
                    written[-1][1] = last  # no other writer's rows in between: one range
                else:
                    written.append([before + 1, last])
                session.execute(
                    sa.update(ImportJob)
                    .where(col(ImportJob.id) == write.job_id)
                    .values(written=written)
                )
                session.commit()
            held = time.monotonic() - began
            if progress is not None:
                progress(len(part))
        result = ImportResult(imported=len(fresh), already_present=already)
        with Session(engine, expire_on_commit=False) as session:
            _claim_part(session, write.job_id)
            _check_wave_open_to_rows(session, write.wave_id)
            audit(
                session,
                actor=write.actor,
                action="import.run",
                wave=slug,
                file=write.filename,
                sha256=write.digest,
                imported=result.imported,
                already_present=result.already_present,
                **write.detail,
            )
            finish(session, result)
            session.execute(
                sa.update(ImportJob).where(col(ImportJob.id) == write.job_id).values(written=[])
            )
            session.commit()
        return result
    except BaseException as exc:
        # Nothing half-written: take back what the committed parts wrote (if that fails too,
        # the job keeps them in ``written`` for take_back_failed).
        try:
            delete_written(engine, write.wave_id, written, job_id=write.job_id)
        except Exception:
            log.exception("import job %s could not take back its rows", write.job_id)
        if isinstance(exc, sa.exc.IntegrityError):
            raise ConcurrentImportError([problem("import-concurrent", "", wave=slug)]) from None
        raise


def _pause(seconds: float) -> None:
    """Wait between two parts' transactions, holding no lock (a seam for the tests, which
    store a citizen's answer there)."""
    time.sleep(seconds)


def _claim_part(session: Session, job_id: int) -> None:
    """Begin a part's transaction by taking the job row (so SQLite's write lock); refuse a job
    that is no longer running (expired as stopped meanwhile)."""
    claimed = _updated(
        session,
        sa.update(ImportJob)
        .where(col(ImportJob.id) == job_id, col(ImportJob.status) == "running")
        .values(message=WRITING),
    )
    if not claimed:
        raise refused("import-stopped")


def _check_no_other_parts(session: Session, write: JobWrite, slug: str) -> None:
    """Refuse a part while another job of the wave has parts written and not yet finished
    (or not yet taken back): rows of a file it is writing would count as already present
    here, and a collision with them would take its rows back. Of two jobs, the first to
    commit a part goes on, the other stops at its first part, having written nothing."""
    others = session.execute(
        sa.select(sa.func.count())
        .select_from(ImportJob)
        .where(
            col(ImportJob.wave_id) == write.wave_id,
            col(ImportJob.id) != write.job_id,
            sa.cast(col(ImportJob.written), sa.Text) != "[]",
        )
    ).scalar()
    if others:
        raise refused("import-running", wave=slug)


def _last_response_id(session: Session) -> int:
    """Return the highest response id (0 if none), in the caller's transaction."""
    return int(session.execute(sa.select(sa.func.max(col(Response.id)))).scalar() or 0)


def delete_written(
    engine: Engine, wave_id: int, written: Sequence[Sequence[int]], *, job_id: int | None = None
) -> int:
    """Delete the imported rows of ``written`` id ranges of a wave with their kept statistics,
    a range a transaction; return how many went.

    With ``job_id`` the ranges are those still recorded in the job's ``written`` (``written``
    is ignored): each transaction takes the job row first (SQLite's write lock), deletes at
    most ``WRITE_CHUNK_ROWS`` ids of the first recorded range and drops them from the record,
    so a row is deleted once, pausing between as the parts did. A range
    someone else took back meanwhile (``take_back_failed``) is not deleted again: SQLite
    hands the ids of deleted rows to the next rows written, another import's maybe; nor is a
    range of a part whose commit failed (remembered in memory, never written).
    """
    deleted = 0
    if job_id is None:
        for first, last in written:
            with Session(engine) as session:
                deleted += _delete_range(session, wave_id, int(first), int(last))
                session.commit()
        return deleted
    held = 0.0  # seconds the last transaction took
    while True:
        if held:
            # As between the parts written: the citizens' answers get the write lock.
            _pause(max(WRITE_PAUSE_SECONDS, WRITE_PAUSE_RATIO * held))
        began = time.monotonic()
        with Session(engine) as session:
            # Take the job row (and on SQLite the write lock) before reading its ranges.
            session.execute(
                sa.update(ImportJob)
                .where(col(ImportJob.id) == job_id)
                .values(written=col(ImportJob.written))
            )
            recorded = session.execute(
                sa.select(col(ImportJob.written)).where(col(ImportJob.id) == job_id)
            ).scalar()
            if not recorded:
                session.rollback()
                return deleted
            # At most a part's span of ids a transaction: parts written without another
            # writer between them merged into one range (a million rows, maybe).
            first, last = int(recorded[0][0]), int(recorded[0][1])
            upto = min(last, first + WRITE_CHUNK_ROWS - 1)
            deleted += _delete_range(session, wave_id, first, upto)
            rest = [[upto + 1, last]] if upto < last else []
            session.execute(
                sa.update(ImportJob)
                .where(col(ImportJob.id) == job_id)
                .values(written=rest + [list(item) for item in recorded[1:]])
            )
            session.commit()
        held = time.monotonic() - began


def _delete_range(session: Session, wave_id: int, first: int, last: int) -> int:
    """Delete a wave's imported rows with ids in first..last, with their kept statistics.

    The wave is compared as ``wave_id + 0``, which no index serves: SQLite otherwise chose the
    wave's index over the id range and read every row of the wave (78 ms a transaction in a
    wave of a million rows, 0.2 ms by the id range), holding the write lock all the while.
    """
    conditions = (
        col(Response.wave_id) + 0 == wave_id,
        col(Response.channel) == "import",
        col(Response.id).between(first, last),
    )
    before = tallies.locked_rows(session, *conditions)
    session.execute(sa.delete(Response).where(*conditions))
    tallies.rows_changed(session, before, [])
    return len(before)


def check_no_running_import(session: Session, *, wave: Wave) -> None:
    """Refuse to publish a wave while an import into it is queued or running (on SQLite its
    rows are committed in parts, and a failure would take them back out of a published wave)
    or while a failed import's rows are still being taken back (``take_back_failed``): a
    published wave never holds half of a failed import.
    """
    running = session.exec(
        select(sa.func.count())
        .select_from(ImportJob)
        .where(
            col(ImportJob.wave_id) == wave.id,
            col(ImportJob.status).in_(("queued", "running")),
        )
    ).one()
    if running:
        raise refused("import-running", wave=wave.slug)
    if jobs_to_take_back(session, wave_id=wave.id):
        raise refused("import-taking-back", wave=wave.slug)


def _check_job(
    session: Session, job: ImportJob, data: bytes, timezone: str, comment_max_length: int
) -> tuple[list[ImportRow], list[RowError]]:
    """Check every row of a job's file, committing its progress every PROGRESS_SECONDS."""
    wave = session.get(Wave, job.wave_id)
    if wave is None:
        raise refused("import-wave-gone")
    if wave.status == "published":
        raise _published(wave)
    context = import_context(
        session, wave=wave, timezone=timezone, comment_max_length=comment_max_length
    )
    mapping, acknowledged = job_mapping(job)
    reader = CanonicalReader(
        data, context, kind=job.kind, mapping=mapping, ignore_extra=job.ignore_extra
    )
    if reader.digest != job.digest:
        raise refused("import-digest-mismatch")
    job.total_rows = reader.estimated_rows
    session.add(job)
    session.commit()
    rows: list[ImportRow] = []
    errors: list[RowError] = []
    seen = 0
    shown = time.monotonic()
    for item in reader:
        if isinstance(item, RowError):
            errors.append(item)
        else:
            rows.append(item)
        seen += 1
        if seen % PROGRESS_EVERY == 0 and time.monotonic() - shown >= PROGRESS_SECONDS:
            shown = time.monotonic()
            job.processed_rows = seen
            job.total_rows = max(job.total_rows, seen)
            session.add(job)
            session.commit()
    job.processed_rows = job.total_rows = seen
    session.add(job)
    session.commit()
    if not errors:
        # The mapping step listed the elements left empty and the evaluator accepted them;
        # anything else left empty (the file changed its story?) stops the import unwritten.
        accepted = set(acknowledged)
        unaccepted = [
            item
            for item in empty_elements_of_rows(context.question_codes, rows)
            if item.key not in accepted and f"{item.code}@*" not in accepted
        ]
        if unaccepted:
            raise DataIOError(empty_element_problems(session, wave=wave, empties=unaccepted))
    return rows, errors

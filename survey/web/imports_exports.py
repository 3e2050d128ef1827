"""Data in and out on the web: response imports (mapping step, progress), exports, open data.

An evaluator uploads a CSV or XLSX file for a wave (up to ``IMPORT_MAX_BYTES``, far more than
the survey's app-wide ``MAX_CONTENT_LENGTH``, so the limit is raised for that route only),
checks how each column is read on the job page, and confirms; a worker thread (or the request
itself when ``IMPORT_INLINE`` is set) checks and writes the rows while the job page refreshes
itself to show the progress, then the result or the report of bad rows. Exports give the
``ikm export`` files (the CSV always formula-safe); the open-data ZIP of a published wave is
public. The work is done by ``survey.core.imports``; these views validate, call it and render.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlmodel import Session
from werkzeug.exceptions import RequestEntityTooLarge

from survey.core import exports, queries
from survey.core import imports as import_service
from survey.core.audit import audit
from survey.core.models import ImportJob, Wave
from survey.core.responsefile import (
    OPD_COLUMN,
    PROFILE_CODES,
    RESPONDENT_COLUMNS,
    SUBMITTED_AT_COLUMN,
    ColumnMapping,
    FileFormatError,
    canonical_columns,
    file_kind,
)
from survey.web import background
from survey.web.database import get_engine, get_session
from survey.web.extensions import csrf
from survey.web.i18n import format_number
from survey.web.problems import problem_text, problems_text
from survey.web.signin import current_user, roles_required
from survey.web.workspace_forms import (
    ImportUploadForm,
    mapping_form_class,
    upload_name,
)

bp = Blueprint("dataio", __name__)

DEFAULT_IMPORT_MAX_BYTES = 20 * 1024 * 1024
WORKING = ("queued", "running")
REFRESH_SECONDS = 2
UNKNOWN = import_service.UNKNOWN_VALUE


def _wave_or_404(session: Session, slug: str) -> Wave:
    """Return the wave with this slug or answer 404."""
    wave = queries.get_wave(session, slug=slug)
    if wave is None:
        abort(404)
    return wave


def _username() -> str | None:
    """Return the signed-in user's name (the actor of audit entries)."""
    user = current_user()
    return user.username if user else None


def _max_bytes() -> int:
    """Return the upload limit of the import route."""
    return int(current_app.config.get("IMPORT_MAX_BYTES") or DEFAULT_IMPORT_MAX_BYTES)


def _megabytes(size: int) -> str:
    """Return a byte count as whole megabytes for messages (at least 1)."""
    return str(max(1, round(size / (1024 * 1024))))


def _upload_page(wave: Wave, *, error: str | None = None, status: int = 200) -> Any:
    """Render the upload form, with an error next to the file field if any."""
    page = render_template(
        "dataio/upload.html",
        wave=wave,
        error=error,
        limit_mb=_megabytes(_max_bytes()),
        published=wave.status == "published",
    )
    return make_response(page, status)


@bp.route("/kerja/gelombang/<wave_slug>/impor", methods=["GET", "POST"])
@roles_required("evaluator")
@csrf.exempt  # checked in the view, once the larger body limit of this route is set
def import_upload(wave_slug: str) -> ResponseReturnValue:
    """Show the upload form of a wave's import; store an uploaded file as an import job."""
    session = get_session()
    wave = _wave_or_404(session, wave_slug)
    if request.method == "GET":
        return _upload_page(wave)
    limit = _max_bytes()
    request.max_content_length = limit
    try:
        csrf.protect()
        form = ImportUploadForm()
    except RequestEntityTooLarge:
        return _upload_page(
            wave,
            error=_("Berkas terlalu besar: batasnya %(mb)s MB.", mb=_megabytes(limit)),
            status=413,
        )
    if wave.status == "published":
        return _upload_page(
            wave,
            error=_("Gelombang ini sudah diterbitkan; responsnya tidak dapat diubah."),
            status=409,
        )
    if not form.validate():
        return _upload_page(wave, error=form.errors_by_field()["berkas"], status=400)
    upload = form.berkas.data
    filename = upload_name(upload, default="berkas")
    data = upload.read(limit + 1)
    if len(data) > limit:
        return _upload_page(
            wave,
            error=_("Berkas terlalu besar: batasnya %(mb)s MB.", mb=_megabytes(limit)),
            status=413,
        )
    try:
        job = import_service.create_import_job(
            session,
            wave=wave,
            actor=_username(),
            filename=filename,
            kind=file_kind(filename),
            data=data,
        )
    except FileFormatError as exc:
        reason = problems_text(exc.problems)
        return _upload_page(
            wave, error=_("Berkas tidak dapat dibaca: %(reason)s", reason=reason), status=400
        )
    job_id = job.id
    take_back_in_background(session)  # of jobs create_import_job found dead
    return redirect(url_for("dataio.job", job_id=job_id))


def _field_labels(session: Session, wave: Wave) -> list[tuple[str, str]]:
    """Return (field, label) for every canonical column of the wave's questionnaire."""
    names = {
        OPD_COLUMN: _("OPD (slug atau nama lengkap)"),
        SUBMITTED_AT_COLUMN: _("Waktu pengisian"),
        "sex": _("Jenis kelamin"),
        "age": _("Umur"),
        "education": _("Pendidikan"),
        "occupation": _("Pekerjaan"),
        "service": _("Jenis layanan"),
        "comment": _("Komentar"),
    }
    elements = queries.elements(session, questionnaire_id=wave.questionnaire_id)
    for element in elements:
        names[element.code] = element.name_id
    codes = [e.code for e in elements]
    assert set(RESPONDENT_COLUMNS) <= set(names)
    return [(name, names[name]) for name in canonical_columns(codes)]


def _context(session: Session, wave: Wave) -> Any:
    """Return the import context of the wave under the app's settings."""
    return import_service.import_context(
        session,
        wave=wave,
        timezone=current_app.config.get("TIMEZONE", "Asia/Jakarta"),
        comment_max_length=int(current_app.config.get("COMMENT_MAX_LENGTH", 1200)),
    )


def _job_or_404(session: Session, job_id: int) -> tuple[ImportJob, Wave]:
    """Return the job and its wave, or answer 404."""
    job = import_service.get_job(session, job_id=job_id)
    if job is None:
        abort(404)
    wave = session.get(Wave, job.wave_id)
    if wave is None:
        abort(404)
    return job, wave


@dataclass
class _MappingCheck:
    """What the mapping page shows for one set of choices, from one pass over the file."""

    problem: str | None = None  # why the file cannot be read so (a header problem)
    values: dict[str, list[import_service.ValueChoice]] = field(default_factory=dict)
    truncated: frozenset[str] = frozenset()
    empties: list[str] = field(default_factory=list)  # warnings, in the page's language
    empty_keys: str = ""  # the keys of the empty elements, as the acknowledgement sends them
    scanned: int | None = None  # the rows read, when not the whole file


def _check_mapping(
    session: Session,
    job: ImportJob,
    wave: Wave,
    context: Any,
    mapping: ColumnMapping | None,
) -> _MappingCheck:
    """Read the file with a mapping: profile answers found, elements left empty (in its
    first ``MAPPING_SCAN_ROWS`` rows: the job checks them all)."""
    try:
        columns, scan = import_service.mapping_scan(job, context, mapping)
    except FileFormatError as exc:
        return _MappingCheck(problem=problems_text(exc.problems))
    empties = import_service.empty_elements(
        context.question_codes, scan.opd_rows, scan.answered, columns
    )
    warnings = import_service.empty_element_problems(session, wave=wave, empties=empties)
    return _MappingCheck(
        values=import_service.value_choices(scan, mapping),
        truncated=scan.truncated,
        empties=[problem_text(item) for item in warnings],
        empty_keys=" ".join(item.key for item in empties),
        scanned=None if scan.complete else scan.rows,
    )


def _mapping_page(
    session: Session,
    job: ImportJob,
    wave: Wave,
    *,
    fields: list[str | None] | None = None,
    values: dict[str, dict[str, str]] | None = None,
    time_format: str | None = None,
    problem: str | None = None,
    time_error: str | None = None,
    status: int = 200,
) -> Any:
    """Render the mapping step: each header with its field, a preview, the time format, the
    readings of profile answers and the elements the import would leave empty."""
    try:
        head = import_service.job_head(job)
    except FileFormatError as exc:
        return _job_page(job, wave, problem=problems_text(exc.problems), status=400)
    context = _context(session, wave)
    stored, _acknowledged = import_service.job_mapping(job)
    choices = import_service.column_choices(head, context, stored)
    if fields is not None and len(fields) == len(choices):
        choices = [
            import_service.ColumnChoice(
                c.index,
                c.header,
                None if f == UNKNOWN else f,
                "ambiguous" if f == UNKNOWN else "mapping",
                c.preview,
                c.match,
                f == UNKNOWN,
            )
            for c, f in zip(choices, fields, strict=True)
        ]
    chosen = [c.field for c in choices]
    if time_format is None:
        stamps = [c.preview for c in choices if c.field == SUBMITTED_AT_COLUMN]
        time_format = import_service.guess_time_format(stamps[0] if stamps else ()) or ""
    mapping = import_service.mapping_from_choices(
        [c.header for c in choices], chosen, time_format or None, values
    )
    if stored is not None and stored.values:
        mapping = stored if mapping is None else stored.merged(mapping)
    check = _check_mapping(session, job, wave, context, mapping)
    if problem is None and fields is None:
        # Say before the confirmation what would stop it, so the user can fix the mapping.
        problem = check.problem
    page = render_template(
        "dataio/mapping.html",
        job=job,
        wave=wave,
        head=head,
        choices=choices,
        fields=_field_labels(session, wave),
        time_format=time_format,
        problem=problem,
        time_error=time_error,
        published=wave.status == "published",
        check=check,
        profile_fields=_profile_fields(),
        unknown=UNKNOWN,
    )
    return make_response(page, status)


def _profile_fields() -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """Return each profile field's label and its codes with their labels, for the selects."""
    education = {code: code for code in PROFILE_CODES["education"]}
    labels = {
        "sex": (_("Jenis kelamin"), {"L": _("Laki-laki"), "P": _("Perempuan")}),
        "education": (_("Pendidikan"), education),
        "occupation": (
            _("Pekerjaan"),
            {
                "PNS": _("PNS/ASN"),
                "TNI": _("TNI"),
                "POLRI": _("Polri"),
                "Swasta": _("Pegawai swasta"),
                "Wirausaha": _("Wirausaha"),
                "Lainnya": _("Lainnya"),
            },
        ),
    }
    return {
        name: (label, [(code, names.get(code, code)) for code in PROFILE_CODES[name]])
        for name, (label, names) in labels.items()
    }


def _row_texts(entry: dict[str, Any]) -> list[str]:
    """Return a stored bad row's problems in the page's language."""
    if "problems" in entry:
        return [problem_text(item) for item in import_service.stored_problems(entry["problems"])]
    # A job that failed before problems were stored kept English sentences; shown as they are.
    return [str(reason) for reason in entry.get("reasons", [])]


def _job_page(job: ImportJob, wave: Wave, *, problem: str | None = None, status: int = 200) -> Any:
    """Render a job's progress, result or report of bad rows, in the page's language."""
    rows, bad_total = import_service.report_rows(job)
    failure = problems_text(import_service.stored_problems(job.problems)) or job.message
    page = render_template(
        "dataio/job.html",
        job=job,
        wave=wave,
        working=job.status in WORKING,
        refresh=REFRESH_SECONDS,
        error_rows=[{"row": entry["row"], "texts": _row_texts(entry)} for entry in rows],
        bad_total=bad_total,
        failure=failure,
        problem=problem,
    )
    return make_response(page, status)


@bp.get("/kerja/impor/<int:job_id>")
@roles_required("evaluator")
def job(job_id: int) -> ResponseReturnValue:
    """Show an import job: the mapping step, its progress, or its result."""
    session = get_session()
    import_service.expire_stale_jobs(session)
    take_back_in_background(session)
    found, wave = _job_or_404(session, job_id)
    if found.status == "mapping":
        return _mapping_page(session, found, wave)
    return _job_page(found, wave)


@bp.post("/kerja/impor/<int:job_id>")
@roles_required("evaluator")
def job_confirm(job_id: int) -> ResponseReturnValue:
    """Store the chosen mapping, queue the job and start its worker."""
    session = get_session()
    found, wave = _job_or_404(session, job_id)
    if found.status != "mapping":
        return redirect(url_for("dataio.job", job_id=job_id))
    if wave.status == "published":
        return _mapping_page(
            session,
            found,
            wave,
            problem=_("Gelombang ini sudah diterbitkan; responsnya tidak dapat diubah."),
            status=409,
        )
    try:
        head = import_service.job_head(found)
    except FileFormatError as exc:
        return _job_page(found, wave, problem=problems_text(exc.problems), status=400)
    known = [name for name, _label in _field_labels(session, wave)]
    form = mapping_form_class(len(head.header), known)()
    valid = form.validate()
    values = form.value_choices()
    if form.bad_choice() or form.csrf_failed or values is None:
        abort(400)  # not an option of the form
    fields = form.fields()
    if not valid:
        return _mapping_page(
            session,
            found,
            wave,
            fields=fields,
            values=values,
            time_format=form.format_waktu.data or "",
            problem=_("Periksa isian yang ditandai."),
            time_error=form.errors_by_field()["format_waktu"],
            status=400,
        )
    headers = [h.strip() for h in head.header]
    undecided = [
        headers[i] or _("(tanpa judul, kolom %(n)s)", n=i + 1)
        for i, name in enumerate(fields)
        if name == UNKNOWN
    ]
    if undecided:
        return _mapping_page(
            session,
            found,
            wave,
            fields=fields,
            values=values,
            time_format=form.format_waktu.data or "",
            problem=_(
                "Kolom %(columns)s mirip pertanyaan kuesioner tetapi belum pasti: pilih "
                "pertanyaan yang dimaksud, isian lain, atau “Abaikan kolom ini”.",
                columns=", ".join(f"“{name}”" for name in undecided),
            ),
            status=400,
        )
    time_format = form.time_format()
    mapping = import_service.mapping_from_choices(headers, fields, time_format, values)
    context = _context(session, wave)
    check = _check_mapping(session, found, wave, context, mapping)
    problem: str | None = check.problem
    if problem is None:
        unknown = [
            (name, item)
            for name, items in check.values.items()
            for item in items
            if item.code is None
        ]
        labels = _profile_fields()
        if unknown:
            named = [
                _(
                    "“%(value)s” di kolom %(column)s (%(rows)s baris)",
                    value=item.text,
                    column=labels[name][0],
                    rows=format_number(item.rows, 0),
                )
                for name, item in unknown
            ]
            problem = _(
                "Pilih kategori untuk setiap jawaban yang belum dikenali (atau “kosong”): "
                "%(values)s.",
                values="; ".join(named),
            )
        elif check.empty_keys and not form.acknowledged(check.empty_keys):
            problem = _(
                "Impor ini akan membiarkan elemen kosong (lihat daftar di bawah). Centang "
                "pernyataan di bawah daftar itu untuk tetap mengimpor; belum ada yang disimpan."
            )
    if problem is not None:
        return _mapping_page(
            session,
            found,
            wave,
            fields=fields,
            values=values,
            time_format=time_format or "",
            problem=problem,
            status=400,
        )
    try:
        queued = import_service.confirm_job(
            session,
            job=found,
            context=context,
            mapping=mapping,
            acknowledged=check.empty_keys.split(),
        )
    except (FileFormatError, import_service.DataIOError) as exc:
        session.rollback()
        return _mapping_page(
            session,
            found,
            wave,
            fields=fields,
            values=values,
            time_format=time_format or "",
            problem=problems_text(exc.problems),
            status=400,
        )
    if queued:
        start_worker(background.app_of(), job_id)
    return redirect(url_for("dataio.job", job_id=job_id))


def _work(app: Flask, job_id: int) -> None:
    """Run one import job in an app context of its own."""
    with app.app_context():
        import_service.run_import_job(
            get_engine(app),
            job_id=job_id,
            timezone=app.config.get("TIMEZONE", "Asia/Jakarta"),
            comment_max_length=int(app.config.get("COMMENT_MAX_LENGTH", 1200)),
        )


# Held by the thread taking failed imports' rows back: one such thread a process at a time
# (the job page refreshes every few seconds; each refresh would otherwise start another).
_TAKING_BACK = threading.Lock()


def take_back_in_background(session: Session) -> threading.Thread | None:
    """Start a thread taking back the rows failed imports still record, if any do (or do it
    now when ``IMPORT_INLINE`` is set): a dead job's million rows take a minute to delete in
    parts (``import_service.take_back_failed``), too long for a request. Publishing the wave
    is refused until they are gone."""
    if not import_service.jobs_to_take_back(session):
        return None
    session.rollback()  # the read's transaction ends before the deletes begin
    return background.start(
        background.app_of(), _take_back, 0, inline="IMPORT_INLINE", name="ikm-take-back"
    )


def _take_back(app: Flask, _unused: int) -> None:
    """Take failed imports' rows back unless another thread of this process is at it."""
    if not _TAKING_BACK.acquire(blocking=False):
        return
    try:
        with app.app_context():
            import_service.take_back_failed(get_engine(app))
    except Exception:
        app.logger.exception("failed imports' rows could not be taken back")
    finally:
        _TAKING_BACK.release()


def start_worker(app: Flask, job_id: int) -> threading.Thread | None:
    """Start the job's worker thread (or run it now when IMPORT_INLINE is set)."""
    return background.start(app, _work, job_id, inline="IMPORT_INLINE", name=f"ikm-import-{job_id}")


@bp.get("/kerja/gelombang/<wave_slug>/ekspor/<fmt>")
@roles_required("evaluator")
def export(wave_slug: str, fmt: str) -> ResponseReturnValue:
    """Download the wave's counted responses (and scores) as CSV, XLSX or JSON; audited."""
    if fmt not in exports.EXPORT_FORMATS:
        abort(404)
    session = get_session()
    wave = _wave_or_404(session, wave_slug)
    data, count = exports.export_file(session, wave=wave, fmt=fmt)
    audit(session, actor=_username(), action="export.run", wave=wave.slug, format=fmt, rows=count)
    session.commit()
    response = make_response(data)
    response.headers["Content-Type"] = exports.EXPORT_TYPES[fmt]
    response.headers["Content-Disposition"] = f'attachment; filename="ikm-{wave.slug}.{fmt}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/hasil/<wave_slug>/data-terbuka.zip")
def open_data(wave_slug: str) -> ResponseReturnValue:
    """The open-data package of a published wave as its latest version stored it (public)."""
    from survey.web import snapshots

    session = get_session()
    wave = _wave_or_404(session, wave_slug)
    return snapshots.serve_file(
        session, wave=wave, name="zip:open-data", filename=f"data-terbuka-{wave.slug}.zip"
    )


@bp.get("/hasil/<wave_slug>/versi/<int:number>/data-terbuka.zip")
def open_data_version(wave_slug: str, number: int) -> ResponseReturnValue:
    """The open-data package of one version of a published wave."""
    from survey.web import snapshots

    session = get_session()
    wave = _wave_or_404(session, wave_slug)
    return snapshots.serve_file(
        session,
        wave=wave,
        name="zip:open-data",
        number=number,
        filename=f"data-terbuka-{wave.slug}-v{number}.zip",
    )

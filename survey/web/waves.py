"""Waves and questionnaires in the evaluator's workspace: create, edit, open, close, publish.

Evaluators and administrators list the waves (``/kerja/gelombang``), create one
(``/kerja/gelombang/baru``), edit it until it is published (``.../<wave>/ubah``), read its
settings, targets, responses and perception results (``.../<wave>``) and move it through its
life cycle (``.../<wave>/status``). Questionnaires are added from a YAML or JSON file and read
(never edited) at ``/kerja/kuesioner``. The forms (:mod:`survey.web.workspace_forms`) check
form and range and give the settings; the rules that need the database and the writes are in
:mod:`survey.core.waves` and :mod:`survey.core.questionnaires`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.datastructures import MultiDict

from survey.core import checklist, periods, publications, queries
from survey.core import waves as wave_service
from survey.core.builtin import DEFAULT_SCHEME_SLUG, PERMENPANRB_2017
from survey.core.models import VERIFICATION_MODES, CategoryScheme, Questionnaire, Wave
from survey.core.questionnaires import (
    MAX_FILE_BYTES,
    QuestionnaireError,
    add_questionnaire,
    list_questionnaires,
    load_questionnaire_file,
    stored_elements,
)
from survey.core.scores import perception_scores
from survey.web import background, snapshots
from survey.web.dashboard import status_label
from survey.web.database import get_session
from survey.web.extensions import csrf
from survey.web.imports_exports import take_back_in_background
from survey.web.problems import field_errors, problem_text
from survey.web.results import TOP_K, scored_wave
from survey.web.signin import current_user, roles_required
from survey.web.workspace_forms import (
    CATEGORY_ROWS,
    CUSTOM,
    WaveForm,
    WaveStatusForm,
    wave_form_class,
    whole_target,
)

if TYPE_CHECKING:
    from reports.model import ScoredWave
    from scoring import WaveRobustness

bp = Blueprint("waves", __name__)

NOTICES = ("dibuat", "diubah", "tanpa-perubahan", "open", "close", "publish", "revise")


def _actor() -> str | None:
    """Return the signed-in user's name for the audit log."""
    user = current_user()
    return user.username if user else None


def _wave_or_404(wave_slug: str) -> Wave:
    """Return the wave with this slug or answer 404."""
    wave = queries.get_wave(get_session(), slug=wave_slug)
    if wave is None:
        abort(404)
    return wave


def _close_overdue(wave: Wave | None = None) -> None:
    """Close the open waves (or ``wave``) whose period is over, as ``ikm wave tick`` does."""
    periods.close_overdue(get_session(), timezone=_timezone(), wave=wave)


def _timezone() -> str:
    """Return the name of the app's time zone (IKM_TIMEZONE), the one periods are kept in."""
    return str(current_app.config.get("TIMEZONE", periods.DEFAULT_TIMEZONE))


def verification_label(mode: str) -> str:
    """Return the name of a wave's verification setting in the current language."""
    labels = {"off": _("Mati"), "optional": _("Opsional"), "required": _("Wajib")}
    return labels.get(mode, mode)


def verification_modes() -> list[tuple[str, str, str]]:
    """Return each verification setting with its label and what it does, for the form."""
    hints = {
        "off": _("Tanpa kode kunjungan; semua jawaban diterima seperti biasa."),
        "optional": _(
            "Warga boleh memasukkan kode kunjungan; jawaban dengan kode sah ditandai "
            "terverifikasi dan hasil dapat ditampilkan dari jawaban terverifikasi saja."
        ),
        "required": _("Jawaban tanpa kode kunjungan yang sah ditolak."),
    }
    return [(mode, verification_label(mode), hints[mode]) for mode in VERIFICATION_MODES]


# --- The wave form --------------------------------------------------------------------------


def _wave_form(wave: Wave | None) -> WaveForm:
    """Return the create or edit form, filled from the request (POST) or from the wave."""
    session = get_session()
    fixed = wave is not None and not wave_service.questionnaire_changeable(session, wave=wave)
    offered = [opd.slug for opd in wave_service.form_opds(session, wave=wave)]
    questionnaires = wave_service.questionnaires(session)
    scales = {str(q.id): q.scale_points for q in questionnaires}
    fixed_scale = next(
        (q.scale_points for q in questionnaires if wave and q.id == wave.questionnaire_id), None
    )
    form_class = wave_form_class(
        offered, questionnaire_fixed=fixed, scales=scales, fixed_scale=fixed_scale
    )
    if request.method == "POST":
        return form_class()
    return form_class(data=_initial_data(wave))


def _initial_data(wave: Wave | None) -> dict[str, Any]:
    """Return the form's values for a wave (or for a new wave), by field."""
    session = get_session()
    data: dict[str, Any] = {}
    for i, category in enumerate(PERMENPANRB_2017):
        data[f"cat-code-{i}"] = category["code"]
        data[f"cat-label_id-{i}"] = category["label_id"]
        data[f"cat-label_en-{i}"] = category["label_en"]
        data[f"cat-min-{i}"] = f"{category['min_ikm']:.4f}"
    if wave is None:
        data["scheme"] = DEFAULT_SCHEME_SLUG
        data["questionnaire"] = str(queries.default_questionnaire(session).id)
        data["opds"] = [opd.slug for opd in wave_service.form_opds(session, wave=None)]
        data["verification"] = "off"
        data["min_rank_n"] = str(wave_service.MIN_RANK_N_DEFAULT)
        return data
    scheme = session.get(CategoryScheme, wave.scheme_id)
    data.update(
        title=wave.title,
        evaluator=wave.evaluator or "",
        period_start=wave.period_start,
        period_end=wave.period_end,
        questionnaire=str(wave.questionnaire_id),
        scheme=scheme.slug if scheme else DEFAULT_SCHEME_SLUG,
        verification=wave.verification,
        min_rank_n=str(wave.min_rank_n),
        multi_opd=wave.multi_opd,
    )
    data["opds"] = []
    for opd, link in queries.wave_opds(session, wave=wave):
        data["opds"].append(opd.slug)
        data[f"target-{opd.slug}"] = "" if link.target_n is None else str(link.target_n)
    return data


def _opd_rows(wave: Wave | None, values: MultiDict[str, str]) -> list[dict[str, Any]]:
    """Return each OPD the form offers with its chosen state, target, K&M size and margin."""
    chosen = set(values.getlist("opd"))
    rows = []
    for opd in wave_service.form_opds(get_session(), wave=wave):
        raw = values.get(f"target-{opd.slug}", "")
        rows.append(
            {
                "opd": opd,
                "checked": opd.slug in chosen,
                "target": raw,
                "km": wave_service.km_target(opd.service_population),
                "margin": wave_service.margin_for(whole_target(raw), opd.service_population),
            }
        )
    return rows


FIELD_ORDER = (
    "slug",
    "title",
    "evaluator",
    "period_start",
    "period_end",
    "opds",
    "target-",
    "questionnaire",
    "scheme",
    "scheme_name",
    "category-",
    "verification",
    "min_rank_n",
    "multi_opd",
)


def _page_order(name: str) -> tuple[int, str]:
    """Sort key of a form field: its place on the page (so the summary follows the page)."""
    for i, prefix in enumerate(FIELD_ORDER):
        if name == prefix or (prefix.endswith("-") and name.startswith(prefix)):
            return (i, name)
    return (len(FIELD_ORDER), name)


def _render_form(
    wave: Wave | None,
    form: WaveForm,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    """Render the create or edit form with the values and the errors next to their fields."""
    session = get_session()
    values = form.shown()
    current_questionnaire = (
        queries.get_questionnaire(session, questionnaire_id=wave.questionnaire_id) if wave else None
    )
    return (
        render_template(
            "waves/form.html",
            editing=wave,
            values=values,
            errors=dict(sorted((errors or {}).items(), key=lambda kv: _page_order(kv[0]))),
            opd_rows=_opd_rows(wave, values),
            schemes=wave_service.schemes(session),
            questionnaires=wave_service.questionnaires(session),
            questionnaire_fixed=form.questionnaire_fixed,
            current_questionnaire=current_questionnaire,
            category_rows=range(CATEGORY_ROWS),
            typical_sd=wave_service.TYPICAL_SD,
            custom=CUSTOM,
            verification_modes=verification_modes(),
        ),
        status,
    )


# --- Waves -----------------------------------------------------------------------------------


@bp.get("/kerja/gelombang")
@roles_required("evaluator")
def index() -> ResponseReturnValue:
    """List every wave with its status, period, OPDs and counted responses."""
    _close_overdue()
    summaries = queries.wave_summaries(get_session())
    return render_template(
        "waves/index.html",
        summaries=summaries,
        status_label=status_label,
    )


@bp.route("/kerja/gelombang/baru", methods=["GET", "POST"])
@roles_required("evaluator")
def new() -> ResponseReturnValue:
    """Show the create form, or create a draft wave from it."""
    form = _wave_form(None)
    if request.method == "GET":
        return _render_form(None, form)
    valid = form.validate()
    errors = form.errors_by_field()
    slug = form.slug.data or ""
    refused = wave_service.check_new_slug(get_session(), slug=slug)
    if refused:
        errors["slug"] = problem_text(refused)
    if not valid or errors:
        return _render_form(None, form, errors, 400)
    try:
        wave = wave_service.create_wave(
            get_session(), slug=slug, settings=form.as_settings(), actor=_actor()
        )
    except wave_service.WaveSetupError as exc:
        return _render_form(None, form, field_errors(exc.problems), 400)
    return redirect(url_for("waves.detail", wave_slug=wave.slug, pesan="dibuat"), code=303)


@bp.route("/kerja/gelombang/<wave_slug>/ubah", methods=["GET", "POST"])
@roles_required("evaluator")
def edit(wave_slug: str) -> ResponseReturnValue:
    """Show the edit form, or apply it; a published wave cannot be edited (409)."""
    wave = _wave_or_404(wave_slug)
    if wave.status == "published":
        return render_template("waves/frozen.html", wave=wave), 409
    form = _wave_form(wave)
    if request.method == "GET":
        return _render_form(wave, form)
    if not form.validate():
        return _render_form(wave, form, form.errors_by_field(), 400)
    session = get_session()
    try:
        changed = wave_service.update_wave(
            session, wave=wave, settings=form.as_settings(), actor=_actor()
        )
    except wave_service.WaveSetupError as exc:
        if "wave" in field_errors(exc.problems):
            return render_template("waves/frozen.html", wave=wave), 409
        return _render_form(wave, form, field_errors(exc.problems), 400)
    notice = "diubah" if changed else "tanpa-perubahan"
    return redirect(url_for("waves.detail", wave_slug=wave_slug, pesan=notice), code=303)


def _robustness(wave: Wave) -> tuple[ScoredWave, WaveRobustness] | None:
    """The wave scored as it would be published, with its robustness; None before closing.

    Shown at the publish step (and after): how many extreme ballots would change each OPD's
    category or its membership of the top-K / bottom-K sets of the published ranking (same
    seed and K as the public pages and the PDF, from the same cached scored wave).
    """
    if wave.status not in ("closed", "published"):
        return None
    scored = scored_wave(get_session(), wave=wave)
    if scored.score is None or not scored.units():  # nothing ranked (all below min_rank_n)
        return None
    return scored, scored.robustness(TOP_K)


def _checklist(wave: Wave) -> list[checklist.ChecklistItem]:
    """The checklist before publishing, for a closed wave (from the cached scored wave)."""
    if wave.status != "closed":
        return []
    session = get_session()
    return checklist.publication_checklist(
        session, wave=wave, timezone=_timezone(), scored=scored_wave(session, wave=wave)
    )


def _render_detail(
    wave: Wave,
    errors: dict[str, str] | None = None,
    status: int = 200,
    acknowledged: Collection[str] = (),
) -> ResponseReturnValue:
    """Render a wave's page: settings, OPDs with targets, actions, checklist, perception."""
    session = get_session()
    items = _checklist(wave)
    questionnaire = queries.get_questionnaire(session, questionnaire_id=wave.questionnaire_id)
    scheme = session.get(CategoryScheme, wave.scheme_id)
    rows = wave_service.target_rows(session, wave=wave)
    notice = request.args.get("pesan")
    return (
        render_template(
            "waves/detail.html",
            wave=wave,
            questionnaire=questionnaire,
            scheme=scheme,
            rows=rows,
            counted=sum(r.counted for r in rows),
            flagged=sum(r.flagged for r in rows),
            status_label=status_label(wave.status),
            allowed=wave_service.ALLOWED_STATUS.get(wave.status, ()),
            perception=perception_scores(session, wave=wave),
            robustness=_robustness(wave),
            checklist=items,
            blocking=[item for item in items if item.blocking],
            acknowledged=set(acknowledged),
            problem_text=problem_text,
            errors=errors or {},
            notice=notice if notice in NOTICES else None,
            typical_sd=wave_service.TYPICAL_SD,
            verification=verification_label(wave.verification),
            publication=publications.latest(session, wave=wave),
            public_version=publications.latest_ready(session, wave=wave),
        ),
        status,
    )


@bp.get("/kerja/gelombang/<wave_slug>")
@roles_required("evaluator")
def detail(wave_slug: str) -> ResponseReturnValue:
    """Show a wave's settings, OPDs, targets, actions and perception results."""
    wave = _wave_or_404(wave_slug)
    _close_overdue(wave)
    return _render_detail(wave)


@bp.post("/kerja/gelombang/<wave_slug>/status")
@roles_required("evaluator")
def status(wave_slug: str) -> ResponseReturnValue:
    """Open, close or publish the wave (field ``action``).

    Publishing needs no blocking item in the checklist and every other item ticked (the
    ``acknowledge`` checkboxes); the service recomputes the checklist and decides.
    """
    wave = _wave_or_404(wave_slug)
    change = WaveStatusForm().as_change()
    try:
        if change.action == "open":
            periods.check_can_open(wave, timezone=_timezone())
        wave_service.change_status(
            get_session(),
            wave=wave,
            action=change.action,
            actor=_actor(),
            acknowledged=change.acknowledged,
            timezone=_timezone(),
            note=change.note,
            reason=change.reason,
        )
    except wave_service.WaveSetupError as exc:
        get_session().expire_all()
        if change.action == "publish":
            # Refused while a failed import's rows are recorded (its job found dead by this
            # very request, maybe): a background thread takes them back.
            take_back_in_background(get_session())
        return _render_detail(
            _wave_or_404(wave_slug), field_errors(exc.problems), 400, change.acknowledged
        )
    if change.action == "publish":
        building = publications.latest(get_session(), wave=wave)
        if building is not None:
            snapshots.start_build(background.app_of(), int(building.id or 0))
    return redirect(url_for("waves.detail", wave_slug=wave_slug, pesan=change.action), code=303)


# --- Questionnaires --------------------------------------------------------------------------


def _render_questionnaires(
    errors: list[str] | None = None, status: int = 200, added: Questionnaire | None = None
) -> ResponseReturnValue:
    """Render the questionnaire list with the upload form."""
    result = request.args.get("hasil")
    return (
        render_template(
            "waves/questionnaires.html",
            rows=list_questionnaires(get_session()),
            errors=errors or [],
            result=result if result in ("ditambahkan", "sudah-ada") else None,
            max_kb=MAX_FILE_BYTES // 1024,
        ),
        status,
    )


# Exempt from the global before-request check, which would read the body under the app-wide
# 64 KB limit: the view raises the limit for this upload first, then runs the same check.
@csrf.exempt
@bp.route("/kerja/kuesioner", methods=["GET", "POST"])
@roles_required("evaluator")
def questionnaires() -> ResponseReturnValue:
    """List the questionnaires; take an uploaded YAML or JSON questionnaire file."""
    if request.method == "GET":
        return _render_questionnaires()
    # Room for the multipart envelope around a file of the largest accepted size.
    request.max_content_length = MAX_FILE_BYTES + 16 * 1024
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        try:
            csrf.protect()
        except CSRFError:
            abort(400)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _render_questionnaires([_("Pilih berkas kuesioner (YAML atau JSON).")], 400)
    data = upload.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        message = _("Berkas lebih besar dari %(kb)s KB.", kb=MAX_FILE_BYTES // 1024)
        return _render_questionnaires([message], 400)
    try:
        spec = load_questionnaire_file(data, upload.filename)
        stored, created = add_questionnaire(get_session(), spec=spec, actor=_actor())
    except QuestionnaireError as exc:
        get_session().rollback()
        return _render_questionnaires([problem_text(item) for item in exc.problems], 400)
    result = "ditambahkan" if created else "sudah-ada"
    return redirect(
        url_for("waves.questionnaire", questionnaire_id=stored.id, hasil=result), code=303
    )


@bp.get("/kerja/kuesioner/<int:questionnaire_id>")
@roles_required("evaluator")
def questionnaire(questionnaire_id: int) -> ResponseReturnValue:
    """Show one questionnaire, read-only, in both languages."""
    session = get_session()
    found = queries.get_questionnaire(session, questionnaire_id=questionnaire_id)
    if found is None:
        abort(404)
    result = request.args.get("hasil")
    return render_template(
        "waves/questionnaire.html",
        questionnaire=found,
        elements=stored_elements(session, questionnaire_id=questionnaire_id),
        result=result if result in ("ditambahkan", "sudah-ada") else None,
    )

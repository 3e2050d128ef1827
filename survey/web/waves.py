"""Waves and questionnaires in the evaluator's workspace: create, edit, open, close, publish.

Evaluators and administrators list the waves (``/kerja/gelombang``), create one
(``/kerja/gelombang/baru``), edit it until it is published (``.../<wave>/ubah``), read its
settings, targets, responses and perception results (``.../<wave>``) and move it through its
life cycle (``.../<wave>/status``). Questionnaires are added from a YAML or JSON file and read
(never edited) at ``/kerja/kuesioner``. The views read and check the form; the rules and the
writes are in :mod:`survey.core.waves` and :mod:`survey.core.questionnaires`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.datastructures import MultiDict

from survey.core import queries as repo
from survey.core import waves as wavesetup
from survey.core.builtin import DEFAULT_SCHEME_SLUG, PERMENPANRB_2017
from survey.core.models import CategoryScheme, Questionnaire, Wave
from survey.core.questionnaires import (
    MAX_FILE_BYTES,
    QuestionnaireError,
    add_questionnaire,
    list_questionnaires,
    load_questionnaire_file,
    stored_elements,
)
from survey.core.scores import perception_scores
from survey.web.dashboard import status_label
from survey.web.database import get_session
from survey.web.extensions import csrf
from survey.web.problems import field_errors, problem_text
from survey.web.signin import current_user, roles_required

bp = Blueprint("waves", __name__)

CUSTOM = "custom"  # the scheme select's value for "define a new scheme below"
CATEGORY_ROWS = 4
TITLE_MAX_LENGTH = 200
TARGET_MAX = 1_000_000
NOTICES = ("dibuat", "diubah", "tanpa-perubahan", "open", "close", "publish")


def _actor() -> str | None:
    """Return the signed-in user's name for the audit log."""
    user = current_user()
    return user.username if user else None


def _wave_or_404(wave_slug: str) -> Wave:
    """Return the wave with this slug or answer 404."""
    wave = repo.get_wave(get_session(), slug=wave_slug)
    if wave is None:
        abort(404)
    return wave


# --- Form reading ----------------------------------------------------------------------------


def _date(values: MultiDict[str, str], name: str, errors: dict[str, str]) -> date | None:
    """Read an ISO date field (blank: none)."""
    raw = (values.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = _("Tanggal tidak valid; gunakan format TTTT-BB-HH.")
        return None


def _whole(raw: str | None) -> int | str | None:
    """Read a target: None when blank, an int, or the string "bad"."""
    text = (raw or "").strip()
    if not text:
        return None
    if not text.isdigit() or not text.isascii():
        return "bad"
    value = int(text)
    return value if 1 <= value <= TARGET_MAX else "bad"


def read_wave_form(
    values: MultiDict[str, str], *, questionnaire_fixed: bool
) -> tuple[wavesetup.WaveSettings | None, dict[str, str]]:
    """Check the wave form for form and range; return the settings or the errors by field."""
    errors: dict[str, str] = {}
    title = (values.get("title") or "").strip()
    if not title:
        errors["title"] = _("Isi judul gelombang.")
    elif len(title) > TITLE_MAX_LENGTH:
        errors["title"] = _("Judul paling banyak 200 karakter.")
    evaluator = (values.get("evaluator") or "").strip() or None
    if evaluator and len(evaluator) > 200:
        errors["evaluator"] = _("Nama evaluator paling banyak 200 karakter.")
    start = _date(values, "period_start", errors)
    end = _date(values, "period_end", errors)
    if start and end and end < start:
        errors["period_end"] = _("Tanggal selesai tidak boleh sebelum tanggal mulai.")
    opd_slugs = tuple(dict.fromkeys(values.getlist("opd")))
    if not opd_slugs:
        errors["opds"] = _("Pilih paling sedikit satu OPD.")
    targets: dict[str, int | None] = {}
    for slug in opd_slugs:
        value = _whole(values.get(f"target-{slug}"))
        if value == "bad":
            errors[f"target-{slug}"] = _(
                "Target harus berupa bilangan bulat antara 1 dan 1.000.000, atau dikosongkan."
            )
        else:
            targets[slug] = value  # type: ignore[assignment]
    # A form whose questionnaire is fixed has no select; a value posted anyway is checked
    # (and refused if it differs) by the data layer rather than silently dropped.
    questionnaire_id: int | None = None
    raw = (values.get("questionnaire") or "").strip()
    if raw.isdigit():
        questionnaire_id = int(raw)
    elif raw or not questionnaire_fixed:
        errors["questionnaire"] = _("Pilih kuesioner.")
    scheme_choice = (values.get("scheme") or "").strip()
    custom = None
    if scheme_choice == CUSTOM:
        rows = [
            (
                values.get(f"cat-code-{i}", ""),
                values.get(f"cat-label_id-{i}", ""),
                values.get(f"cat-label_en-{i}", ""),
                values.get(f"cat-min-{i}", ""),
            )
            for i in range(CATEGORY_ROWS)
        ]
        try:
            custom = wavesetup.check_custom_scheme(values.get("scheme_name", ""), rows)
        except wavesetup.WaveSetupError as exc:
            errors.update(field_errors(exc.problems))
    elif not scheme_choice:
        errors["scheme"] = _("Pilih skema kategori.")
    if errors:
        return None, errors
    settings = wavesetup.WaveSettings(
        title=title,
        evaluator=evaluator,
        period_start=start,
        period_end=end,
        opd_slugs=opd_slugs,
        questionnaire_id=questionnaire_id,
        scheme_slug=None if custom else scheme_choice,
        custom_scheme=custom,
        targets=targets,
        compute_targets=values.get("compute_targets") == "1",
    )
    return settings, errors


def _initial_values(wave: Wave | None) -> MultiDict[str, str]:
    """Return the form values of a wave (or of a new wave), as a browser would send them."""
    session = get_session()
    values: MultiDict[str, str] = MultiDict()
    for i, category in enumerate(PERMENPANRB_2017):
        values[f"cat-code-{i}"] = category["code"]
        values[f"cat-label_id-{i}"] = category["label_id"]
        values[f"cat-label_en-{i}"] = category["label_en"]
        values[f"cat-min-{i}"] = f"{category['min_ikm']:.4f}"
    if wave is None:
        values["scheme"] = DEFAULT_SCHEME_SLUG
        values["questionnaire"] = str(repo.default_questionnaire(session).id)
        for opd in wavesetup.form_opds(session, wave=None):
            values.add("opd", opd.slug)
        return values
    values["title"] = wave.title
    values["evaluator"] = wave.evaluator or ""
    values["period_start"] = wave.period_start.isoformat() if wave.period_start else ""
    values["period_end"] = wave.period_end.isoformat() if wave.period_end else ""
    values["questionnaire"] = str(wave.questionnaire_id)
    scheme = session.get(CategoryScheme, wave.scheme_id)
    values["scheme"] = scheme.slug if scheme else DEFAULT_SCHEME_SLUG
    for opd, link in repo.wave_opds(session, wave=wave):
        values.add("opd", opd.slug)
        values[f"target-{opd.slug}"] = "" if link.target_n is None else str(link.target_n)
    return values


def _opd_rows(wave: Wave | None, values: MultiDict[str, str]) -> list[dict[str, Any]]:
    """Return each OPD the form offers with its chosen state, target, K&M size and margin."""
    chosen = set(values.getlist("opd"))
    rows = []
    for opd in wavesetup.form_opds(get_session(), wave=wave):
        raw = values.get(f"target-{opd.slug}", "")
        value = _whole(raw)
        target = value if isinstance(value, int) else None
        rows.append(
            {
                "opd": opd,
                "checked": opd.slug in chosen,
                "target": raw,
                "km": wavesetup.km_target(opd.service_population),
                "margin": wavesetup.margin_for(target, opd.service_population),
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
)


def _page_order(name: str) -> tuple[int, str]:
    """Sort key of a form field: its place on the page (so the summary follows the page)."""
    for i, prefix in enumerate(FIELD_ORDER):
        if name == prefix or (prefix.endswith("-") and name.startswith(prefix)):
            return (i, name)
    return (len(FIELD_ORDER), name)


def _render_form(
    wave: Wave | None,
    values: MultiDict[str, str],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    """Render the create or edit form with the values and the errors next to their fields."""
    session = get_session()
    fixed = wave is not None and not wavesetup.questionnaire_changeable(session, wave=wave)
    current_questionnaire = (
        repo.get_questionnaire(session, questionnaire_id=wave.questionnaire_id) if wave else None
    )
    return (
        render_template(
            "waves/form.html",
            editing=wave,
            values=values,
            errors=dict(sorted((errors or {}).items(), key=lambda kv: _page_order(kv[0]))),
            opd_rows=_opd_rows(wave, values),
            schemes=wavesetup.schemes(session),
            questionnaires=wavesetup.questionnaires(session),
            questionnaire_fixed=fixed,
            current_questionnaire=current_questionnaire,
            category_rows=range(CATEGORY_ROWS),
            typical_sd=wavesetup.TYPICAL_SD,
            custom=CUSTOM,
        ),
        status,
    )


# --- Waves -----------------------------------------------------------------------------------


@bp.get("/kerja/gelombang")
@roles_required("evaluator")
def index() -> ResponseReturnValue:
    """List every wave with its status, period, OPDs and counted responses."""
    summaries = repo.wave_summaries(get_session())
    return render_template(
        "waves/index.html",
        summaries=summaries,
        status_label=status_label,
    )


@bp.route("/kerja/gelombang/baru", methods=["GET", "POST"])
@roles_required("evaluator")
def new() -> ResponseReturnValue:
    """Show the create form, or create a draft wave from it."""
    if request.method == "GET":
        return _render_form(None, _initial_values(None))
    values = request.form
    settings, errors = read_wave_form(values, questionnaire_fixed=False)
    slug = (values.get("slug") or "").strip()
    refused = wavesetup.check_new_slug(get_session(), slug=slug)
    if refused:
        errors["slug"] = problem_text(refused)
    if settings is None or errors:
        return _render_form(None, values, errors, 400)
    try:
        wave = wavesetup.create_wave(get_session(), slug=slug, settings=settings, actor=_actor())
    except wavesetup.WaveSetupError as exc:
        return _render_form(None, values, field_errors(exc.problems), 400)
    return redirect(url_for("waves.detail", wave_slug=wave.slug, pesan="dibuat"), code=303)


@bp.route("/kerja/gelombang/<wave_slug>/ubah", methods=["GET", "POST"])
@roles_required("evaluator")
def edit(wave_slug: str) -> ResponseReturnValue:
    """Show the edit form, or apply it; a published wave cannot be edited (409)."""
    wave = _wave_or_404(wave_slug)
    if wave.status == "published":
        return render_template("waves/frozen.html", wave=wave), 409
    if request.method == "GET":
        return _render_form(wave, _initial_values(wave))
    session = get_session()
    values = request.form
    fixed = not wavesetup.questionnaire_changeable(session, wave=wave)
    settings, errors = read_wave_form(values, questionnaire_fixed=fixed)
    if settings is None:
        return _render_form(wave, values, errors, 400)
    try:
        changed = wavesetup.update_wave(session, wave=wave, settings=settings, actor=_actor())
    except wavesetup.WaveSetupError as exc:
        if "wave" in field_errors(exc.problems):
            return render_template("waves/frozen.html", wave=wave), 409
        return _render_form(wave, values, field_errors(exc.problems), 400)
    notice = "diubah" if changed else "tanpa-perubahan"
    return redirect(url_for("waves.detail", wave_slug=wave_slug, pesan=notice), code=303)


def _render_detail(
    wave: Wave, errors: dict[str, str] | None = None, status: int = 200
) -> ResponseReturnValue:
    """Render a wave's page: settings, OPDs with targets, actions, perception results."""
    session = get_session()
    questionnaire = repo.get_questionnaire(session, questionnaire_id=wave.questionnaire_id)
    scheme = session.get(CategoryScheme, wave.scheme_id)
    rows = wavesetup.target_rows(session, wave=wave)
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
            allowed=wavesetup.ALLOWED_STATUS.get(wave.status, ()),
            perception=perception_scores(session, wave=wave),
            errors=errors or {},
            notice=notice if notice in NOTICES else None,
            typical_sd=wavesetup.TYPICAL_SD,
        ),
        status,
    )


@bp.get("/kerja/gelombang/<wave_slug>")
@roles_required("evaluator")
def detail(wave_slug: str) -> ResponseReturnValue:
    """Show a wave's settings, OPDs, targets, actions and perception results."""
    return _render_detail(_wave_or_404(wave_slug))


@bp.post("/kerja/gelombang/<wave_slug>/status")
@roles_required("evaluator")
def status(wave_slug: str) -> ResponseReturnValue:
    """Open, close or publish the wave (field ``action``); publishing needs the confirmation."""
    wave = _wave_or_404(wave_slug)
    action = request.form.get("action", "")
    try:
        wavesetup.change_status(
            get_session(),
            wave=wave,
            action=action,
            actor=_actor(),
            confirmed=request.form.get("confirm_reviewed") == "1",
        )
    except wavesetup.WaveSetupError as exc:
        get_session().expire_all()
        return _render_detail(_wave_or_404(wave_slug), field_errors(exc.problems), 400)
    return redirect(url_for("waves.detail", wave_slug=wave_slug, pesan=action), code=303)


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
    found = repo.get_questionnaire(session, questionnaire_id=questionnaire_id)
    if found is None:
        abort(404)
    result = request.args.get("hasil")
    return render_template(
        "waves/questionnaire.html",
        questionnaire=found,
        elements=stored_elements(session, questionnaire_id=questionnaire_id),
        result=result if result in ("ditambahkan", "sudah-ada") else None,
    )

"""Visit codes for staff: the counter screen, and printed tickets from the workspace.

The counter screen (``/kerja/gelombang/<wave>/loket/<opd>``) is a page for a screen beside an
OPD's counter: the current code, very large, for citizens to type after answering. It needs
no script: ``<meta http-equiv="refresh">`` reloads it when the time slot ends, and the code of
a slot is derived from the secret, so every worker and app server shows the same one. Staff
only: evaluators, administrators, and the head of that OPD (another OPD's screen is 404 to
them, as its results are).

``/kerja/gelombang/<wave>/kode`` lists the wave's counter screens and makes a batch of printed
one-time codes, answered as the PDF of tickets to cut (the plain codes exist only in it).
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, abort, current_app, make_response, render_template
from flask.typing import ResponseReturnValue

from survey.core import codes, queries, urls
from survey.core.models import Opd, Wave, utcnow
from survey.web import antiabuse
from survey.web.database import get_session
from survey.web.i18n import current_language
from survey.web.opdhead import may_read
from survey.web.problems import field_errors, problems_text
from survey.web.signin import current_user, login_required, roles_required
from survey.web.workspace_forms import WEB_CODE_BATCH_MAX, CodeBatchForm

bp = Blueprint("counter", __name__)


def _wave_or_404(wave_slug: str) -> Wave:
    """Return the wave with this slug or answer 404."""
    wave = queries.get_wave(get_session(), slug=wave_slug)
    if wave is None:
        abort(404)
    return wave


def _now() -> datetime:
    """Return the time now (antiabuse's clock, which tests move instead of sleeping)."""
    return datetime.fromtimestamp(antiabuse.clock(), UTC)


def _settings() -> tuple[int, int]:
    """Return the minutes a counter code is shown and the answers it may verify."""
    config = current_app.config
    minutes = int(config.get("COUNTER_CODE_MINUTES") or codes.COUNTER_DEFAULT_MINUTES)
    uses = int(config.get("COUNTER_CODE_USES") or codes.COUNTER_DEFAULT_USES)
    return max(1, minutes), max(1, uses)


@bp.get("/kerja/gelombang/<wave_slug>/loket/<opd_slug>")
@login_required
def screen(wave_slug: str, opd_slug: str) -> ResponseReturnValue:
    """The counter screen: the current code, very large, refreshed when its slot ends."""
    session = get_session()
    wave = _wave_or_404(wave_slug)
    opd = queries.opd_in_wave(session, wave=wave, opd_slug=opd_slug)
    user = current_user()
    assert user is not None
    if opd is None or not may_read(user, opd):
        abort(404)
    minutes, uses = _settings()
    now = _now()
    try:
        shown: codes.CounterCode | None = codes.counter_code(
            session,
            wave=wave,
            opd=opd,
            secret=current_app.config["SECRET_KEY"],
            now=now,
            minutes=minutes,
            max_uses=uses,
        )
        refusal = None
    except codes.CodeError as exc:
        session.rollback()
        shown, refusal = None, problems_text(exc.problems)
    # Reload a second after the slot ends, so the new code is up as soon as it exists; a
    # refused screen checks again every minute (the wave may be opened or switched on).
    refresh = int((shown.slot_end - now).total_seconds()) + 1 if shown else 60
    page = render_template(
        "codes/counter.html",
        wave=wave,
        opd=opd,
        shown=shown,
        display=codes.display_code(shown.code) if shown else None,
        refusal=refusal,
        refresh=max(1, refresh),
        minutes=minutes,
        survey_url=urls.survey_url(current_app.config["PUBLIC_URL"], wave.slug, opd.slug),
        lang=current_language(),
    )
    response = make_response(page)
    response.headers["Cache-Control"] = "no-store"
    return response


def _render_codes(
    wave: Wave, form: CodeBatchForm, errors: dict[str, str] | None = None, status: int = 200
) -> ResponseReturnValue:
    """Render the wave's visit-code page: counter screens and the printed-codes form."""
    opds: list[Opd] = [opd for opd, _link in queries.wave_opds(get_session(), wave=wave)]
    refusal = None
    try:
        codes.check_codes_allowed(wave)
    except codes.CodeError as exc:
        refusal = problems_text(exc.problems)
    return (
        render_template(
            "codes/index.html",
            wave=wave,
            opds=opds,
            values=form.shown(),
            errors=errors or {},
            refusal=refusal,
            max_batch=WEB_CODE_BATCH_MAX,
            minutes=_settings()[0],
        ),
        status,
    )


@bp.get("/kerja/gelombang/<wave_slug>/kode")
@roles_required("evaluator")
def index(wave_slug: str) -> ResponseReturnValue:
    """The wave's counter screens and the form for a batch of printed codes."""
    return _render_codes(_wave_or_404(wave_slug), CodeBatchForm(formdata=None))


@bp.post("/kerja/gelombang/<wave_slug>/kode")
@roles_required("evaluator")
def batch(wave_slug: str) -> ResponseReturnValue:
    """Make a batch of printed codes and answer the PDF of tickets (audited, count only)."""
    from reports.codesheet import CodeSheet, render_code_sheet

    wave = _wave_or_404(wave_slug)
    form = CodeBatchForm()
    if not form.validate():
        return _render_codes(wave, form, form.errors_by_field(), 400)
    asked = form.as_request()
    session = get_session()
    user = current_user()
    try:
        made = codes.create_ticket_codes(
            session,
            wave_slug=wave.slug,
            opd_slug=asked.opd_slug,
            count=asked.count,
            secret=current_app.config["SECRET_KEY"],
            actor=user.username if user else None,
            commit=False,
        )
    except codes.CodeError as exc:
        session.rollback()
        return _render_codes(wave, form, field_errors(exc.problems), 400)
    sheet = CodeSheet(
        opd_name=made.opd.name,
        wave_title=made.wave.title,
        url=urls.survey_url(current_app.config["PUBLIC_URL"], wave.slug, made.opd.slug),
        codes=tuple(codes.display_code(code) for code in made.codes),
    )
    pdf = render_code_sheet(
        sheet, lang="en" if current_language() == "en" else "id", created_at=utcnow()
    )
    # Stored only now that the tickets exist: a render that fails or times out stores none.
    session.commit()
    response = make_response(pdf)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="kode-{wave.slug}-{made.opd.slug}.pdf"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response

"""PDF downloads: the ranking report, the OPD reports and the QR posters of a wave.

The views only wrap the bytes that :mod:`reports` renders from the scored wave the pages show
(the same cached :class:`reports.model.ScoredWave`). Nothing of a wave is public before
it is published: the ranking report is served only for a published wave; an OPD's report is
public once the wave is published, readable by that OPD's head (and staff) once it is closed,
and by evaluators and administrators only before then. The posters name every OPD of a wave,
even a draft one, so only evaluators and administrators download them.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, redirect, request, url_for
from flask.typing import ResponseReturnValue

from reports.model import Lang
from survey.core import queries
from survey.core.models import Wave
from survey.web.database import get_session
from survey.web.results import scored_wave, wave_design_of
from survey.web.signin import current_user, roles_required

bp = Blueprint("reports", __name__)


def _lang() -> Lang:
    """The report language: ``?lang=en`` for English, Bahasa Indonesia otherwise."""
    return "en" if request.args.get("lang") == "en" else "id"


def _wave(wave_slug: str, *, published: bool) -> Wave:
    """Return the wave, or a 404 when it is unknown (or, if asked, not yet published)."""
    wave = queries.get_wave(get_session(), slug=wave_slug)
    if wave is None or (published and wave.status != "published"):
        abort(404)
    return wave


def _sign_in() -> ResponseReturnValue:
    """Send an anonymous reader to the sign-in page, coming back to this report afterwards."""
    path = request.full_path if request.query_string else request.path
    return redirect(url_for("auth.login", next=path))


def _pdf(data: bytes, filename: str) -> Response:
    """Wrap PDF bytes for the browser to show, with a sensible file name."""
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.route("/r/<wave_slug>/ranking.pdf")
def ranking_pdf(wave_slug: str) -> Response:
    """The ranking report of a published wave."""
    from reports.ranking import render_ranking_pdf

    wave = _wave(wave_slug, published=True)
    ranking = scored_wave(get_session(), wave=wave)
    if ranking.score is None:
        abort(404)  # nothing counted: no ranking to report
    design = wave_design_of(get_session(), wave=wave)
    pdf = render_ranking_pdf(ranking, lang=_lang(), design=design)
    return _pdf(pdf, f"{wave.slug}-ranking.pdf")


@bp.route("/r/<wave_slug>/opd/<opd_slug>.pdf")
def opd_pdf(wave_slug: str, opd_slug: str) -> ResponseReturnValue:
    """One OPD's report: public once published; closed: its head and staff; else staff."""
    from reports.opd import render_opd_pdf
    from survey.core.reportdata import opd_report_data

    session = get_session()
    wave = _wave(wave_slug, published=False)
    opd = queries.opd_in_wave(session, wave=wave, opd_slug=opd_slug)
    if opd is None:
        abort(404)
    user = current_user()
    staff = user is not None and user.role in ("admin", "evaluator")
    # The full copy (with the citizens' comments) is for the OPD's head and the staff; anyone
    # else gets the public copy of a published wave, or nothing.
    private = staff or (user is not None and user.role == "opd-head" and user.opd_id == opd.id)
    if wave.status != "published":
        if wave.status != "closed" and not staff:
            abort(404)  # a draft or open wave's report does not exist for anyone else
        if user is None:
            return _sign_in()
        if not staff and not (user.role == "opd-head" and user.opd_id == opd.id):
            abort(404)  # another OPD's head: as if the report did not exist
    ranking = scored_wave(session, wave=wave)
    if ranking.score is None:
        abort(404)  # nothing counted: no report
    data = opd_report_data(
        session, wave=wave, ranking=ranking, opd_slug=opd_slug, public=not private
    )
    response = _pdf(render_opd_pdf(data, lang=_lang()), f"{wave.slug}-{opd_slug}.pdf")
    if private:
        response.headers["Cache-Control"] = "private, no-store"  # not public yet: keep no copy
    return response


@bp.route("/r/<wave_slug>/posters.pdf")
@roles_required("evaluator")
def posters_pdf(wave_slug: str) -> Response:
    """The QR posters of a wave, one A4 page per OPD."""
    from reports.posters import render_posters_pdf
    from survey.core.reportdata import posters

    wave = _wave(wave_slug, published=False)
    items = posters(get_session(), wave=wave, public_url=current_app.config["PUBLIC_URL"])
    pdf = render_posters_pdf(items, wave_title=wave.title, lang=_lang())
    return _pdf(pdf, f"{wave.slug}-posters.pdf")

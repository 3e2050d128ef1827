"""PDF downloads: the ranking report, the OPD reports and the QR posters of a wave.

The views only wrap the bytes that :mod:`reports` renders. Until accounts exist (the workspace
issue), a wave's ranking and OPD reports are served only once it is published, so nothing of a
wave is public before then; the posters hold only names and survey addresses and are served
for any wave, since evaluators print them before opening it.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, request

from .. import repo
from ..db import get_session
from ..models import Wave

bp = Blueprint("reports", __name__)


def _lang() -> str:
    """The report language: ``?lang=en`` for English, Bahasa Indonesia otherwise."""
    return "en" if request.args.get("lang") == "en" else "id"


def _wave(wave_slug: str, *, published: bool) -> Wave:
    """Return the wave, or a 404 when it is unknown (or, if asked, not yet published)."""
    wave = repo.get_wave(get_session(), slug=wave_slug)
    if wave is None or (published and wave.status != "published"):
        abort(404)
    return wave


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

    from ..reportdata import wave_ranking

    wave = _wave(wave_slug, published=True)
    try:
        ranking = wave_ranking(get_session(), wave=wave)
    except ValueError:
        abort(404)
    return _pdf(render_ranking_pdf(ranking, lang=_lang()), f"{wave.slug}-ranking.pdf")


@bp.route("/r/<wave_slug>/opd/<opd_slug>.pdf")
def opd_pdf(wave_slug: str, opd_slug: str) -> Response:
    """One OPD's report in a published wave."""
    from reports.opd import render_opd_pdf

    from ..reportdata import opd_report_data, wave_ranking

    wave = _wave(wave_slug, published=True)
    session = get_session()
    if repo.opd_in_wave(session, wave=wave, opd_slug=opd_slug) is None:
        abort(404)
    try:
        ranking = wave_ranking(session, wave=wave)
    except ValueError:
        abort(404)
    data = opd_report_data(session, wave=wave, ranking=ranking, opd_slug=opd_slug)
    return _pdf(render_opd_pdf(data, lang=_lang()), f"{wave.slug}-{opd_slug}.pdf")


@bp.route("/r/<wave_slug>/posters.pdf")
def posters_pdf(wave_slug: str) -> Response:
    """The QR posters of a wave, one A4 page per OPD."""
    from reports.posters import render_posters_pdf

    from ..reportdata import posters

    wave = _wave(wave_slug, published=False)
    items = posters(get_session(), wave=wave, public_url=current_app.config["PUBLIC_URL"])
    pdf = render_posters_pdf(items, wave_title=wave.title, lang=_lang())
    return _pdf(pdf, f"{wave.slug}-posters.pdf")

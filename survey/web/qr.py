"""QR codes that point at a survey page.

The code encodes the absolute survey URL built from ``PUBLIC_URL`` (``IKM_PUBLIC_URL``), never
from the request's host, so a poster printed from an internal address or behind a proxy still
sends citizens to the public site. Unlike the survey page, a QR code is served for a wave in
any status, drafts included: evaluators print the posters before they open the wave, and the
page the code leads to applies its own rules (404 while draft, 410 once closed).
"""

from __future__ import annotations

import io

import segno
from flask import Blueprint, Response, abort, current_app, request
from werkzeug.wrappers import Response as BaseResponse

from survey.core import queries, units, urls
from survey.web.database import get_session

bp = Blueprint("qr", __name__)

QR_ERROR = "m"  # survives a bit of wear or a sticker on the poster
SVG_OPTIONS = {"scale": 8, "border": 4, "xmldecl": True, "svgns": True}
CACHE_SECONDS = 24 * 3600


def survey_url(wave_slug: str, opd_slug: str) -> str:
    """Return the absolute public URL of a survey page, from the configured base URL."""
    return urls.survey_url(current_app.config["PUBLIC_URL"], wave_slug, opd_slug)


def qr_svg(url: str) -> bytes:
    """Return an SVG QR code encoding ``url``."""
    buffer = io.BytesIO()
    code = segno.make_qr(url, error=QR_ERROR)
    code.save(buffer, kind="svg", title=url, **SVG_OPTIONS)
    return buffer.getvalue()


@bp.route("/qr/<wave_slug>/<opd_slug>.svg")
def survey_qr(wave_slug: str, opd_slug: str) -> BaseResponse:
    """Serve the QR code of a survey page as SVG; 404 for an unknown wave or uncovered OPD."""
    session = get_session()
    wave = queries.get_wave(session, slug=wave_slug)
    if wave is None or queries.opd_in_wave(session, wave=wave, opd_slug=opd_slug) is None:
        abort(404)
    return _svg_response(survey_url(wave_slug, opd_slug))


@bp.route("/qr/<wave_slug>/<opd_slug>/<unit_slug>.svg")
def unit_qr(wave_slug: str, opd_slug: str, unit_slug: str) -> BaseResponse:
    """Serve the QR code of a service unit's survey page; 404 for an unknown or inactive unit
    (or an unknown wave, or an OPD the wave does not cover)."""
    session = get_session()
    wave = queries.get_wave(session, slug=wave_slug)
    opd = None if wave is None else queries.opd_in_wave(session, wave=wave, opd_slug=opd_slug)
    unit = None if opd is None else units.get_unit(session, opd_id=int(opd.id or 0), slug=unit_slug)
    if unit is None or not unit.active:
        abort(404)
    path = urls.unit_survey_path(wave_slug, opd_slug, unit_slug)
    return _svg_response(current_app.config["PUBLIC_URL"].rstrip("/") + path)


def _svg_response(url: str) -> BaseResponse:
    """Return the QR code of ``url`` as a cacheable SVG response."""
    response = Response(qr_svg(url), mimetype="image/svg+xml")
    # The image changes only if PUBLIC_URL does; a day of caching spares the poster printer.
    response.headers["Cache-Control"] = f"public, max-age={CACHE_SECONDS}"
    response.add_etag()
    return response.make_conditional(request)

"""PDF downloads: the ranking report, the OPD reports and the QR posters of a wave.

A published wave's reports are the files its publication stored (:mod:`survey.web.snapshots`),
served with their ETag: the ranking report and every OPD's public report for anyone, an OPD's
full report (with the comments) for its head and the staff; each version keeps its own under
``/r/<wave>/versi/<n>/...``. Nothing of a wave is public before its first version is ready.
Before publication an OPD's full report is rendered from the data for that OPD's head (and
staff) once the wave is closed, and for evaluators and administrators only before then. The
posters name every OPD of a wave, even a draft one, so only evaluators and administrators
download them.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, redirect, request, url_for
from flask.typing import ResponseReturnValue

from reports.model import Lang
from survey.core import publications, queries
from survey.core.models import Wave
from survey.web.database import get_session
from survey.web.results import scored_wave
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
def ranking_pdf(wave_slug: str) -> ResponseReturnValue:
    """The ranking report of a published wave, as its latest version stored it."""
    from survey.web import snapshots

    wave = _wave(wave_slug, published=False)
    lang = _lang()
    return snapshots.serve_file(
        get_session(), wave=wave, name=f"pdf:{lang}:ranking", filename=f"{wave.slug}-ranking.pdf"
    )


@bp.route("/r/<wave_slug>/versi/<int:number>/ranking.pdf")
def ranking_pdf_version(wave_slug: str, number: int) -> ResponseReturnValue:
    """The ranking report of one version of a published wave."""
    from survey.web import snapshots

    wave = _wave(wave_slug, published=False)
    return snapshots.serve_file(
        get_session(),
        wave=wave,
        name=f"pdf:{_lang()}:ranking",
        number=number,
        filename=f"{wave.slug}-v{number}-ranking.pdf",
    )


def _reader(opd_id: int | None) -> tuple[bool, bool]:
    """Whether the reader is staff, and whether they may read the OPD's full report."""
    user = current_user()
    staff = user is not None and user.role in ("admin", "evaluator")
    head = user is not None and user.role == "opd-head" and user.opd_id == opd_id
    return staff, staff or head


@bp.route("/r/<wave_slug>/opd/<opd_slug>.pdf")
def opd_pdf(wave_slug: str, opd_slug: str) -> ResponseReturnValue:
    """One OPD's report: public once published; closed: its head and staff; else staff.

    A published wave's reports are the stored ones of its latest version: the public copy for
    anyone, the full copy (with the citizens' comments) for the OPD's head and the staff. A
    closed wave (not yet published, or being corrected) is rendered for them from its data.
    """
    from survey.web import snapshots

    session = get_session()
    wave = _wave(wave_slug, published=False)
    opd = queries.opd_in_wave(session, wave=wave, opd_slug=opd_slug)
    if opd is None:
        abort(404)
    staff, private = _reader(opd.id)
    lang = _lang()
    public = publications.latest_ready(session, wave=wave) is not None
    if public and (wave.status == "published" or not private):
        kind = "opd-full" if private else "opd"
        response = snapshots.serve_file(
            session,
            wave=wave,
            name=f"pdf:{lang}:{kind}:{opd.slug}",
            filename=f"{wave.slug}-{opd.slug}.pdf",
            cache="private, no-store" if private else None,
        )
        return response
    if wave.status == "published":
        return snapshots.preparing(session, wave=wave)  # the first version is being built
    if wave.status != "closed" and not staff:
        abort(404)  # a draft or open wave's report does not exist for anyone else
    if current_user() is None:
        return _sign_in()
    if not private:
        abort(404)  # another OPD's head: as if the report did not exist
    return _live_opd_pdf(wave, opd_slug, lang)


@bp.route("/r/<wave_slug>/versi/<int:number>/opd/<opd_slug>.pdf")
def opd_pdf_version(wave_slug: str, number: int, opd_slug: str) -> ResponseReturnValue:
    """One OPD's public report in one version of a published wave."""
    from survey.web import snapshots

    wave = _wave(wave_slug, published=False)
    return snapshots.serve_file(
        get_session(),
        wave=wave,
        name=f"pdf:{_lang()}:opd:{opd_slug}",
        number=number,
        filename=f"{wave.slug}-v{number}-{opd_slug}.pdf",
    )


def _live_opd_pdf(wave: Wave, opd_slug: str, lang: Lang) -> ResponseReturnValue:
    """Render the full report of an OPD of a wave that is not published (its head, staff)."""
    from reports.opd import render_opd_pdf
    from survey.core.reportdata import opd_report_data

    session = get_session()
    ranking = scored_wave(session, wave=wave)
    if ranking.score is None:
        abort(404)  # nothing counted: no report
    data = opd_report_data(session, wave=wave, ranking=ranking, opd_slug=opd_slug, public=False)
    response = _pdf(render_opd_pdf(data, lang=lang), f"{wave.slug}-{opd_slug}.pdf")
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

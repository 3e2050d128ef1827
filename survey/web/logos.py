"""The evaluator's logo of a wave: upload, preview, remove (``/kerja/gelombang/<wave>/logo``).

The page shows the current logo (served from the database to staff only), an upload form and
a remove button. The checks and the writes are :mod:`survey.core.logos`; a refused file is
shown next to the field in the page's language and nothing is written. Uploads may be larger
than the app-wide body limit, so this route raises it to the logo limit for itself (as the
import does), then checks the CSRF token.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.exceptions import RequestEntityTooLarge

from survey.core import logos, queries
from survey.core.models import Wave
from survey.web.database import get_session
from survey.web.extensions import csrf
from survey.web.problems import problems_text
from survey.web.signin import current_user, roles_required
from survey.web.workspace_forms import LogoForm

bp = Blueprint("logos", __name__)

# The body of an upload: the file, the form fields and the multipart framing around them.
BODY_MARGIN = 16 * 1024
NOTICES = ("disimpan", "dihapus")


def _wave_or_404(wave_slug: str) -> Wave:
    wave = queries.get_wave(get_session(), slug=wave_slug)
    if wave is None:
        abort(404)
    return wave


def _actor() -> str | None:
    user = current_user()
    return user.username if user else None


def _kilobytes(size: int) -> str:
    return str(size // 1024)


def _page(wave: Wave, *, error: str | None = None, status: int = 200) -> Response:
    stored = logos.logo_of(get_session(), wave=wave)
    notice = request.args.get("pesan")
    page = render_template(
        "waves/logo.html",
        wave=wave,
        logo=stored,
        error=error,
        notice=notice if notice in NOTICES and error is None else None,
        limit_kb=_kilobytes(logos.MAX_LOGO_BYTES),
        max_side=logos.MAX_LOGO_SIDE,
        published=wave.status == "published",
    )
    return make_response(page, status)


@bp.route("/kerja/gelombang/<wave_slug>/logo", methods=["GET", "POST"])
@roles_required("evaluator")
@csrf.exempt  # checked in the view, once the larger body limit of this route is set
def logo(wave_slug: str) -> ResponseReturnValue:
    """Show the wave's logo and the upload form; store an uploaded logo."""
    wave = _wave_or_404(wave_slug)
    if request.method == "GET":
        return _page(wave)
    too_large = _("Berkas terlalu besar: batasnya %(kb)s KB.", kb=_kilobytes(logos.MAX_LOGO_BYTES))
    request.max_content_length = logos.MAX_LOGO_BYTES + BODY_MARGIN
    try:
        csrf.protect()
        form = LogoForm()
    except RequestEntityTooLarge:
        return _page(wave, error=too_large, status=413)
    if wave.status == "published":
        return _page(wave, error=_published_text(), status=409)
    if not form.validate():
        return _page(wave, error=form.errors_by_field()["berkas"], status=400)
    data = form.berkas.data.read(logos.MAX_LOGO_BYTES + 1)
    try:
        logos.store_logo(get_session(), wave=wave, data=data, actor=_actor())
    except logos.LogoError as exc:
        get_session().rollback()
        status = 413 if any(p.code == "logo-too-large" for p in exc.problems) else 400
        return _page(wave, error=problems_text(exc.problems), status=status)
    return redirect(url_for("logos.logo", wave_slug=wave.slug, pesan="disimpan"), code=303)


def _published_text() -> str:
    return _(
        "Gelombang ini sudah diterbitkan: sampul laporannya tetap, logonya tidak dapat diubah."
    )


@bp.post("/kerja/gelombang/<wave_slug>/logo/hapus")
@roles_required("evaluator")
def remove(wave_slug: str) -> ResponseReturnValue:
    """Remove the wave's logo (refused once the wave is published)."""
    wave = _wave_or_404(wave_slug)
    try:
        logos.remove_logo(get_session(), wave=wave, actor=_actor())
    except logos.LogoError:
        get_session().rollback()
        return _page(wave, error=_published_text(), status=409)
    return redirect(url_for("logos.logo", wave_slug=wave.slug, pesan="dihapus"), code=303)


@bp.get("/kerja/gelombang/<wave_slug>/logo/gambar")
@roles_required("evaluator")
def image(wave_slug: str) -> Response:
    """The stored logo itself, for the preview (staff only, never cached by others)."""
    stored = logos.logo_of(get_session(), wave=_wave_or_404(wave_slug))
    if stored is None:
        abort(404)
    response = Response(stored.data, mimetype=stored.media_type)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response

"""Friendly error pages in the citizen's language instead of Werkzeug's bare ones.

A citizen who scanned an old poster or double-posted on a slow connection should read what
happened and what to do, in Bahasa Indonesia or English, on a page that looks like the rest
of the site. Headers the error carries (``Allow`` on 405, ``Retry-After`` on 429) are kept.
"""

from __future__ import annotations

from flask import Flask, current_app, make_response, render_template
from flask import Response as FlaskResponse
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

FRIENDLY_CODES = (400, 404, 405, 413, 429, 500)


def error_texts(code: int) -> tuple[str, str]:
    """Return the heading and explanation for an HTTP error code, in the current language."""
    texts = {
        400: (
            _("Permintaan tidak dapat diproses"),
            _(
                "Permintaan Anda tidak lengkap atau sudah kedaluwarsa. Buka kembali "
                "halamannya lalu coba lagi."
            ),
        ),
        404: (
            _("Halaman tidak ditemukan"),
            _(
                "Alamat ini tidak ada atau survei ini belum dibuka. Periksa kembali alamat "
                "atau kode QR yang Anda pindai."
            ),
        ),
        405: (
            _("Cara akses tidak diizinkan"),
            _("Halaman ini tidak dapat dibuka dengan cara tersebut."),
        ),
        413: (
            _("Kiriman terlalu besar"),
            _("Isian yang Anda kirim terlalu panjang. Perpendek isian Anda lalu coba lagi."),
        ),
        429: (
            _("Terlalu banyak kiriman"),
            _(
                "Terlalu banyak kiriman dari jaringan Anda dalam waktu singkat. Tunggu "
                "beberapa menit lalu coba lagi."
            ),
        ),
        500: (
            _("Terjadi kesalahan"),
            _(
                "Maaf, terjadi kesalahan di server kami. Jawaban Anda mungkin belum "
                "tersimpan; silakan coba lagi nanti."
            ),
        ),
    }
    return texts.get(code, texts[500])


def render_error(error: HTTPException) -> FlaskResponse:
    """Render the friendly page for an HTTP error, keeping the headers it carries."""
    code = error.code or 500
    title, message = error_texts(code)
    try:
        page = render_template("errors/error.html", code=code, title=title, message=message)
    except Exception:
        if code != 500:
            raise
        # The page itself failed (a broken template or locale): answer plainly, never loop.
        current_app.logger.exception("the error page could not be rendered")
        page = f"<!doctype html><title>{code}</title><h1>{code}</h1>"
    response = make_response(page, code)
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def init_app(app: Flask) -> None:
    """Register the error handlers."""
    # For 500, Flask logs the original exception before it calls the handler.
    for code in FRIENDLY_CODES:
        app.register_error_handler(code, render_error)

"""QR posters: one A4 page per OPD, for the counter where citizens are served.

Each page carries the OPD's name, a short call to action, a large QR code (vector, from
:mod:`segno`, error correction level M so a scratch or a sticker does not break it) and the
short URL printed under it for anyone who would rather type.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import segno

from .model import Lang, Poster
from .render import html_to_pdf, render, w3c_date
from .texts import Texts

__all__ = ["qr_svg", "render_posters_pdf"]

QR_ERROR = "m"  # as the survey's own QR route: survives a bit of wear


def qr_svg(url: str) -> str:
    """Return an SVG QR code of `url` with no fixed size (the page sizes it)."""
    buffer = io.BytesIO()
    code = segno.make_qr(url, error=QR_ERROR)
    code.save(
        buffer, kind="svg", border=4, xmldecl=False, omitsize=True, svgclass=None, lineclass=None
    )
    return buffer.getvalue().decode("utf-8")


@dataclass(frozen=True)
class _Page:
    """One poster as the template prints it."""

    poster: Poster
    qr_uri: str
    printed_url: str


def render_posters_pdf(
    posters: Sequence[Poster],
    *,
    wave_title: str,
    lang: Lang = "id",
    created_at: datetime | None = None,
) -> bytes:
    """Render QR posters, one A4 page per poster, in one PDF.

    Parameters
    ----------
    posters : sequence of Poster
        One per OPD, in the order to print.
    wave_title : str
        Printed small at the foot of each page.
    lang : {"id", "en"}
        Language of the call to action (Bahasa Indonesia by default).
    created_at : datetime, optional
        Timezone-aware creation date for the PDF's metadata; omitted when None, so that
        the same posters always give the same bytes.

    Returns
    -------
    bytes
    """
    if not posters:
        raise ValueError("no posters to render")
    t = Texts(lang)
    pages = []
    for poster in posters:
        svg = qr_svg(poster.url)
        uri = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")
        pages.append(_Page(poster, uri, poster.short_url or poster.url))
    context = {
        "lang": lang,
        "t": t,
        "pages": pages,
        "wave_title": wave_title,
        "doc_title": f"{t('poster.doc_title')}: {wave_title}",
        "doc_date": w3c_date(created_at) if created_at is not None else "",
    }
    return html_to_pdf(render("posters.html", context), stylesheet="posters.css")

"""Printable visit codes: an A4 sheet of tickets to cut, one one-time code on each.

Each ticket carries the code as people read it (``ABCD-EFGH``), the OPD's name, the wave's
title, the survey's address and its QR code, so a citizen who gets a ticket with the service
can scan, answer and type the code. The plain codes are in this PDF (and the CSV beside it)
and nowhere else: the database keeps only their keyed hashes. Plain data in, bytes out.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from .model import Lang
from .posters import qr_svg
from .render import html_to_pdf, render, w3c_date
from .texts import Texts

__all__ = ["CodeSheet", "render_code_sheet"]

COLUMNS = 2
ROWS = 6  # tickets of 95 x 46 mm: twelve to an A4 page
CHUNK_PAGES = 40  # pages rendered at a time (480 tickets)


@dataclass(frozen=True)
class CodeSheet:
    """What a sheet of tickets prints.

    Attributes
    ----------
    opd_name : str
        The OPD that hands out the tickets.
    wave_title : str
        The survey wave the codes belong to.
    url : str
        The absolute survey URL, printed and encoded in each ticket's QR code.
    codes : sequence of str
        The codes as printed, e.g. ``"ABCD-EFGH"``; at least one.
    """

    opd_name: str
    wave_title: str
    url: str
    codes: tuple[str, ...]

    def __post_init__(self) -> None:
        """Refuse a sheet without codes, or with a blank name or address."""
        if not self.codes:
            raise ValueError("a code sheet needs at least one code")
        if not self.opd_name.strip() or not self.url.strip():
            raise ValueError(f"a code sheet needs an OPD name and a URL, got {self.url!r}")


def _pages(codes: Sequence[str]) -> list[list[list[str]]]:
    """Split the codes into pages of ROWS rows of COLUMNS tickets (the last ones short)."""
    per_page = COLUMNS * ROWS
    pages = []
    for start in range(0, len(codes), per_page):
        chunk = list(codes[start : start + per_page])
        pages.append([chunk[i : i + COLUMNS] for i in range(0, len(chunk), COLUMNS)])
    return pages


def render_code_sheet(
    sheet: CodeSheet, *, lang: Lang = "id", created_at: datetime | None = None
) -> bytes:
    """Render the sheet of tickets as PDF bytes (A4, twelve tickets a page, cut lines).

    Parameters
    ----------
    sheet : CodeSheet
        The codes and what each ticket prints beside them.
    lang : {"id", "en"}
        Language of the ticket's words (Bahasa Indonesia by default).
    created_at : datetime, optional
        Timezone-aware creation date for the PDF's metadata; omitted when None.

    Returns
    -------
    bytes
    """
    t = Texts(lang)
    svg = qr_svg(sheet.url)
    qr_uri = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")
    context = {
        "lang": lang,
        "t": t,
        "sheet": sheet,
        "qr_uri": qr_uri,
        "printed_url": sheet.url.split("://", 1)[-1],
        "doc_title": f"{t('codes.doc_title')}: {sheet.opd_name} · {sheet.wave_title}",
        "doc_date": w3c_date(created_at) if created_at is not None else "",
    }
    # WeasyPrint lays a whole document out in memory, and its time grows faster than the page
    # count: ten thousand tickets in one document took 2 GB. Parts of CHUNK_PAGES pages are
    # rendered one after another and joined, which keeps both linear. Untagged: identical
    # tickets gain nothing from a structure tree, and render several times faster without.
    pages = _pages(sheet.codes)
    parts = [
        html_to_pdf(
            render("codesheet.html", {**context, "pages": pages[i : i + CHUNK_PAGES]}),
            stylesheet="codesheet.css",
            tagged=False,
        )
        for i in range(0, len(pages), CHUNK_PAGES)
    ]
    return parts[0] if len(parts) == 1 else _joined(parts)


def _joined(parts: Sequence[bytes]) -> bytes:
    """Return one PDF of the pages of ``parts``, in order, with the first part's metadata."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for part in parts:
        writer.append(PdfReader(io.BytesIO(part)))
    metadata = PdfReader(io.BytesIO(parts[0])).metadata
    if metadata:
        writer.add_metadata(dict(metadata))
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()

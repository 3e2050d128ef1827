"""PDF reports and SVG charts built from scoring results (issue 4).

Takes result objects, returns bytes; imports neither Flask nor the database. The caller fills
the value objects of :mod:`reports.model` (the input contract) and calls:

- :func:`render_ranking_pdf` -- the ranking report of a wave (best and worst K, with how sure);
- :func:`render_opd_pdf` / :func:`render_opd_pdfs` -- one OPD head's report, or many with
  progress;
- :func:`render_posters_pdf` -- QR posters, one A4 page per OPD;
- :mod:`reports.charts` -- the charts on their own, as SVG (e.g. for web pages).

Bahasa Indonesia by default, English with ``lang="en"``. Templates and the stylesheet are in
``templates/reports/``; numbers and dates are formatted by :mod:`reports.formatting`.
"""

from .model import (
    AGE_BANDS,
    Comment,
    ElementInfo,
    Lang,
    OpdInfo,
    OpdReportData,
    Poster,
    RankingData,
    TrendPoint,
    age_band,
)
from .opd import MIN_GROUP, MIN_N_COMMENTS, render_opd_pdf, render_opd_pdfs
from .posters import render_posters_pdf
from .ranking import render_ranking_pdf

__all__ = [
    "AGE_BANDS",
    "MIN_GROUP",
    "MIN_N_COMMENTS",
    "Comment",
    "ElementInfo",
    "Lang",
    "OpdInfo",
    "OpdReportData",
    "Poster",
    "RankingData",
    "TrendPoint",
    "age_band",
    "render_opd_pdf",
    "render_opd_pdfs",
    "render_posters_pdf",
    "render_ranking_pdf",
]

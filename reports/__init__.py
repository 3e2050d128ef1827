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

import importlib
from typing import Any

# Each public name and the module that defines it. The package loads them on first use
# (PEP 562), so that ``import reports.formatting`` (the web's number formatter) does not load
# matplotlib and WeasyPrint with them.
_EXPORTS = {
    "AGE_BANDS": "model",
    "Comment": "model",
    "ElementInfo": "model",
    "Lang": "model",
    "OpdInfo": "model",
    "OpdReportData": "model",
    "Poster": "model",
    "ScoredWave": "model",
    "TrendPoint": "model",
    "age_band": "model",
    "MIN_GROUP": "opd",
    "MIN_N_COMMENTS": "opd",
    "render_opd_pdf": "opd",
    "render_opd_pdfs": "opd",
    "render_posters_pdf": "posters",
    "render_ranking_pdf": "ranking",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Load a public name (or a submodule such as ``charts``) on first use."""
    module = _EXPORTS.get(name)
    if module is not None:
        return getattr(importlib.import_module(f".{module}", __name__), name)
    try:
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise  # the submodule exists but something it imports is missing
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None

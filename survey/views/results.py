"""Public results of published waves: ranking with intervals and rank sets, charts, PDFs, data."""

from __future__ import annotations

from flask import Blueprint, abort
from flask.typing import ResponseReturnValue

bp = Blueprint("results", __name__)

# Placeholders so that other pages can link here; each is replaced by its real view.


@bp.get("/hasil")
def index() -> ResponseReturnValue:
    """Placeholder until this page exists."""
    abort(404)


@bp.get("/hasil/<wave_slug>")
def wave(wave_slug: str) -> ResponseReturnValue:
    """Placeholder until this page exists."""
    abort(404)


@bp.get("/hasil/<wave_slug>/<opd_slug>")
def opd(wave_slug: str, opd_slug: str) -> ResponseReturnValue:
    """Placeholder until this page exists."""
    abort(404)

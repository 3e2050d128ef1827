"""Data in and out on the web: response imports (mapping step, progress), exports, open data."""

from __future__ import annotations

from flask import Blueprint, abort
from flask.typing import ResponseReturnValue

bp = Blueprint("dataio", __name__)

# Placeholders so that other pages can link here; each is replaced by its real view.


@bp.get("/hasil/<wave_slug>/data-terbuka.zip")
def open_data(wave_slug: str) -> ResponseReturnValue:
    """Placeholder until this page exists."""
    abort(404)


@bp.get("/kerja/gelombang/<wave_slug>/impor")
def import_upload(wave_slug: str) -> ResponseReturnValue:
    """Placeholder until this page exists."""
    abort(404)


@bp.get("/kerja/gelombang/<wave_slug>/ekspor/<fmt>")
def export(wave_slug: str, fmt: str) -> ResponseReturnValue:
    """Placeholder until this page exists."""
    abort(404)

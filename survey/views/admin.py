"""Administration: users and roles, OPDs (add, edit, deactivate, import from CSV)."""

from __future__ import annotations

from flask import Blueprint, abort
from flask.typing import ResponseReturnValue

bp = Blueprint("admin", __name__)

# Placeholders so that other pages can link here; each is replaced by its real view.


@bp.get("/kerja/pengguna")
def users() -> ResponseReturnValue:
    """Placeholder until this page exists."""
    abort(404)


@bp.get("/kerja/opd")
def opds() -> ResponseReturnValue:
    """Placeholder until this page exists."""
    abort(404)

"""The OPD head's page: their OPD's results per wave, the PDF, comments, follow-up priorities."""

from __future__ import annotations

from flask import Blueprint, abort
from flask.typing import ResponseReturnValue

bp = Blueprint("opdhead", __name__)

# Placeholders so that other pages can link here; each is replaced by its real view.


@bp.get("/kerja/opd-saya")
def home() -> ResponseReturnValue:
    """Placeholder until this page exists."""
    abort(404)

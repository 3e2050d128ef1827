"""Waves and questionnaires in the evaluator's workspace: create, edit, open, close, publish."""

from __future__ import annotations

from flask import Blueprint, abort
from flask.typing import ResponseReturnValue

bp = Blueprint("waves", __name__)

# Placeholders so that other pages can link here; each is replaced by its real view.


@bp.get("/kerja/gelombang")
def index() -> ResponseReturnValue:
    """Placeholder until this page exists."""
    abort(404)


@bp.get("/kerja/gelombang/<wave_slug>")
def detail(wave_slug: str) -> ResponseReturnValue:
    """Placeholder until this page exists."""
    abort(404)

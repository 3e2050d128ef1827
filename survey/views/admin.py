"""Administration: users and roles, OPDs (add, edit, deactivate, import from CSV)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin", __name__)

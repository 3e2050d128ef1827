"""Data in and out on the web: response imports (mapping step, progress), exports, open data."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("dataio", __name__)

"""Public results of published waves: ranking with intervals and rank sets, charts, PDFs, data."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("results", __name__)

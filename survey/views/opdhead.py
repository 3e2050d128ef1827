"""The OPD head's page: their OPD's results per wave, the PDF, comments, follow-up priorities."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("opdhead", __name__)

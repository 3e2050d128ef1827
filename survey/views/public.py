"""The citizen survey: the form, the submission and the thank-you page."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("public", __name__)

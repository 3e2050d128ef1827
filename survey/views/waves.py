"""Waves and questionnaires in the evaluator's workspace: create, edit, open, close, publish."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("waves", __name__)

"""Custom Likert questionnaires from YAML or JSON files, and the ``ikm questionnaire`` commands."""

from __future__ import annotations

from flask.cli import AppGroup

questionnaire_group = AppGroup("questionnaire", help="Add and list questionnaires.")

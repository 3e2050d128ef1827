"""The ``ikm`` command line: a Flask CLI group over ``create_app``."""

from __future__ import annotations

from flask import Flask
from flask.cli import FlaskGroup


def init_app(app: Flask) -> None:
    """Register this module's commands on the app."""


def _create_app() -> Flask:
    from . import create_app

    return create_app()


def main() -> None:
    """Entry point of the ``ikm`` console command."""
    FlaskGroup(create_app=_create_app, help="IKM survey and scoring service.")()

"""Backups: ikm backup and ikm restore (SQLite online backup API, pg_dump for PostgreSQL)."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []  # registered on the app by survey.cli.init_app

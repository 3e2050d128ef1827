"""Retention of respondent metadata (UU 27/2022): strip it from closed waves after a set time."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []  # registered on the app by survey.cli.init_app

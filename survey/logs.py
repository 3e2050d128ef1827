"""Structured logs: one JSON object a line (filled in by the deployment work)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Configure logging (placeholder)."""

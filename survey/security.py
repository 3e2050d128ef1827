"""Security headers and cookie rules for every response (filled in by the hardening work)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Install the security headers (placeholder)."""

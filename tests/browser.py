"""Browser-test helpers: skip (or fail in CI) without Chromium; re-export the dev tools."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from survey.web.devtools import CHROMIUM, chromium, live_server

__all__ = ["chromium", "live_server", "require_chromium"]


def require_chromium() -> None:
    """Skip (or fail, in CI) when Debian's Chromium is not installed."""
    if Path(CHROMIUM).exists():
        return
    message = f"{CHROMIUM} not found; run 'bash scripts/setup --browser' to install Chromium"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)

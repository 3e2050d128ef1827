"""Browser-test helpers: skip (or fail in CI) without Chromium; re-export the dev tools."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from survey.web.devtools import CHROMIUM, chromium, live_server

__all__ = ["axe_violations", "chromium", "live_server", "require_chromium"]

SERIOUS = frozenset({"serious", "critical"})


def require_chromium() -> None:
    """Skip (or fail, in CI) when Debian's Chromium is not installed."""
    if Path(CHROMIUM).exists():
        return
    message = f"{CHROMIUM} not found; run 'bash scripts/setup --browser' to install Chromium"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def axe_violations(page, *, known: frozenset[str] = frozenset()) -> list[str]:
    """Run axe-core on the page; return its serious and critical violations, described.

    ``known`` names rules whose violation is a known design choice of that page (the meta
    refresh of a screen nobody operates).
    """
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
        if v["impact"] in SERIOUS and v["id"] not in known
    ]


def sign_in(page, base: str, username: str, goal: str) -> None:
    """Sign in through the sign-in page and land on ``goal`` (a path)."""
    from auth_helpers import PASSWORD

    page.goto(f"{base}/masuk?next={goal}")
    page.get_by_label("Nama pengguna").fill(username)
    page.get_by_label("Kata sandi").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Masuk").click()
    assert page.url == f"{base}{goal}"

"""Refresh the pictures in docs/ that the README shows.

Builds the demo in a throw-away SQLite database, serves it on loopback, takes a screenshot of
the survey page as a 360x640 phone shows it (Debian's Chromium through Playwright), renders
the demo ranking report and turns its first pages into PNG with pdftoppm (poppler-utils).

    .venv/bin/python scripts/docs_images.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
REPORT_PAGES = 3


def main() -> int:
    """Build the demo, take the pictures, write them under docs/."""
    from survey.cli.main import ikm
    from survey.web import create_app
    from survey.web.devtools import chromium, live_server

    DOCS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {"DATABASE_URL": f"sqlite:///{tmp}/docs.sqlite3", "SECRET_KEY": "docs-" + "x" * 40},
            instance_path=tmp,
        )
        runner = app.test_cli_runner()
        result = runner.invoke(ikm, args=["demo", "--reports", tmp])
        if result.exit_code != 0:
            print(result.output, file=sys.stderr)
            return 1
        with live_server(app) as base, chromium() as browser:
            page = browser.new_page(viewport={"width": 360, "height": 640}, device_scale_factor=2)
            page.goto(f"{base}/s/evaluasi-100-hari-kerja/disdukcapil")
            page.locator("#q-U1 label.opt").nth(2).click()
            page.screenshot(path=str(DOCS / "survey-phone.png"))
            page.goto(f"{base}/s/evaluasi-100-hari-kerja/disdukcapil?lang=en")
            page.screenshot(path=str(DOCS / "survey-phone-en.png"))
        app.extensions["ikm_engine"].dispose()
        pdf = Path(tmp) / "evaluasi-100-hari-kerja-ranking.pdf"
        for old in DOCS.glob("ranking-report-*.png"):
            old.unlink()
        subprocess.run(
            ["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", str(REPORT_PAGES), str(pdf),
             str(DOCS / "ranking-report")],
            check=True,
        )  # fmt: skip
    for path in sorted(DOCS.glob("*.png")):
        print(f"{path.relative_to(ROOT)}\t{os.path.getsize(path):,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

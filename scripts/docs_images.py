"""Refresh the pictures in docs/ that the README shows.

Builds the demo in a throw-away SQLite database, serves it on loopback, takes screenshots
(Debian's Chromium through Playwright): the survey page as a 360x640 phone shows it, the
evaluator's enumerator page and an enumerator's interview page with an answer kept offline,
a kiosk's enrolment and its survey page on a counter tablet; renders the demo ranking report
and turns its first pages into PNG with pdftoppm (poppler-utils).

    .venv/bin/python scripts/docs_images.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
REPORT_PAGES = 3
WAVE = "evaluasi-100-hari-kerja"
PASSWORD = "dokumentasi-" + "gambar-2026"  # set on the throw-away demo accounts only
PHONE = {"width": 360, "height": 640}
TABLET = {"width": 1280, "height": 800}


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
        with app.app_context():
            from survey.core import accounts
            from survey.web.database import session_scope

            with session_scope() as session:
                for username in ("demo-evaluator", "demo-pencacah"):
                    accounts.set_password(session, username=username, password=PASSWORD)
        with live_server(app) as base, chromium() as browser:
            page = browser.new_page(viewport={"width": 360, "height": 640}, device_scale_factor=2)
            page.goto(f"{base}/s/evaluasi-100-hari-kerja/disdukcapil")
            page.locator("#q-U1 label.opt").nth(2).click()
            page.screenshot(path=str(DOCS / "survey-phone.png"))
            page.goto(f"{base}/s/evaluasi-100-hari-kerja/disdukcapil?lang=en")
            page.screenshot(path=str(DOCS / "survey-phone-en.png"))
            page.close()
            _enumerator_pictures(browser, base)
            _kiosk_pictures(browser, base)
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


def _sign_in(page: Any, base: str, username: str, goal: str) -> None:
    """Sign in on the workspace's page and land on ``goal``."""
    page.goto(f"{base}/masuk?next={goal}")
    page.get_by_label("Nama pengguna").fill(username)
    page.get_by_label("Kata sandi").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Masuk").click()


def _enumerator_pictures(browser: Any, base: str) -> None:
    """The evaluator's enumerator page; the interview page with one answer kept offline."""
    from survey.web.devtools import wait_for

    desk = browser.new_page(viewport={"width": 1280, "height": 900})
    _sign_in(desk, base, "demo-evaluator", f"/kerja/gelombang/{WAVE}/pencacah")
    desk.screenshot(path=str(DOCS / "enumerators-page.png"))
    desk.close()
    context = browser.new_context(viewport=PHONE, device_scale_factor=2)
    page = context.new_page()
    _sign_in(page, base, "demo-pencacah", "/kerja/tugas")
    page.get_by_role("link", name="Dinas Kependudukan dan Pencatatan Sipil").click()
    page.wait_for_load_state("networkidle")
    wait_for(page, "return navigator.serviceWorker.controller !== null;")
    context.set_offline(True)
    for number in range(1, 10):
        page.locator(f'input[name="U{number}"][value="3"]').check()
    page.get_by_role("button", name="Kirim jawaban").click()
    wait_for(page, "return document.getElementById('antrean').dataset.count === '1';")
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(DOCS / "enumerator-phone.png"))
    context.close()


def _kiosk_pictures(browser: Any, base: str) -> None:
    """A counter tablet enrolled as a kiosk with the face scale, then its survey page."""
    context = browser.new_context(viewport=TABLET)
    page = context.new_page()
    _sign_in(page, base, "demo-evaluator", f"/kerja/gelombang/{WAVE}/kios")
    page.get_by_label("OPD atau unit layanan").select_option("bpbd/pusdalops")
    page.get_by_label("Label perangkat (misalnya Loket 1)").fill("Tablet Pusdalops")
    page.get_by_label("Tampilkan skala wajah di samping label jawaban").check()
    page.locator("form.stack").screenshot(path=str(DOCS / "kiosk-enrol.png"))
    with page.expect_navigation():
        page.get_by_role("button", name="Daftarkan perangkat ini sebagai kios").click()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(DOCS / "kiosk-tablet.png"))
    context.close()


if __name__ == "__main__":
    sys.exit(main())

"""Kiosk enrolment and the counter screen in a real browser (Debian's Chromium, Playwright).

On a phone-sized tablet: an evaluator signs in, enrols the device as RSUD's kiosk and lands
on RSUD's survey page with the kiosk cookie the browser really keeps (HttpOnly, SameSite=Lax),
which the survey's own functions accept; the counter screen then shows its code large enough
to read across a room without overflowing a 320-pixel screen. axe-core finds no serious
violation on either page (the counter screen's meta refresh is its design: nobody operates it).
"""

from __future__ import annotations

import pytest
from auth_helpers import PASSWORD
from browser import axe_violations, chromium, live_server, require_chromium
from code_helpers import set_verification
from sqlmodel import Session

from survey.core import codes, kiosks, queries
from survey.web import antiabuse

pytestmark = pytest.mark.browser

TABLET = {"width": 320, "height": 640}
REFRESH = frozenset({"meta-refresh"})


def test_enrol_a_tablet_and_show_the_counter_screen(app, session: Session, users, open_wave):
    require_chromium()
    set_verification(session, "uji-2026", "optional")
    with live_server(app) as base, chromium() as browser:
        context = browser.new_context(viewport=TABLET)
        page = context.new_page()
        sign_in(page, base)
        page.goto(f"{base}/kerja/gelombang/uji-2026/kios")
        assert axe_violations(page) == [], "kiosk page"
        page.get_by_label("OPD").select_option("rsud")
        page.get_by_label("Label perangkat (misalnya Loket 1)").fill("Tablet loket 2")
        with page.expect_navigation():
            page.get_by_role("button", name="Daftarkan perangkat ini sebagai kios").click()
        assert page.url == f"{base}/lapangan/kios/uji-2026/rsud"
        [cookie] = [c for c in context.cookies() if c["name"] == antiabuse.KIOSK_COOKIE]
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
        with app.test_request_context(
            "/", headers={"Cookie": f"{antiabuse.KIOSK_COOKIE}={cookie['value']}"}
        ):
            from flask import request

            device_id, wave_id, opd_id = antiabuse.read_kiosk(request) or (0, 0, 0)
        rsud = queries.get_opd(session, slug="rsud")
        assert rsud is not None and opd_id == rsud.id and wave_id == open_wave.id
        device = kiosks.active_kiosk(session, device_id=device_id, wave_id=wave_id, opd_id=opd_id)
        assert device is not None and device.label == "Tablet loket 2"

        # Enrolling signed the evaluator out of the tablet: the workspace asks to sign in.
        page.goto(f"{base}/kerja/gelombang/uji-2026/kios")
        assert page.url.startswith(f"{base}/masuk")
        sign_in(page, base)
        page.goto(f"{base}/kerja/gelombang/uji-2026/loket/rsud")
        assert axe_violations(page, known=REFRESH) == [], "counter screen"
        shown = page.locator("#kode")
        text = shown.inner_text()
        assert codes.normalise_code(text) is not None and "-" in text
        size = shown.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
        assert size >= 44  # px on a 320-pixel screen; larger on a monitor
        overflow = page.evaluate("() => document.documentElement.scrollWidth")
        assert overflow <= TABLET["width"]
        context.close()


def sign_in(page, base: str) -> None:
    """Sign in as the evaluator on the sign-in page."""
    page.goto(f"{base}/masuk")
    page.get_by_label("Nama pengguna").fill("eva")
    page.get_by_label("Kata sandi").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Masuk").click()

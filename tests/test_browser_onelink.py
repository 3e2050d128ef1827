"""The wave's one link in a real browser (Debian's Chromium, Playwright) on a 360x640 phone.

A citizen opens ``/s/<wave>``, searches, ticks two OPDs, answers both on one form and lands
on the thank-you page naming them; axe-core finds no serious or critical violation on the
wave's page, the search result, the sitting form (fresh and with an error) and the thanks,
and nothing is wider than the screen.
"""

from __future__ import annotations

import dataclasses
import time

import pytest
from browser import axe_violations, chromium, live_server, require_chromium
from sqlmodel import Session, select

from survey.core import waves
from survey.core.models import Response

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 640}
MIN_SUBMIT = 0.5


@pytest.fixture
def app_config(app_config):
    """Shorten the minimum time before a submission counts, keeping the rule itself."""
    return {**app_config, "MIN_SUBMIT_SECONDS": MIN_SUBMIT}


def allow_sittings(session: Session, slug: str) -> None:
    """Let the wave take several OPDs in one sitting (through the audited wave service)."""
    wave = waves.find_wave(session, slug=slug)
    settings = dataclasses.replace(waves.current_settings(session, wave=wave), multi_opd=True)
    waves.update_wave(session, wave=wave, settings=settings, actor=None)


def fits(page) -> bool:
    """Return True when nothing is wider than the phone's screen."""
    return page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]


def test_the_wave_link_and_a_sitting_on_a_phone(app, session, open_wave):
    require_chromium()
    allow_sittings(session, "uji-2026")
    with live_server(app) as base, chromium() as browser:
        context = browser.new_context(viewport=PHONE)
        page = context.new_page()
        page.goto(f"{base}/s/uji-2026")
        assert axe_violations(page) == [], "wave page"
        assert fits(page)
        page.get_by_label("Cari OPD (nama atau singkatan)").fill("rumah sakit")
        with page.expect_navigation():
            page.get_by_role("button", name="Cari", exact=True).click()
        assert page.get_by_role("checkbox").count() == 1
        assert axe_violations(page) == [], "search result"
        page.goto(f"{base}/s/uji-2026")
        page.get_by_label("Rumah Sakit Umum Daerah (RSUD)").check()
        page.get_by_label("Dinas Perhubungan (Dishub)").check()
        opened = time.monotonic()
        with page.expect_navigation():
            page.get_by_role("button", name="Beri penilaian").click()
        assert axe_violations(page) == [], "sitting form"
        assert fits(page)
        # Sent with Dishub unanswered: the error, and the form again.
        sections = page.locator("section.opd-section")
        assert sections.count() == 2
        sections.nth(0).locator("fieldset.q").nth(0).locator("label.opt").nth(3).click()
        page.get_by_label("Perempuan").check()
        time.sleep(max(0.0, MIN_SUBMIT + 0.2 - (time.monotonic() - opened)))
        with page.expect_navigation():
            page.get_by_role("button", name="Kirim jawaban").click()
        assert page.locator("#form-errors").count() == 1
        assert axe_violations(page) == [], "sitting form with an error"
        page.locator("section.opd-section").nth(1).locator("fieldset.q").nth(1).locator(
            "label.opt"
        ).nth(2).click()
        with page.expect_navigation():
            page.get_by_role("button", name="Kirim jawaban").click()
        assert page.locator("#tersimpan li").all_inner_texts() == [
            "Dinas Perhubungan",
            "Rumah Sakit Umum Daerah",
        ]
        assert axe_violations(page) == [], "thank-you page"
        assert fits(page)
        context.close()
    session.expire_all()
    rows = list(session.exec(select(Response).order_by(Response.opd_id)).all())
    assert len(rows) == 2 and {row.sex for row in rows} == {"P"}
    assert len({row.sitting for row in rows}) == 1 and rows[0].sitting
    assert {(row.a1, row.a2) for row in rows} == {(None, 3), (4, None)}

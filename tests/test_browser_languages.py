"""A questionnaire in Basa Sunda in a real browser (Debian's Chromium, Playwright) at 360x640.

A citizen opens the survey page, picks "Basa Sunda" in the language switch, sees the questions
in Sundanese (marked lang="su" inside an Indonesian page), answers and sends; axe-core finds no
serious or critical violation on the page (fresh and with an error) and nothing is wider than
the screen.
"""

from __future__ import annotations

import time

import pytest
from browser import axe_violations, chromium, live_server, require_chromium
from field_helpers import open_sunda_wave
from sqlmodel import Session, select

from survey.core.models import Response

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 640}
MIN_SUBMIT = 0.5


@pytest.fixture
def app_config(app_config):
    """Shorten the minimum time before a submission counts, keeping the rule itself."""
    return {**app_config, "MIN_SUBMIT_SECONDS": MIN_SUBMIT}


def fits(page) -> bool:
    """Return True when nothing is wider than the phone's screen."""
    return page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]


def test_basa_sunda_on_a_phone(app, session: Session):
    require_chromium()
    open_sunda_wave(session)
    with live_server(app) as base, chromium() as browser:
        context = browser.new_context(viewport=PHONE)
        page = context.new_page()
        page.goto(f"{base}/s/sunda-2026/bpbd")
        assert axe_violations(page) == [], "Indonesian page"
        assert fits(page)
        with page.expect_navigation():
            page.get_by_role("link", name="Basa Sunda").click()
        assert page.locator("html").get_attribute("lang") == "id"
        first = page.locator("#q-U1")
        assert first.get_attribute("lang") == "su"
        assert first.locator("legend").inner_text().startswith("1. Kumaha pamadegan Saderek")
        assert page.get_by_role("link", name="Bahasa Indonesia").count() == 1
        assert axe_violations(page) == [], "Basa Sunda page"
        assert fits(page)
        opened = time.monotonic()
        # Sent with nothing answered: the error, and the form again.
        time.sleep(max(0.0, MIN_SUBMIT + 0.2 - (time.monotonic() - opened)))
        with page.expect_navigation():
            page.get_by_role("button", name="Kirim jawaban").click()
        assert page.locator("#form-errors").count() == 1
        assert page.locator("#q-U1").get_attribute("lang") == "su"
        assert axe_violations(page) == [], "Basa Sunda page with an error"
        assert fits(page)
        page.get_by_label("Saluyu pisan").first.check()
        page.locator("#f-age").fill("34")
        with page.expect_navigation():
            page.get_by_role("button", name="Kirim jawaban").click()
        assert "/terima-kasih" in page.url
        assert axe_violations(page) == [], "thank-you page"
        context.close()
    session.expire_all()
    [row] = session.exec(select(Response)).all()
    assert (row.a1, row.a2, row.age) == (4, None, 34)

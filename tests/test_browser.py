"""The survey in a real browser: Debian's Chromium driven by Playwright on a phone-sized screen.

These tests answer the survey as a citizen would (tapping labels, with and without
JavaScript), check the stored response in the database, and run axe-core on every state of
the page (empty form, form with errors, thank-you page) in Bahasa Indonesia and English.
"""

from __future__ import annotations

import time

import pytest
from browser import chromium, live_server, require_chromium
from sqlmodel import select

from survey.core.models import Response

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 640}
MIN_SUBMIT = 0.5  # the real bot-timing rule, with a short threshold so the test stays quick
CHOICES = {"U1": 3, "U2": 4, "U3": 2, "U4": 4, "U5": 3, "U6": 3, "U7": 4, "U8": 1, "U9": 2}
SERIOUS = {"serious", "critical"}


@pytest.fixture
def app_config(app_config):
    """Shorten the minimum time before a submission counts, keeping the rule itself."""
    return {**app_config, "MIN_SUBMIT_SECONDS": MIN_SUBMIT}


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, or a skip (a failure in CI) when it is not installed."""
    require_chromium()
    with chromium() as instance:
        yield instance


def answer_survey(page, base_url: str, *, comment: str) -> None:
    """Open the survey, tap one label per question, fill a few optional fields and submit."""
    opened = time.monotonic()
    page.goto(f"{base_url}/s/uji-2026/bpbd")
    for code, value in CHOICES.items():
        page.locator(f"#q-{code} label.opt").nth(value - 1).click()
    page.locator("#f-education").select_option("SMA")
    page.get_by_label("Perempuan").check()
    page.locator("#f-comment").fill(comment)
    time.sleep(max(0.0, MIN_SUBMIT + 0.2 - (time.monotonic() - opened)))
    with page.expect_navigation():
        page.get_by_role("button", name="Kirim jawaban").click()


def stored(session) -> list[Response]:
    """Return every stored response, fresh from the database."""
    session.expire_all()
    return list(session.exec(select(Response)).all())


def assert_stored_as_answered(response: Response, comment: str) -> None:
    """The database row holds exactly what was tapped and typed."""
    assert (response.status, response.flag_reason) == ("counted", None)
    assert [response.answers()[i] for i in range(1, 10)] == list(CHOICES.values())
    assert response.answers()[10] is None
    assert response.comment == comment
    assert response.education == "SMA" and response.sex == "P"
    assert response.channel == "qr"


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_citizen_answers_on_a_phone(app, session, open_wave, browser, javascript):
    """On a 360x640 screen a citizen answers, submits, sees thanks; the row is in the DB."""
    comment = "Antrean panjang, tetapi petugasnya ramah."
    with live_server(app) as base_url:
        context = browser.new_context(viewport=PHONE, java_script_enabled=javascript)
        page = context.new_page()
        page.goto(f"{base_url}/s/uji-2026/bpbd")
        # Readable on a phone: nothing wider than the screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        answer_survey(page, base_url, comment=comment)
        assert "Terima kasih" in page.locator("h1").inner_text()
        context.close()
    rows = stored(session)
    assert len(rows) == 1
    assert_stored_as_answered(rows[0], comment)


def test_double_tap_on_submit_stores_one_response(app, session, open_wave, browser):
    """Tapping the button twice quickly still stores the answers once."""
    with live_server(app) as base_url:
        context = browser.new_context(viewport=PHONE)
        page = context.new_page()
        page.goto(f"{base_url}/s/uji-2026/bpbd")
        page.locator("#q-U1 label.opt").nth(2).click()
        time.sleep(MIN_SUBMIT + 0.2)
        # The second tap may abort the first tap's navigation (the browser sends the form
        # again): wait for where the citizen ends up, not for one particular navigation.
        page.get_by_role("button", name="Kirim jawaban").dblclick()
        page.wait_for_url("**/terima-kasih**")
        page.wait_for_load_state()
        assert "Terima kasih" in page.locator("h1").inner_text()
        context.close()
    rows = stored(session)
    assert len(rows) == 1 and rows[0].status == "counted" and rows[0].a1 == 3


def axe_serious(page) -> list[str]:
    """Run axe-core on the page; return its serious and critical violations, described."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
        if v["impact"] in SERIOUS
    ]


@pytest.mark.parametrize("lang", ["id", "en"])
def test_survey_pages_pass_axe(app, session, open_wave, browser, lang):
    """axe-core finds no serious or critical violation on the form, its errors or thanks."""
    with live_server(app) as base_url:
        context = browser.new_context(viewport=PHONE)
        page = context.new_page()
        page.goto(f"{base_url}/s/uji-2026/bpbd?lang={lang}")
        assert page.locator("html").get_attribute("lang") == lang
        assert axe_serious(page) == [], "empty form"
        # Submitting nothing shows the errors next to the fields.
        with page.expect_navigation():
            page.locator("form button[type=submit]").click()
        assert page.locator("#form-errors").is_visible()
        assert axe_serious(page) == [], "form with errors"
        page.locator("#q-U1 label.opt").nth(3).click()
        time.sleep(MIN_SUBMIT + 0.2)
        with page.expect_navigation():
            page.locator("form button[type=submit]").click()
        assert (
            "thank" in page.locator("h1").inner_text().lower()
            or "terima" in page.locator("h1").inner_text().lower()
        )
        assert axe_serious(page) == [], "thank-you page"
        context.close()
    assert len(stored(session)) == 1


def test_keyboard_alone_can_answer(app, session, open_wave, browser):
    """Tab reaches the first question and the arrow keys choose an answer."""
    with live_server(app) as base_url:
        context = browser.new_context(viewport=PHONE)
        page = context.new_page()
        page.goto(f"{base_url}/s/uji-2026/bpbd")
        for _ in range(10):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.name") == "U1":
                break
        assert page.evaluate("document.activeElement.name") == "U1"
        page.keyboard.press("ArrowDown")
        page.keyboard.press("ArrowDown")
        checked = page.locator("input[name=U1]:checked").get_attribute("value")
        assert checked in {"2", "3"}
        context.close()


def test_public_results_fit_a_phone_screen(app, session, open_wave, browser):
    """At 360x640 the public wave page does not scroll sideways: its wide tables scroll in
    their own boxes, and the visually hidden texts in their cells stay inside them (they
    once widened the page to over 1,000 px)."""
    from survey_helpers import add_responses, set_wave_status

    for slug, answers in (("bpbd", [4] * 9), ("rsud", [3] * 9), ("dishub", [2] * 9)):
        add_responses(session, open_wave, slug, [answers, [3] * 9] * 10)
    set_wave_status(session, slug="uji-2026", status="closed")
    set_wave_status(session, slug="uji-2026", status="published")
    with live_server(app) as base_url:
        context = browser.new_context(viewport=PHONE)
        page = context.new_page()
        assert page.goto(f"{base_url}/hasil/uji-2026").status == 200
        assert page.locator("table.ranking-table .visually-hidden").count() > 0
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        context.close()

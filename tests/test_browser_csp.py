"""The Content-Security-Policy in a real browser: nothing the pages need is blocked.

Debian's Chromium, driven by Playwright, opens the citizen's survey (fills and submits it),
the sign-in page (signs in), the workspace, a wave's page and live dashboard, a published
wave's results with their SVG chart images, and a PDF report in the browser's PDF viewer. An init
script records every ``securitypolicyviolation`` event of each page into ``window``, and
console messages naming the policy are collected too: there must be none. Each page must
also look right under the policy: every stylesheet applied, the charts drawn.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from auth_helpers import PASSWORD
from browser import chromium, live_server, require_chromium
from sqlmodel import Session
from survey_helpers import add_responses, create_wave, set_wave_status

from survey.core import accounts

pytestmark = pytest.mark.browser

MIN_SUBMIT = 0.5  # the real bot-timing rule, with a short threshold so the test stays quick
EVALUATOR = "eva.csp"
PDF_VIEWER = "chrome-extension://mhjfbmdgcfjbbpaeojofohoefgiehjai/"  # Chromium's own viewer
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.__cspViolations.push(
    `${event.violatedDirective} blocked ${event.blockedURI || 'inline'} at ${where}`
  );
});
"""
# Every linked stylesheet loaded and has rules; the body lost the browser's default margin.
STYLED = """
() => {
  const links = [...document.querySelectorAll('link[rel=stylesheet]')];
  const sheets = [...document.styleSheets].filter((s) => s.href && s.cssRules.length > 0);
  return {
    links: links.length,
    applied: sheets.length,
    bodyMargin: getComputedStyle(document.body).marginTop,
  };
}
"""


@pytest.fixture
def app_config(app_config: dict) -> dict:
    """Shorten the minimum time before a submission counts, keeping the rule itself."""
    return {**app_config, "MIN_SUBMIT_SECONDS": MIN_SUBMIT}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium, or a skip (a failure in CI) when it is not installed."""
    require_chromium()
    with chromium() as instance:
        yield instance


@pytest.fixture
def waves(session: Session, open_wave) -> None:
    """The open sample wave, a published wave 'terbit-2025' with responses, an evaluator."""
    wave = create_wave(session, slug="terbit-2025", title="Terbit 2025", status="open")
    for slug in ("bpbd", "rsud", "dishub"):
        add_responses(session, wave, slug, [[4] * 9, [3] * 9, [2] * 9, [3] * 8 + [4]] * 5)
    set_wave_status(session, slug="terbit-2025", status="closed")
    set_wave_status(session, slug="terbit-2025", status="published")
    add_responses(session, open_wave, "bpbd", [[3] * 9] * 16)
    accounts.create_user(session, username=EVALUATOR, password=PASSWORD, role="evaluator")


class Watcher:
    """Collects what the policy blocked on a page: events and console messages."""

    def __init__(self, page: Any) -> None:
        """Listen on ``page``."""
        self.page = page
        self.console: list[str] = []
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _console(self, message: Any) -> None:
        """Keep console messages about the policy (or any blocked resource)."""
        text = message.text
        if "Content Security Policy" in text or "Refused to" in text:
            self.console.append(text)

    def violations(self) -> list[str]:
        """Return the violations recorded on the current page and in the console so far."""
        events = self.page.evaluate("window.__cspViolations || ['init script missing']")
        return [*events, *self.console, *self.errors]

    def assert_clean_and_styled(self, what: str) -> None:
        """No violation; every stylesheet applied."""
        assert self.violations() == [], what
        styled = self.page.evaluate(STYLED)
        assert styled["links"] >= 1 and styled["applied"] == styled["links"], (what, styled)
        assert styled["bodyMargin"] == "0px", (what, styled)


def test_pages_work_under_the_policy(app, session, waves, browser) -> None:
    """Survey (filled and sent), sign-in, workspace, wave, dashboard, results, PDF."""
    with live_server(app) as base:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_init_script(RECORD_VIOLATIONS)
        page = context.new_page()
        watch = Watcher(page)
        # The citizen answers the survey.
        opened = time.monotonic()
        response = page.goto(f"{base}/s/uji-2026/bpbd")
        assert "script-src 'none'" in response.headers["content-security-policy"]
        watch.assert_clean_and_styled("survey page")
        for code in range(1, 10):
            page.locator(f"#q-U{code} label.opt").nth(2).click()
        page.locator("#f-comment").fill("<script>alert(1)</script> ' OR 1=1 --")
        time.sleep(max(0.0, MIN_SUBMIT + 0.2 - (time.monotonic() - opened)))
        with page.expect_navigation():
            page.get_by_role("button", name="Kirim jawaban").click()
        assert "Terima kasih" in page.locator("h1").inner_text()
        watch.assert_clean_and_styled("thank-you page")
        # The evaluator signs in and looks at the wave.
        page.goto(f"{base}/masuk")
        watch.assert_clean_and_styled("sign-in page")
        page.locator("#f-username").fill(EVALUATOR)
        page.locator("#f-password").fill(PASSWORD)
        with page.expect_navigation():
            page.get_by_role("button", name="Masuk").click()
        assert page.url.endswith("/kerja")
        watch.assert_clean_and_styled("workspace")
        page.goto(f"{base}/kerja/gelombang/uji-2026")
        watch.assert_clean_and_styled("wave page")
        page.goto(f"{base}/kerja/gelombang/uji-2026/dasbor")
        watch.assert_clean_and_styled("dashboard")
        assert page.locator("text=17").count() >= 1  # the responses, counted on the page
        # The public results with their charts: the PDFs' SVG images, as data: URLs.
        page.goto(f"{base}/hasil/terbit-2025")
        watch.assert_clean_and_styled("results")
        charts = page.locator("figure.chart img")
        assert charts.count() >= 3
        for index in range(charts.count()):
            chart = charts.nth(index)
            box = chart.bounding_box()
            assert box is not None and box["width"] > 200 and box["height"] > 100, box
            # Decoded and drawn: an SVG the browser could not load has no natural size.
            assert chart.evaluate("(img) => img.complete && img.naturalWidth > 200")
            assert chart.get_attribute("alt")
        context.close()


def test_a_pdf_report_opens_in_the_pdf_viewer(app, session, waves, browser) -> None:
    """The PDF policy leaves Chromium's PDF viewer working: it loads and shows the file."""
    with live_server(app) as base:
        context = browser.new_context(viewport={"width": 1000, "height": 900})
        page = context.new_page()
        watch = Watcher(page)
        response = page.goto(f"{base}/r/terbit-2025/ranking.pdf")
        assert response.status == 200
        assert response.headers["content-type"] == "application/pdf"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        deadline = time.monotonic() + 15
        viewer = None
        while viewer is None and time.monotonic() < deadline:
            viewer = next((f for f in page.frames if f.url.startswith(PDF_VIEWER)), None)
            page.wait_for_timeout(100)
        assert viewer is not None, [f.url for f in page.frames]
        viewer.wait_for_function(
            "() => { const v = document.querySelector('pdf-viewer');"
            " const t = v && v.shadowRoot && v.shadowRoot.querySelector('viewer-toolbar');"
            " return t && t.shadowRoot && t.shadowRoot.textContent.trim().length > 0; }",
            timeout=15_000,
        )
        assert watch.console == [] and watch.errors == []
        context.close()

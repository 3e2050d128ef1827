"""The enumerator pages in a real browser (Debian's Chromium, Playwright) on a 360x640 phone.

The evaluator's page of a wave's enumerators (scopes, per-enumerator figures, the effect
check, both forms) and an enumerator's own page of assignments: axe-core finds no serious or
critical violation, and nothing makes the page wider than the phone (tables scroll in their
own region).
"""

from __future__ import annotations

import pytest
from auth_helpers import PASSWORD
from browser import axe_violations, chromium, live_server, require_chromium, sign_in
from sqlmodel import Session
from survey_helpers import add_responses

from survey.core import accounts, enumerators
from survey.core.models import Wave

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 640}
BASE = [2, 3, 3, 2, 3, 3, 2, 3, 3]


def page_width(page) -> int:
    """Return how wide the page's content is, in CSS pixels."""
    return int(page.evaluate("() => document.documentElement.scrollWidth"))


def test_the_enumerator_pages_on_a_phone(app, session: Session, users, open_wave: Wave) -> None:
    require_chromium()
    for name in ("ani", "budi", "cici"):
        who = accounts.create_user(session, username=name, password=PASSWORD, role="enumerator")
        enumerators.grant_scope(session, wave=open_wave, username=name, opd_slug=None, actor="eva")
        shift = 1 if name == "cici" else 0
        rows = [[v + shift for v in BASE], [v + shift for v in reversed(BASE)]] * 6
        add_responses(
            session, open_wave, "bpbd", rows, channel="interview", enumerator_id=who.id, seconds=420
        )
    with live_server(app) as base, chromium() as browser:
        context = browser.new_context(viewport=PHONE)
        page = context.new_page()
        sign_in(page, base, "eva", "/kerja/gelombang/uji-2026/pencacah")
        assert page.locator("#pencacah-cici").count() == 1  # the figures are on the page
        assert page.locator("#efek-cici").count() == 1  # and the effect check
        assert axe_violations(page) == [], "the wave's enumerators"
        assert page_width(page) <= PHONE["width"]
        context.close()

        context = browser.new_context(viewport=PHONE)
        page = context.new_page()
        sign_in(page, base, "ani", "/kerja/tugas")
        assert page.get_by_role("link", name="Badan Penanggulangan Bencana Daerah").count() == 1
        assert axe_violations(page) == [], "the enumerator's assignments"
        assert page_width(page) <= PHONE["width"]
        context.close()

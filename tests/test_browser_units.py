"""Service units in a real browser (Debian's Chromium, Playwright) on a 360x640 phone.

An evaluator adds a unit on the OPD's page (and first sends a bad slug); a citizen answers on
the unit's survey page. axe-core finds no serious or critical violation on those pages, and
nothing is wider than the screen.
"""

from __future__ import annotations

import pytest
from browser import axe_violations, chromium, live_server, require_chromium, sign_in
from sqlmodel import select

from survey.core.models import Response, ServiceUnit

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 640}


def fits(page) -> bool:
    """Return True when nothing is wider than the phone's screen."""
    return page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]


def test_units_admin_and_survey_page_on_a_phone(app, session, open_wave, users):
    require_chromium()
    with live_server(app) as base, chromium() as browser:
        context = browser.new_context(viewport=PHONE)
        page = context.new_page()
        sign_in(page, base, "eva", "/kerja/opd/bpbd")
        assert axe_violations(page) == [], "OPD page without units"
        page.get_by_label("Slug unit baru").fill("Pos Barat")
        page.get_by_label("Nama unit baru").fill("Pos Barat")
        with page.expect_navigation():
            page.get_by_role("button", name="Tambah unit").click()
        assert page.locator("#e-unit_slug").count() == 1
        assert axe_violations(page) == [], "OPD page with a refused unit"
        page.get_by_label("Slug unit baru").fill("pos-barat")
        with page.expect_navigation():
            page.get_by_role("button", name="Tambah unit").click()
        assert page.locator("#hasil").inner_text() == "Unit layanan ditambahkan."
        assert axe_violations(page) == [], "OPD page with a unit"
        assert fits(page)
        context.close()
        citizen = browser.new_context(viewport=PHONE)
        page = citizen.new_page()
        page.goto(f"{base}/s/uji-2026/bpbd/pos-barat")
        assert page.locator("p.unit").inner_text() == "Unit layanan: Pos Barat"
        assert axe_violations(page) == [], "unit survey page"
        assert fits(page)
        citizen.close()
    session.expire_all()
    [unit] = session.exec(select(ServiceUnit)).all()
    assert (unit.slug, unit.name, unit.active) == ("pos-barat", "Pos Barat", True)
    assert session.exec(select(Response)).all() == []


def test_opd_heads_units_table_on_a_phone(app, session, open_wave, users, tmp_path):
    from survey_helpers import add_responses, set_wave_status

    from survey.core import queries, units

    opd = queries.get_opd(session, slug="bpbd")
    barat = units.add_unit(session, opd=opd, slug="pos-barat", name="Pos Barat", actor="eva")
    timur = units.add_unit(session, opd=opd, slug="pos-timur", name="Pos Timur", actor="eva")
    add_responses(session, open_wave, "bpbd", [[4] * 9] * 6 + [[3] * 9] * 4, unit_id=barat.id)
    add_responses(session, open_wave, "bpbd", [[2] * 9] * 3, unit_id=timur.id)
    add_responses(session, open_wave, "bpbd", [[4] * 9] * 4 + [[3] * 9])
    set_wave_status(session, slug="uji-2026", status="closed")
    require_chromium()
    with live_server(app) as base, chromium() as browser:
        context = browser.new_context(viewport=PHONE)
        page = context.new_page()
        sign_in(page, base, "kepala-bpbd", "/kerja/hasil-opd/bpbd/uji-2026")
        table = page.locator("table.units-table")
        assert table.locator("tbody tr").count() == 4
        assert table.locator("tbody tr").nth(1).inner_text().split() == [
            "Pos", "Timur", "3", "–", "–",
        ]  # fmt: skip
        assert axe_violations(page) == [], "OPD head's page with its units"
        assert fits(page)
        table.screenshot(path=str(tmp_path / "units.png"))
        context.close()

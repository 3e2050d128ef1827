"""Service units of an OPD: the service, ``ikm opd unit``, the unit's survey page, its QR code
and poster, the workspace, the dashboard and the OPD report's per-unit table."""

from __future__ import annotations

import io
import re

import numpy as np
import pypdf
import pytest
import segno
from auth_helpers import csrf_token, login
from code_helpers import audit_actions, pdf_text
from sqlmodel import select
from survey_helpers import (
    ALL_FOURS,
    FormPage,
    SurveyActions,
    add_responses,
    install_clock,
    set_wave_status,
    stored,
)

from reports import render_opd_pdf
from reports.opd import suppressed_groups
from survey.core import queries, shortlinks, units
from survey.core.models import AuditLog, KioskDevice, ServiceUnit, WaveUnit
from survey.core.reportdata import opd_report_data
from survey.core.scores import score_wave
from survey.core.units import UnitError
from survey.web.qr import QR_ERROR, SVG_OPTIONS


def _opd(session, slug="bpbd"):
    return queries.get_opd(session, slug=slug)


def _units(session):
    session.expire_all()
    return [
        (u.slug, u.name, u.position, u.active)
        for u in session.exec(select(ServiceUnit).order_by(ServiceUnit.id)).all()
    ]


def _actions(session):
    session.expire_all()
    return [
        (e.action, e.detail)
        for e in session.exec(select(AuditLog).order_by(AuditLog.id)).all()
        if e.action.startswith("opd.unit")
    ]


@pytest.fixture
def two_units(session, open_wave):
    """BPBD of the open wave with two units: 'pos-barat' and 'pos-timur'."""
    opd = _opd(session)
    units.add_unit(session, opd=opd, slug="pos-barat", name="Pos Barat", actor="eva")
    units.add_unit(session, opd=opd, slug="pos-timur", name="Pos Timur", actor="eva")
    return open_wave


# --- The service -----------------------------------------------------------------------------


def test_add_rename_deactivate_units_are_audited(session, open_wave):
    opd = _opd(session)
    units.add_unit(session, opd=opd, slug="puskesmas-1", name=" Puskesmas Satu ", actor="eva")
    units.add_unit(session, opd=opd, slug="loket-2", name="Loket 2", actor=None)
    assert _units(session) == [
        ("puskesmas-1", "Puskesmas Satu", 1, True),
        ("loket-2", "Loket 2", 2, True),
    ]
    unit = units.unit_or_error(session, opd=opd, slug="loket-2")
    assert units.rename_unit(session, opd=opd, unit=unit, name="Loket Dua", actor="eva")
    assert not units.rename_unit(session, opd=opd, unit=unit, name="Loket Dua", actor="eva")
    assert units.set_unit_active(session, opd=opd, unit=unit, active=False, actor="eva")
    assert not units.set_unit_active(session, opd=opd, unit=unit, active=False, actor="eva")
    assert [u.slug for u in units.list_units(session, opd_id=opd.id, active_only=True)] == [
        "puskesmas-1"
    ]
    assert _actions(session) == [
        ("opd.unit.add", {"opd": "bpbd", "unit": "puskesmas-1", "name": "Puskesmas Satu"}),
        ("opd.unit.add", {"opd": "bpbd", "unit": "loket-2", "name": "Loket 2"}),
        (
            "opd.unit.rename",
            {"opd": "bpbd", "unit": "loket-2", "before": "Loket 2", "after": "Loket Dua"},
        ),
        ("opd.unit.deactivate", {"opd": "bpbd", "unit": "loket-2"}),
    ]


@pytest.mark.parametrize(
    ("slug", "name", "codes"),
    [
        ("Pos Barat", "Pos", ["slug-invalid"]),
        ("terima-kasih", "Pos", ["slug-reserved"]),
        ("pos-barat", "Pos Lain", ["unit-slug-taken"]),
        ("pos-lain", "pos barat", ["unit-name-taken"]),
        ("pos-lain", "  ", ["required"]),
        ("pos-lain", "x" * 201, ["too-long"]),
        ("", "", ["slug-invalid", "required"]),
    ],
)
def test_bad_units_are_refused_and_nothing_is_written(session, two_units, slug, name, codes):
    before = _units(session), _actions(session)
    with pytest.raises(UnitError) as refused:
        units.add_unit(session, opd=_opd(session), slug=slug, name=name, actor="eva")
    assert [p.code for p in refused.value.problems] == codes
    assert (_units(session), _actions(session)) == before


def test_the_same_slug_in_another_opd_is_fine(session, two_units):
    units.add_unit(session, opd=_opd(session, "rsud"), slug="pos-barat", name="Pos Barat", actor="")
    assert [(s, n) for s, n, _p, _a in _units(session)][-1] == ("pos-barat", "Pos Barat")


def test_unit_targets_set_change_clear(session, two_units):
    wave, opd = two_units, _opd(session)
    unit = units.unit_or_error(session, opd=opd, slug="pos-barat")
    assert units.set_unit_target(session, wave=wave, opd=opd, unit=unit, target="12", actor="eva")
    assert not units.set_unit_target(session, wave=wave, opd=opd, unit=unit, target=12, actor="e")
    assert units.unit_targets(session, wave=wave) == {unit.id: 12}
    for bad in ("0", "-1", "1.5", "dua"):
        with pytest.raises(UnitError) as refused:
            units.set_unit_target(session, wave=wave, opd=opd, unit=unit, target=bad, actor="e")
        assert refused.value.problems[0].code == "unit-target"
    assert units.set_unit_target(session, wave=wave, opd=opd, unit=unit, target="", actor="eva")
    session.expire_all()
    assert session.exec(select(WaveUnit)).all() == []
    assert [a for a, _d in _actions(session)][-2:] == ["opd.unit.target", "opd.unit.target"]


def test_unit_counts(session, two_units, app, monkeypatch):
    visitor = SurveyActions(app, install_clock(monkeypatch), opd="bpbd/pos-timur")
    assert visitor.submit().status_code == 303
    opd = _opd(session)
    unit = units.unit_or_error(session, opd=opd, slug="pos-timur")
    units.set_unit_target(session, wave=two_units, opd=opd, unit=unit, target="7", actor="eva")
    rows = units.unit_counts(session, wave=two_units, opd=opd)
    assert [(r.slug, r.target, r.counted, r.flagged) for r in rows] == [
        ("pos-barat", None, 0, 0),
        ("pos-timur", 7, 1, 0),
    ]


# --- The command line ------------------------------------------------------------------------


def test_cli_units(runner, session, open_wave):
    result = runner.invoke(args=["opd", "unit", "add", "bpbd", "pos-barat", "Pos Barat"])
    assert result.exit_code == 0, result.output
    assert result.output == "Added unit pos-barat to OPD bpbd: Pos Barat\n"
    runner.invoke(args=["opd", "unit", "add", "bpbd", "pos-timur", "Pos Timur"])
    result = runner.invoke(args=["opd", "unit", "rename", "bpbd", "pos-timur", "Pos Timur Raya"])
    assert result.output == "Unit bpbd/pos-timur renamed: Pos Timur Raya\n"
    result = runner.invoke(args=["opd", "unit", "deactivate", "bpbd", "pos-barat"])
    assert result.output == "Unit bpbd/pos-barat is now inactive\n"
    result = runner.invoke(args=["opd", "unit", "list", "bpbd"])
    assert result.output == "pos-barat\tPos Barat\tinactive\npos-timur\tPos Timur Raya\tactive\n"
    result = runner.invoke(args=["opd", "unit", "activate", "bpbd", "pos-barat"])
    assert result.output == "Unit bpbd/pos-barat is now active\n"
    args = ["opd", "unit", "target", "bpbd", "pos-barat", "--wave", "uji-2026"]
    result = runner.invoke(args=[*args, "--target", "25"])
    assert result.exit_code == 0, result.output
    assert result.output == "Unit bpbd/pos-barat in wave uji-2026: target is 25\n"
    result = runner.invoke(args=[*args, "--clear"])
    assert result.output == "Unit bpbd/pos-barat in wave uji-2026: target is none\n"
    assert [a for a, _d in _actions(session)] == [
        "opd.unit.add",
        "opd.unit.add",
        "opd.unit.rename",
        "opd.unit.deactivate",
        "opd.unit.activate",
        "opd.unit.target",
        "opd.unit.target",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "bpbd", "Pos!", "Pos"], "'Pos!' is not a slug"),
        (["add", "nope", "pos", "Pos"], "unknown OPD 'nope'"),
        (["rename", "bpbd", "nope", "X"], "the OPD has no unit 'nope'"),
        (["target", "bpbd", "pos-barat", "--wave", "uji-2026", "--target", "0"], "target '0'"),
        (["target", "bpbd", "pos-barat", "--wave", "uji-2026"], "give either --target N"),
    ],
)
def test_cli_refusals_write_nothing(runner, session, two_units, args, message):
    before = _units(session), _actions(session)
    result = runner.invoke(args=["opd", "unit", *args])
    assert result.exit_code != 0
    assert message in result.output
    assert (_units(session), _actions(session)) == before


# --- The citizen's unit page -----------------------------------------------------------------


def test_unit_page_stores_the_unit(app, session, two_units, monkeypatch):
    visitor = SurveyActions(app, install_clock(monkeypatch), opd="bpbd/pos-timur")
    page = visitor.open()
    assert page.response.status_code == 200
    assert "Unit layanan: Pos Timur" in page.html
    assert 'action="/s/uji-2026/bpbd/pos-timur"' in page.html
    # The same list of services as the OPD's page, as a choice, never a text box.
    assert '<select id="f-service" name="service">' in page.html
    assert '<option value="KTP">KTP</option>' in page.html
    assert page.html.count('name="service"') == 1
    response = visitor.submit({**ALL_FOURS, "service": "KTP"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/s/uji-2026/bpbd/pos-timur/terima-kasih"
    thanks = visitor.get(response.headers["Location"])
    assert thanks.status_code == 200
    assert "Unit layanan: Pos Timur" in thanks.get_data(as_text=True)
    unit = units.unit_or_error(session, opd=_opd(session), slug="pos-timur")
    [row] = stored(session)
    assert (row.opd_id, row.unit_id, row.service) == (_opd(session).id, unit.id, "KTP")
    # The OPD's own page stores no unit.
    plain = SurveyActions(app, install_clock(monkeypatch))
    assert plain.submit().status_code == 303
    assert [r.unit_id for r in stored(session)] == [unit.id, None]


def test_unit_page_refuses_a_service_not_listed(app, session, two_units, monkeypatch):
    visitor = SurveyActions(app, install_clock(monkeypatch), opd="bpbd/pos-timur")
    response = visitor.submit({**ALL_FOURS, "service": "Layanan karangan"})
    assert response.status_code == 400
    assert stored(session) == []


@pytest.mark.parametrize(
    ("path", "lang", "text"),
    [
        ("/s/uji-2026/bpbd/tidak-ada", "", "Halaman tidak ditemukan"),
        ("/s/uji-2026/bpbd/pos-barat", "", "Halaman tidak ditemukan"),  # deactivated below
        ("/s/uji-2026/rsud/pos-timur", "?lang=en", "Page not found"),  # another OPD's unit
    ],
)
def test_unknown_or_inactive_unit_is_a_404(app, session, two_units, monkeypatch, path, lang, text):
    opd = _opd(session)
    unit = units.unit_or_error(session, opd=opd, slug="pos-barat")
    units.set_unit_active(session, opd=opd, unit=unit, active=False, actor="eva")
    visitor = SurveyActions(app, install_clock(monkeypatch))
    response = visitor.get(path + lang)
    assert response.status_code == 404
    assert text in response.get_data(as_text=True)
    assert visitor.get(path + "/terima-kasih").status_code == 404


# --- QR codes and posters --------------------------------------------------------------------


def test_unit_qr_encodes_the_units_public_url(app, session, two_units, monkeypatch):
    visitor = SurveyActions(app, install_clock(monkeypatch))
    response = visitor.get("/qr/uji-2026/bpbd/pos-barat.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    url = "https://skm.example.go.id/s/uji-2026/bpbd/pos-barat"
    buffer = io.BytesIO()
    segno.make_qr(url, error=QR_ERROR).save(buffer, kind="svg", title=url, **SVG_OPTIONS)
    assert response.get_data() == buffer.getvalue()
    assert visitor.get("/qr/uji-2026/bpbd/nope.svg").status_code == 404
    assert visitor.get("/qr/uji-2026/rsud/pos-barat.svg").status_code == 404


def test_posters_print_one_page_per_active_unit_after_its_opd(runner, session, two_units, tmp_path):
    opd = _opd(session)
    unit = units.unit_or_error(session, opd=opd, slug="pos-barat")
    units.set_unit_active(session, opd=opd, unit=unit, active=False, actor="eva")
    output = tmp_path / "posters.pdf"
    result = runner.invoke(args=["report", "posters", "--wave", "uji-2026", "-o", str(output)])
    assert result.exit_code == 0, result.output
    reader = pypdf.PdfReader(io.BytesIO(output.read_bytes()))
    pages = [" ".join(p.extract_text().split()) for p in reader.pages]
    # OPDs by name: BPBD (then its one active unit), Dinas Perhubungan, RSUD.
    assert len(pages) == 4
    assert "Badan Penanggulangan Bencana Daerah" in pages[0]
    assert "Unit layanan" not in pages[0]
    assert "Badan Penanggulangan Bencana Daerah" in pages[1]
    assert "Unit layanan: Pos Timur" in pages[1]
    assert "Pos Barat" not in "".join(pages)
    timur = units.unit_or_error(session, opd=opd, slug="pos-timur")
    code = shortlinks.short_code(session, two_units.id, opd.id, timur.id)
    assert f"skm.example.go.id/l/{code}" in pages[1]
    target = shortlinks.resolve(session, code)
    assert target is not None and target.path() == "/s/uji-2026/bpbd/pos-timur"


# --- The workspace ---------------------------------------------------------------------------


def test_admin_adds_and_deactivates_units(client, session, users):
    login(client, "eva")
    token = csrf_token(client, "/kerja/opd/bpbd")
    response = client.post(
        "/kerja/opd/bpbd",
        data={
            "csrf_token": token,
            "action": "unit-add",
            "unit_slug": "pos-a",
            "unit_name": "Pos A",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/kerja/opd/bpbd?hasil=unit-ditambah#unit"
    page = client.get("/kerja/opd/bpbd").get_data(as_text=True)
    assert "<td>Pos A</td><td>pos-a</td>" in page
    response = client.post(
        "/kerja/opd/bpbd",
        data={"csrf_token": token, "action": "unit-deactivate", "unit_slug": "pos-a"},
    )
    assert response.status_code == 302
    assert _units(session) == [("pos-a", "Pos A", 1, False)]
    assert [(a, d["unit"]) for a, d in _actions(session)] == [
        ("opd.unit.add", "pos-a"),
        ("opd.unit.deactivate", "pos-a"),
    ]
    entry = session.exec(select(AuditLog).where(AuditLog.action == "opd.unit.add")).one()
    assert entry.actor == "eva"


@pytest.mark.parametrize(
    ("data", "lang", "message"),
    [
        ({"unit_slug": "Pos A", "unit_name": "Pos"}, "", "bukan &#39;Pos A&#39;"),
        ({"unit_slug": "pos-a", "unit_name": "pos a"}, "", "sudah punya unit bernama"),
        ({"unit_slug": "pos-a", "unit_name": "pos a"}, "?lang=en", "already has a unit named"),
    ],
)
def test_admin_refuses_bad_units_writing_nothing(client, session, users, data, lang, message):
    units.add_unit(session, opd=_opd(session), slug="pos-b", name="Pos A", actor="eva")
    before = _units(session), _actions(session)
    login(client, "eva")
    token = csrf_token(client, "/kerja/opd/bpbd")
    response = client.post(
        "/kerja/opd/bpbd" + lang, data={"csrf_token": token, "action": "unit-add", **data}
    )
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert (_units(session), _actions(session)) == before


# --- The dashboard ---------------------------------------------------------------------------


def test_dashboard_shows_unit_counts_against_targets(app, client, session, two_units, users):
    opd = _opd(session)
    timur = units.unit_or_error(session, opd=opd, slug="pos-timur")
    units.set_unit_target(session, wave=two_units, opd=opd, unit=timur, target="4", actor="eva")
    add_responses(session, two_units, "bpbd", [[4] * 9] * 3, unit_id=timur.id)
    add_responses(session, two_units, "bpbd", [[3] * 9] * 2)
    login(client, "eva")
    page = client.get("/kerja/gelombang/uji-2026/dasbor").get_data(as_text=True)
    row = page.split('id="unit-bpbd-pos-timur">', 1)[1].split("</tr>", 1)[0]
    assert "Unit: Pos Timur" in row
    assert '3 / 4<br><progress value="3" max="4">75 %</progress>' in row
    assert "hanya jumlah respons" in row
    barat = page.split('id="unit-bpbd-pos-barat">', 1)[1].split("</tr>", 1)[0]
    assert '<td class="num count">0<br></td>' in barat
    # The OPD's own row counts every response, with a unit or without.
    opd_row = page.split('id="opd-bpbd">', 1)[1].split("</tr>", 1)[0]
    assert '<td class="num count">5 / 30' in opd_row


# --- The OPD report per unit -----------------------------------------------------------------

FOURS, THREES, TWOS = [4] * 9, [3] * 9, [2] * 9


def _unit_responses(session, wave, *, timur):
    """BPBD: Pos Barat 6 x all 4 and 4 x all 3; Pos Timur ``timur``; its own page 4 x all 4
    and 1 x all 3; a closed unit with none. RSUD 20 x all 3 (so the wave has a ranking)."""
    opd = _opd(session)
    barat = units.unit_or_error(session, opd=opd, slug="pos-barat")
    tutup = units.add_unit(session, opd=opd, slug="tutup", name="Loket Tutup", actor="eva")
    units.set_unit_active(session, opd=opd, unit=tutup, active=False, actor="eva")
    add_responses(session, wave, "bpbd", [FOURS] * 6 + [THREES] * 4, unit_id=barat.id)
    timur_id = units.unit_or_error(session, opd=opd, slug="pos-timur").id
    add_responses(session, wave, "bpbd", timur, unit_id=timur_id)
    add_responses(session, wave, "bpbd", [FOURS] * 4 + [THREES])
    # Neither a flagged response nor one answering no IKM element counts anywhere.
    add_responses(session, wave, "bpbd", [TWOS], unit_id=barat.id, status="flagged", reason="x")
    add_responses(session, wave, "bpbd", [[None] * 9], unit_id=barat.id)
    add_responses(session, wave, "rsud", [THREES] * 20)


def _report_data(session, slug="uji-2026"):
    wave = queries.get_wave(session, slug=slug)
    ranking = score_wave(session, wave=wave, wave_tests=False)
    return opd_report_data(session, wave=wave, ranking=ranking, opd_slug="bpbd")


def test_units_are_scored_like_the_opd_and_add_up_to_it(session, two_units):
    _unit_responses(session, two_units, timur=[TWOS] * 3 + [THREES] * 3)
    data = _report_data(session)
    got = [(u.name, u.n, u.direct, u.active) for u in data.service_units]
    # Units in their order, the OPD's own page last; the closed unit has no response: no row.
    assert got == [
        ("Pos Barat", 10, False, True),
        ("Pos Timur", 6, False, True),
        ("", 5, True, True),
    ]
    assert sum(u.n for u in data.service_units) == data.unit.n == 21
    barat, timur, direct = data.service_units
    # Pos Barat by hand: IKM = (6 x 4 + 4 x 3) / 10 = 3.6; respondents' variance on 0..1
    # s2 = (0.2667 / 9) = 0.02963; the logit interval (0.1 pseudo-respondent at each end):
    # p~ = (10 x 0.8667 + 0.1) / 10.2 = 0.85948, s~2 = 0.34303 / 9.2 = 0.037286,
    # se on the logit scale 0.0604610 / (0.85948 x 0.14052) = 0.50060, centre ln(6.1163) =
    # 1.81094, +- 1.95996 x 0.50060 -> 1 + 3 expit(0.82978) = 3.0889, 1 + 3 expit(2.79210)
    # = 3.8267 (to the 4 decimals this hand computation keeps).
    assert barat.ikm == pytest.approx(3.6)
    assert (barat.ci_low, barat.ci_high) == pytest.approx((3.0889, 3.8267), abs=1e-4)
    assert timur.ikm == pytest.approx(2.5) and direct.ikm == pytest.approx(3.8)
    # The OPD's score is all 21 (70 / 21), not a mean of the units' scores.
    assert data.unit.ikm == pytest.approx(70 / 21)


def test_the_opd_report_prints_the_units_table(session, two_units):

    _unit_responses(session, two_units, timur=[TWOS] * 3 + [THREES] * 3)
    text = pdf_text(render_opd_pdf(_report_data(session)))
    table = text.split("Per unit layanan", 1)[1].split("Profil responden", 1)[0]
    # Name, n, converted score (25 x IKM), 95% interval on 25..100, category.
    assert "Pos Barat 10 90,00* 77,2–95,7 A" in table
    assert "Pos Timur 6 62,50* 50,8–74,2 D" in table
    assert "Langsung ke OPD (tanpa unit) 5 95,00* 64,4–99,3 A" in table
    assert "Seluruh OPD 21 83,33 73,9–89,8 B" in table
    assert "kurang dari 15 responden" in table
    assert "Loket Tutup" not in table and "tidak ditampilkan selama" not in table


def test_small_units_are_withheld_and_cannot_be_worked_out(app, client, session, two_units, users):
    # Pos Timur: 3 respondents. With its score alone withheld, it would follow from the OPD's
    # and the others' (the OPD's is their n-weighted mean); so while a unit is under 5, no
    # unit's score is shown, only the counts (tests/test_attack14.py runs the two readings).
    _unit_responses(session, two_units, timur=[TWOS] * 3)
    text = pdf_text(render_opd_pdf(_report_data(session)))
    table = text.split("Per unit layanan", 1)[1].split("Profil responden", 1)[0]
    assert "Pos Barat 10 – – –" in table
    assert "Pos Timur 3 – – –" in table
    assert "Langsung ke OPD (tanpa unit) 5 – – –" in table
    assert "Seluruh OPD 18 84,72 73,4–91,7 B" in table
    assert "nilai unit tidak ditampilkan selama ada unit dengan kurang dari 5" in table
    # The OPD head's page says the same.
    set_wave_status(session, slug="uji-2026", status="closed")
    login(client, "kepala-bpbd")
    page = client.get("/kerja/hasil-opd/bpbd/uji-2026?lang=en").get_data(as_text=True)
    section = page.split('id="unit-layanan"', 1)[1].split("</table>", 1)[0]
    rows = [
        " ".join(re.sub(r"<[^>]+>", " ", row).split())
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", section, re.S)
    ]
    # The whole OPD: (10 x 4 + 5 x 3 + 3 x 2) / 18 = 3.3889, 25 x that = 84.72.
    assert rows[1:] == [
        "Pos Barat 10 – –",
        "Pos Timur 3 – –",
        "At the OPD itself (no unit) 5 – –",
        "Whole OPD 18 84.72 73.4–91.7 B",
    ]
    assert "score is shown while a unit has fewer than 5 respondents" in page


def test_an_opd_without_units_has_no_units_table(client, session, open_wave, users):
    add_responses(session, open_wave, "bpbd", [FOURS] * 20)
    assert _report_data(session).service_units == ()
    set_wave_status(session, slug="uji-2026", status="closed")
    login(client, "kepala-bpbd")
    page = client.get("/kerja/hasil-opd/bpbd/uji-2026").get_data(as_text=True)
    assert 'id="profil"' in page  # the scored part of the page is there
    assert 'id="unit-layanan"' not in page and "Per unit layanan" not in page


def test_withheld_groups_never_give_a_small_group_away():
    rng = np.random.default_rng(7)
    for _ in range(2000):
        sizes = [int(s) for s in rng.integers(0, 12, size=int(rng.integers(1, 6)))]
        hidden = suppressed_groups(sizes, minimum=5)
        # With a group of 1..4, every group with respondents is withheld (nothing to subtract
        # from the whole, in this reading or the next); without one, none is.
        small = any(0 < s < 5 for s in sizes)
        assert hidden == ({i for i, s in enumerate(sizes) if s > 0} if small else set()), sizes


def test_units_follow_a_ranking_of_verified_answers_only(session, two_units):
    opd = _opd(session)
    barat = units.unit_or_error(session, opd=opd, slug="pos-barat")
    add_responses(session, two_units, "bpbd", [FOURS] * 16, unit_id=barat.id, verified=True)
    add_responses(session, two_units, "bpbd", [TWOS] * 9, unit_id=barat.id)
    add_responses(session, two_units, "bpbd", [THREES] * 4, verified=True)
    wave = queries.get_wave(session, slug="uji-2026")
    ranking = score_wave(session, wave=wave, wave_tests=False, verified_only=True)
    data = opd_report_data(session, wave=wave, ranking=ranking, opd_slug="bpbd")
    got = [(u.name, u.n, u.ikm) for u in data.service_units]
    # Pos Timur has no response but is open: its row says 0; the 9 unverified twos are out.
    assert got[0] == ("Pos Barat", 16, 4.0)
    assert got[1][:2] == ("Pos Timur", 0) and np.isnan(got[1][2])
    assert got[2] == ("", 4, 3.0)
    assert data.unit.n == 20


# --- A kiosk at a unit -----------------------------------------------------------------------

KIOSKS = "/kerja/gelombang/uji-2026/kios"


def test_a_kiosk_enrolled_at_a_unit_records_its_answers_there(
    app, client, session, two_units, users, monkeypatch
):
    opd = _opd(session)
    barat = units.unit_or_error(session, opd=opd, slug="pos-barat")
    timur = units.unit_or_error(session, opd=opd, slug="pos-timur")
    units.set_unit_active(session, opd=opd, unit=timur, active=False, actor="eva")
    login(client, "eva")
    page = client.get(KIOSKS).get_data(as_text=True)
    # Each OPD, then its open units; a closed unit is no place for a kiosk.
    assert '<option value="bpbd">' in page and '<option value="bpbd/pos-barat">' in page
    assert "bpbd/pos-timur" not in page
    token = csrf_token(client, "/kerja")
    for place, message in (
        ("bpbd/pos-timur", "OPD bpbd tidak memiliki unit layanan aktif pos-timur."),
        ("bpbd/tidak-ada", "OPD bpbd tidak memiliki unit layanan aktif tidak-ada."),
        ("rsud/pos-barat", "OPD rsud tidak memiliki unit layanan aktif pos-barat."),
    ):
        refused = client.post(KIOSKS, data={"csrf_token": token, "opd": place, "label": "T"})
        assert refused.status_code == 400 and message in refused.get_data(as_text=True)
    assert session.exec(select(KioskDevice)).all() == []
    response = client.post(
        KIOSKS, data={"csrf_token": token, "opd": "bpbd/pos-barat", "label": "Tablet Pos Barat"}
    )
    assert response.headers["Location"] == "/lapangan/kios/uji-2026/bpbd"
    [device] = session.exec(select(KioskDevice)).all()
    assert device.unit_id == barat.id
    assert audit_actions(session, "kiosk.enrol")[0].detail["unit"] == "pos-barat"
    # The tablet (the evaluator is signed out of it) shows the unit and stores it.
    clock = install_clock(monkeypatch)
    kiosk = "/lapangan/kios/uji-2026/bpbd"
    form = FormPage.parse(client.get(kiosk))
    assert "Unit layanan: Pos Barat" in form.html
    clock.advance(30)
    assert client.post(kiosk, data={**form.hidden, **ALL_FOURS}).status_code == 303
    assert "Unit layanan: Pos Barat" in client.get(f"{kiosk}/terima-kasih").get_data(as_text=True)
    # And so does an answer it kept while offline and sends later.
    now = clock.now
    answer = {
        "id": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "kind": "kiosk",
        "wave": "uji-2026",
        "opd": "bpbd",
        "who": None,
        "shown": (now - 40) * 1000,
        "answered": now * 1000,
        "fields": ALL_FOURS,
    }
    sent = client.post(
        "/lapangan/kirim", json=answer, headers={"Origin": "http://localhost"}
    ).get_json()
    assert sent["stored"] is True, sent
    assert [(r.channel, r.unit_id, r.device_id) for r in stored(session)] == [
        ("kiosk", barat.id, device.id),
        ("kiosk", barat.id, device.id),
    ]
    # The staff list says where the kiosk stands.
    login(client, "eva")
    assert "Badan Penanggulangan Bencana Daerah – Pos Barat" in client.get(KIOSKS).get_data(
        as_text=True
    )

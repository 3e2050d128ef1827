"""An OPD's own list of services: managed by staff, chosen by citizens, the only names shown.

The attack of issue 11: five stuffed ballots put "SITUS RESMI: judi-online.example" into a
public OPD report through the service field. Here it is run through every door (the form, an
import file, rows already in the database) and nothing public changes.
"""

from __future__ import annotations

import io
import re
from html import unescape

import pypdf
import pytest
from auth_helpers import PASSWORD, csrf_token, login
from sqlmodel import Session, select
from survey_helpers import (
    SurveyActions,
    add_opd,
    add_responses,
    install_clock,
    set_wave_status,
    stored,
)

from survey.core import accounts, opds, queries
from survey.core.models import AuditLog, OpdService

SPAM = "SITUS RESMI: judi-online.example"
FOURS = {f"U{i}": "4" for i in range(1, 10)}


def pdf_text(data: bytes) -> str:
    """Return the text of a PDF, whitespace folded."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def services_of(session: Session, slug: str) -> list[tuple[str, bool]]:
    """Return an OPD's service rows (name, active) in order, fresh from the database."""
    session.expire_all()
    opd = queries.get_opd(session, slug=slug)
    assert opd is not None and opd.id is not None
    return [
        (s.name, s.active) for s in opds.list_services(session, opd_id=opd.id, active_only=False)
    ]


def service_audits(session: Session) -> list[tuple[str, str | None, str]]:
    """Return the audit entries of service changes: action, actor, service."""
    session.expire_all()
    entries = session.exec(
        select(AuditLog).where(AuditLog.action.like("opd.service.%")).order_by(AuditLog.id)  # type: ignore[attr-defined]
    ).all()
    return [(e.action, e.actor, e.detail["service"]) for e in entries]


# --- Managing the list ------------------------------------------------------------------------


def test_the_workspace_page_adds_and_removes_services(app, client, session, users) -> None:
    """Evaluators add and remove services on the OPD's page; each change is audited."""
    login(client, "eva")
    before = service_audits(session)
    page = "/kerja/opd/bpbd"
    added = client.post(
        page,
        data={
            "csrf_token": csrf_token(client, page),
            "action": "service-add",
            "service": " Informasi bencana ",
        },
    )
    assert added.status_code == 302
    html = client.get(added.headers["Location"]).get_data(as_text=True)
    assert "Layanan ditambahkan ke daftar." in html and "<td>Informasi bencana</td>" in html
    assert services_of(session, "bpbd") == [("KTP", True), ("Informasi bencana", True)]
    # The same name in another case, a hidden character, an empty name: refused, said in place.
    for typed, message in (
        ("informasi BENCANA", "Layanan &#39;Informasi bencana&#39; sudah ada dalam daftar."),
        ("Info\u202ebencana", "Nama layanan berisi karakter kendali atau tak terlihat U+202E"),
        ("   ", "Nama layanan wajib diisi."),
    ):
        refused = client.post(
            page,
            data={
                "csrf_token": csrf_token(client, page),
                "action": "service-add",
                "service": typed,
            },
        )
        assert refused.status_code == 400
        body = refused.get_data(as_text=True)
        error_at = body.index('<p class="field-error" id="e-service">')
        assert message in body[error_at : error_at + 300]
    removed = client.post(
        page,
        data={"csrf_token": csrf_token(client, page), "action": "service-remove", "service": "KTP"},
    )
    assert removed.status_code == 302
    assert services_of(session, "bpbd") == [("KTP", False), ("Informasi bencana", True)]
    assert service_audits(session)[len(before) :] == [
        ("opd.service.add", "eva", "Informasi bencana"),
        ("opd.service.remove", "eva", "KTP"),
    ]
    # An OPD head may not change the list.
    head = login(app.test_client(), "kepala-bpbd")
    forbidden = head.post(
        page,
        data={"csrf_token": csrf_token(head), "action": "service-add", "service": "Lain"},
    )
    assert forbidden.status_code == 403
    assert services_of(session, "bpbd") == [("KTP", False), ("Informasi bencana", True)]


def test_the_command_line_lists_adds_and_removes(runner, session, users) -> None:
    """``ikm opd services``, ``service-add``, ``service-remove``: one line each, audited."""
    assert runner.invoke(args=["opd", "service-add", "rsud", "Rawat jalan"]).exit_code == 0
    result = runner.invoke(args=["opd", "services", "rsud"])
    assert result.output == "Poli umum\tactive\nRawat jalan\tactive\n"
    taken = runner.invoke(args=["opd", "service-add", "rsud", "poli umum"])
    assert taken.exit_code == 1
    assert taken.output == "Error: 'Poli umum' is already in the list of services\n"
    assert runner.invoke(args=["opd", "service-remove", "rsud", "Poli umum"]).exit_code == 0
    unknown = runner.invoke(args=["opd", "service-remove", "rsud", "Poli gigi"])
    assert unknown.exit_code == 1 and "'Poli gigi' is not in the list of services" in unknown.output
    assert runner.invoke(args=["opd", "services", "rsud", "--all"]).output == (
        "Poli umum\tremoved\nRawat jalan\tactive\n"
    )
    assert service_audits(session)[-2:] == [
        ("opd.service.add", None, "Rawat jalan"),
        ("opd.service.remove", None, "Poli umum"),
    ]
    # Adding a removed service again brings it back at the end of the list.
    assert runner.invoke(args=["opd", "service-add", "rsud", "Poli umum"]).exit_code == 0
    assert services_of(session, "rsud") == [("Rawat jalan", True), ("Poli umum", True)]
    # Bringing it back reuses its row: bpbd's KTP and rsud's two.
    assert len(session.exec(select(OpdService)).all()) == 3


# --- The citizen's form -----------------------------------------------------------------------


def test_the_form_offers_the_opds_own_services_and_nothing_typed(
    app, session, open_wave, monkeypatch
):
    """A select of the OPD's active services plus "none"; no text box; another OPD, its own."""
    clock = install_clock(monkeypatch)
    bpbd = queries.get_opd(session, slug="bpbd")
    opds.add_service(session, opd=bpbd, name="Informasi bencana", actor=None)
    page = SurveyActions(app, clock).client.get("/s/uji-2026/bpbd").get_data(as_text=True)
    select_html = re.search(
        r'<select id="f-service" name="service"[^>]*>(.*?)</select>', page, re.S
    )
    assert select_html is not None
    options = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select_html[1])
    assert options == [
        ("", "(tidak diisi)"),
        ("KTP", "KTP"),
        ("Informasi bencana", "Informasi bencana"),
    ]
    assert 'name="service" type="text"' not in page
    rsud = (
        SurveyActions(app, clock, opd="rsud").client.get("/s/uji-2026/rsud").get_data(as_text=True)
    )
    assert '<option value="Poli umum">' in rsud and "KTP" not in rsud
    # Removing a service takes it off the form at once (the form cache knows the list).
    opds.remove_service(session, opd=bpbd, name="KTP", actor=None)
    page = SurveyActions(app, clock).client.get("/s/uji-2026/bpbd").get_data(as_text=True)
    assert '<option value="KTP">' not in page and '<option value="Informasi bencana">' in page
    # An OPD that lists none is not asked.
    add_opd(session, slug="dinkes", name="Dinas Kesehatan")
    assert 'id="f-service"' not in _survey_page_of_new_opd(app, session, clock)
    citizen = SurveyActions(app, clock)
    assert citizen.submit({**FOURS, "service": "Informasi bencana"}).status_code == 303
    assert [r.service for r in stored(session)] == ["Informasi bencana"]


def _survey_page_of_new_opd(app, session, clock) -> str:
    """Return the survey page of 'dinkes' in a new open wave that covers it."""
    from survey_helpers import create_wave

    create_wave(session, slug="dua-2026", title="Dua", opd_slugs=["dinkes"], status="open")
    return (
        SurveyActions(app, clock, wave="dua-2026", opd="dinkes")
        .client.get("/s/dua-2026/dinkes")
        .get_data(as_text=True)
    )


# --- The attack -------------------------------------------------------------------------------


def public_texts(client) -> str:
    """Return the text of every public page and PDF of the wave uji-2026, in both languages."""
    parts = []
    for lang in ("id", "en"):
        for path in ("/hasil", "/hasil/uji-2026", "/hasil/uji-2026/bpbd"):
            response = client.get(f"{path}?lang={lang}")
            assert response.status_code == 200, path
            parts.append(unescape(response.get_data(as_text=True)))
        for path in ("/r/uji-2026/ranking.pdf", "/r/uji-2026/opd/bpbd.pdf"):
            response = client.get(f"{path}?lang={lang}")
            assert response.status_code == 200, path
            parts.append(pdf_text(response.data))
    return "\n".join(parts)


def test_five_stuffed_service_ballots_change_nothing_public(
    app, client, runner, session, open_wave, monkeypatch, tmp_path
) -> None:
    """Through the form: refused. Through an import: refused. Already stored: never shown.
    A listed service with as many answers is shown, so the public report does show services;
    comments stay private."""
    clock = install_clock(monkeypatch)
    # The form: five citizens (five browsers) send the spam as their service.
    for _ in range(5):
        response = SurveyActions(app, clock).submit({**FOURS, "service": SPAM, "comment": "x"})
        assert response.status_code == 400
        assert "Pilih salah satu pilihan yang tersedia." in response.get_data(as_text=True)
    assert stored(session) == []
    # An import file with five such rows: every row refused, nothing written.
    header = "opd,submitted_at," + ",".join(f"U{i}" for i in range(1, 10))
    header += ",sex,age,education,occupation,service,comment"
    lines = [header] + [f"bpbd,,4,4,4,4,4,4,4,4,4,,,,,{SPAM}," for _ in range(5)]
    path = tmp_path / "isian.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(args=["import", str(path), "--wave", "uji-2026"])
    assert result.exit_code == 1
    assert f"row 2: service '{SPAM}' is not in the OPD's list of services (KTP)" in result.output
    assert stored(session) == []
    # Rows stored before the list existed (or by any other door): counted, never shown.
    add_responses(session, open_wave, "bpbd", [[4] * 9] * 5, service=SPAM, comment="HUBUNGI 0812")
    add_responses(session, open_wave, "bpbd", [[3] * 9] * 5, service="KTP")
    add_responses(session, open_wave, "rsud", [[3] * 9] * 10)
    add_responses(session, open_wave, "dishub", [[2] * 9] * 10)
    set_wave_status(session, slug="uji-2026", status="closed")
    set_wave_status(session, slug="uji-2026", status="published")
    texts = public_texts(client)
    assert "judi" not in texts.lower() and "SITUS RESMI" not in texts
    assert "0812" not in texts and "HUBUNGI" not in texts
    opd_pdf = pdf_text(client.get("/r/uji-2026/opd/bpbd.pdf").data)
    assert "Jenis layanan" in opd_pdf and "KTP" in opd_pdf  # the listed service is shown
    # The OPD head's own page leaves it out too.
    accounts.create_user(
        session, username="kepala", password=PASSWORD, role="opd-head", opd_slug="bpbd"
    )
    head = login(app.test_client(), "kepala")
    page = head.get("/kerja/hasil-opd/bpbd/uji-2026")
    assert page.status_code == 200
    html = unescape(page.get_data(as_text=True))
    assert "KTP" in html and "judi" not in html.lower()


@pytest.mark.parametrize("listed", [True, False])
def test_the_report_counts_only_listed_names(session, open_wave, listed) -> None:
    """The profile counts a service only under a name its OPD lists (removed ones included)."""
    from survey.core.reportdata import counted_of_opd, listed_services_of, respondent_profile

    bpbd = queries.get_opd(session, slug="bpbd")
    add_responses(session, open_wave, "bpbd", [[4] * 9] * 6, service="Informasi bencana")
    add_responses(session, open_wave, "bpbd", [[4] * 9] * 6, service=SPAM)
    if listed:
        opds.add_service(session, opd=bpbd, name="Informasi bencana", actor=None)
        opds.remove_service(session, opd=bpbd, name="Informasi bencana", actor=None)
    responses = counted_of_opd(session, wave=open_wave, opd=bpbd)
    profile = respondent_profile(responses, services=listed_services_of(session, bpbd))
    assert profile.get("service") == ({"Informasi bencana": 6} if listed else None)

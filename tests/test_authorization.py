"""The authorization table: every route of the app, visited by every kind of visitor.

``PUBLIC`` lists the routes anyone may open; ``TABLE`` gives, for every other route and
method, the status each visitor gets: anonymous visitors are sent to the sign-in page, a
signed-in user without the role gets 403, and an OPD head asking for another OPD's pages by
URL gets 404. A test fails when the app has a route that neither list names, so a new page
cannot ship without its row here.

Visitors: ``anonymous``; ``admin``; ``evaluator``; ``head`` (the head of BPBD, on BPBD's
pages); ``other-head`` (the same head of BPBD, on the pages of RSUD, typing their URLs).
RSUD's responses carry a marker comment: no page the head of BPBD can reach may show it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from auth_helpers import CSRF_RE, PASSWORD, AuthActions
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, select
from survey_helpers import add_opd, add_responses, create_wave, set_wave_status

from survey.core import accounts, queries
from survey.core.models import ImportJob, Response

MARKER = "RAHASIA-RSUD-7Q"  # in RSUD's comments; never shown to the head of BPBD
VISITORS = ("anonymous", "admin", "evaluator", "head", "other-head")
USERNAMES = {"admin": "admin", "evaluator": "eva", "head": "kepala-bpbd"}
LOGIN = "login"  # a redirect to the sign-in page
OK = 200

# Routes anyone may open (their own rules on status are tested with their pages).
PUBLIC = {
    "static",
    "auth.login",
    "public.survey_page",
    "public.thank_you",
    "public.unit_survey_page",
    "public.unit_thank_you",
    # The wave's one link (search, sittings) and short links (their rules: test_onelink.py).
    "onelink.wave_page",
    "onelink.short_link",
    "qr.survey_qr",
    "qr.unit_qr",
    "results.home",
    "results.index",
    "results.wave",
    "results.opd",
    "dataio.open_data",
    "reports.ranking_pdf",
    # The versions of a published wave (errata): public like the latest ones.
    "results.wave_version",
    "results.opd_version",
    "dataio.open_data_version",
    "reports.ranking_pdf_version",
    "reports.opd_pdf_version",
    "health.healthz",
    # The kiosk's pages open for an enrolled device's cookie, not an account; the answer
    # endpoint takes JSON from the field pages (their own rules: tests/test_field.py).
    "field.kiosk",
    "field.kiosk_thanks",
    "field.service_worker",
    "field.send",
}


def expect(admin: int, evaluator: int, head: int, other: int | None = None) -> dict[str, object]:
    """Return the statuses of one row: anonymous visitors always go to the sign-in page."""
    return {
        "anonymous": LOGIN,
        "admin": admin,
        "evaluator": evaluator,
        "head": head,
        "other-head": head if other is None else other,
    }


STAFF = expect(OK, OK, 403)  # evaluators and admins
ADMIN = expect(OK, 403, 403)  # admins only
ANYONE = expect(OK, OK, OK)  # any signed-in user

# (endpoint, method, URL for the head's own OPD, URL for another OPD or None) -> statuses.
# POSTs send only the CSRF token: an allowed visitor gets the form's error (400) or a refusal
# of the action, never a change made on an empty form.
TABLE: list[tuple[str, str, str, str | None, dict[str, object]]] = [
    ("auth.workspace", "GET", "/kerja", None, ANYONE),
    ("flags.audit_log", "GET", "/kerja/audit", None, ADMIN),
    ("waves.index", "GET", "/kerja/gelombang", None, STAFF),
    ("waves.new", "GET", "/kerja/gelombang/baru", None, STAFF),
    ("waves.new", "POST", "/kerja/gelombang/baru", None, expect(400, 400, 403)),
    ("waves.detail", "GET", "/kerja/gelombang/terbit", None, STAFF),
    ("waves.edit", "GET", "/kerja/gelombang/tutup/ubah", None, STAFF),
    ("waves.edit", "POST", "/kerja/gelombang/tutup/ubah", None, expect(400, 400, 403)),
    ("waves.status", "POST", "/kerja/gelombang/tutup/status", None, expect(400, 400, 403)),
    ("dashboard.wave_dashboard", "GET", "/kerja/gelombang/terbit/dasbor", None, STAFF),
    ("dashboard.wave_dashboard_tv", "GET", "/kerja/gelombang/terbit/dasbor/tv", None, STAFF),
    ("flags.review", "GET", "/kerja/gelombang/tutup/ditandai", None, STAFF),
    (
        "flags.decide",
        "POST",
        "/kerja/gelombang/tutup/ditandai/{flagged}",
        None,
        expect(400, 400, 403),
    ),
    (
        "flags.group_action",
        "POST",
        "/kerja/gelombang/tutup/ditandai/kelompok",
        None,
        expect(400, 400, 403),
    ),
    (
        "dashboard.clear_alarm",
        "POST",
        "/kerja/gelombang/tutup/alarm/999/selesai",
        None,
        expect(404, 404, 403),  # no such alarm (its refusals are tested with the dashboard)
    ),
    ("dataio.import_upload", "GET", "/kerja/gelombang/tutup/impor", None, STAFF),
    ("dataio.import_upload", "POST", "/kerja/gelombang/tutup/impor", None, expect(400, 400, 403)),
    ("dataio.job", "GET", "/kerja/impor/{job}", None, STAFF),
    ("dataio.job_confirm", "POST", "/kerja/impor/{job}", None, expect(400, 400, 403)),
    ("dataio.export", "GET", "/kerja/gelombang/terbit/ekspor/csv", None, STAFF),
    ("waves.questionnaires", "GET", "/kerja/kuesioner", None, STAFF),
    ("waves.questionnaires", "POST", "/kerja/kuesioner", None, expect(400, 400, 403)),
    ("waves.questionnaire", "GET", "/kerja/kuesioner/{questionnaire}", None, STAFF),
    ("admin.opds", "GET", "/kerja/opd", None, STAFF),
    ("admin.opds", "POST", "/kerja/opd", None, expect(400, 400, 403)),
    ("admin.opd", "GET", "/kerja/opd/bpbd", None, STAFF),
    ("admin.opd", "POST", "/kerja/opd/bpbd", None, expect(400, 400, 403)),
    ("admin.opd_import", "GET", "/kerja/opd/impor", None, expect(302, 302, 403)),
    ("admin.opd_import", "POST", "/kerja/opd/impor", None, expect(400, 400, 403)),
    ("admin.users", "GET", "/kerja/pengguna", None, ADMIN),
    ("admin.users", "POST", "/kerja/pengguna", None, expect(400, 403, 403)),
    ("admin.user", "GET", "/kerja/pengguna/eva", None, ADMIN),
    ("admin.user", "POST", "/kerja/pengguna/eva", None, expect(400, 403, 403)),
    ("reports.posters_pdf", "GET", "/r/tutup/posters.pdf", None, STAFF),
    # An OPD's pages: its head reads them; another OPD's head gets 404 for the same URL.
    ("opdhead.home", "GET", "/kerja/opd-saya", None, expect(OK, OK, 302)),
    (
        "opdhead.opd",
        "GET",
        "/kerja/hasil-opd/bpbd",
        "/kerja/hasil-opd/rsud",
        expect(OK, OK, OK, 404),
    ),
    (
        "opdhead.wave",
        "GET",
        "/kerja/hasil-opd/bpbd/tutup",
        "/kerja/hasil-opd/rsud/tutup",
        expect(OK, OK, OK, 404),
    ),
    (
        "opdhead.wave",
        "GET",
        "/kerja/hasil-opd/bpbd/terbit",
        "/kerja/hasil-opd/rsud/terbit",
        expect(OK, OK, OK, 404),
    ),
    # Before publication an OPD's PDF is not public: its head, evaluators and admins only.
    (
        "reports.opd_pdf",
        "GET",
        "/r/tutup/opd/bpbd.pdf",
        "/r/tutup/opd/rsud.pdf",
        expect(OK, OK, OK, 404),
    ),
    # Kiosks and printed codes: staff only (an OPD head holds no key to the count).
    ("kiosks.index", "GET", "/kerja/gelombang/tutup/kios", None, STAFF),
    ("kiosks.enrol", "POST", "/kerja/gelombang/tutup/kios", None, expect(400, 400, 403)),
    (
        "kiosks.revoke",
        "POST",
        "/kerja/gelombang/tutup/kios/999/cabut",
        None,
        expect(404, 404, 403),
    ),
    ("counter.index", "GET", "/kerja/gelombang/tutup/kode", None, STAFF),
    ("counter.batch", "POST", "/kerja/gelombang/tutup/kode", None, expect(400, 400, 403)),
    # A counter screen: staff, and the head of that OPD for their own counter.
    (
        "counter.screen",
        "GET",
        "/kerja/gelombang/tutup/loket/bpbd",
        "/kerja/gelombang/tutup/loket/rsud",
        expect(OK, OK, OK, 404),
    ),
    # The evaluator's logo of a wave: staff only (no logo stored: the image is a 404).
    ("logos.logo", "GET", "/kerja/gelombang/tutup/logo", None, STAFF),
    ("logos.logo", "POST", "/kerja/gelombang/tutup/logo", None, expect(400, 400, 403)),
    ("logos.remove", "POST", "/kerja/gelombang/tutup/logo/hapus", None, expect(303, 303, 403)),
    ("logos.image", "GET", "/kerja/gelombang/tutup/logo/gambar", None, expect(404, 404, 403)),
    # An interview: enumerators with a scope of the wave only (none of these visitors).
    ("field.interview", "GET", "/lapangan/wawancara/tutup/bpbd", None, expect(403, 403, 403)),
    ("field.interview", "POST", "/lapangan/wawancara/tutup/bpbd", None, expect(403, 403, 403)),
    (
        "field.interview_thanks",
        "GET",
        "/lapangan/wawancara/tutup/bpbd/terima-kasih",
        None,
        expect(403, 403, 403),
    ),
    # Enumerators: staff manage them; an enumerator's own page (test_enumerators.py visits
    # every workspace route as an enumerator).
    ("enumerators.home", "GET", "/kerja/tugas", None, expect(OK, 403, 403)),
    ("enumerators.index", "GET", "/kerja/gelombang/tutup/pencacah", None, STAFF),
    (
        "enumerators.create_account",
        "POST",
        "/kerja/gelombang/tutup/pencacah/akun",
        None,
        expect(400, 400, 403),
    ),
    (
        "enumerators.grant",
        "POST",
        "/kerja/gelombang/tutup/pencacah/izin",
        None,
        expect(400, 400, 403),
    ),
    (
        "enumerators.revoke",
        "POST",
        "/kerja/gelombang/tutup/pencacah/izin/999/cabut",
        None,
        expect(404, 404, 403),
    ),
    ("auth.logout", "POST", "/keluar", None, expect(302, 302, 302)),
]


@pytest.fixture
def world(session: Session) -> dict[str, int]:
    """Two OPDs; a published and a closed wave over both, with responses; users; a job."""
    add_opd(session, slug="bpbd", name="Badan Penanggulangan Bencana Daerah")
    add_opd(session, slug="rsud", name="Rumah Sakit Umum Daerah")
    ids: dict[str, int] = {}
    for slug, status in (("terbit", "published"), ("tutup", "closed")):
        wave = create_wave(session, slug=slug, title=f"Gelombang {slug}", status="open")
        add_responses(
            session,
            wave,
            "bpbd",
            [[4, 3, 3, 4, 3, 3, 4, 3, 3]] * 12,
            comment="Pelayanan BPBD cepat.",
        )
        add_responses(session, wave, "rsud", [[2, 3, 2, 2, 3, 2, 2, 3, 2]] * 12, comment=MARKER)
        add_responses(
            session, wave, "rsud", [[1] * 9], status="flagged", reason="bot-suspect", comment=MARKER
        )
        set_wave_status(session, slug=slug, status="closed")
        if status == "published":
            set_wave_status(session, slug=slug, status="published")
    tutup = queries.get_wave(session, slug="tutup")
    assert tutup is not None and tutup.id is not None
    flagged = session.exec(
        select(Response).where(Response.wave_id == tutup.id, Response.status == "flagged")
    ).one()
    ids["flagged"] = flagged.id or 0
    job = ImportJob(
        wave_id=tutup.id,
        actor="eva",
        filename="a.csv",
        kind="csv",
        digest="0" * 64,
        data=b"opd,U1\nbpbd,4\n",
    )
    session.add(job)
    session.commit()
    assert job.id is not None
    ids["job"] = job.id
    ids["questionnaire"] = queries.default_questionnaire(session).id or 0
    accounts.create_user(session, username="admin", password=PASSWORD, role="admin")
    accounts.create_user(session, username="eva", password=PASSWORD, role="evaluator")
    accounts.create_user(
        session, username="kepala-bpbd", password=PASSWORD, role="opd-head", opd_slug="bpbd"
    )
    return ids


def _client(app: Flask, visitor: str) -> FlaskClient:
    """Return a client signed in as ``visitor`` (anonymous: not signed in)."""
    client = app.test_client()
    if visitor != "anonymous":
        username = USERNAMES["head" if visitor == "other-head" else visitor]
        assert AuthActions(client).login(username).status_code == 302
    return client


def _token(client: FlaskClient) -> str:
    """Return a CSRF token of the client's session (from the sign-in or workspace page)."""
    page = client.get("/kerja" if client.get("/kerja").status_code == 200 else "/masuk")
    match = CSRF_RE.search(page.get_data(as_text=True))
    assert match
    return match.group(1)


def _outcome(response) -> object:
    """Return LOGIN for a redirect to the sign-in page, else the status code."""
    if response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/masuk":
        return LOGIN
    return response.status_code


def test_every_route_is_in_the_table(app: Flask) -> None:
    """No route is left out: each is public or has its row (per method) in the table."""
    rows = {(endpoint, method) for endpoint, method, *_ in TABLE}
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if (rule.endpoint, method) not in rows:
                missing.append(f"{method} {rule.rule} ({rule.endpoint})")
    assert missing == []


def test_the_authorization_table(app: Flask, world: dict[str, int]) -> None:
    """Each visitor gets exactly the status of the table, and the head never sees RSUD."""
    clients = {visitor: _client(app, visitor) for visitor in VISITORS if visitor != "other-head"}
    clients["other-head"] = clients["head"]
    tokens = {visitor: _token(client) for visitor, client in clients.items()}
    seen: list[str] = []
    for endpoint, method, own, other, statuses in TABLE:
        if endpoint == "auth.logout":
            continue  # signs the visitor out: tested on its own below
        for visitor in VISITORS:
            url = (other if visitor == "other-head" and other else own).format(**world)
            client = clients[visitor]
            if method == "GET":
                response = client.get(url)
            else:
                response = client.post(url, data={"csrf_token": tokens[visitor]})
            got = _outcome(response)
            if got != statuses[visitor]:
                seen.append(f"{visitor} {method} {url}: {got}, expected {statuses[visitor]}")
            if visitor in ("head", "other-head"):
                body = response.get_data()
                assert MARKER.encode() not in body, f"{visitor} {method} {url} shows RSUD"
    assert seen == []


@pytest.mark.parametrize("visitor", VISITORS[1:4])
def test_logout_row(app: Flask, world: dict[str, int], visitor: str) -> None:
    """Signing out answers as the table says and ends the session."""
    client = _client(app, visitor)
    statuses = next(row[4] for row in TABLE if row[0] == "auth.logout")
    response = client.post("/keluar", data={"csrf_token": _token(client)})
    assert _outcome(response) == LOGIN or response.status_code == statuses[visitor]
    assert _outcome(client.get("/kerja")) == LOGIN


def test_anonymous_logout_needs_a_token(app: Flask, world: dict[str, int]) -> None:
    """A sign-out without a CSRF token is refused (no other site can sign anyone out)."""
    assert app.test_client().post("/keluar").status_code == 400


def test_the_marker_is_visible_to_staff(app: Flask, world: dict[str, int]) -> None:
    """The RSUD marker does reach staff, so its absence from the head's pages means something."""
    client = _client(app, "evaluator")
    page = client.get("/kerja/hasil-opd/rsud/tutup")
    assert page.status_code == 200
    assert MARKER in page.get_data(as_text=True)

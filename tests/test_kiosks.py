"""Kiosk enrolment: the staff page, "enrol this device" (the signed cookie), revocation.

The cookie the enrolment sets is read back with the citizen path's own functions
(``antiabuse.read_kiosk`` and ``kiosks.active_kiosk``), before and after a revocation.
"""

from __future__ import annotations

from http.cookies import SimpleCookie

import pytest
from auth_helpers import csrf_token, login
from code_helpers import audit_actions
from flask import Flask
from sqlmodel import Session, select
from survey_helpers import add_opd, create_wave, set_wave_status
from werkzeug.test import TestResponse

from survey.core import kiosks, queries
from survey.core.models import KioskDevice, Wave
from survey.web import antiabuse

PAGE = "/kerja/gelombang/uji-2026/kios"


def devices(session: Session) -> list[KioskDevice]:
    """Return every kiosk row, read afresh."""
    session.expire_all()
    return list(session.exec(select(KioskDevice).order_by(KioskDevice.id)).all())


def enrol(client, **data: str) -> TestResponse:
    """Post "enrol this device" with the session's CSRF token (the workspace page has one)."""
    return client.post(PAGE, data={"csrf_token": csrf_token(client, "/kerja"), **data})


def kiosk_cookie(response: TestResponse) -> SimpleCookie:
    """Return the kiosk cookie the response sets, with its attributes."""
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("ikm_kiosk=")]
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(header)
    return cookie


def read_back(app: Flask, value: str) -> tuple[int, int, int] | None:
    """Read a kiosk cookie as the survey page does."""
    with app.test_request_context("/", headers={"Cookie": f"{antiabuse.KIOSK_COOKIE}={value}"}):
        from flask import request

        return antiabuse.read_kiosk(request)


def test_enrol_sets_a_cookie_the_survey_accepts_and_revoking_ends_it(
    app, client, session: Session, users, open_wave: Wave
) -> None:
    login(client, "eva")
    assert client.get(PAGE).status_code == 200
    staff_cookie = client.get_cookie("session")
    assert staff_cookie is not None
    response = enrol(client, opd="rsud", label="  Loket 2  ")
    assert response.status_code == 303
    assert (
        response.headers["Location"] == "/lapangan/kios/uji-2026/rsud"
    )  # this host: the cookie is its

    [device] = devices(session)
    rsud = queries.get_opd(session, slug="rsud")
    assert rsud is not None
    assert (device.wave_id, device.opd_id, device.label, device.enrolled_by) == (
        open_wave.id,
        rsud.id,
        "Loket 2",
        "eva",
    )
    assert device.revoked_at is None
    cookie = kiosk_cookie(response)["ikm_kiosk"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) == antiabuse.KIOSK_MAX_AGE
    assert not cookie["secure"]  # the test app serves plain HTTP
    assert read_back(app, cookie.value) == (device.id, open_wave.id, rsud.id)
    assert (
        kiosks.active_kiosk(
            session, device_id=int(device.id or 0), wave_id=int(open_wave.id or 0), opd_id=rsud.id
        )
        == device
    )
    # Bound to its wave and OPD: the same device is no kiosk for another OPD.
    bpbd = queries.get_opd(session, slug="bpbd")
    assert bpbd is not None
    assert (
        kiosks.active_kiosk(
            session, device_id=int(device.id or 0), wave_id=int(open_wave.id or 0), opd_id=bpbd.id
        )
        is None
    )
    [entry] = audit_actions(session, "kiosk.enrol")
    assert entry.actor == "eva"
    assert entry.detail == {
        "wave": "uji-2026",
        "opd": "rsud",
        "device_id": device.id,
        "label": "Loket 2",
    }
    # The tablet stands at the counter now: the evaluator is signed out of it, on the server
    # too, so neither the browser nor a copy of its old cookie opens the workspace.
    assert client.get("/kerja").headers["Location"].startswith("/masuk")
    assert client.get(PAGE).status_code == 302
    assert client.get("/lapangan/kios/uji-2026/rsud").status_code == 200  # the kiosk still is
    client.set_cookie("session", staff_cookie.value)
    assert client.get(PAGE).status_code == 302
    login(client, "eva")
    html = client.get(PAGE).get_data(as_text=True)
    assert "Loket 2" in html and "Rumah Sakit Umum Daerah" in html and "eva" in html

    response = client.post(
        f"{PAGE}/{device.id}/cabut", data={"csrf_token": csrf_token(client, PAGE)}
    )
    assert response.status_code == 303
    [device] = devices(session)
    assert device.revoked_at is not None and device.revoked_by == "eva"
    assert (
        kiosks.active_kiosk(
            session, device_id=int(device.id or 0), wave_id=int(open_wave.id or 0), opd_id=rsud.id
        )
        is None
    )
    [entry] = audit_actions(session, "kiosk.revoke")
    assert entry.actor == "eva" and entry.detail["device_id"] == device.id
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Kios dicabut" in html and "Dicabut" in html
    # Revoking again changes nothing and writes no second entry.
    again = client.post(f"{PAGE}/{device.id}/cabut", data={"csrf_token": csrf_token(client, PAGE)})
    assert again.status_code == 303 and "sudah-dicabut" in again.headers["Location"]
    assert len(audit_actions(session, "kiosk.revoke")) == 1


def test_a_tampered_kiosk_cookie_names_no_kiosk(app, client, session, users, open_wave) -> None:
    login(client, "eva")
    value = kiosk_cookie(enrol(client, opd="bpbd", label="Loket 1"))["ikm_kiosk"].value
    assert read_back(app, value) is not None
    assert read_back(app, value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]) is None
    # A validly signed cookie still counts only while its row exists and is not revoked.
    with app.app_context():
        unknown = antiabuse.sign_kiosk(device_id=99, wave_id=int(open_wave.id or 0), opd_id=1)
    assert read_back(app, unknown) == (99, open_wave.id, 1)
    assert (
        kiosks.active_kiosk(session, device_id=99, wave_id=int(open_wave.id or 0), opd_id=1) is None
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"opd": "bpbd", "label": "   "}, "Isi label perangkat, misalnya Loket 1."),
        ({"opd": "bpbd", "label": "L" * 101}, "Label perangkat berisi 101 karakter"),
        ({"opd": "bpbd", "label": "Loket\u202e1"}, "karakter kendali atau tak terlihat"),
        ({"opd": "dinkes", "label": "Loket 1"}, "OPD dinkes tidak dicakup gelombang uji-2026."),
    ],
)
def test_enrol_refusals_write_nothing_and_set_no_cookie(
    client, session: Session, users, open_wave, data, message
) -> None:
    add_opd(session, slug="dinkes", name="Dinas Kesehatan")
    login(client, "eva")
    response = enrol(client, **data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert not [h for h in response.headers.getlist("Set-Cookie") if "ikm_kiosk" in h]
    assert devices(session) == []
    assert audit_actions(session, "kiosk.enrol") == []


def test_a_closed_wave_takes_no_kiosk(client, session: Session, users, open_wave) -> None:
    set_wave_status(session, slug="uji-2026", status="closed")
    login(client, "eva")
    assert "tidak lagi menerima kios baru" in client.get(PAGE).get_data(as_text=True)
    response = enrol(client, opd="bpbd", label="Loket 1")
    assert response.status_code == 400
    assert "kios baru tidak dapat didaftarkan" in response.get_data(as_text=True)
    assert devices(session) == []


def test_only_evaluators_enrol_or_revoke(client, session: Session, users, open_wave) -> None:
    wave = queries.get_wave(session, slug="uji-2026")
    assert wave is not None
    device = kiosks.enroll_kiosk(session, wave=wave, opd_slug="bpbd", label="Loket", actor="eva")
    assert client.get(PAGE).status_code == 302  # anonymous: to the sign-in page
    login(client, "kepala-bpbd")
    assert client.get(PAGE).status_code == 403
    token = csrf_token(client, "/kerja")
    response = client.post(PAGE, data={"csrf_token": token, "opd": "bpbd", "label": "X"})
    assert response.status_code == 403
    response = client.post(f"{PAGE}/{device.id}/cabut", data={"csrf_token": token})
    assert response.status_code == 403
    assert [(d.label, d.revoked_at) for d in devices(session)] == [("Loket", None)]


def test_a_kiosk_of_another_wave_cannot_be_revoked_here(
    client, session: Session, users, open_wave
) -> None:
    other = create_wave(session, slug="lain", title="Lain", opd_slugs=["bpbd"], status="open")
    device = kiosks.enroll_kiosk(session, wave=other, opd_slug="bpbd", label="Loket", actor="x")
    login(client, "eva")
    response = client.post(
        f"{PAGE}/{device.id}/cabut", data={"csrf_token": csrf_token(client, PAGE)}
    )
    assert response.status_code == 404
    assert devices(session)[0].revoked_at is None
    assert audit_actions(session, "kiosk.revoke") == []


def test_the_cookie_is_secure_when_the_session_cookie_is(
    app, client, session: Session, users, open_wave
) -> None:
    app.config["SESSION_COOKIE_SECURE"] = True
    login(client, "eva")  # the test client sends the secure session cookie over http too
    cookie = kiosk_cookie(enrol(client, opd="bpbd", label="Loket 1"))["ikm_kiosk"]
    assert cookie["secure"] is True


def test_deleting_a_wave_takes_its_kiosks_and_codes(session: Session, open_wave) -> None:
    """The demo's rebuild deletes its wave: kiosks and codes go too (no foreign key left)."""
    from code_helpers import set_verification, stored_codes
    from survey_helpers import add_responses

    from survey.core import codes, waves

    wave = set_verification(session, "uji-2026", "optional")
    device = kiosks.enroll_kiosk(session, wave=wave, opd_slug="bpbd", label="Loket", actor="eva")
    add_responses(session, wave, "bpbd", [[4] * 9], channel="kiosk", device_id=device.id)
    codes.create_ticket_codes(
        session, wave_slug="uji-2026", opd_slug="bpbd", count=2, secret="s" * 32, actor=None
    )
    assert len(stored_codes(session)) == 2
    waves.delete_wave(session, wave=waves.find_wave(session, slug="uji-2026"))
    session.commit()
    assert devices(session) == [] and stored_codes(session) == []
    assert queries.get_wave(session, slug="uji-2026") is None

"""The field pages (enumerator interviews, counter kiosks) and the endpoint of answers sent later.

Run on both backends: who may open each page and send to the endpoint, the plain form POST
of both pages (no JavaScript), the kiosk's thank-you returning by itself, the endpoint's CSRF
replacement (JSON and same origin), a resend stored once, the answer time a device claims
(clamped, and checked against the wave's period on the day it names), the attack of an
enumerator account with a script (at most 20 counted an hour), and which pages may run script.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from auth_helpers import PASSWORD, login
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, select
from survey_helpers import (
    ALL_FOURS,
    FormPage,
    enrol_kiosk,
    install_clock,
    stored,
)

from survey.core import accounts, fieldwork, queries
from survey.core.models import EnumeratorScope, KioskDevice, User, Wave, utcnow
from survey.web import security

INTERVIEW = "/lapangan/wawancara/uji-2026/bpbd"
KIOSK = "/lapangan/kios/uji-2026/bpbd"
SEND = "/lapangan/kirim"
ORIGIN = {"Origin": "http://localhost"}


@pytest.fixture
def enumerator(session: Session, users: dict[str, User], open_wave: Wave) -> User:
    """An enumerator ``pencacah`` who may record every OPD of the open wave."""
    user = accounts.create_user(session, username="pencacah", password=PASSWORD, role="enumerator")
    session.add(EnumeratorScope(user_id=user.id, wave_id=open_wave.id, granted_by="eva"))
    session.commit()
    return user


def body(
    *,
    kind: str = "interview",
    who: int | None = None,
    opd: str = "bpbd",
    answered: float | None = None,
    took: float = 300.0,
    fields: dict[str, str] | None = None,
    client_id: str | None = None,
) -> dict[str, Any]:
    """Return one answer as field.js sends it (times in milliseconds)."""
    answered = time.time() if answered is None else answered
    return {
        "id": client_id or str(uuid.uuid4()),
        "kind": kind,
        "wave": "uji-2026",
        "opd": opd,
        "who": who,
        "shown": (answered - took) * 1000,
        "answered": answered * 1000,
        "fields": dict(ALL_FOURS if fields is None else fields),
    }


def send(client: FlaskClient, payload: Any, *, headers: dict[str, str] | None = None, **kw: Any):
    """POST ``payload`` as JSON to the endpoint, from this site's origin by default."""
    return client.post(
        SEND,
        data=json.dumps(payload),
        headers=ORIGIN if headers is None else headers,
        content_type=kw.pop("content_type", "application/json"),
        **kw,
    )


# ---------------------------------------------------------------------------------------------
# Who may open the pages


def test_interview_page_needs_a_signed_in_enumerator_with_scope(
    app: Flask, session: Session, enumerator: User
) -> None:
    client = app.test_client()
    response = client.get(INTERVIEW)
    assert response.status_code == 302
    assert response.headers["Location"] == "/masuk?next=/lapangan/wawancara/uji-2026/bpbd"
    assert login(app.test_client(), "eva").get(INTERVIEW).status_code == 403  # not enumerator
    # Scoped to RSUD only: BPBD is refused, RSUD opens.
    other = accounts.create_user(
        session, username="pencacah2", password=PASSWORD, role="enumerator"
    )
    wave = queries.get_wave(session, slug="uji-2026")
    rsud = queries.get_opd(session, slug="rsud")
    session.add(
        EnumeratorScope(user_id=other.id, wave_id=wave.id, opd_id=rsud.id, granted_by="eva")
    )
    session.commit()
    narrow = login(app.test_client(), "pencacah2")
    assert narrow.get(INTERVIEW).status_code == 403
    assert narrow.get("/lapangan/wawancara/uji-2026/rsud").status_code == 200
    page = login(client, "pencacah").get(INTERVIEW)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert '<script src="/static/field.js" defer></script>' in html
    assert 'role="status"' in html and 'id="antrean"' in html
    assert f'data-who="{enumerator.id}"' in html and 'name="U1"' in html


def test_kiosk_page_only_on_an_enrolled_device(app: Flask, session: Session, open_wave: Wave):
    client = app.test_client()
    refused = client.get(KIOSK)
    assert refused.status_code == 403
    assert "Perangkat ini bukan kios terdaftar" in refused.get_data(as_text=True)
    device = enrol_kiosk(session, app, client, opd="rsud")
    assert client.get(KIOSK).status_code == 403  # enrolled for RSUD, not BPBD
    page = client.get("/lapangan/kios/uji-2026/rsud")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "/static/kiosk.css" in html and '<body class="kiosk">' in html
    assert 'class="top"' not in html  # no site header to wander off through
    assert 'class="face"' not in html  # faces off unless enrolled with them
    device.revoked_at = utcnow()
    session.add(device)
    session.commit()
    assert client.get("/lapangan/kios/uji-2026/rsud").status_code == 403


def test_kiosk_faces_sit_beside_the_labels(app: Flask, session: Session, open_wave: Wave):
    client = app.test_client()
    device = enrol_kiosk(session, app, client)
    device.faces = True
    session.add(device)
    session.commit()
    html = client.get(KIOSK).get_data(as_text=True)
    # One face per answer point of each of the nine questions, decorative, the label after it.
    assert html.count('<svg class="face" aria-hidden="true"') == 9 * 4
    assert 'd="M10 26 Q18 18.0 26 26"' in html  # the first point frowns
    assert 'd="M10 26 Q18 34.0 26 26"' in html  # the last one smiles
    # The regulation's label follows its face inside the same label: the accessible name.
    assert 'stroke-linecap="round"/></svg>Tidak sesuai</label>' in html
    assert 'stroke-linecap="round"/></svg>Sangat sesuai</label>' in html


def test_enrolment_with_faces_opens_the_kiosk_page(
    app: Flask, client: FlaskClient, session: Session, users, open_wave: Wave
) -> None:
    from auth_helpers import csrf_token

    login(client, "eva")
    page = "/kerja/gelombang/uji-2026/kios"
    response = client.post(
        page,
        data={
            "csrf_token": csrf_token(client, page),
            "opd": "bpbd",
            "label": "Loket",
            "faces": "1",
        },
    )
    assert response.status_code == 303 and response.headers["Location"] == KIOSK
    session.expire_all()
    [device] = session.exec(select(KioskDevice)).all()
    assert device.faces is True
    assert client.get(KIOSK).get_data(as_text=True).count('class="face"') == 36


# ---------------------------------------------------------------------------------------------
# The plain form POST (no JavaScript)


def test_interview_without_script_records_the_enumerator(
    app: Flask, session: Session, enumerator: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = install_clock(monkeypatch)
    client = login(app.test_client(), "pencacah")
    form = FormPage.parse(client.get(INTERVIEW))
    clock.advance(240)
    response = client.post(INTERVIEW, data={**form.hidden, **ALL_FOURS, "U2": "3"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"{INTERVIEW}/terima-kasih"
    assert "ikm_seen" not in response.headers.get("Set-Cookie", "")
    thanks = client.get(response.headers["Location"])
    assert "Wawancara tersimpan" in thanks.get_data(as_text=True)
    # A five-second "interview" is stored, flagged.
    form = FormPage.parse(client.get(INTERVIEW))
    clock.advance(5)
    assert client.post(INTERVIEW, data={**form.hidden, **ALL_FOURS}).status_code == 303
    first, second = stored(session)
    assert (first.channel, first.enumerator_id, first.seconds, first.status) == (
        "interview",
        enumerator.id,
        240,
        "counted",
    )
    assert (first.a1, first.a2, first.repeat_device, first.device_id) == (4, 3, False, None)
    assert (second.seconds, second.status, second.flag_reason) == (5, "flagged", "bot-suspect")


def test_kiosk_without_script_returns_to_a_fresh_form_by_itself(
    app: Flask, session: Session, open_wave: Wave, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = install_clock(monkeypatch)
    client = app.test_client()
    device = enrol_kiosk(session, app, client)
    form = FormPage.parse(client.get(KIOSK))
    clock.advance(30)
    response = client.post(KIOSK, data={**form.hidden, **ALL_FOURS})
    assert response.status_code == 303 and response.headers["Location"] == f"{KIOSK}/terima-kasih"
    thanks = client.get(f"{KIOSK}/terima-kasih")
    html = thanks.get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="5;url=/lapangan/kios/uji-2026/bpbd">' in html
    assert "<script" not in html
    assert "script-src 'none'" in thanks.headers["Content-Security-Policy"]
    [row] = stored(session)
    assert (row.channel, row.device_id, row.seconds, row.status) == (
        "kiosk",
        device.id,
        30,
        "counted",
    )
    assert row.enumerator_id is None


# ---------------------------------------------------------------------------------------------
# The endpoint of answers sent later


def test_endpoint_checks_who_sends(app: Flask, session: Session, enumerator: User) -> None:
    anonymous = app.test_client()
    assert send(anonymous, body(who=enumerator.id)).status_code == 401
    assert send(anonymous, body(kind="kiosk")).status_code == 403
    client = login(app.test_client(), "pencacah")
    # Another enumerator's queue left on this phone is not recorded as this one's.
    refused = send(client, body(who=enumerator.id + 1))
    assert (refused.status_code, refused.get_json()["reason"]) == (403, "other-user")
    # Out of scope: an OPD the wave does not cover is unknown, a narrower scope refuses.
    assert send(client, body(who=enumerator.id, opd="nope")).status_code == 404
    narrow = accounts.create_user(
        session, username="pencacah3", password=PASSWORD, role="enumerator"
    )
    wave = queries.get_wave(session, slug="uji-2026")
    rsud = queries.get_opd(session, slug="rsud")
    session.add(
        EnumeratorScope(user_id=narrow.id, wave_id=wave.id, opd_id=rsud.id, granted_by="eva")
    )
    session.commit()
    other = login(app.test_client(), "pencacah3")
    assert send(other, body(who=narrow.id)).status_code == 403
    # A kiosk: enrolled for RSUD, not BPBD; then revoked.
    tablet = app.test_client()
    device = enrol_kiosk(session, app, tablet, opd="rsud")
    assert send(tablet, body(kind="kiosk")).status_code == 403
    device.revoked_at = utcnow()
    session.add(device)
    session.commit()
    assert send(tablet, body(kind="kiosk", opd="rsud")).status_code == 403
    assert stored(session) == []
    ok = send(client, body(who=enumerator.id))
    assert ok.status_code == 200 and ok.get_json() == {
        "stored": True,
        "status": "counted",
        "reason": None,
    }


def test_endpoint_refuses_other_content_types_and_other_origins(
    app: Flask, session: Session, enumerator: User
) -> None:
    client = login(app.test_client(), "pencacah")
    answer = body(who=enumerator.id)
    # What a cross-site form could send, and what another site's fetch would carry.
    assert send(client, answer, content_type="text/plain").status_code == 403
    assert send(client, answer, content_type="application/x-www-form-urlencoded").status_code == 403
    assert send(client, answer, headers={"Origin": "https://evil.example"}).status_code == 403
    assert send(client, answer, headers={"Origin": "null"}).status_code == 403
    assert send(client, answer, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert send(client, answer, headers={}).status_code == 403  # neither header: no browser page
    assert stored(session) == []
    # Without Origin, Sec-Fetch-Site same-origin is enough.
    assert send(client, answer, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    assert len(stored(session)) == 1
    big = body(who=enumerator.id, fields={**ALL_FOURS, "comment": "x" * 70_000})
    assert send(client, big).status_code == 413
    assert (
        client.post(SEND, data="{", headers=ORIGIN, content_type="application/json").status_code
        == 400
    )
    assert send(client, {**answer, "id": "not-a-uuid"}).status_code == 400
    assert send(client, {**answer, "fields": {"U1": 4}}).status_code == 400  # numbers: not a form
    bad = send(client, body(who=enumerator.id, fields={"U1": "9"}))
    assert bad.status_code == 422 and bad.get_json()["reason"] == "invalid"
    empty = send(client, body(who=enumerator.id, fields={"comment": "hanya komentar"}))
    assert empty.status_code == 422
    unknown = send(client, body(who=enumerator.id, fields={**ALL_FOURS, "channel_x": "qr"}))
    assert unknown.status_code == 422
    assert len(stored(session)) == 1


def test_a_resend_stores_nothing_twice(app: Flask, session: Session, enumerator: User) -> None:
    client = login(app.test_client(), "pencacah")
    answer = body(who=enumerator.id, took=185.5)
    first = send(client, answer)
    again = send(client, answer)
    assert first.get_json() == {"stored": True, "status": "counted", "reason": None}
    assert again.status_code == 200
    assert again.get_json() == {"stored": False, "status": "counted", "reason": "already-stored"}
    [row] = stored(session)
    assert row.submission_id == "f-" + answer["id"]
    assert (row.channel, row.enumerator_id, row.seconds) == ("interview", enumerator.id, 185)
    assert row.repeat_device is False and row.device_id is None


def test_the_answer_time_is_clamped_and_checked_against_the_period(
    app: Flask, session: Session, enumerator: User
) -> None:
    client = login(app.test_client(), "pencacah")
    now = time.time()
    # A month-old claim becomes the oldest moment allowed (seven days ago); a future one, now.
    send(client, body(who=enumerator.id, answered=now - 30 * 86400))
    send(client, body(who=enumerator.id, answered=now + 5 * 86400))
    old, future = stored(session)
    week_ago = datetime.fromtimestamp(now, UTC) - fieldwork.OFFLINE_MAX_AGE
    assert abs((old.submitted_at.replace(tzinfo=UTC) - week_ago).total_seconds()) < 5
    assert abs(future.submitted_at.replace(tzinfo=UTC).timestamp() - now) < 5
    # The period is checked on the day the answer names: answered before the period opened
    # (though sent inside it) is refused, nothing stored; inside it, stored with that time.
    today = datetime.now(UTC).date()
    wave = queries.get_wave(session, slug="uji-2026")
    wave.period_start, wave.period_end = today - timedelta(days=2), today + timedelta(days=2)
    session.add(wave)
    session.commit()
    app.extensions.pop("ikm_survey_targets", None)
    early = send(client, body(who=enumerator.id, answered=now - 4 * 86400))
    assert early.status_code == 409 and early.get_json()["reason"] == "outside-period"
    inside = send(client, body(who=enumerator.id, answered=now - 86400))
    assert inside.status_code == 200
    assert len(stored(session)) == 3
    last = stored(session)[-1]
    assert abs(last.submitted_at.replace(tzinfo=UTC).timestamp() - (now - 86400)) < 5


def test_a_closed_wave_refuses_for_good(app: Flask, session: Session, enumerator: User) -> None:
    from survey_helpers import set_wave_status

    client = login(app.test_client(), "pencacah")
    set_wave_status(session, slug="uji-2026", status="closed")
    app.extensions.pop("ikm_survey_targets", None)
    refused = send(client, body(who=enumerator.id))
    assert (refused.status_code, refused.get_json()["reason"]) == (410, "closed")
    assert stored(session) == []


def test_an_enumerator_with_a_script_gets_twenty_counted_an_hour(
    app: Flask, session: Session, enumerator: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attack, run: 30 "interviews" claimed inside one hour, sent in a random order,
    each claiming a plausible five minutes. Exactly 20 count; the rest are stored flagged
    ``burst``, visible to the evaluator with the enumerator's id."""
    clock = install_clock(monkeypatch)  # the limits' clock of arrival
    client = login(app.test_client(), "pencacah")
    start = time.time() - 2 * 3600
    answers = [body(who=enumerator.id, answered=start + i * 110) for i in range(30)]
    random.Random(14).shuffle(answers)
    for answer in answers:
        assert send(client, answer).status_code == 200
    rows = stored(session)
    counted = [r for r in rows if r.status == "counted"]
    flagged = [r for r in rows if r.status == "flagged"]
    assert len(rows) == 30 and len(counted) == fieldwork.INTERVIEW_HOUR_CAP == 20
    assert {(r.flag_reason, r.burst, r.enumerator_id) for r in flagged} == {
        ("burst", True, enumerator.id)
    }
    # In no hour of answer time are more than 20 counted, whatever the order of sending.
    times = sorted(r.submitted_at for r in counted)
    for i, moment in enumerate(times):
        assert sum(1 for t in times[i:] if t - moment < timedelta(hours=1)) <= 20
    # The next hour (of answer time, and of arrival) is the enumerator's again; a five-second
    # "interview" is flagged.
    clock.advance(3600)
    later = send(client, body(who=enumerator.id, answered=time.time()))
    quick = send(client, body(who=enumerator.id, answered=time.time(), took=5))
    assert later.get_json()["reason"] is None
    assert quick.get_json() == {"stored": True, "status": "flagged", "reason": "bot-suspect"}


def test_a_script_spreading_claims_over_the_week_still_gets_twenty_an_hour(
    app: Flask, session: Session, enumerator: User
) -> None:
    """The attack, run: 60 "interviews" claimed one every 70 minutes back over the 7 days a
    device may reach (never two in one claimed hour), all sent within one real hour. The cap on
    answer times alone counted every one; the soft limit on arrival counts 20, the rest are
    stored flagged ``burst`` under the enumerator for the evaluator to review."""
    client = login(app.test_client(), "pencacah")
    now = time.time()
    for i in range(60):
        response = send(client, body(who=enumerator.id, answered=now - 60 - i * 70 * 60))
        assert response.status_code == 200
    rows = stored(session)
    counted = [r for r in rows if r.status == "counted"]
    assert len(rows) == 60 and len(counted) == 20
    assert {(r.flag_reason, r.enumerator_id) for r in rows if r.status == "flagged"} == {
        ("burst", enumerator.id)
    }


def test_a_huge_number_for_a_time_is_refused_not_a_crash(app: Flask, open_wave: Wave) -> None:
    """A 400-digit integer (no float holds it) is no clock reading: 400, before any sign-in."""
    huge = 10**400
    raw = (
        json.dumps({**body(who=1), "shown": 0, "answered": 0})
        .replace('"answered": 0', f'"answered": {huge}')
        .replace('"shown": 0', f'"shown": {huge}')
    )
    response = app.test_client().post(
        SEND, data=raw, headers=ORIGIN, content_type="application/json"
    )
    assert response.status_code == 400 and response.get_json()["reason"] == "invalid"


def test_a_kiosk_sends_its_answers_later(app: Flask, session: Session, open_wave: Wave) -> None:
    tablet = app.test_client()
    device = enrol_kiosk(session, app, tablet)
    answer = body(kind="kiosk", took=42)
    assert send(tablet, answer).get_json()["stored"] is True
    assert send(tablet, answer).get_json()["reason"] == "already-stored"
    [row] = stored(session)
    assert (row.channel, row.device_id, row.seconds, row.enumerator_id) == (
        "kiosk",
        device.id,
        42,
        None,
    )


# ---------------------------------------------------------------------------------------------
# Which pages may run script


def test_only_the_field_pages_may_run_script(
    app: Flask, session: Session, enumerator: User
) -> None:
    client = login(app.test_client(), "pencacah")
    field = client.get(INTERVIEW).headers["Content-Security-Policy"]
    assert field == security.FIELD_POLICY
    assert "script-src 'self'" in field and "worker-src 'self'" in field
    assert "connect-src 'self'" in field and "default-src 'none'" in field
    worker = client.get("/lapangan/sw.js")
    assert worker.status_code == 200
    assert worker.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert worker.headers["Cache-Control"] == "no-cache"
    assert worker.headers["Content-Security-Policy"] == security.FIELD_POLICY
    script = worker.get_data(as_text=True)
    assert '"/static/field.js"' in script and "skipWaiting" in script
    for path in (
        "/s/uji-2026/bpbd",
        f"{INTERVIEW}/terima-kasih",
        f"{KIOSK}/terima-kasih",
        "/masuk",
        "/kerja",
        "/",
        "/lapangan/wawancara/uji-2026",
    ):
        policy = client.get(path).headers["Content-Security-Policy"]
        assert "script-src 'none'" in policy, path
        assert "script-src 'self'" not in policy, path
    citizen = client.get("/s/uji-2026/bpbd").get_data(as_text=True)
    assert "<script" not in citizen


def test_clamp_and_seconds_by_hand() -> None:
    now = datetime(2026, 1, 20, 12, tzinfo=UTC)
    assert fieldwork.clamp_answered(datetime(2026, 1, 19, 8, tzinfo=UTC), now=now) == datetime(
        2026, 1, 19, 8, tzinfo=UTC
    )
    assert fieldwork.clamp_answered(datetime(2025, 1, 1, tzinfo=UTC), now=now) == datetime(
        2026, 1, 13, 12, tzinfo=UTC
    )
    assert fieldwork.seconds_between(100.0, 99.0) == 0
    assert fieldwork.submission_id(str(uuid.UUID(int=5, version=4))) is not None
    assert fieldwork.submission_id("0F8FAD5B-D9CB-469F-A165-70867728950E") is None
    assert fieldwork.submission_id(12) is None
    assert date(2026, 1, 13) < date(2026, 1, 20)


def test_an_enumerator_past_the_hard_limit_is_told_to_come_back(
    app: Flask, session: Session, enumerator: User
) -> None:
    """Arrivals per enumerator and hour are capped too (LIMIT_HARD): the device keeps the
    refused answer and sends it again later, so a flood cannot fill the database."""
    app.config["LIMIT_HARD"] = 5
    client = login(app.test_client(), "pencacah")
    codes = [send(client, body(who=enumerator.id)).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    refused = send(client, body(who=enumerator.id))
    assert refused.get_json()["reason"] == "too-many"
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    assert len(stored(session)) == 5


def test_the_cap_holds_when_a_script_sends_in_parallel(
    app: Flask, session: Session, enumerator: User, backend: str
) -> None:
    """The attack again, 30 answers sent eight at a time by a live server's threads: still no
    more than 20 counted (racing sends look again after storing and step back)."""
    if backend == "sqlite":
        pytest.skip("SQLite takes one writer at a time: nothing races there")
    from concurrent.futures import ThreadPoolExecutor

    import requests
    from browser import live_server

    with live_server(app) as base:
        web = requests.Session()
        page = web.get(f"{base}/masuk")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        signed = web.post(
            f"{base}/masuk",
            data={"csrf_token": token, "username": "pencacah", "password": PASSWORD},
            allow_redirects=False,
        )
        assert signed.status_code == 302
        start = time.time() - 2 * 3600
        answers = [body(who=enumerator.id, answered=start + i * 60) for i in range(30)]

        def post(answer: dict[str, Any]) -> int:
            """Send one answer as the page would."""
            response = web.post(f"{base}{SEND}", json=answer, headers={"Origin": base})
            return response.status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            codes = list(pool.map(post, answers))
    assert codes == [200] * 30
    rows = stored(session)
    counted = [r for r in rows if r.status == "counted"]
    assert len(rows) == 30 and 1 <= len(counted) <= fieldwork.INTERVIEW_HOUR_CAP

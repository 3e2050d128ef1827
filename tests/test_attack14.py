"""Issue 14 under attack: field collection run by someone who wants a better (or worse) rank.

Each test runs an attack for real on both backends and asserts what the defence gives the
attacker: counted ballots per hour through multi-OPD sittings, what probing short links
reveals, a kiosk cookie replayed elsewhere or copied, an enumerator after losing the right to
interview, and markup in a questionnaire's texts.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
import uuid
from typing import Any

import pytest
from auth_helpers import PASSWORD, login
from code_helpers import pdf_text
from field_helpers import WAVE, Citizen, fours, make_wave, opd_ids, store, sunda
from flask import Flask
from flask.testing import FlaskClient
from redis_helpers import use_redis
from sqlmodel import Session, select
from survey_helpers import (
    ALL_FOURS,
    SurveyActions,
    add_responses,
    create_wave,
    enrol_kiosk,
    install_clock,
    set_wave_status,
    stored,
)

from reports import render_opd_pdf
from survey.core import accounts, enumerators, kiosks, queries, shortlinks, units, waves
from survey.core.models import EnumeratorScope, Response
from survey.core.reportdata import opd_report_data
from survey.core.scores import score_wave
from survey.web import antiabuse

SEND = "/lapangan/kirim"
ORIGIN = {"Origin": "http://localhost"}
FIVE = ("rsud", "dinkes", "disdukcapil", "dishub", "bpbd")


def _by_opd(session: Session, app: Flask) -> dict[str, tuple[int, int]]:
    """Return (counted, flagged burst) per OPD slug."""
    names = {opd_id: slug for slug, opd_id in opd_ids(app).items()}
    found: dict[str, tuple[int, int]] = {}
    for row in stored(session):
        counted, burst = found.get(names[row.opd_id], (0, 0))
        if row.status == "counted":
            counted += 1
        elif row.flag_reason == "burst":
            burst += 1
        found[names[row.opd_id]] = (counted, burst)
    return found


# --- 1. Multi-OPD sittings against the per-network budget -------------------------------------


@pytest.mark.parametrize("store", ["database", "redis"])
def test_sittings_of_five_opds_give_no_more_than_the_single_pages(
    app, session, monkeypatch, store, request
):
    """The attack, run: a script on one /24 sends 25 sittings of the same 5 OPDs within one
    hour, each from a fresh cookie jar and alternating between two addresses of the network,
    then 5 more answers for RSUD on its single page. Each OPD counts 20 (its per-network
    budget, shared by its single page and the sittings); the rest is stored flagged
    ``burst``. Five OPDs in one sitting give 5 x 20, exactly what the five single pages give:
    the sitting adds nothing. The same with the counters in Redis."""
    if store == "redis":
        use_redis(app, prefix=request.getfixturevalue("redis_prefix"))
    clock = install_clock(monkeypatch)
    make_wave(session)
    for i in range(25):
        citizen = Citizen(app, clock)
        citizen.client.environ_base["REMOTE_ADDR"] = f"10.9.8.{1 + i % 2}"
        response = citizen.sit({slug: fours("U1", "U2") for slug in FIVE})
        assert response.status_code == 303, response.get_data(as_text=True)
    assert _by_opd(session, app) == dict.fromkeys(FIVE, (20, 5))
    # The single page of a target OPD shares the same budget: nothing more counts.
    for i in range(5):
        single = SurveyActions(app, clock, wave=WAVE, opd="rsud")
        single.client.environ_base["REMOTE_ADDR"] = f"10.9.8.{10 + i}"
        assert single.post(ALL_FOURS).status_code == 303
    result = _by_opd(session, app)
    assert result["rsud"] == (20, 10)
    assert sum(counted for counted, _b in result.values()) == 100
    # An hour later the budget is the network's again.
    clock.advance(3600)
    later = Citizen(app, clock)
    later.client.environ_base["REMOTE_ADDR"] = "10.9.8.1"
    assert later.sit({"rsud": fours("U1"), "dinkes": fours("U1")}).status_code == 303
    assert _by_opd(session, app)["rsud"] == (21, 10)


def test_one_opd_named_five_times_is_one_answer(app, session, monkeypatch):
    """A sitting naming the same OPD five times stores and counts it once."""
    clock = install_clock(monkeypatch)
    make_wave(session)
    citizen = Citizen(app, clock)
    hidden = citizen.open_sitting("rsud", "dinkes")
    ids = opd_ids(app)
    data = list(hidden) + [("opd", "rsud")] * 3
    data += [(f"o{ids['rsud']}-U1", "4"), (f"o{ids['dinkes']}-U1", "4")]
    clock.advance(10)
    response = citizen.post(f"/s/{WAVE}", data)
    assert response.status_code == 303
    assert _by_opd(session, app) == {"rsud": (1, 0), "dinkes": (1, 0)}


# --- 2. Probing short links ---------------------------------------------------------------------


def test_a_short_code_reveals_no_page_that_is_not_public(app, session, monkeypatch):
    """The attack, run: codes made for posters printed while the wave was a draft, for an OPD
    later taken off the wave and for a unit later closed are tried. Each page itself is a 404;
    the code must be one too, or a redirect names the draft wave's, the OPD's or the unit's
    slug. Once the wave opens its codes lead to it; a closed wave's code still leads to its
    page, which says it is closed."""
    clock = install_clock(monkeypatch)
    wave = make_wave(session, status="draft")
    wave_id = int(wave.id or 0)
    ids = opd_ids(app)
    bpbd = queries.get_opd(session, slug="bpbd")
    unit = units.add_unit(session, opd=bpbd, slug="pos-timur", name="Pos Timur", actor="eva")
    codes = {
        "wave": shortlinks.short_code(session, wave_id),
        "rsud": shortlinks.short_code(session, wave_id, ids["rsud"]),
        "dishub": shortlinks.short_code(session, wave_id, ids["dishub"]),
        "unit": shortlinks.short_code(session, wave_id, ids["bpbd"], int(unit.id or 0)),
    }
    visitor = Citizen(app, clock)
    # The draft: its pages are 404, and so is every code (an unknown code's answer).
    assert visitor.get(f"/s/{WAVE}").status_code == 404
    assert visitor.get(f"/s/{WAVE}/rsud").status_code == 404
    for name, code in codes.items():
        response = visitor.get(f"/l/{code}")
        assert response.status_code == 404, name
        assert "Location" not in response.headers
    assert visitor.get("/l/zzzzzz").status_code == 404
    # Open: each code leads to its page.
    set_wave_status(session, slug=WAVE, status="open")
    assert visitor.get(f"/l/{codes['wave']}").headers["Location"] == f"/s/{WAVE}"
    assert visitor.get(f"/l/{codes['dishub']}").headers["Location"] == f"/s/{WAVE}/dishub"
    assert visitor.get(f"/l/{codes['unit']}").headers["Location"] == f"/s/{WAVE}/bpbd/pos-timur"
    # Dishub taken off the wave, the unit closed: their pages and their codes are 404.
    wave = waves.find_wave(session, slug=WAVE)
    current = waves.current_settings(session, wave=wave)
    kept = tuple(slug for slug in current.opd_slugs if slug != "dishub")
    waves.update_wave(
        session, wave=wave, settings=dataclasses.replace(current, opd_slugs=kept), actor="eva"
    )
    units.set_unit_active(session, opd=bpbd, unit=unit, active=False, actor="eva")
    clock.advance(10)  # past the survey pages' 5-second cache of the wave
    for name in ("dishub", "unit"):
        assert visitor.get(f"/l/{codes[name]}").status_code == 404, name
    assert visitor.get(f"/l/{codes['rsud']}").headers["Location"] == f"/s/{WAVE}/rsud"
    # Closed: the code still leads to the page that says so.
    set_wave_status(session, slug=WAVE, status="closed")
    response = visitor.get(f"/l/{codes['wave']}")
    assert (response.status_code, response.headers["Location"]) == (302, f"/s/{WAVE}")
    assert visitor.get(f"/s/{WAVE}").status_code == 410
    # The poster's own check still finds where a draft's code leads.
    assert shortlinks.resolve(session, codes["rsud"]) == shortlinks.ShortTarget(WAVE, "rsud")


# --- 3. Kiosk cookies ----------------------------------------------------------------------------


def answer(*, kind: str, opd: str = "bpbd", wave: str = "uji-2026", who: int | None = None):
    """Return one answer as field.js sends it (a plausible five minutes, just now)."""
    now = time.time()
    return {
        "id": str(uuid.uuid4()),
        "kind": kind,
        "wave": wave,
        "opd": opd,
        "who": who,
        "shown": (now - 300) * 1000,
        "answered": now * 1000,
        "fields": dict(ALL_FOURS),
    }


def send(client: FlaskClient, payload: dict[str, Any], address: str = "127.0.0.1"):
    """POST one answer as JSON to the endpoint, from this site's origin and ``address``."""
    return client.post(
        SEND,
        data=json.dumps(payload),
        headers=ORIGIN,
        content_type="application/json",
        environ_base={"REMOTE_ADDR": address},
    )


def test_a_kiosk_cookie_counts_nowhere_but_at_its_own_wave_and_opd(app, session, open_wave):
    """The attack, run: BPBD's kiosk cookie taken to RSUD's kiosk page, RSUD's survey page,
    the endpoint for RSUD and for BPBD in another wave; a forged cookie and a tampered one.
    None is a kiosk: the pages say 403, the endpoint refuses, and on RSUD's citizen page the
    cookie changes nothing (a QR answer, no device, the network's budget and the same-device
    check apply)."""
    tablet = app.test_client()
    device = enrol_kiosk(session, app, tablet, opd="bpbd")
    create_wave(session, slug="lain-2026", title="Lain", status="open", opd_slugs=["bpbd"])
    assert tablet.get("/lapangan/kios/uji-2026/bpbd").status_code == 200
    assert tablet.get("/lapangan/kios/uji-2026/rsud").status_code == 403
    assert tablet.get("/lapangan/kios/lain-2026/bpbd").status_code == 403
    refused = [
        send(tablet, answer(kind="kiosk", opd="rsud")),
        send(tablet, answer(kind="kiosk", wave="lain-2026")),
    ]
    assert [(r.status_code, r.get_json()["reason"]) for r in refused] == [
        (403, "not-a-kiosk"),
        (403, "not-a-kiosk"),
    ]
    assert stored(session) == []
    # Forged: signed with another secret; tampered: the device id changed, signature kept.
    with app.test_request_context():
        real = antiabuse.sign_kiosk(
            device_id=device.id, wave_id=device.wave_id, opd_id=device.opd_id
        )
    forger = Flask("forger")
    forger.config["SECRET_KEY"] = "a-guess-at-the-secret"
    with forger.test_request_context():
        forged = antiabuse.sign_kiosk(
            device_id=device.id, wave_id=device.wave_id, opd_id=device.opd_id
        )
    payload, _dot, signature = real.rpartition(".")
    tampered = payload.replace(payload[:4], payload[:3] + ("A" if payload[3] != "A" else "B"))
    for value in (forged, tampered + "." + signature, "", "[1,1,1]"):
        other = app.test_client()
        other.set_cookie(antiabuse.KIOSK_COOKIE, value)
        assert other.get("/lapangan/kios/uji-2026/bpbd").status_code == 403, value
        assert send(other, answer(kind="kiosk")).status_code == 403, value
    assert stored(session) == []


def test_a_kiosk_cookie_on_another_opds_survey_page_is_a_plain_citizen(
    app, session, open_wave, monkeypatch
):
    """BPBD's kiosk cookie on RSUD's survey page: a citizen's answer, no kiosk exemption."""
    tablet = app.test_client()
    enrol_kiosk(session, app, tablet, opd="bpbd")
    citizen = SurveyActions(app, install_clock(monkeypatch), client=tablet, opd="rsud")
    assert citizen.post(ALL_FOURS).status_code == 303
    assert citizen.post(ALL_FOURS).status_code == 303
    rows = stored(session)
    assert [(r.channel, r.device_id, r.status, r.flag_reason) for r in rows] == [
        ("qr", None, "counted", None),
        ("qr", None, "flagged", "duplicate-device"),
    ]


def test_a_kiosk_cookie_copied_to_many_devices_counts_60_an_hour(app, session, open_wave):
    """The attack, run: one kiosk's cookie copied to scripts on 130 addresses of 130 networks
    (or the counter's own staff tapping the tablet), each sending one answer within the hour.
    The kiosk's own budget holds for all copies together: 60 counted (its soft limit, a
    citizen a minute), the next 60 stored flagged ``burst`` for the evaluator's review, the
    last 10 refused with 429 (the hard limit, 120)."""
    tablet = app.test_client()
    enrol_kiosk(session, app, tablet, opd="bpbd")
    cookie = tablet.get_cookie(antiabuse.KIOSK_COOKIE)
    assert cookie is not None
    codes = []
    for i in range(130):
        copy = app.test_client()
        copy.set_cookie(antiabuse.KIOSK_COOKIE, cookie.value)
        codes.append(send(copy, answer(kind="kiosk"), address=f"10.{i // 200}.{i % 200}.7"))
    assert [r.status_code for r in codes] == [200] * 120 + [429] * 10
    rows = stored(session)
    assert [(r.status, r.flag_reason, r.channel) for r in rows] == [
        ("counted", None, "kiosk")
    ] * 60 + [("flagged", "burst", "kiosk")] * 60
    assert len({r.network for r in rows}) == 120


# --- 4. Enumerators --------------------------------------------------------------------------


def test_an_enumerator_queue_sent_after_losing_the_right_stores_nothing(app, session, open_wave):
    """The attack, run: an enumerator records offline, then loses the scope (revoked) or the
    account (deactivated) and sends the queue. Nothing is stored, nothing counted; a `who`
    naming another enumerator is refused as well."""
    user = accounts.create_user(session, username="pencacah", password=PASSWORD, role="enumerator")
    other = accounts.create_user(
        session, username="pencacah2", password=PASSWORD, role="enumerator"
    )
    for who in (user, other):
        session.add(EnumeratorScope(user_id=who.id, wave_id=open_wave.id, granted_by="eva"))
    session.commit()
    phone = login(app.test_client(), "pencacah")
    assert send(phone, answer(kind="interview", who=user.id)).status_code == 200
    # `who` spoofing: another enumerator's id, a string, nothing.
    for who in (other.id, str(user.id), None):
        response = send(phone, answer(kind="interview", who=who))
        assert (response.status_code, response.get_json()["reason"]) == (403, "other-user")
    wave = queries.get_wave(session, slug="uji-2026")
    [scope] = [s for s in enumerators.list_scopes(session, wave=wave) if s.username == "pencacah"]
    enumerators.revoke_scope(session, wave=wave, scope_id=scope.id, actor="eva")
    queued = [answer(kind="interview", who=user.id) for _ in range(3)]
    for item in queued:
        response = send(phone, item)
        assert (response.status_code, response.get_json()["reason"]) == (403, "forbidden")
    assert phone.get("/lapangan/wawancara/uji-2026/bpbd").status_code == 403
    # The other enumerator's account deactivated while signed in on its phone.
    second = login(app.test_client(), "pencacah2")
    assert send(second, answer(kind="interview", who=other.id)).status_code == 200
    accounts.set_active(session, username="pencacah2", active=False, actor="admin")
    late = send(second, answer(kind="interview", who=other.id))
    assert (late.status_code, late.get_json()) == (
        401,
        {"stored": False, "status": "", "reason": "signed-out"},
    )
    rows = stored(session)
    assert [(r.enumerator_id, r.status) for r in rows] == [
        (user.id, "counted"),
        (other.id, "counted"),
    ]


# --- 5. The per-unit table, read twice ---------------------------------------------------------

FOURS, THREES, TWOS = [4] * 9, [3] * 9, [2] * 9


def _head_rows(client: FlaskClient) -> dict[str, tuple[int, float | None]]:
    """Return the OPD head's per-unit table: name -> (n, converted score or None if withheld)."""
    page = client.get("/kerja/hasil-opd/bpbd/uji-2026?lang=en").get_data(as_text=True)
    section = page.split('id="unit-layanan"', 1)[1].split("</table>", 1)[0]
    found = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", section, re.S)[1:]:
        cells = [
            " ".join(re.sub(r"<[^>]+>", " ", c).split())
            for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
        ]
        score = cells[2].split()[0].rstrip("*")
        found[cells[0]] = (int(cells[1]), None if score == "–" else float(score))
    return found


def test_a_small_units_score_cannot_be_worked_out_from_two_readings(
    app, client, session, open_wave, users
):
    """The attack, run: the OPD head reads the per-unit table of the closed wave, the evaluator
    restores 3 flagged answers of Pos Utara in the flagged review, the head reads it again.

    Barat 10, Timur 3 (the victim), Utara 6 then 9, own page 8. Had only Timur and the next
    smallest been withheld, the own page (shown first, withheld second) would have given
    Timur = (21 x whole - 10 x Barat - 9 x Utara - 8 x own page from the first reading) / 3.
    While any group has 1..4 respondents no unit's score is shown, so neither reading gives
    anything to subtract.
    """
    opd = queries.get_opd(session, slug="bpbd")
    barat = units.add_unit(session, opd=opd, slug="pos-barat", name="Pos Barat", actor="eva")
    timur = units.add_unit(session, opd=opd, slug="pos-timur", name="Pos Timur", actor="eva")
    utara = units.add_unit(session, opd=opd, slug="pos-utara", name="Pos Utara", actor="eva")
    add_responses(session, open_wave, "bpbd", [FOURS] * 6 + [THREES] * 4, unit_id=barat.id)
    add_responses(session, open_wave, "bpbd", [TWOS] * 3, unit_id=timur.id)
    add_responses(session, open_wave, "bpbd", [THREES] * 6, unit_id=utara.id)
    add_responses(
        session, open_wave, "bpbd", [FOURS] * 3, unit_id=utara.id, status="flagged", reason="burst"
    )
    add_responses(session, open_wave, "bpbd", [FOURS] * 5 + [THREES] * 3)
    add_responses(session, open_wave, "rsud", [THREES] * 20)
    set_wave_status(session, slug="uji-2026", status="closed")
    login(client, "kepala-bpbd")
    own = "At the OPD itself (no unit)"
    first = _head_rows(client)
    assert first == {
        "Pos Barat": (10, None),
        "Pos Timur": (3, None),
        "Pos Utara": (6, None),
        own: (8, None),
        "Whole OPD": (27, first["Whole OPD"][1]),
    }
    # The flagged review restores Utara's three answers (through the ORM, which keeps the
    # statistics scoring reads, as the review's single restore does).
    for row in session.exec(select(Response).where(Response.status == "flagged")).all():
        row.status, row.flag_reason = "counted", None
        session.add(row)
    session.commit()
    second = _head_rows(client)
    assert [score for name, (_n, score) in second.items() if name != "Whole OPD"] == [None] * 4
    assert second["Pos Utara"] == (9, None) and second["Whole OPD"][0] == 30


# --- 6. Markup in a questionnaire's texts ------------------------------------------------------

EVIL = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)> <b>tebal</b> & <font"


def test_markup_in_a_questionnaires_texts_is_text_everywhere(
    app, session, monkeypatch, users
) -> None:
    """The attack, run: a questionnaire file whose Sundanese and Indonesian texts (title,
    element name, question, labels, the not-applicable answer) carry a script, an attribute
    break-out and PDF markup. Every page shows them as text (escaped), ``?lang=`` takes
    nothing but a known language code, and the OPD report's PDF prints them literally."""
    data = sunda()
    data["slug"] = "jahat"
    data["texts"]["su"]["title"] = EVIL
    for element in data["elements"]:
        element["name_id"] = element["name_id"] + " " + EVIL
        element["question_id"] = element["question_id"] + " " + EVIL
        element["texts"]["su"]["question"] = EVIL
        element["texts"]["su"]["labels"] = [EVIL + str(i) for i in range(4)]
        if "not_applicable" in element["texts"]["su"]:
            element["texts"]["su"]["not_applicable"] = EVIL
    questionnaire = store(session, data)
    wave = create_wave(
        session,
        slug="uji-2026",
        title="Uji",
        opd_slugs=["bpbd", "rsud"],
        questionnaire_id=questionnaire.id,
        status="open",
    )
    user = accounts.create_user(session, username="pencacah", password=PASSWORD, role="enumerator")
    session.add(EnumeratorScope(user_id=user.id, wave_id=wave.id, granted_by="eva"))
    session.commit()
    install_clock(monkeypatch)
    tablet = app.test_client()
    enrol_kiosk(session, app, tablet)
    phone = login(app.test_client(), "pencacah")
    visitor = app.test_client()
    pages = {
        "survey su": visitor.get("/s/uji-2026/bpbd?lang=su"),
        "survey id": visitor.get("/s/uji-2026/bpbd?lang=id"),
        "bad lang": visitor.get('/s/uji-2026/bpbd?lang="><script>x</script>'),
        "kiosk": tablet.get("/lapangan/kios/uji-2026/bpbd?lang=su"),
        "interview": phone.get("/lapangan/wawancara/uji-2026/bpbd?lang=su"),
    }
    for name, response in pages.items():
        html = response.get_data(as_text=True)
        assert response.status_code == 200, name
        assert "<script>alert" not in html and "<img src=x" not in html, name
        assert "<b>tebal" not in html and "<script>x" not in html, name
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages["survey su"].get_data(as_text=True)
    assert 'lang="su"' in pages["survey su"].get_data(as_text=True)
    # The PDF prints the Indonesian texts as they are.
    add_responses(session, wave, "bpbd", [FOURS] * 8)
    add_responses(session, wave, "rsud", [THREES] * 8)
    ranking = score_wave(session, wave=wave, wave_tests=False)
    report = opd_report_data(session, wave=wave, ranking=ranking, opd_slug="bpbd")
    text = pdf_text(render_opd_pdf(report))
    assert "<b>tebal</b> & <font" in text


def test_a_kiosk_at_a_unit_closed_later_keeps_recording_there_until_revoked(
    app, session, open_wave
):
    """A kiosk enrolled at Pos Timur; the unit is then closed (its page is a 404). As the README
    says, the kiosk's answers still carry the unit (they were given there), counted for the
    OPD; revoking the kiosk ends it at once, and the cookie is then worth nothing."""
    opd = queries.get_opd(session, slug="bpbd")
    timur = units.add_unit(session, opd=opd, slug="pos-timur", name="Pos Timur", actor="eva")
    device = kiosks.enroll_kiosk(
        session, wave=open_wave, opd_slug="bpbd", label="Loket", actor="eva", unit_slug="pos-timur"
    )
    tablet = app.test_client()
    with app.test_request_context():
        value = antiabuse.sign_kiosk(
            device_id=int(device.id or 0), wave_id=device.wave_id, opd_id=device.opd_id
        )
    tablet.set_cookie(antiabuse.KIOSK_COOKIE, value)
    units.set_unit_active(session, opd=opd, unit=timur, active=False, actor="eva")
    assert app.test_client().get("/s/uji-2026/bpbd/pos-timur").status_code == 404
    assert send(tablet, answer(kind="kiosk")).get_json()["status"] == "counted"
    kiosks.revoke_kiosk(session, wave=open_wave, device_id=int(device.id or 0), actor="eva")
    late = send(tablet, answer(kind="kiosk"))
    assert (late.status_code, late.get_json()["reason"]) == (403, "not-a-kiosk")
    assert tablet.get("/lapangan/kios/uji-2026/bpbd").status_code == 403
    assert [(r.channel, r.unit_id, r.status) for r in stored(session)] == [
        ("kiosk", timur.id, "counted")
    ]

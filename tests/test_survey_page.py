"""The citizen survey page: rendering, validation, CSRF, storing once, and the friendly pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session
from survey_helpers import (
    ALL_FOURS,
    SurveyActions,
    add_opd,
    create_wave,
    enrol_kiosk,
    install_clock,
    raw_rows,
    stored,
    token_payload,
)

from survey.core import evidence, opds, queries, tallies
from survey.core.codes import code_hash
from survey.core.models import Element, Questionnaire, VisitCode
from survey.web import citizen as citizen_views

REGULATION_LABELS = {
    "U1": ["Tidak sesuai", "Kurang sesuai", "Sesuai", "Sangat sesuai"],
    "U4": ["Sangat mahal", "Cukup mahal", "Murah", "Gratis"],
    "U8": ["Buruk", "Cukup", "Baik", "Sangat baik"],
    "U9": [
        "Tidak ada",
        "Ada tetapi tidak berfungsi",
        "Berfungsi kurang maksimal",
        "Dikelola dengan baik",
    ],
}
FIELDSET_RE = re.compile(
    r'<fieldset class="q[^"]*" id="q-(?P<code>[^"]+)"(?P<attrs>[^>]*)>\s*'
    r"<legend>(?P<legend>.*?)</legend>(?P<body>.*?)</fieldset>",
    re.S,
)
RADIO_RE = re.compile(r'<input type="radio" name="([^"]+)" value="([^"]+)"[^>]*>([^<]+)</label>')


@pytest.fixture
def clock(monkeypatch):
    """The anti-abuse clock, frozen until a test moves it."""
    return install_clock(monkeypatch)


@pytest.fixture
def citizen(app, session, open_wave, clock):
    """A citizen with a fresh browser on the BPBD survey of the open wave (BPBD lists two
    services)."""
    bpbd = queries.get_opd(session, slug="bpbd")
    for name in ("KTP elektronik", "Rekomendasi teknis"):
        opds.add_service(session, opd=bpbd, name=name, actor=None)
    return SurveyActions(app, clock)


def fieldsets(html: str) -> dict[str, dict]:
    """Return each question fieldset of a page by code: legend, attributes and radios."""
    found = {}
    for match in FIELDSET_RE.finditer(html):
        radios = RADIO_RE.findall(match["body"])
        found[match["code"]] = {
            "legend": match["legend"],
            "attrs": match["attrs"],
            "body": match["body"],
            "radios": [(value, label) for _name, value, label in radios],
            "names": {name for name, _value, _label in radios},
        }
    return found


def set_status(session: Session, status: str) -> None:
    """Force the test wave into ``status``."""
    wave = queries.get_wave(session, slug="uji-2026")
    wave.status = status
    session.add(wave)
    session.commit()


# ---------------------------------------------------------------------------------------------
# Rendering


def test_page_renders_one_fieldset_per_element(citizen, session):
    """Nine fieldsets, numbered legends, the regulation's four labels, values 1..4."""
    page = citizen.open()
    assert page.response.status_code == 200
    assert page.response.headers["Cache-Control"] == "no-store"
    html = page.html
    assert '<html lang="id">' in html
    assert html.count("<h1>") == 1
    assert "<main>" in html
    assert "Badan Penanggulangan Bencana Daerah" in html
    assert "Uji Coba 2026" in html
    questions = fieldsets(html)
    assert list(questions) == [f"U{i}" for i in range(1, 10)]
    questionnaire = queries.default_questionnaire(session)
    elements = {e.code: e for e in queries.elements(session, questionnaire_id=questionnaire.id)}
    for number, (code, question) in enumerate(questions.items(), start=1):
        assert question["legend"] == f"{number}. {elements[code].question_id}"
        assert question["names"] == {code}
        # U9 offers one more answer after its scale: "never complained", value 0.
        extra = [("0", "Belum pernah menyampaikan pengaduan")] if code == "U9" else []
        assert [v for v, _ in question["radios"]] == ["1", "2", "3", "4"] + [v for v, _ in extra]
        assert [label for _, label in question["radios"]] == elements[code].labels_id + [
            label for _, label in extra
        ]
    for code, labels in REGULATION_LABELS.items():
        assert [label for _, label in questions[code]["radios"]][:4] == labels
    assert set(page.hidden) == {"csrf_token", "token"}
    wave_id, opd_id, submission_id, rendered_at = token_payload(citizen.app, page)
    assert (wave_id, opd_id) == (
        queries.get_wave(session, slug="uji-2026").id,
        queries.get_opd(session, slug="bpbd").id,
    )
    assert re.fullmatch(r"[0-9a-f]{32}", submission_id) and rendered_at == citizen.clock.now
    assert "Kode kunjungan" not in html  # the wave does not ask for visit codes
    assert 'maxlength="1200"' in html
    assert "Data simulasi (demo)" not in html


def test_page_in_english(citizen):
    """``?lang=en`` gives English questions and labels and is remembered in a cookie."""
    page = citizen.open("?lang=en")
    html = page.html
    assert '<html lang="en">' in html
    cookie = citizen.client.get_cookie("lang")
    assert cookie is not None and cookie.value == "en"
    questions = fieldsets(html)
    assert questions["U4"]["legend"] == "4. How fair was the cost or fee of the service?"
    assert [label for _, label in questions["U4"]["radios"]] == [
        "Very expensive",
        "Quite expensive",
        "Cheap",
        "Free",
    ]
    assert "Send answers" in html and "Kirim jawaban" not in html
    assert "About you (optional)" in html
    assert 'href="/s/uji-2026/bpbd?lang=id"' in html and ">Bahasa Indonesia</a>" in html
    # The cookie keeps English on the next page without the parameter...
    assert '<html lang="en">' in citizen.get(citizen.path).get_data(as_text=True)
    # ...until the citizen switches back.
    back = citizen.get(citizen.path + "?lang=id").get_data(as_text=True)
    assert '<html lang="id">' in back and 'href="/s/uji-2026/bpbd?lang=en"' in back
    assert citizen.client.get_cookie("lang").value == "id"


def test_simulated_wave_says_so(citizen, session):
    """A demo wave shows a visible notice on the survey and the thank-you page."""
    wave = queries.get_wave(session, slug="uji-2026")
    wave.simulated = True
    session.add(wave)
    session.commit()
    assert "Data simulasi (demo)" in citizen.open().html
    assert "Simulated data (demo)" in citizen.open("?lang=en").html
    response = citizen.submit()
    # The language cookie from the English visit still holds.
    thanks = citizen.get(response.headers["Location"]).get_data(as_text=True)
    assert "Simulated data (demo)" in thanks


def test_five_point_questionnaire(app, session, clock):
    """A questionnaire with five points offers five labels and accepts 5, not 6."""
    add_opd(session, slug="bpbd", name="Badan Penanggulangan Bencana Daerah")
    questionnaire = Questionnaire(
        slug="persepsi", title_id="Persepsi", title_en="Perception", scale_points=5
    )
    session.add(questionnaire)
    session.flush()
    labels = ["Sangat tidak puas", "Tidak puas", "Cukup puas", "Puas", "Sangat puas"]
    session.add(
        Element(
            questionnaire_id=questionnaire.id,
            position=1,
            code="P1",
            kind="perception",
            name_id="Kepuasan",
            name_en="Satisfaction",
            question_id="Seberapa puas Saudara?",
            question_en="How satisfied are you?",
            labels_id=labels,
            labels_en=["Very dissatisfied", "Dissatisfied", "Fair", "Satisfied", "Very satisfied"],
        )
    )
    session.commit()
    create_wave(
        session,
        slug="persepsi-2026",
        title="Persepsi 2026",
        opd_slugs=["bpbd"],
        questionnaire_id=questionnaire.id,
        status="open",
    )
    citizen = SurveyActions(app, clock, wave="persepsi-2026")
    questions = fieldsets(citizen.open().html)
    assert list(questions) == ["P1"]
    assert questions["P1"]["radios"] == [(str(i), label) for i, label in enumerate(labels, 1)]
    assert citizen.submit({"P1": "6"}).status_code == 400
    assert stored(session) == []
    assert citizen.submit({"P1": "5"}).status_code == 303
    [row] = stored(session)
    assert row.a1 == 5 and row.a2 is None
    # No IKM element: the kept statistics count the response, with no figure of answers.
    assert tallies.differences(session, wave_id=row.wave_id) == []


def test_a_stored_answer_keeps_its_statistics_with_the_pages_layout(app, citizen, session):
    """The survey page hands the wave's layout (kept per process, like its form) to the
    store; the kept statistics are exactly a recount, and the layout is the one read."""
    assert citizen.submit({**ALL_FOURS, "U3": "2"}).status_code == 303
    [row] = stored(session)
    assert tallies.differences(session, wave_id=row.wave_id) == []
    kept = app.extensions[citizen_views._LAYOUT_CACHE]
    assert list(kept.values()) == [tallies.layout(session, wave_id=row.wave_id)]


# ---------------------------------------------------------------------------------------------
# Not found, closed


@pytest.mark.parametrize(
    ("wave", "opd"),
    [("tidak-ada", "bpbd"), ("uji-2026", "tidak-ada"), ("uji-2026", "satpol-pp")],
)
def test_unknown_wave_or_opd_is_a_friendly_404(app, citizen, session, wave, opd):
    """Unknown waves, unknown OPDs and OPDs the wave does not cover give a friendly 404."""
    add_opd(session, slug="satpol-pp", name="Satuan Polisi Pamong Praja")
    other = SurveyActions(app, citizen.clock, wave=wave, opd=opd)
    response = other.get(other.path)
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "Halaman tidak ditemukan" in html and '<html lang="id">' in html
    english = other.get(other.path + "?lang=en")
    assert english.status_code == 404 and "Page not found" in english.get_data(as_text=True)
    page = citizen.open()
    assert other.post(ALL_FOURS, page=page).status_code == 404
    assert other.get(other.thanks_path).status_code == 404
    assert stored(session) == []


def test_draft_wave_is_not_found(citizen, session):
    """A draft wave does not exist for citizens yet, for GET and POST."""
    page = citizen.open()
    set_status(session, "draft")
    assert citizen.get(citizen.path).status_code == 404
    assert citizen.post(ALL_FOURS, page=page).status_code == 404
    assert stored(session) == []


@pytest.mark.parametrize("status", ["closed", "published"])
def test_closed_wave_is_gone(citizen, session, status):
    """A closed or published wave answers 410 with a friendly page and stores nothing."""
    page = citizen.open()
    set_status(session, status)
    response = citizen.get(citizen.path)
    assert response.status_code == 410
    assert "Survei sudah ditutup" in response.get_data(as_text=True)
    posted = citizen.post(ALL_FOURS, page=page)
    assert posted.status_code == 410
    assert "Survei sudah ditutup" in posted.get_data(as_text=True)
    english = citizen.get(citizen.path + "?lang=en")
    assert "The survey is closed" in english.get_data(as_text=True)
    assert stored(session) == []


def test_answers_outside_the_opds_service_hours_are_marked(app, citizen, session):
    """Hours set on the OPD (here by the one OPD service the page and ``ikm opd edit`` use)
    mark an answer sent outside them ``off_hours``; inside them it is not; still counted."""
    bpbd = queries.get_opd(session, slug="bpbd")
    opds.update_opd(
        session,
        opd=bpbd,
        name=bpbd.name,
        short_name=bpbd.short_name,
        service_population=None,
        service_hours="08:00 - 16:00",
        actor=None,
    )
    assert queries.get_opd(session, slug="bpbd").service_hours == "08:00-16:00"
    # 2026-01-13 14:30 UTC is 21:30 in Jakarta; 03:00 UTC is 10:00.
    citizen.clock.now = datetime(2026, 1, 13, 14, 30, tzinfo=UTC).timestamp()
    assert citizen.submit().status_code == 303
    day = SurveyActions(app, citizen.clock)
    citizen.clock.now = datetime(2026, 1, 14, 3, 0, tzinfo=UTC).timestamp()
    assert day.submit().status_code == 303
    night_row, day_row = stored(session)
    assert (night_row.off_hours, night_row.status) == (True, "counted")
    assert (day_row.off_hours, day_row.status) == (False, "counted")


def _behind_the_cache(session: Session, statement: str) -> None:
    """Change the database as another process would: this process's caches are not told."""
    session.connection().execute(sa.text(statement))
    session.commit()


@pytest.mark.parametrize("change", ["closed", "published", "uncovered"])
def test_a_wave_closed_by_another_process_takes_no_answer(citizen, session, change):
    """The page reads its wave from a cache of a few seconds, so a wave closed (or an OPD taken
    off it) by another process may still show its form; the POST answers 410 and stores
    nothing, because the INSERT itself checks that the wave is open and covers the OPD."""
    page = citizen.open()
    wave = queries.get_wave(session, slug="uji-2026")
    bpbd = queries.get_opd(session, slug="bpbd")
    if change == "uncovered":
        _behind_the_cache(session, f"DELETE FROM waveopd WHERE opd_id = {bpbd.id}")
    else:
        _behind_the_cache(session, f"UPDATE wave SET status = '{change}' WHERE id = {wave.id}")
    assert citizen.get(citizen.path).status_code == 200  # the cached read: the form
    posted = citizen.post(ALL_FOURS, page=page)
    assert posted.status_code == 410
    assert "Survei sudah ditutup" in posted.get_data(as_text=True)
    assert stored(session) == []


def test_the_cached_wave_expires(citizen, session, monkeypatch):
    """Another process's change shows once the cache entry is older than TARGET_TTL."""
    citizen.open()
    wave = queries.get_wave(session, slug="uji-2026")
    _behind_the_cache(session, f"UPDATE wave SET status = 'closed' WHERE id = {wave.id}")
    assert citizen.get(citizen.path).status_code == 200
    monkeypatch.setattr(citizen_views, "TARGET_TTL", 0.0)
    assert citizen.get(citizen.path).status_code == 410


def test_a_change_made_in_this_process_shows_at_once(citizen, session):
    """An ORM change of the wave, its OPDs or an OPD in this process makes the cache stale."""
    citizen.open()
    bpbd = queries.get_opd(session, slug="bpbd")
    bpbd.name = "Badan Penanggulangan Bencana Daerah Kabupaten"
    session.add(bpbd)
    session.commit()
    assert "Bencana Daerah Kabupaten" in citizen.get(citizen.path).get_data(as_text=True)
    set_status(session, "closed")
    assert citizen.get(citizen.path).status_code == 410


# ---------------------------------------------------------------------------------------------
# Validation


def test_a_complete_submission_is_stored_and_thanked(citizen, session):
    """A valid POST stores one counted row and redirects (303) to the thank-you page."""
    page = citizen.open()
    before = datetime.now(UTC)
    response = citizen.post(
        {
            **ALL_FOURS,
            "U4": "1",
            "sex": "P",
            "age": "34",
            "education": "D1-D3",
            "occupation": "Wirausaha",
            "service": "KTP elektronik",
            "comment": "Antrean cepat.\r\nPetugas ramah.",
        },
        page=page,
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/s/uji-2026/bpbd/terima-kasih"
    [row] = stored(session)
    assert row.submission_id == token_payload(citizen.app, page)[2]
    assert (row.status, row.flag_reason, row.channel) == ("counted", None, "qr")
    # The evidence: 10 s from render to submission (the fake clock), not straight-lined (U4
    # differs), a first answer from this device, no burst, no service hours set, the network.
    assert (row.seconds, row.straightline, row.repeat_device, row.burst) == (
        10,
        False,
        False,
        False,
    )
    assert (row.off_hours, row.verified, row.device_id) == (False, False, None)
    secret = citizen.app.config["SECRET_KEY"]
    assert row.network == evidence.network_hash("127.0.0.0/24", secret=secret)
    assert [row.answers()[i] for i in range(1, 10)] == [4, 4, 4, 1, 4, 4, 4, 4, 4]
    assert all(row.answers()[i] is None for i in range(10, 25))
    assert (row.sex, row.age, row.education, row.occupation) == ("P", 34, "D1-D3", "Wirausaha")
    assert row.service == "KTP elektronik"
    assert row.comment == "Antrean cepat.\nPetugas ramah."
    assert row.wave_id == queries.get_wave(session, slug="uji-2026").id
    assert row.opd_id == queries.get_opd(session, slug="bpbd").id
    assert row.submitted_at.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= row.submitted_at <= datetime.now(UTC)
    thanks = citizen.get(response.headers["Location"])
    assert thanks.status_code == 200
    assert "<h1>Terima kasih!</h1>" in thanks.get_data(as_text=True)


def test_signals_of_a_quick_straight_answer_outside_service_hours(citizen, session):
    """All nine the same: straight-lined; sent at 15:00 in Jakarta to an OPD serving 07:00 to
    14:00: off hours; both only signals, the answer counts."""
    opd = queries.get_opd(session, slug="bpbd")
    opd.service_hours = "07:00-14:00"
    session.add(opd)
    session.commit()
    assert datetime.fromtimestamp(citizen.clock.now, UTC).hour == 8  # 15:00 WIB
    assert citizen.submit(wait=42).status_code == 303
    [row] = stored(session)
    assert (row.straightline, row.off_hours, row.seconds) == (True, True, 42)
    assert (row.status, row.flag_reason) == ("counted", None)


def test_thank_you_in_english(citizen):
    """The thank-you page follows the chosen language."""
    response = citizen.submit(query="?lang=en")
    assert response.headers["Location"] == "/s/uji-2026/bpbd/terima-kasih?lang=en"
    html = citizen.get(response.headers["Location"]).get_data(as_text=True)
    assert "<h1>Thank you!</h1>" in html


def test_one_answer_is_enough(citizen, session):
    """Every element is optional on its own."""
    assert citizen.submit({"U7": "2"}).status_code == 303
    [row] = stored(session)
    assert row.a7 == 2 and [row.answers()[i] for i in (1, 2, 3, 4, 5, 6, 8, 9)] == [None] * 8


def test_no_answer_is_refused_at_the_top(citizen, session):
    """At least one element must be answered; the error sits at the top, tied to the form."""
    response = citizen.submit({}, wait=30)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="form-errors" role="alert"' in html
    assert 'aria-describedby="form-errors"' in html
    assert "Jawablah paling sedikit satu pertanyaan." in html
    assert html.index("form-errors") < html.index("<form")
    assert stored(session) == []
    english = citizen.submit({"comment": "hanya komentar"}, query="?lang=en")
    assert "Please answer at least one question." in english.get_data(as_text=True)
    assert stored(session) == []


def test_blank_values_count_as_unanswered(citizen, session):
    """Whitespace is no answer: alone it is refused, beside an answer it stores nothing."""
    blank = {"U1": " ", "sex": " ", "education": "  ", "age": " "}
    assert citizen.submit(blank).status_code == 400
    assert stored(session) == []
    assert citizen.submit({**blank, "U2": " 3 "}).status_code == 303
    [row] = stored(session)
    assert (row.a1, row.a2, row.sex, row.education, row.age) == (None, 3, None, None, None)


@pytest.mark.parametrize("value", ["0", "5", "-1", "1.5", "abc", "４", " 9 "])
def test_out_of_range_answers_are_refused_next_to_the_field(citizen, session, value):
    """An answer outside 1..4 is an error shown in its fieldset; other answers are kept."""
    response = citizen.submit({"U1": value, "U2": "3"})
    assert response.status_code == 400
    questions = fieldsets(response.get_data(as_text=True))
    assert 'aria-describedby="e-U1"' in questions["U1"]["attrs"]
    assert (
        '<p class="err" id="e-U1">Pilih salah satu dari 4 jawaban.</p>' in questions["U1"]["body"]
    )
    assert "checked" in questions["U2"]["body"].split('value="3"')[1].split(">")[0]
    assert "err" not in questions["U2"]["body"]
    assert stored(session) == []


def test_errors_in_english(citizen, session):
    """Field errors are written in the citizen's language."""
    response = citizen.submit({"U1": "7", "age": "12"}, query="?lang=en")
    html = response.get_data(as_text=True)
    assert "Choose one of the 4 answers." in html
    assert "Enter your age as a whole number from 15 to 100." in html
    assert stored(session) == []


@pytest.mark.parametrize(
    "pairs",
    [
        [("U10", "4"), ("U2", "4")],
        [("X", "1"), ("U2", "4")],
        [("a1", "4"), ("U2", "4")],
        [("U1", "4"), ("U1", "1")],
    ],
    ids=["code-beyond-questionnaire", "unknown-name", "column-name", "repeated"],
)
def test_unknown_or_repeated_codes_are_refused(citizen, session, pairs):
    """Names the questionnaire does not have, or sent twice, are errors, never stored."""
    response = citizen.post(pairs)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    name = pairs[0][0]
    assert (f"tidak dikenal: {name}." in html) or (f"lebih dari sekali: {name}." in html)
    assert stored(session) == []


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("sex", "X", "Pilih salah satu pilihan yang tersedia."),
        ("age", "14", "Isi umur dengan angka bulat dari 15 sampai 100."),
        ("age", "101", "Isi umur dengan angka bulat dari 15 sampai 100."),
        ("age", "tiga puluh", "Isi umur dengan angka bulat dari 15 sampai 100."),
        ("age", "٣٠", "Isi umur dengan angka bulat dari 15 sampai 100."),
        ("education", "SMK", "Pilih salah satu pilihan yang tersedia."),
        ("occupation", "Petani", "Pilih salah satu pilihan yang tersedia."),
        ("service", "x" * 121, "Pilih salah satu pilihan yang tersedia."),
        ("service", "SITUS RESMI: judi-online.example", "Pilih salah satu pilihan yang tersedia."),
        ("comment", "y" * 1201, "Paling banyak 1.200 karakter."),
    ],
)
def test_bad_respondent_fields_are_refused_next_to_the_field(
    citizen, session, name, value, message
):
    """Each respondent field is validated server-side; the error is tied to the field."""
    response = citizen.submit({**ALL_FOURS, name: value})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert f'<p class="err" id="e-{name}">{message}</p>' in html
    assert f'href="#f-{name}"' in html
    if name != "sex":
        control = re.search(rf'<(?:input|select|textarea) id="f-{name}"[^>]*>', html)[0]
        assert 'aria-invalid="true"' in control and f"e-{name}" in control
    assert stored(session) == []


def test_comment_limit_counts_a_newline_once(citizen, session):
    """1,200 characters with browser CRLF line breaks fit, as the maxlength attribute says."""
    comment = ("a" * 99 + "\r\n") * 12  # 1,200 characters once CRLF is one line break
    assert citizen.submit({**ALL_FOURS, "comment": comment}).status_code == 303
    [row] = stored(session)
    assert len(row.comment) == 1199  # the last line break is trimmed


def test_control_characters_never_reach_the_database(citizen, session):
    """A NUL byte (refused by PostgreSQL) is dropped rather than causing a 500."""
    assert (
        citizen.submit(
            {"U1": "3", "comment": "ba\x00gus", "service": " KTP elektronik\n"}
        ).status_code
        == 303
    )
    [row] = stored(session)
    assert (row.comment, row.service) == ("bagus", "KTP elektronik")


# ---------------------------------------------------------------------------------------------
# CSRF


def test_missing_csrf_token_rerenders_the_form(citizen, session):
    """No CSRF token: 400, a clear message, the answers kept, a fresh token, nothing stored."""
    page = citizen.open()
    response = citizen.post(
        {"U1": "3", "U5": "2", "comment": "Tolong"}, page=page, drop=["csrf_token"]
    )
    assert response.status_code == 400
    again = type(page).parse(response)
    html = again.html
    assert "Sesi Anda kedaluwarsa" in html
    assert again.checked == {"U1": "3", "U5": "2"}
    assert ">Tolong</textarea>" in html
    assert again.hidden["csrf_token"]
    assert again.hidden["token"] == page.hidden["token"]  # still valid: kept
    assert stored(session) == []
    # The re-rendered form goes through, once, under the original submission id.
    ok = citizen.post({"U1": "3", "U5": "2"}, page=again)
    assert ok.status_code == 303
    [row] = stored(session)
    assert row.submission_id == token_payload(citizen.app, page)[2]
    assert row.status == "counted"


def test_csrf_token_of_another_browser_is_refused(app, citizen, session):
    """A token from another session (an expired cookie, a forged page) gets the same page."""
    stranger = SurveyActions(app, citizen.clock)
    page = stranger.open()
    response = citizen.post(ALL_FOURS, page=page)
    assert response.status_code == 400
    assert "Sesi Anda kedaluwarsa" in response.get_data(as_text=True)
    english = citizen.post(ALL_FOURS, page=page, query="?lang=en")
    assert "Your session has expired" in english.get_data(as_text=True)
    assert stored(session) == []


def test_tampered_csrf_token_is_refused(citizen, session):
    """A garbage token is refused like a missing one."""
    response = citizen.post({**ALL_FOURS, "csrf_token": "bukan-token"})
    assert response.status_code == 400
    assert "Sesi Anda kedaluwarsa" in response.get_data(as_text=True)
    assert stored(session) == []


def test_cross_site_post_over_https_is_refused(citizen, session):
    """Over HTTPS Flask-WTF's referrer check applies too: a foreign origin is refused."""
    page = citizen.open()
    response = citizen.post(
        ALL_FOURS,
        page=page,
        base_url="https://localhost",
        headers={"Referer": "https://phishing.example/s/uji-2026/bpbd"},
    )
    assert response.status_code == 400
    assert "Sesi Anda kedaluwarsa" in response.get_data(as_text=True)
    assert stored(session) == []
    same_site = citizen.post(
        ALL_FOURS,
        page=page,
        base_url="https://localhost",
        headers={"Referer": "https://localhost/"},
    )
    assert same_site.status_code == 303
    assert len(stored(session)) == 1


# ---------------------------------------------------------------------------------------------
# Counted once


def test_the_same_post_twice_stores_one_row(citizen, session):
    """A double tap or a retried POST stores one response; both get the thank-you page."""
    page = citizen.open()
    first = citizen.post(ALL_FOURS, page=page)
    second = citizen.post(ALL_FOURS, page=page)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    rows = stored(session)
    assert len(rows) == 1 and rows[0].status == "counted"


def test_the_client_chooses_no_submission_id(citizen, session):
    """A posted submission id (from an old page or a forger) is ignored: the token's counts."""
    first, second = citizen.open(), citizen.open()
    chosen = {**ALL_FOURS, "submission_id": "a" * 32}
    assert citizen.post(chosen, page=first).status_code == 303
    assert citizen.post(chosen, page=second).status_code == 303
    ids = [row.submission_id for row in stored(session)]
    assert ids == [token_payload(citizen.app, first)[2], token_payload(citizen.app, second)[2]]
    assert "a" * 32 not in ids


def test_a_second_answer_from_the_same_device_is_flagged(app, citizen, session):
    """Same browser, same wave and OPD: stored, flagged duplicate-device, thanked as usual."""
    assert citizen.submit().status_code == 303
    cookie = citizen.client.get_cookie("ikm_seen")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    assert cookie.max_age is not None and cookie.max_age >= 150 * 24 * 3600
    second = citizen.submit({"U1": "1"})
    assert second.status_code == 303
    assert second.headers["Location"] == "/s/uji-2026/bpbd/terima-kasih"
    # A fresh browser is counted, and so is the same browser for another OPD.
    assert SurveyActions(app, citizen.clock).submit().status_code == 303
    assert SurveyActions(app, citizen.clock, client=citizen.client, opd="rsud").submit()
    rows = stored(session)
    assert [(r.status, r.flag_reason) for r in rows] == [
        ("counted", None),
        ("flagged", "duplicate-device"),
        ("counted", None),
        ("counted", None),
    ]


def test_a_tampered_device_cookie_is_ignored(citizen, session):
    """A forged or garbled ``ikm_seen`` cookie counts as no cookie."""
    citizen.client.set_cookie("ikm_seen", "WyIxOjEiXQ.bukan-tanda-tangan")
    assert citizen.submit().status_code == 303
    assert [r.status for r in stored(session)] == ["counted"]


def test_an_enrolled_kiosk_serves_many_citizens(app, citizen, session):
    """On an enrolled kiosk (one shared device) the device cookie flags nobody; the answers
    carry the channel and the device, and the thank-you page offers a fresh form."""
    device = enrol_kiosk(session, app, citizen.client)
    first = citizen.submit()
    assert first.headers["Location"] == "/s/uji-2026/bpbd/terima-kasih"
    thanks = citizen.get(first.headers["Location"]).get_data(as_text=True)
    assert 'href="/s/uji-2026/bpbd">Isi survei baru</a>' in thanks
    assert citizen.submit({"U1": "9"}).status_code == 400
    assert citizen.submit().status_code == 303
    assert citizen.client.get_cookie("ikm_seen") is None
    rows = stored(session)
    assert [(r.channel, r.status, r.device_id, r.repeat_device) for r in rows] == [
        ("kiosk", "counted", device.id, False),
        ("kiosk", "counted", device.id, False),
    ]


def test_a_revoked_or_foreign_kiosk_is_a_phone(app, citizen, session):
    """A kiosk cookie for another OPD, or of a revoked device, counts for nothing."""
    device = enrol_kiosk(session, app, citizen.client, opd="rsud")
    assert citizen.submit().status_code == 303
    thanks = citizen.get(citizen.thanks_path).get_data(as_text=True)
    assert "Isi survei baru" not in thanks
    device = enrol_kiosk(session, app, citizen.client)
    device.revoked_at = device.enrolled_at
    device.revoked_by = "eva"
    session.add(device)
    session.commit()
    assert citizen.submit().status_code == 303
    rows = stored(session)
    assert [(r.channel, r.device_id, r.status, r.flag_reason) for r in rows] == [
        ("qr", None, "counted", None),
        ("qr", None, "flagged", "duplicate-device"),
    ]


@pytest.mark.parametrize("claim", ["query", "field", "both"])
def test_the_channel_never_comes_from_the_client(citizen, session, claim):
    """``?channel=kiosk`` or a posted channel changes nothing: a QR answer, device checked."""
    query = "?channel=kiosk" if claim in ("query", "both") else ""
    fields = {**ALL_FOURS, "channel": "kiosk"} if claim in ("field", "both") else ALL_FOURS
    page = citizen.open(query)
    assert "channel" not in page.hidden
    assert citizen.post(fields, page=page, query=query).status_code == 303
    assert citizen.post(fields, query=query).status_code == 303
    thanks = citizen.get(citizen.thanks_path + "?channel=kiosk").get_data(as_text=True)
    assert "Isi survei baru" not in thanks
    rows = stored(session)
    assert [(r.channel, r.status, r.flag_reason, r.repeat_device) for r in rows] == [
        ("qr", "counted", None, False),
        ("qr", "flagged", "duplicate-device", True),
    ]


def test_filled_honeypot_is_flagged_bot_suspect(citizen, session):
    """A filled honeypot is stored flagged bot-suspect and thanked like anyone else."""
    response = citizen.submit({**ALL_FOURS, "website": "http://spam.example"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/s/uji-2026/bpbd/terima-kasih"
    [row] = stored(session)
    assert (row.status, row.flag_reason) == ("flagged", "bot-suspect")


@pytest.mark.parametrize(
    ("wait", "expected"),
    [
        (0.5, ("flagged", "bot-suspect")),
        (2.99, ("flagged", "bot-suspect")),
        (3.0, ("counted", None)),
    ],
)
def test_too_fast_submission_is_flagged_bot_suspect(citizen, session, wait, expected):
    """Sooner than MIN_SUBMIT_SECONDS after the page was served is a bot sign."""
    assert citizen.submit(wait=wait).status_code == 303
    [row] = stored(session)
    assert (row.status, row.flag_reason) == expected


@pytest.mark.parametrize("token", [None, "", "WzEsMSwiYWFhYSIsMTIzXQ.bukan-tanda-tangan", "12345"])
def test_missing_or_forged_token_rerenders_the_form(citizen, session, token):
    """Without a genuine render token nothing is stored: 400, the answers kept, a fresh token,
    and the citizen's next tap goes through."""
    fields = {"U1": "3", "U2": "2", "comment": "Cepat"}
    response = (
        citizen.post(fields, drop=["token"])
        if token is None
        else citizen.post({**fields, "token": token})
    )
    assert response.status_code == 400
    again = type(citizen.open()).parse(response)
    assert "halaman ini terlalu lama terbuka" in again.html
    assert again.checked == {"U1": "3", "U2": "2"} and ">Cepat</textarea>" in again.html
    assert again.hidden["token"] and again.hidden["token"] != token
    assert stored(session) == []
    assert citizen.post(fields, page=again).status_code == 303
    [row] = stored(session)
    assert (row.status, row.a1, row.comment) == ("counted", 3, "Cepat")


def test_an_old_page_with_the_former_hidden_fields_gets_a_fresh_token(citizen, session):
    """A page cached from before the token (submission_id, t, channel) is re-rendered once."""
    old = [("submission_id", "a" * 32), ("t", "MTIzNA.x"), ("channel", "kiosk"), ("U1", "4")]
    response = citizen.post(old, drop=["token"])
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "tidak dikenal" not in html and "halaman ini terlalu lama terbuka" in html
    assert stored(session) == []


def test_hard_limit_answers_429(app, citizen, session):
    """Past LIMIT_HARD POSTs per address, wave and OPD: 429 with Retry-After, nothing stored;
    another address is served; the address is served again once its buckets leave the window."""
    app.config["LIMIT_HARD"] = 3
    for _ in range(3):
        assert citizen.submit().status_code == 303
    refused = citizen.submit()
    assert refused.status_code == 429
    assert "Terlalu banyak kiriman" in refused.get_data(as_text=True)
    # All three hits fell in the bucket starting at START; it leaves the window an hour later.
    assert refused.headers["Retry-After"] == str(3600 - 40)
    assert len(stored(session)) == 3
    assert citizen.post(ALL_FOURS, page=citizen.open()).status_code == 429
    elsewhere = SurveyActions(app, citizen.clock)
    page = elsewhere.open()
    with app.app_context():
        ok = elsewhere.client.post(
            elsewhere.path, data=page.hidden | ALL_FOURS, environ_base={"REMOTE_ADDR": "10.1.2.3"}
        )
    assert ok.status_code == 303
    citizen.clock.advance(3600 - 50)
    assert citizen.submit().status_code == 303
    assert len(stored(session)) == 5


def set_verification(session: Session, mode: str) -> None:
    """Set the test wave's visit-code setting."""
    wave = queries.get_wave(session, slug="uji-2026")
    wave.verification = mode
    session.add(wave)
    session.commit()


def add_ticket(app, session, code: str = "ABCD2345") -> VisitCode:
    """Store a one-time ticket code for BPBD (its keyed hash only), as the staff side does."""
    wave = queries.get_wave(session, slug="uji-2026")
    opd = queries.get_opd(session, slug="bpbd")
    secret = app.config["SECRET_KEY"]
    row = VisitCode(
        wave_id=wave.id, opd_id=opd.id, code_hash=code_hash(code, wave_id=wave.id, secret=secret)
    )
    session.add(row)
    session.commit()
    return row


def test_the_code_field_follows_the_wave_setting(citizen, session):
    """Off: no field. Optional and required: the field, with its hint; the cached pristine form
    of one setting is never served for another."""
    assert "f-visit_code" not in citizen.open().html
    set_verification(session, "optional")
    html = citizen.open().html
    assert '<label for="f-visit_code">Kode kunjungan (pada karcis/struk)</label>' in html
    assert "Tidak wajib." in html and 'name="visit_code"' in html
    assert "f-visit_code" in citizen.open().html  # the cached copy
    set_verification(session, "required")
    html = citizen.open().html
    assert "Wajib diisi" in html and " required" in html.split('id="f-visit_code"')[1][:300]
    english = citizen.open("?lang=en").html
    assert "Visit code (on your ticket or receipt)" in english
    set_verification(session, "off")
    assert "f-visit_code" not in citizen.open().html


def test_a_valid_code_marks_the_answer_verified(app, citizen, session):
    """A valid unused code: stored verified, the code used up; never the code itself."""
    set_verification(session, "optional")
    ticket = add_ticket(app, session)
    assert citizen.submit({**ALL_FOURS, "visit_code": "abcd-2345"}).status_code == 303
    assert citizen.submit(ALL_FOURS).status_code == 303  # optional: no code, not verified
    rows = stored(session)
    assert [(r.verified, r.status) for r in rows] == [(True, "counted"), (False, "flagged")]
    session.refresh(ticket)
    assert ticket.uses == 1
    for row in raw_rows(session):
        assert not any("ABCD" in str(value) or "abcd" in str(value) for value in row.values())


def test_a_required_wave_refuses_an_answer_without_a_valid_code(app, citizen, session):
    """Required: no code or a used code is refused (400), the answers kept, nothing stored, and
    the code is not burnt by a refused answer."""
    set_verification(session, "required")
    ticket = add_ticket(app, session)
    response = citizen.submit({"U1": "2", "U3": "4"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "hanya menghitung jawaban dengan kode kunjungan" in html
    assert 'href="#f-visit_code"' in html
    again = type(citizen.open()).parse(response)
    assert again.checked == {"U1": "2", "U3": "4"}
    wrong = citizen.post({"U1": "2", "visit_code": "ABCD2346"}, page=again)
    assert wrong.status_code == 400
    assert "tidak berlaku" in wrong.get_data(as_text=True)
    english = citizen.submit({"U1": "2"}, query="?lang=en").get_data(as_text=True)
    assert "only counts answers with a visit code" in english
    assert stored(session) == []
    session.refresh(ticket)
    assert ticket.uses == 0
    ok = citizen.post({"U1": "2", "visit_code": "ABCD2345"}, page=again)
    assert ok.status_code == 303
    [row] = stored(session)
    assert row.verified and row.a1 == 2 and row.submission_id == token_payload(app, again)[2]
    # The double tap of that answer gets the same row, though its code is now used.
    assert citizen.post({"U1": "2", "visit_code": "ABCD2345"}, page=again).status_code == 303
    assert len(stored(session)) == 1


def test_no_raw_ip_address_is_stored(app, citizen, session):
    """No column of a stored response holds the client's address."""
    citizen.submit({**ALL_FOURS, "comment": "ok"})
    page = citizen.open()
    with app.app_context():
        citizen.client.post(
            citizen.path,
            data=page.hidden | {"U1": "2"},
            environ_base={"REMOTE_ADDR": "203.0.113.77"},
        )
    rows = raw_rows(session)
    assert len(rows) == 2
    for row in rows:
        for column, value in row.items():
            assert "127.0.0.1" not in str(value), column
            assert "203.0.113.77" not in str(value), column


# ---------------------------------------------------------------------------------------------
# Page weight and friendly error pages


def test_page_weight_and_requests(citizen):
    """HTML + CSS stay under 30 KB, with one stylesheet, no script and no inline styles."""
    html = citizen.open().html
    subresources = re.findall(r'<(?:link|script|img|iframe)\b[^>]*(?:href|src)="([^"]+)"', html)
    assert subresources == ["data:,", "/static/survey.css"]
    css_response = citizen.get("/static/survey.css")
    assert css_response.status_code == 200
    css = css_response.get_data(as_text=True)
    css_response.close()  # a static file response holds the file open until closed
    total = len(html.encode()) + len(css.encode())
    assert total <= 30 * 1024, total
    assert 1 + sum(1 for url in subresources if not url.startswith("data:")) <= 3
    assert "<script" not in html and " style=" not in html
    assert "@import" not in css and "url(" not in css
    # The link-preview tags name the page's public address (for chat apps); nothing else
    # names another origin, and nothing is loaded from one.
    outside_previews = re.sub(r'<meta (?:property|name)="(?:og|twitter):[^>]*>', "", html)
    assert "http://" not in outside_previews and "https://" not in outside_previews


def test_wrong_method_is_a_friendly_405(citizen):
    """An unsupported method gets the friendly page and keeps the Allow header."""
    response = citizen.request("PUT", citizen.path)
    assert response.status_code == 405
    assert "Cara akses tidak diizinkan" in response.get_data(as_text=True)
    assert "POST" in response.headers["Allow"]


def test_oversized_post_is_a_friendly_413(citizen, session):
    """A body above MAX_CONTENT_LENGTH gets the friendly 413 page and stores nothing."""
    response = citizen.submit({**ALL_FOURS, "comment": "z" * 70_000})
    assert response.status_code == 413
    assert "Kiriman terlalu besar" in response.get_data(as_text=True)
    assert stored(session) == []


def test_server_error_is_a_friendly_500(app, citizen):
    """An unexpected exception gives the friendly 500 page, not a traceback."""

    def broken() -> str:
        """Fail on purpose."""
        raise RuntimeError("boom")

    app.add_url_rule("/rusak", view_func=broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = citizen.get("/rusak?lang=en")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Something went wrong" in html and "boom" not in html

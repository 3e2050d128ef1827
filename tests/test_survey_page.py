"""The citizen survey page: rendering, validation, CSRF, storing once, and the friendly pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session
from survey_helpers import (
    ALL_FOURS,
    SurveyActions,
    add_opd,
    create_wave,
    install_clock,
    raw_rows,
    stored,
)

from survey.core import opds, queries
from survey.core.models import Element, Questionnaire

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
        assert [v for v, _ in question["radios"]] == ["1", "2", "3", "4"]
        assert [label for _, label in question["radios"]] == elements[code].labels_id
    for code, labels in REGULATION_LABELS.items():
        assert [label for _, label in questions[code]["radios"]] == labels
    assert set(page.hidden) == {"csrf_token", "submission_id", "t", "channel"}
    assert re.fullmatch(r"[0-9a-f]{32}", page.hidden["submission_id"])
    assert page.hidden["channel"] == "qr"
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


def test_switch_link_keeps_the_channel(citizen):
    """The language link keeps ``channel=kiosk`` so a kiosk stays a kiosk."""
    html = citizen.open("?channel=kiosk").html
    assert 'href="/s/uji-2026/bpbd?channel=kiosk&amp;lang=en"' in html


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
    assert row.submission_id == page.hidden["submission_id"]
    assert (row.status, row.flag_reason, row.channel) == ("counted", None, "qr")
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
    assert again.hidden["submission_id"] == page.hidden["submission_id"]
    assert stored(session) == []
    # The re-rendered form goes through, once, under the original submission id.
    ok = citizen.post({"U1": "3", "U5": "2"}, page=again)
    assert ok.status_code == 303
    [row] = stored(session)
    assert row.submission_id == page.hidden["submission_id"]
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


def test_bad_submission_id_gets_a_fresh_one(citizen, session):
    """A missing or malformed submission id is replaced server-side; each answer is kept once."""
    assert citizen.submit(drop=["submission_id"]).status_code == 303
    assert citizen.submit({**ALL_FOURS, "submission_id": "x' OR 1=1"}).status_code == 303
    ids = [row.submission_id for row in stored(session)]
    assert len(ids) == len(set(ids)) == 2
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in ids)


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


def test_a_kiosk_serves_many_citizens(citizen, session):
    """On a kiosk (one shared device) the device cookie flags nobody; channel is kiosk."""
    first = citizen.submit(query="?channel=kiosk")
    assert first.headers["Location"] == "/s/uji-2026/bpbd/terima-kasih?channel=kiosk"
    thanks = citizen.get(first.headers["Location"]).get_data(as_text=True)
    assert 'href="/s/uji-2026/bpbd?channel=kiosk"' in thanks
    again = citizen.submit({"U1": "9"}, query="?channel=kiosk")
    assert again.status_code == 400
    assert 'action="/s/uji-2026/bpbd?channel=kiosk"' in again.get_data(as_text=True)
    citizen.submit(query="?channel=kiosk")
    rows = stored(session)
    assert [(r.channel, r.status) for r in rows] == [("kiosk", "counted"), ("kiosk", "counted")]


def test_only_qr_and_kiosk_channels_come_from_the_web(citizen, session):
    """A posted channel other than qr or kiosk (e.g. import) is stored as qr."""
    assert citizen.submit({**ALL_FOURS, "channel": "import"}).status_code == 303
    assert stored(session)[0].channel == "qr"


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


@pytest.mark.parametrize("t", [None, "", "MTc5NTUwMzc3NC4zMDc.bukan-tanda-tangan", "12345"])
def test_missing_or_tampered_render_time_is_bot_suspect(citizen, session, t):
    """Without a genuine signed render time the submission is flagged bot-suspect."""
    response = citizen.submit(drop=["t"]) if t is None else citizen.submit({**ALL_FOURS, "t": t})
    assert response.status_code == 303
    [row] = stored(session)
    assert (row.status, row.flag_reason) == ("flagged", "bot-suspect")


def test_rate_limit_answers_429_past_the_cap(app, citizen, session):
    """Past RATE_LIMIT_COUNT POSTs per window a client gets 429 and nothing is stored."""
    app.config["RATE_LIMIT_COUNT"] = 3
    for _ in range(3):
        assert citizen.submit().status_code == 303
    refused = citizen.submit()
    assert refused.status_code == 429
    assert "Terlalu banyak kiriman" in refused.get_data(as_text=True)
    assert refused.headers["Retry-After"] == str(app.config["RATE_LIMIT_WINDOW"])
    assert len(stored(session)) == 3
    assert citizen.post(ALL_FOURS, page=citizen.open()).status_code == 429
    # Another address is not affected; this one is served again once the window has passed.
    elsewhere = SurveyActions(app, citizen.clock)
    page = elsewhere.open()
    citizen.clock.advance(10)
    with app.app_context():
        ok = elsewhere.client.post(
            elsewhere.path, data=page.hidden | ALL_FOURS, environ_base={"REMOTE_ADDR": "10.1.2.3"}
        )
    assert ok.status_code == 303
    citizen.clock.advance(app.config["RATE_LIMIT_WINDOW"])
    assert citizen.submit().status_code == 303
    assert len(stored(session)) == 5


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
    assert "http://" not in html and "https://" not in html


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

"""One link per wave (issue 14): the wave's page, multi-OPD sittings, short links and sharing.

The wave's page ``/s/<wave>`` finds OPDs by name or short name (case, accents, word
beginnings), with no script; a wave that allows it takes several OPDs in one sitting, one
response per OPD with the same profile and one sitting id, stored once however often the POST
comes; ``/l/<code>`` leads to the wave's or an OPD's page; the pages carry link-preview tags
and a WhatsApp share link built from ``IKM_PUBLIC_URL``; the sitting id never leaves the
database in an export.
"""

from __future__ import annotations

import dataclasses
import io
import re
import zipfile
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import sqlalchemy as sa
from field_helpers import (
    BY_NAME,
    OPDS,
    PUBLIC,
    WAVE,
    Citizen,
    fours,
    make_wave,
    opd_ids,
    parse,
    set_multi,
)
from sqlmodel import Session, select
from survey_helpers import (
    FakeClock,
    add_opd,
    add_responses,
    install_clock,
    set_wave_status,
    stored,
)
from werkzeug.datastructures import MultiDict

from survey.core import exports, limits, opdsearch, queries, shortlinks, sittings, waves
from survey.core.models import AuditLog, Response, ShortLink
from survey.core.reportdata import posters
from survey.web import antiabuse


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The anti-abuse clock, moved by the tests."""
    return install_clock(monkeypatch)


# --- The search ----------------------------------------------------------------------------


def test_search_matches_names_short_names_word_beginnings_and_accents(app, session, clock):
    make_wave(session, multi=False)
    citizen = Citizen(app, clock)
    assert citizen.found("") == BY_NAME
    assert citizen.found("dukcapil") == ["Dinas Kependudukan dan Pencatatan Sipil"]
    assert citizen.found("dinas kes") == ["Dinas Kesehatan"]
    assert citizen.found("DINKES") == ["Dinas Kesehatan"]
    assert citizen.found("RSUD") == ["Rumah Sakit Umum Daerah"]
    assert citizen.found("rumah sak") == ["Rumah Sakit Umum Daerah"]
    assert citizen.found("keraton") == ["Dinas Kebudayaan Kératon"]
    assert citizen.found("KÉRATON") == ["Dinas Kebudayaan Kératon"]
    assert citizen.found("daerah") == [
        "Badan Penanggulangan Bencana Daerah",
        "Rumah Sakit Umum Daerah",
    ]
    assert citizen.found("dinas") == BY_NAME[1:5]
    # Word beginnings: "sakit" begins a word, "akit" does not (and is no short name's part).
    assert citizen.found("akit") == []
    assert citizen.found("kes dinas") == ["Dinas Kesehatan"]


def test_an_empty_result_says_so_and_offers_the_whole_list(app, session, clock):
    make_wave(session, multi=False)
    citizen = Citizen(app, clock)
    response = citizen.get(f"/s/{WAVE}?q=imigrasi")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Tidak ada OPD yang cocok dengan pencarian “imigrasi”." in html
    assert (f"/s/{WAVE}", "Tampilkan semua OPD") in parse(response).links
    assert citizen.found("imigrasi") == []


def test_the_query_is_cut_and_never_read_as_a_pattern(app, session, clock):
    make_wave(session, multi=False)
    citizen = Citizen(app, clock)
    # Only letters and digits are read, as words: punctuation alone is no query at all.
    for hostile in ("(.*", ".*", "%", "_", "^$"):
        assert citizen.found(hostile) == BY_NAME, hostile
    assert citizen.found("dinas|rsud") == []  # two words, both required
    assert citizen.found("kes.*") == ["Dinas Kesehatan"]
    assert citizen.found("[a-") == []
    assert citizen.found("' OR 1=1 --") == []
    long = "dinas " + "x" * 500
    response = citizen.get(f"/s/{WAVE}?q={long}")
    assert response.status_code == 200
    shown = re.search(r'id="f-q" name="q" value="([^"]*)"', response.get_data(as_text=True))
    assert shown is not None and len(shown.group(1)) == opdsearch.QUERY_MAX_LENGTH


def test_search_words_are_folded_and_limited():
    key = opdsearch.SearchKey.of(name="Dinas Kebudayaan Kératon", short_name=None, slug="keraton")
    assert key.words == ("dinas", "kebudayaan", "keraton", "keraton")
    assert opdsearch.query_words("  Dinas   KÉR  ") == ("dinas", "ker")
    assert opdsearch.query_words("a " * 20) == ("a",) * opdsearch.QUERY_MAX_WORDS
    assert key.matches(("ker",)) and not key.matches(("era",))
    # Inside a run-together short name only from three letters on.
    capil = opdsearch.SearchKey.of(name="Dinas X", short_name="Disdukcapil", slug="dx")
    assert capil.matches(("dukcapil",)) and capil.matches(("cap",)) and not capil.matches(("uk",))


def test_each_opd_links_to_its_survey_page_without_script(app, session, clock):
    make_wave(session, multi=False)
    response = Citizen(app, clock).get(f"/s/{WAVE}")
    page = parse(response)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.scripts == 0 and "<script" not in html and "<img" not in html
    assert "script-src 'none'" in response.headers["Content-Security-Policy"]
    assert (f"/s/{WAVE}/disdukcapil", "Dinas Kependudukan dan Pencatatan Sipil") in page.links
    # One stylesheet, and it exists.
    [sheet] = page.stylesheets
    with app.app_context():
        served = app.test_client().get(sheet)
        assert served.status_code == 200 and b".opd-list" in served.get_data()
        served.close()
    # Plain links: no checkboxes where the wave takes one OPD at a time.
    assert page.checkboxes == []


def test_unknown_draft_closed_and_early_waves(app, session, clock):
    client = Citizen(app, clock)
    assert client.get("/s/tidak-ada").status_code == 404
    make_wave(session, status="draft")
    assert client.get(f"/s/{WAVE}").status_code == 404
    set_wave_status(session, slug=WAVE, status="open")
    assert client.get(f"/s/{WAVE}").status_code == 200
    set_wave_status(session, slug=WAVE, status="closed")
    closed = client.get(f"/s/{WAVE}")
    assert closed.status_code == 410
    assert "Survei sudah ditutup" in closed.get_data(as_text=True)


def test_before_the_period_the_page_says_when(app, session, clock):
    from datetime import date

    make_wave(session, period_start=date(2099, 1, 1), period_end=date(2099, 1, 31))
    response = Citizen(app, clock).get(f"/s/{WAVE}")
    assert response.status_code == 403
    assert "1 Januari 2099" in response.get_data(as_text=True)


# --- Sittings --------------------------------------------------------------------------------


def test_a_sitting_stores_one_response_per_opd_with_one_profile_and_sitting(app, session, clock):
    make_wave(session)
    citizen = Citizen(app, clock)
    page = citizen.get(f"/s/{WAVE}")
    assert set(parse(page).checkboxes) == {slug for slug, _n, _s in OPDS}
    hidden = citizen.open_sitting("rsud", "dinkes", "bpbd")
    answers = {
        "rsud": {"U1": "4", "U2": "3", "comment": "Antrean cepat"},
        "dinkes": {"U1": "2"},
        "bpbd": {"U3": "1", "U9": "0"},
    }
    response = citizen.sit(answers, hidden=hidden)
    assert response.status_code == 303, response.get_data(as_text=True)
    rows = stored(session)
    assert len(rows) == 3
    ids = opd_ids(app)
    by_opd = {row.opd_id: row for row in rows}
    assert set(by_opd) == {ids["rsud"], ids["dinkes"], ids["bpbd"]}
    for row in rows:
        assert (row.sex, row.age, row.education, row.occupation) == ("P", 34, "S1", "Wirausaha")
        assert row.status == "counted" and row.channel == "qr" and row.seconds == 10
    [sitting] = {row.sitting for row in rows}
    [token] = [value for name, value in hidden if name == "token"]
    base = antiabuse._serializer  # the token's random id, read as the server reads it
    with app.test_request_context():
        payload = base("ikm-sitting-token").loads(token)
    assert sitting == sittings.sitting_id(payload[2]) and len(sitting) == 32
    assert sorted(payload[1]) == sorted([ids["rsud"], ids["dinkes"], ids["bpbd"]])
    assert {row.submission_id for row in rows} == {
        sittings.submission_id(payload[2], ids[slug]) for slug in answers
    }
    assert (by_opd[ids["rsud"]].a1, by_opd[ids["rsud"]].a2) == (4, 3)
    assert by_opd[ids["rsud"]].comment == "Antrean cepat"
    assert by_opd[ids["dinkes"]].answers() == {**dict.fromkeys(range(1, 25)), 1: 2}
    assert (by_opd[ids["bpbd"]].a3, by_opd[ids["bpbd"]].a9) == (1, 0)
    # The thank-you page names the three OPDs.
    thanks = citizen.get(response.headers["Location"])
    html = thanks.get_data(as_text=True)
    assert thanks.status_code == 200 and "Terima kasih!" in html
    listed = re.search(r'<ul id="tersimpan">(.*?)</ul>', html, re.S)
    assert listed is not None
    assert re.findall(r"<li>(.*?)</li>", listed.group(1)) == [
        "Badan Penanggulangan Bencana Daerah",
        "Dinas Kesehatan",
        "Rumah Sakit Umum Daerah",
    ]
    assert "tidak-tersimpan" not in html
    # The same POST again (a double tap, a replay) stores nothing new.
    again = citizen.sit(answers, hidden=hidden)
    assert again.status_code == 303
    assert [(r.id, r.submission_id) for r in stored(session)] == [
        (r.id, r.submission_id) for r in rows
    ]


def test_each_opd_of_a_sitting_is_remembered_on_the_device(app, session, clock):
    make_wave(session)
    citizen = Citizen(app, clock)
    assert citizen.sit({"rsud": fours("U1"), "dinkes": fours("U1")}).status_code == 303
    # The same browser answers RSUD again on its own page: a repeat device.
    from survey_helpers import SurveyActions

    single = SurveyActions(app, clock, client=citizen.client, wave=WAVE, opd="rsud")
    assert single.submit().status_code == 303
    # And a second sitting over Dinkes and Dishub: Dinkes repeats, Dishub does not.
    assert citizen.sit({"dinkes": fours("U2"), "dishub": fours("U2")}).status_code == 303
    ids = opd_ids(app)
    flags = [(row.opd_id, row.status, row.flag_reason) for row in stored(session)]
    assert flags[2:] == [
        (ids["rsud"], "flagged", "duplicate-device"),
        (ids["dinkes"], "flagged", "duplicate-device"),
        (ids["dishub"], "counted", None),
    ]


def test_a_fast_or_honeypot_sitting_is_flagged_for_every_opd(app, session, clock):
    make_wave(session)
    citizen = Citizen(app, clock)
    citizen.sit({"rsud": fours("U1"), "dinkes": fours("U1")}, wait=1.0)
    assert [(r.status, r.flag_reason) for r in stored(session)] == [
        ("flagged", "bot-suspect"),
        ("flagged", "bot-suspect"),
    ]


def test_a_wave_without_sittings_refuses_them(app, session, clock):
    make_wave(session, multi=False)
    citizen = Citizen(app, clock)
    chosen = citizen.get(f"/s/{WAVE}?opd=rsud&opd=dinkes")
    assert chosen.status_code == 400
    assert "Survei ini menilai satu OPD setiap kali" in chosen.get_data(as_text=True)
    # One OPD chosen is simply its survey page.
    one = citizen.get(f"/s/{WAVE}?opd=rsud")
    assert (one.status_code, one.headers["Location"]) == (303, f"/s/{WAVE}/rsud")
    # A sitting form shown while the wave allowed them, sent after it stopped: nothing stored.
    set_multi(session, True)
    hidden = citizen.open_sitting("rsud", "dinkes")
    set_multi(session, False)
    refused = citizen.sit({"rsud": fours("U1"), "dinkes": fours("U1")}, hidden=hidden)
    assert refused.status_code == 400
    assert "Survei ini menilai satu OPD setiap kali" in refused.get_data(as_text=True)
    assert stored(session) == []


def test_a_wave_requiring_visit_codes_offers_no_sittings(app, session, clock):
    make_wave(session, multi=True)
    wave = waves.find_wave(session, slug=WAVE)
    settings = waves.current_settings(session, wave=wave)
    waves.update_wave(
        session,
        wave=wave,
        settings=dataclasses.replace(settings, verification="required"),
        actor=None,
    )
    citizen = Citizen(app, clock)
    assert parse(citizen.get(f"/s/{WAVE}")).checkboxes == []
    assert citizen.get(f"/s/{WAVE}?opd=rsud&opd=dinkes").status_code == 400


def test_more_than_five_opds_are_refused_on_the_server(app, session, clock):
    make_wave(session)
    citizen = Citizen(app, clock)
    six = [slug for slug, _n, _s in OPDS]
    query = "&".join(f"opd={slug}" for slug in six)
    response = citizen.get(f"/s/{WAVE}?{query}")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Pilih paling banyak 5 OPD sekaligus; Anda memilih 6." in html
    # The ticks are kept for the citizen to remove one.
    assert html.count(" checked>") == 6
    # A POST that names six (a form of five with one more added) stores nothing.
    hidden = citizen.open_sitting(*six[:5])
    answers = {slug: fours("U1") for slug in six}
    forged = citizen.sit(answers, hidden=[*hidden, ("opd", six[5])])
    assert forged.status_code == 400
    assert "Pilih paling banyak 5 OPD sekaligus" in forged.get_data(as_text=True)
    assert stored(session) == []


def test_forged_opds_store_nothing_for_them_and_the_page_says_so(app, session, clock):
    make_wave(session, slugs=["rsud", "dinkes", "dishub"])
    citizen = Citizen(app, clock)
    # Choosing an OPD outside the wave (it exists, but this wave does not cover it).
    assert citizen.get(f"/s/{WAVE}?opd=rsud&opd=bpbd").status_code == 400
    # A form for RSUD and Dinkes sent with BPBD (not covered) and a made-up slug added.
    hidden = citizen.open_sitting("rsud", "dinkes")
    hidden += [("opd", "bpbd"), ("opd", "tidak-ada")]
    response = citizen.sit({"rsud": fours("U1"), "dinkes": fours("U1")}, hidden=hidden)
    assert response.status_code == 303
    ids = opd_ids(app)
    assert sorted(row.opd_id for row in stored(session)) == sorted([ids["rsud"], ids["dinkes"]])
    html = citizen.get(response.headers["Location"]).get_data(as_text=True)
    assert "Sebagian pilihan bukan OPD survei ini; jawabannya tidak disimpan." in html
    # An OPD of the wave added to a form shown without it: the token does not cover it,
    # so nothing at all is stored and the form comes back with a fresh token.
    hidden = citizen.open_sitting("rsud", "dinkes")
    before = len(stored(session))
    added = citizen.sit(
        {"rsud": fours("U2"), "dinkes": fours("U2"), "dishub": fours("U2")},
        hidden=[*hidden, ("opd", "dishub")],
    )
    assert added.status_code == 400
    assert len(stored(session)) == before


def test_an_unanswered_section_is_an_error_and_nothing_is_stored(app, session, clock):
    make_wave(session)
    citizen = Citizen(app, clock)
    hidden = citizen.open_sitting("rsud", "dinkes")
    answers = {"rsud": fours("U1"), "dinkes": {"comment": "hanya komentar"}}
    response = citizen.sit(answers, hidden=hidden)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    ids = opd_ids(app)
    assert f'<a href="#s{ids["dinkes"]}">Dinkes: Jawablah paling sedikit satu pertanyaan' in html
    assert f'id="s{ids["rsud"]}-q-U1"' in html and "hanya komentar" in html
    assert stored(session) == []
    # The answers are kept: the form comes back with RSUD's answer checked.
    assert f'name="o{ids["rsud"]}-U1" value="4" checked' in html


def test_an_opd_refused_by_its_limit_is_named_and_the_others_stored(
    app, session, clock, monkeypatch
):
    make_wave(session)
    ids = opd_ids(app)
    real = antiabuse.count_submission

    def count(session_: Session, **kwargs: Any) -> limits.Outcome:
        if kwargs["opd_id"] == ids["dinkes"]:
            return limits.Outcome(refused=True, retry_after=60)
        return real(session_, **kwargs)

    monkeypatch.setattr(antiabuse, "count_submission", count)
    citizen = Citizen(app, clock)
    response = citizen.sit({"rsud": fours("U1"), "dinkes": fours("U1")})
    assert response.status_code == 303
    assert [row.opd_id for row in stored(session)] == [ids["rsud"]]
    html = citizen.get(response.headers["Location"]).get_data(as_text=True)
    assert "<li>Rumah Sakit Umum Daerah</li>" in html
    assert "Dinas Kesehatan: terlalu banyak kiriman dari jaringan Anda untuk OPD ini" in html
    assert f'href="/s/{WAVE}/dinkes"' in html
    # Every OPD refused: 429, nothing stored.
    monkeypatch.setattr(
        antiabuse, "count_submission", lambda _s, **_k: limits.Outcome(refused=True, retry_after=9)
    )
    again = citizen.sit({"rsud": fours("U2"), "dinkes": fours("U2")})
    assert again.status_code == 429 and again.headers["Retry-After"] == "9"
    assert len(stored(session)) == 1


def test_an_opd_taken_off_the_wave_meanwhile_is_named_not_stored(app, session, clock):
    make_wave(session)
    citizen = Citizen(app, clock)
    hidden = citizen.open_sitting("rsud", "dinkes")
    ids = opd_ids(app)
    # Another app server takes Dinkes off the wave: this process's short cache still lists it,
    # and the INSERT's own check refuses it.
    session.connection().execute(
        sa.text("DELETE FROM waveopd WHERE opd_id = :opd"), {"opd": ids["dinkes"]}
    )
    session.commit()
    response = citizen.sit({"rsud": fours("U1"), "dinkes": fours("U1")}, hidden=hidden)
    assert response.status_code == 303
    assert [row.opd_id for row in stored(session)] == [ids["rsud"]]
    html = citizen.get(response.headers["Location"]).get_data(as_text=True)
    assert "Dinas Kesehatan: OPD ini tidak lagi menerima jawaban dalam survei ini." in html
    # Taken off through the wave service in this process: the page's list no longer has it,
    # and the thanks still name it, as the form was shown for it.
    hidden = citizen.open_sitting("rsud", "dishub")
    wave = waves.find_wave(session, slug=WAVE)
    current = waves.current_settings(session, wave=wave)
    kept = tuple(slug for slug in current.opd_slugs if slug not in ("dishub", "dinkes"))
    waves.update_wave(
        session,
        wave=wave,
        settings=dataclasses.replace(current, opd_slugs=kept),
        actor=None,
    )
    response = citizen.sit({"rsud": fours("U2"), "dishub": fours("U2")}, hidden=hidden)
    assert response.status_code == 303
    assert [row.opd_id for row in stored(session)] == [ids["rsud"], ids["rsud"]]
    html = citizen.get(response.headers["Location"]).get_data(as_text=True)
    assert "Dinas Perhubungan: OPD ini tidak lagi menerima jawaban dalam survei ini." in html
    assert "bukan OPD survei ini" not in html


def test_a_sitting_sent_after_the_wave_closed_stores_nothing(app, session, clock):
    make_wave(session)
    citizen = Citizen(app, clock)
    hidden = citizen.open_sitting("rsud", "dinkes")
    set_wave_status(session, slug=WAVE, status="closed")
    response = citizen.sit({"rsud": fours("U1"), "dinkes": fours("U1")}, hidden=hidden)
    assert response.status_code == 410
    assert stored(session) == []


def test_a_forged_or_foreign_token_stores_nothing(app, session, clock):
    make_wave(session)
    citizen = Citizen(app, clock)
    hidden = [(n, v) for n, v in citizen.open_sitting("rsud", "dinkes") if n != "token"]
    with app.test_request_context():
        single = antiabuse.issue_token(wave_id=1, opd_id=opd_ids(app)["rsud"])
    for token in ("", "x" * 40, single):
        response = citizen.sit(
            {"rsud": fours("U1"), "dinkes": fours("U1")}, hidden=[*hidden, ("token", token)]
        )
        assert response.status_code == 400
        assert "Sesi Anda kedaluwarsa" in response.get_data(as_text=True)
    assert stored(session) == []


def test_the_sitting_form_has_unique_ids_and_a_legend_per_question(app, session, clock):
    make_wave(session)
    response = Citizen(app, clock).get(f"/s/{WAVE}?opd=rsud&opd=dinkes&opd=bpbd")
    html = response.get_data(as_text=True)
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))
    assert html.count("<legend>") == 1 + 1 + 3 * 9  # about you, sex, nine per OPD
    assert "<script" not in html
    assert response.headers["Cache-Control"] == "no-store"
    # Services of each OPD that lists them (none here), once the OPD lists one.
    from survey.core import opds as opd_service

    opd_service.add_service(
        session, opd=queries.get_opd(session, slug="rsud"), name="Poli umum", actor=None
    )
    again = Citizen(app, clock).get(f"/s/{WAVE}?opd=rsud&opd=dinkes")
    rsud = opd_ids(app)["rsud"]
    assert f'<select id="s{rsud}-service" name="o{rsud}-service"' in again.get_data(as_text=True)
    dinkes = opd_ids(app)["dinkes"]
    assert f'id="s{dinkes}-service"' not in again.get_data(as_text=True)


# --- Short links --------------------------------------------------------------------------------


def test_short_codes_are_stable_distinct_and_resolve_in_any_case(app, session, clock):
    wave = make_wave(session)
    ids = opd_ids(app)
    wave_code = shortlinks.short_code(session, int(wave.id or 0))
    rsud_code = shortlinks.short_code(session, int(wave.id or 0), ids["rsud"])
    assert shortlinks.short_code(session, int(wave.id or 0)) == wave_code
    assert shortlinks.short_code(session, int(wave.id or 0), ids["rsud"]) == rsud_code
    assert wave_code != rsud_code
    for code in (wave_code, rsud_code):
        assert len(code) == shortlinks.CODE_LENGTH
        assert not set(code) & set("01oOlI") and code == code.lower()
    assert len(session.exec(select(ShortLink)).all()) == 2
    client = Citizen(app, clock)
    assert client.get(f"/l/{wave_code}").headers["Location"] == f"/s/{WAVE}"
    response = client.get(f"/l/{rsud_code.upper()}")
    assert (response.status_code, response.headers["Location"]) == (302, f"/s/{WAVE}/rsud")
    for unknown in ("zzzzzz", "0O1lI0", "a" * 40, "%00"):
        assert client.get(f"/l/{unknown}").status_code == 404, unknown


def test_a_colliding_code_is_drawn_again(app, session, clock, monkeypatch):
    wave = make_wave(session)
    taken = shortlinks.short_code(session, int(wave.id or 0))
    draws = iter([taken, taken, "abcdef"])
    monkeypatch.setattr(shortlinks, "new_code", lambda length=6: next(draws))
    ids = opd_ids(app)
    assert shortlinks.short_code(session, int(wave.id or 0), ids["rsud"]) == "abcdef"
    assert shortlinks.resolve(session, "ABCDEF") == shortlinks.ShortTarget(WAVE, "rsud")


def test_posters_print_the_short_link_and_the_wave_can_still_be_deleted(app, session):
    wave = make_wave(session, status="draft")
    items = posters(session, wave=wave, public_url=PUBLIC)
    by_name = {item.opd_name: item for item in items}
    rsud = by_name["Rumah Sakit Umum Daerah"]
    assert rsud.url == f"{PUBLIC}/s/{WAVE}/rsud"
    host, _l, code = (rsud.short_url or "").partition("/l/")
    assert host == "skm.example.go.id" and len(code) == shortlinks.CODE_LENGTH
    assert shortlinks.resolve(session, code) == shortlinks.ShortTarget(WAVE, "rsud")
    # The same posters again print the same codes.
    assert [p.short_url for p in posters(session, wave=wave, public_url=PUBLIC)] == [
        p.short_url for p in items
    ]
    waves.delete_wave(session, wave=waves.find_wave(session, slug=WAVE))
    session.commit()
    assert session.exec(select(ShortLink)).all() == []


# --- Sharing and link previews ------------------------------------------------------------------


def test_link_preview_tags_use_the_public_address(app, session, clock):
    from datetime import date

    make_wave(session, period_start=date(2000, 1, 1), period_end=date(2099, 12, 31))
    citizen = Citizen(app, clock)
    # Asked through an internal address: the tags still name the public one.
    wave_meta = parse(citizen.get(f"/s/{WAVE}", base_url="http://10.0.0.5:8000")).meta
    description = (
        "Evaluasi 100 Hari · DPD KNPI Kota Serang · 1 Januari 2000 – 31 Desember 2099. "
        "Pilih OPD yang Anda kunjungi dan beri penilaian: anonim, sekitar satu menit."
    )
    assert wave_meta == {
        "viewport": "width=device-width, initial-scale=1",
        "og:type": "website",
        "og:site_name": "Survei Kepuasan Masyarakat",
        "og:title": "Evaluasi 100 Hari",
        "og:description": description,
        "og:url": f"{PUBLIC}/s/{WAVE}",
        "og:locale": "id_ID",
        "og:locale:alternate": "en_US",
        "twitter:card": "summary",
        "twitter:title": "Evaluasi 100 Hari",
        "twitter:description": description,
    }
    opd_meta = parse(citizen.get(f"/s/{WAVE}/rsud", base_url="http://10.0.0.5:8000")).meta
    assert opd_meta["og:url"] == f"{PUBLIC}/s/{WAVE}/rsud"
    assert opd_meta["og:title"] == "Rumah Sakit Umum Daerah · Evaluasi 100 Hari"
    assert opd_meta["og:description"].endswith(
        "Beri penilaian atas pelayanan Rumah Sakit Umum Daerah: anonim, sekitar satu menit."
    )
    english = parse(citizen.get(f"/s/{WAVE}?lang=en")).meta
    assert english["og:locale"] == "en_US"


def test_the_share_block_carries_the_short_address_to_whatsapp(app, session, clock):
    wave = make_wave(session)
    citizen = Citizen(app, clock)
    page = parse(citizen.get(f"/s/{WAVE}"))
    code = shortlinks.short_code(session, int(wave.id or 0))
    short = f"{PUBLIC}/l/{code}"
    assert (short, f"skm.example.go.id/l/{code}") in page.links
    [whatsapp] = [href for href, _t in page.links if href.startswith("https://wa.me/")]
    message = (
        f"Isi survei kepuasan masyarakat Evaluasi 100 Hari. Pilih OPD yang Anda kunjungi: {short}"
    )
    assert whatsapp == "https://wa.me/?text=" + quote(message, safe="")
    assert parse_qs(urlsplit(whatsapp).query) == {"text": [message]}
    assert "%20" in whatsapp and " " not in whatsapp and "%3A%2F%2F" in whatsapp
    # An OPD's thank-you page shares that OPD's own short address.
    from survey_helpers import SurveyActions

    single = SurveyActions(app, clock, wave=WAVE, opd="rsud")
    thanks = single.get(single.submit().headers["Location"])
    rsud_code = shortlinks.short_code(session, int(wave.id or 0), opd_ids(app)["rsud"])
    links = parse(thanks).links
    assert (f"{PUBLIC}/l/{rsud_code}", f"skm.example.go.id/l/{rsud_code}") in links
    [opd_share] = [href for href, _t in links if href.startswith("https://wa.me/")]
    assert parse_qs(urlsplit(opd_share).query)["text"] == [
        "Isi survei kepuasan masyarakat untuk Rumah Sakit Umum Daerah (Evaluasi 100 Hari): "
        f"{PUBLIC}/l/{rsud_code}"
    ]


# --- Anonymity ----------------------------------------------------------------------------------


def test_the_sitting_id_never_leaves_in_an_export(app, session, clock):
    wave = make_wave(session)
    citizen = Citizen(app, clock)
    assert citizen.sit({"rsud": fours("U1", "U2"), "dinkes": fours("U1", "U2")}).status_code == 303
    [sitting] = {row.sitting for row in stored(session)}
    assert sitting
    # Enough counted answers for every OPD to publish.
    for slug, _n, _s in OPDS:
        add_responses(session, wave, slug, [[4, 3, 4, 3, 4, 3, 4, 3, 4]] * 5, sex="L", age=40)
    for fmt in ("csv", "xlsx", "json"):
        data, _count = exports.export_file(session, wave=wave, fmt=fmt)
        assert sitting.encode() not in data and b"sitting" not in data, fmt
    set_wave_status(session, slug=WAVE, status="published")
    wave = waves.find_wave(session, slug=WAVE)
    archive = exports.open_data_zip(session, wave=wave)
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        for name in opened.namelist():
            content = opened.read(name)
            assert sitting.encode() not in content and b"sitting" not in content, name
    assert stored(session)[0].sitting == sitting  # still in the database for the evaluator


# --- The wave setting ---------------------------------------------------------------------------


def test_the_evaluator_switches_sittings_on_the_wave_form(app, session, users, clock):
    from auth_helpers import login

    make_wave(session, multi=False)
    client = login(app.test_client(), "eva")
    with app.app_context():
        form = client.get(f"/kerja/gelombang/{WAVE}/ubah")
    html = form.get_data(as_text=True)
    assert 'name="multi_opd" value="1" aria-describedby' in html  # shown, not ticked
    data = MultiDict(_form_values(html))
    data["multi_opd"] = "1"
    with app.app_context():
        saved = client.post(f"/kerja/gelombang/{WAVE}/ubah", data=data)
    assert saved.status_code == 303, saved.get_data(as_text=True)[:2000]
    session.expire_all()
    assert waves.find_wave(session, slug=WAVE).multi_opd is True
    entry = session.exec(
        select(AuditLog).where(AuditLog.action == "wave.update").order_by(AuditLog.id.desc())
    ).first()
    assert entry is not None and entry.actor == "eva"
    assert (entry.detail["before"], entry.detail["after"]) == (
        {"multi_opd": False},
        {"multi_opd": True},
    )
    # Unticked again: off.
    del data["multi_opd"]
    with app.app_context():
        client.post(f"/kerja/gelombang/{WAVE}/ubah", data=data)
    session.expire_all()
    assert waves.find_wave(session, slug=WAVE).multi_opd is False


def _form_values(html: str) -> list[tuple[str, str]]:
    """Return what a browser sends from the wave form as shown (inputs, checked boxes, selects)."""
    values: list[tuple[str, str]] = []
    for tag in re.findall(r"<input[^>]*>", html):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        kind = re.search(r'type="([^"]*)"', tag)
        if name is None:
            continue
        if kind and kind.group(1) in ("checkbox", "radio") and " checked" not in tag:
            continue
        values.append((name.group(1), value.group(1) if value else ""))
    for name, body in re.findall(r'<select[^>]*name="([^"]*)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', body)
        values.append((name, chosen.group(1) if chosen else ""))
    return [(n, v.replace("&amp;", "&")) for n, v in values]


def test_the_cli_creates_and_edits_the_setting(app, session, runner):
    for slug, name, short in OPDS[:2]:
        add_opd(session, slug=slug, name=name, short_name=short)
    created = runner.invoke(
        args=["wave", "create", "--slug", "cli-wave", "--title", "CLI", "--multi-opd"]
    )
    assert created.exit_code == 0, created.output
    session.expire_all()
    assert waves.find_wave(session, slug="cli-wave").multi_opd is True
    edited = runner.invoke(args=["wave", "edit", "cli-wave", "--single-opd"])
    assert edited.exit_code == 0 and "changed" in edited.output
    session.expire_all()
    assert waves.find_wave(session, slug="cli-wave").multi_opd is False
    unchanged = runner.invoke(args=["wave", "edit", "cli-wave", "--title", "CLI 2"])
    assert unchanged.exit_code == 0
    session.expire_all()
    assert waves.find_wave(session, slug="cli-wave").multi_opd is False
    plain = runner.invoke(args=["wave", "create", "--slug", "cli-two", "--title", "Dua"])
    assert plain.exit_code == 0
    session.expire_all()
    assert waves.find_wave(session, slug="cli-two").multi_opd is False


def test_a_sitting_counts_as_separate_respondents_in_scores(app, session, clock):
    make_wave(session)
    citizen = Citizen(app, clock)
    citizen.sit({"rsud": fours(*[f"U{i}" for i in range(1, 10)]), "dinkes": fours("U1")})
    counts = waves.response_counts_by_opd(session, wave=waves.find_wave(session, slug=WAVE))
    ids = opd_ids(app)
    assert counts == {ids["rsud"]: 1, ids["dinkes"]: 1}
    assert session.exec(select(Response.sitting).distinct()).all() != [None]

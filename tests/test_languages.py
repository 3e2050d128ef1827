"""Questionnaires in further languages (Basa Sunda in the example), on both backends.

The file carries the texts per language; they are checked (each problem named with its
place), stored with the questionnaire (and part of its identity), offered on the survey page
by their own names, and shown to the citizen who picks one, with the interface around them in
Indonesian. Answers are stored as any others, and reports and exports keep the regulation's
Indonesian labels.
"""

from __future__ import annotations

import io
import re

import pytest
from field_helpers import (
    SLUG,
    SUNDA,
    U1_ID,
    U1_SU,
    as_yaml,
    open_sunda_wave,
    problems_of,
    store,
    sunda,
)
from pypdf import PdfReader
from sqlmodel import Session, select
from survey_helpers import SurveyActions, add_responses, install_clock, stored

from survey.core import locales, queries
from survey.core.models import AuditLog, Element, Questionnaire
from survey.core.questionnaires import (
    load_questionnaire_file,
    safe_yaml,
)


@pytest.fixture
def sunda_wave(session: Session):
    """An open wave asking the Basa Sunda questionnaire at bpbd."""
    return open_sunda_wave(session)


def citizen(app, monkeypatch) -> SurveyActions:
    """A citizen with a fresh browser on the Basa Sunda wave."""
    return SurveyActions(app, install_clock(monkeypatch), wave="sunda-2026")


# --- The file --------------------------------------------------------------------------------


def test_the_example_loads_with_sundanese_texts() -> None:
    spec = load_questionnaire_file(SUNDA.read_bytes(), SUNDA.name)
    assert spec.slug == SLUG
    assert spec.texts == {"su": {"title": "Survéy Kasugemaan Masarakat (PermenPANRB 14/2017)"}}
    assert [e.code for e in spec.elements] == [f"U{i}" for i in range(1, 10)]
    assert spec.elements[0].texts == {
        "su": {
            "name": "Sarat-sarat",
            "question": U1_SU,
            "labels": ["Teu saluyu", "Kirang saluyu", "Saluyu", "Saluyu pisan"],
        }
    }
    assert spec.elements[8].texts["su"]["not_applicable"] == "Teu acan kantos ngadugikeun pangaduan"
    # The Indonesian texts are the built-in questionnaire's, untouched.
    assert spec.elements[0].question_id == U1_ID
    assert spec.elements[0].labels_id == (
        "Tidak sesuai",
        "Kurang sesuai",
        "Sesuai",
        "Sangat sesuai",
    )


def test_yaml_no_is_a_language_code_not_false() -> None:
    """YAML 1.1 reads an unquoted no as false; the loader keeps it Norwegian's code."""
    assert safe_yaml("no: 1\nyes: 2\non: 3\noff: 4\nt: true\nf: false\n") == {
        "no": 1,
        "yes": 2,
        "on": 3,
        "off": 4,
        "t": True,
        "f": False,
    }
    text = SUNDA.read_text(encoding="utf-8").replace("      su:\n", "      no:\n")
    text = text.replace("  su:\n    title:", "  no:\n    title:")
    spec = load_questionnaire_file(text.encode(), "norsk.yaml")
    assert set(spec.texts) == {"no"} and all(set(e.texts) == {"no"} for e in spec.elements)


def test_every_language_problem_is_listed_with_its_path() -> None:
    data = sunda()
    data["texts"] = {"xx": {"title": "?"}, "id": {"title": "Judul"}}
    data["elements"][0]["texts"]["su"]["labels"] = ["Teu saluyu", "Saluyu"]
    data["elements"][1]["texts"]["su"]["question"] = "x" * 501
    data["elements"][2]["texts"]["su"]["sora"] = "?"
    data["elements"][3]["texts"]["su"]["not_applicable"] = "Teu kantos"
    del data["elements"][4]["texts"]
    data["elements"][5]["texts"] = ["su"]
    data["elements"][6]["texts"]["su"] = {}
    data["elements"][7]["texts"]["en"] = {"question": "How?"}
    data["elements"][7]["texts"][True] = {"question": "?"}
    assert problems_of(data) == [
        "elements[0].texts.su.labels: 2 labels, scale_points is 4",
        "elements[1].texts.su.question: 501 characters; at most 500",
        "elements[2].texts.su.sora: unknown key",
        "elements[3].texts.su.not_applicable: the element offers no not_applicable_id to translate",
        "elements[5].texts: must be a mapping from a language code (such as su) to its texts",
        "elements[6].texts.su: must be a mapping with some of the keys name, question, labels, "
        "not_applicable",
        "elements[7].texts.en: Indonesian and English have their own keys (title_id, title_en, "
        "name_id, question_id, labels_id, ...); texts are for further languages",
        "elements[7].texts.True: True is not a language code Babel knows (such as su or jv)",
        "texts.xx: 'xx' is not a language code Babel knows (such as su or jv)",
        "texts.id: Indonesian and English have their own keys (title_id, title_en, name_id, "
        "question_id, labels_id, ...); texts are for further languages",
        "elements[4].texts: no texts in su; every element needs them, as elements[0] has",
        "elements[5].texts: no texts in su; every element needs them, as elements[0] has",
        "elements[6].texts: no texts in su; every element needs them, as elements[0] has",
    ]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("sunda", "'sunda' is not a language code Babel knows (such as su or jv)"),
        ("su-ID", "'su-ID' is not a language code Babel knows (such as su or jv)"),
        ("SU", "'SU' is not a language code Babel knows (such as su or jv)"),
        ("<b>", "'<b>' is not a language code Babel knows (such as su or jv)"),
        (
            "en_US",
            "Indonesian and English have their own keys (title_id, title_en, name_id, "
            "question_id, labels_id, ...); texts are for further languages",
        ),
    ],
)
def test_language_codes_are_checked(code: str, expected: str) -> None:
    data = sunda()
    data["texts"] = {code: {"title": "Judul"}}
    for element in data["elements"]:
        element["texts"] = {code: element["texts"]["su"]}
    # A refused code is not demanded of every element as well: one problem per place.
    found = problems_of(data)
    assert found == [f"elements[{i}].texts.{code}: {expected}" for i in range(9)] + [
        f"texts.{code}: {expected}"
    ]


def test_a_language_only_in_the_title_must_cover_every_element() -> None:
    data = sunda()
    data["texts"]["jv"] = {"title": "Survei Kepuasan Masyarakat"}
    found = problems_of(data)
    assert found == [
        f"elements[{i}].texts: no texts in jv; every element needs them, as texts has"
        for i in range(9)
    ]


def test_too_many_languages() -> None:
    data = sunda()
    codes = ["su", "jv", "ms", "nl", "de", "fr", "ja", "ko", "zh", "ar", "es"]
    data["texts"] = {code: {"title": "T"} for code in codes}
    for element in data["elements"]:
        element["texts"] = {code: {"question": "Q?"} for code in codes}
    found = problems_of(data)
    assert found[0] == "elements[0].texts: 11 languages; at most 10"
    assert found[-1] == "texts: 11 languages; at most 10"
    assert len(found) == 10


def test_upload_lists_language_problems_in_indonesian(client, session, users) -> None:
    from auth_helpers import CSRF_RE, login

    login(client, "eva")
    form = client.get("/kerja/kuesioner").get_data(as_text=True)
    token = CSRF_RE.search(form)
    assert token is not None
    data = sunda()
    del data["elements"][2]["texts"]
    response = client.post(
        "/kerja/kuesioner",
        data={"csrf_token": token.group(1), "file": (io.BytesIO(as_yaml(data)), "q.yaml")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert (
        "elements[2].texts: tidak ada teks dalam bahasa su; setiap elemen memerlukannya, "
        "seperti texts." in html
    )
    assert session.exec(select(Questionnaire).where(Questionnaire.slug == SLUG)).first() is None


# --- Storing ---------------------------------------------------------------------------------


def test_texts_are_stored_and_part_of_the_identity(session: Session) -> None:
    first = store(session)
    assert (first.slug, first.version) == (SLUG, 1)
    assert first.texts == {"su": {"title": "Survéy Kasugemaan Masarakat (PermenPANRB 14/2017)"}}
    assert locales.offered_locales(first) == ("id", "en", "su")
    items = queries.elements(session, questionnaire_id=int(first.id or 0))
    assert items[3].texts == {
        "su": {
            "name": "Biaya/Tarif",
            "question": "Kumaha pamadegan Saderek ngeunaan pantesna biaya/tarif dina palayanan?",
            "labels": ["Awis pisan", "Lumayan awis", "Mirah", "Gratis"],
        }
    }
    # The same file again adds nothing; only a translation changed is a new version.
    assert store(session).id == first.id
    data = sunda()
    data["elements"][3]["texts"]["su"]["labels"][1] = "Rada awis"
    second = store(session, data)
    assert (second.slug, second.version) == (SLUG, 2)
    # Key order in the file does not make a new version.
    data = sunda()
    data["elements"][0]["texts"]["su"] = dict(reversed(data["elements"][0]["texts"]["su"].items()))
    assert store(session, data).id == first.id
    entries = session.exec(
        select(AuditLog).where(AuditLog.action == "questionnaire.create").order_by(AuditLog.id)
    ).all()
    assert [(e.detail["version"], e.detail["languages"]) for e in entries] == [
        (1, ["su"]),
        (2, ["su"]),
    ]
    session.expire_all()
    rows = session.exec(select(Element).where(Element.questionnaire_id == second.id)).all()
    assert sorted(r.texts["su"]["labels"][1] for r in rows if r.code == "U4") == ["Rada awis"]


def test_builtin_questionnaire_offers_only_indonesian_and_english(session: Session) -> None:
    builtin = session.exec(select(Questionnaire).where(Questionnaire.builtin)).one()
    assert locales.offered_locales(builtin) == ("id", "en")
    assert locales.stored_locales(session) == frozenset()
    store(session)
    assert locales.stored_locales(session) == frozenset({"su"})
    assert locales.names(("id", "en", "su", "jv")) == [
        ("id", "Bahasa Indonesia"),
        ("en", "English"),
        ("su", "Basa Sunda"),
        ("jv", "Jawa"),
    ]


# --- The citizen's page ----------------------------------------------------------------------


def test_survey_page_in_basa_sunda(app, session, sunda_wave, monkeypatch) -> None:
    visitor = citizen(app, monkeypatch)
    page = visitor.open("?lang=su")
    assert page.response.status_code == 200
    html = page.html
    # The page and its chrome are Indonesian (no catalog for su), the questions Sundanese.
    assert '<html lang="id">' in html
    assert "Kirim jawaban" in html and "Tentang Anda (boleh dikosongkan)" in html
    assert f'<fieldset class="q" id="q-U1" lang="su">\n<legend>1. {U1_SU}</legend>' in html
    assert U1_ID not in html
    assert 'value="4">Saluyu pisan</label>' in html
    assert 'value="1">Awis pisan</label>' in html
    assert 'value="0">Teu acan kantos ngadugikeun pangaduan</label>' in html
    assert html.count(' lang="su"') == 9  # the nine questions; the switch leaves su out
    # The switch offers the others, each by its own name.
    assert '<a href="/s/sunda-2026/bpbd?lang=id" lang="id" hreflang="id">Bahasa Indonesia</a>' in (
        html
    )
    assert '<a href="/s/sunda-2026/bpbd?lang=en" lang="en" hreflang="en">English</a>' in html
    assert "Basa Sunda</a>" not in html
    # The form posts back in the same language, and the choice is remembered.
    assert 'action="/s/sunda-2026/bpbd?lang=su"' in html
    cookie = visitor.client.get_cookie("lang")
    assert cookie is not None and cookie.value == "su"
    again = visitor.open().html
    assert U1_SU in again
    # Indonesian and English pages offer Basa Sunda by name.
    indonesian = visitor.open("?lang=id").html
    assert U1_ID in indonesian and 'lang="su"' in indonesian
    assert '<a href="/s/sunda-2026/bpbd?lang=su" lang="su" hreflang="su">Basa Sunda</a>' in (
        indonesian
    )
    english = visitor.open("?lang=en").html
    assert '<html lang="en">' in english and "Send answers" in english
    assert "How well did the requirements fit the service you received?" in english


def test_answers_in_basa_sunda_are_stored_as_any_other(app, session, sunda_wave, monkeypatch):
    visitor = citizen(app, monkeypatch)
    answers = {f"U{i}": str(1 + i % 4) for i in range(1, 10)}
    answers["U9"] = "0"
    response = visitor.post(answers, query="?lang=su")
    assert response.status_code == 303
    assert response.headers["Location"] == "/s/sunda-2026/bpbd/terima-kasih?lang=su"
    [row] = stored(session)
    assert [getattr(row, f"a{i}") for i in range(1, 10)] == [2, 3, 4, 1, 2, 3, 4, 1, 0]
    thanks = visitor.get(response.headers["Location"])
    assert thanks.status_code == 200
    assert '<html lang="id">' in thanks.get_data(as_text=True)


def test_a_refused_answer_keeps_the_language_and_marks_the_error(
    app, session, sunda_wave, monkeypatch
) -> None:
    visitor = citizen(app, monkeypatch)
    response = visitor.post({"U1": "7"}, query="?lang=su")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert U1_SU in html
    # The error is the interface's (Indonesian) inside a Sundanese question.
    assert '<p class="err" id="e-U1" lang="id">Pilih salah satu dari 4 jawaban.</p>' in html
    assert stored(session) == []


def test_a_text_left_out_falls_back_to_indonesian(app, session, monkeypatch) -> None:
    data = sunda()
    del data["elements"][0]["texts"]["su"]["labels"]
    del data["elements"][1]["texts"]["su"]["question"]
    del data["elements"][8]["texts"]["su"]["not_applicable"]
    open_sunda_wave(session, data)
    html = citizen(app, monkeypatch).open("?lang=su").html
    # U1: the Sundanese question, the Indonesian labels (marked so).
    assert f'id="q-U1" lang="su">\n<legend>1. {U1_SU}</legend>' in html
    assert '<label class="opt" lang="id"><input type="radio" name="U1" value="4">Sangat sesuai' in (
        html
    )
    # U2: the Indonesian question (no lang on its fieldset), the Sundanese labels.
    assert (
        '<fieldset class="q" id="q-U2">\n<legend>2. Bagaimana pendapat Saudara tentang '
        "kemudahan prosedur pelayanan di unit ini?</legend>" in html
    )
    assert '<label class="opt" lang="su"><input type="radio" name="U2" value="4">Gampil pisan' in (
        html
    )
    assert (
        '<label class="opt na" lang="id"><input type="radio" name="U9" value="0">Belum pernah '
        "menyampaikan pengaduan</label>" in html
    )


@pytest.mark.parametrize("lang", ["jv", "xx", "su<script>", "SU", "'", "su%0d%0a"])
def test_an_unknown_language_is_ignored(app, session, sunda_wave, monkeypatch, lang) -> None:
    visitor = citizen(app, monkeypatch)
    response = visitor.get(f"/s/sunda-2026/bpbd?lang={lang}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<html lang="id">' in html and U1_ID in html and U1_SU not in html
    assert 'action="/s/sunda-2026/bpbd"' in html
    assert visitor.client.get_cookie("lang") is None
    # Nor does a forged cookie choose it.
    visitor.client.set_cookie("lang", lang)
    assert U1_SU not in visitor.open().html


def test_su_chosen_elsewhere_does_not_change_a_page_without_it(
    app, session, sunda_wave, open_wave, monkeypatch
) -> None:
    """A citizen who chose Basa Sunda sees another wave's built-in questionnaire in Indonesian
    (its interface too), with no Basa Sunda in its switch."""
    visitor = SurveyActions(app, install_clock(monkeypatch))
    visitor.client.set_cookie("lang", "su")
    html = visitor.open().html
    assert '<html lang="id">' in html and U1_ID in html
    assert 'lang="su"' not in html and "Basa Sunda" not in html
    assert '<a href="/s/uji-2026/bpbd?lang=en" lang="en" hreflang="en">English</a>' in html


def test_enumerator_and_kiosk_pages_use_the_same_questions(app, session, sunda_wave) -> None:
    """The field pages build their form through the citizen's one path: the choice holds."""
    from survey.web import citizen as citizen_views

    with app.test_request_context("/s/sunda-2026/bpbd?lang=su"):
        target = citizen_views.find_target("sunda-2026", "bpbd")
        assert citizen_views.question_language(target) == "su"
        form = citizen_views._form_class(target)()
        assert form.questions[0].text == U1_SU and form.questions[0].lang == "su"
    with app.test_request_context("/s/sunda-2026/bpbd?lang=en"):
        target = citizen_views.find_target("sunda-2026", "bpbd")
        form = citizen_views._form_class(target)()
        assert form.questions[0].lang == "en"


# --- Reports and exports ---------------------------------------------------------------------


def pdf_text(data: bytes) -> str:
    """Return the text of every page, whitespace folded."""
    reader = PdfReader(io.BytesIO(data))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


def test_reports_and_exports_keep_the_regulations_indonesian(
    app, runner, session, sunda_wave, monkeypatch, tmp_path
) -> None:
    visitor = citizen(app, monkeypatch)
    assert visitor.post({f"U{i}": "3" for i in range(1, 10)}, query="?lang=su").status_code == 303
    add_responses(session, sunda_wave, "bpbd", [[4] * 9, [3] * 9, [4] * 9, [2] * 9, [3] * 9])
    result = runner.invoke(args=["export", "--wave", "sunda-2026", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "Sarat-sarat" not in result.stdout and "Saluyu" not in result.stdout
    target = tmp_path / "bpbd.pdf"
    result = runner.invoke(
        args=["report", "opd", "--wave", "sunda-2026", "--opd", "bpbd", "-o", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    target = tmp_path / "sunda-2026-bpbd.pdf"
    text = pdf_text(target.read_bytes())
    assert "Persyaratan" in text and "Biaya/Tarif" in text
    for sundanese in ("Sarat-sarat", "Paripolah", "Saluyu", "Kasugemaan", "Saderek"):
        assert sundanese not in text
    result = runner.invoke(args=["score", "--wave", "sunda-2026", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "Sarat-sarat" not in result.stdout


# --- The command line ------------------------------------------------------------------------


def test_cli_show_in_each_language(runner, session) -> None:
    store(session)
    result = runner.invoke(args=["questionnaire", "show", SLUG, "--lang", "su"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        "Survéy Kasugemaan Masarakat (PermenPANRB 14/2017) (permenpanrb-basa-sunda version 1, su)"
    )
    assert lines[1] == f"1. [U1] Sarat-sarat: {U1_SU}"
    assert lines[2] == "   1=Teu saluyu; 2=Kirang saluyu; 3=Saluyu; 4=Saluyu pisan"
    assert lines[-1] == (
        "   1=Teu aya; 2=Aya namung teu jalan; 3=Jalan namung teu acan maksimal; "
        "4=Dikokolakeun kalayan saé; NA=Teu acan kantos ngadugikeun pangaduan"
    )
    assert len(lines) == 1 + 2 * 9
    result = runner.invoke(args=["questionnaire", "show", SLUG])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1] == f"1. [U1] Persyaratan: {U1_ID}"
    result = runner.invoke(args=["questionnaire", "show", "permenpanrb-14-2017", "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:2] == [
        "Public Satisfaction Survey (PermenPANRB 14/2017) (permenpanrb-14-2017 version 1, en)",
        "1. [U1] Requirements: How well did the requirements fit the service you received?",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tidak-ada"], "Error: no questionnaire tidak-ada"),
        ([SLUG, "--version", "2"], f"Error: no questionnaire {SLUG} version 2"),
        (
            ["permenpanrb-14-2017", "--lang", "su"],
            "Error: permenpanrb-14-2017 version 1 is in id, en, not 'su'",
        ),
    ],
)
def test_cli_show_errors(runner, session, args, message) -> None:
    store(session)
    result = runner.invoke(args=["questionnaire", "show", *args])
    assert result.exit_code == 1
    assert message in result.output

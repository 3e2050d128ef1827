"""Questionnaire files: checking, storing with versions, the CLI, the pages, and using them.

A custom questionnaire must survive the whole path: the file is checked (every problem named
with its place), stored once per content, listed and shown read-only, asked on the citizen's
survey page (5 points and perception items included) and scored with only its IKM elements.
"""

from __future__ import annotations

import copy
import io
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from auth_helpers import CSRF_RE, login
from file_helpers import KNPI
from flask.testing import FlaskClient
from sqlmodel import Session, select
from survey_helpers import SurveyActions, add_opd, add_responses, create_wave, install_clock, stored

from survey.core import queries
from survey.core.models import AuditLog, Element, Questionnaire
from survey.core.questionnaires import (
    MAX_FILE_BYTES,
    QuestionnaireError,
    add_questionnaire,
    load_questionnaire_file,
)

DOCS = Path(__file__).resolve().parent.parent / "docs"
FIVE = DOCS / "examples" / "five-point.json"
LIST = "/kerja/kuesioner"


def five_point() -> dict:
    """Return the 5-point example as a dict, to vary."""
    return json.loads(FIVE.read_text(encoding="utf-8"))


def as_json(data: dict) -> bytes:
    """Return a questionnaire dict as JSON bytes."""
    return json.dumps(data).encode()


def problems_of(data: bytes, filename: str = "q.json") -> list[str]:
    """Return the problems a file is refused with, as the command line says them."""
    with pytest.raises(QuestionnaireError) as info:
        load_questionnaire_file(data, filename)
    return [item.english() for item in info.value.problems]


def questionnaire_rows(session: Session) -> list[tuple[str, int]]:
    """Return every stored questionnaire's slug and version, and the element count."""
    session.expire_all()
    rows = session.exec(select(Questionnaire).order_by(Questionnaire.id)).all()
    return [(q.slug, q.version) for q in rows] + [
        ("elements", len(session.exec(select(Element)).all()))
    ]


# --- Loading and checking ------------------------------------------------------------------


def test_the_knpi_example_loads() -> None:
    spec = load_questionnaire_file(KNPI.read_bytes(), KNPI.name)
    assert spec.slug == "knpi-kota-serang"
    assert spec.scale_points == 4
    assert [e.code for e in spec.elements] == [f"U{i}" for i in range(1, 10)] + ["P1", "P2"]
    assert spec.counts() == (9, 2)
    satisfaction, agreement = spec.elements[9], spec.elements[10]
    assert satisfaction.kind == agreement.kind == "perception"
    assert satisfaction.labels_id[0] == "Tidak puas" and satisfaction.labels_id[-1] == "Sangat puas"
    assert agreement.labels_id[0] == "Tidak setuju" and agreement.labels_id[-1] == "Sangat setuju"
    # The regulation's labels are kept exactly.
    assert spec.elements[3].labels_id == ("Sangat mahal", "Cukup mahal", "Murah", "Gratis")


def test_yaml_and_json_give_the_same_spec() -> None:
    data = five_point()
    from_json = load_questionnaire_file(as_json(data), "a.json")
    from_yaml = load_questionnaire_file(yaml.safe_dump(data).encode(), "a.yml")
    assert from_json == from_yaml
    assert from_json.scale_points == 5 and from_json.version is None


def test_every_problem_is_listed_with_its_path() -> None:
    data = five_point()
    data["scale_points"] = 5
    data["elements"][3]["labels_en"] = ["a", "b", "c", "d"]
    data["elements"][1]["code"] = "U1"
    data["elements"][2]["kind"] = "opinion"
    data["elements"][0]["question_en"] = ""
    data["elements"][0]["colour"] = "red"
    data["slug"] = "Bad Slug"
    problems = problems_of(as_json(data))
    assert "elements[3].labels_en: 4 labels, scale_points is 5" in problems
    assert "elements[1].code: 'U1' repeats elements[0]" in problems
    assert "elements[2].kind: 'opinion'; use one of ikm, perception" in problems
    assert "elements[0].question_en: must be non-empty text" in problems
    assert "elements[0].colour: unknown key" in problems
    assert any(p.startswith("slug: 'Bad Slug' is not a slug") for p in problems)
    assert len(problems) == 6


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(scale_points=7), "scale_points: 7; use 4 or 5"),
        (lambda d: d.update(scale_points="5"), "scale_points: '5'; use 4 or 5"),
        (lambda d: d.update(elements=[]), "elements: must be a non-empty list"),
        (
            lambda d: [e.update(kind="perception") for e in d["elements"]],
            "elements: at least one element must be of kind ikm",
        ),
        (
            lambda d: d["elements"][0].update(code="1X"),
            "elements[0].code: '1X' is not a code: a letter, then up to 15 letters, digits or _",
        ),
        (
            lambda d: d["elements"][0].update(code="A" * 17),
            f"elements[0].code: {'A' * 17!r} is not a code: a letter, then up to 15 letters, "
            "digits or _",
        ),
        (lambda d: d.update(version=0), "version: 0; leave it out or give a whole number >= 1"),
        (lambda d: d.pop("title_en"), "title_en: must be non-empty text"),
        (lambda d: d["elements"].append("U9"), "elements[4]: must be a mapping"),
        (
            lambda d: d["elements"][0].update(labels_id="a b c"),
            "elements[0].labels_id: must be a list",
        ),
    ],
)
def test_single_problems(change, expected) -> None:
    data = five_point()
    change(data)
    problems = problems_of(as_json(data))
    assert any(p.startswith(expected) for p in problems), problems


def test_at_most_24_elements() -> None:
    data = five_point()
    template = data["elements"][0]
    data["elements"] = [dict(copy.deepcopy(template), code=f"E{i}") for i in range(25)]
    assert "elements: 25 elements; at most 24" in problems_of(as_json(data))
    data["elements"] = data["elements"][:24]
    assert len(load_questionnaire_file(as_json(data), "q.json").elements) == 24


@pytest.mark.parametrize(
    ("data", "filename", "expected"),
    [
        (b"{}", "q.txt", "q.txt: unknown file type; use .yaml, .yml or .json"),
        (b"{", "q.json", "q.json: not valid JSON (line 1, column 2"),
        (b"a: [", "q.yaml", "q.yaml: not valid YAML"),
        (b"\xff\xfe", "q.yaml", "q.yaml: not UTF-8 text"),
        (b"- 1\n- 2\n", "q.yaml", "file: must hold a mapping"),
        (b"!!python/object/apply:os.system ['true']", "q.yaml", "q.yaml: not valid YAML"),
        (b" " * (MAX_FILE_BYTES + 1), "q.json", f"at most {MAX_FILE_BYTES} bytes"),
    ],
)
def test_unreadable_files(data, filename, expected) -> None:
    problems = problems_of(data, filename)
    assert len(problems) == 1 and expected in problems[0]


# --- Storing -------------------------------------------------------------------------------


def test_add_stores_once_per_content_and_versions_changes(session: Session) -> None:
    before = questionnaire_rows(session)
    spec = load_questionnaire_file(KNPI.read_bytes(), KNPI.name)
    first, created = add_questionnaire(session, spec=spec, actor="eva")
    assert created and first.version == 1 and not first.builtin
    again, created = add_questionnaire(session, spec=spec, actor="eva")
    assert not created and again.id == first.id
    assert len(questionnaire_rows(session)) == len(before) + 1
    items = queries.elements(session, questionnaire_id=first.id)
    assert [(e.position, e.code, e.kind) for e in items][-2:] == [
        (10, "P1", "perception"),
        (11, "P2", "perception"),
    ]
    data = yaml.safe_load(KNPI.read_text(encoding="utf-8"))
    data["elements"][9]["question_id"] = "Seberapa puas Saudara secara umum?"
    changed = load_questionnaire_file(yaml.safe_dump(data).encode(), "knpi.yaml")
    second, created = add_questionnaire(session, spec=changed, actor="eva")
    assert created and second.version == 2
    entries = session.exec(
        select(AuditLog).where(AuditLog.action == "questionnaire.create").order_by(AuditLog.id)
    ).all()
    assert [(e.actor, e.detail["slug"], e.detail["version"]) for e in entries] == [
        ("eva", "knpi-kota-serang", 1),
        ("eva", "knpi-kota-serang", 2),
    ]
    assert entries[0].detail["ikm_elements"] == 9 and entries[0].detail["perception_items"] == 2


def test_builtin_slug_is_refused(session: Session) -> None:
    data = five_point()
    data["slug"] = "permenpanrb-14-2017"
    spec = load_questionnaire_file(as_json(data), "q.json")
    before = questionnaire_rows(session)
    with pytest.raises(QuestionnaireError, match="built-in"):
        add_questionnaire(session, spec=spec, actor=None)
    assert questionnaire_rows(session) == before


# --- Command line --------------------------------------------------------------------------


def test_cli_add_and_list(runner, session: Session) -> None:
    result = runner.invoke(args=["questionnaire", "add", str(KNPI)])
    assert result.exit_code == 0, result.output
    assert "Added questionnaire knpi-kota-serang version 1: 9 IKM elements, 2 perception" in (
        result.output
    )
    result = runner.invoke(args=["questionnaire", "add", str(KNPI)])
    assert result.exit_code == 0
    assert "already stored with this content (version 1); nothing added" in result.output
    result = runner.invoke(args=["questionnaire", "add", str(FIVE)])
    assert result.exit_code == 0, result.output
    listing = runner.invoke(args=["questionnaire", "list"])
    assert listing.exit_code == 0
    lines = listing.output.splitlines()
    assert lines == [
        "knpi-kota-serang\t1\t4\t9\t2\tEvaluasi Pelayanan Publik KNPI Kota Serang",
        "permenpanrb-14-2017\t1\t4\t9\t0\tSurvei Kepuasan Masyarakat (PermenPANRB 14/2017)",
        "survei-singkat-lima\t1\t5\t2\t2\tSurvei singkat lima poin",
    ]
    entries = session.exec(select(AuditLog).where(AuditLog.action == "questionnaire.create")).all()
    assert len(entries) == 2 and all(e.actor is None for e in entries)


def test_cli_refuses_a_bad_file_listing_every_problem(runner, session, tmp_path) -> None:
    data = five_point()
    data["elements"][0]["labels_id"] = ["a"]
    data["scale_points"] = 5
    data["title_id"] = ""
    path = tmp_path / "bad.json"
    path.write_bytes(as_json(data))
    before = questionnaire_rows(session)
    result = runner.invoke(args=["questionnaire", "add", str(path)])
    assert result.exit_code == 1
    # One line: every problem in English, in the file's order.
    assert result.output == (
        "Error: bad.json is not a usable questionnaire: title_id: must be non-empty text; "
        "elements[0].labels_id: 1 labels, scale_points is 5\n"
    )
    assert questionnaire_rows(session) == before


# --- Web pages -----------------------------------------------------------------------------


def upload(
    client: FlaskClient, data: bytes, filename: str, *, token: str | None = None, lang: str = "id"
):
    """Post a file to the upload form (with the page's CSRF token unless given)."""
    if token is None:
        match = CSRF_RE.search(client.get(LIST).get_data(as_text=True))
        assert match
        token = match.group(1)
    return client.post(
        f"{LIST}?lang={lang}",
        data={"csrf_token": token, "file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


def test_anonymous_and_opd_head(client: FlaskClient, session: Session, users) -> None:
    for path in (LIST, "/kerja/kuesioner/1"):
        response = client.get(path)
        assert response.status_code == 302
        assert urlsplit(response.headers["Location"]).path == "/masuk"
    before = questionnaire_rows(session)
    assert upload(client, KNPI.read_bytes(), KNPI.name, token="x").status_code in (302, 400)
    login(client, "kepala-bpbd")
    assert client.get(LIST).status_code == 403
    assert client.get("/kerja/kuesioner/1").status_code == 403
    assert upload(client, KNPI.read_bytes(), KNPI.name, token="x").status_code in (400, 403)
    assert questionnaire_rows(session) == before


@pytest.mark.parametrize("username", ["admin", "eva"])
def test_upload_then_read_only_page(client, session, users, username) -> None:
    login(client, username)
    page = client.get(LIST).get_data(as_text=True)
    assert "Survei Kepuasan Masyarakat (PermenPANRB 14/2017)" in page
    assert 'enctype="multipart/form-data"' in page and '<label for="f-file">' in page
    response = upload(client, KNPI.read_bytes(), KNPI.name)
    assert response.status_code == 303
    stored_q = session.exec(select(Questionnaire).where(Questionnaire.slug == "knpi-kota-serang"))
    questionnaire = stored_q.one()
    assert urlsplit(response.headers["Location"]).path == f"/kerja/kuesioner/{questionnaire.id}"
    entry = session.exec(select(AuditLog).where(AuditLog.action == "questionnaire.create")).one()
    assert entry.actor == username
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Kuesioner ditambahkan." in page
    assert "Evaluasi Pelayanan Publik KNPI Kota Serang" in page
    assert "KNPI Kota Serang public service evaluation" in page
    assert "9 unsur IKM, 2 pertanyaan persepsi" in page
    row = re.search(r'<tr id="unsur-P1">(.*?)</tr>', page, re.S)
    assert row is not None
    assert "Persepsi" in row.group(1)
    assert "Secara keseluruhan, seberapa puas Saudara" in row.group(1)
    assert "Overall, how satisfied are you" in row.group(1)
    assert "<li>Tidak puas</li>" in row.group(1) and "<li>Very satisfied</li>" in row.group(1)
    assert "<form" not in page.split("</header>")[1].split("<footer>")[0]
    # The same file again adds nothing and says so.
    again = upload(client, KNPI.read_bytes(), KNPI.name)
    assert again.status_code == 303
    assert "sudah tersimpan" in client.get(again.headers["Location"]).get_data(as_text=True)
    assert questionnaire_rows(session)[-1] == ("elements", 9 + 11)


def test_bad_upload_shows_every_problem_and_stores_nothing(client, session, users) -> None:
    login(client, "eva")
    data = five_point()
    data["elements"][3]["labels_en"] = ["a", "b", "c", "d"]
    data["elements"][2]["code"] = "U1"
    before = questionnaire_rows(session)
    response = upload(client, as_json(data), "bad.json")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'role="alert"' in page
    assert "elements[3].labels_en: 4 label, padahal scale_points 5." in page
    assert "elements[2].code: &#39;U1&#39; sama dengan elements[0]." in page
    assert "repeats" not in page and "4 labels" not in page
    english = upload(client, as_json(data), "bad.json", lang="en")
    assert english.status_code == 400
    page = english.get_data(as_text=True)
    assert "elements[3].labels_en: 4 labels, but scale_points is 5." in page
    assert "elements[2].code: &#39;U1&#39; is the same as elements[0]." in page
    assert questionnaire_rows(session) == before
    assert (
        session.exec(select(AuditLog).where(AuditLog.action == "questionnaire.create")).all() == []
    )
    # No file, a file of another type, and a file over 256 KB.
    assert upload(client, b"", "").status_code == 400
    assert upload(client, b"a,b", "q.csv").status_code == 400
    big = upload(client, b" " * (MAX_FILE_BYTES + 1), "big.json")
    assert big.status_code in (400, 413)
    assert questionnaire_rows(session) == before


def test_upload_larger_than_the_app_limit_is_accepted(client, session, users) -> None:
    # The app takes at most 64 KB a request; a questionnaire file may have up to 256 KB.
    login(client, "eva")
    text = FIVE.read_text(encoding="utf-8")
    padded = text + " " * (100 * 1024)
    response = upload(client, padded.encode(), "five.json")
    assert response.status_code == 303
    assert questionnaire_rows(session)[-2] == ("survei-singkat-lima", 1)


def test_upload_without_csrf_is_refused(client, session, users) -> None:
    login(client, "eva")
    before = questionnaire_rows(session)
    assert upload(client, FIVE.read_bytes(), "five.json", token="forged").status_code == 400
    assert questionnaire_rows(session) == before


def test_unknown_questionnaire_is_404(client, users) -> None:
    login(client, "eva")
    assert client.get("/kerja/kuesioner/9999").status_code == 404


# --- Using a custom questionnaire ----------------------------------------------------------


def test_survey_page_asks_and_stores_a_five_point_questionnaire_with_perception(
    app, session: Session, monkeypatch
) -> None:
    clock = install_clock(monkeypatch)
    add_opd(session, slug="bpbd", name="Badan Penanggulangan Bencana Daerah")
    spec = load_questionnaire_file(FIVE.read_bytes(), FIVE.name)
    questionnaire, _created = add_questionnaire(session, spec=spec, actor=None)
    create_wave(
        session,
        slug="lima-2026",
        title="Lima poin 2026",
        opd_slugs=["bpbd"],
        questionnaire_id=questionnaire.id,
        status="open",
    )
    citizen = SurveyActions(app, clock, wave="lima-2026")
    page = citizen.open()
    html = page.html
    for code in ("U1", "U2", "PUAS", "SETUJU"):
        assert f'id="q-{code}"' in html
        assert f'name="{code}" value="5"' in html
        assert f'name="{code}" value="6"' not in html
    assert "Secara keseluruhan, seberapa puas Saudara dengan pelayanan ini?" in html
    assert "Sangat puas" in html and "Ragu-ragu" in html
    assert citizen.submit({"U1": "5", "PUAS": "6"}).status_code == 400
    assert stored(session) == []
    response = citizen.submit({"U1": "5", "U2": "2", "PUAS": "4", "SETUJU": "1"})
    assert response.status_code == 303
    [row] = stored(session)
    assert (row.a1, row.a2, row.a3, row.a4, row.a5) == (5, 2, 4, 1, None)


def test_score_uses_only_ikm_elements_of_a_custom_questionnaire(runner, session) -> None:
    add_opd(session, slug="bpbd", name="Badan Penanggulangan Bencana Daerah")
    spec = load_questionnaire_file(FIVE.read_bytes(), FIVE.name)
    questionnaire, _created = add_questionnaire(session, spec=spec, actor=None)
    wave = create_wave(
        session,
        slug="lima-2026",
        title="Lima poin 2026",
        opd_slugs=["bpbd"],
        questionnaire_id=questionnaire.id,
        status="open",
    )
    # U1, U2 (IKM) then PUAS, SETUJU (perception): the perception answers must not count.
    add_responses(session, wave, "bpbd", [[5, 3, 1, 1], [4, 4, 1, 1]])
    result = runner.invoke(args=["score", "--wave", "lima-2026", "--format", "json"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert set(row["elements"]) == {"U1", "U2"}
    assert row["elements"]["U1"]["nrr"] == pytest.approx(4.5)
    assert row["elements"]["U2"]["nrr"] == pytest.approx(3.5)
    # A 5-point scale keeps its answers as given: IKM = mean of the NRRs on 1..5.
    assert row["ikm"] == pytest.approx(4.0)
    assert row["ikm_converted"] == pytest.approx(81.25)  # 25 + 75 (4 - 1) / (5 - 1)


# --- Anchors and aliases ("billion laughs") ------------------------------------------------

# Nine levels of nine aliases each: under 400 bytes that PyYAML's safe_load accepts and that
# expand to 9**9 (387 million) strings when the result is walked, copied or serialised.
BILLION_LAUGHS = b'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + b"".join(
    f"{name}: &{name} [{','.join([f'*{prev}'] * 9)}]\n".encode()
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_billion_laughs_is_refused_before_it_expands() -> None:
    """The few-hundred-byte file is refused at its first anchor, using little memory."""
    import tracemalloc

    assert len(BILLION_LAUGHS) < 400
    tracemalloc.start()
    try:
        problems = problems_of(BILLION_LAUGHS, "laughs.yaml")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert problems == [
        "laughs.yaml: YAML anchors and aliases (& and *) are not accepted "
        "(line 1, column 4); write each value out"
    ]
    assert peak < 5 * 2**20  # bytes: the refusal reads a few tokens, nothing grows


def test_a_lone_anchor_or_merge_key_is_refused_too() -> None:
    """Anchors without aliases and merge keys (which need aliases) are refused alike."""
    knpi = KNPI.read_text(encoding="utf-8")
    anchored = knpi.replace("slug: knpi-kota-serang", "slug: &s knpi-kota-serang", 1)
    assert anchored != knpi
    assert problems_of(anchored.encode(), "knpi.yaml")[0].startswith(
        "knpi.yaml: YAML anchors and aliases (& and *) are not accepted (line "
    )
    merged = b"base: &b {kind: ikm}\nother:\n  <<: *b\n"
    assert "anchors and aliases" in problems_of(merged, "m.yml")[0]
    assert load_questionnaire_file(KNPI.read_bytes(), KNPI.name).slug == "knpi-kota-serang"


def test_billion_laughs_upload_and_cli_store_nothing(client, runner, session, users, tmp_path):
    """On the page: 400 with the Indonesian sentence; on the command line: one English line."""
    login(client, "eva")
    before = questionnaire_rows(session)
    response = upload(client, BILLION_LAUGHS, "laughs.yaml")
    assert response.status_code == 400
    assert (
        "laughs.yaml: anchor dan alias YAML (&amp; dan *) tidak diterima (baris 1, kolom 4); "
        "tulis setiap nilai apa adanya." in response.get_data(as_text=True)
    )
    path = tmp_path / "laughs.yaml"
    path.write_bytes(BILLION_LAUGHS)
    result = runner.invoke(args=["questionnaire", "add", str(path)])
    assert result.exit_code == 1
    assert "YAML anchors and aliases (& and *) are not accepted (line 1, column 4)" in (
        result.output
    )
    assert questionnaire_rows(session) == before

"""Waves in the workspace: list, create, edit, targets, custom schemes, open/close/publish.

Every request is checked against the database afterwards: a refused request changes nothing
(no wave, link, scheme or audit entry), an accepted one writes its audit entry.
"""

from __future__ import annotations

import json
import re
from datetime import date
from urllib.parse import urlsplit

import pytest
from auth_helpers import CSRF_RE, PASSWORD, login
from file_helpers import KNPI
from flask.testing import FlaskClient
from sqlmodel import Session, select
from survey_helpers import (
    add_opd,
    add_responses,
    create_wave,
    questionnaire_of_scale,
    set_wave_status,
)

from survey.core import accounts, queries
from survey.core.models import AuditLog, CategoryScheme, Opd, Wave, WaveOpd
from survey.core.questionnaires import add_questionnaire, load_questionnaire_file
from survey.core.scores import perception_scores
from survey.core.waves import margin_for

NEW = "/kerja/gelombang/baru"
INDEX = "/kerja/gelombang"
FOURS = [4] * 9


@pytest.fixture
def setup(session: Session) -> None:
    """Four OPDs (two with a service population, one inactive) and three users."""
    add_opd(
        session, slug="bpbd", name="Badan Penanggulangan Bencana Daerah", service_population=500
    )
    add_opd(session, slug="rsud", name="Rumah Sakit Umum Daerah", service_population=1000)
    add_opd(session, slug="dishub", name="Dinas Perhubungan")
    satpol = add_opd(session, slug="satpol-pp", name="Satuan Polisi Pamong Praja")
    satpol.active = False
    session.add(satpol)
    session.commit()
    accounts.create_user(session, username="admin", password=PASSWORD, role="admin")
    accounts.create_user(session, username="eva", password=PASSWORD, role="evaluator")
    accounts.create_user(
        session, username="kepala-bpbd", password=PASSWORD, role="opd-head", opd_slug="bpbd"
    )


@pytest.fixture
def draft(session: Session, setup) -> Wave:
    """A draft wave 'uji-2026' over bpbd and rsud with targets 30."""
    return create_wave(
        session, slug="uji-2026", title="Uji Coba 2026", opd_slugs=["bpbd", "rsud"], target_n=30
    )


def token(client: FlaskClient, path: str = INDEX) -> str:
    """Return a CSRF token from a page of the signed-in user."""
    match = CSRF_RE.search(client.get(path).get_data(as_text=True))
    if match is None:  # the list has no form: take the token of the create form
        match = CSRF_RE.search(client.get(NEW).get_data(as_text=True))
    assert match
    return match.group(1)


def form(**changes: object) -> dict:
    """Return a valid create form (bpbd and dishub, hand targets), with changes."""
    data: dict = {
        "slug": "knpi-2025",
        "title": "Evaluasi KNPI 2025",
        "evaluator": "KNPI Kota Serang",
        "period_start": "2025-06-12",
        "period_end": "2025-06-16",
        "opd": ["bpbd", "dishub"],
        "target-bpbd": "50",
        "target-dishub": "40",
        "questionnaire": "1",
        "scheme": "permenpanrb-14-2017",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def post(client: FlaskClient, path: str, data: dict):
    """Post a form with the CSRF token."""
    return client.post(path, data={"csrf_token": token(client), **data})


def snapshot(session: Session) -> list:
    """Return every wave, link, scheme and audit entry, to compare before and after."""
    session.expire_all()
    waves = [
        (
            w.slug,
            w.title,
            w.status,
            w.questionnaire_id,
            w.scheme_id,
            w.period_start,
            w.period_end,
            w.evaluator,
        )
        for w in session.exec(select(Wave).order_by(Wave.id)).all()
    ]
    links = [
        (link.wave_id, link.opd_id, link.target_n)
        for link in session.exec(select(WaveOpd).order_by(WaveOpd.wave_id, WaveOpd.opd_id)).all()
    ]
    schemes = [s.slug for s in session.exec(select(CategoryScheme).order_by(CategoryScheme.id))]
    entries = [(e.action, e.actor) for e in session.exec(select(AuditLog).order_by(AuditLog.id))]
    return [waves, links, schemes, entries]


def audits(session: Session, action: str) -> list[AuditLog]:
    """Return the audit entries of one action, oldest first."""
    session.expire_all()
    query = select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)
    return list(session.exec(query).all())


def targets(session: Session, slug: str) -> dict[str, int | None]:
    """Return a wave's targets by OPD slug."""
    session.expire_all()
    wave = queries.get_wave(session, slug=slug)
    assert wave is not None
    return {opd.slug: link.target_n for opd, link in queries.wave_opds(session, wave=wave)}


def wave_row(session: Session, slug: str = "uji-2026") -> Wave:
    """Return a wave read afresh."""
    session.expire_all()
    wave = queries.get_wave(session, slug=slug)
    assert wave is not None
    return wave


# --- Access --------------------------------------------------------------------------------


def test_anonymous_is_sent_to_login_and_changes_nothing(client, session, draft) -> None:
    for path in (INDEX, NEW, "/kerja/gelombang/uji-2026", "/kerja/gelombang/uji-2026/ubah"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert urlsplit(response.headers["Location"]).path == "/masuk"
    before = snapshot(session)
    for path, data in (
        (NEW, form()),
        ("/kerja/gelombang/uji-2026/ubah", form(title="X")),
        ("/kerja/gelombang/uji-2026/status", {"action": "open"}),
    ):
        assert client.post(path, data=data).status_code in (302, 400)
    assert snapshot(session) == before


def test_opd_head_gets_403_and_changes_nothing(client, session, draft) -> None:
    login(client, "kepala-bpbd")
    for path in (INDEX, NEW, "/kerja/gelombang/uji-2026", "/kerja/gelombang/uji-2026/ubah"):
        assert client.get(path).status_code == 403, path
    before = snapshot(session)
    tok = CSRF_RE.search(client.get("/kerja").get_data(as_text=True))
    data = {"csrf_token": tok.group(1) if tok else ""}
    assert client.post(NEW, data={**data, **form()}).status_code == 403
    response = client.post("/kerja/gelombang/uji-2026/status", data={**data, "action": "open"})
    assert response.status_code == 403
    assert snapshot(session) == before


@pytest.mark.parametrize("username", ["admin", "eva"])
def test_staff_see_the_pages(client, draft, username) -> None:
    login(client, username)
    for path in (INDEX, NEW, "/kerja/gelombang/uji-2026", "/kerja/gelombang/uji-2026/ubah"):
        assert client.get(path).status_code == 200, path


def test_unknown_wave_is_404(client, setup) -> None:
    login(client)
    assert client.get("/kerja/gelombang/tidak-ada").status_code == 404
    assert client.get("/kerja/gelombang/tidak-ada/ubah").status_code == 404
    response = post(client, "/kerja/gelombang/tidak-ada/status", {"action": "open"})
    assert response.status_code == 404


# --- The list ------------------------------------------------------------------------------


def test_index_lists_waves_with_period_opds_and_counted(client, session, draft) -> None:
    wave = wave_row(session)
    wave.period_start, wave.period_end = date(2025, 6, 12), date(2025, 6, 16)
    session.add(wave)
    session.commit()
    add_responses(session, wave, "bpbd", [FOURS] * 3)
    add_responses(session, wave, "bpbd", [FOURS], status="flagged", reason="bot-suspect")
    login(client)
    page = client.get(INDEX).get_data(as_text=True)
    row = re.search(r'<tr id="gelombang-uji-2026">(.*?)</tr>', page, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    assert cells == ["Draf", "12 Juni 2025 – 16 Juni 2025", "2", "3"]
    assert 'href="/kerja/gelombang/uji-2026"' in row.group(1)
    assert 'href="/kerja/gelombang/baru"' in page


# --- Creating ------------------------------------------------------------------------------


def test_create_form_offers_active_opds_with_krejcie_morgan(client, setup) -> None:
    login(client)
    page = client.get(NEW).get_data(as_text=True)
    assert 'id="f-opd-bpbd"' in page and 'id="f-opd-dishub"' in page
    assert "f-opd-satpol-pp" not in page  # inactive
    assert '<label for="f-slug">' in page and 'for="f-target-bpbd">Target sampel Badan' in page
    bpbd = re.search(r'<input type="checkbox" id="f-opd-bpbd".*?</tr>', page, re.S)
    assert bpbd is not None and ">217<" in bpbd.group(0)  # K&M for N = 500
    assert "tanpa populasi" in page
    assert 'name="csrf_token"' in page
    assert " style=" not in page and "<script" not in page


def test_create_a_wave_with_hand_targets(client, session, setup) -> None:
    login(client)
    response = post(client, NEW, form())
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/kerja/gelombang/knpi-2025"
    wave = wave_row(session, "knpi-2025")
    assert (wave.title, wave.status, wave.evaluator) == (
        "Evaluasi KNPI 2025",
        "draft",
        "KNPI Kota Serang",
    )
    assert (wave.period_start, wave.period_end) == (date(2025, 6, 12), date(2025, 6, 16))
    assert targets(session, "knpi-2025") == {"bpbd": 50, "dishub": 40}
    [entry] = audits(session, "wave.create")
    assert entry.actor == "eva"
    assert entry.detail["wave"] == "knpi-2025"
    assert entry.detail["targets"] == {"bpbd": 50, "dishub": 40}
    assert entry.detail["scheme"] == "permenpanrb-14-2017"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Gelombang dibuat sebagai draf" in page


def test_create_computes_krejcie_morgan_where_there_is_a_population(client, session, setup) -> None:
    login(client)
    data = form(opd=["bpbd", "rsud", "dishub"], compute_targets="1", **{"target-rsud": ""})
    assert post(client, NEW, data).status_code == 303
    # bpbd N = 500 -> 217 and rsud N = 1000 -> 278 (the printed table); dishub keeps its 40.
    assert targets(session, "knpi-2025") == {"bpbd": 217, "rsud": 278, "dishub": 40}
    page = client.get("/kerja/gelombang/knpi-2025").get_data(as_text=True)
    bpbd = re.search(r'<tr id="opd-bpbd">(.*?)</tr>', page, re.S)
    assert bpbd is not None
    expected = margin_for(217, 500)
    assert expected is not None
    assert f"± {expected:.1f}".replace(".", ",") in bpbd.group(1)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"slug": "baru"}, "slug", "dipakai oleh aplikasi"),
        ({"slug": "Bad Slug"}, "slug", "Slug hanya boleh"),
        ({"slug": "uji-2026"}, "slug", "sudah dipakai"),
        ({"slug": ""}, "slug", "Isi slug"),
        ({"title": "  "}, "title", "Isi judul"),
        ({"title": "x" * 201}, "title", "paling banyak 200"),
        ({"period_end": "2025-06-11"}, "period_end", "tidak boleh sebelum"),
        ({"period_start": "12/06/2025"}, "period_start", "Tanggal tidak valid"),
        ({"opd": None}, "opds", "Pilih paling sedikit satu OPD"),
        ({"opd": ["bpbd", "satpol-pp"]}, "opds", "tidak dikenal atau tidak aktif"),
        ({"opd": ["tidak-ada"]}, "opds", "tidak dikenal"),
        ({"target-bpbd": "abc"}, "target-bpbd", "bilangan bulat"),
        ({"target-bpbd": "0"}, "target-bpbd", "bilangan bulat"),
        ({"target-bpbd": "-5"}, "target-bpbd", "bilangan bulat"),
        ({"scheme": "tidak-ada"}, "scheme", "tidak dikenal"),
        ({"questionnaire": "999"}, "questionnaire", "tidak dikenal"),
        ({"questionnaire": "x"}, "questionnaire", "Pilih kuesioner"),
        ({"questionnaire": "²"}, "questionnaire", "Pilih kuesioner"),  # isdigit, not int
        ({"target-bpbd": "５"}, "target-bpbd", "bilangan bulat"),  # a full-width digit
    ],
)
def test_bad_create_form_is_refused_and_writes_nothing(
    client, session, draft, changes, field, message
) -> None:
    login(client)
    before = snapshot(session)
    response = post(client, NEW, form(**changes))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    error = re.search(rf'<p class="field-error" id="err-{field}">(.*?)</p>', page)
    assert error is not None and message in error.group(1), page
    assert 'role="alert"' in page
    assert snapshot(session) == before


def test_refused_form_keeps_what_was_typed(client, draft) -> None:
    login(client)
    page = post(client, NEW, form(period_end="2025-06-01")).get_data(as_text=True)
    assert 'value="Evaluasi KNPI 2025"' in page
    assert 'value="50"' in page
    assert re.search(r'id="f-opd-dishub" name="opd" value="dishub" checked', page)
    assert 'aria-invalid="true"' in page


# --- Custom category schemes ---------------------------------------------------------------


def knpi_scheme(**changes: str) -> dict:
    """Return form fields defining a KNPI-like scheme: Baik from 3.00."""
    data = {
        "scheme": "custom",
        "scheme_name": "KNPI Kota Serang 2025",
        "cat-code-0": "A",
        "cat-label_id-0": "Sangat baik",
        "cat-label_en-0": "Very good",
        "cat-min-0": "3,50",
        "cat-code-1": "B",
        "cat-label_id-1": "Baik",
        "cat-label_en-1": "Good",
        "cat-min-1": "3.00",
        "cat-code-2": "C",
        "cat-label_id-2": "Kurang baik",
        "cat-label_en-2": "Poor",
        "cat-min-2": "2.5",
        "cat-code-3": "D",
        "cat-label_id-3": "Tidak baik",
        "cat-label_en-3": "Very poor",
        "cat-min-3": "1",
    }
    data.update(changes)
    return data


def test_create_with_a_custom_scheme(client, session, setup) -> None:
    login(client)
    assert post(client, NEW, form(**knpi_scheme())).status_code == 303
    wave = wave_row(session, "knpi-2025")
    scheme = session.get(CategoryScheme, wave.scheme_id)
    assert scheme is not None and not scheme.builtin
    assert scheme.name == "KNPI Kota Serang 2025"
    assert scheme.slug == "skema-knpi-kota-serang-2025"
    assert [(c["code"], c["min_ikm"], c["min_converted"]) for c in scheme.categories] == [
        ("A", 3.5, 87.5),
        ("B", 3.0, 75.0),
        ("C", 2.5, 62.5),
        ("D", 1.0, 25.0),
    ]
    [created] = audits(session, "scheme.create")
    assert created.actor == "eva" and created.detail["slug"] == scheme.slug
    [entry] = audits(session, "wave.create")
    assert entry.detail["scheme"] == scheme.slug
    # A second scheme of the same name gets a slug of its own.
    assert post(client, NEW, form(slug="knpi-2026", **knpi_scheme())).status_code == 303
    assert wave_row(session, "knpi-2026").scheme_id != wave.scheme_id


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"cat-min-1": "3.60"}, "category-1", "lebih kecil"),
        ({"cat-min-3": "1.5"}, "category-3", "harus 1,00"),
        ({"cat-min-0": "4.5"}, "category-0", "antara 1 dan 4 (skala jawaban kuesioner)"),
        ({"cat-min-0": "tinggi"}, "category-0", "antara 1 dan 4 (skala jawaban kuesioner)"),
        ({"cat-code-1": "A"}, "category-1", "dua kali"),
        ({"cat-label_en-2": ""}, "category-2", "kedua bahasa"),
        ({"scheme_name": ""}, "scheme_name", "Isi nama skema"),
        (
            {
                f"cat-{part}-{i}": ""
                for part in ("code", "label_id", "label_en", "min")
                for i in (1, 2, 3)
            },
            "category-0",
            "paling sedikit dua",
        ),
    ],
)
def test_bad_custom_scheme_is_refused(client, session, setup, changes, field, message) -> None:
    login(client)
    before = snapshot(session)
    response = post(client, NEW, form(**knpi_scheme(**changes)))
    assert response.status_code == 400
    error = re.search(rf'id="err-{field}">(.*?)</p>', response.get_data(as_text=True))
    assert error is not None and message in error.group(1)
    assert snapshot(session) == before


def test_custom_scheme_bounds_follow_the_questionnaires_scale(client, session, setup) -> None:
    """On a 5-point questionnaire a bound may be 4.5 (converted 25 + 75 x 3.5 / 4 = 90.625)
    and the refusal names 1..5; on the 4-point one 4.5 is refused, naming 1..4."""
    five = questionnaire_of_scale(session, 5)
    login(client)
    bound = {"cat-min-0": "4,5", "cat-min-1": "4", "cat-min-2": "3"}
    before = snapshot(session)
    refused = post(client, NEW, form(**knpi_scheme(**bound)))
    assert refused.status_code == 400
    error = re.search(r'id="err-category-0">(.*?)</p>', refused.get_data(as_text=True))
    assert error is not None and "antara 1 dan 4 (skala jawaban kuesioner)" in error.group(1)
    data = knpi_scheme(**{**bound, "cat-min-0": "5,5"})
    refused = post(client, NEW, form(questionnaire=str(five.id), **data))
    error = re.search(r'id="err-category-0">(.*?)</p>', refused.get_data(as_text=True))
    assert error is not None and "antara 1 dan 5" in error.group(1)
    assert snapshot(session) == before
    response = post(client, NEW, form(questionnaire=str(five.id), **knpi_scheme(**bound)))
    assert response.status_code == 303
    scheme = session.get(CategoryScheme, wave_row(session, "knpi-2025").scheme_id)
    assert scheme is not None
    assert [(c["code"], c["min_ikm"], c["min_converted"]) for c in scheme.categories] == [
        ("A", 4.5, 90.625),
        ("B", 4.0, 81.25),
        ("C", 3.0, 62.5),
        ("D", 1.0, 25.0),
    ]


def test_custom_scheme_rows_left_blank_are_skipped(client, session, setup) -> None:
    login(client)
    blank = {f"cat-{part}-3": "" for part in ("code", "label_id", "label_en", "min")}
    data = knpi_scheme(**blank, **{"cat-min-2": "1.00"})
    assert post(client, NEW, form(**data)).status_code == 303
    scheme = session.get(CategoryScheme, wave_row(session, "knpi-2025").scheme_id)
    assert scheme is not None and [c["code"] for c in scheme.categories] == ["A", "B", "C"]


# --- Editing -------------------------------------------------------------------------------


def edit_form(**changes: object) -> dict:
    """Return the edit form of the draft fixture unchanged, with changes."""
    data: dict = {
        "title": "Uji Coba 2026",
        "evaluator": "",
        "period_start": "",
        "period_end": "",
        "opd": ["bpbd", "rsud"],
        "target-bpbd": "30",
        "target-rsud": "30",
        "questionnaire": "1",
        "scheme": "permenpanrb-14-2017",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


EDIT = "/kerja/gelombang/uji-2026/ubah"


def test_edit_form_shows_the_current_settings(client, draft) -> None:
    login(client)
    page = client.get(EDIT).get_data(as_text=True)
    assert 'value="Uji Coba 2026"' in page
    assert re.search(r'id="f-opd-bpbd" name="opd" value="bpbd" checked', page)
    assert not re.search(r'id="f-opd-dishub" name="opd" value="dishub" checked', page)
    assert 'id="f-target-bpbd" name="target-bpbd" min="1" max="1000000" step="1" value="30"' in page
    assert 'name="slug"' not in page  # the slug is fixed once created


def test_edit_changes_everything_in_one_audited_transaction(client, session, draft) -> None:
    login(client)
    data = edit_form(
        title="Uji Coba 2026 (revisi)",
        period_start="2026-01-05",
        period_end="2026-01-30",
        opd=["bpbd", "rsud", "dishub"],
        **{"target-bpbd": "45", "target-dishub": "20"},
    )
    response = post(client, EDIT, data)
    assert response.status_code == 303
    wave = wave_row(session)
    assert wave.title == "Uji Coba 2026 (revisi)"
    assert (wave.period_start, wave.period_end) == (date(2026, 1, 5), date(2026, 1, 30))
    assert targets(session, "uji-2026") == {"bpbd": 45, "rsud": 30, "dishub": 20}
    [entry] = audits(session, "wave.update")
    assert entry.actor == "eva"
    assert set(entry.detail["before"]) == {"title", "period_start", "period_end", "opds", "targets"}
    assert entry.detail["before"]["title"] == "Uji Coba 2026"
    assert entry.detail["after"]["opds"] == ["bpbd", "dishub", "rsud"]
    assert entry.detail["before"]["targets"] == {"bpbd": 30, "rsud": 30}
    assert entry.detail["after"]["targets"] == {"bpbd": 45, "dishub": 20, "rsud": 30}
    assert "Perubahan disimpan." in client.get(response.headers["Location"]).get_data(as_text=True)


def test_edit_without_change_writes_nothing(client, session, draft) -> None:
    login(client)
    before = snapshot(session)
    response = post(client, EDIT, edit_form())
    assert response.status_code == 303
    assert snapshot(session) == before
    assert "Tidak ada yang berubah." in client.get(response.headers["Location"]).get_data(
        as_text=True
    )


def test_removing_an_opd_with_responses_is_refused(client, session, draft) -> None:
    add_responses(session, draft, "rsud", [FOURS], status="flagged", reason="bot-suspect")
    login(client)
    before = snapshot(session)
    response = post(client, EDIT, edit_form(opd=["bpbd"], title="Lain"))
    assert response.status_code == 400
    error = re.search(r'id="err-opds">(.*?)</p>', response.get_data(as_text=True))
    assert error is not None and "Rumah Sakit Umum Daerah" in error.group(1)
    assert "tidak dapat dikeluarkan" in error.group(1)
    assert snapshot(session) == before
    # An OPD without responses can go.
    assert post(client, EDIT, edit_form(opd=["rsud"])).status_code == 303
    assert targets(session, "uji-2026") == {"rsud": 30}


def test_questionnaire_changes_only_while_draft_without_responses(client, session, draft) -> None:
    spec = load_questionnaire_file(KNPI.read_bytes(), KNPI.name)
    knpi, _created = add_questionnaire(session, spec=spec, actor=None)
    login(client)
    page = client.get(EDIT).get_data(as_text=True)
    assert '<select id="f-questionnaire" name="questionnaire"' in page
    assert post(client, EDIT, edit_form(questionnaire=str(knpi.id))).status_code == 303
    assert wave_row(session).questionnaire_id == knpi.id
    # Once open, the questionnaire is fixed: not offered, and a posted change is refused.
    set_wave_status(session, slug="uji-2026", status="open")
    page = client.get(EDIT).get_data(as_text=True)
    assert 'name="questionnaire"' not in page
    before = snapshot(session)
    response = post(client, EDIT, edit_form(questionnaire="1"))
    assert response.status_code == 400
    assert "hanya dapat diganti" in response.get_data(as_text=True)
    assert snapshot(session) == before
    # Without the field, the other settings can still change.
    assert post(client, EDIT, edit_form(questionnaire=None, title="Baru")).status_code == 303
    assert wave_row(session).questionnaire_id == knpi.id


def test_draft_with_responses_keeps_its_questionnaire(client, session, draft) -> None:
    spec = load_questionnaire_file(KNPI.read_bytes(), KNPI.name)
    knpi, _created = add_questionnaire(session, spec=spec, actor=None)
    add_responses(session, draft, "bpbd", [FOURS])
    login(client)
    before = snapshot(session)
    assert post(client, EDIT, edit_form(questionnaire=str(knpi.id))).status_code == 400
    assert snapshot(session) == before


def test_edit_to_a_custom_scheme(client, session, draft) -> None:
    login(client)
    assert post(client, EDIT, edit_form(**knpi_scheme())).status_code == 303
    wave = wave_row(session)
    scheme = session.get(CategoryScheme, wave.scheme_id)
    assert scheme is not None and scheme.slug == "skema-knpi-kota-serang-2025"
    [entry] = audits(session, "wave.update")
    assert entry.detail["before"] == {"scheme": "permenpanrb-14-2017"}
    assert entry.detail["after"] == {"scheme": "skema-knpi-kota-serang-2025"}
    assert len(audits(session, "scheme.create")) == 1


def test_published_wave_cannot_be_edited(client, session, draft) -> None:
    set_wave_status(session, slug="uji-2026", status="open")
    add_responses(session, draft, "bpbd", [FOURS, FOURS])
    for status in ("closed", "published"):
        set_wave_status(session, slug="uji-2026", status=status)
    login(client)
    assert client.get(EDIT).status_code == 409
    before = snapshot(session)
    tok = token(client, "/kerja/gelombang/uji-2026")
    response = client.post(EDIT, data={"csrf_token": tok, **edit_form(title="Diubah")})
    assert response.status_code == 409
    assert "tidak dapat diubah" in response.get_data(as_text=True)
    assert snapshot(session) == before
    assert "/ubah" not in client.get("/kerja/gelombang/uji-2026").get_data(as_text=True)


# --- Life cycle ----------------------------------------------------------------------------


STATUS = "/kerja/gelombang/uji-2026/status"


def test_open_close_reopen_publish(client, session, draft) -> None:
    login(client)
    for action, status in (
        ("open", "open"),
        ("close", "closed"),
        ("open", "open"),
        ("close", "closed"),
    ):
        response = post(client, STATUS, {"action": action})
        assert response.status_code == 303, action
        assert wave_row(session).status == status
    assert [e.detail["to"] for e in audits(session, "wave.open")] == ["open", "open"]
    assert [e.detail["from"] for e in audits(session, "wave.open")] == ["draft", "closed"]
    assert len(audits(session, "wave.close")) == 2
    # Nothing counted: the checklist blocks publishing (button disabled, POST refused).
    page = client.get("/kerja/gelombang/uji-2026").get_data(as_text=True)
    assert 'id="butir-nothing-counted" class="blocking"' in page
    assert 'value="publish" disabled' in page
    before = snapshot(session)
    response = post(client, STATUS, {"action": "publish"})
    assert response.status_code == 400
    assert "Daftar periksa menghalangi penerbitan: 1 butir harus diselesaikan dulu" in (
        response.get_data(as_text=True)
    )
    assert snapshot(session) == before
    # With answers, RSUD has none: an item to tick. Without the tick: refused, nothing changed.
    add_responses(session, wave_row(session), "bpbd", [FOURS, [3] * 9])
    response = post(client, STATUS, {"action": "publish"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="err-checklist"' in page and "1 butir belum dicentang" in page
    assert 'id="err-ack-no-responses"' in page
    assert "Rumah Sakit Umum Daerah: belum ada respons yang dihitung" in page
    assert snapshot(session) == before
    assert wave_row(session).published_at is None
    response = post(client, STATUS, {"action": "publish", "acknowledge": "no-responses"})
    assert response.status_code == 303
    wave = wave_row(session)
    assert wave.status == "published" and wave.published_at is not None
    [entry] = audits(session, "wave.publish")
    assert entry.actor == "eva" and entry.detail["acknowledged"] == ["no-responses"]
    assert entry.detail["acknowledged_by"] == "eva"
    assert entry.detail["from"] == "closed"
    # Irreversible: nothing moves a published wave.
    before = snapshot(session)
    for action in ("open", "close", "publish"):
        data = {"action": action, "acknowledge": "no-responses"}
        assert post(client, STATUS, data).status_code == 400
    assert snapshot(session) == before


@pytest.mark.parametrize(
    ("start", "action"),
    [
        ("draft", "close"),
        ("draft", "publish"),
        ("open", "publish"),
        ("open", "open"),
        ("draft", "delete"),
        ("draft", ""),
    ],
)
def test_transitions_that_do_not_exist_are_refused(client, session, draft, start, action) -> None:
    if start == "open":
        set_wave_status(session, slug="uji-2026", status="open")
    login(client)
    before = snapshot(session)
    response = post(client, STATUS, {"action": action, "acknowledge": "flagged"})
    assert response.status_code == 400
    assert 'role="alert"' in response.get_data(as_text=True)
    assert snapshot(session) == before


def test_status_without_csrf_is_refused(client, session, draft) -> None:
    login(client)
    before = snapshot(session)
    assert client.post(STATUS, data={"action": "open"}).status_code == 400
    assert snapshot(session) == before


# --- The wave page -------------------------------------------------------------------------


def test_detail_shows_settings_targets_actions_and_links(client, session, draft) -> None:
    add_responses(session, draft, "bpbd", [FOURS] * 4)
    add_responses(session, draft, "bpbd", [FOURS], status="flagged", reason="bot-suspect")
    login(client)
    page = client.get("/kerja/gelombang/uji-2026").get_data(as_text=True)
    assert "<h1>Uji Coba 2026</h1>" in page
    assert "PermenPANRB 14/2017" in page
    bpbd = re.search(r'<tr id="opd-bpbd">(.*?)</tr>', page, re.S)
    assert bpbd is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", bpbd.group(1), re.S)
    margin = margin_for(30, 500)
    assert margin is not None
    assert cells == ["500", "30", f"± {margin:.1f} poin".replace(".", ","), "4", "1"]
    for href in (
        "/kerja/gelombang/uji-2026/dasbor",
        "/kerja/gelombang/uji-2026/ditandai",
        "/r/uji-2026/posters.pdf",
        "/kerja/gelombang/uji-2026/impor",
        "/kerja/gelombang/uji-2026/ekspor/csv",
        "/kerja/gelombang/uji-2026/ekspor/xlsx",
        "/kerja/gelombang/uji-2026/ekspor/json",
    ):
        assert f'href="{href}"' in page, href
    assert 'href="/hasil/uji-2026"' not in page  # only once published
    assert 'value="open"' in page and 'value="publish"' not in page
    assert "Pertanyaan persepsi" not in page  # the built-in questionnaire has none


def test_detail_of_a_published_wave_links_the_public_results(client, session, draft) -> None:
    set_wave_status(session, slug="uji-2026", status="open")
    add_responses(session, draft, "bpbd", [FOURS, FOURS])
    for status in ("closed", "published"):
        set_wave_status(session, slug="uji-2026", status=status)
    login(client)
    page = client.get("/kerja/gelombang/uji-2026").get_data(as_text=True)
    assert 'href="/hasil/uji-2026"' in page
    # The one action left is a correction (errata); no open, close or publish.
    assert re.findall(r'name="action" value="(\w+)"', page) == ["revise"]


# --- Perception results --------------------------------------------------------------------


@pytest.fixture
def knpi_wave(session: Session, setup) -> Wave:
    """An open wave with the KNPI questionnaire (U1..U9, then P1 satisfaction, P2 agreement)."""
    spec = load_questionnaire_file(KNPI.read_bytes(), KNPI.name)
    knpi, _created = add_questionnaire(session, spec=spec, actor=None)
    wave = create_wave(
        session,
        slug="knpi-2025",
        title="KNPI 2025",
        opd_slugs=["bpbd", "rsud"],
        questionnaire_id=knpi.id,
        status="open",
    )
    # BPBD: P1 answers 4, 3, 2, 1 and P2 4, 4, none, 2 (counted); one flagged all-1 response.
    add_responses(
        session,
        wave,
        "bpbd",
        [[*FOURS, 4, 4], [*FOURS, 3, 4], [*FOURS, 2, None], [*FOURS, 1, 2]],
    )
    add_responses(session, wave, "bpbd", [[1] * 11], status="flagged", reason="bot-suspect")
    return wave


def test_perception_scores_per_opd_from_counted_responses(session, knpi_wave) -> None:
    report = perception_scores(session, wave=knpi_wave)
    assert report is not None
    assert [item.code for item in report.items] == ["P1", "P2"]
    assert report.scale_points == 4 and report.counted == 4
    by_slug = {opd.slug: opd.result for opd in report.opds}
    p1, p2 = by_slug["bpbd"].items
    assert (p1.n, p1.mean, p1.counts, p1.positive) == (4, 2.5, (1, 1, 1, 1), 2)
    assert (p2.n, p2.counts, p2.positive) == (3, (0, 1, 0, 2), 2)
    assert p2.mean == pytest.approx(10 / 3)
    empty = by_slug["rsud"].items[0]
    assert empty.n == 0 and empty.counts == (0, 0, 0, 0)


def test_perception_is_none_without_perception_items(session, draft) -> None:
    assert perception_scores(session, wave=draft) is None


def test_detail_shows_perception_results(client, knpi_wave) -> None:
    login(client)
    page = client.get("/kerja/gelombang/knpi-2025").get_data(as_text=True)
    assert "Pertanyaan persepsi" in page
    tables = re.findall(r'<table class="perception-table">(.*?)</table>', page, re.S)
    assert len(tables) == 2
    assert "P1: Kepuasan keseluruhan" in tables[0]
    assert "Tidak puas · Kurang puas · Puas · Sangat puas" in tables[0]
    row = re.search(
        r"<th scope=\"row\">Badan Penanggulangan Bencana Daerah</th>(.*?)</tr>", tables[0], re.S
    )
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    # n 4, mean 2,50, t interval 0,45 - 4,55, 50,0% positive, Wilson 15,0% - 85,0%.
    assert cells == [
        "4",
        "2,50",
        "0,45 – 4,55",
        "50,0%",
        "15,0% – 85,0%",
        "1: 1 · 2: 1 · 3: 1 · 4: 1",
    ]
    assert "Interval 95%<" in page and "95%%" not in page


def test_index_and_detail_have_no_inline_style_or_script(client, knpi_wave) -> None:
    login(client)
    for path in (INDEX, "/kerja/gelombang/knpi-2025", "/kerja/gelombang/knpi-2025/ubah", NEW):
        page = client.get(path).get_data(as_text=True)
        assert " style=" not in page and "<script" not in page, path
        assert "workspace.css" in page


def test_opd_model_unchanged_by_wave_edits(client, session, draft) -> None:
    # Editing targets never touches the OPD's own data (its population stays).
    login(client)
    assert post(client, EDIT, edit_form(compute_targets="1")).status_code == 303
    session.expire_all()
    bpbd = session.exec(select(Opd).where(Opd.slug == "bpbd")).one()
    assert bpbd.service_population == 500
    assert targets(session, "uji-2026") == {"bpbd": 217, "rsud": 278}


def test_a_custom_scheme_decides_the_category_when_scoring(client, session, runner, setup) -> None:
    # KNPI's own threshold: an IKM of 3.00 is "Baik" under it, "Kurang baik" under the
    # regulation (B from 3.0644).
    login(client)
    assert post(client, NEW, form(**knpi_scheme())).status_code == 303
    wave = wave_row(session, "knpi-2025")
    add_responses(session, wave, "bpbd", [[3] * 9] * 20)
    result = runner.invoke(args=["score", "--wave", "knpi-2025", "--format", "json"])
    assert result.exit_code == 0, result.output
    row = next(r for r in json.loads(result.stdout) if r["opd"] == "bpbd")
    assert row["ikm"] == pytest.approx(3.0)
    assert (row["category"], row["category_label"]) == ("B", "Baik")
    result = runner.invoke(
        args=["score", "--wave", "knpi-2025", "--format", "json", "--scheme", "permenpanrb-14-2017"]
    )
    row = next(r for r in json.loads(result.stdout) if r["opd"] == "bpbd")
    assert row["category"] == "C"

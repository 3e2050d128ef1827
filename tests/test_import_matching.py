"""Imports that never drop a question silently (issue 13, item 1).

The story: a Google Forms export whose question headers differ slightly from the regulation's
text (a typo in U2 and U7) was read with both columns ignored, and 60 responses of Dinas
Sosial were stored with U2 and U7 empty. Here the same file is read with U2 and U7 mapped; a
header that only resembles a question waits for the evaluator's choice; an element left
without any answer for an OPD is listed before anything is written and needs a tick (web) or
--allow-empty-elements (``ikm import``, exit code 2 otherwise); and the profile answers are
read through common spellings and an editable value map, on both backends.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path

import pytest
from auth_helpers import AuthActions
from file_helpers import CONTEXT, confirm, count, form_values, responses, upload
from flask.testing import FlaskClient
from sqlmodel import Session, select
from survey_helpers import add_opd, create_wave

from survey.core import queries
from survey.core.builtin import DEFAULT_ELEMENTS
from survey.core.models import AuditLog, ImportJob, Response, Wave
from survey.core.responsefile import match_column, suggest_field

QUESTIONS = [element[3] for element in DEFAULT_ELEMENTS]
LABELS = [element[5] for element in DEFAULT_ELEMENTS]
NAMES = [element[1] for element in DEFAULT_ELEMENTS]
# The two headers of the story: one letter lost in each (the "?" and spacing vary too).
U2_TYPO = "Bagaimana pendapat Saudara tentang kemudahan prosedur pelayanan di unit in?"
U7_TYPO = (
    "Bagaimana pendapat saudara tentang perilaku petugas dalam pelayanan terkait "
    "kesopanan dan keramahn ?"
)
# Resembles U7, but could be another question: the evaluator must say.
U7_VAGUE = "Bagaimana pendapat Saudara tentang perilaku petugas terkait kesopanan?"
# Profile answers as a Google Form offers them -> the codes they are stored as.
PROFILES = [
    (("Laki-laki", "SLTA", "Wiraswasta"), ("L", "SMA", "Wirausaha")),
    (("Perempuan", "S1", "Pelajar/Mahasiswa"), ("P", "S1", "Lainnya")),
    (("Perempuan", "SMP/MTs", "Ibu Rumah Tangga"), ("P", "SMP", "Lainnya")),
    (("Laki-laki", "D3", "PNS/ASN"), ("L", "D1-D3", "PNS")),
]
DINSOS_ROWS = 60
BPBD_ROWS = 4


@pytest.fixture
def app_config(app_config: dict) -> dict:
    """Run import jobs inside the request, so each test sees the finished job."""
    return {**app_config, "IMPORT_INLINE": True}


@pytest.fixture
def story_wave(session: Session) -> Wave:
    """An open wave 'uji-2026' over BPBD and Dinas Sosial."""
    add_opd(session, slug="bpbd", name="Badan Penanggulangan Bencana Daerah", short_name="BPBD")
    add_opd(session, slug="dinsos", name="Dinas Sosial", short_name="Dinsos")
    return create_wave(session, slug="uji-2026", title="Uji Coba 2026", status="open")


@pytest.fixture
def eva(client: FlaskClient, story_wave: Wave, users) -> FlaskClient:
    """The client signed in as the evaluator."""
    assert AuthActions(client).login("eva").status_code == 302
    return client


def story_csv(
    *,
    headers: dict[int, str] | None = None,
    blank: set[int] = frozenset(),
    profiles: list[tuple[tuple[str, str, str], tuple[str, str, str]]] = PROFILES,
) -> bytes:
    """Return the Google-Forms-like export: 60 rows of Dinas Sosial, 4 of BPBD.

    ``headers`` replaces question headers (by element index 0..8); the questions in
    ``blank`` are left unanswered in every Dinas Sosial row. Answers are the label texts.
    """
    questions = list(QUESTIONS)
    questions[1], questions[6] = U2_TYPO, U7_TYPO
    questions[0] = "1. " + questions[0]  # numbered, as some forms are
    questions[7] = f"Penilaian layanan [{questions[7]}]"  # a grid's "Title [row]"
    for index, text in (headers or {}).items():
        questions[index] = text
    header = ["Cap waktu", "Unit Layanan", *questions, "Jenis Kelamin", "Umur", "Pendidikan"]
    header.append("Pekerjaan")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for i in range(DINSOS_ROWS + BPBD_ROWS):
        opd = "Dinas Sosial" if i < DINSOS_ROWS else "bpbd"
        answers = [
            "" if opd == "Dinas Sosial" and q in blank else LABELS[q][(i + q) % 4] for q in range(9)
        ]
        (sex, education, occupation), _codes = profiles[i % len(profiles)]
        stamp = f"{1 + i % 28:02d}/06/2025 {8 + i % 9}:{i % 60:02d}:00"
        writer.writerow([stamp, opd, *answers, sex, 20 + i % 40, education, occupation])
    return buffer.getvalue().encode("utf-8")


def answered(session: Session, opd_slug: str, position: int) -> int:
    """Return how many stored responses of an OPD answer the element at ``position``."""
    opd = queries.get_opd(session, slug=opd_slug)
    return sum(
        1
        for r in responses(session, "uji-2026")
        if r.opd_id == opd.id and getattr(r, f"a{position}") is not None
    )


def the_job(session: Session) -> ImportJob:
    """Return the newest import job."""
    session.expire_all()
    return session.exec(select(ImportJob).order_by(ImportJob.id.desc())).first()


def import_audits(session: Session) -> list[AuditLog]:
    """Return the import.run audit entries, oldest first."""
    session.expire_all()
    query = select(AuditLog).where(AuditLog.action == "import.run").order_by(AuditLog.id)
    return list(session.exec(query).all())


def value_field(values: dict[str, str], name: str, text: str) -> str:
    """Return the select of the mapping form that reads ``text`` in profile column ``name``."""
    for key, value in values.items():
        if key.startswith(f"teks-{name}-") and value == text:
            return "nilai-" + key.removeprefix("teks-")
    raise AssertionError(f"no select for {name} {text!r}")


# --- The matching itself ---------------------------------------------------------------------

CONTEXT9 = replace(
    CONTEXT, question_texts={e[0]: (e[3], e[4], e[1], e[2]) for e in DEFAULT_ELEMENTS}
)


@pytest.mark.parametrize(
    ("header", "code", "reason"),
    [
        ("U1", "U1", "code"),
        ("u 2", "U2", "code"),
        ("U03", "U3", "code"),
        ("U4. Biaya/Tarif", "U4", "code"),
        (U2_TYPO, "U2", "similar"),
        (U7_TYPO, "U7", "similar"),
        ("2. " + QUESTIONS[1], "U2", "text"),
        (f"Penilaian [{QUESTIONS[2]}]", "U3", "text"),
        ("KOMPETENSI  PELAKSANA", "U6", "text"),
        ("Kesesuaian produk pelayanan", "U5", "similar"),
        ("Kualitas sarana prasarana", "U8", "similar"),
    ],
)
def test_clear_matches(header: str, code: str, reason: str) -> None:
    """Codes in any spelling, question texts with a typo, names: read as their question."""
    found = match_column(header, CONTEXT9)
    assert found is not None and (found.code, found.reason, found.clear) == (code, reason, True)
    assert suggest_field(header, CONTEXT9) == code


def test_typo_scores_are_shown_as_measured() -> None:
    """The score the page shows is difflib's ratio of the distinctive part of the question."""
    assert match_column(U2_TYPO, CONTEXT9).score == 0.987
    assert match_column(U7_TYPO, CONTEXT9).score == 0.992


@pytest.mark.parametrize(
    ("header", "code", "other"),
    [
        (U7_VAGUE, "U7", None),
        ("Waktu pelayanan", "U3", "U7"),
        # A code that contradicts its text: the evaluator says which.
        ("U3. " + QUESTIONS[6], "U3", "U7"),
    ],
)
def test_weak_matches_are_not_clear(header: str, code: str, other: str | None) -> None:
    """A header that only resembles a question is neither read nor ignored on its own."""
    found = match_column(header, CONTEXT9)
    assert found is not None and (found.code, found.clear, found.other) == (code, False, other)
    assert suggest_field(header, CONTEXT9) is None


@pytest.mark.parametrize(
    "header", ["Email Address", "Nama Lengkap", "No. HP", "Alamat", "Skor", "Nomor antrean"]
)
def test_unrelated_headers_resemble_nothing(header: str) -> None:
    """The other columns of a Google Forms export are not taken for questions."""
    assert match_column(header, CONTEXT9) is None


# --- The web mapping page --------------------------------------------------------------------


def test_story_file_maps_u2_and_u7_and_stores_every_answer(eva, session, story_wave):
    """The story's file: U2 and U7 preselected despite their typos, all 64 rows complete."""
    job_url = upload(eva, story_csv(), "gform.csv").headers["Location"]
    html = eva.get(job_url).get_data(as_text=True)
    values = form_values(html)
    assert [values[f"kolom-{i}"] for i in range(2, 11)] == [f"U{i}" for i in range(1, 10)]
    assert values["kolom-0"] == "submitted_at" and values["kolom-1"] == "opd"
    assert values["format_waktu"] == "%d/%m/%Y %H:%M:%S"
    # The reason and score of each fuzzy match are on the page.
    assert "mirip U2 (99% sama)" in html and "mirip U7 (99% sama)" in html
    assert 'id="elemen-kosong"' not in html  # nothing left empty
    # Each distinct profile answer with the code it will be stored as, preselected.
    assert values[value_field(values, "education", "SLTA")] == "SMA"
    assert values[value_field(values, "occupation", "Pelajar/Mahasiswa")] == "Lainnya"
    assert values[value_field(values, "sex", "Perempuan")] == "P"

    assert confirm(eva, job_url).status_code == 302
    job = the_job(session)
    assert (job.status, job.imported) == ("done", DINSOS_ROWS + BPBD_ROWS), job.message
    assert count(session, Response) == 64
    assert answered(session, "dinsos", 2) == answered(session, "dinsos", 7) == DINSOS_ROWS
    assert answered(session, "bpbd", 2) == BPBD_ROWS
    stored = responses(session, "uji-2026")
    profile_counts: dict[tuple, int] = {}
    for r in stored:
        key = (r.sex, r.education, r.occupation)
        profile_counts[key] = profile_counts.get(key, 0) + 1
    assert profile_counts == {
        ("L", "SMA", "Wirausaha"): 16,
        ("P", "S1", "Lainnya"): 16,
        ("P", "SMP", "Lainnya"): 16,
        ("L", "D1-D3", "PNS"): 16,
    }


def test_ambiguous_header_blocks_until_chosen(eva, session, story_wave):
    """A header that only resembles U7 is preselected to nothing; confirming names it."""
    job_url = upload(eva, story_csv(headers={6: U7_VAGUE}), "gform.csv").headers["Location"]
    html = eva.get(job_url).get_data(as_text=True)
    values = form_values(html)
    assert values["kolom-8"] == "?"
    assert "belum pasti: mirip U7 (69% sama)" in html
    refused = confirm(eva, job_url)
    assert refused.status_code == 400
    text = refused.get_data(as_text=True)
    assert f"Kolom “{U7_VAGUE}” mirip pertanyaan kuesioner tetapi belum pasti" in text
    assert the_job(session).status == "mapping" and count(session, Response) == 0
    # Chosen explicitly, it is read as U7.
    assert confirm(eva, job_url, **{"kolom-8": "U7"}).status_code == 302
    assert the_job(session).status == "done"
    assert answered(session, "dinsos", 7) == DINSOS_ROWS


def test_ambiguous_header_may_be_ignored_on_purpose(eva, session, story_wave):
    """Ignoring the column is a choice too, and then U7 has no column: that is listed."""
    job_url = upload(eva, story_csv(headers={6: U7_VAGUE}), "gform.csv").headers["Location"]
    refused = confirm(eva, job_url, **{"kolom-8": ""})
    assert refused.status_code == 400
    text = refused.get_data(as_text=True)
    assert "U7 (Perilaku Pelaksana) tidak punya kolom di berkas: kosong di semua 64 baris." in text
    assert count(session, Response) == 0
    assert confirm(eva, job_url, **{"kolom-8": "", "akui_kosong": "1"}).status_code == 302
    assert count(session, Response) == 64 and answered(session, "dinsos", 7) == 0
    (entry,) = import_audits(session)
    assert entry.detail["empty_elements_acknowledged"] == ["U7@*"]


def test_empty_element_for_an_opd_blocks_until_acknowledged(eva, session, story_wave):
    """U2 unanswered by all 60 rows of Dinas Sosial: listed, refused unticked, then written."""
    job_url = upload(eva, story_csv(blank={1}), "gform.csv").headers["Location"]
    html = eva.get(job_url).get_data(as_text=True)
    warning = "U2 (Sistem, Mekanisme, dan Prosedur) tidak terisi untuk Dinas Sosial (60 baris)."
    assert warning in html
    refused = confirm(eva, job_url)
    assert refused.status_code == 400
    assert "Centang pernyataan di bawah daftar itu" in refused.get_data(as_text=True)
    assert count(session, Response) == 0 and the_job(session).status == "mapping"
    assert import_audits(session) == []
    # A tick given for another list (the page changed meanwhile) is not this acknowledgement.
    stale = confirm(eva, job_url, akui_kosong="1", kunci_kosong="U9@1")
    assert stale.status_code == 400 and count(session, Response) == 0

    assert confirm(eva, job_url, akui_kosong="1").status_code == 302
    job = the_job(session)
    assert (job.status, job.imported) == ("done", 64), job.message
    assert count(session, Response) == 64
    assert answered(session, "dinsos", 2) == 0 and answered(session, "dinsos", 3) == 60
    assert answered(session, "bpbd", 2) == BPBD_ROWS
    dinsos = queries.get_opd(session, slug="dinsos").id
    (entry,) = import_audits(session)
    assert entry.detail["empty_elements_acknowledged"] == [f"U2@{dinsos}"]


def test_worker_refuses_an_empty_element_nobody_acknowledged(app, eva, session, story_wave):
    """The job itself checks the rows again: an unacknowledged empty element writes nothing."""
    from survey.core import imports as import_service

    job_url = upload(eva, story_csv(blank={1}), "gform.csv").headers["Location"]
    job = the_job(session)
    context = import_service.import_context(session, wave=story_wave)
    mapping = import_service.mapping_from_choices(
        ["Cap waktu", "Unit Layanan"], ["submitted_at", "opd"], "%d/%m/%Y %H:%M:%S"
    )
    assert import_service.confirm_job(session, job=job, context=context, mapping=mapping)
    import_service.run_import_job(app.extensions["ikm_engine"], job_id=job.id)
    job = the_job(session)
    assert job.status == "failed" and count(session, Response) == 0
    assert [p["code"] for p in job.problems] == ["import-element-empty"]
    assert job.problems[0]["params"]["opd"] == "Dinas Sosial"
    assert "U2 (Sistem, Mekanisme, dan Prosedur) tidak terisi untuk Dinas Sosial" in (
        eva.get(job_url).get_data(as_text=True)
    )


def test_unknown_profile_values_must_be_chosen_and_edits_are_honoured(eva, session, story_wave):
    """'TNI/Polri' and 'Honorer' need a choice; an edited reading of 'Wiraswasta' is kept."""
    profiles = [
        *PROFILES,
        (("Pria", "SMA/SMK", "TNI/Polri"), ("L", "SMA", "POLRI")),
        (("Wanita", "Sarjana", "Honorer"), ("P", "S1", None)),
    ]
    data = story_csv(profiles=profiles)
    job_url = upload(eva, data, "gform.csv").headers["Location"]
    values = form_values(eva.get(job_url).get_data(as_text=True))
    tni = value_field(values, "occupation", "TNI/Polri")
    honorer = value_field(values, "occupation", "Honorer")
    wiraswasta = value_field(values, "occupation", "Wiraswasta")
    assert (values[tni], values[honorer], values[wiraswasta]) == ("?", "?", "Wirausaha")
    refused = confirm(eva, job_url)
    assert refused.status_code == 400
    text = refused.get_data(as_text=True)
    assert "“TNI/Polri” di kolom Pekerjaan (10 baris)" in text
    assert "“Honorer” di kolom Pekerjaan (10 baris)" in text
    assert count(session, Response) == 0

    done = confirm(eva, job_url, **{tni: "POLRI", honorer: "", wiraswasta: "Swasta"})
    assert done.status_code == 302
    job = the_job(session)
    assert job.status == "done", job.message
    assert job.mapping["values"] == {
        "occupation": {"TNI/Polri": "POLRI", "Honorer": "", "Wiraswasta": "Swasta"}
    }
    occupations: dict[str | None, int] = {}
    for r in responses(session, "uji-2026"):
        occupations[r.occupation] = occupations.get(r.occupation, 0) + 1
    # 64 rows over 6 profiles: the first four get 11 rows each, the last two 10.
    assert occupations == {"Swasta": 11, "Lainnya": 22, "PNS": 11, "POLRI": 10, None: 10}
    sexes = {(r.sex, r.education) for r in responses(session, "uji-2026")}
    assert ("L", "SMA") in sexes and ("P", "S1") in sexes


def test_forged_value_choice_is_refused(eva, session, story_wave):
    """A code the page never offers for a profile column is a bad request."""
    job_url = upload(eva, story_csv(), "gform.csv").headers["Location"]
    values = form_values(eva.get(job_url).get_data(as_text=True))
    field = value_field(values, "sex", "Perempuan")
    assert confirm(eva, job_url, **{field: "X"}).status_code == 400
    assert count(session, Response) == 0 and the_job(session).status == "mapping"


# --- ikm import ------------------------------------------------------------------------------


def test_cli_story_file_imports_u2_and_u7(runner, session, story_wave, tmp_path: Path):
    """`ikm import` reads the typo headers as U2 and U7, as the web page does."""
    path = tmp_path / "gform.csv"
    path.write_bytes(story_csv())
    args = ["import", str(path), "--wave", "uji-2026", "--map", str(tmp_path / "m.json")]
    (tmp_path / "m.json").write_text(json.dumps({"time_format": "%d/%m/%Y %H:%M:%S"}))
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "64 imported" in result.output
    assert f"{U2_TYPO!r} -> U2 (suggested)" in result.output
    assert answered(session, "dinsos", 2) == answered(session, "dinsos", 7) == DINSOS_ROWS


def test_cli_refuses_an_ambiguous_header_until_mapped(runner, session, story_wave, tmp_path):
    """A header resembling U7 stops the CLI (exit 1) until --column says what it is."""
    path = tmp_path / "gform.csv"
    path.write_bytes(story_csv(headers={6: U7_VAGUE}))
    (tmp_path / "m.json").write_text(json.dumps({"time_format": "%d/%m/%Y %H:%M:%S"}))
    base = ["import", str(path), "--wave", "uji-2026", "--map", str(tmp_path / "m.json")]
    result = runner.invoke(args=base)
    assert result.exit_code == 1
    assert f"column {U7_VAGUE!r} resembles question U7 (69% alike)" in result.output
    assert count(session, Response) == 0
    result = runner.invoke(args=[*base, "--column", f"{U7_VAGUE}=U7"])
    assert result.exit_code == 0, result.output
    assert answered(session, "dinsos", 7) == DINSOS_ROWS


def test_cli_refuses_empty_elements_with_exit_2_then_imports_with_the_flag(
    runner, session, story_wave, tmp_path: Path
):
    """Exit 2 and nothing written while U2 is empty for Dinas Sosial; the flag imports."""
    path = tmp_path / "gform.csv"
    path.write_bytes(story_csv(blank={1}))
    (tmp_path / "m.json").write_text(json.dumps({"time_format": "%d/%m/%Y %H:%M:%S"}))
    base = ["import", str(path), "--wave", "uji-2026", "--map", str(tmp_path / "m.json")]
    for extra in ([], ["--dry-run"]):
        result = runner.invoke(args=[*base, *extra])
        assert result.exit_code == 2, result.output
        assert (
            "empty element: U2 (Sistem, Mekanisme, dan Prosedur) is not answered by any of "
            "the 60 rows of Dinas Sosial"
        ) in result.output
        assert count(session, Response) == 0 and import_audits(session) == []
    result = runner.invoke(args=[*base, "--allow-empty-elements"])
    assert result.exit_code == 0, result.output
    assert count(session, Response) == 64
    assert answered(session, "dinsos", 2) == 0 and answered(session, "dinsos", 1) == 60
    dinsos = queries.get_opd(session, slug="dinsos").id
    (entry,) = import_audits(session)
    assert entry.detail["empty_elements_acknowledged"] == [f"U2@{dinsos}"]


def test_cli_lists_unread_values_then_reads_them_with_a_value_map(
    runner, session, story_wave, tmp_path: Path
):
    """'TNI/Polri' refuses the import with the values listed; a --value-map CSV reads them."""
    profiles = [*PROFILES, (("Pria", "SMA/SMK", "TNI/Polri"), ("L", "SMA", "POLRI"))]
    path = tmp_path / "gform.csv"
    path.write_bytes(story_csv(profiles=profiles))
    (tmp_path / "m.json").write_text(json.dumps({"time_format": "%d/%m/%Y %H:%M:%S"}))
    base = ["import", str(path), "--wave", "uji-2026", "--map", str(tmp_path / "m.json")]
    result = runner.invoke(args=base)
    assert result.exit_code == 1
    assert "values not read (give them in --value-map): occupation 'TNI/Polri' (12 rows)" in (
        result.output
    )
    assert count(session, Response) == 0
    value_map = tmp_path / "nilai.csv"
    value_map.write_text(
        "field,value,code\noccupation,TNI/Polri,TNI\noccupation,Wiraswasta,Swasta\n"
    )
    result = runner.invoke(args=[*base, "--value-map", str(value_map)])
    assert result.exit_code == 0, result.output
    occupations: dict[str | None, int] = {}
    for r in responses(session, "uji-2026"):
        occupations[r.occupation] = occupations.get(r.occupation, 0) + 1
    assert occupations == {"Swasta": 13, "Lainnya": 26, "PNS": 13, "TNI": 12}
    bad = tmp_path / "salah.csv"
    bad.write_text("occupation,TNI/Polri,Tentara\n")
    result = runner.invoke(args=[*base, "--value-map", str(bad)])
    assert result.exit_code == 1 and "'Tentara' is not one of PNS, TNI, POLRI" in result.output
    assert count(session, Response) == 64

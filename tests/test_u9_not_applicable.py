"""U9 "Belum pernah menyampaikan pengaduan": an answer that is stored but never scored.

A citizen who never complained can say so instead of guessing how complaints are handled. The
answer is stored as 0 (not applicable), so U9's NRR is the mean over those who rated it
(the regulation's "n menjawab"). Hand-computed wave, BPBD:

    r1: 4 4 4 4 4 4 4 4 4
    r2: 3 3 3 3 3 3 3 3 2
    r3: 4 4 4 4 4 4 4 4 NA   (never complained)
    r4: 3 3 3 3 3 3 3 3 NA   (never complained)

U1..U8 NRR = 14/4 = 3.5 each; U9 NRR = (4 + 2) / 2 = 3.0 from n = 2 (not (4 + 2) / 4 = 1.5,
which counting NA as 0 would give); IKM = (8 x 3.5 + 3.0) / 9 = 31/9 = 3.444..., converted
775/9 = 86.11, category B. Had the two been stored as 1 (the lowest, what a guess might give),
U9 would be 2.5 and the IKM 30.5/9 = 3.3889.
"""

from __future__ import annotations

import io
import re
import subprocess
import zipfile

import pytest
from file_helpers import HEADER
from sqlmodel import Session, select
from survey_helpers import SurveyActions, add_responses, install_clock, set_wave_status

from reports.opd import render_opd_pdf
from survey.core import notapplicable, queries
from survey.core.exports import open_data_zip
from survey.core.models import Response
from survey.core.questionnaires import add_questionnaire, check_questionnaire
from survey.core.reportdata import opd_report_data
from survey.core.scores import score_wave

BPBD = [
    [4] * 9,
    [3] * 8 + [2],
    [4] * 8 + [0],
    [3] * 8 + [0],
]
LABEL_ID = "Belum pernah menyampaikan pengaduan"
LABEL_EN = "I have never made a complaint"


def pdf_lines(pdf: bytes, tmp_path) -> list[str]:
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    return [" ".join(line.split()) for line in out.splitlines() if line.strip()]


def stored_u9(session: Session) -> list[int | None]:
    session.expire_all()
    return [r.a9 for r in session.exec(select(Response).order_by(Response.id)).all()]


# --- The citizen form -------------------------------------------------------------------------

RADIO_RE = re.compile(r'<input type="radio" name="U9" value="([^"]+)"[^>]*>([^<]+)</label>')


@pytest.fixture
def citizen(app, session, open_wave, monkeypatch):
    return SurveyActions(app, install_clock(monkeypatch))


def test_u9_offers_the_never_complained_answer_after_its_scale(citizen) -> None:
    html = citizen.open().html
    assert RADIO_RE.findall(html) == [
        ("1", "Tidak ada"),
        ("2", "Ada tetapi tidak berfungsi"),
        ("3", "Berfungsi kurang maksimal"),
        ("4", "Dikelola dengan baik"),
        ("0", LABEL_ID),
    ]
    assert 'name="U8" value="0"' not in html  # only U9 offers it
    english = citizen.open("?lang=en").html
    assert ("0", LABEL_EN) in RADIO_RE.findall(english)


def test_choosing_it_stores_not_applicable(citizen, session: Session) -> None:
    answers = {f"U{i}": "4" for i in range(1, 9)} | {"U9": "0"}
    response = citizen.submit(answers)
    assert response.status_code == 303, response.get_data(as_text=True)
    stored = session.exec(select(Response)).one()
    assert [stored.a1, stored.a8, stored.a9] == [4, 4, 0]


def test_eight_fours_and_never_complained_is_a_straight_line(citizen, session: Session) -> None:
    # "Not applicable" is not a rating: eight 4s and U9 NA are as uniform as nine 4s.
    answers = {f"U{i}": "4" for i in range(1, 9)} | {"U9": "0"}
    assert citizen.submit(answers).status_code == 303
    assert session.exec(select(Response)).one().straightline is True


def test_u8_refuses_the_value_only_u9_offers(citizen, session: Session) -> None:
    answers = {f"U{i}": "4" for i in range(1, 10)} | {"U8": "0"}
    response = citizen.submit(answers)
    assert response.status_code == 400
    assert "Pilih salah satu dari 4 jawaban." in response.get_data(as_text=True)
    assert stored_u9(session) == []


# --- Scoring and the reports --------------------------------------------------------------------


def test_u9_nrr_and_ikm_count_only_those_who_rated(session: Session, open_wave, tmp_path) -> None:
    add_responses(session, open_wave, "bpbd", BPBD)
    add_responses(session, open_wave, "rsud", [[2] * 9, [3] * 9])
    scored = score_wave(session, wave=open_wave)
    unit = scored.unit("bpbd")
    assert unit is not None
    assert unit.n == 4
    assert [int(n) for n in unit.estimate.n_answers] == [4] * 8 + [2]
    assert unit.estimate.nrr[8] == pytest.approx(3.0, abs=1e-12)
    assert unit.estimate.exact * 9 == 31
    assert unit.estimate.converted() == pytest.approx(775 / 9, abs=1e-9)
    assert unit.category().code == "B"

    data = opd_report_data(session, wave=open_wave, ranking=scored, opd_slug="bpbd", public=True)
    lines = pdf_lines(render_opd_pdf(data), tmp_path)
    assert "U9 Penanganan Pengaduan, Saran dan Masukan 2 3,000 1/9 0,3333" in lines
    assert "U1 Persyaratan 4 3,500 1/9 0,3889" in lines
    assert "IKM (jumlah NRR tertimbang) 3,4444" in lines
    assert "Nilai konversi (IKM × 25) 86,11" in lines
    assert scored.opd("bpbd").not_applicable == (("U9", 2),)
    assert scored.opd("rsud").not_applicable == ()
    text = " ".join(lines)
    assert (
        "U9: 2 responden menjawab “Belum pernah menyampaikan pengaduan”; jawaban itu tidak "
        "diberi skor, jadi tidak termasuk responden yang menjawab unsur ini."
    ) in text


# --- Files in and out ---------------------------------------------------------------------------


def csv_with(u9_values: list[str]) -> bytes:
    lines = [HEADER]
    for hour, value in enumerate(u9_values, start=8):
        lines.append(f"bpbd,2025-06-12T{hour:02d}:00:00+07:00,4,4,4,4,4,4,4,4,{value},,,,,,")
    return ("\r\n".join(lines) + "\r\n").encode()


def test_imports_read_na_and_its_spellings(runner, session: Session, open_wave, tmp_path) -> None:
    path = tmp_path / "jawaban.csv"
    path.write_bytes(csv_with(["NA", "n/a", "TB", f" {LABEL_ID.upper()} ", LABEL_EN, "3", ""]))
    result = runner.invoke(args=["import", str(path), "--wave", "uji-2026"])
    assert result.exit_code == 0, result.output
    assert sorted(stored_u9(session), key=lambda v: -1 if v is None else v) == [
        None,
        0,
        0,
        0,
        0,
        0,
        3,
    ]


def test_an_import_refuses_na_where_the_question_does_not_offer_it(
    runner, session: Session, open_wave, tmp_path
) -> None:
    path = tmp_path / "jawaban.csv"
    lines = [HEADER, "bpbd,2025-06-12T08:00:00+07:00,NA,4,4,4,4,4,4,4,4,,,,,,"]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    result = runner.invoke(args=["import", str(path), "--wave", "uji-2026"])
    assert result.exit_code == 1
    assert "U1" in result.output and "'NA'" in result.output
    assert stored_u9(session) == []


def test_exports_and_open_data_write_na(runner, session: Session, open_wave) -> None:
    # A fifth respondent, so that BPBD's group reaches k = 5 and stays in the open data.
    add_responses(session, open_wave, "bpbd", [*BPBD, [2] * 8 + [0]])
    result = runner.invoke(args=["export", "--wave", "uji-2026"])
    assert result.exit_code == 0, result.output
    rows = result.stdout_bytes.decode().split("\r\n")[1:5]
    assert [row.split(",")[2:11] for row in rows] == [
        ["4"] * 9,
        ["3"] * 8 + ["2"],
        ["4"] * 8 + ["NA"],
        ["3"] * 8 + ["NA"],
    ]
    result = runner.invoke(args=["export", "--wave", "uji-2026", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert '"U9": "NA"' in result.output

    set_wave_status(session, slug="uji-2026", status="published")
    wave = queries.get_wave(session, slug="uji-2026")
    assert wave is not None
    archive = zipfile.ZipFile(io.BytesIO(open_data_zip(session, wave=wave)))
    opened = archive.read("uji-2026/responses.csv").decode().splitlines()
    assert sorted(line.split(",")[10] for line in opened[1:]) == ["2", "4", "NA", "NA", "NA"]
    readme = archive.read("uji-2026/README.md").decode()
    assert (
        "| `U9` | jawaban unsur Penanganan Pengaduan, Saran dan Masukan (1–4, kosong: tidak "
        f"dijawab; `NA`: {LABEL_ID}, tidak diberi skor) | answer to element Handling of "
        f"complaints, suggestions and feedback (1–4, empty: not answered; `NA`: {LABEL_EN}, "
        "not scored) |"
    ) in readme


# --- Custom questionnaires ----------------------------------------------------------------------


def element(code: str, **extra) -> dict:
    return {
        "code": code,
        "kind": "ikm",
        "name_id": f"Unsur {code}",
        "name_en": f"Element {code}",
        "question_id": f"Pertanyaan {code}?",
        "question_en": f"Question {code}?",
        "labels_id": ["a", "b", "c", "d"],
        "labels_en": ["A", "B", "C", "D"],
        **extra,
    }


def test_a_questionnaire_file_can_offer_it(session: Session) -> None:
    raw = {
        "slug": "dengan-na",
        "title_id": "Dengan NA",
        "title_en": "With NA",
        "scale_points": 4,
        "elements": [
            element("A1"),
            element("A2", not_applicable_id="Tidak pernah", not_applicable_en="Never"),
        ],
    }
    spec = check_questionnaire(raw)
    assert spec.elements[0].labels_id == ("a", "b", "c", "d")  # unchanged without it
    assert spec.elements[1].labels_id == ("a", "b", "c", "d", "Tidak pernah")
    stored, _new = add_questionnaire(session, spec=spec, actor=None)
    items = queries.elements(session, questionnaire_id=int(stored.id or 0))
    assert notapplicable.by_code(items, stored) == {"A2": ("Tidak pernah", "Never")}


def test_the_builtin_questionnaire_rows_are_unchanged(session: Session) -> None:
    questionnaire = queries.default_questionnaire(session)
    items = queries.elements(session, questionnaire_id=int(questionnaire.id or 0))
    assert [len(e.labels_id) for e in items] == [4] * 9  # nothing stored past the scale
    assert notapplicable.by_code(items, questionnaire) == {"U9": (LABEL_ID, LABEL_EN)}

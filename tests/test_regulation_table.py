"""The IKM table in the layout of PermenPANRB 14/2017, read back from the rendered PDFs.

Hand-computed wave: BPBD's four respondents answer

    r1: 4 4 4 4 4 4 4 4 4
    r2: 3 3 3 3 3 3 3 3 3
    r3: 4 3 4 3 4 3 4 3 4
    r4: 2 3 3 4 3 2 4 3 -   (no answer to U9)

so the NRRs are U1 13/4, U2 13/4, U3 14/4, U4 14/4, U5 14/4, U6 12/4, U7 15/4, U8 13/4 and
U9 11/3 (three answered); each weight is 1/9, the weighted NRRs are NRR/9 (U1 0.36111,
U3 0.38889, U6 0.33333, U7 0.41667, U9 0.40741), the IKM is their sum 92/27 = 3.40741, the
converted score 2300/27 = 85.19 and the category B (3.0644 <= 3.40741 < 3.5324).
"""

from __future__ import annotations

import subprocess

import pytest
from sqlmodel import Session
from survey_helpers import add_responses

from reports.opd import render_opd_pdf
from reports.ranking import render_ranking_pdf
from survey.core.reportdata import opd_report_data
from survey.core.scores import score_wave

BPBD = [
    [4, 4, 4, 4, 4, 4, 4, 4, 4],
    [3, 3, 3, 3, 3, 3, 3, 3, 3],
    [4, 3, 4, 3, 4, 3, 4, 3, 4],
    [2, 3, 3, 4, 3, 2, 4, 3, None],
]
RSUD = [[2] * 9, [3] * 9]  # NRR 2.5 everywhere: IKM 2.5, converted 62.50, D


def pdf_text(pdf: bytes, tmp_path) -> str:
    """The PDF's text as pdftotext lays it out, each line's runs of spaces made one."""
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    lines = (" ".join(line.split()) for line in out.splitlines())
    return "\n".join(line for line in lines if line)


@pytest.fixture
def wave(session: Session, open_wave):
    add_responses(session, open_wave, "bpbd", BPBD)
    add_responses(session, open_wave, "rsud", RSUD)
    return open_wave


EXPECTED_ID = [
    "U1 Persyaratan 4 3,250 1/9 0,3611",
    "U2 Sistem, Mekanisme, dan Prosedur 4 3,250 1/9 0,3611",
    "U3 Waktu Penyelesaian 4 3,500 1/9 0,3889",
    "U4 Biaya/Tarif 4 3,500 1/9 0,3889",
    "U5 Produk Spesifikasi Jenis Pelayanan 4 3,500 1/9 0,3889",
    "U6 Kompetensi Pelaksana 4 3,000 1/9 0,3333",
    "U7 Perilaku Pelaksana 4 3,750 1/9 0,4167",
    "U8 Sarana dan Prasarana 4 3,250 1/9 0,3611",
    "U9 Penanganan Pengaduan, Saran dan Masukan 3 3,667 1/9 0,4074",
    "IKM (jumlah NRR tertimbang) 3,4074",
    "Nilai konversi (IKM × 25) 85,19",
    "Mutu pelayanan (kinerja unit) B (Baik)",
]


@pytest.mark.parametrize("public", [True, False], ids=["public", "full"])
def test_the_opd_report_carries_the_regulation_table(
    session: Session, wave, tmp_path, public: bool
) -> None:
    scored = score_wave(session, wave=wave)
    data = opd_report_data(session, wave=wave, ranking=scored, opd_slug="bpbd", public=public)
    text = pdf_text(render_opd_pdf(data), tmp_path)
    assert "Tabel IKM menurut PermenPANRB 14/2017" in text
    lines = text.splitlines()
    start = lines.index(EXPECTED_ID[0])
    assert lines[start : start + len(EXPECTED_ID)] == EXPECTED_ID
    assert "Kode Unsur pelayanan" in text  # the header row of the table


def test_the_english_report_has_the_same_figures(session: Session, wave, tmp_path) -> None:
    scored = score_wave(session, wave=wave)
    data = opd_report_data(session, wave=wave, ranking=scored, opd_slug="bpbd", public=True)
    text = pdf_text(render_opd_pdf(data, lang="en"), tmp_path)
    assert "U9 Handling of complaints, suggestions and feedback 3 3.667 1/9 0.4074" in text
    assert "IKM (sum of the weighted NRRs) 3.4074" in text
    assert "Converted score (IKM × 25) 85.19" in text
    assert "Service quality (unit performance) B (Good)" in text


def test_the_ranking_report_has_every_opds_row(session: Session, wave, tmp_path) -> None:
    scored = score_wave(session, wave=wave)
    text = pdf_text(render_ranking_pdf(scored), tmp_path)
    assert "Tabel IKM setiap OPD menurut PermenPANRB 14/2017" in text
    assert (
        "BPBD 0,3611 0,3611 0,3889 0,3889 0,3889 0,3333 0,4167 0,3611 0,4074 3,4074 85,19 B"
    ) in text.splitlines()
    assert (
        "RSUD 0,2778 0,2778 0,2778 0,2778 0,2778 0,2778 0,2778 0,2778 0,2778 2,5000 62,50 D"
    ) in text.splitlines()
    assert "penimbang 1/9" in text


def test_an_element_nobody_answered_gets_no_weight(session: Session, open_wave, tmp_path) -> None:
    # Nobody answered U9 at BPBD: eight elements weigh 1/8 each; IKM = the mean of the eight.
    add_responses(session, open_wave, "bpbd", [[*row[:8], None] for row in BPBD])
    add_responses(session, open_wave, "rsud", RSUD)
    scored = score_wave(session, wave=open_wave)
    data = opd_report_data(session, wave=open_wave, ranking=scored, opd_slug="bpbd", public=True)
    text = pdf_text(render_opd_pdf(data), tmp_path)
    lines = text.splitlines()
    assert "U1 Persyaratan 4 3,250 1/8 0,4063" in lines
    assert "U7 Perilaku Pelaksana 4 3,750 1/8 0,4688" in lines
    assert "U9 Penanganan Pengaduan, Saran dan Masukan 0 – 0 –" in lines
    # (13 + 13 + 14 + 14 + 14 + 12 + 15 + 13) / 4 / 8 = 108/32 = 3.375; x 25 = 84.375
    assert "IKM (jumlah NRR tertimbang) 3,3750" in lines
    assert "Nilai konversi (IKM × 25) 84,38" in lines
    assert "penimbangnya dibagi di antara unsur yang dijawab" in text.replace("\n", " ")

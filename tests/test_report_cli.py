"""Reports from the database: ``ikm report ...``, the PDF routes, and the demo's reports.

The PDFs are read back with pypdf and checked against the scores ``ikm score`` computes
from the same database, so a report can never print a number the scoring did not produce.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from auth_helpers import PASSWORD, AuthActions
from pypdf import PdfReader
from survey_helpers import add_responses, printed_short_link, set_wave_status

from survey.core import accounts

COMMENT = "Petugas loket ramah <b>sekali</b>, tetapi antrean panjang."


def pdf_text(data: bytes) -> str:
    """Return the text of every page, whitespace folded (tables break lines anywhere)."""
    reader = PdfReader(io.BytesIO(data))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


def pages(data: bytes) -> list[str]:
    """Return each page's text, whitespace folded."""
    reader = PdfReader(io.BytesIO(data))
    return [re.sub(r"\s+", " ", page.extract_text()) for page in reader.pages]


@pytest.fixture
def scored(session, open_wave):
    """The open wave with 30 answers for bpbd (high), 30 for rsud (low), 6 for dishub."""
    add_responses(session, open_wave, "bpbd", [[4] * 9, [3] * 9, [4] * 8 + [3]] * 10)
    add_responses(
        session, open_wave, "rsud", [[2] * 9, [1] * 9, [2] * 8 + [3]] * 10, comment=COMMENT
    )
    add_responses(session, open_wave, "dishub", [[3] * 9, [2] * 9] * 3, comment="Jalan rusak.")
    add_responses(session, open_wave, "rsud", [[4] * 9], status="flagged", reason="bot-suspect")
    return open_wave


def scores(runner) -> dict:
    """The JSON scores of the test wave, by OPD slug."""
    result = runner.invoke(args=["score", "--wave", "uji-2026", "--format", "json"])
    assert result.exit_code == 0, result.output
    return {row["opd"]: row for row in json.loads(result.stdout)}


def test_ranking_report_prints_the_scores(runner, scored, tmp_path: Path):
    """Names and IKMs in the PDF are those of ``ikm score``, in each language's format."""
    expected = scores(runner)
    target = tmp_path / "out" / "ranking.pdf"
    result = runner.invoke(args=["report", "ranking", "--wave", "uji-2026", "-o", str(target)])
    assert result.exit_code == 0, result.output
    text = pdf_text(target.read_bytes())
    assert "Uji Coba 2026" in text and "Badan Penanggulangan Bencana Daerah" in text
    bpbd, rsud = expected["bpbd"], expected["rsud"]
    assert f"{bpbd['ikm']:.2f}".replace(".", ",") in text
    assert f"{rsud['ikm']:.2f}".replace(".", ",") in text
    assert "DATA SIMULASI" not in text
    english = tmp_path / "ranking-en.pdf"
    result = runner.invoke(
        args=["report", "ranking", "--wave", "uji-2026", "-o", str(english), "--lang", "en"]
    )
    assert result.exit_code == 0, result.output
    assert f"{bpbd['ikm']:.2f}" in pdf_text(english.read_bytes())
    assert not list((tmp_path / "out").glob(".*partial"))


def test_ranking_report_refuses_a_wave_without_responses(runner, open_wave, tmp_path: Path):
    """No counted response: a clear error and no file."""
    target = tmp_path / "r.pdf"
    result = runner.invoke(args=["report", "ranking", "--wave", "uji-2026", "-o", str(target)])
    assert result.exit_code == 1
    assert "no counted response" in result.output
    assert not target.exists()


def test_opd_reports_one_or_all(runner, scored, tmp_path: Path):
    """--opd writes one PDF with the OPD's comments (escaped); --all writes one per OPD."""
    result = runner.invoke(
        args=["report", "opd", "--wave", "uji-2026", "--opd", "rsud", "-o", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    rsud = pdf_text((tmp_path / "uji-2026-rsud.pdf").read_bytes())
    assert "Rumah Sakit Umum Daerah" in rsud
    assert "<b>sekali</b>" in rsud  # shown as text, never as markup
    result = runner.invoke(
        args=["report", "opd", "--wave", "uji-2026", "--all", "-o", str(tmp_path / "all")]
    )
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (tmp_path / "all").glob("*.pdf"))
    assert written == ["uji-2026-bpbd.pdf", "uji-2026-dishub.pdf", "uji-2026-rsud.pdf"]
    assert result.stdout.count(".pdf") == 3
    # dishub has 6 responses: its comment is withheld (fewer than 8).
    assert "Jalan rusak." not in pdf_text((tmp_path / "all" / "uji-2026-dishub.pdf").read_bytes())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--opd", "rsud", "--all"], "either --opd SLUG or --all"),
        ([], "either --opd SLUG or --all"),
        (["--opd", "nope"], "not covered"),
    ],
)
def test_opd_report_errors(runner, scored, tmp_path: Path, args, message):
    """Bad options are clear errors and write nothing."""
    result = runner.invoke(args=["report", "opd", "--wave", "uji-2026", "-o", str(tmp_path), *args])
    assert result.exit_code != 0 and message in result.output
    assert not list(tmp_path.glob("*.pdf"))


def test_posters_one_page_per_opd(runner, open_wave, session, tmp_path: Path):
    """Each OPD gets an A4 page with its name and short survey address (no responses needed)."""
    target = tmp_path / "posters.pdf"
    result = runner.invoke(args=["report", "posters", "--wave", "uji-2026", "-o", str(target)])
    assert result.exit_code == 0, result.output
    texts = pages(target.read_bytes())
    assert len(texts) == 3
    for slug, name in (("bpbd", "Badan Penanggulangan"), ("dishub", "Dinas Perhubungan")):
        page = next(t for t in texts if name in t)
        short = printed_short_link(session, wave_slug="uji-2026", opd_slug=slug)
        assert short in page.replace(" ", "")
    box = PdfReader(target).pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)  # A4 in points


def test_pdf_routes_follow_publication(client, session, scored, runner):
    """Reports are public only once the wave is published; posters for evaluators at any time."""
    assert client.get("/r/uji-2026/ranking.pdf").status_code == 404
    assert client.get("/r/uji-2026/opd/rsud.pdf").status_code == 404
    # The posters name every OPD of a wave, even a draft one: evaluators only.
    anonymous = client.get("/r/uji-2026/posters.pdf")
    assert anonymous.status_code == 302 and "/masuk" in anonymous.headers["Location"]
    accounts.create_user(session, username="eva", password=PASSWORD, role="evaluator")
    assert AuthActions(client).login("eva").status_code == 302
    posters = client.get("/r/uji-2026/posters.pdf")
    assert posters.status_code == 200 and posters.mimetype == "application/pdf"
    assert len(PdfReader(io.BytesIO(posters.data)).pages) == 3
    assert client.get("/r/nope/posters.pdf").status_code == 404

    client.post("/keluar", data={"csrf_token": AuthActions(client).token("/kerja")})
    set_wave_status(session, slug="uji-2026", status="closed")
    set_wave_status(session, slug="uji-2026", status="published")
    ranking = client.get("/r/uji-2026/ranking.pdf?lang=en")
    assert ranking.status_code == 200 and ranking.mimetype == "application/pdf"
    assert f"{scores(runner)['bpbd']['ikm']:.2f}" in pdf_text(ranking.data)
    opd = client.get("/r/uji-2026/opd/rsud.pdf")
    assert opd.status_code == 200 and "Rumah Sakit Umum Daerah" in pdf_text(opd.data)
    assert client.get("/r/uji-2026/opd/nope.pdf").status_code == 404


def test_demo_writes_its_reports(runner, tmp_path: Path):
    """``ikm demo`` writes the ranking report, one OPD report and the posters, and says where."""
    folder = tmp_path / "demo-reports"
    result = runner.invoke(args=["demo", "--reports", str(folder)])
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in folder.glob("*.pdf"))
    assert files == [
        "evaluasi-100-hari-kerja-bpbd.pdf",
        "evaluasi-100-hari-kerja-posters.pdf",
        "evaluasi-100-hari-kerja-ranking.pdf",
    ]
    for name in files:
        assert str(folder / name) in result.output
    ranking = pdf_text((folder / "evaluasi-100-hari-kerja-ranking.pdf").read_bytes())
    assert "DATA SIMULASI" in ranking and "DPD KNPI Kota Serang" in ranking
    # One poster per OPD (20), and one per unit of BPBD (2).
    assert len(PdfReader(folder / "evaluasi-100-hari-kerja-posters.pdf").pages) == 22
    bpbd = pdf_text((folder / "evaluasi-100-hari-kerja-bpbd.pdf").read_bytes())
    table = bpbd.split("Per unit layanan", 1)[1].split("Profil responden", 1)[0]
    assert "Pusdalops PB" in table and "Posko Kecamatan Walantaka" in table
    assert "Seluruh OPD 43 " in table

"""The open-data package of a published wave: contents, small-group privacy, determinism."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select
from survey_helpers import add_responses, publish_before_the_checklist, set_wave_status

from survey.core import exports, imports, queries
from survey.core.models import Response

URL = "/hasil/uji-2026/data-terbuka.zip"
EVIL = '=HYPERLINK("http://evil.example","klik")'
LATE = datetime(2026, 1, 13, 18, 30, tzinfo=UTC)  # 14 January 01.30 in Jakarta


def publish(session: Session) -> None:
    """Close and publish the wave."""
    set_wave_status(session, slug="uji-2026", status="closed")
    set_wave_status(session, slug="uji-2026", status="published")


@pytest.fixture
def published(session: Session, open_wave):
    """BPBD: six counted responses with profiles; RSUD: two; one flagged; then published."""
    add_responses(
        session,
        open_wave,
        "bpbd",
        [[4] * 9] * 5,
        submitted_at=LATE,
        sex="L",
        age=38,
        education="S1",
        occupation="PNS",
        service="KTP elektronik",
        comment="Pelayanan bagus, hubungi 0812",
    )
    add_responses(
        session, open_wave, "bpbd", [[3, None, *[3] * 7]], comment=EVIL, submitted_at=LATE, age=17
    )
    add_responses(
        session,
        open_wave,
        "rsud",
        [[2] * 9] * 2,
        sex="P",
        age=70,
        education="SD",
        submitted_at=LATE,
    )
    add_responses(session, open_wave, "dishub", [[1] * 9], status="flagged", reason="bot-suspect")
    # An OPD named like a formula: its name must not run in a spreadsheet either.
    dishub = queries.get_opd(session, slug="dishub")
    dishub.name = "=Dinas Perhubungan"
    session.add(dishub)
    session.commit()
    publish(session)
    return queries.get_wave(session, slug="uji-2026")


def members(data: bytes) -> dict[str, str]:
    """Return the text of every file of a ZIP, keyed by name."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info).decode("utf-8") for info in archive.infolist()}


def test_open_data_zip_contents(client, session, published):
    """responses.csv without free text or ids, bands and dates; scores; a bilingual README."""
    page = client.get(URL)
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "application/zip"
    assert "data-terbuka-uji-2026.zip" in page.headers["Content-Disposition"]
    files = members(page.data)
    assert sorted(files) == [
        "uji-2026/README.md",
        "uji-2026/responses.csv",
        "uji-2026/scores.csv",
        "uji-2026/scores.json",
    ]
    rows = list(csv.reader(io.StringIO(files["uji-2026/responses.csv"])))
    header = ["opd", "submitted_at", *[f"U{i}" for i in range(1, 10)]]
    assert rows[0] == [*header, "sex", "age_band", "education", "occupation"]
    body = rows[1:]
    # Counted only (the flagged one is left out); RSUD's two rows are fewer than k = 5 and,
    # pooled, still under 5: left out (its scores stay in scores.csv).
    assert len(body) == 6
    hidden = ["disembunyikan"] * 4
    bpbd = [row for row in body if row[0] == "bpbd"]
    # BPBD's odd row (age 17, no other profile) cannot share a group with the five others:
    # the cheapest k-anonymous choice hides the profile fields and keeps the day.
    assert bpbd[0] == ["bpbd", "2026-01-14", "3", "", *["3"] * 7, *hidden]
    assert bpbd[1] == ["bpbd", "2026-01-14", *["4"] * 9, *hidden]
    assert [row for row in body if row[0] == "rsud"] == []
    text = files["uji-2026/responses.csv"]
    assert "HYPERLINK" not in text and "KTP" not in text and "0812" not in text
    assert "T18:30" not in text  # the date only
    scores = list(csv.reader(io.StringIO(files["uji-2026/scores.csv"])))
    assert scores[0][:3] == ["opd", "name", "n"]
    by_opd = {row[0]: row for row in scores[1:]}
    assert set(by_opd) == {"bpbd", "rsud", "dishub"}
    assert by_opd["dishub"][1] == "'=Dinas Perhubungan"  # neutralised
    assert by_opd["bpbd"][2] == "6"
    document = json.loads(files["uji-2026/scores.json"])
    assert {row["opd"] for row in document} == {"bpbd", "rsud", "dishub"}
    assert next(row for row in document if row["opd"] == "bpbd")["n"] == 6
    readme = files["uji-2026/README.md"]
    for column in [*rows[0], *scores[0]]:
        assert f"`{column}`" in readme, column
    assert "CC BY 4.0" in readme
    assert "| `U1_ci_low` | unsur U1: batas bawah interval 95% (1–4) |" in readme
    assert "see `ikm score`" not in readme
    assert "Uji Coba 2026" in readme and "`uji-2026`" in readme
    assert "Respons dihitung / Counted responses: 8" in readme
    assert "left out: 1" in readme
    assert "(k-anonymity, k = 5)" in readme
    assert "those OPDs' scores are still in scores.csv): 2" in readme
    wave = queries.get_wave(session, slug="uji-2026")
    assert wave.published_at is not None
    assert "Data diambil / Data taken: 20" in readme


def test_no_identifier_in_the_package(session, published):
    """No submission id, comment, service or flagged row appears anywhere in the package."""
    data = exports.open_data_zip(session, wave=published)
    text = "\n".join(members(data).values())
    session.expire_all()
    for response in session.exec(select(Response)).all():
        assert response.submission_id not in text
    assert "submission" not in text.lower().replace("submitted_at", "")
    assert "hash" not in text.lower()
    assert "Pelayanan bagus" not in text


def test_open_data_is_deterministic(app, session, published):
    """The same data give the same bytes, whenever built; entries carry a fixed time."""
    first = exports.open_data_zip(session, wave=published)
    second = exports.open_data_zip(session, wave=published)
    assert first == second
    with app.test_client() as client:
        assert client.get(URL).data == first
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        stamps = {info.date_time for info in archive.infolist()}
    assert len(stamps) == 1
    # Rows are sorted on their values, not on storage order: adding a response changes it.
    add_responses(session, published, "rsud", [[4] * 9], submitted_at=LATE)
    assert exports.open_data_zip(session, wave=published) != first


def test_open_data_only_for_published_waves(client, session, open_wave):
    """Draft, open and closed waves and unknown ones are 404; the function refuses too."""
    add_responses(session, open_wave, "bpbd", [[4] * 9] * 6)
    assert client.get(URL).status_code == 404
    set_wave_status(session, slug="uji-2026", status="closed")
    assert client.get(URL).status_code == 404
    assert client.get("/hasil/tidak-ada/data-terbuka.zip").status_code == 404
    with pytest.raises(imports.DataIOError):
        exports.open_data_zip(session, wave=queries.get_wave(session, slug="uji-2026"))
    set_wave_status(session, slug="uji-2026", status="published")
    assert client.get(URL).status_code == 200


def test_published_wave_without_responses(client, session, open_wave):
    """A wave published with no counted response (before the checklist refused that) still
    gives a package (empty files)."""
    set_wave_status(session, slug="uji-2026", status="closed")
    publish_before_the_checklist(session, slug="uji-2026")
    files = members(client.get(URL).data)
    assert files["uji-2026/responses.csv"].splitlines()[1:] == []
    assert "Respons dihitung / Counted responses: 0" in files["uji-2026/README.md"]


def test_cli_open_data_matches_the_web(client, runner, session, published, tmp_path):
    """`ikm export --format open-data -o FILE` writes the bytes the web serves."""
    target = tmp_path / "terbuka.zip"
    args = ["export", "--wave", "uji-2026", "--format", "open-data", "-o", str(target)]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == client.get(URL).data
    assert runner.invoke(args=args[:-2]).exit_code == 2  # -o is required


def test_cli_open_data_refuses_an_unpublished_wave(runner, session, open_wave, tmp_path):
    """An open wave has no open-data package; nothing is written."""
    target = tmp_path / "terbuka.zip"
    args = ["export", "--wave", "uji-2026", "--format", "open-data", "-o", str(target)]
    result = runner.invoke(args=args)
    assert result.exit_code == 1
    assert "is not published" in result.output
    assert not target.exists()

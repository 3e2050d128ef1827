"""Web exports of a wave: CSV (formula-safe), XLSX and JSON, audited, nothing secret."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from auth_helpers import PASSWORD, AuthActions
from file_helpers import CODES
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlmodel import Session, select
from survey_helpers import add_responses

from survey.core import accounts, queries
from survey.core.models import AuditLog, KioskDevice, Response
from survey.core.responsefile import canonical_columns

EXPORT = "/kerja/gelombang/uji-2026/ekspor/"
# The canonical columns, then each answer's evidence (spelled out: the test checks the choice).
EVIDENCE_COLUMNS = [
    "channel", "kiosk_device", "verified", "seconds", "straightline", "repeat_device", "burst",
    "off_hours", "network",
]  # fmt: skip
COLUMNS = canonical_columns(CODES) + EVIDENCE_COLUMNS
NETWORK = "00ff00ff00ff00ff"
EVIL = '=HYPERLINK("http://evil.example","klik")'
AT = datetime(2026, 1, 13, 2, 30, tzinfo=UTC)
# Every key a score row may carry; anything else (an id, a hash) fails the test.
SCORE_KEYS = {
    "opd", "name", "n", "flagged", "ikm", "ikm_converted", "ci_low", "ci_high", "ci_method",
    "unreliable", "category", "category_label", "category_label_en", "crosses_boundary",
    "rank", "rank_ci_low", "rank_ci_high", "rank_marginal_low", "rank_marginal_high",
    "in_top_set", "in_bottom_set", "funnel_95", "funnel_998", "shrunken", "elements",
    "ranked",  # false: below the wave's min_rank_n (belum cukup data)
}  # fmt: skip


@pytest.fixture
def filled(session: Session, open_wave):
    """Six counted BPBD responses (one comment a formula), one flagged, and three users.

    The five fours came from an enrolled kiosk with all the evidence; the formula one is an
    old row with the columns' defaults.
    """
    accounts.create_user(session, username="admin", password=PASSWORD, role="admin")
    accounts.create_user(session, username="eva", password=PASSWORD, role="evaluator")
    accounts.create_user(
        session, username="kepala-bpbd", password=PASSWORD, role="opd-head", opd_slug="bpbd"
    )
    bpbd = queries.get_opd(session, slug="bpbd")
    assert bpbd is not None
    kiosk = KioskDevice(wave_id=open_wave.id, opd_id=bpbd.id, label="Loket 1", enrolled_by="eva")
    session.add(kiosk)
    session.commit()
    add_responses(
        session, open_wave, "bpbd", [[4] * 9] * 5, submitted_at=AT, sex="L", age=30,
        channel="kiosk", device_id=kiosk.id, verified=True, seconds=47, straightline=True,
        repeat_device=False, burst=True, off_hours=True, network=NETWORK,
    )  # fmt: skip
    add_responses(session, open_wave, "bpbd", [[3] * 9], comment=EVIL, submitted_at=AT)
    add_responses(
        session, open_wave, "rsud", [[1] * 9], status="flagged", reason="bot-suspect", comment="x"
    )
    return open_wave


@pytest.fixture
def eva(client: FlaskClient, filled) -> FlaskClient:
    """The client signed in as the evaluator."""
    assert AuthActions(client).login("eva").status_code == 302
    return client


def export_audits(session: Session) -> list[AuditLog]:
    """Return the export.run audit entries."""
    session.expire_all()
    return list(session.exec(select(AuditLog).where(AuditLog.action == "export.run")).all())


def secrets_of(session: Session) -> list[str]:
    """Return the stored submission ids: none may appear in any export."""
    session.expire_all()
    return [r.submission_id for r in session.exec(select(Response)).all()]


def test_csv_export_is_formula_safe_and_audited(eva, session):
    """The canonical columns, counted rows only, formulas quoted, a file name, an audit entry."""
    page = eva.get(EXPORT + "csv")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/csv")
    assert page.headers["Content-Disposition"] == 'attachment; filename="ikm-uji-2026.csv"'
    text = page.get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == COLUMNS
    assert len(rows) == 7  # six counted, the flagged one left out
    assert rows[1][:3] == ["bpbd", "2026-01-13T02:30:00+00:00", "4"]
    evidence = [row[-len(EVIDENCE_COLUMNS) :] for row in rows[1:]]
    assert evidence.count(["kiosk", "1", "1", "47", "1", "0", "1", "1", NETWORK]) == 5
    assert evidence.count(["qr", "", "0", "", "0", "0", "0", "0", ""]) == 1  # an old row
    comment = COLUMNS.index("comment")
    assert [row[comment] for row in rows[1:]].count("'" + EVIL) == 1
    assert EVIL not in [cell for row in rows for cell in row]
    for secret in secrets_of(session):
        assert secret not in text
    (entry,) = export_audits(session)
    assert entry.actor == "eva"
    assert entry.detail == {"wave": "uji-2026", "format": "csv", "rows": 6}


def test_xlsx_export_sheets_and_neutralisation(eva, session):
    """Sheets 'responses' and 'scores'; no cell is a formula; nothing secret in any cell."""
    page = eva.get(EXPORT + "xlsx")
    assert page.status_code == 200
    assert page.headers["Content-Disposition"] == 'attachment; filename="ikm-uji-2026.xlsx"'
    assert page.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    workbook = load_workbook(io.BytesIO(page.data))
    assert workbook.sheetnames == ["responses", "scores"]
    sheet = workbook["responses"]
    assert [cell.value for cell in sheet[1]] == COLUMNS
    evidence = [[c.value for c in row[-len(EVIDENCE_COLUMNS) :]] for row in sheet.iter_rows()]
    assert evidence.count(["kiosk", 1, 1, 47, 1, 0, 1, 1, NETWORK]) == 5
    assert evidence.count(["qr", None, 0, None, 0, 0, 0, 0, None]) == 1
    cells = [cell for row in workbook["responses"].iter_rows() for cell in row]
    cells += [cell for row in workbook["scores"].iter_rows() for cell in row]
    assert all(cell.data_type != "f" for cell in cells)
    assert "'" + EVIL in {cell.value for cell in cells}
    values = {str(cell.value) for cell in cells}
    for secret in secrets_of(session):
        assert secret not in values
    head = [cell.value for cell in workbook["scores"][1]]
    assert set(head) - {f"{c}_{p}" for c in CODES for p in ("nrr", "ci_low", "ci_high", "n")} <= (
        SCORE_KEYS - {"elements"}
    )
    assert export_audits(session)[0].detail["format"] == "xlsx"


def test_json_export_keys_are_only_public_ones(eva, session):
    """Every key of the document is a canonical column, a wave field or a score field."""
    page = eva.get(EXPORT + "json")
    assert page.status_code == 200
    assert page.headers["Content-Disposition"] == 'attachment; filename="ikm-uji-2026.json"'
    document = json.loads(page.data)
    assert set(document) == {"wave", "responses", "scores"}
    assert set(document["wave"]) == {
        "slug", "title", "evaluator", "period_start", "period_end", "status", "simulated",
        "question_codes", "columns", "counted",
    }  # fmt: skip
    assert document["wave"]["counted"] == 6
    assert all(list(row) == COLUMNS for row in document["responses"])
    assert document["wave"]["columns"] == COLUMNS
    kiosk = [row for row in document["responses"] if row["channel"] == "kiosk"]
    assert len(kiosk) == 5
    assert {key: kiosk[0][key] for key in EVIDENCE_COLUMNS} == {
        "channel": "kiosk", "kiosk_device": 1, "verified": True, "seconds": 47,
        "straightline": True, "repeat_device": False, "burst": True, "off_hours": True,
        "network": NETWORK,
    }  # fmt: skip
    (old,) = [row for row in document["responses"] if row["channel"] == "qr"]
    assert {key: old[key] for key in EVIDENCE_COLUMNS} == {
        "channel": "qr", "kiosk_device": None, "verified": False, "seconds": None,
        "straightline": False, "repeat_device": False, "burst": False, "off_hours": False,
        "network": None,
    }  # fmt: skip
    assert EVIL in [row["comment"] for row in document["responses"]]  # JSON: text as stored
    assert all(set(row) <= SCORE_KEYS for row in document["scores"])
    assert {row["opd"] for row in document["scores"]} == {"bpbd", "rsud", "dishub"}
    for secret in secrets_of(session):
        assert secret not in page.get_data(as_text=True)
    assert "hash" not in page.get_data(as_text=True)


def test_export_refusals(client, filled, session):
    """Unknown format or wave: 404; anonymous: sign in; OPD head: 403; nothing audited."""
    page = client.get(EXPORT + "csv")
    assert page.status_code == 302 and "/masuk" in page.headers["Location"]
    AuthActions(client).login("kepala-bpbd")
    assert client.get(EXPORT + "csv").status_code == 403
    assert client.get(EXPORT + "json").status_code == 403
    AuthActions(client).logout()
    AuthActions(client).login("admin")
    assert client.get(EXPORT + "pdf").status_code == 404
    assert client.get("/kerja/gelombang/tidak-ada/ekspor/csv").status_code == 404
    assert export_audits(session) == []
    assert client.get(EXPORT + "json").status_code == 200
    assert [entry.actor for entry in export_audits(session)] == ["admin"]

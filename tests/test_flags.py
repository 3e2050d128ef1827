"""Flagged responses: who may review them, restore and confirm, and the audit log page."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from auth_helpers import CSRF_RE, AuthActions, login
from flask.testing import FlaskClient
from sqlmodel import Session, select
from survey_helpers import add_responses, create_wave

from survey.core.models import AuditLog, Response

REVIEW = "/kerja/gelombang/uji-2026/ditandai"
AUDIT = "/kerja/audit"
FOURS = [4] * 9
AT = datetime(2026, 11, 24, 7, 5, tzinfo=UTC)  # 14.05 WIB


@pytest.fixture
def filled(session: Session, open_wave, users):
    """BPBD: 20 counted fours, one bot-suspect and one duplicate-device flagged response."""
    add_responses(session, open_wave, "bpbd", [FOURS] * 20)
    add_responses(
        session,
        open_wave,
        "bpbd",
        [[1] * 9],
        status="flagged",
        reason="bot-suspect",
        comment="<script>alert(1)</script>",
        submitted_at=AT,
    )
    add_responses(
        session, open_wave, "bpbd", [[2] * 9], status="flagged", reason="duplicate-device"
    )
    return open_wave


def flagged_id(session: Session, reason: str) -> int:
    """Return the id of the (only) response flagged for ``reason``."""
    session.expire_all()
    response = session.exec(select(Response).where(Response.flag_reason == reason)).one()
    assert response.id is not None
    return response.id


def snapshot(session: Session) -> list[tuple]:
    """Return every response's id, status and reason, and the number of audit entries."""
    session.expire_all()
    rows = session.exec(select(Response).order_by(Response.id)).all()
    entries = len(session.exec(select(AuditLog)).all())
    return [(r.id, r.status, r.flag_reason) for r in rows] + [("audit", entries)]


def token(client: FlaskClient) -> str:
    match = CSRF_RE.search(client.get(REVIEW).get_data(as_text=True))
    assert match
    return match.group(1)


def decide(client: FlaskClient, response_id: int, action: str, *, wave: str = "uji-2026"):
    return client.post(
        f"/kerja/gelombang/{wave}/ditandai/{response_id}",
        data={"csrf_token": token(client), "action": action},
    )


def bpbd_score(runner) -> dict:
    result = runner.invoke(args=["score", "--wave", "uji-2026", "--format", "json"])
    assert result.exit_code == 0, result.output
    return next(row for row in json.loads(result.stdout) if row["opd"] == "bpbd")


def test_anonymous_is_sent_to_login(client: FlaskClient, filled, session) -> None:
    rid = flagged_id(session, "bot-suspect")
    for response in (
        client.get(REVIEW),
        client.get(AUDIT),
    ):
        assert response.status_code == 302
        assert urlsplit(response.headers["Location"]).path == "/masuk"
    before = snapshot(session)
    response = client.post(f"{REVIEW}/{rid}", data={"action": "restore"})
    assert response.status_code in (302, 400)
    assert snapshot(session) == before


@pytest.mark.parametrize(
    ("username", "review", "audit_page"),
    [("admin", 200, 200), ("eva", 200, 403), ("kepala-bpbd", 403, 403)],
)
def test_access_by_role(client, filled, username, review, audit_page) -> None:
    login(client, username)
    assert client.get(REVIEW).status_code == review
    assert client.get(AUDIT).status_code == audit_page


def test_opd_head_cannot_decide(client, filled, session) -> None:
    login(client, "kepala-bpbd")
    before = snapshot(session)
    csrf = AuthActions(client).token("/kerja")
    rid = flagged_id(session, "bot-suspect")
    response = client.post(f"{REVIEW}/{rid}", data={"csrf_token": csrf, "action": "restore"})
    assert response.status_code == 403
    assert snapshot(session) == before


def test_unknown_wave_is_404(client, filled) -> None:
    login(client, "eva")
    assert client.get("/kerja/gelombang/tidak-ada/ditandai").status_code == 404


def test_review_page_lists_flags_escaped(client, filled) -> None:
    login(client, "eva")
    html = client.get(REVIEW).get_data(as_text=True)
    assert "Dugaan bot" in html and "Perangkat ganda" in html
    assert "24 November 2026 14.05 WIB" in html
    assert "U1=1" in html and "U9=2" in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "2 respons ditandai" in html
    # newest first: the duplicate-device one (submitted now) before the bot-suspect one
    assert html.index("Perangkat ganda") < html.index("Dugaan bot")


def test_restore_counts_the_response(client, filled, session, runner) -> None:
    before = bpbd_score(runner)
    assert before["n"] == 20 and before["flagged"] == 2
    login(client, "eva")
    rid = flagged_id(session, "bot-suspect")
    response = decide(client, rid, "restore")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == REVIEW
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Respons #{rid} dipulihkan" in page
    session.expire_all()
    restored = session.get(Response, rid)
    assert restored.status == "counted" and restored.flag_reason is None
    after = bpbd_score(runner)
    assert after["n"] == 21 and after["flagged"] == 1
    entry = session.exec(select(AuditLog).where(AuditLog.action == "flag.restore")).one()
    assert entry.actor == "eva"
    assert entry.detail == {
        "response_id": rid,
        "wave": "uji-2026",
        "opd": "bpbd",
        "previous_status": "flagged",
        "previous_reason": "bot-suspect",
    }
    # restored: no longer on the review page, and a second restore is a 404
    assert f'id="respons-{rid}"' not in page
    assert decide(client, rid, "restore").status_code == 404


def test_confirm_keeps_the_flag_and_audits(client, filled, session, runner) -> None:
    login(client, "eva")
    rid = flagged_id(session, "bot-suspect")
    response = decide(client, rid, "confirm")
    assert response.status_code == 302
    session.expire_all()
    kept = session.get(Response, rid)
    assert kept.status == "flagged" and kept.flag_reason == "bot-suspect"
    entry = session.exec(select(AuditLog).where(AuditLog.action == "flag.confirm")).one()
    assert entry.actor == "eva"
    assert entry.detail["response_id"] == rid and entry.detail["previous_reason"] == "bot-suspect"
    assert bpbd_score(runner)["n"] == 20
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "dikonfirmasi" in page
    row = re.search(rf'<tr id="respons-{rid}">(.*?)</tr>', page, re.S)
    assert row and "Sudah ditinjau" in row.group(1)
    other = re.search(r'<tr id="respons-(\d+)">(.*?)</tr>', page, re.S)
    assert other and "Sudah ditinjau" not in other.group(2)


def test_missing_csrf_is_400_and_changes_nothing(client, filled, session) -> None:
    login(client, "eva")
    rid = flagged_id(session, "bot-suspect")
    before = snapshot(session)
    response = client.post(f"{REVIEW}/{rid}", data={"action": "restore"})
    assert response.status_code == 400
    assert snapshot(session) == before


def test_bad_action_is_400(client, filled, session) -> None:
    login(client, "eva")
    rid = flagged_id(session, "bot-suspect")
    before = snapshot(session)
    for action in ("delete", ""):
        assert decide(client, rid, action).status_code == 400
    assert snapshot(session) == before


def test_wrong_wave_counted_or_unknown_is_404(client, filled, session) -> None:
    create_wave(session, slug="lain-2026", title="Lain", status="open", target_n=30)
    login(client, "eva")
    rid = flagged_id(session, "bot-suspect")
    counted = session.exec(select(Response).where(Response.status == "counted")).first()
    before = snapshot(session)
    assert decide(client, rid, "restore", wave="lain-2026").status_code == 404
    assert decide(client, rid, "restore", wave="tidak-ada").status_code == 404
    assert decide(client, counted.id, "confirm").status_code == 404
    assert decide(client, 999_999, "restore").status_code == 404
    assert snapshot(session) == before


def test_admin_sees_the_audit_entries(client, filled, session) -> None:
    login(client, "admin")
    rid = flagged_id(session, "bot-suspect")
    other = flagged_id(session, "duplicate-device")
    assert decide(client, rid, "restore").status_code == 302
    assert decide(client, other, "confirm").status_code == 302
    html = client.get(AUDIT).get_data(as_text=True)
    assert "Respons dipulihkan ke hitungan" in html
    assert "Penandaan respons dikonfirmasi" in html
    assert f"response_id: {rid}" in html and "previous_reason: bot-suspect" in html
    assert "Pengguna dibuat" in html  # the accounts made by the fixture
    # newest first
    assert html.index("flag.confirm") < html.index("flag.restore") < html.index("user.create")
    assert html.count("WIB") >= 5


@pytest.mark.parametrize(("username", "linked"), [("admin", True), ("eva", False)])
def test_workspace_links_the_audit_log_for_admins(client, filled, username, linked) -> None:
    """Only an admin's workspace page links to the audit log."""
    login(client, username)
    html = client.get("/kerja").get_data(as_text=True)
    assert ('href="/kerja/audit"' in html) is linked

"""The evidence of each answer in the flagged review, and a burst acted on in one step (web)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from auth_helpers import CSRF_RE, AuthActions, login
from flask.testing import FlaskClient
from sqlmodel import Session, col, select
from survey_helpers import add_responses, set_wave_status

from survey.core import flags
from survey.core.models import AuditLog, KioskDevice, Opd, Response

REVIEW = "/kerja/gelombang/uji-2026/ditandai"
GROUP = REVIEW + "/kelompok"
NETWORK = "00ff00ff00ff00ff"
OTHER_NETWORK = "1234123412341234"
HOUR = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)  # 10.00 WIB
EVIDENCE_COLUMNS = (
    "channel", "device_id", "verified", "seconds", "straightline", "repeat_device", "burst",
    "off_hours", "network",
)  # fmt: skip


def kiosk(session: Session, wave, slug: str = "bpbd") -> int:
    """Enrol a kiosk for the OPD and return its id."""
    opd = session.exec(select(Opd).where(Opd.slug == slug)).one()
    device = KioskDevice(wave_id=wave.id, opd_id=opd.id, label="Loket 1", enrolled_by="eva")
    session.add(device)
    session.commit()
    assert device.id is not None
    return device.id


@pytest.fixture
def evidence(session: Session, open_wave, users):
    """BPBD: one flagged answer with every signal, one old flagged answer without any."""
    device = kiosk(session, open_wave)
    add_responses(
        session, open_wave, "bpbd", [[4] * 9], status="flagged", reason="bot-suspect",
        channel="kiosk", device_id=device, verified=True, seconds=47, straightline=True,
        repeat_device=True, burst=True, off_hours=True, network=NETWORK,
    )  # fmt: skip
    add_responses(session, open_wave, "bpbd", [[2] * 9], status="flagged", reason="manual")
    return device


def cells(html: str, css_class: str) -> list[str]:
    """Return the text of every table cell of a class, tags dropped, one string a cell."""
    found = re.findall(rf'<td class="{css_class}">(.*?)</td>', html, re.S)
    return [" | ".join(re.findall(r"<li[^>]*>(.*?)</li>", cell)) for cell in found]


def test_review_shows_every_signal_in_indonesian(client: FlaskClient, evidence) -> None:
    login(client, "eva")
    html = client.get(REVIEW).get_data(as_text=True)
    # Newest first: both were stored at once, so the higher id (the old-style row) leads.
    assert cells(html, "evidence") == [
        "kode QR | tanpa kode | durasi tidak dicatat | tanpa sinyal lain",
        f"kios terdaftar #{evidence} | terverifikasi | 47 detik | jawaban seragam | "
        "perangkat berulang | lonjakan jaringan | di luar jam layanan | jaringan 00ff00ff",
    ]
    assert "00ff00ff00ff" not in cells(html, "evidence")[1]  # a short form; the export has all


def test_review_shows_every_signal_in_english(client: FlaskClient, evidence) -> None:
    login(client, "eva")
    html = client.get(REVIEW + "?lang=en").get_data(as_text=True)
    assert cells(html, "evidence") == [
        "QR code | no visit code | time not recorded | no other signal",
        f"registered kiosk #{evidence} | verified | 47 seconds | uniform answers | "
        "repeat device | network burst | outside service hours | network 00ff00ff",
    ]


# --- Burst groups ----------------------------------------------------------------------------


@pytest.fixture
def burst(session: Session, open_wave, users):
    """BPBD: 8 counted answers from one network in one hour (two of them past the soft limit,
    stored flagged burst), one flagged duplicate-device in that hour; 3 counted answers of the
    same network an hour later (too few for a group), and 4 from another network."""
    at = [HOUR + timedelta(minutes=5 * i) for i in range(10)]
    for moment in at[:6]:
        add_responses(session, open_wave, "bpbd", [[4] * 9], network=NETWORK, seconds=9,
                      straightline=True, submitted_at=moment)  # fmt: skip
    for moment in at[6:8]:
        add_responses(session, open_wave, "bpbd", [[4] * 9], status="flagged", reason="burst",
                      network=NETWORK, burst=True, submitted_at=moment)  # fmt: skip
    add_responses(session, open_wave, "bpbd", [[4] * 9], status="flagged",
                  reason="duplicate-device", network=NETWORK, repeat_device=True,
                  submitted_at=at[8])  # fmt: skip
    for i in range(3):
        add_responses(session, open_wave, "bpbd", [[3] * 9], network=NETWORK,
                      submitted_at=HOUR + timedelta(hours=1, minutes=i))  # fmt: skip
    for i in range(4):
        add_responses(session, open_wave, "bpbd", [[2] * 9], network=OTHER_NETWORK,
                      submitted_at=HOUR + timedelta(minutes=i))  # fmt: skip
    add_responses(session, open_wave, "rsud", [[3] * 9] * 5)  # no network recorded
    return open_wave


def state(session: Session) -> list[tuple]:
    """Return every response's status, reason and evidence, by id."""
    session.expire_all()
    rows = session.exec(select(Response).order_by(col(Response.id))).all()
    return [
        (r.id, r.status, r.flag_reason, *(getattr(r, name) for name in EVIDENCE_COLUMNS))
        for r in rows
    ]


def group_audits(session: Session) -> list[AuditLog]:
    session.expire_all()
    return list(session.exec(select(AuditLog).where(AuditLog.action == "flag.group")).all())


def counted(session: Session, network: str = NETWORK) -> int:
    session.expire_all()
    query = select(Response).where(Response.network == network, Response.status == "counted")
    return len(session.exec(query).all())


def post_group(client: FlaskClient, action: str, *, confirm: bool = True, **fields: str):
    """Post a group decision as the review page's form does (and its confirmation page)."""
    token = CSRF_RE.search(client.get("/kerja").get_data(as_text=True))
    assert token
    data = {
        "csrf_token": token.group(1), "opd": "bpbd", "network": NETWORK,
        "hour": HOUR.isoformat(), "action": action, **fields,
    }  # fmt: skip
    if confirm:
        data["yakin"] = "1"
    return client.post(GROUP, data=data)


def test_groups_by_network_and_hour(session: Session, burst) -> None:
    groups = flags.burst_groups(session, wave=burst)
    assert [(g.opd, g.network, g.hour, g.counted, g.flagged, g.burst, g.restorable)
            for g in groups] == [("bpbd", NETWORK, HOUR, 6, 3, 2, 2)]  # fmt: skip
    assert flags.burst_groups(session, wave=burst, opd_slug="rsud") == []


def test_review_lists_the_group_with_its_buttons(client: FlaskClient, burst) -> None:
    login(client, "eva")
    html = client.get(REVIEW).get_data(as_text=True)
    row = re.search(rf'<tr id="kelompok-bpbd-{NETWORK}-2026112403">(.*?)</tr>', html, re.S)
    assert row, html
    assert '<td class="num counted">6</td>' in row.group(1)
    assert '<td class="num flagged">3</td>' in row.group(1)
    assert "Tandai 6 yang dihitung" in row.group(1) and "Pulihkan 2" in row.group(1)
    assert f'value="{HOUR.isoformat()}"' in row.group(1)
    assert OTHER_NETWORK not in html  # four answers in the hour: not a group


def test_flagging_a_group_asks_first_then_flags_it_in_one_audited_step(
    client: FlaskClient, session: Session, burst
) -> None:
    login(client, "eva")
    before = state(session)
    page = post_group(client, "flag", confirm=False)
    assert page.status_code == 200
    assert "6 respons yang kini dihitung akan ditandai" in page.get_data(as_text=True)
    assert 'name="yakin" value="1"' in page.get_data(as_text=True)
    assert state(session) == before and group_audits(session) == []

    page = post_group(client, "flag")
    assert page.status_code == 302
    assert "kelompok=flag" in page.headers["Location"] and "jumlah=6" in page.headers["Location"]
    after = state(session)
    assert counted(session) == 3  # the next hour's three stay counted
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert len(changed) == 6
    for old, new in changed:
        assert (old[1], old[2]) == ("counted", None) and (new[1], new[2]) == ("flagged", "burst")
        assert old[3:] == new[3:]  # evidence untouched
    (entry,) = group_audits(session)
    assert entry.actor == "eva"
    assert entry.detail == {
        "wave": "uji-2026", "opd": "bpbd", "decision": "flag", "count": 6,
        "criteria": {"network": NETWORK, "hour": HOUR.isoformat(), "hours": 1},
        "counted_before": 6, "counted_after": 0,
    }  # fmt: skip
    html = client.get(page.headers["Location"]).get_data(as_text=True)
    assert "6 respons kelompok itu ditandai dan tidak lagi dihitung." in html


def test_restoring_a_group_counts_burst_and_manual_flags_again(
    client: FlaskClient, session: Session, burst
) -> None:
    login(client, "eva")
    assert post_group(client, "flag").status_code == 302
    flagged_evidence = state(session)
    page = post_group(client, "restore")
    assert page.status_code == 302
    after = state(session)
    assert counted(session) == 6 + 2 + 3  # the flagged six, the two bursts, the next hour's
    # The repeat device keeps its own flag for one-by-one review.
    assert [r[2] for r in after if r[1] == "flagged"] == ["duplicate-device"]
    assert [r[3:] for r in after] == [r[3:] for r in flagged_evidence]  # evidence untouched
    entries = group_audits(session)
    assert [e.detail["decision"] for e in entries] == ["flag", "restore"]
    assert entries[1].detail["count"] == 8
    assert (entries[1].detail["counted_before"], entries[1].detail["counted_after"]) == (0, 8)
    # Nothing left to restore: refused in words, nothing written.
    before = state(session)
    page = post_group(client, "restore")
    assert page.status_code == 409
    assert "Tidak ada jawaban dari jaringan" in page.get_data(as_text=True)
    assert state(session) == before and len(group_audits(session)) == 2


def test_a_published_wave_refuses_group_actions(
    client: FlaskClient, session: Session, burst
) -> None:
    set_wave_status(session, slug="uji-2026", status="published")
    before = state(session)
    with pytest.raises(flags.GroupError) as caught:
        flags.act_on_group(
            session, wave=burst, opd_slug="bpbd", network=NETWORK, hour=HOUR, action="flag",
            actor="eva",
        )  # fmt: skip
    assert [p.code for p in caught.value.problems] == ["group-wave-published"]
    login(client, "eva")
    page = post_group(client, "flag")
    assert page.status_code == 409
    assert "sudah diterbitkan" in page.get_data(as_text=True)
    assert state(session) == before and group_audits(session) == []


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"action": "hapus"}, 400),
        ({"network": "not-a-hash"}, 400),
        ({"hour": "kemarin"}, 400),
        ({"hour": "2026-11-24T03:00:00"}, 400),  # no offset
        ({"network": OTHER_NETWORK}, 404),  # not a group
    ],
)
def test_bad_group_requests_change_nothing(
    client: FlaskClient, session: Session, burst, fields, status
) -> None:
    login(client, "eva")
    before = state(session)
    fields = dict(fields)  # the parameter is shared by both backends' runs
    action = fields.pop("action", "flag")
    assert post_group(client, action, **fields).status_code == status
    assert state(session) == before and group_audits(session) == []


def test_group_action_needs_the_token_and_an_evaluator(
    client: FlaskClient, session: Session, burst
) -> None:
    before = state(session)
    data = {"opd": "bpbd", "network": NETWORK, "hour": HOUR.isoformat(), "action": "flag",
            "yakin": "1"}  # fmt: skip
    login(client, "eva")
    assert client.post(GROUP, data=data).status_code == 400  # no CSRF token
    AuthActions(client).logout()
    login(client, "kepala-bpbd")
    assert post_group_as_head(client, data) == 403
    assert state(session) == before and group_audits(session) == []


def post_group_as_head(client: FlaskClient, data: dict[str, str]) -> int:
    """Post a group decision with a valid token from the workspace page; return the status."""
    token = CSRF_RE.search(client.get("/kerja").get_data(as_text=True))
    assert token
    return client.post(GROUP, data={**data, "csrf_token": token.group(1)}).status_code

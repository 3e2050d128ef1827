"""Errata: a published wave is corrected by publishing its next version with a change note.

Each test runs on SQLite and PostgreSQL. "Revise" takes a published wave back to closed with an
audited reason while its version stays public; publishing again needs a public change note and
gives version 2, which replaces version 1 on the public pages once it is ready; version 1 stays
readable and downloadable under its own number, marked as superseded.
"""

from __future__ import annotations

import pytest
from auth_helpers import csrf_token, login
from sqlmodel import Session, select
from survey_helpers import add_responses, set_wave_status

from survey.core import checklist, waves
from survey.core.models import AuditLog, Publication, Wave

HIGH = [[4] * 9, [3] * 9, [4] * 8 + [3]]
LOW = [[2] * 9, [1] * 9, [2] * 8 + [3]]
V1 = (
    "/hasil/uji-2026/versi/1",
    "/hasil/uji-2026/versi/1/bpbd",
    "/hasil/uji-2026/versi/1/data-terbuka.zip",
)


@pytest.fixture
def published(session: Session, open_wave) -> Wave:
    """The sample wave with answers, published as version 1."""
    add_responses(session, open_wave, "bpbd", HIGH * 2)
    add_responses(session, open_wave, "rsud", LOW * 2)
    return set_wave_status(session, slug="uji-2026", status="published")


def publications_by_version(session: Session) -> dict[int, Publication]:
    """The sample wave's publications by version."""
    session.expire_all()
    return {p.version: p for p in session.exec(select(Publication)).all()}


def entries(session: Session, action: str) -> list[AuditLog]:
    """The audit entries of one action, oldest first."""
    return list(session.exec(select(AuditLog).where(AuditLog.action == action)).all())


def revise(session: Session, reason: str | None, actor: str | None = "eva") -> Wave:
    """Revise the sample wave through the wave service."""
    wave = waves.find_wave(session, slug="uji-2026")
    return waves.change_status(session, wave=wave, action="revise", actor=actor, reason=reason)


def test_revise_and_republish_gives_version_2(client, session: Session, published) -> None:
    v1_page = client.get("/hasil/uji-2026").get_data()
    v1_zip = client.get("/hasil/uji-2026/data-terbuka.zip").get_data()
    wave = revise(session, "Dua kolom impor Dinas Sosial terlewat")
    assert wave.status == "closed"
    # While it is corrected, version 1 stays public, byte for byte.
    assert client.get("/hasil/uji-2026").get_data() == v1_page
    assert "Uji Coba 2026" in client.get("/hasil").get_data(as_text=True)
    add_responses(session, wave, "dishub", [[3] * 9] * 3)
    with pytest.raises(waves.WaveSetupError) as refused:
        waves.change_status(
            session,
            wave=wave,
            action="publish",
            actor="eva",
            acknowledged=checklist.ACKNOWLEDGEABLE_CODES,
        )
    assert [p.code for p in refused.value.problems] == ["publication-note-required"]
    assert waves.find_wave(session, slug="uji-2026").status == "closed"
    assert sorted(publications_by_version(session)) == [1]  # nothing written
    set_wave_status(
        session, slug="uji-2026", status="published", note="Jawaban Dinas Perhubungan ditambahkan"
    )
    found = publications_by_version(session)
    assert sorted(found) == [1, 2]
    assert found[2].note == "Jawaban Dinas Perhubungan ditambahkan"
    assert found[2].ready_at is not None and found[1].superseded_at == found[2].ready_at
    latest = client.get("/hasil/uji-2026").get_data(as_text=True)
    assert "<strong>Versi 2</strong>" in latest
    assert "Catatan perubahan: Jawaban Dinas Perhubungan ditambahkan" in latest
    assert 'Versi sebelumnya:\n<a href="/hasil/uji-2026/versi/1">Versi 1</a>' in latest
    # Version 1 is still there under its number, marked superseded; its ZIP is unchanged.
    for path in V1:
        assert client.get(path).status_code == 200, path
    old = client.get("/hasil/uji-2026/versi/1").get_data(as_text=True)
    assert "Versi ini sudah digantikan oleh versi 2." in old
    assert "<strong>Versi 1</strong>" in old
    assert client.get("/hasil/uji-2026/versi/1/data-terbuka.zip").get_data() == v1_zip
    assert client.get("/hasil/uji-2026/data-terbuka.zip").get_data() != v1_zip
    assert client.get("/hasil/uji-2026/versi/3").status_code == 404
    # The audit log: who revised and why, who published which version with which note.
    revised = entries(session, "wave.revise")
    assert [(e.actor, e.detail["reason"], e.detail["version"]) for e in revised] == [
        ("eva", "Dua kolom impor Dinas Sosial terlewat", 1)
    ]
    published_entries = entries(session, "wave.publish")
    assert [(e.detail["version"], e.detail["note"]) for e in published_entries] == [
        (1, None),
        (2, "Jawaban Dinas Perhubungan ditambahkan"),
    ]


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_revise_needs_a_reason(session: Session, published, reason) -> None:
    with pytest.raises(waves.WaveSetupError) as refused:
        revise(session, reason)
    assert [p.code for p in refused.value.problems] == ["revision-reason-required"]
    assert waves.find_wave(session, slug="uji-2026").status == "published"
    assert entries(session, "wave.revise") == []


def test_only_a_published_wave_is_revised(session: Session, open_wave) -> None:
    with pytest.raises(waves.WaveSetupError) as refused:
        revise(session, "salah")
    assert [p.code for p in refused.value.problems] == ["wave-action-refused"]
    assert waves.find_wave(session, slug="uji-2026").status == "open"
    assert entries(session, "wave.revise") == []


def test_web_revise_and_refused_republish(client, session: Session, users, published) -> None:
    login(client)
    token = csrf_token(client, "/kerja/gelombang/uji-2026")
    empty = client.post(
        "/kerja/gelombang/uji-2026/status",
        data={"csrf_token": token, "action": "revise", "reason": ""},
    )
    assert empty.status_code == 400
    assert "Tuliskan alasan koreksi" in empty.get_data(as_text=True)
    done = client.post(
        "/kerja/gelombang/uji-2026/status",
        data={"csrf_token": token, "action": "revise", "reason": "Nama OPD salah"},
    )
    assert done.status_code == 303
    page = client.get("/kerja/gelombang/uji-2026").get_data(as_text=True)
    assert 'name="note"' in page  # the next publication asks for its change note
    refused = client.post(
        "/kerja/gelombang/uji-2026/status",
        data={
            "csrf_token": token,
            "action": "publish",
            "acknowledge": list(checklist.ACKNOWLEDGEABLE_CODES),
        },
    )
    assert refused.status_code == 400
    assert "catatan perubahan" in refused.get_data(as_text=True)
    assert sorted(publications_by_version(session)) == [1]
    assert [e.actor for e in entries(session, "wave.revise")] == ["eva"]


def test_cli_revise_and_publish_with_note(runner, session: Session, published) -> None:
    refused = runner.invoke(args=["wave", "revise", "uji-2026"])
    assert refused.exit_code != 0 and "--reason" in refused.output
    result = runner.invoke(args=["wave", "revise", "uji-2026", "--reason", "Data ganda"])
    assert result.exit_code == 0, result.output
    assert "Wave uji-2026 is now closed" in result.output
    no_note = runner.invoke(args=["wave", "publish", "uji-2026", "--acknowledge", "all"])
    assert no_note.exit_code != 0
    assert "version 2 corrects a published version: write a public change note" in no_note.output
    result = runner.invoke(
        args=["wave", "publish", "uji-2026", "--acknowledge", "all", "--note", "Data ganda dihapus"]
    )
    assert result.exit_code == 0, result.output
    assert "Version 2: " in result.output and "Wave uji-2026: version 2 is public" in result.output
    found = publications_by_version(session)
    assert found[2].note == "Data ganda dihapus" and found[2].completed_at is not None
    assert found[2].done == found[2].total

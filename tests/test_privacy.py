"""Retention of respondent metadata: the strip, the retention selection and the commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from auth_helpers import PASSWORD, AuthActions
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlmodel import Session, select
from survey_helpers import add_opd, add_responses, create_wave, raw_rows, set_wave_status

from survey.cli import privacy as privacy_cli
from survey.core import accounts, privacy, queries
from survey.core.models import ANSWER_COLUMNS, AuditLog, ImportJob, LoginFailure, Response, Wave
from survey.core.privacy import PrivacyError, apply_retention, strip_metadata

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
# 15:45 UTC is 22:45 WIB on 10 March; 18:30 UTC is 01:30 WIB on 11 March.
LATE_EVENING = datetime(2026, 3, 10, 15, 45, 12, tzinfo=UTC)
AFTER_MIDNIGHT = datetime(2026, 3, 10, 18, 30, 5, tzinfo=UTC)
# Spelled out here, not taken from survey.core.privacy: the test checks the module's choice.
# The network hash links answers to one sender's network: it goes with the metadata.
STRIPPED_FIELDS = (
    "visited_at", "sex", "age", "education", "occupation", "service", "comment", "network",
)  # fmt: skip
# The other evidence explains the flags, which keep shaping the counts: it stays.
EVIDENCE = {
    "verified": True, "seconds": 47, "straightline": True, "repeat_device": True,
    "burst": True, "off_hours": True,
}  # fmt: skip
KEPT = (
    "id", "wave_id", "opd_id", "submission_id", "channel", "status", "flag_reason", *EVIDENCE,
)  # fmt: skip
METADATA: dict[str, Any] = {
    "sex": "P",
    "age": 37,
    "education": "S1",
    "occupation": "Swasta",
    "service": "KTP elektronik",
    "visited_at": datetime(2026, 3, 10, 2, 0, tzinfo=UTC),
    "network": "0123456789abcdef",
}


def aware(moment: datetime | None) -> datetime | None:
    """Return a stored time as aware UTC (SQLite hands back what it was given)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def fill(session: Session, wave: Wave) -> None:
    """Give the wave responses with every respondent field, counted and flagged."""
    rows = [[4, 3, 4, 3, 4, 3, 4, 3, 4], [3, 3, 2, 4, 4, 3, 3, 2, 4], [2, 3, 4, 1, 3, 4, 2, 3, 4]]
    add_responses(
        session, wave, "bpbd", rows * 6, comment="Hubungi saya di 0812-3456-7890, Budi",
        submitted_at=LATE_EVENING, **METADATA, **EVIDENCE,
    )  # fmt: skip
    add_responses(
        session, wave, "rsud", rows * 6, comment="Antre lama", submitted_at=AFTER_MIDNIGHT,
        **METADATA,
    )  # fmt: skip
    add_responses(
        session, wave, "rsud", [[1, 1, 1, 1, 1, 1, 1, 1, 1]], status="flagged",
        reason="duplicate-device", comment="lagi", submitted_at=AFTER_MIDNIGHT, **METADATA,
    )  # fmt: skip


def scores(runner: FlaskCliRunner, wave: str = "uji-2026") -> str:
    """Return the output of ikm score --format json."""
    result = runner.invoke(args=["score", "--wave", wave, "--format", "json"])
    assert result.exit_code == 0, result.output
    return result.stdout


def make_wave(session: Session, slug: str, *, status: str, closed_days_ago: float | None) -> Wave:
    """A wave over bpbd with one response carrying metadata, closed some days before NOW."""
    wave = create_wave(session, slug=slug, title=slug, opd_slugs=["bpbd"], status="open")
    add_responses(session, wave, "bpbd", [[4] * 9], comment="nama saya Siti", **METADATA)
    wave.status = status
    if closed_days_ago is not None:
        wave.closed_at = NOW - timedelta(days=closed_days_ago)
    if status == "published":
        wave.published_at = NOW - timedelta(days=(closed_days_ago or 0) - 0.5)
    session.add(wave)
    session.commit()
    return wave


def metadata_of(session: Session, slug: str) -> list[tuple[Any, ...]]:
    """Return the respondent fields of a wave's responses."""
    session.expire_all()
    wave = queries.get_wave(session, slug=slug)
    assert wave is not None
    fields = [getattr(Response, name) for name in STRIPPED_FIELDS]
    return [tuple(r) for r in session.exec(select(*fields).where(Response.wave_id == wave.id))]


def is_stripped(session: Session, slug: str) -> bool:
    """Return True if every respondent field of the wave's responses is NULL."""
    rows = metadata_of(session, slug)
    assert rows
    return all(value is None for row in rows for value in row)


@pytest.fixture
def sample_opds(session: Session) -> None:
    """Two OPDs, bpbd and rsud."""
    for slug, name in (("bpbd", "BPBD"), ("rsud", "RSUD")):
        add_opd(session, slug=slug, name=name)


# --- The strip -----------------------------------------------------------------------------


def test_strip_removes_the_metadata_and_keeps_answers_and_scores(
    app: Flask, session: Session, runner: FlaskCliRunner, open_wave: Wave
) -> None:
    fill(session, open_wave)
    set_wave_status(session, slug="uji-2026", status="closed")
    before_rows = raw_rows(session)
    before_scores = scores(runner)
    assert all(row["comment"] and row["sex"] == "P" and row["network"] for row in before_rows)
    assert sum(row["seconds"] == 47 and row["burst"] for row in before_rows) == 18

    result = strip_metadata(session, wave=open_wave, actor="admin", now=NOW)

    assert result.responses == len(before_rows) == 37
    after_rows = raw_rows(session)
    for before, after in zip(before_rows, after_rows, strict=True):
        assert all(after[name] is None for name in STRIPPED_FIELDS)
        assert {k: after[k] for k in (*KEPT, *ANSWER_COLUMNS)} == {
            k: before[k] for k in (*KEPT, *ANSWER_COLUMNS)
        }
    # Only the local (WIB) day of the submission is kept: 00:00 WIB is 17:00 UTC the day before.
    days = {aware(r.submitted_at) for r in session.exec(select(Response)).all()}
    assert days == {
        datetime(2026, 3, 9, 17, 0, tzinfo=UTC),
        datetime(2026, 3, 10, 17, 0, tzinfo=UTC),
    }
    assert scores(runner) == before_scores
    session.expire_all()
    wave = queries.get_wave(session, slug="uji-2026")
    assert wave is not None and aware(wave.metadata_stripped_at) == NOW
    entry = session.exec(select(AuditLog).where(AuditLog.action == "privacy.strip")).one()
    assert entry.actor == "admin"
    assert entry.detail["wave"] == "uji-2026" and entry.detail["responses"] == 37
    assert entry.detail["reason"] == "manual"


@pytest.mark.parametrize("status", ["draft", "open"])
def test_strip_refuses_a_wave_that_is_not_closed(
    app: Flask, session: Session, open_wave: Wave, status: str
) -> None:
    fill(session, open_wave)
    if status == "draft":
        open_wave.status = "draft"
        session.add(open_wave)
        session.commit()
    before = raw_rows(session)
    with pytest.raises(PrivacyError, match=f"wave 'uji-2026' is {status}; close it first"):
        strip_metadata(session, wave=open_wave, actor=None, now=NOW)
    assert raw_rows(session) == before
    assert session.exec(select(AuditLog).where(AuditLog.action == "privacy.strip")).all() == []


def test_strip_is_all_or_nothing(
    app: Flask, session: Session, open_wave: Wave, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(session, open_wave)
    set_wave_status(session, slug="uji-2026", status="closed")
    before = raw_rows(session)

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the audit write failed")

    monkeypatch.setattr("survey.core.audit.audit", broken)
    with pytest.raises(RuntimeError):
        strip_metadata(session, wave=open_wave, actor=None, now=NOW)
    assert raw_rows(session) == before
    session.expire_all()
    assert queries.get_wave(session, slug="uji-2026").metadata_stripped_at is None  # type: ignore[union-attr]


# --- ikm privacy strip ----------------------------------------------------------------------


def test_strip_command_needs_yes_and_then_strips(
    app: Flask, session: Session, runner: FlaskCliRunner, open_wave: Wave
) -> None:
    fill(session, open_wave)
    set_wave_status(session, slug="uji-2026", status="closed")
    before = raw_rows(session)
    before_scores = scores(runner)

    refused = runner.invoke(args=["privacy", "strip", "--wave", "uji-2026"])

    assert refused.exit_code == 1
    assert refused.output.startswith("Error: this removes for good visited_at, sex, age,")
    assert "from 37 responses of wave uji-2026: run again with --yes" in refused.output
    assert raw_rows(session) == before

    done = runner.invoke(args=["privacy", "strip", "--wave", "uji-2026", "--yes"])

    assert done.exit_code == 0, done.output
    assert "Stripped the respondent metadata of 37 responses of wave uji-2026" in done.output
    assert is_stripped(session, "uji-2026")
    assert scores(runner) == before_scores
    entry = session.exec(select(AuditLog).where(AuditLog.action == "privacy.strip")).one()
    assert entry.actor is None


def test_strip_command_refuses_an_open_or_unknown_wave(
    app: Flask, session: Session, runner: FlaskCliRunner, open_wave: Wave
) -> None:
    fill(session, open_wave)
    before = raw_rows(session)
    result = runner.invoke(args=["privacy", "strip", "--wave", "uji-2026", "--yes"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: wave 'uji-2026' is open; close it first: ikm wave close uji-2026"
    )
    unknown = runner.invoke(args=["privacy", "strip", "--wave", "tidak-ada", "--yes"])
    assert unknown.exit_code == 1
    assert unknown.output.strip() == "Error: unknown wave 'tidak-ada'; see 'ikm wave list'"
    assert raw_rows(session) == before


# --- Retention ------------------------------------------------------------------------------


@pytest.fixture
def waves_of_all_ages(session: Session, sample_opds: None) -> None:
    """Waves closed 10 and 3 days before NOW, an open one, a published one, an undated one."""
    make_wave(session, "lama", status="closed", closed_days_ago=10)
    make_wave(session, "baru-saja", status="closed", closed_days_ago=3)
    make_wave(session, "buka", status="open", closed_days_ago=None)
    make_wave(session, "terbit", status="published", closed_days_ago=12)
    make_wave(session, "kuno", status="closed", closed_days_ago=None)


def test_retention_strips_only_waves_closed_longer_ago(
    app: Flask, session: Session, waves_of_all_ages: None
) -> None:
    report = apply_retention(session, days=7, now=NOW)

    assert [(r.wave, r.responses) for r in report.stripped] == [("lama", 1), ("terbit", 1)]
    assert report.undated == ["kuno"]
    assert is_stripped(session, "lama") and is_stripped(session, "terbit")
    for slug in ("baru-saja", "buka", "kuno"):
        assert not is_stripped(session, slug)
    entries = session.exec(select(AuditLog).where(AuditLog.action == "privacy.strip")).all()
    assert sorted(e.detail["wave"] for e in entries) == ["lama", "terbit"]
    assert {e.detail["reason"] for e in entries} == {"retention"}
    # A second run finds nothing left to do.
    assert apply_retention(session, days=7, now=NOW).stripped == []


def test_retention_zero_keeps_everything(
    app: Flask, session: Session, waves_of_all_ages: None
) -> None:
    report = apply_retention(session, days=0, now=NOW + timedelta(days=3650))
    assert report.stripped == [] and report.undated == []
    for slug in ("lama", "baru-saja", "terbit"):
        assert not is_stripped(session, slug)


def test_a_wave_reopened_after_a_strip_is_due_again(
    app: Flask, session: Session, sample_opds: None
) -> None:
    wave = make_wave(session, "ulang", status="closed", closed_days_ago=30)
    strip_metadata(session, wave=wave, actor=None, now=NOW - timedelta(days=20))
    assert privacy.due_waves(session, days=7, now=NOW) == ([], [])
    set_wave_status(session, slug="ulang", status="open")
    add_responses(session, wave, "bpbd", [[3] * 9], comment="baru", **METADATA)
    set_wave_status(session, slug="ulang", status="closed")
    later = aware(wave.closed_at)
    assert later is not None
    assert privacy.due_waves(session, days=7, now=later + timedelta(days=6)) == ([], [])
    due, _ = privacy.due_waves(session, days=7, now=later + timedelta(days=8))
    assert [w.slug for w in due] == ["ulang"]


def test_apply_command_uses_the_setting_and_prints_what_it_did(
    app: Flask,
    session: Session,
    runner: FlaskCliRunner,
    waves_of_all_ages: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app.config["RETENTION_DAYS"] = 7
    # The fixture's times are relative to NOW; run the command at NOW.
    monkeypatch.setattr(privacy_cli, "utcnow", lambda: NOW)
    dry = runner.invoke(args=["privacy", "apply", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Dry run, nothing changed: retention 7 days: 2 waves due" in dry.output
    assert "lama\twould strip\t1 responses" in dry.output
    assert not is_stripped(session, "lama")

    result = runner.invoke(args=["privacy", "apply"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "retention 7 days: 2 waves due"
    assert "lama\tstripped\t1 responses" in lines and "terbit\tstripped\t1 responses" in lines
    assert any(line.startswith("kuno\tskipped\tclosed at an unknown time") for line in lines)
    assert is_stripped(session, "lama") and not is_stripped(session, "baru-saja")


def test_apply_command_with_retention_zero_strips_nothing(
    app: Flask, session: Session, runner: FlaskCliRunner, waves_of_all_ages: None
) -> None:
    app.config["RETENTION_DAYS"] = 0
    result = runner.invoke(args=["privacy", "apply"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "IKM_RETENTION_DAYS is 0: respondent metadata is kept"
    assert "import jobs\tkept\tIKM_RETENTION_DAYS is 0" in result.output
    assert not is_stripped(session, "lama")


def test_apply_command_refuses_a_negative_setting(
    app: Flask, runner: FlaskCliRunner, session: Session
) -> None:
    app.config["RETENTION_DAYS"] = -1
    result = runner.invoke(args=["privacy", "apply"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: IKM_RETENTION_DAYS is -1; use 0 (keep) or a number of days"
    )


def test_apply_drops_old_import_jobs_and_old_login_failures(
    app: Flask, session: Session, open_wave: Wave
) -> None:
    def job(name: str, age_days: float, status: str, data: bytes = b"") -> None:
        """Add an import job uploaded ``age_days`` before NOW."""
        created = NOW - timedelta(days=age_days)
        session.add(
            ImportJob(
                wave_id=open_wave.id or 0, filename=name, digest="0" * 64, data=data,
                status=status, created_at=created, finished_at=created,
            )
        )  # fmt: skip

    job("lama.csv", 9, "done")
    job("lama-gagal.csv", 8, "failed")
    job("baru.csv", 2, "done")
    job("masih-berisi.csv", 1, "failed", data=b"opd,U1\nbpbd,4\n")  # must not happen; cleared
    job("ditinggal.csv", 3, "mapping", data=b"opd,U1\nbpbd,4\n")  # abandoned at mapping
    session.add(LoginFailure(key="u:lama", at=NOW - timedelta(minutes=16)))
    session.add(LoginFailure(key="u:baru", at=NOW - timedelta(minutes=5)))
    session.commit()

    report = apply_retention(session, days=7, now=NOW, login_window_seconds=15 * 60)

    assert report.jobs_deleted == 2 and report.jobs_cleared == 1
    assert report.login_failures_deleted == 1
    session.expire_all()
    jobs = {j.filename: j for j in session.exec(select(ImportJob)).all()}
    assert set(jobs) == {"baru.csv", "masih-berisi.csv", "ditinggal.csv"}
    assert all(j.data == b"" for j in jobs.values())
    assert jobs["ditinggal.csv"].status == "failed"
    assert [f.key for f in session.exec(select(LoginFailure)).all()] == ["u:baru"]


# --- Pages ----------------------------------------------------------------------------------


def test_pages_say_when_the_metadata_was_removed(
    app: Flask, session: Session, client: FlaskClient, open_wave: Wave
) -> None:
    fill(session, open_wave)
    accounts.create_user(session, username="admin", password=PASSWORD, role="admin")
    set_wave_status(session, slug="uji-2026", status="closed")
    assert AuthActions(client).login("admin").status_code == 302
    page = client.get("/kerja/gelombang/uji-2026").get_data(as_text=True)
    assert "Metadata responden" not in page

    strip_metadata(session, wave=open_wave, actor="admin", now=NOW)

    page = client.get("/kerja/gelombang/uji-2026").get_data(as_text=True)
    assert "dihapus 1 Desember 2026 16.00 WIB (jawaban dan skor tetap)" in page
    audit_page = client.get("/kerja/audit").get_data(as_text=True)
    assert "Metadata responden dihapus" in audit_page
    set_wave_status(session, slug="uji-2026", status="published")
    public = client.get("/hasil/uji-2026").get_data(as_text=True)
    assert "Metadata responden" in public and "dihapus 1 Desember 2026 16.00 WIB" in public
    assert "0812-3456-7890" not in public + page

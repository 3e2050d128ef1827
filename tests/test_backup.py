"""ikm backup and ikm restore: a full round trip on each backend, and every refusal.

The round trip fills every table of the schema (the test fails if a new table is left empty,
so it cannot be missed), backs up, changes and deletes data, restores, and compares every
table row by row with the state at backup time.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from file_helpers import KNPI
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlmodel import Session, SQLModel, select
from survey_helpers import IkmRunner, add_opd, add_responses, create_wave

from survey.core import accounts, backup, queries
from survey.core.database import alembic_config, upgrade
from survey.core.models import (
    Alarm,
    AuditLog,
    CategoryScheme,
    EnumeratorScope,
    ImportJob,
    KioskDevice,
    LoginFailure,
    Opd,
    OpdService,
    Publication,
    PublicationFile,
    RateCounter,
    Response,
    ServiceUnit,
    ShortLink,
    StaffSession,
    User,
    VisitCode,
    Wave,
    WaveLogo,
    WaveUnit,
    utcnow,
)
from survey.core.questionnaires import add_questionnaire, load_questionnaire_file
from survey.web.database import get_engine

PASSWORD = "correct horse battery staple"


def snapshot(app: Flask) -> dict[str, list[tuple[Any, ...]]]:
    """Return every row of every table (and the schema revision), in primary-key order."""
    engine = get_engine(app)
    state: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            query = sa.select(table).order_by(*table.primary_key.columns)
            state[table.name] = [tuple(row) for row in conn.execute(query)]
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
        state["alembic_version"] = [tuple(row) for row in version]
    return state


def fill_every_table(session: Session) -> None:
    """Put rows in every table: OPDs, a custom questionnaire and scheme, waves, responses..."""
    for slug, name in (("bpbd", "Badan Penanggulangan Bencana"), ("rsud", "Rumah Sakit Umum")):
        add_opd(session, slug=slug, name=name, short_name=slug.upper())
    spec = load_questionnaire_file(KNPI.read_bytes(), KNPI.name)
    add_questionnaire(session, spec=spec, actor="admin")
    session.add(
        CategoryScheme(
            slug="skema-uji",
            name="Skema uji",
            categories=[
                {"code": "A", "label_id": "Baik", "label_en": "Good", "min_ikm": 3.0},
                {"code": "B", "label_id": "Kurang", "label_en": "Poor", "min_ikm": 1.0},
            ],
        )
    )
    session.commit()
    wave = create_wave(session, slug="uji-2026", title="Uji 2026", status="open", target_n=9)
    create_wave(session, slug="uji-lain", title="Gelombang lain")
    add_responses(
        session, wave, "bpbd", [[4, 3, 4, 3, 4, 3, 4, 3, 4]] * 3, sex="P", age=41,
        comment="Pelayanan <b>cepat</b>'; DROP TABLE response;--",
    )  # fmt: skip
    add_responses(
        session, wave, "rsud", [[1, 2, None, 2, 1, 2, 1, 2, 1]], status="flagged",
        reason="duplicate-device", education="S1", service="Rawat jalan",
    )  # fmt: skip
    accounts.create_user(session, username="admin", password=PASSWORD, role="admin")
    accounts.create_user(
        session, username="kepala", password=PASSWORD, role="opd-head", opd_slug="bpbd"
    )
    accounts.audit(session, actor="admin", action="wave.open", wave="uji-2026")
    session.add(LoginFailure(key="u:" + "0" * 64, at=utcnow()))
    session.add(
        ImportJob(
            wave_id=wave.id or 0,
            actor="admin",
            filename="respons.csv",
            digest="f" * 64,
            status="done",
            imported=1,
            finished_at=utcnow(),
        )
    )
    opd_ids = {o.slug: o.id or 0 for o in session.exec(select(Opd)).all()}
    wave_id, bpbd = wave.id or 0, opd_ids["bpbd"]
    session.add(OpdService(opd_id=bpbd, name="Rawat jalan", position=1))
    unit = ServiceUnit(opd_id=bpbd, slug="pos-1", name="Pos Siaga 1")
    session.add(unit)
    session.flush()
    session.add(WaveUnit(wave_id=wave_id, unit_id=unit.id or 0, target_n=5))
    session.add(ShortLink(code="k7m2q", wave_id=wave_id, opd_id=bpbd, unit_id=unit.id))
    kiosk = KioskDevice(
        wave_id=wave_id, opd_id=bpbd, unit_id=unit.id, label="Loket 1", enrolled_by="admin",
        faces=True,
    )  # fmt: skip
    session.add(kiosk)
    session.add(VisitCode(wave_id=wave_id, opd_id=bpbd, code_hash="c" * 64, uses=1))
    session.add(WaveLogo(wave_id=wave_id, media_type="image/png", data=b"\x89PNG\r\n\x1a\n"))
    publication = Publication(wave_id=wave_id, version=1, status="ready", done=1, total=1)
    session.add(publication)
    session.flush()
    session.add(
        PublicationFile(
            publication_id=publication.id or 0,
            name="zip:open-data",
            content_type="application/zip",
            data=b"PK\x05\x06" + b"\x00" * 18,
            etag="e" * 64,
            size=22,
        )
    )
    session.add(RateCounter(key="n:" + "1" * 64, bucket=29_000_000, count=3))
    session.add(Alarm(wave_id=wave_id, opd_id=bpbd, kind="rate", detail={"rate": 12.5}))
    admin = accounts.get_user(session, username="admin")
    assert admin is not None
    session.add(StaffSession(token_hash="d" * 64, user_id=admin.id or 0))
    enumerator = accounts.create_user(
        session, username="pencacah", password=PASSWORD, role="enumerator"
    )
    session.add(
        EnumeratorScope(
            user_id=enumerator.id or 0, wave_id=wave_id, opd_id=None, granted_by="admin"
        )
    )
    session.commit()


def invoke(runner: FlaskCliRunner, *args: str) -> Any:
    """Run an ikm command."""
    return runner.invoke(args=list(args))


def test_round_trip_restores_every_table_row_by_row(
    app: Flask, runner: FlaskCliRunner, session: Session, tmp_path: Path, backend: str
) -> None:
    fill_every_table(session)
    before = snapshot(app)
    empty = [name for name, rows in before.items() if not rows]
    assert not empty, f"fill_every_table leaves these tables empty: {empty}"
    target = tmp_path / "ikm.backup"

    result = invoke(runner, "backup", "-o", str(target))

    assert result.exit_code == 0, result.output
    assert f"Backup written: {target}" in result.output
    assert f"{backend}, schema revision {backup.head_revision()}" in result.output
    assert "\n  response\t4\n" in result.output and "\n  user\t3\n" in result.output
    assert target.stat().st_mode & 0o777 == 0o600
    assert not list(tmp_path.glob(".*.partial"))
    assert snapshot(app) == before  # a backup changes nothing

    # Change and delete data after the backup.
    wave = queries.get_wave(session, slug="uji-2026")
    assert wave is not None
    session.execute(sa.delete(Response).where(Response.opd_id == 1))
    opd = session.exec(select(Opd).where(Opd.slug == "rsud")).one()
    opd.name = "Nama yang berubah"
    session.add(opd)
    session.execute(sa.delete(LoginFailure))
    session.execute(sa.delete(ImportJob))
    add_opd(session, slug="baru", name="OPD baru")
    accounts.audit(session, actor=None, action="opd.create", slug="baru")
    session.commit()
    session.close()
    changed = snapshot(app)
    assert changed != before

    refused = invoke(runner, "restore", str(target))
    assert refused.exit_code == 1
    assert (
        "the database holds data (" in refused.output and "run again with --yes" in refused.output
    )
    assert "\n" not in refused.output.strip()
    assert snapshot(app) == changed

    restored = invoke(runner, "restore", str(target), "--yes")

    assert restored.exit_code == 0, restored.output
    assert f"Restored {target.name}" in restored.output
    assert snapshot(app) == before
    # The ids go on from the restored rows (PostgreSQL sequences come back with the data).
    add_opd(session, slug="sesudah", name="OPD sesudah restore")
    assert session.exec(select(Opd).where(Opd.slug == "sesudah")).one().id == 3


def test_restore_into_an_empty_database_needs_no_yes(
    app: Flask, runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    target = tmp_path / "kosong.backup"
    assert invoke(runner, "backup", "-o", str(target)).exit_code == 0
    # Only the built-in questionnaire and schemes: nothing an operator would lose.
    result = invoke(runner, "restore", str(target))
    assert result.exit_code == 0, result.output
    assert session.exec(select(sa.func.count()).select_from(CategoryScheme)).one() == 2


def test_backup_overwrites_an_older_backup_atomically(
    app: Flask, runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    target = tmp_path / "ikm.backup"
    target.write_bytes(b"an older backup")
    add_opd(session, slug="bpbd", name="BPBD")
    result = invoke(runner, "backup", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_bytes()[:5] in (b"SQLit", b"PGDMP")
    assert "\n  opd\t1\n" in result.output


def test_an_older_backup_is_migrated_after_restore(
    app: Flask, runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    from alembic import command

    add_opd(session, slug="bpbd", name="BPBD")
    session.close()
    engine = get_engine(app)
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")
    target = tmp_path / "lama.backup"
    made = invoke(runner, "backup", "-o", str(target))
    assert made.exit_code == 0 and "schema revision 0003" in made.output, made.output
    upgrade(engine)
    add_opd(session, slug="rsud", name="RSUD")

    result = invoke(runner, "restore", str(target), "--yes")

    assert result.exit_code == 0, result.output
    assert f"(schema revision {backup.head_revision()})" in result.output
    session.expire_all()
    assert [o.slug for o in session.exec(select(Opd)).all()] == ["bpbd"]
    columns = {c["name"] for c in sa.inspect(engine).get_columns("wave")}
    assert {"closed_at", "metadata_stripped_at"} <= columns


def test_sqlite_backup_is_a_consistent_snapshot_while_a_writer_is_busy(
    app: Flask, runner: FlaskCliRunner, session: Session, tmp_path: Path, backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite's online backup against a concurrent writer")
    add_opd(session, slug="bpbd", name="BPBD")
    live = Path(get_engine(app).url.database or "")
    writer = sqlite3.connect(live, timeout=1)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO opd (slug, name, active) VALUES ('belum', 'Belum commit', 1)")
    try:
        result = invoke(runner, "backup", "-o", str(tmp_path / "b.sqlite3"))
    finally:
        writer.rollback()
        writer.close()
    assert result.exit_code == 0, result.output
    with sqlite3.connect(tmp_path / "b.sqlite3") as copy:
        assert copy.execute("SELECT slug FROM opd").fetchall() == [("bpbd",)]
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert not list(tmp_path.glob("b.sqlite3-*"))  # one self-contained file


# --- Refusals ------------------------------------------------------------------------------


def test_restore_refuses_a_missing_file(runner: FlaskCliRunner, tmp_path: Path) -> None:
    result = invoke(runner, "restore", str(tmp_path / "tidak-ada.backup"))
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {tmp_path / 'tidak-ada.backup'}: no such file"


def test_restore_refuses_a_file_of_another_kind(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    before = snapshot(app)
    other = tmp_path / "catatan.txt"
    other.write_text("opd,U1\nbpbd,4\n", encoding="utf-8")
    result = invoke(runner, "restore", str(other), "--yes")
    assert result.exit_code == 1
    assert "catatan.txt: not a backup made by 'ikm backup'" in result.output
    assert snapshot(app) == before


def test_restore_refuses_the_other_backends_backup(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path, backend: str, sqlite_template: Path
) -> None:
    before = snapshot(app)
    if backend == "sqlite":
        other = tmp_path / "pg.backup"
        other.write_bytes(b"PGDMP\x01\x0e\x00" + b"\x00" * 64)
        expected = "pg.backup is a PostgreSQL (pg_dump) backup; it cannot be restored into an "
        expected += "SQLite database"
    else:
        other = sqlite_template
        expected = f"{other.name} is an SQLite backup; it cannot be restored into a PostgreSQL "
        expected += "database"
    result = invoke(runner, "restore", str(other), "--yes")
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {expected}"
    assert snapshot(app) == before


def test_restore_refuses_an_sqlite_file_that_is_not_ours(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path, backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("an SQLite file is refused on PostgreSQL before it is opened")
    before = snapshot(app)
    other = tmp_path / "lain.sqlite3"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    result = invoke(runner, "restore", str(other), "--yes")
    assert result.exit_code == 1
    assert "lain.sqlite3 is an SQLite database but not an IKM database" in result.output
    assert snapshot(app) == before


def test_restore_refuses_a_backup_from_a_newer_app(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path, backend: str, session: Session
) -> None:
    add_opd(session, slug="bpbd", name="BPBD")
    session.close()
    engine = get_engine(app)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    target = tmp_path / "baru.backup"
    assert invoke(runner, "backup", "-o", str(target)).exit_code == 0
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"UPDATE alembic_version SET version_num = '{backup.head_revision()}'")
        )
    add_opd(session, slug="rsud", name="RSUD")
    before = snapshot(app)

    result = invoke(runner, "restore", str(target), "--yes")

    assert result.exit_code == 1
    assert "schema revision 9999, unknown to this version of the app" in result.output
    assert snapshot(app) == before


def test_restore_refuses_a_damaged_archive(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path, session: Session
) -> None:
    add_opd(session, slug="bpbd", name="BPBD")
    session.close()
    target = tmp_path / "ikm.backup"
    assert invoke(runner, "backup", "-o", str(target)).exit_code == 0
    data = target.read_bytes()
    target.write_bytes(data[: len(data) // 3])  # a cut-off copy
    before = snapshot(app)
    result = invoke(runner, "restore", str(target), "--yes")
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and len(result.output.strip().splitlines()) == 1
    assert snapshot(app) == before


def test_backup_refuses_a_missing_folder(runner: FlaskCliRunner, tmp_path: Path) -> None:
    result = invoke(runner, "backup", "-o", str(tmp_path / "tidak" / "ada.backup"))
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: folder {tmp_path / 'tidak'} does not exist"


def test_postgres_backup_without_pg_dump_says_how_to_install_it(
    runner: FlaskCliRunner, tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite backups need no client tools")
    monkeypatch.setattr(backup.shutil, "which", lambda _name: None)
    result = invoke(runner, "backup", "-o", str(tmp_path / "ikm.backup"))
    assert result.exit_code == 1
    assert result.output.startswith("Error: pg_dump not found: install the PostgreSQL client")
    assert not list(tmp_path.iterdir())


@pytest.fixture
def password_app(app_config: dict, backend: str, request: pytest.FixtureRequest) -> Flask:
    """The app on PostgreSQL through a URL with a password (trust auth ignores it)."""
    if backend != "postgresql":
        pytest.skip("a password in the URL is a PostgreSQL matter")
    app_config["DATABASE_URL"] = app_config["DATABASE_URL"].replace(
        "postgres@", "postgres:s3cret-pw%21@", 1
    )
    return request.getfixturevalue("app")


def test_postgres_password_goes_through_the_environment_only(
    password_app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[list[str], dict[str, str]]] = []
    real_run = subprocess.run

    def spy(args: list[str], **kwargs: Any) -> Any:
        calls.append((list(args), dict(kwargs.get("env") or {})))
        return real_run(args, **kwargs)

    monkeypatch.setattr(backup.subprocess, "run", spy)
    runner = IkmRunner(password_app)
    target = tmp_path / "ikm.backup"
    made = invoke(runner, "backup", "-o", str(target))
    restored = invoke(runner, "restore", str(target), "--yes")
    assert made.exit_code == 0 and restored.exit_code == 0, made.output + restored.output
    assert {Path(args[0]).name for args, _env in calls} == {"pg_dump", "pg_restore", "psql"}
    for args, env in calls:
        assert not any("s3cret" in arg for arg in args)
        assert env["PGPASSWORD"] == "s3cret-pw!"
    assert "s3cret" not in made.output + restored.output


def test_restore_refuses_a_backup_of_another_schema(
    runner: FlaskCliRunner, tmp_path: Path, backend: str, app: Flask
) -> None:
    if backend != "postgresql":
        pytest.skip("schemas are a PostgreSQL matter")
    target = tmp_path / "ikm.backup"
    assert invoke(runner, "backup", "-o", str(target)).exit_code == 0
    engine = get_engine(app)
    url = engine.url.update_query_dict({"options": "-csearch_path=ikm_lain_b2"})
    other = backup.sa.create_engine(url)
    with other.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA IF NOT EXISTS ikm_lain_b2"))
    try:
        with pytest.raises(backup.BackupError, match=r"holds schema 'ikm_test_.*' but the"):
            backup.restore(other, target, replace=True)
    finally:
        with other.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA ikm_lain_b2 CASCADE"))
        other.dispose()


def test_backup_counts_match_the_database(app: Flask, session: Session, tmp_path: Path) -> None:
    fill_every_table(session)
    engine = get_engine(app)
    result = backup.backup(engine, tmp_path / "ikm.backup")
    expected = {
        table: len(rows) for table, rows in snapshot(app).items() if table != "alembic_version"
    }
    assert result.contents.counts == expected
    assert result.contents.revision == backup.head_revision()
    assert result.size == (tmp_path / "ikm.backup").stat().st_size


def test_every_model_table_is_backed_up(session: Session) -> None:
    names = backup.table_names()
    assert set(names) == {t.name for t in SQLModel.metadata.sorted_tables}
    assert {"response", "user", "auditlog", "loginfailure", "importjob", "waveopd"} <= set(names)
    assert Wave.__tablename__ in names and User.__tablename__ in names
    assert AuditLog.__tablename__ in names


def test_sqlite_restore_reaches_connections_the_app_keeps_open(
    app: Flask, runner: FlaskCliRunner, session: Session, tmp_path: Path, backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite's restore into the live file")
    add_opd(session, slug="bpbd", name="BPBD")
    target = tmp_path / "b.sqlite3"
    assert invoke(runner, "backup", "-o", str(target)).exit_code == 0
    add_opd(session, slug="rsud", name="RSUD")
    # Another app process's pooled connection, open on the live file across the restore.
    other = sqlite3.connect(Path(get_engine(app).url.database or ""))
    try:
        assert other.execute("SELECT count(*) FROM opd").fetchone() == (2,)
        assert invoke(runner, "restore", str(target), "--yes").exit_code == 0
        assert other.execute("SELECT slug FROM opd").fetchall() == [("bpbd",)]
        other.execute("INSERT INTO opd (slug, name, active) VALUES ('baru', 'Baru', 1)")
        other.commit()
    finally:
        other.close()
    session.expire_all()
    assert [o.slug for o in session.exec(select(Opd).order_by(Opd.id)).all()] == ["bpbd", "baru"]


@pytest.mark.parametrize("days", [0, 30])
def test_restore_reminds_to_reapply_retention_when_it_is_set(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path, days: int
) -> None:
    app.config["RETENTION_DAYS"] = days
    target = tmp_path / "ikm.backup"
    assert invoke(runner, "backup", "-o", str(target)).exit_code == 0
    result = invoke(runner, "restore", str(target))
    assert result.exit_code == 0, result.output
    assert ("run 'ikm privacy apply'" in result.output) == (days > 0)


def test_sqlite_backup_and_restore_refuse_the_live_file_itself(
    app: Flask, runner: FlaskCliRunner, session: Session, backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("the live file is an SQLite matter")
    add_opd(session, slug="bpbd", name="BPBD")
    session.close()
    live = Path(get_engine(app).url.database or "")
    before = snapshot(app)
    made = invoke(runner, "backup", "-o", str(live))
    assert made.exit_code == 1
    assert (
        made.output.strip()
        == f"Error: {live} is the live database itself; write the backup elsewhere"
    )
    restored = invoke(runner, "restore", str(live), "--yes")
    assert restored.exit_code == 1
    assert restored.output.strip() == f"Error: {live} is the live database itself, not a backup"
    assert snapshot(app) == before

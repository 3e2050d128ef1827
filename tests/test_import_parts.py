"""A web import on SQLite writes its rows in parts, so that citizens' answers get the write lock
in between, and still writes all rows or none: a failure, a job that died and a publication
all find no half-written import."""

from __future__ import annotations

from typing import Any

import pytest
from file_helpers import HEADER, count
from flask import Flask
from sqlmodel import Session, select
from survey_helpers import add_responses

from survey.core import imports as import_service
from survey.core import submissions, tallies, waves
from survey.core.models import AuditLog, ImportJob, Response, Wave
from survey.core.problems import ProblemError

OPDS = ["bpbd", "rsud", "dishub", "bpbd", "rsud", "dishub", "bpbd"]
ROWS = [
    f"{opd},2025-06-12T09:{minute:02d}:00+07:00,"
    + ",".join(str(1 + (minute + i) % 4) for i in range(9))
    + ",L,30,SMA,Swasta,,"
    for minute, opd in enumerate(OPDS)
]


def _file() -> bytes:
    return ("\r\n".join([HEADER, *ROWS]) + "\r\n").encode()


def _queued_job(session: Session, wave: Wave) -> int:
    """Upload the seven-row file and confirm its mapping, as the web's views do."""
    job = import_service.create_import_job(
        session, wave=wave, actor="eva", filename="kertas.csv", kind="csv", data=_file()
    )
    context = import_service.import_context(session, wave=wave)
    assert import_service.confirm_job(session, job=job, context=context, mapping=None)
    assert job.id is not None
    return job.id


def _job(session: Session, job_id: int) -> ImportJob:
    session.expire_all()
    job = session.get(ImportJob, job_id)
    assert job is not None
    return job


def _imported(session: Session) -> int:
    session.expire_all()
    return len(session.exec(select(Response).where(Response.channel == "import")).all())


def _agree(session: Session, wave: Wave) -> None:
    session.expire_all()
    assert tallies.differences(session, wave_id=int(wave.id or 0)) == []


@pytest.fixture
def engine(app: Flask) -> Any:
    return app.extensions["ikm_engine"]


@pytest.fixture
def parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts of two rows, no pause, from the first row on."""
    monkeypatch.setattr(import_service, "PARTS_ABOVE_ROWS", 0)
    monkeypatch.setattr(import_service, "WRITE_CHUNK_ROWS", 2)
    monkeypatch.setattr(import_service, "WRITE_PAUSE_SECONDS", 0.0)
    monkeypatch.setattr(import_service, "WRITE_PAUSE_RATIO", 0.0)


def _run_in_parts(engine: Any, job_id: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the job with the SQLite write path whatever the backend (PostgreSQL uses COPY in
    one transaction in production; the parts path must hold on both)."""
    monkeypatch.setattr(
        import_service, "_writes_in_parts", lambda _engine, _rows: True, raising=True
    )
    import_service.run_import_job(engine, job_id=job_id)


def test_a_job_written_in_parts_writes_every_row_once(
    engine: Any, session: Session, open_wave: Wave, parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seven rows in parts of two (four transactions, then the last with the audit entry):
    all seven stored once, the kept statistics equal a recount, ``written`` cleared, one
    audit entry; a second run of the file adds nothing."""
    seen: list[int] = []
    real = submissions.insert_prepared

    def counting(session: Session, **kwargs: Any) -> int:
        seen.append(1)
        return real(session, **kwargs)

    monkeypatch.setattr(submissions, "insert_prepared", counting)
    job_id = _queued_job(session, open_wave)
    _run_in_parts(engine, job_id, monkeypatch)
    job = _job(session, job_id)
    assert (job.status, job.imported, job.written, job.data) == ("done", 7, [], b"")
    assert len(seen) == 4  # ceil(7 / 2) transactions of rows
    assert _imported(session) == 7
    _agree(session, open_wave)
    audits = session.exec(select(AuditLog).where(AuditLog.action == "import.run")).all()
    assert len(audits) == 1 and audits[0].detail["imported"] == 7
    again = _queued_job(session, open_wave)
    _run_in_parts(engine, again, monkeypatch)
    job = _job(session, again)
    assert (job.status, job.imported, job.already_present) == ("done", 0, 7)
    assert _imported(session) == 7


def test_a_failure_in_a_later_part_takes_back_the_parts_written(
    engine: Any, session: Session, open_wave: Wave, parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The third part fails after two committed: their four rows are deleted again with their
    kept statistics, the job fails as "nothing was imported", and the citizens' rows stay,
    those from before and one answered between the two parts (its id inside the job's span).
    """
    add_responses(session, open_wave, "bpbd", [[4] * 9, [3] * 9])
    real = submissions.insert_prepared
    real_claim = import_service._claim_part
    calls: list[int] = []

    def third_fails(session: Session, **kwargs: Any) -> int:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return real(session, **kwargs)

    def claim(part: Session, job_id: int) -> None:
        if len(calls) == 1:  # a citizen answers between the first part and the second
            with Session(engine) as other:
                add_responses(other, open_wave, "rsud", [[2] * 9])
        real_claim(part, job_id)

    monkeypatch.setattr(submissions, "insert_prepared", third_fails)
    monkeypatch.setattr(import_service, "_claim_part", claim)
    job_id = _queued_job(session, open_wave)
    _run_in_parts(engine, job_id, monkeypatch)
    job = _job(session, job_id)
    assert job.status == "failed" and job.written == []
    assert job.message == "unexpected error while writing; nothing was imported"
    assert len(calls) == 3
    assert _imported(session) == 0 and count(session, Response) == 3
    _agree(session, open_wave)
    assert session.exec(select(AuditLog).where(AuditLog.action == "import.run")).all() == []


def test_a_job_expired_while_writing_stops_and_takes_back_its_rows(
    engine: Any, session: Session, open_wave: Wave, parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process failed the job as stopped between two parts: the next part's claim
    finds it no longer running, and the rows written are deleted."""
    real = submissions.insert_prepared
    calls: list[int] = []

    def expire_after_first(session: Session, **kwargs: Any) -> int:
        calls.append(1)
        return real(session, **kwargs)

    def claim(session: Session, job_id: int) -> None:
        if calls:  # after the first part: failed meanwhile, as expire_stale_jobs does
            with Session(engine) as other:
                job = other.get(ImportJob, job_id)
                assert job is not None
                if job.status == "running":
                    job.status = "failed"
                    other.add(job)
                    other.commit()
        real_claim(session, job_id)

    real_claim = import_service._claim_part
    monkeypatch.setattr(submissions, "insert_prepared", expire_after_first)
    monkeypatch.setattr(import_service, "_claim_part", claim)
    job_id = _queued_job(session, open_wave)
    _run_in_parts(engine, job_id, monkeypatch)
    job = _job(session, job_id)
    assert job.status == "failed" and job.written == []
    assert len(calls) == 1
    assert _imported(session) == 0
    _agree(session, open_wave)


def test_a_dead_jobs_rows_go_when_it_expires(
    engine: Any, session: Session, open_wave: Wave
) -> None:
    """A job whose worker died after committing parts: expiring it fails it (its rows still
    recorded), and the take-back then deletes exactly its rows (the ranges it recorded,
    channel ``import``), not a citizen's answer with an id in between, and mends the kept
    statistics."""
    from datetime import UTC, datetime, timedelta

    context = import_service.import_context(session, wave=open_wave)
    read = import_service.CanonicalReader(_file(), context, kind="csv")
    rows = [row for row in read if not isinstance(row, import_service.RowError)]
    import_service.write_import(
        session, wave=open_wave, filename="a.csv", digest=read.digest, rows=rows, actor=None
    )
    ids = sorted(r.id for r in session.exec(select(Response)).all())
    add_responses(session, open_wave, "bpbd", [[4] * 9])
    job = import_service.create_import_job(
        session, wave=open_wave, actor="eva", filename="a.csv", kind="csv", data=b"opd\n"
    )
    job.status, job.created_at = "running", datetime.now(UTC) - timedelta(hours=3)
    # As if the dead job had written the ids of the file's rows, in two parts.
    job.written = [[ids[0], ids[2]], [ids[3], ids[-1] + 50]]
    session.add(job)
    session.commit()
    assert import_service.expire_stale_jobs(session) == 1
    job = _job(session, int(job.id or 0))
    assert job.status == "failed" and job.written == [[ids[0], ids[2]], [ids[3], ids[-1] + 50]]
    assert import_service.take_back_failed(engine) == 7
    assert _imported(session) == 0 and count(session, Response) == 1
    job = _job(session, int(job.id or 0))
    assert job.status == "failed" and job.written == []
    _agree(session, open_wave)


def test_publishing_waits_for_a_running_import(session: Session, open_wave: Wave) -> None:
    """A wave with an import queued or running cannot be published (its rows may still come
    or go); once the job is over, it can."""
    add_responses(session, open_wave, "bpbd", [[4] * 9] * 3)
    waves.change_status(session, wave=open_wave, action="close", actor=None)
    job_id = _queued_job(session, open_wave)
    with pytest.raises(ProblemError) as refused:
        waves.change_status(session, wave=open_wave, action="publish", actor=None)
    assert [item.code for item in refused.value.problems] == ["import-running"]
    session.expire_all()
    assert session.get(Wave, open_wave.id).status == "closed"  # type: ignore[union-attr]
    job = _job(session, job_id)
    job.status = "failed"
    session.add(job)
    session.commit()
    try:
        waves.change_status(session, wave=open_wave, action="publish", actor=None)
    except ProblemError as other:  # the checklist's own items may still ask for a nod
        assert "import-running" not in [item.code for item in other.problems]


def test_the_upload_leaves_the_job_row_while_its_rows_are_checked(
    engine: Any, session: Session, open_wave: Wave, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each progress commit rewrites the job's row: the file is no longer in it by then (on
    SQLite a million-row file was written again every second)."""
    sizes: list[int] = []
    real = import_service._check_job

    def checking(session: Session, job: ImportJob, data: bytes, *args: Any) -> Any:
        with Session(engine) as other:
            stored = other.get(ImportJob, job.id)
            assert stored is not None
            sizes.append(len(stored.data))
        assert len(data) == len(_file())
        return real(session, job, data, *args)

    monkeypatch.setattr(import_service, "_check_job", checking)
    job_id = _queued_job(session, open_wave)
    import_service.run_import_job(engine, job_id=job_id)
    assert sizes == [0]
    assert _job(session, job_id).status == "done"
    assert _imported(session) == 7


def test_a_background_job_runs_at_a_lower_cpu_priority(app: Flask) -> None:
    """An import's or a publication's thread takes a lower CPU priority than the requests."""
    import os
    import threading

    from survey.web import background

    seen: list[int] = []

    def work(_app: Flask, _job_id: int) -> None:
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    app.config["SOME_INLINE"] = False
    thread = background.start(app, work, 1, inline="SOME_INLINE", name="ikm-test")
    assert thread is not None
    thread.join()
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert seen == [min(19, mine + background.BACKGROUND_NICE)]


def _checked_rows(session: Session, wave: Wave) -> tuple[str, list[Any]]:
    context = import_service.import_context(session, wave=wave)
    read = import_service.CanonicalReader(_file(), context, kind="csv")
    rows = [row for row in read if not isinstance(row, import_service.RowError)]
    assert len(rows) == 7
    return read.digest, rows


def test_ikm_import_on_sqlite_is_a_job_written_in_parts(
    engine: Any, session: Session, open_wave: Wave, parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ikm import``'s write (import_rows): on SQLite a job of its own, written in parts
    (progress per part), done with its counts; on PostgreSQL one transaction, no job."""
    digest, rows = _checked_rows(session, open_wave)
    steps: list[int] = []
    result = import_service.import_rows(
        session, wave=open_wave, filename="kertas.csv", kind="csv", digest=digest, rows=rows,
        actor=None, progress=steps.append,
    )  # fmt: skip
    assert (result.imported, result.already_present) == (7, 0)
    assert _imported(session) == 7
    _agree(session, open_wave)
    jobs = session.exec(select(ImportJob)).all()
    if engine.dialect.name == "sqlite":
        assert steps == [2, 2, 2, 1]
        assert [(j.status, j.imported, j.written, j.data) for j in jobs] == [("done", 7, [], b"")]
    else:
        assert sum(steps) == 7 and jobs == []


def test_an_interrupted_ikm_import_on_sqlite_takes_its_rows_back(
    engine: Any, session: Session, open_wave: Wave, parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C during the third part: the two parts written are deleted, the job failed."""
    monkeypatch.setattr(import_service, "_writes_in_parts", lambda _engine, _rows: True)
    digest, rows = _checked_rows(session, open_wave)
    real = submissions.insert_prepared
    calls: list[int] = []

    def interrupted(session: Session, **kwargs: Any) -> int:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(session, **kwargs)

    monkeypatch.setattr(submissions, "insert_prepared", interrupted)
    with pytest.raises(KeyboardInterrupt):
        import_service.import_rows(
            session, wave=open_wave, filename="kertas.csv", kind="csv", digest=digest,
            rows=rows, actor=None,
        )  # fmt: skip
    assert _imported(session) == 0
    _agree(session, open_wave)
    session.expire_all()
    jobs = session.exec(select(ImportJob)).all()
    assert [(j.status, j.written) for j in jobs] == [("failed", [])]

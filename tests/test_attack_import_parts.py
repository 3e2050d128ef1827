"""Attacks on the SQLite import written in parts (``write_in_parts``) and what guards it.

Each test marked "DEFECT" in its docstring shows a case the code once got wrong (each failed
before its fix, found by an adversarial review); the others show a case that held already.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from file_helpers import HEADER, count
from flask import Flask
from sqlmodel import Session, col, select
from survey_helpers import add_responses

from survey.core import checklist, submissions, tallies, waves
from survey.core import imports as import_service
from survey.core.models import ImportJob, Response, Wave, WaveOpd
from survey.core.problems import ProblemError

OPDS = ["bpbd", "rsud", "dishub", "bpbd", "rsud", "dishub", "bpbd"]


def _rows(hour: int = 9) -> list[str]:
    return [
        f"{opd},2025-06-12T{hour:02d}:{minute:02d}:00+07:00,"
        + ",".join(str(1 + (minute + i) % 4) for i in range(9))
        + ",L,30,SMA,Swasta,,"
        for minute, opd in enumerate(OPDS)
    ]


def _file(hour: int = 9) -> bytes:
    """The seven-row file; another ``hour`` makes another file (another digest)."""
    return ("\r\n".join([HEADER, *_rows(hour)]) + "\r\n").encode()


def _upload(session: Session, wave: Wave, data: bytes | None = None) -> ImportJob:
    return import_service.create_import_job(
        session, wave=wave, actor="eva", filename="kertas.csv", kind="csv", data=data or _file()
    )


def _confirm(session: Session, wave: Wave, job: ImportJob) -> int:
    context = import_service.import_context(session, wave=wave)
    assert import_service.confirm_job(session, job=job, context=context, mapping=None)
    assert job.id is not None
    return job.id


def _queued_job(session: Session, wave: Wave, data: bytes | None = None) -> int:
    return _confirm(session, wave, _upload(session, wave, data))


def _job(session: Session, job_id: int) -> ImportJob:
    session.expire_all()
    job = session.get(ImportJob, job_id)
    assert job is not None
    return job


def _imported(session: Session) -> int:
    session.expire_all()
    return len(session.exec(select(Response).where(Response.channel == "import")).all())


def _submission_ids(session: Session) -> set[str]:
    session.expire_all()
    found = session.exec(select(Response.submission_id).where(Response.channel == "import"))
    return set(found.all())


def _agree(session: Session, wave: Wave) -> None:
    session.expire_all()
    assert tallies.differences(session, wave_id=int(wave.id or 0)) == []


def _checked_rows(session: Session, wave: Wave, data: bytes | None = None) -> tuple[str, list]:
    context = import_service.import_context(session, wave=wave)
    read = import_service.CanonicalReader(data or _file(), context, kind="csv")
    rows = [row for row in read if not isinstance(row, import_service.RowError)]
    assert len(rows) == 7
    return read.digest, rows


@pytest.fixture
def engine(app: Flask) -> Any:
    return app.extensions["ikm_engine"]


@pytest.fixture
def parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts of two rows, no pause, on both backends (forced: production uses them on SQLite)."""
    monkeypatch.setattr(import_service, "PARTS_ABOVE_ROWS", 0)
    monkeypatch.setattr(import_service, "WRITE_CHUNK_ROWS", 2)
    monkeypatch.setattr(import_service, "WRITE_PAUSE_SECONDS", 0.0)
    monkeypatch.setattr(import_service, "WRITE_PAUSE_RATIO", 0.0)
    monkeypatch.setattr(import_service, "_writes_in_parts", lambda _engine, _rows: True)


def _citizen_answers(engine: Any, session: Session, wave: Wave) -> None:
    """A citizen's answer (all 3s, submission id "c" * 32) to the wave's first OPD, stored by
    ``store_submission`` in a transaction of its own, as the survey page stores it."""
    from survey.core.submissions import Submission

    opd_id = session.exec(select(WaveOpd.opd_id).where(WaveOpd.wave_id == wave.id)).first()
    assert opd_id is not None
    with Session(engine) as other:
        submissions.store_submission(
            other,
            submission=Submission(
                wave_id=int(wave.id or 0),
                opd_id=int(opd_id),
                submission_id="c" * 32,
                answers=dict.fromkeys(range(1, 10), 3),
            ),
        )


def _before_part(monkeypatch: pytest.MonkeyPatch, hooks: dict[int, Any]) -> list[int]:
    """Run ``hooks[n]()`` just before the n-th part's claim (1-based, the last claim is the
    audit's transaction); return the list of claims made so far."""
    real = import_service._claim_part
    claims: list[int] = []

    def claim(session: Session, job_id: int) -> None:
        claims.append(job_id)
        hook = hooks.pop(len(claims), None)
        if hook is not None:
            hook()
        real(session, job_id)

    monkeypatch.setattr(import_service, "_claim_part", claim)
    return claims


# --- Two jobs of one file ---------------------------------------------------------------------


def test_two_jobs_of_one_file_at_once_leave_the_whole_file(
    engine: Any, session: Session, open_wave: Wave, parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DEFECT: job A (the file) commits its first part; job B (the same file, a second tab or
    ``ikm import`` alongside) starts then, counts A's two rows as "already present" and
    writes the other five; A's second part collides with B's rows and A takes back its own
    two. B says "done: 5 imported, 2 already present" while only five of the seven rows are
    in the wave (and nobody is told)."""
    job_a = _queued_job(session, open_wave)
    job_b = _queued_job(session, open_wave)
    real = import_service._claim_part
    claims: list[int] = []

    def claim(part: Session, job_id: int) -> None:
        claims.append(job_id)
        if claims == [job_a, job_a]:  # A's second part: B runs whole meanwhile
            import_service.run_import_job(engine, job_id=job_b)
        real(part, job_id)

    monkeypatch.setattr(import_service, "_claim_part", claim)
    import_service.run_import_job(engine, job_id=job_a)
    a, b = _job(session, job_a), _job(session, job_b)
    _agree(session, open_wave)
    done = [job for job in (a, b) if job.status == "done"]
    assert done, (a.status, a.message, b.status, b.message)
    # Whatever job says "done", the file's seven rows are in the wave.
    assert _imported(session) == 7, (a.status, a.message, b.status, b.message)


# --- A take-back that fails ---------------------------------------------------------------------


def test_rows_left_by_a_failed_take_back_are_cleaned_later(
    engine: Any, session: Session, open_wave: Wave, parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DEFECT: the third part fails (say "database is locked"), and so does the take-back of
    the two parts written (the lock is still busy). The job is marked failed with its ranges
    still in ``written``; ``expire_stale_jobs`` looks only at queued and running jobs, so the
    four rows stay for ever: a failed job ("nothing was imported") whose rows are counted,
    and the wave can be published with them."""
    real_insert = submissions.insert_prepared
    real_delete = import_service._delete_range
    calls: list[int] = []
    deletes: list[int] = []

    def third_fails(session: Session, **kwargs: Any) -> int:
        calls.append(1)
        if len(calls) == 3:
            raise sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))
        return real_insert(session, **kwargs)

    def first_delete_fails(session: Session, *args: Any) -> int:
        deletes.append(1)
        if len(deletes) == 1:
            raise sa.exc.OperationalError("DELETE", {}, Exception("database is locked"))
        return real_delete(session, *args)

    monkeypatch.setattr(submissions, "insert_prepared", third_fails)
    monkeypatch.setattr(import_service, "_delete_range", first_delete_fails)
    job_id = _queued_job(session, open_wave)
    import_service.run_import_job(engine, job_id=job_id)
    job = _job(session, job_id)
    assert job.status == "failed"
    assert _imported(session) == 4
    # Later: the next upload, the job page or a publication starts the take-back.
    later = datetime.now(UTC) + timedelta(days=2)
    import_service.expire_stale_jobs(session, now=later)
    assert import_service.take_back_failed(engine) == 4
    assert _imported(session) == 0, _job(session, job_id).written
    _agree(session, open_wave)


# --- A live job expired ----------------------------------------------------------------------


def test_a_job_confirmed_late_is_not_expired_while_it_runs(
    engine: Any, session: Session, open_wave: Wave, parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DEFECT: the evaluator uploads, leaves the mapping page for more than two hours (it
    keeps for 24) and confirms. JOB_STALE_AFTER counts from the upload (``created_at``), so
    the job page's own refresh (``expire_stale_jobs`` in its GET), another upload or a
    publication attempt fails the running job as "stopped (the server restarted?)" and
    deletes the parts it wrote."""
    job = _upload(session, open_wave)
    job.created_at = datetime.now(UTC) - timedelta(hours=3)
    session.add(job)
    session.commit()
    job_id = _confirm(session, open_wave, job)

    def page_refresh() -> None:
        with Session(engine) as other:
            import_service.expire_stale_jobs(other)

    _before_part(monkeypatch, {2: page_refresh})
    import_service.run_import_job(engine, job_id=job_id)
    job = _job(session, job_id)
    assert (job.status, job.message) == ("done", "kertas.csv: 7 imported, 0 already present")
    assert _imported(session) == 7


def test_an_expired_live_job_does_not_take_back_another_imports_rows(
    engine: Any, session: Session, open_wave: Wave, parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DEFECT (SQLite): job A, expired while alive (running for more than JOB_STALE_AFTER, or
    confirmed late, above), has its two rows deleted by ``expire_stale_jobs``; SQLite then
    hands their ids (the highest) to the next rows, here another file's import into the
    wave. A's next claim is refused and A "takes back" the ranges it remembers in memory:
    the other import's rows with those ids go, while that import says it imported seven."""
    job_id = _queued_job(session, open_wave)
    other_file = _file(hour=10)
    digest, rows = _checked_rows(session, open_wave, other_file)
    theirs: list[int] = []

    def expired_then_other_import() -> None:
        with Session(engine) as other:
            stale = other.get(ImportJob, job_id)
            assert stale is not None
            stale.created_at = datetime.now(UTC) - timedelta(hours=3)
            other.add(stale)
            other.commit()
            assert import_service.expire_stale_jobs(other) == 1
            wave = other.get(Wave, open_wave.id)
            assert wave is not None
            result = import_service.write_import(
                other, wave=wave, filename="lain.csv", digest=digest, rows=rows, actor=None
            )
            theirs.append(result.imported)

    _before_part(monkeypatch, {2: expired_then_other_import})
    import_service.run_import_job(engine, job_id=job_id)
    assert theirs == [7]
    assert _job(session, job_id).status == "failed"
    assert _imported(session) == 7  # the other import's rows, all of them
    _agree(session, open_wave)


def test_a_job_expired_while_alive_stops_and_leaves_nothing(
    engine: Any, session: Session, open_wave: Wave, parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Holds: a job that really is older than JOB_STALE_AFTER, expired between two parts,
    stops at its next claim and nothing of it stays; kept statistics agree."""
    job_id = _queued_job(session, open_wave)

    def expire() -> None:
        with Session(engine) as other:
            stale = other.get(ImportJob, job_id)
            assert stale is not None
            stale.created_at = datetime.now(UTC) - timedelta(hours=3)
            other.add(stale)
            other.commit()
            assert import_service.expire_stale_jobs(other) == 1

    _before_part(monkeypatch, {3: expire})
    import_service.run_import_job(engine, job_id=job_id)
    job = _job(session, job_id)
    assert job.status == "failed" and job.written == []
    assert _imported(session) == 0
    _agree(session, open_wave)


# --- The wave changes between parts -------------------------------------------------------------


def test_publishing_racing_an_ikm_import_leaves_the_published_rows(
    engine: Any, session: Session, open_wave: Wave, parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DEFECT (SQLite): ``change_status`` checks for a running import (a read, outside any
    transaction on SQLite) before the checklist and takes the write lock only at its UPDATE
    of the wave. An ``ikm import`` that starts writing in between (its job row is created
    after the check) commits a part; the publication then commits; the import's next part
    finds the wave published and takes its committed part back: out of a published wave."""
    if engine.dialect.name != "sqlite":
        pytest.skip("on PostgreSQL the wave's row lock orders the two (and parts are SQLite's)")
    add_responses(session, open_wave, "bpbd", [[4] * 9] * 3)
    waves.change_status(session, wave=open_wave, action="close", actor=None)
    digest, rows = _checked_rows(session, open_wave)
    first_part = threading.Event()
    published = threading.Event()
    errors: list[BaseException] = []
    real_claim = import_service._claim_part
    claims: list[int] = []

    def claim(part: Session, job_id: int) -> None:
        claims.append(job_id)
        if len(claims) == 2:
            first_part.set()
            published.wait(10)
        real_claim(part, job_id)

    monkeypatch.setattr(import_service, "_claim_part", claim)

    def cli_import() -> None:
        with Session(engine) as cli:
            wave = cli.get(Wave, open_wave.id)
            assert wave is not None
            try:
                import_service.import_rows(
                    cli, wave=wave, filename="kertas.csv", kind="csv", digest=digest,
                    rows=rows, actor=None,
                )  # fmt: skip
            except BaseException as exc:  # reported below
                errors.append(exc)

    worker = threading.Thread(target=cli_import)

    def slow_checklist(*_args: Any, **_kwargs: Any) -> tuple[list[Any], list[Any]]:
        worker.start()  # after check_no_running_import, before the wave's UPDATE
        assert first_part.wait(10)
        return [], []

    monkeypatch.setattr(checklist, "check_publication", slow_checklist)
    try:
        waves.change_status(session, wave=open_wave, action="publish", actor=None)
        outcome = "published"
    except ProblemError as exc:
        outcome = ",".join(item.code for item in exc.problems)
    at_publication = count(session, Response)
    published.set()
    worker.join(10)
    session.expire_all()
    status = session.get(Wave, open_wave.id).status  # type: ignore[union-attr]
    if status == "published":
        assert count(session, Response) == at_publication, (outcome, errors)
    else:  # the publication was refused: the import went on to the end
        assert (outcome, errors, _imported(session)) == ("import-running", [], 7)
    _agree(session, open_wave)


def test_an_opd_taken_off_the_wave_between_parts_gets_no_rows(
    engine: Any, session: Session, open_wave: Wave, parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DEFECT: dishub has no answers yet, so the evaluator may take it off the wave while an
    import runs (``update_wave`` refuses only OPDs with answers); its rows come in the second
    part onwards, and are written into a wave that no longer covers dishub."""
    job_id = _queued_job(session, open_wave)

    def take_off_dishub() -> None:
        with Session(engine) as other:
            wave = other.get(Wave, open_wave.id)
            assert wave is not None
            settings = waves.current_settings(other, wave=wave)
            settings = dataclasses.replace(
                settings,
                opd_slugs=tuple(s for s in settings.opd_slugs if s != "dishub"),
                targets={k: v for k, v in settings.targets.items() if k != "dishub"},
            )
            try:
                assert waves.update_wave(other, wave=wave, settings=settings, actor=None)
            except ProblemError as exc:  # refused while the import runs: as good
                assert [item.code for item in exc.problems] == ["import-running"]

    _before_part(monkeypatch, {2: take_off_dishub})
    import_service.run_import_job(engine, job_id=job_id)
    session.expire_all()
    covered = set(session.exec(select(WaveOpd.opd_id).where(WaveOpd.wave_id == open_wave.id)).all())
    stored = set(session.exec(select(Response.opd_id)).all())
    assert stored <= covered, _job(session, job_id).message
    _agree(session, open_wave)


def test_closing_the_wave_between_parts_keeps_the_import(
    engine: Any, session: Session, open_wave: Wave, parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Holds: a closed wave still takes imports (paper forms come in late): the job goes on."""
    job_id = _queued_job(session, open_wave)

    def close() -> None:
        with Session(engine) as other:
            wave = other.get(Wave, open_wave.id)
            assert wave is not None
            waves.change_status(other, wave=wave, action="close", actor=None)

    _before_part(monkeypatch, {2: close})
    import_service.run_import_job(engine, job_id=job_id)
    assert _job(session, job_id).status == "done"
    assert _imported(session) == 7
    _agree(session, open_wave)


def test_publishing_between_parts_is_refused(
    engine: Any, session: Session, open_wave: Wave, parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Holds: publishing while the job writes is refused ("import-running"), the job goes on."""
    add_responses(session, open_wave, "bpbd", [[4] * 9] * 3)
    waves.change_status(session, wave=open_wave, action="close", actor=None)
    job_id = _queued_job(session, open_wave)
    refusals: list[str] = []

    def publish() -> None:
        with Session(engine) as other:
            wave = other.get(Wave, open_wave.id)
            assert wave is not None
            try:
                waves.change_status(other, wave=wave, action="publish", actor=None)
            except ProblemError as exc:
                refusals.extend(item.code for item in exc.problems)

    _before_part(monkeypatch, {2: publish})
    import_service.run_import_job(engine, job_id=job_id)
    assert "import-running" in refusals
    assert _job(session, job_id).status == "done"
    assert _imported(session) == 7
    _agree(session, open_wave)


def test_deleting_the_wave_between_parts_stops_the_job_cleanly(
    engine: Any, session: Session, open_wave: Wave, parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Holds: the wave (with its jobs) deleted between two parts: the job's next claim finds
    no job, nothing crashes, no row of the wave remains, no kept row either."""
    add_responses(session, open_wave, "rsud", [[2] * 9])
    job_id = _queued_job(session, open_wave)
    wave_id = int(open_wave.id or 0)

    def delete() -> None:
        with Session(engine) as other:
            wave = other.get(Wave, wave_id)
            assert wave is not None
            waves.delete_wave(other, wave=wave)
            other.commit()

    _before_part(monkeypatch, {2: delete})
    import_service.run_import_job(engine, job_id=job_id)
    session.expire_all()
    assert session.get(ImportJob, job_id) is None
    assert count(session, Response) == 0
    kept = session.execute(
        sa.select(sa.func.count())
        .select_from(tallies.TABLE)
        .where(tallies.TABLE.c.wave_id == wave_id)
    ).scalar()
    assert kept == 0


def test_a_citizen_answer_between_parts_survives_a_failure(
    engine: Any, session: Session, open_wave: Wave, parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Holds: a citizen's answer stored (store_submission, its own transaction) between two
    parts, then the job fails: the job's rows go, the citizen's stays, statistics agree."""
    real_insert = submissions.insert_prepared
    calls: list[int] = []

    def fourth_fails(part: Session, **kwargs: Any) -> int:
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("disk full")
        return real_insert(part, **kwargs)

    monkeypatch.setattr(submissions, "insert_prepared", fourth_fails)
    _before_part(monkeypatch, {2: lambda: _citizen_answers(engine, session, open_wave)})
    job_id = _queued_job(session, open_wave)
    import_service.run_import_job(engine, job_id=job_id)
    assert _job(session, job_id).status == "failed"
    assert _imported(session) == 0 and count(session, Response) == 1
    _agree(session, open_wave)


# --- ikm import -------------------------------------------------------------------------------


def test_an_ikm_import_job_shows_on_the_job_page(
    app: Flask, engine: Any, session: Session, open_wave: Wave, parts: None, users: Any
) -> None:
    """Holds: the job ``ikm import`` leaves (no upload, no mapping) renders on the web's job
    page for the evaluator, done or failed."""
    from auth_helpers import login

    digest, rows = _checked_rows(session, open_wave)
    import_service.import_rows(
        session, wave=open_wave, filename="kertas.csv", kind="csv", digest=digest, rows=rows,
        actor=None,
    )  # fmt: skip
    job = session.exec(select(ImportJob).order_by(col(ImportJob.id).desc())).first()
    assert job is not None and job.status == "done"
    client = app.test_client()
    login(client, "eva")
    page = client.get(f"/kerja/impor/{job.id}")
    assert page.status_code == 200


# --- The survey page's answer on an autocommit connection ------------------------------------


def test_an_answer_on_an_autocommit_connection_needs_no_second_pooled_connection(
    app: Flask, session: Session, open_wave: Wave
) -> None:
    """Once a DEFECT (PostgreSQL, pool sizing): the survey page's session held its autocommit
    connection for the whole request while ``store_submission`` opened a session of its own
    for the row and its kept statistics, so every answer held two pooled connections at once;
    it now gives the request's connection back first.
    gunicorn.conf.py says a pool of ``IKM_DB_POOL_SIZE + IKM_DB_MAX_OVERFLOW >= threads`` is
    enough; with one thread and a pool of one, every answer waits ``IKM_DB_POOL_TIMEOUT`` and
    fails (with N threads and N connections, N concurrent answers deadlock until it)."""
    from survey.core.database import make_engine
    from survey.core.submissions import Submission

    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("the pool settings apply to PostgreSQL only")
    small = make_engine(app.config["DATABASE_URL"], pool_size=1, max_overflow=0, pool_timeout=0.5)
    opd_id = session.exec(select(WaveOpd.opd_id).where(WaveOpd.wave_id == open_wave.id)).first()
    assert opd_id is not None
    try:
        with Session(small, expire_on_commit=False) as request:
            request.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            result = submissions.store_submission(
                request,
                submission=Submission(
                    wave_id=int(open_wave.id or 0),
                    opd_id=int(opd_id),
                    submission_id="p" * 32,
                    answers=dict.fromkeys(range(1, 10), 3),
                ),
            )
        assert result.created
    finally:
        small.dispose()
    _agree(session, open_wave)


def test_ikm_import_in_parts_from_the_command_line(
    runner: Any, session: Session, open_wave: Wave, parts: None, tmp_path: Any
) -> None:
    """Holds: ``ikm import`` of the file in parts: every row once, its job done, statistics
    agree; a second run adds nothing."""
    path = tmp_path / "kertas.csv"
    path.write_bytes(_file())
    result = runner.invoke(args=["import", str(path), "--wave", "uji-2026"])
    assert result.exit_code == 0, result.output
    assert "kertas.csv: 7 imported, 0 already present (wave uji-2026)" in result.output
    again = runner.invoke(args=["import", str(path), "--wave", "uji-2026"])
    assert "kertas.csv: 0 imported, 7 already present" in again.output, again.output
    assert _imported(session) == 7
    _agree(session, open_wave)


def test_ikm_import_beside_a_web_job_of_the_file_leaves_the_whole_file(
    engine: Any,
    runner: Any,
    session: Session,
    open_wave: Wave,
    parts: None,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DEFECT (fixed by the check of other jobs' parts): ``ikm import`` of the file a web job
    is writing (its first part committed) said "5 imported, 2 already present", and the web
    job then collided and took its two back: five of seven rows in the wave. The file's
    seven rows must end in the wave once, and the command say clearly why it did not write
    (no traceback)."""
    path = tmp_path / "kertas.csv"
    path.write_bytes(_file())
    outputs: list[Any] = []

    def cli() -> None:
        outputs.append(runner.invoke(args=["import", str(path), "--wave", "uji-2026"]))

    job_id = _queued_job(session, open_wave)
    _before_part(monkeypatch, {2: cli})
    import_service.run_import_job(engine, job_id=job_id)
    (result,) = outputs
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "is still running" in result.output or "7 imported" in result.output, result.output
    assert _imported(session) == 7, (result.output, _job(session, job_id).message)
    _agree(session, open_wave)


def test_a_row_flagged_between_parts_goes_with_its_statistics(
    engine: Any, session: Session, open_wave: Wave, parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Holds: an evaluator flags one of the job's rows (the ORM's unit of work moves it in
    the kept statistics) between two parts; the job then fails: the take-back removes the row
    as it now is (flagged), and the kept statistics agree with a recount."""
    real_insert = submissions.insert_prepared
    calls: list[int] = []

    def fourth_fails(part: Session, **kwargs: Any) -> int:
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("disk full")
        return real_insert(part, **kwargs)

    def flag_one() -> None:
        with Session(engine) as other:
            row = other.exec(select(Response).where(Response.channel == "import")).first()
            assert row is not None
            row.status, row.flag_reason = "flagged", "manual"
            other.add(row)
            other.commit()
            assert tallies.differences(other, wave_id=int(open_wave.id or 0)) == []

    monkeypatch.setattr(submissions, "insert_prepared", fourth_fails)
    _before_part(monkeypatch, {3: flag_one})
    job_id = _queued_job(session, open_wave)
    import_service.run_import_job(engine, job_id=job_id)
    assert _job(session, job_id).status == "failed"
    assert _imported(session) == 0
    _agree(session, open_wave)


def test_the_take_back_holds_the_write_lock_no_longer_than_a_part(
    engine: Any, session: Session, open_wave: Wave, parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DEFECT (SQLite): the parts of a job with no other writer between them merge into one
    id range, and the take-back deletes a range in one transaction: a million-row import that
    fails at its end deletes (and reads, with ``locked_rows``, into memory) a million rows
    holding the one write lock, for longer than the citizens' busy timeout: what the parts
    were made to avoid. Each take-back transaction should delete at most a part's rows."""
    real_insert = submissions.insert_prepared
    real_delete = import_service._delete_range
    calls: list[int] = []
    deleted: list[int] = []

    def last_fails(part: Session, **kwargs: Any) -> int:
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("disk full")
        return real_insert(part, **kwargs)

    def counting(part: Session, *args: Any) -> int:
        deleted.append(real_delete(part, *args))
        return deleted[-1]

    monkeypatch.setattr(submissions, "insert_prepared", last_fails)
    monkeypatch.setattr(import_service, "_delete_range", counting)
    job_id = _queued_job(session, open_wave)
    import_service.run_import_job(engine, job_id=job_id)
    assert _job(session, job_id).status == "failed"
    assert _imported(session) == 0
    assert sum(deleted) == 6
    assert max(deleted) <= import_service.WRITE_CHUNK_ROWS, deleted
    _agree(session, open_wave)


# --- A dead job's rows taken back ---------------------------------------------------------------


def _dead_job(session: Session, wave: Wave) -> tuple[int, list[int]]:
    """The seven rows committed (as a job's merged parts are: one id range, more than a part),
    and a job that recorded them and whose worker died three hours ago; return the job and
    the rows' ids."""
    digest, rows = _checked_rows(session, wave)
    import_service.write_import(
        session, wave=wave, filename="kertas.csv", digest=digest, rows=rows, actor=None
    )
    ids = sorted(session.exec(select(Response.id).where(Response.channel == "import")).all())
    assert len(ids) == 7
    job = ImportJob(
        wave_id=int(wave.id or 0),
        actor="eva",
        filename="kertas.csv",
        kind="csv",
        digest=digest,
        status="running",
        created_at=datetime.now(UTC) - timedelta(hours=3),
        written=[[ids[0], ids[-1]]],
    )
    session.add(job)
    session.commit()
    return int(job.id or 0), [int(i or 0) for i in ids]


class _DeletesPerTransaction:
    """Count the response rows each committed transaction on the engine deleted: each
    ``_delete_range`` adds its rows to its connection's transaction, which SQLAlchemy's
    ``begin``, ``commit`` and ``rollback`` events delimit. (The DELETE's own rowcount is of no
    use: the ORM adds ``RETURNING id``.)"""

    def __init__(self, engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.engine = engine
        self.monkeypatch = monkeypatch
        self.pending: dict[int, int] = {}
        self.committed: list[int] = []

    def __enter__(self) -> _DeletesPerTransaction:
        real = import_service._delete_range

        def counted(part: Session, *args: Any) -> int:
            deleted = real(part, *args)
            key = id(part.connection())
            self.pending[key] = self.pending.get(key, 0) + deleted
            return deleted

        self.monkeypatch.setattr(import_service, "_delete_range", counted)
        sa.event.listen(self.engine, "begin", self.rollback)
        sa.event.listen(self.engine, "commit", self.commit)
        sa.event.listen(self.engine, "rollback", self.rollback)
        return self

    def __exit__(self, *_exc: object) -> None:
        sa.event.remove(self.engine, "begin", self.rollback)
        sa.event.remove(self.engine, "commit", self.commit)
        sa.event.remove(self.engine, "rollback", self.rollback)

    def commit(self, conn: Any) -> None:
        deleted = self.pending.pop(id(conn), 0)
        if deleted:
            self.committed.append(deleted)

    def rollback(self, conn: Any) -> None:
        """Forget what a transaction rolled back (or, at a begin, one closed unfinished)."""
        self.pending.pop(id(conn), None)


def _covered(ids: list[int], written: list[list[int]]) -> set[int]:
    """Return the ids among ``ids`` that the recorded ranges name."""
    return {i for i in ids if any(first <= i <= last for first, last in written)}


def test_a_dead_jobs_rows_go_in_parts_not_in_the_expiring_request(
    engine: Any, session: Session, open_wave: Wave, parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DEFECT (SQLite): ``expire_stale_jobs`` (called by the job page, an upload and a
    publication: web requests) deleted all the rows a dead job recorded in one transaction:
    after a crash during a million-row import, a request held the one write lock for a
    minute, and citizens' answers failed with "database is locked". Expiring now only fails
    the job (a short transaction; its rows still recorded); the take-back deletes at most
    ``WRITE_CHUNK_ROWS`` rows a transaction, each row once, the record emptied at the end."""
    job_id, ids = _dead_job(session, open_wave)
    with _DeletesPerTransaction(engine, monkeypatch) as deletes:
        assert import_service.expire_stale_jobs(session) == 1
        assert deletes.committed == []  # the request deleted nothing
        job = _job(session, job_id)
        assert (job.status, job.written) == ("failed", [[ids[0], ids[-1]]])
        assert [item["code"] for item in job.problems] == ["import-stopped"]
        assert _imported(session) == 7
        assert import_service.take_back_failed(engine) == 7
    assert deletes.committed == [2, 2, 2, 1]
    assert _imported(session) == 0
    assert _job(session, job_id).written == []
    _agree(session, open_wave)
    assert import_service.take_back_failed(engine) == 0  # nothing left to do


def test_a_citizen_answer_between_the_take_backs_parts_survives(
    engine: Any, session: Session, open_wave: Wave, parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between two parts of the take-back the write lock is free: a citizen's answer stored
    there (its id after the dead job's range, or inside it if SQLite reused one) stays."""
    job_id, _ids = _dead_job(session, open_wave)
    pauses: list[float] = []

    def citizen(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 1:
            _citizen_answers(engine, session, open_wave)

    monkeypatch.setattr(import_service, "_pause", citizen)
    import_service.expire_stale_jobs(session)
    assert import_service.take_back_failed(engine) == 7
    assert len(pauses) == 4  # after each of the four (the fifth finds the record empty)
    assert _imported(session) == 0 and count(session, Response) == 1
    assert _job(session, job_id).written == []
    _agree(session, open_wave)


def test_publishing_is_refused_while_a_dead_jobs_rows_remain(
    engine: Any, session: Session, open_wave: Wave, parts: None
) -> None:
    """The publication that finds the job dead fails it and is refused
    ("import-taking-back") while its rows are recorded: a published wave never holds half of
    a failed import. Once they are taken back, nothing about imports refuses it."""
    add_responses(session, open_wave, "bpbd", [[4] * 9] * 3)
    waves.change_status(session, wave=open_wave, action="close", actor=None)
    job_id, _ids = _dead_job(session, open_wave)
    with pytest.raises(ProblemError) as refused:
        waves.change_status(session, wave=open_wave, action="publish", actor=None)
    assert [item.code for item in refused.value.problems] == ["import-taking-back"]
    session.expire_all()
    assert session.get(Wave, open_wave.id).status == "closed"  # type: ignore[union-attr]
    assert _job(session, job_id).status == "failed"
    assert _imported(session) == 7
    assert import_service.take_back_failed(engine) == 7
    try:
        waves.change_status(session, wave=open_wave, action="publish", actor=None)
    except ProblemError as other:  # the checklist's own items may still ask for a nod
        codes = [item.code for item in other.problems]
        assert "import-taking-back" not in codes and "import-running" not in codes


def test_an_interrupted_take_back_leaves_the_record_naming_the_rows_left(
    engine: Any, session: Session, open_wave: Wave, parts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed during its third transaction (after two committed): the job's record names
    exactly the rows still there; the next take-back deletes those, each row once."""
    job_id, ids = _dead_job(session, open_wave)
    import_service.expire_stale_jobs(session)
    real_delete = import_service._delete_range
    calls: list[int] = []

    def killed_at_third(part: Session, *args: Any) -> int:
        calls.append(1)
        deleted = real_delete(part, *args)
        if len(calls) == 3:
            raise KeyboardInterrupt  # after the DELETE, before its commit
        return deleted

    monkeypatch.setattr(import_service, "_delete_range", killed_at_third)
    with _DeletesPerTransaction(engine, monkeypatch) as deletes, pytest.raises(KeyboardInterrupt):
        import_service.take_back_failed(engine)
    assert deletes.committed == [2, 2]
    left = set(session.exec(select(Response.id).where(Response.channel == "import")).all())
    written = _job(session, job_id).written
    assert left == _covered(ids, written) == set(ids[4:])
    monkeypatch.setattr(import_service, "_delete_range", real_delete)
    with _DeletesPerTransaction(engine, monkeypatch) as deletes:
        assert import_service.take_back_failed(engine) == 3
    assert deletes.committed == [2, 1]
    assert _imported(session) == 0 and _job(session, job_id).written == []
    _agree(session, open_wave)


def test_the_job_page_fails_a_dead_job_and_its_rows_are_taken_back(
    app: Flask, engine: Any, session: Session, open_wave: Wave, parts: None, users: Any
) -> None:
    """Holds: the job page (a web request) fails the dead job and hands its rows to the take-back
    (a background thread; here inline): the page says it stopped, and the rows go."""
    from auth_helpers import login

    app.config["IMPORT_INLINE"] = True
    job_id, _ids = _dead_job(session, open_wave)
    client = app.test_client()
    login(client, "eva")
    page = client.get(f"/kerja/impor/{job_id}")
    assert page.status_code == 200
    job = _job(session, job_id)
    assert (job.status, job.written) == ("failed", [])
    assert [item["code"] for item in job.problems] == ["import-stopped"]
    assert _imported(session) == 0
    _agree(session, open_wave)


def test_a_new_import_takes_a_dead_jobs_rows_back_first(
    engine: Any, session: Session, open_wave: Wave, parts: None
) -> None:
    """Holds: the next import's worker (a background thread) takes back the rows a dead job of the
    wave left before writing its own parts, which would otherwise be refused beside them."""
    job_id, _ids = _dead_job(session, open_wave)
    import_service.expire_stale_jobs(session)
    again = _queued_job(session, open_wave)
    import_service.run_import_job(engine, job_id=again)
    assert _job(session, job_id).written == []
    job = _job(session, again)
    assert (job.status, job.imported, job.already_present) == ("done", 7, 0), job.message
    assert _imported(session) == 7
    _agree(session, open_wave)


def test_ikm_import_cleanup_takes_a_dead_jobs_rows_back(
    runner: Any, engine: Any, session: Session, open_wave: Wave, parts: None
) -> None:
    """``ikm import-cleanup`` fails the dead job and takes its rows back, in parts."""
    job_id, _ids = _dead_job(session, open_wave)
    result = runner.invoke(args=["import-cleanup"])
    assert result.exit_code == 0, result.output
    assert "1 stopped jobs failed; 7 rows of 1 failed imports taken back" in result.output
    assert _job(session, job_id).written == []
    assert _imported(session) == 0
    _agree(session, open_wave)

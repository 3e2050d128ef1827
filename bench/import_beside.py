"""Citizens beside a big import on SQLite: a 1,000,000-row web import job while the survey runs.

    .venv/bin/python bench/import_beside.py [--rows 1000000] [--connections 32]
                                            [--baseline-seconds 20] [--keep]

Issue 15 item 5's target: while a 1,000,000-row import runs on SQLite, the load bench's
citizens see no error and p99 at most 300 ms.

It migrates a fresh SQLite database with ``bench/load.py``'s open wave (4 OPDs), builds a
seeded canonical CSV of ``--rows`` rows (``bench/imports.py``'s file, for a second wave over
the same OPDs, a draft as a paper survey's wave is), uploads it and confirms its mapping as the
web import's views do (``create_import_job``, ``confirm_job``), and starts gunicorn as
``bench/load.py`` does (production settings, 4 workers of 2 threads, wrk's citizens in
``X-Forwarded-For``). Then:

1. **baseline**: the survey alone for ``--baseline-seconds`` (after a short warm-up);
2. **beside the import**: one survey run of ``--beside-seconds``; a few seconds into it the
   background job (``run_import_job``, what the web's worker thread runs) starts in a process
   of its own on the same database file, at the background threads' lower CPU priority, and
   the requests sent while it runs are the ones measured (wrk's script stamps each request
   with its send time).

It prints, for both parts, accepted submissions per second, p50/p99 of the GETs and POSTs and
every error (HTTP status not 2xx/3xx, socket errors, POSTs never answered), the job's time and
result, and PASS/FAIL: no error beside the import and p99 (GET and POST) at most 300 ms.
Afterwards it checks the database (``bench/load.py``'s ``integrity_problems``, which includes
the kept statistics of every wave against a recount) and that the job imported every row.

The job runs in its own process here, not in a gunicorn worker's thread as on the web: it then
takes a core of its own instead of sharing a worker's interpreter lock with citizens' requests.
What the citizens meet in the database (the write lock, the job's commits) is the same.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import sqlalchemy as sa  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bench import imports as import_bench  # noqa: E402
from bench import load  # noqa: E402
from survey.core import imports, queries  # noqa: E402
from survey.core.database import make_engine  # noqa: E402
from survey.core.models import ImportJob  # noqa: E402
from survey.web.background import lower_priority  # noqa: E402

TARGET_P99_MS = 300.0
LEAD_SECONDS = 5.0  # of the survey run before the job starts
# Citizens a connection may serve in 10 s of a run (a cap far above what it reaches), which
# also spaces the runs' client addresses apart.
ROUND_CAP = 300


def prepare_job(url: str, rows: int, seed: int) -> tuple[int, str, float]:
    """Create a draft wave, upload the file and confirm it; return the job, its wave, MB."""
    engine = make_engine(url)
    try:
        slug = import_bench.fresh_wave(engine)
        data = import_bench.csv_bytes(import_bench.file_rows(rows, seed))
        with Session(engine) as session:
            wave = queries.get_wave(session, slug=slug)
            assert wave is not None
            job = imports.create_import_job(
                session, wave=wave, actor="bench", filename="besar.csv", kind="csv", data=data
            )
            context = imports.import_context(session, wave=wave)
            imports.confirm_job(session, job=job, context=context, mapping=None)
            assert job.id is not None
            return job.id, slug, len(data) / 1e6
    finally:
        engine.dispose()


def run_job(url: str, job_id: int) -> None:
    """Run the import job (the child process's work), as the web's worker thread does, at the
    lower CPU priority the web's background threads take (``survey.web.background``)."""
    lower_priority()
    engine = make_engine(url)
    try:
        imports.run_import_job(engine, job_id=job_id)
    finally:
        engine.dispose()
    print(f"  import job process: {time.process_time():.1f} CPU-s", flush=True)


def window_run(out: Path, first: float, last: float) -> load.WrkRun:
    """Read a survey run's records, keeping the requests sent within ``first``..``last``
    (``time.monotonic`` seconds; wrk's Lua script stamps each request with the same clock)."""
    run = load.WrkRun()
    low, high = first * 1e6, last * 1e6
    for path in sorted(out.glob("thread-*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if not parts or parts[0] not in ("G", "P"):
                continue
            sent = float(parts[-1])
            if not low <= sent <= high:
                continue
            run.statuses[f"{parts[0]} {parts[1]}"] += 1
            (run.get_ms if parts[0] == "G" else run.post_ms).append(int(parts[2]) / 1000)
            if parts[0] == "P" and parts[1] == "303":
                run.acked[parts[3]] += 1
    run.elapsed = last - first
    return run


def summary(name: str, run: load.WrkRun) -> tuple[int, float]:
    """Print one part's figures; return its errors and its worst p99 (ms)."""
    gets, posts = run.get_ms, run.post_ms
    rate = run.accepted / run.elapsed if run.elapsed else 0.0
    p99 = max(load.percentile(gets, 99), load.percentile(posts, 99))
    print(
        f"  {name}: {run.accepted:,} accepted in {run.elapsed:.1f} s ({rate:.0f}/s); "
        f"GET p50 {load.percentile(gets, 50):.1f} ms, p99 {load.percentile(gets, 99):.1f} ms, "
        f"max {max(gets, default=float('nan')):.0f} ms; "
        f"POST p50 {load.percentile(posts, 50):.1f} ms, p99 {load.percentile(posts, 99):.1f} ms, "
        f"max {max(posts, default=float('nan')):.0f} ms",
        flush=True,
    )
    errors = run.http_errors + sum(run.socket_errors.values()) + len(run.unanswered)
    print(
        f"  {name}: errors: HTTP {run.http_errors}, socket {sum(run.socket_errors.values())}, "
        f"unanswered POSTs {len(run.unanswered)}; statuses {dict(sorted(run.statuses.items()))}",
        flush=True,
    )
    return errors, p99


def check_database(db: load.BenchDatabase, job_id: int, slug: str, rows: int) -> list[str]:
    """Return what is wrong in the database after the run (empty when all is well)."""
    problems = list(load.integrity_problems(db))
    engine = db.engine()
    try:
        with Session(engine) as session:
            job = session.get(ImportJob, job_id)
            assert job is not None
            if job.status != "done" or job.imported != rows:
                problems.append(f"job {job.status}: {job.message} {job.problems}")
            stored = session.execute(
                sa.text(
                    "SELECT count(*) FROM response JOIN wave ON wave.id = response.wave_id "
                    "WHERE wave.slug = :s"
                ),
                {"s": slug},
            ).scalar_one()
            if stored != rows:
                problems.append(f"{slug}: {stored} rows stored, {rows} expected")
    finally:
        engine.dispose()
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--connections", type=int, default=32, help="concurrent citizens")
    parser.add_argument("--baseline-seconds", type=float, default=20.0)
    parser.add_argument(
        "--beside-seconds", type=float, default=150.0, help="the survey run the job starts in"
    )
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = parser.parse_args(argv)
    if not 1 <= args.connections <= 128:
        parser.error("--connections must be within 1..128")
    work = Path(tempfile.mkdtemp(prefix="ikm-beside-"))
    instance = work / "instance"
    instance.mkdir()
    db = load.create_database("sqlite", instance)
    started = time.perf_counter()
    job_id, slug, megabytes = prepare_job(db.url, args.rows, args.seed)
    print(
        f"file: {args.rows:,} rows, {megabytes:.1f} MB, uploaded and confirmed in "
        f"{time.perf_counter() - started:.1f} s",
        flush=True,
    )
    port = load.free_port()
    base = f"http://127.0.0.1:{port}"
    server = load.Server(
        load.gunicorn_command(port),
        load.app_environment(db, instance, port),
        ROOT,
        work / "gunicorn.log",
    )
    address = 0

    def survey_round(seconds: float, name: str, seed: int) -> load.WrkRun:
        nonlocal address
        run = load.run_survey_load(
            base,
            db.paths,
            seconds=seconds,
            connections=args.connections,
            max_citizens=ROUND_CAP * max(1, round(seconds / 10)),
            seed=seed,
            out=work / name,
            first_address=address,
        )
        address += ROUND_CAP * max(1, round(seconds / 10)) * args.connections
        return run

    with load.running(server, base + db.paths[0]):
        survey_round(3.0, "warmup", args.seed + 1000)
        baseline = survey_round(args.baseline_seconds, "baseline", args.seed)
        summary("survey alone (baseline)", baseline)  # now: a run stopped later keeps it
        # One survey run long enough to outlast the job; the job starts a few seconds into
        # it, and only the requests sent while the job runs count for "beside".
        beside: list[load.WrkRun] = []
        survey = threading.Thread(
            target=lambda: beside.append(survey_round(args.beside_seconds, "beside", args.seed)),
            name="survey",
        )
        survey.start()
        time.sleep(LEAD_SECONDS)
        context = multiprocessing.get_context("spawn")
        child = context.Process(target=run_job, args=(db.url, job_id), name="ikm-import")
        first = time.monotonic()
        child.start()
        child.join()
        last = time.monotonic()
        survey.join()
    job_seconds = last - first
    print(
        f"import job: {args.rows:,} rows in {job_seconds:.1f} s, exit {child.exitcode}",
        flush=True,
    )
    whole = beside[0] if beside else load.WrkRun()
    during = window_run(work / "beside", first, last)
    during.socket_errors = whole.socket_errors  # wrk counts them for the whole run
    during.unanswered = whole.unanswered
    outlasted = whole.elapsed < LEAD_SECONDS + job_seconds
    if outlasted:
        print(f"  the job outlasted the survey run ({whole.elapsed:.0f} s): raise --beside-seconds")
    errors, p99 = summary("survey beside the import", during)
    problems = check_database(db, job_id, slug, args.rows)
    for item in problems:
        print(f"  database: {item}", flush=True)
    ok = (
        errors == 0
        and p99 <= TARGET_P99_MS
        and not problems
        and child.exitcode == 0
        and not outlasted
    )
    print(
        f"beside a {args.rows:,}-row import: {errors} errors, p99 {p99:.1f} ms; target no "
        f"error and p99 <= {TARGET_P99_MS:.0f} ms: {'PASS' if ok else 'FAIL'}",
        flush=True,
    )
    if args.keep:
        print(f"work folder kept: {work}")
    else:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

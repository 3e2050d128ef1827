"""Import benchmark: a 100,000-row response file through the import service, on both backends.

    .venv/bin/python bench/imports.py [--rows 100000] [--runs 3] [--backend both]
                                      [--xlsx-rows 200000] [--skip-xlsx] [--profile]

Issue 15 item 5's targets: 100,000 rows imported in at most 3 s on SQLite and on PostgreSQL,
and a 200,000-row XLSX workbook, uploaded on the web, imported by its background job in at
most 30 s.

For each backend (SQLite in a temporary folder; PostgreSQL in a schema of its own in the local
``test`` database, dropped afterwards; both made by ``bench/load.py``'s ``create_database``)
it builds a seeded canonical CSV file of ``--rows`` rows (4 OPDs, 9 answers, the profile, a
service and now and then a comment) and, ``--runs`` times, each time into a fresh wave:

* **service**: what ``ikm import`` does once its process is up, timed in process from the
  file's bytes to the commit: the wave's import context, ``CanonicalReader`` checking every
  row, ``write_import`` writing the new rows, the kept statistics and the audit entry in one
  transaction. Then it checks that the wave holds every row and that the kept statistics equal
  a recount (``tallies.differences``);
* **baseline**, measured in the same run on the same database and table: what a competent
  script that trusts its file would do: ``csv.reader`` over the same bytes, the OPD slug
  looked up, the time parsed, the answers made ints, and the rows inserted in one transaction
  with the driver's ``executemany`` (SQLite) or ``COPY`` (PostgreSQL), no checks, no
  statistics, no audit entry. Its rows are deleted afterwards.

It prints the medians (wall and CPU seconds of this process; the database server's CPU on
PostgreSQL is not included), the ratio service/baseline and PASS/FAIL against 3 s.
``--profile`` runs the service once more under cProfile and prints where its time goes.

The XLSX part (SQLite, then PostgreSQL) builds a seeded workbook of ``--xlsx-rows`` rows
(cached in the temporary folder of the run) and goes through the web import's steps as the
views call them: ``create_import_job`` (the upload request), the mapping page's reading of
the file (``job_head``, ``column_choices`` and the scan of the file's first rows), then
``confirm_job`` and ``run_import_job`` (what the background thread runs), and prints each
step's seconds against 30 s for the whole. Exit status 0 when every target passes.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import sqlalchemy as sa  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bench import load  # noqa: E402  (database helpers)
from survey.core import imports, queries, tallies, waves  # noqa: E402
from survey.core.database import make_engine  # noqa: E402
from survey.core.responsefile import CanonicalReader, ImportRow, RowError  # noqa: E402

TARGET_SECONDS = 3.0
TARGET_XLSX_SECONDS = 30.0
CODES = tuple(f"U{i}" for i in range(1, 10))
HEADER = ("opd", "submitted_at", *CODES, "sex", "age", "education", "occupation")
HEADER += ("service", "comment")
EDUCATIONS = ("SD", "SMP", "SMA", "D1-D3", "S1", "S2")
OCCUPATIONS = ("PNS", "Swasta", "Wirausaha", "Lainnya")


def file_rows(rows: int, seed: int) -> list[list[Any]]:
    """Return ``rows`` seeded canonical rows (header first) over the bench's 4 OPDs."""
    rng = random.Random(seed)
    slugs = [slug for slug, _name in load.OPDS]
    out: list[list[Any]] = [list(HEADER)]
    for i in range(rows):
        level = rng.choice((2, 3, 3, 4))
        answers = [min(4, max(1, level + rng.choice((-1, 0, 0, 0, 1)))) for _ in CODES]
        if rng.random() < 0.05:
            answers[rng.randrange(len(answers))] = None
        out.append(
            [
                slugs[rng.randrange(len(slugs))],
                f"2026-03-{1 + rng.randrange(28):02d}T{8 + rng.randrange(8):02d}:"
                f"{rng.randrange(60):02d}:{rng.randrange(60):02d}+07:00",
                *answers,
                rng.choice("LP"),
                rng.randint(18, 70),
                rng.choice(EDUCATIONS),
                rng.choice(OCCUPATIONS),
                "KTP",
                "Pelayanan cukup baik, antrean agak lama." if i % 10 == 0 else None,
            ]
        )
    return out


def csv_bytes(rows: list[list[Any]]) -> bytes:
    """Return rows as a CSV file (None as empty)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(["" if value is None else value for value in row])
    return buffer.getvalue().encode()


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    """Return rows as a workbook of one sheet (a write-only workbook, as a spreadsheet saves)."""
    from survey.core.spreadsheet import xlsx_bytes as workbook

    return workbook([("Respons", rows[0], rows[1:])])


_wave_number = 0


def fresh_wave(engine: sa.Engine) -> str:
    """Create a draft wave over the bench's OPDs and return its slug."""
    global _wave_number
    _wave_number += 1
    slug = f"impor-{os.getpid()}-{_wave_number}"
    with Session(engine) as session:
        settings = waves.WaveSettings(
            title=f"Uji Impor {_wave_number}", opd_slugs=tuple(s for s, _n in load.OPDS)
        )
        waves.create_wave(session, slug=slug, settings=settings, actor="bench")
    return slug


def drop_rows(engine: sa.Engine, slug: str) -> None:
    """Delete a bench wave's responses and kept statistics (the next run starts alike)."""
    with engine.begin() as conn:
        wave_id = conn.execute(sa.text("SELECT id FROM wave WHERE slug = :s"), {"s": slug}).scalar()
        conn.execute(sa.text("DELETE FROM response WHERE wave_id = :w"), {"w": wave_id})
        conn.execute(sa.text("DELETE FROM tally WHERE wave_id = :w"), {"w": wave_id})
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                sa.text("VACUUM ANALYZE response")
            )


@dataclass(frozen=True)
class Timing:
    """Wall and CPU seconds of one timed step."""

    wall: float
    cpu: float


def timed(work: Callable[[], Any]) -> tuple[Timing, Any]:
    """Run ``work`` and return its wall and CPU seconds (this process) and its result."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return Timing(time.perf_counter() - wall, time.process_time() - cpu), result


def service_import(engine: sa.Engine, slug: str, data: bytes, kind: str = "csv") -> int:
    """Import a file into a wave as ``ikm import`` does (check every row, write, commit)."""
    with Session(engine) as session, imports.gc_paused():
        wave = queries.get_wave(session, slug=slug)
        assert wave is not None
        context = imports.import_context(session, wave=wave)
        reader = CanonicalReader(data, context, kind=kind)
        rows: list[ImportRow] = []
        errors: list[RowError] = []
        for item in reader:
            (errors if isinstance(item, RowError) else rows).append(item)  # type: ignore[arg-type]
        if errors:
            raise SystemExit(f"bench file has bad rows: {errors[:3]}")
        result = imports.write_import(
            session, wave=wave, filename="bench.csv", digest=reader.digest, rows=rows, actor=None
        )
        return result.imported


def verify(engine: sa.Engine, slug: str, expected: int) -> None:
    """Refuse a run whose wave lacks rows or whose kept statistics differ from a recount."""
    with Session(engine) as session:
        wave = queries.get_wave(session, slug=slug)
        assert wave is not None and wave.id is not None
        stored = session.execute(
            sa.text("SELECT count(*) FROM response WHERE wave_id = :w"), {"w": wave.id}
        ).scalar()
        if stored != expected:
            raise SystemExit(f"wave {slug}: {stored} rows stored, {expected} expected")
        wrong = tallies.differences(session, wave_id=wave.id)
        if wrong:
            raise SystemExit(f"wave {slug}: kept statistics differ from a recount at {wrong[:3]}")


BASE_COLUMNS = ("wave_id", "opd_id", "submission_id", "submitted_at", "channel", "status")
BASE_COLUMNS += tuple(f"a{i}" for i in range(1, 10))
BASE_COLUMNS += ("sex", "age", "education", "occupation", "service", "comment")


def baseline_import(engine: sa.Engine, slug: str, data: bytes) -> int:
    """Insert the file's rows as a script that trusts it would: parse, convert, bulk insert."""
    with engine.connect() as conn:
        wave_id = conn.execute(sa.text("SELECT id FROM wave WHERE slug = :s"), {"s": slug}).scalar()
        opd_ids = dict(conn.execute(sa.text("SELECT slug, id FROM opd")).all())
    postgres = engine.dialect.name == "postgresql"
    tuples = []
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    next(reader)
    for number, cells in enumerate(reader, start=2):
        stamp = datetime.fromisoformat(cells[1])
        tuples.append(
            (
                wave_id,
                opd_ids[cells[0]],
                f"base-{wave_id}-{number}",
                stamp if postgres else stamp.strftime("%Y-%m-%d %H:%M:%S.%f"),
                "import",
                "counted",
                *(int(c) if c else None for c in cells[2:11]),
                cells[11] or None,
                int(cells[12]) if cells[12] else None,
                cells[13] or None,
                cells[14] or None,
                cells[15] or None,
                cells[16] or None,
            )
        )
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        names = ", ".join(BASE_COLUMNS)
        if postgres:
            with cursor.copy(f"COPY response ({names}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in tuples:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in BASE_COLUMNS)
            cursor.executemany(f"INSERT INTO response ({names}) VALUES ({marks})", tuples)
        raw.commit()
    finally:
        raw.close()
    return len(tuples)


def median_timing(timings: Sequence[Timing]) -> Timing:
    """Return the median wall and CPU seconds of several runs."""
    return Timing(
        statistics.median(t.wall for t in timings), statistics.median(t.cpu for t in timings)
    )


def measure_backend(backend: str, data: bytes, rows: int, runs: int, profile: bool) -> bool:
    """Time the service and the baseline ``runs`` times each on a fresh database; report."""
    with tempfile.TemporaryDirectory() as folder:
        db = load.create_database(backend, Path(folder))
        engine = make_engine(db.url)
        try:
            service: list[Timing] = []
            baseline: list[Timing] = []
            for run in range(runs):
                slug = fresh_wave(engine)
                took, imported = timed(lambda s=slug: service_import(engine, s, data))  # type: ignore[misc]
                if imported != rows:
                    raise SystemExit(f"{backend}: {imported} rows imported, {rows} expected")
                verify(engine, slug, rows)
                drop_rows(engine, slug)
                base_slug = fresh_wave(engine)
                base, inserted = timed(lambda s=base_slug: baseline_import(engine, s, data))  # type: ignore[misc]
                assert inserted == rows
                drop_rows(engine, base_slug)
                service.append(took)
                baseline.append(base)
                print(
                    f"  {backend} run {run + 1}: service {took.wall:.2f} s wall "
                    f"({took.cpu:.2f} s CPU), baseline {base.wall:.2f} s ({base.cpu:.2f} s CPU)",
                    flush=True,
                )
            if profile:
                slug = fresh_wave(engine)
                profiler = cProfile.Profile()
                profiler.enable()
                service_import(engine, slug, data)
                profiler.disable()
                drop_rows(engine, slug)
                print(f"  {backend}: profile of one service import (cumulative):")
                pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(25)
        finally:
            engine.dispose()
            load.drop_database(db)
    s, b = median_timing(service), median_timing(baseline)
    ok = s.wall <= TARGET_SECONDS
    print(
        f"{backend}: {rows:,} rows, median of {runs}: service {s.wall:.2f} s wall "
        f"({s.cpu:.2f} s CPU, {rows / s.wall:,.0f} rows/s); baseline (csv + "
        f"{'COPY' if backend == 'postgresql' else 'executemany'}, no checks) {b.wall:.2f} s "
        f"({b.cpu:.2f} s CPU); service/baseline {s.wall / b.wall:.2f}x; "
        f"target <= {TARGET_SECONDS:.0f} s: {'PASS' if ok else 'FAIL'}",
        flush=True,
    )
    return ok


def measure_xlsx(backend: str, data: bytes, rows: int) -> bool:
    """Go through the web import's steps with a workbook; report each step's seconds."""
    from survey.core.models import ImportJob

    steps: dict[str, Timing] = {}
    with tempfile.TemporaryDirectory() as folder:
        db = load.create_database(backend, Path(folder))
        engine = make_engine(db.url)
        try:
            slug = fresh_wave(engine)
            with Session(engine) as session:
                wave = queries.get_wave(session, slug=slug)
                assert wave is not None
                steps["upload (create_import_job)"], job = timed(
                    lambda w=wave: imports.create_import_job(  # type: ignore[misc]
                        session,
                        wave=w,
                        actor="bench",
                        filename="bench.xlsx",
                        kind="xlsx",
                        data=data,
                    )
                )
                job_id = job.id
                assert job_id is not None

                def mapping_page() -> Any:
                    """What the mapping page reads of the file for its first view."""
                    head = imports.job_head(job)
                    context = imports.import_context(session, wave=wave)
                    choices = imports.column_choices(head, context)
                    return imports.mapping_scan(job, context, None), choices

                steps["mapping page (header, preview, scan)"], _ = timed(mapping_page)
                context = imports.import_context(session, wave=wave)
                steps["confirm (confirm_job)"], _ = timed(
                    lambda: imports.confirm_job(session, job=job, context=context, mapping=None)
                )
            steps["background job (run_import_job)"], _ = timed(
                lambda: imports.run_import_job(engine, job_id=job_id)
            )
            with Session(engine) as session:
                done = session.get(ImportJob, job_id)
                assert done is not None
                if done.status != "done" or done.imported != rows:
                    raise SystemExit(f"xlsx job {done.status}: {done.message} {done.problems}")
            verify(engine, slug, rows)
        finally:
            engine.dispose()
            load.drop_database(db)
    total = sum(t.wall for t in steps.values())
    for name, took in steps.items():
        print(f"  {backend} xlsx {name}: {took.wall:.2f} s wall ({took.cpu:.2f} s CPU)")
    ok = total <= TARGET_XLSX_SECONDS
    print(
        f"{backend}: {rows:,}-row XLSX ({len(data) / 1e6:.1f} MB) web import, upload to done: "
        f"{total:.2f} s; target <= {TARGET_XLSX_SECONDS:.0f} s: {'PASS' if ok else 'FAIL'}",
        flush=True,
    )
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--xlsx-rows", type=int, default=200_000)
    parser.add_argument("--skip-xlsx", action="store_true")
    parser.add_argument("--skip-csv", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args(argv)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    ok = True
    # Other work on the machine stretches the wall times; the same-run baseline shows by how much.
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    if not args.skip_csv:
        data = csv_bytes(file_rows(args.rows, args.seed))
        print(f"CSV file: {args.rows:,} rows, {len(data) / 1e6:.1f} MB", flush=True)
        for backend in backends:
            ok &= measure_backend(backend, data, args.rows, args.runs, args.profile)
    if not args.skip_xlsx:
        cache = Path(tempfile.gettempdir()) / f"ikm-bench-{args.xlsx_rows}-{args.seed}.xlsx"
        if not cache.exists():
            started = time.perf_counter()
            cache.write_bytes(xlsx_bytes(file_rows(args.xlsx_rows, args.seed)))
            print(f"(workbook written in {time.perf_counter() - started:.1f} s, not timed)")
        workbook = cache.read_bytes()
        for backend in backends:
            ok &= measure_xlsx(backend, workbook, args.xlsx_rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

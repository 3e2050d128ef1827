"""National scale on PostgreSQL: ``ikm score`` on 10,000,000 responses over 5,000 OPDs.

Issue 15 asks ``ikm score`` to take at most 5 s there. This bench:

1. builds, in a schema of its own in the local ``test`` database (dropped afterwards unless
   --keep), the project's tables by migration, --opds OPDs, one closed wave over them and
   --responses simulated responses (9 elements, 2% skipped answers, 3% flagged), written with
   ``COPY``; then the kept statistics by ``survey.core.tallies.rebuild`` (what ``ikm aggregates
   rebuild`` runs), timed;
2. times, as separate processes (median of --runs runs, with the peak RSS):
   - ``ikm score --wave bench --format json --no-rank-sets``: scores, intervals, categories,
     point ranks, read from the kept statistics only;
   - the baseline in the same run: one SQL query an analyst would write, grouping the counted
     rows per OPD in the database (counts and element means; no intervals, no ranks);
   - unless --skip-rank-sets, ``ikm score --wave bench --format json`` itself (once: the
     all-pairs rank sets of 5,000 OPDs with 10,000 draws take seconds to minutes, depending on
     the machine, and about 1.5 GB), with a time limit of --rank-sets-timeout seconds;
3. prints PASS or FAIL against the 5 s target for the full command, and for the scores without
   rank sets.

    .venv/bin/python bench/national.py [--responses 10000000] [--opds 5000] [--runs 3]
        [--skip-rank-sets] [--rank-sets-timeout 900] [--keep] [--schema NAME]
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)

import sqlalchemy as sa  # noqa: E402

from bench.scoring import byte_compile, run_measured  # noqa: E402  (wall, own peak RSS, time limit)
from survey.core.database import make_engine, normalise_url, upgrade  # noqa: E402

IKM = str(Path(sys.executable).with_name("ikm"))
PG_URL = os.environ.get(
    "IKM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
K = 9
TARGET_SECONDS = 5.0

BASELINE_SNIPPET = textwrap.dedent(
    """
    import sys, time
    import psycopg
    started = time.perf_counter()
    with psycopg.connect(sys.argv[1], options=f"-csearch_path={sys.argv[2]}") as con:
        rows = con.execute(
            "SELECT opd_id, count(*), " + ", ".join(f"avg(a{i})" for i in range(1, 10))
            + " FROM response WHERE wave_id = (SELECT id FROM wave WHERE slug = 'bench')"
            " AND status = 'counted' GROUP BY opd_id"
        ).fetchall()
    print(len(rows), time.perf_counter() - started)
    """
)


def schema_url(schema: str) -> str:
    """The SQLAlchemy URL whose connections use ``schema``."""
    sep = "&" if "?" in PG_URL else "?"
    return f"{normalise_url(PG_URL)}{sep}options=-csearch_path%3D{schema}"


def libpq_url() -> str:
    """The plain libpq URL of the test database (for psycopg in the baseline)."""
    return normalise_url(PG_URL).replace("postgresql+psycopg://", "postgresql://", 1)


def build(schema: str, responses: int, opds: int, seed: int) -> None:
    """Create the schema by migration and fill it with one closed wave of responses."""
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    engine = make_engine(schema_url(schema))
    upgrade(engine)
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO opd (slug, name, active) VALUES (:slug, :name, true)"),
            [{"slug": f"opd-{i:04d}", "name": f"OPD Simulasi {i:04d}"} for i in range(1, opds + 1)],
        )
        qid = conn.execute(sa.text("SELECT id FROM questionnaire WHERE builtin")).scalar_one()
        sid = conn.execute(
            sa.text("SELECT id FROM categoryscheme WHERE slug = 'permenpanrb-14-2017'")
        ).scalar_one()
        wave_id = conn.execute(
            sa.text(
                "INSERT INTO wave (slug, title, status, questionnaire_id, scheme_id, simulated, "
                "created_at) VALUES ('bench', 'Bench', 'closed', :q, :s, true, "
                "'2026-01-01 00:00:00') RETURNING id"
            ),
            {"q": qid, "s": sid},
        ).scalar_one()
        opd_ids = [r[0] for r in conn.execute(sa.text("SELECT id FROM opd ORDER BY slug"))]
        conn.execute(
            sa.text("INSERT INTO waveopd (wave_id, opd_id) VALUES (:w, :o)"),
            [{"w": wave_id, "o": o} for o in opd_ids],
        )
    means = rng.uniform(2.4, 3.4, size=opds)
    ids = np.array(opd_ids)
    columns = ", ".join(f"a{i}" for i in range(1, K + 1))
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        batch = 500_000
        for start in range(0, responses, batch):
            size = min(batch, responses - start)
            opd = rng.integers(0, opds, size=size)
            level = means[opd][:, None] + rng.normal(0, 0.35, size=(size, 1))
            answers = np.clip(np.rint(level + rng.normal(0, 0.5, size=(size, K))), 1, 4)
            text = answers.astype(np.int8).astype(str)
            text[rng.random((size, K)) < 0.02] = ""
            flagged = rng.random(size) < 0.03
            buffer = io.StringIO()
            for i in range(size):
                buffer.write(
                    f"{wave_id},{ids[opd[i]]},b{start + i:031x},2026-01-01 01:00:00,qr,"
                    + ("flagged,bot-suspect," if flagged[i] else "counted,,")
                    + ",".join(text[i])
                    + "\n"
                )
            with cursor.copy(
                "COPY response (wave_id, opd_id, submission_id, submitted_at, channel, status, "
                f"flag_reason, {columns}) FROM STDIN WITH (FORMAT csv)"
            ) as copy:
                copy.write(buffer.getvalue())
            raw.commit()
            print(f"  built {start + size:,} of {responses:,} responses", file=sys.stderr)
    finally:
        raw.close()
    print(f"  rows written in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    from sqlmodel import Session

    from survey.core import tallies

    started = time.perf_counter()
    with Session(engine) as session:
        tallies.rebuild(session)
        session.commit()
    print(f"  kept statistics rebuilt in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    with engine.begin() as conn:
        conn.execute(sa.text("ANALYZE"))
    engine.dispose()


def drop(schema: str) -> None:
    """Drop the bench's schema and everything in it."""
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    admin.dispose()


def main() -> int:
    """Build, measure, print, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=10_000_000)
    parser.add_argument("--opds", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-rank-sets", action="store_true")
    parser.add_argument("--rank-sets-timeout", type=float, default=900.0)
    parser.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    parser.add_argument("--schema", help="reuse this schema (built by an earlier --keep run)")
    args = parser.parse_args()
    schema = args.schema or f"ikm_national_{os.getpid()}_{secrets.token_hex(3)}"
    if not args.schema:
        print(f"building {args.responses:,} responses over {args.opds:,} OPDs in {schema}")
        build(schema, args.responses, args.opds, args.seed)
    ok = True
    try:
        byte_compile()
        with tempfile.TemporaryDirectory() as tmp:
            env = {
                **os.environ,
                "IKM_DATABASE_URL": schema_url(schema),
                "IKM_INSTANCE_PATH": tmp,
                "IKM_SECRET_KEY": "bench-" + "x" * 40,
            }
            out = str(Path(tmp) / "scores.json")
            quick, quick_peak, base = [], [], []
            for _ in range(args.runs):
                wall, peak, _ = run_measured(
                    [
                        IKM,
                        "score",
                        "--wave",
                        "bench",
                        "--format",
                        "json",
                        "--no-rank-sets",
                        "-o",
                        out,
                    ],
                    env,
                )
                quick.append(wall)
                quick_peak.append(peak)
                _, _, stdout = run_measured(
                    [sys.executable, "-c", BASELINE_SNIPPET, libpq_url(), schema], env
                )
                base.append(float(stdout.split()[1]))
            q, b = statistics.median(quick), statistics.median(base)
            print(
                f"ikm score --no-rank-sets: {q:.2f} s (median of {args.runs}), peak "
                f"{max(quick_peak):.0f} MiB; baseline GROUP BY in the database {b:.2f} s "
                f"(ratio {q / b:.2f}) -> {'PASS' if q <= TARGET_SECONDS else 'FAIL'} "
                f"(target {TARGET_SECONDS:g} s)"
            )
            ok = q <= TARGET_SECONDS
            if not args.skip_rank_sets:
                try:
                    wall, peak, _ = run_measured(
                        [IKM, "score", "--wave", "bench", "--format", "json", "-o", out],
                        env,
                        timeout=args.rank_sets_timeout,
                    )
                    verdict = "PASS" if wall <= TARGET_SECONDS else "FAIL"
                    print(
                        f"ikm score (rank sets of {args.opds:,} OPDs, 10,000 draws): "
                        f"{wall:.1f} s, peak {peak:.0f} MiB -> {verdict} "
                        f"(target {TARGET_SECONDS:g} s)"
                    )
                    ok = ok and wall <= TARGET_SECONDS
                except subprocess.TimeoutExpired:
                    print(
                        f"ikm score (rank sets): more than {args.rank_sets_timeout:.0f} s, "
                        "stopped -> FAIL"
                    )
                    ok = False
    finally:
        if not args.keep:
            drop(schema)
        else:
            print(f"kept schema {schema} (reuse with --schema {schema})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Cost of one OPD's alarm check in a wave of 1,000,000 answers, as a citizen's POST pays it.

The check runs after a stored answer (``survey.core.alarms.after_answer``: at most once a
minute per OPD), inside the request that stored it. When the OPD's last hour holds
``PATTERN_MIN_COUNT`` identical answers (all 4s, say: common among satisfied citizens), the
pattern detector asks for that pattern's share among the other OPDs' answers.

1. Builds, on SQLite (or reuses, with --db), the database of ``bench/scoring.py``, and on
   PostgreSQL that of ``bench/national.py`` in a schema of its own (dropped afterwards): one
   wave of --responses responses of 9 elements over --opds OPDs; works on a copy, upgraded to
   the current schema and opened. Each of --checked OPDs gets 10 answers of all 4s in the last
   hour.
2. Times, median of --runs rounds over those OPDs, in this process:
   - ``check_opd`` as the hook runs it (the OPD's series, the four detectors, the alarm rows);
   - the other OPDs' share of the pattern alone, as ``check_opd`` counts it now (their
     latest ``PATTERN_BASELINE`` answers);
   - the baseline, measured in the same run: the same share counted over all the other OPDs'
     answers of the wave, as the check did before (two COUNTs), with the current indexes and
     then without ``ix_response_wave_time`` (the schema before; the index is dropped last).

Target: a check well inside the 100 ms p99 of a citizen's POST (issue 15): at most 50 ms.

    .venv/bin/python bench/alarm_check.py [--backend sqlite|postgresql|both] [--checked 5]
        [--runs 5] [--responses 1000000] [--opds 500] [--db F]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

TARGET_S = 0.050
PATTERN = (4,) * 9


def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Open the wave at ``url``, add the patterns, time the check and its baselines."""
    import sqlalchemy as sa
    from sqlmodel import Session, col

    from survey.core import alarms, queries
    from survey.core.database import make_engine, upgrade
    from survey.core.models import Opd, Response, utcnow

    engine = make_engine(url)
    upgrade(engine)  # a database built by an older revision gets the current indexes
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE wave SET status = 'open', period_start = NULL, period_end = NULL")
        )
    now = utcnow()
    figures: dict[str, Any] = {"backend": engine.dialect.name}
    with Session(engine) as session:
        wave = queries.get_wave(session, slug="bench")
        assert wave is not None and wave.id is not None
        figures["total"] = session.execute(
            sa.select(sa.func.count()).where(col(Response.wave_id) == wave.id)
        ).scalar_one()
        opds = [session.get(Opd, i) for i in range(1, args.checked + 1)]
        for opd in opds:
            assert opd is not None
            for minute in range(10):
                session.add(
                    Response(
                        wave_id=wave.id,
                        opd_id=opd.id,
                        submission_id=secrets.token_hex(16),
                        submitted_at=now - timedelta(minutes=50 - 5 * minute),
                        **{f"a{p}": v for p, v in enumerate(PATTERN, start=1)},
                    )
                )
        session.commit()

        def whole_wave(opd_id: int) -> tuple[int, int]:
            """The share as counted before: every other OPD's answer of the wave."""
            columns = [getattr(Response, f"a{p}") for p in range(1, 10)]
            others = (
                col(Response.wave_id) == wave.id,
                col(Response.opd_id) != opd_id,
                col(Response.submitted_at) <= now,
            )
            count = sa.select(sa.func.count()).select_from(Response)
            all_ = session.execute(count.where(*others)).scalar_one()
            same = session.execute(
                count.where(*others, *[c == v for c, v in zip(columns, PATTERN, strict=True)])
            ).scalar_one()
            return int(same), int(all_)

        def timed(action: Callable[[Opd], Any]) -> tuple[float, Any]:
            """Median seconds of --runs rounds of ``action(opd)`` over the OPDs, one warm-up."""
            result = action(opds[0])  # type: ignore[arg-type]
            times = []
            for _ in range(args.runs):
                for opd in opds:
                    started = time.perf_counter()
                    result = action(opd)  # type: ignore[arg-type]
                    times.append(time.perf_counter() - started)
            return statistics.median(times), result

        figures["check_s"], _kinds = timed(
            lambda opd: alarms.check_opd(session, wave=wave, opd=opd, now=now)
        )
        figures["latest_s"], figures["latest"] = timed(
            lambda opd: alarms._other_share(session, wave=wave, opd_id=opd.id, now=now)(PATTERN)
        )
        figures["before_s"], figures["before"] = timed(lambda opd: whole_wave(opd.id))
        session.execute(sa.text("DROP INDEX ix_response_wave_time"))  # the schema before
        if figures["backend"] == "postgresql":
            session.execute(sa.text("ANALYZE response"))
        figures["old_s"], _old = timed(lambda opd: whole_wave(opd.id))
        figures["raised"] = session.execute(
            sa.select(alarms.Alarm.kind, sa.func.count()).group_by(alarms.Alarm.kind)
        ).all()
        session.rollback()  # the index stays: a --schema or --db kept is reused as it was
    engine.dispose()
    return figures


def report(figures: dict[str, Any], args: argparse.Namespace) -> bool:
    """Print one backend's figures; return whether the check met its target."""
    from survey.core.alarms import PATTERN_BASELINE

    check_s, latest_s = figures["check_s"], figures["latest_s"]
    before_s, old_s = figures["before_s"], figures["old_s"]
    latest, before = figures["latest"], figures["before"]
    raised = ", ".join(f"{kind} {n}" for kind, n in figures["raised"]) or "none"
    print(
        f"{figures['backend']}: wave of {figures['total']:,} answers over {args.opds} OPDs;"
        f" {args.checked} OPDs with 10 answers of all 4s in the last hour; alarms raised: {raised}"
    )
    print(
        f"  check_opd: median {check_s * 1000:.1f} ms (target {TARGET_S * 1000:.0f} ms:"
        f" {'PASS' if check_s <= TARGET_S else 'FAIL'})"
    )
    print(
        f"  the other OPDs' share, their latest {PATTERN_BASELINE:,} answers:"
        f" median {latest_s * 1000:.1f} ms ({latest[0]:,} of {latest[1]:,})"
    )
    print(
        f"  baseline, all the other OPDs' answers: median {before_s * 1000:.1f} ms"
        f" ({before[0]:,} of {before[1]:,}; {before_s / latest_s:.0f} x); without"
        f" ix_response_wave_time, as the schema was: {old_s * 1000:.0f} ms"
        f" ({old_s / latest_s:.0f} x)"
    )
    return bool(check_s <= TARGET_S)


def main() -> int:
    """Build or reuse the databases, time the check and its baselines, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--opds", type=int, default=500)
    parser.add_argument("--checked", type=int, default=5, help="OPDs with a pattern to check")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--db", type=Path, help="SQLite: reuse (or create) this database file")
    args = parser.parse_args()
    from bench import national, scoring  # scripts beside this one (the root is on the path)

    passed = True
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            path = args.db or Path(tmp) / "bench.sqlite3"
            if not path.exists():
                print(f"Building {path} ...", file=sys.stderr)
                scoring.build_database(path, args.responses, args.opds, args.seed)
            if args.db:  # answers and alarms are added: to a copy
                path = Path(shutil.copy(path, Path(tmp) / "check.sqlite3"))
            passed &= report(measure(f"sqlite:///{path}", args), args)
    if args.backend in ("postgresql", "both"):
        schema = f"ikm_alarm_{os.getpid()}_{secrets.token_hex(3)}"
        print(f"Building {args.responses:,} responses in PostgreSQL schema {schema} ...",
              file=sys.stderr)  # fmt: skip
        try:
            national.build(schema, args.responses, args.opds, args.seed)
            passed &= report(measure(national.schema_url(schema), args), args)
        finally:
            national.drop(schema)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())

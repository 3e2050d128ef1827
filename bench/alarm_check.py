"""Cost of one OPD's alarm check in a wave of 1,000,000 answers, as a citizen's POST pays it.

The check runs after a stored answer (``survey.core.alarms.after_answer``: at most once a
minute per OPD), inside the request that stored it. When the OPD's last hour holds
``PATTERN_MIN_COUNT`` identical answers (all 4s, say: common among satisfied citizens), the
pattern detector asks for that pattern's share among the other OPDs' answers.

1. Builds (or reuses, with --db) the SQLite database of ``bench/scoring.py`` (one wave of
   1,000,000 responses of 9 elements over 500 OPDs) and works on a copy, upgraded to the
   current schema. Each of --checked OPDs gets 10 answers of all 4s in the last hour.
2. Times, median of --runs rounds over those OPDs, in this process:
   - ``check_opd`` as the hook runs it (the OPD's series, the four detectors, the alarm rows);
   - the other OPDs' share of the pattern alone, as ``check_opd`` counts it now (their
     latest ``PATTERN_BASELINE`` answers);
   - the baseline, measured in the same run: the same share counted over all the other OPDs'
     answers of the wave, as the check did before (two COUNTs), with the current indexes and
     then without ``ix_response_wave_time`` (the schema before; the index is dropped last).

Target: a check well inside the 100 ms p99 of a citizen's POST (issue 15): at most 50 ms.

    .venv/bin/python bench/alarm_check.py [--checked 5] [--runs 5] [--db F]
"""

from __future__ import annotations

import argparse
import importlib.util
import secrets
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

TARGET_S = 0.050
PATTERN = (4,) * 9


def _scoring_bench() -> object:
    """The builder of bench/scoring.py (a script, not a package: loaded from its file)."""
    spec = importlib.util.spec_from_file_location("bench_scoring", ROOT / "bench" / "scoring.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    """Build or reuse the database, time the check and its baseline, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--opds", type=int, default=500)
    parser.add_argument("--checked", type=int, default=5, help="OPDs with a pattern to check")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", type=Path, help="reuse (or create) this database file")
    args = parser.parse_args()
    builder = _scoring_bench()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "bench.sqlite3"
        if not path.exists():
            print(f"Building {path} ...", file=sys.stderr)
            builder.build_database(path, args.responses, args.opds, args.seed)  # type: ignore[attr-defined]
        if args.db:  # answers and alarms are added: to a copy
            path = Path(shutil.copy(path, Path(tmp) / "check.sqlite3"))
        con = sqlite3.connect(path)
        con.execute("UPDATE wave SET status = 'open', period_start = NULL, period_end = NULL")
        con.commit()
        con.close()

        import sqlalchemy as sa
        from sqlmodel import Session, col

        from survey.core import alarms, queries
        from survey.core.database import make_engine, upgrade
        from survey.core.models import Opd, Response, utcnow

        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)  # a database built by an older revision gets the current indexes
        now = utcnow()
        with Session(engine) as session:
            wave = queries.get_wave(session, slug="bench")
            assert wave is not None and wave.id is not None
            total = session.execute(
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

            def timed(action: object) -> tuple[float, object]:
                """Median seconds of --runs rounds of ``action(opd)`` over the OPDs, one warm-up."""
                assert callable(action)
                result = action(opds[0])
                times = []
                for _ in range(args.runs):
                    for opd in opds:
                        started = time.perf_counter()
                        result = action(opd)
                        times.append(time.perf_counter() - started)
                return statistics.median(times), result

            check_s, _kinds = timed(
                lambda opd: alarms.check_opd(session, wave=wave, opd=opd, now=now)
            )
            latest_s, latest = timed(
                lambda opd: alarms._other_share(session, wave=wave, opd_id=opd.id, now=now)(PATTERN)
            )
            before_s, before = timed(lambda opd: whole_wave(opd.id))
            session.execute(sa.text("DROP INDEX ix_response_wave_time"))  # the schema before
            old_s, _old = timed(lambda opd: whole_wave(opd.id))
            raised = session.execute(
                sa.select(alarms.Alarm.kind, sa.func.count()).group_by(alarms.Alarm.kind)
            ).all()
        engine.dispose()

    print(
        f"wave: {total:,} answers over {args.opds} OPDs (SQLite); {args.checked} OPDs with 10"
        f" answers of all 4s in the last hour; alarms raised:"
        f" {', '.join(f'{kind} {n}' for kind, n in raised) or 'none'}"
    )
    print(
        f"check_opd: median {check_s * 1000:.1f} ms (target {TARGET_S * 1000:.0f} ms:"
        f" {'PASS' if check_s <= TARGET_S else 'FAIL'})"
    )
    print(
        f"  the other OPDs' share, their latest {alarms.PATTERN_BASELINE:,} answers:"
        f" median {latest_s * 1000:.1f} ms ({latest[0]:,} of {latest[1]:,})"  # type: ignore[index]
    )
    print(
        f"  baseline, all the other OPDs' answers: median {before_s * 1000:.1f} ms"
        f" ({before[0]:,} of {before[1]:,}; {before_s / latest_s:.0f} x); without"
        f" ix_response_wave_time, as the schema was: {old_s * 1000:.0f} ms"  # type: ignore[index]
        f" ({old_s / latest_s:.0f} x)"
    )
    return 0 if check_s <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())

"""Time and peak memory of the published rank tables: PUBLISHED_RANK_DRAWS (10,000) draws.

For 20, 100 and 500 OPDs (30..150 respondents each, seeded; issue 12 item 1, issue 15's
budget: 500 OPDs x 10,000 draws in at most 3 s) each size runs in a fresh interpreter and
reports:

- ``rank_confidence_sets`` alone (simultaneous + marginal sets, t draws with the stabilised
  se and n - 1 + d0 df, as ``score_units`` calls it), wall and CPU seconds;
- ``score_units`` on the OPDs' aggregates (ranks plus intervals, funnel, shrinkage);
- the process's peak resident set size (``ru_maxrss``) after the imports and at the end;
- PASS or FAIL against issue 15's target: ``rank_confidence_sets`` for 500 OPDs with 10,000
  draws in at most 3 s wall (printed when those sizes are run).

    .venv/bin/python bench/rank_draws.py [--sizes 20,100,500] [--draws 10000] [--seed 5]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Issue 15: rank inference for 500 OPDs with 10,000 draws in at most 3 s.
TARGET_OPDS, TARGET_DRAWS, TARGET_SECONDS = 500, 10_000, 3.0


def one(p: int, draws: int, seed: int) -> dict[str, float]:
    """Measure one size in this process (called in a child)."""
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from scoring import aggregate, rank_confidence_sets, score_units, stabilised_variances
    from scoring.units import VARIANCE_PRIOR_DF

    rng = np.random.default_rng(seed)
    aggs = {}
    for i in range(p):
        n = int(rng.integers(30, 151))
        person = rng.normal(rng.uniform(2.6, 3.5), 0.35, size=(n, 1))
        answers = np.clip(np.rint(person + rng.normal(0, 0.6, size=(n, 9))), 1, 4)
        aggs[f"opd-{i:03d}"] = aggregate(answers)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    estimates = [score_units({u: a}, seed=0).units[0].estimate for u, a in aggs.items()]
    x = np.array([e.ikm for e in estimates])
    se, df = stabilised_variances(
        np.array([e.se() for e in estimates]),
        np.array([e.n for e in estimates], dtype=np.float64),
        VARIANCE_PRIOR_DF,
    )
    t0, c0 = time.perf_counter(), time.process_time()
    rank_confidence_sets(x, se, draws=draws, rng=0, df=df)
    ranks_wall, ranks_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    score_units(aggs, seed=0, rank_draws=draws)
    score_wall, score_cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "opds": p,
        "draws": draws,
        "ranks_wall": ranks_wall,
        "ranks_cpu": ranks_cpu,
        "score_wall": score_wall,
        "score_cpu": score_cpu,
        "rss_after_imports_mib": base_rss,
        "peak_rss_mib": peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="20,100,500")
    parser.add_argument("--draws", type=int, default=None, help="default PUBLISHED_RANK_DRAWS")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.draws is None:
        sys.path.insert(0, str(ROOT))
        from scoring.units import PUBLISHED_RANK_DRAWS

        args.draws = PUBLISHED_RANK_DRAWS
    if args.one is not None:
        print(json.dumps(one(args.one, args.draws, args.seed)))
        return
    print(f"Rank tables with {args.draws:,} draws (fresh interpreter per size)")
    print(
        f"{'OPDs':>5} {'ranks wall':>11} {'ranks CPU':>10} {'score_units wall':>17} "
        f"{'CPU':>6} {'peak RSS':>9}"
    )
    for p in (int(s) for s in args.sizes.split(",")):
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                str(p),
                "--draws",
                str(args.draws),
                "--seed",
                str(args.seed),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(child.stdout)
        print(
            f"{p:>5} {r['ranks_wall']:>9.2f} s {r['ranks_cpu']:>8.2f} s {r['score_wall']:>15.2f} s"
            f" {r['score_cpu']:>5.2f}s {r['peak_rss_mib']:>6.0f} MiB"
            f" (after imports {r['rss_after_imports_mib']:.0f} MiB)"
        )
        if p == TARGET_OPDS and args.draws == TARGET_DRAWS:
            verdict = "PASS" if r["ranks_wall"] <= TARGET_SECONDS else "FAIL"
            print(
                f"issue 15 target ({TARGET_OPDS} OPDs, {TARGET_DRAWS:,} draws, ranks wall <= "
                f"{TARGET_SECONDS:g} s): {verdict} ({r['ranks_wall']:.2f} s)"
            )


if __name__ == "__main__":
    main()

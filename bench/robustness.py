"""Speed of the robustness counts (issue 11 item 6) for a wave of 40 OPDs, against its baseline.

Simulates a wave (seeded): --opds OPDs of 20..60 respondents, 9 elements, true scores spread
over categories D..A, then times in the same run:

1. the baseline: ``scoring.score_units`` on the wave (what scoring costs without robustness);
2. ``scoring.wave_robustness`` on that scored wave (categories exact; top-K and bottom-K sets
   recomputed exactly with the wave's seed at every count tried), and how many recomputations
   of the rank sets it made;
3. the same counts with every recomputation done by ``scoring.rank_confidence_sets`` itself
   instead of the dense evaluation (the library path, for comparison);
4. with --pdf, the ranking report of a simulated wave of as many OPDs
   (:func:`reports.sample.sample_ranking`) rendered from a fresh scored wave, whose methods
   appendix now computes the counts, beside the counts alone on another fresh copy.

Prints the medians of --runs runs, wall and CPU time, and the load average. Target: robustness
of 40 OPDs in at most 2 s of CPU time (the wave page computes it once per closed wave and keeps
it with the scored wave).

    .venv/bin/python bench/robustness.py [--opds 40] [--runs 3] [--seed 11] [--pdf]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np

# The project root first: this folder holds a bench/scoring.py that would shadow the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scoring import aggregate, score_units
from scoring import robustness as robustness_module
from scoring.robustness import wave_robustness


def simulate(opds: int, seed: int) -> dict:
    """Return aggregates of a simulated wave: each OPD's answers around its own true score."""
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(opds):
        n = int(rng.integers(20, 61))
        centre = rng.uniform(2.3, 3.7)
        person = rng.normal(centre, 0.35, size=(n, 1))
        rows = np.clip(np.rint(person + rng.normal(0, 0.5, size=(n, 9))), 1, 4)
        out[f"opd-{i:02d}"] = aggregate(rows)
    return out


def timed(fn, runs: int) -> tuple[float, object, float]:
    """Median wall time of `runs` calls, the last result, and the median CPU time.

    CPU time is printed too: on a machine shared with other work the wall time says more
    about the neighbours than about this code.
    """
    times, cpu = [], []
    result = None
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(times), result, statistics.median(cpu)


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opds", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--pdf", action="store_true", help="also time the ranking report")
    args = parser.parse_args()
    aggs = simulate(args.opds, args.seed)
    base, score, base_cpu = timed(lambda: score_units(aggs, seed=0), args.runs)
    fast, result, fast_cpu = timed(lambda: wave_robustness(score, aggs), args.runs)
    with mock.patch.object(robustness_module, "_USE_LIBRARY", True):
        slow, library, slow_cpu = timed(lambda: wave_robustness(score, aggs), 1)
    same = library.units == result.units
    fragile = result.most_fragile()[:5]
    print(f"{args.opds} OPDs, {sum(a.n for a in aggs.values())} respondents, seed {args.seed}")
    print(f"load average (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"baseline score_units:                 {base:7.3f} s, CPU {base_cpu:.3f} s"
        f" (median of {args.runs})"
    )
    print(
        f"robustness (dense recomputation):     {fast:7.3f} s, CPU {fast_cpu:.3f} s"
        f" (median of {args.runs}), {result.evaluations} recomputations of the rank sets"
    )
    print(
        f"robustness (rank_confidence_sets):    {slow:7.3f} s, CPU {slow_cpu:.3f} s (1 run),"
        f" same counts: {same}"
    )
    print("most fragile: " + "; ".join(f"{u.unit} {u.fewest()}" for u in fragile))
    print(f"target <= 2 s CPU for 40 OPDs: {'met' if fast_cpu <= 2 else 'MISSED'}")
    if args.pdf:
        from reports import render_ranking_pdf
        from reports.sample import sample_ranking

        start = time.perf_counter()
        sample_ranking(args.opds, seed=0).robustness(5)
        counts = time.perf_counter() - start
        fresh = sample_ranking(args.opds, seed=0)
        start = time.perf_counter()
        render_ranking_pdf(fresh)
        total = time.perf_counter() - start
        print(
            f"ranking report, {args.opds} OPDs, fresh scored wave: {total:.2f} s, of which the"
            f" robustness counts about {counts:.2f} s (simulating and scoring not included)"
        )


if __name__ == "__main__":
    main()

"""Calibration of the empirical-Bayes statements (scoring.bayes), by simulation.

Draws leagues of 20 OPDs with true IKMs ~ N(3.1, 0.15^2), 10..79 respondents each and a
respondent sd of 0.5, and checks what the pages print against the truth:

- how often the 95% posterior intervals cover the true IKM (averaged over OPDs; with tau^2
  plugged in they are expected slightly under 95% for 20 OPDs);
- calibration of P(truly among the best 5) and P(truly B or better): among statements made
  with a probability in a band, the share that were true.

Each coverage is printed with its Monte Carlo standard error.

    .venv/bin/python bench/eb_calibration.py [--waves 300] [--seed 12]

300 waves take about 10 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

# bench/scoring.py would shadow the package when this runs as a script from bench/.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scoring.bayes import category_bounds, posterior
from scoring.schemes import PERMENPANRB_2017


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waves", type=int, default=300)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    p, k = 20, 5
    good_bound = dict((c.code, b) for c, b in category_bounds(PERMENPANRB_2017))["B"]
    covered, covered_raw = [], []
    p_top, is_top, p_good, is_good = [], [], [], []
    start = time.perf_counter()
    for wave in range(args.waves):
        theta = rng.normal(3.1, 0.15, p)
        se = 0.5 / np.sqrt(rng.integers(10, 80, p))
        y = theta + rng.normal(0, se)
        res = posterior([str(i) for i in range(p)], y, se, scheme=PERMENPANRB_2017, top_k=k,
                        seed=wave)  # fmt: skip
        low = np.array([u.low for u in res.units])
        high = np.array([u.high for u in res.units])
        covered.append(np.mean((theta >= low) & (theta <= high)))
        covered_raw.append(np.mean(np.abs(theta - y) <= 1.959964 * se))
        top = np.zeros(p, dtype=bool)
        top[np.argsort(-theta)[:k]] = True
        p_top.append([u.p_top for u in res.units])
        is_top.append(top)
        p_good.append([u.p_good for u in res.units])
        is_good.append(theta >= good_bound)
    cov = np.array(covered)
    print(
        f"95% posterior interval coverage: {cov.mean():.4f} (MC se "
        f"{cov.std(ddof=1) / np.sqrt(args.waves):.4f}); own score +-1.96 se: "
        f"{np.mean(covered_raw):.4f}"
    )
    for name, prob, truth in (("P(best 5)", p_top, is_top), ("P(B or better)", p_good, is_good)):
        pr, tr = np.concatenate(prob), np.concatenate(truth)
        for lo, hi in ((0, 0.1), (0.1, 0.5), (0.5, 0.9), (0.9, 1.01)):
            band = (pr >= lo) & (pr < hi)
            if band.any():
                print(
                    f"{name} in [{lo:.1f}, {min(hi, 1):.1f}): {band.sum():5d} statements, "
                    f"mean probability {pr[band].mean():.3f}, true {tr[band].mean():.3f}"
                )
    print(f"{args.waves} waves x {p} OPDs in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()

"""scoring.distributions gives the numbers scipy.stats gives, bit for bit, without importing it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from scoring import distributions
from scoring.distributions import f_ppf, norm_cdf, norm_ppf, norm_sf, t_ppf, t_sf

ROOT = Path(__file__).resolve().parents[1]
QUANTILES = [0.0, 1e-300, 1e-12, 1e-4, 0.0125, 0.025, 0.05, 0.1, 0.3, 0.5, 0.8, 0.9, 0.95,
             0.975, 0.9875, 0.995, 0.9995, 1 - 1e-12, 1 - 2**-53, 1.0]  # fmt: skip
POINTS = [-np.inf, -40.0, -8.5, -3.0, -1.959963984540054, -0.5, -0.0, 0.0, 1e-9, 0.7, 2.5,
          6.0, 38.0, np.inf]  # fmt: skip
DFS = [0.5, 1, 2, 3, 4.5, 9, 14, 29, 30.5, 99, 1000, 1e6]


def same(a: object, b: object) -> bool:
    """Equal bit for bit, NaN equal to NaN (scipy returns +0.0 where a sign might differ)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return bool(np.array_equal(x, y, equal_nan=True))


@pytest.mark.parametrize("q", QUANTILES)
def test_normal_quantile_is_scipy_stats_bit_for_bit(q: float) -> None:
    assert same(norm_ppf(q), stats.norm.ppf(q))
    assert isinstance(norm_ppf(q), float)


@pytest.mark.parametrize("level", [0.8, 0.9, 0.95, 0.99, 0.998, 0.999])
def test_the_usual_levels_normal_quantiles_are_scipy_stats_bit_for_bit(level: float) -> None:
    """Answered from a table (no scipy import): each entry is what scipy gives."""
    q = 0.5 + level / 2
    assert q in distributions._NDTRI
    assert same(norm_ppf(q), stats.norm.ppf(q))
    assert same(norm_ppf(np.float64(q)), stats.norm.ppf(q))
    assert isinstance(norm_ppf(q), float)


def test_normal_functions_on_arrays_are_scipy_stats_bit_for_bit() -> None:
    x = np.array(POINTS)
    assert same(norm_cdf(x), stats.norm.cdf(x))
    assert same(norm_sf(x), stats.norm.sf(x))
    assert same(norm_ppf(np.array(QUANTILES)), stats.norm.ppf(QUANTILES))
    for value in POINTS:
        assert same(norm_cdf(value), stats.norm.cdf(value))
        assert same(norm_sf(value), stats.norm.sf(value))
    # Far in the tail the upper tail is not 1 - cdf: it keeps its own precision.
    assert norm_sf(30.0) == stats.norm.sf(30.0) > 0
    assert norm_cdf(-30.0) == norm_sf(30.0)


@pytest.mark.parametrize("df", DFS)
def test_t_functions_are_scipy_stats_bit_for_bit(df: float) -> None:
    for q in QUANTILES:
        assert same(t_ppf(q, df), stats.t.ppf(q, df)), (q, df)
    for x in POINTS:
        assert same(t_sf(x, df), stats.t.sf(x, df)), (x, df)
    # The interval quantile the scores use: t(0.975, 1) = 12.706...
    assert round(t_ppf(0.975, 1), 3) == 12.706


@pytest.mark.parametrize(("dfn", "dfd"), [(1, 1), (2, 9), (8, 40), (29, 1000)])
def test_f_quantile_is_scipy_stats_bit_for_bit(dfn: float, dfd: float) -> None:
    for q in QUANTILES:
        assert same(f_ppf(q, dfn, dfd), stats.f.ppf(q, dfn, dfd)), (q, dfn, dfd)


def test_the_cli_starts_without_importing_scipy_or_redis() -> None:
    """Every ``ikm`` command imports the CLI and the web app; scipy (0.8 s) waits for a score,
    redis (0.1 s) for a Redis client."""
    script = (
        "import sys\n"
        "import survey.cli.main, survey.web, scoring\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'redis')))\n"
        "scoring.ikm\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"

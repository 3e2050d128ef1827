"""The few distribution functions the scores need, from :mod:`scipy.special`.

:mod:`scipy.stats` takes about 0.3 s to import, paid by every ``ikm`` command and every web
worker even when nothing uses it. The functions below are the ones ``scipy.stats`` itself calls
for these distributions (scipy 1.17: ``norm._ppf`` is ``special.ndtri``, ``norm._cdf``
``special.ndtr``, ``norm._sf`` ``ndtr(-x)``, ``t._ppf`` ``special.stdtrit(df, q)``, ``t._sf``
``special.stdtr(df, -x)``, ``f._ppf`` ``special.fdtri(dfn, dfd, q)``), with location 0 and scale
1, so the numbers are the same bit for bit (``tests/test_scoring_distributions.py`` compares
them over grids, edges included). ``scipy.stats`` is imported only inside the functions that
need more (the bootstrap, Kruskal-Wallis), and ``scipy.special`` itself (0.2 s) on first use.
"""

from __future__ import annotations

import functools
import math
from types import ModuleType
from typing import overload

import numpy as np
from numpy.typing import NDArray

__all__ = ["f_ppf", "norm_cdf", "norm_ppf", "norm_sf", "t_ppf", "t_sf"]

FloatArray = NDArray[np.float64]


@overload
def norm_ppf(q: float) -> float: ...
@overload
def norm_ppf(q: FloatArray) -> FloatArray: ...
def norm_ppf(q: float | FloatArray) -> float | FloatArray:
    """Standard normal quantile, as ``scipy.stats.norm.ppf``.

    The two-sided levels the scores use (80 to 99.9%) are answered from ``_NDTRI`` without
    importing :mod:`scipy.special`.
    """
    if isinstance(q, float) and q in _NDTRI:
        return _NDTRI[q]
    return _out(_special().ndtri(q))


#: ``scipy.special.ndtri(q)`` for q = 0.5 + level / 2 at the usual two-sided levels 0.8, 0.9,
#: 0.95, 0.99, 0.998 and 0.999 (the funnel's limits, the intervals' z), as scipy 1.17 gives
#: them; ``tests/test_scoring_distributions.py`` checks each against it bit for bit.
_NDTRI = {
    0.9: 1.2815515655446004,
    0.95: 1.6448536269514722,
    0.975: 1.959963984540054,
    0.995: 2.5758293035489004,
    0.999: 3.090232306167813,
    0.9995: 3.2905267314919255,
}


@overload
def norm_cdf(x: float) -> float: ...
@overload
def norm_cdf(x: FloatArray) -> FloatArray: ...
def norm_cdf(x: float | FloatArray) -> float | FloatArray:
    """Standard normal distribution function, as ``scipy.stats.norm.cdf``."""
    return _out(_special().ndtr(x))


@overload
def norm_sf(x: float) -> float: ...
@overload
def norm_sf(x: FloatArray) -> FloatArray: ...
def norm_sf(x: float | FloatArray) -> float | FloatArray:
    """Standard normal upper tail, as ``scipy.stats.norm.sf``."""
    return _out(_special().ndtr(np.negative(x)))


def t_ppf(q: float, df: float) -> float:
    """Student t quantile with `df` degrees of freedom, as ``scipy.stats.t.ppf``."""
    edge = _quantile_edges(q, df > 0, -math.inf, math.inf)
    return float(_special().stdtrit(df, q)) if edge is None else edge


def t_sf(x: float, df: float) -> float:
    """Student t upper tail with `df` degrees of freedom, as ``scipy.stats.t.sf``."""
    return float(_special().stdtr(df, -x))


def f_ppf(q: float, dfn: float, dfd: float) -> float:
    """F quantile with (`dfn`, `dfd`) degrees of freedom, as ``scipy.stats.f.ppf``."""
    edge = _quantile_edges(q, dfn > 0 and dfd > 0, 0.0, math.inf)
    return float(_special().fdtri(dfn, dfd, q)) if edge is None else edge


@functools.cache
def _special() -> ModuleType:
    from scipy import special

    return special


def _quantile_edges(q: float, valid: bool, low: float, high: float) -> float | None:
    # What scipy.stats answers before it calls the special function: the support's ends at
    # q = 0 and 1, NaN outside [0, 1] or for invalid degrees of freedom.
    if not valid or not 0 <= q <= 1:
        return math.nan
    return low if q == 0 else high if q == 1 else None


def _out(value: float | FloatArray) -> float | FloatArray:
    # scipy.stats returns a Python-compatible float64 scalar for a scalar argument.
    return float(value) if np.ndim(value) == 0 else np.asarray(value, dtype=np.float64)

"""Planning a survey and checking its instrument: sample sizes, margins of error, alpha.

- :func:`krejcie_morgan`: the minimum sample the regulation prints (Krejcie & Morgan table),
  S = X2 N P (1 - P) / (d^2 (N - 1) + X2 P (1 - P)), X2 = 3.841, P = 0.5, d = 0.05, rounded
  to the nearest whole number. It is a sample size for a proportion within 5 points.
- :func:`margin_of_error` and :func:`sample_size_for_margin`: the honest figures for a mean
  score, E = t s / sqrt(n) sqrt((N - n) / (N - 1)), with the finite population correction.
- :func:`cronbach_alpha`: whether the elements behave as one scale, with Feldt's interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .aggregates import Aggregates, _check_answers
from .distributions import f_ppf, norm_ppf, t_ppf

__all__ = [
    "AlphaResult",
    "cronbach_alpha",
    "krejcie_morgan",
    "margin_of_error",
    "sample_size_for_margin",
]


def _whole(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not float(value).is_integer() or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def krejcie_morgan(
    population: int, *, chi2: float = 3.841, proportion: float = 0.5, margin: float = 0.05
) -> int:
    """Minimum sample size from the Krejcie & Morgan formula, as PermenPANRB 14/2017 prints it.

    Parameters
    ----------
    population : int
        N, the number of service users in the period (>= 1).
    chi2 : float, optional
        Chi-square for 1 degree of freedom at the desired confidence (3.841 for 95%).
    proportion : float, optional
        P (0.5 gives the largest sample).
    margin : float, optional
        d, the margin for the proportion (0.05).

    Returns
    -------
    int
        S rounded to the nearest whole number (halves up); at most 384 with the defaults.

    Examples
    --------
    >>> [krejcie_morgan(n) for n in (100, 500, 1000, 10000, 10**9)]
    [80, 217, 278, 370, 384]
    """
    n = _whole("population", population, 1)
    if not 0 < proportion < 1:
        raise ValueError(f"proportion must be between 0 and 1, got {proportion!r}")
    if not margin > 0 or not chi2 > 0:
        raise ValueError(f"margin and chi2 must be > 0, got {margin!r} and {chi2!r}")
    pq = proportion * (1 - proportion)
    size = chi2 * n * pq / (margin * margin * (n - 1) + chi2 * pq)
    return math.floor(size + 0.5)


def _fpc(n: int, population: int | None) -> float:
    if population is None:
        return 1.0
    big_n = _whole("population", population, 2)
    if n > big_n:
        raise ValueError(f"n = {n} exceeds the population {big_n}")
    return math.sqrt((big_n - n) / (big_n - 1))


def margin_of_error(
    n: int, sd: float, *, population: int | None = None, confidence_level: float = 0.95
) -> float:
    """Half-width of the interval of a mean score: t s / sqrt(n) sqrt((N - n) / (N - 1)).

    Parameters
    ----------
    n : int
        Respondents (>= 2); t has n - 1 degrees of freedom.
    sd : float
        Standard deviation of respondents' scores, on the scale wanted (e.g. about 12 on the
        converted 25..100 scale).
    population : int, optional
        N for the finite population correction (none if omitted).
    confidence_level : float, optional
        Default 0.95.

    Returns
    -------
    float

    Examples
    --------
    >>> round(margin_of_error(30, 12), 2)
    4.48
    """
    size = _whole("n", n, 2)
    if not sd >= 0 or not math.isfinite(sd):
        raise ValueError(f"sd must be finite and >= 0, got {sd!r}")
    if not 0 < confidence_level < 1:
        raise ValueError(f"confidence_level must be between 0 and 1, got {confidence_level!r}")
    t = float(t_ppf(0.5 + confidence_level / 2, size - 1))
    return t * sd / math.sqrt(size) * _fpc(size, population)


def sample_size_for_margin(
    margin: float, sd: float, *, population: int | None = None, confidence_level: float = 0.95
) -> int:
    """Smallest n whose :func:`margin_of_error` is at most `margin`.

    Parameters
    ----------
    margin : float
        Wanted half-width, on the scale of `sd` (e.g. 3 points on 25..100).
    sd : float
        Standard deviation of respondents' scores on that scale.
    population : int, optional
        N for the finite population correction.
    confidence_level : float, optional
        Default 0.95.

    Returns
    -------
    int
        At least 2; with a population, at most N (where the margin is 0).

    Examples
    --------
    >>> sample_size_for_margin(3, 12), sample_size_for_margin(3, 12, population=200)
    (64, 50)
    """
    if not margin > 0 or not math.isfinite(margin):
        raise ValueError(f"margin must be finite and > 0, got {margin!r}")
    if not sd >= 0 or not math.isfinite(sd):
        raise ValueError(f"sd must be finite and >= 0, got {sd!r}")
    if population is not None:
        _whole("population", population, 2)
    high = population
    if high is None:
        # The t quantile only falls with n, so the z-based size times a little is enough.
        z = float(norm_ppf(0.5 + confidence_level / 2))
        high = max(2, math.ceil((z * sd / margin) ** 2 * 1.5) + 10)
        while margin_of_error(high, sd, confidence_level=confidence_level) > margin:
            high *= 2
    low = 2
    if margin_of_error(low, sd, population=population, confidence_level=confidence_level) <= margin:
        return low
    # margin_of_error decreases in n: bisect for the first n that meets the margin.
    while high - low > 1:
        mid = (low + high) // 2
        e = margin_of_error(mid, sd, population=population, confidence_level=confidence_level)
        if e <= margin:
            high = mid
        else:
            low = mid
    return high


@dataclass(frozen=True)
class AlphaResult:
    """Cronbach's alpha of the instrument.

    Attributes
    ----------
    alpha : float
        k / (k - 1) (1 - sum of item variances / variance of the total), NaN if the total has
        no variance.
    n : int
        Respondents used (complete cases).
    k : int
        Elements.
    """

    alpha: float
    n: int
    k: int

    def confidence_interval(self, confidence_level: float = 0.95) -> tuple[float, float]:
        """Feldt's interval: 1 - (1 - alpha) F, F quantiles with (n - 1, (n - 1)(k - 1)) df.

        Examples
        --------
        >>> res = AlphaResult(alpha=0.8, n=50, k=9)
        >>> [round(v, 4) for v in res.confidence_interval()]
        [0.705, 0.8736]
        """
        if not 0 < confidence_level < 1:
            raise ValueError(f"confidence_level must be between 0 and 1, got {confidence_level!r}")
        if not math.isfinite(self.alpha) or self.n < 2:
            return (float("nan"), float("nan"))
        df1, df2 = self.n - 1, (self.n - 1) * (self.k - 1)
        gamma = 1 - confidence_level
        low = 1 - (1 - self.alpha) * float(f_ppf(1 - gamma / 2, df1, df2))
        high = 1 - (1 - self.alpha) * float(f_ppf(gamma / 2, df1, df2))
        return (low, high)


def cronbach_alpha(data: ArrayLike | Aggregates, *, scale_points: int = 4) -> AlphaResult:
    """Cronbach's alpha from rows (complete cases) or from complete-case aggregates.

    Parameters
    ----------
    data : array_like of shape (n, k), or Aggregates
        Rows of answers (rows with a missing answer are dropped), or aggregates in which
        every respondent answered every element (otherwise a ValueError: the complete cases
        cannot be recovered from aggregates).
    scale_points : int, optional
        Number of answer values, for checking rows (default 4).

    Returns
    -------
    AlphaResult
        With ``alpha``, ``n``, ``k`` and ``confidence_interval()`` (Feldt).

    Examples
    --------
    >>> import numpy as np
    >>> rows = np.array([[4, 4, 3], [3, 3, 3], [2, 2, 1], [4, 3, 4], [1, 2, 2]])
    >>> round(cronbach_alpha(rows).alpha, 4)
    0.8967
    """
    if isinstance(data, Aggregates):
        if data.k < 2:
            raise ValueError("Cronbach's alpha needs at least 2 elements")
        if np.any(data.n_both != data.n):
            raise ValueError(
                "these aggregates include missing answers; alpha needs complete cases (rows)"
            )
        n, k = data.n, data.k
        if n < 2:
            return AlphaResult(float("nan"), n, k)
        s = data.sums.astype(np.float64)
        # Covariance matrix of the answers from the sums of products (ddof = 1).
        cov = (data.products - np.multiply.outer(s, s) / n) / (n - 1)
    else:
        rows = _check_answers(data, scale_points)
        k = rows.shape[1]
        if k < 2:
            raise ValueError("Cronbach's alpha needs at least 2 elements")
        rows = rows[~np.isnan(rows).any(axis=1)]
        n = rows.shape[0]
        if n < 2:
            return AlphaResult(float("nan"), n, k)
        cov = np.cov(rows, rowvar=False, ddof=1)
    return _alpha_from_cov(cov, n, k)


def _alpha_from_cov(cov: NDArray[np.float64], n: int, k: int) -> AlphaResult:
    """Alpha from the complete cases' covariance matrix (k x k, ddof = 1)."""
    total = float(cov.sum())
    if total <= 0:
        return AlphaResult(float("nan"), n, k)
    alpha = k / (k - 1) * (1 - float(np.trace(cov)) / total)
    return AlphaResult(alpha, n, k)

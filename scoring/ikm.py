"""The IKM of one unit, exactly per PermenPANRB 14/2017, with respondent-clustered intervals.

NRR of an element = sum of its scores / number of respondents who answered it; IKM = the mean
of the NRRs (exact weights 1/k, never 0.111); converted IKM = 25 + 75 (IKM - 1) / (m - 1) on an
m-point scale (:func:`scoring.schemes.converted`; 25 x IKM on the regulation's 4 points). The
IKM is carried as an exact fraction so that its category is decided exactly at the boundaries.

The nine answers of one respondent are correlated, so every interval treats the respondent as
the unit of sampling:

- :func:`ikm` gives the analytic standard error: the delta method on the vector of element means
  with their respondent-clustered covariance. With answers missing, the covariance of the
  means of elements j and k is estimated by

      C_jk = sum over respondents answering both of (x_ij - m_j)(x_ik - m_k)
             / ((n_j - 1)(n_k - 1) + n_jk - 1),

  which is unbiased when answers are missing completely at random (the denominator is
  n_j n_k times the bias factor 1 - 1/n_j - 1/n_k + n_jk/(n_j n_k) of the centred sum). With
  no missing answers it is the sample covariance divided by n, so the IKM interval is exactly
  the t standard error of respondents' mean scores (ddof = 1, n - 1 degrees of freedom).
  An element answered by a single respondent has no variance estimate; it is given the
  largest respondent variance of the other elements (the whole scale's (m - 1)^2 / 4 if none)
  and perfect correlation with them, an upper bound, so that one stray answer never deletes
  the IKM's interval.
- The published analytic interval is ``"analytic-logit"``: the IKM is mapped to
  p = (IKM - 1) / (m - 1) in 0..1; a tenth of a pseudo-respondent is added at each end of
  the scale (p~ = (n p + 0.1) / (n + 0.2), and their spread is added to the variance), so p~
  is never 0 or 1 and the standard error is never 0; the normal interval is formed on
  logit(p~) and mapped back (:func:`logit_interval`). It lies inside 1..m, is never missing
  for n >= 2, never has zero width (all answers 4 at n = 20 gives 1.77..4.00: twenty
  identical answers say little about the spread), and is asymmetric near the ceiling where
  the plain t interval under-covers (``bench/coverage.py --only-scale`` gives the coverage).
  The plain t interval (``"analytic-t"``, clipped to 1..m) is available with ``method="t"``.
- :func:`bootstrap_ikm` resamples respondents (rows) with :func:`scipy.stats.bootstrap`, BCa
  by default, for the IKM and every element at once.

Both give the same numbers from rows and from :class:`~scoring.aggregates.Aggregates`.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .aggregates import Aggregates, _check_answers
from .distributions import norm_ppf, t_ppf
from .schemes import PERMENPANRB_2017, Category, Scheme, converted

__all__ = [
    "SMALL_N",
    "BootstrapIntervals",
    "IKMResult",
    "Interval",
    "bootstrap_ikm",
    "ikm",
]

FloatArray = NDArray[np.float64]

SMALL_N = 15
"""Below this many respondents an estimate is marked unreliable."""

CONVERSION = 25
"""Converted IKM = IKM x 25 on the regulation's 4-point scale; see :func:`converted`."""

PSEUDO = 0.1
"""Pseudo-respondents added at each end of the scale by the logit interval (see
:func:`logit_interval`; chosen by the coverage table of ``bench/coverage.py --only-scale``:
half a respondent over-covers, 97..99%, a tenth holds 93..97% at n >= 15)."""


def _check_level(confidence_level: float) -> float:
    level = float(confidence_level)
    if not 0 < level < 1:
        raise ValueError(f"confidence_level must be between 0 and 1, got {confidence_level!r}")
    return level


def _check_small_n(small_n: int) -> int:
    if isinstance(small_n, bool) or int(small_n) != small_n or small_n < 2:
        raise ValueError(f"small_n must be a whole number >= 2, got {small_n!r}")
    return int(small_n)


@dataclass(frozen=True)
class Interval:
    """A confidence interval on the answer scale 1..m (m = `scale_points`, 4 by default).

    Attributes
    ----------
    low, high : float
        The ends, inside the scale 1..m (the truth cannot lie outside it).
    confidence_level : float
    method : str
        ``"analytic-logit"`` (the default: delta-method standard error, respondent-clustered,
        t with n - 1 degrees of freedom on the logit of the pseudo-respondent-adjusted
        p = (IKM - 1) / (m - 1), mapped back), ``"analytic-t"`` (the same standard error, t on
        the IKM itself, clipped),
        ``"bootstrap-bca"``, ``"bootstrap-percentile"`` (asked for, or BCa undefined),
        ``"bootstrap-basic"``, or ``"bootstrap-degenerate"`` (every resample gave the same
        value, e.g. all answers equal: the interval has zero width).
    unreliable : bool
        Fewer respondents than the small-sample threshold.
    degenerate : bool
        The data show no variation (e.g. all answers equal): the width comes from the
        pseudo-respondents or is zero (bootstrap), and is not a sign of precision; never say
        the category is certain from such an interval.
    scale_points : int
        m, the questionnaire's number of answer values.

    Examples
    --------
    >>> Interval(3.0, 3.2, 0.95, "analytic-t").converted()
    (75.0, 80.0)
    """

    low: float
    high: float
    confidence_level: float
    method: str
    unreliable: bool = False
    degenerate: bool = False
    scale_points: int = 4

    def converted(self) -> tuple[float, float]:
        """Return the ends on the converted 25..100 scale."""
        return (converted(self.low, self.scale_points), converted(self.high, self.scale_points))

    def width(self) -> float:
        """Return high - low on the 1..m scale."""
        return self.high - self.low

    def contains(self, value: float) -> bool:
        """Whether `value` (1..m scale) lies in the closed interval."""
        return bool(self.low <= value <= self.high)


@functools.lru_cache(maxsize=4096)
def _t_quantile(q: float, df: int) -> float:
    # Cached: a wave of 500 units asks for the same few quantiles thousands of times.
    return float(t_ppf(q, df))


@functools.lru_cache(maxsize=64)
def _normal_quantile(q: float) -> float:
    return float(norm_ppf(q))


def _t_interval(
    estimate: float,
    se: float,
    df: int,
    level: float,
    method: str,
    unreliable: bool,
    scale_points: int = 4,
) -> Interval:
    m = scale_points
    if df < 1 or not np.isfinite(se):
        return Interval(float("nan"), float("nan"), level, method, unreliable, scale_points=m)
    half = _t_quantile(0.5 + level / 2, int(df)) * se
    low, high = max(1.0, estimate - half), min(float(m), estimate + half)
    return Interval(low, high, level, method, unreliable, bool(se == 0), m)


def logit_interval(
    estimate: float,
    se: float,
    n: int,
    level: float = 0.95,
    *,
    scale_points: int = 4,
    unreliable: bool = False,
) -> Interval:
    """The ``"analytic-logit"`` interval of a mean score from its estimate, se and n.

    With p = (estimate - 1) / (m - 1) and s^2 = n se^2 / (m - 1)^2 the respondents' variance on
    0..1, w = :data:`PSEUDO` (0.1) pseudo-respondents are put at 0 and at 1::

        p~   = (n p + w) / (n + 2w)
        s~^2 = ((n - 1) s^2 + n (p - p~)^2 + w (p~^2 + (1 - p~)^2)) / (n + 2w - 1)
        se~  = s~ / sqrt(n + 2w)

    and the interval is expit(logit(p~) -+ z se~ / (p~ (1 - p~))) mapped back to 1..m (z the
    normal quantile: on the logit scale the pseudo-respondents already widen small samples,
    and t(n - 1) on top over-covers). p~ is never 0 or 1 and s~ never 0, so the interval is
    never missing and never of zero width; it lies inside 1..m and always holds the estimate
    (an estimate at an end of the scale is an end of its interval). NaN only when n < 1 or se
    is NaN.

    Examples
    --------
    >>> ci = logit_interval(4.0, 0.0, 20)  # all twenty answered 4
    >>> round(ci.low, 4), round(ci.high, 4), ci.degenerate
    (1.7663, 4.0, True)
    """
    m = int(scale_points)
    if n < 1 or not math.isfinite(se) or not math.isfinite(estimate):
        return Interval(float("nan"), float("nan"), level, "analytic-logit", unreliable, False, m)
    p = min(max((estimate - 1.0) / (m - 1), 0.0), 1.0)
    s2 = n * (se / (m - 1)) ** 2
    pt = (n * p + PSEUDO) / (n + 2 * PSEUDO)
    var = ((n - 1) * s2 + n * (p - pt) ** 2 + PSEUDO * (pt**2 + (1 - pt) ** 2)) / (
        n + 2 * PSEUDO - 1
    )
    se_logit = math.sqrt(var / (n + 2 * PSEUDO)) / (pt * (1 - pt))
    half = _normal_quantile(0.5 + level / 2) * se_logit
    centre = math.log(pt / (1 - pt))
    low = 1.0 + (m - 1) / (1.0 + math.exp(-(centre - half)))
    high = 1.0 + (m - 1) / (1.0 + math.exp(-(centre + half)))
    # The pseudo-respondents pull p~ inward; the interval still holds the estimate itself
    # (all answers at the top: the upper end is the top of the scale, as Clopper-Pearson's).
    low, high = min(low, float(estimate)), max(high, float(estimate))
    return Interval(low, high, level, "analytic-logit", unreliable, bool(se == 0), m)


def _interval(
    estimate: float,
    se: float,
    n: int,
    level: float,
    method: str,
    unreliable: bool,
    scale_points: int,
) -> Interval:
    if method == "logit":
        return logit_interval(
            estimate, se, n, level, scale_points=scale_points, unreliable=unreliable
        )
    if method == "t":
        return _t_interval(estimate, se, n - 1, level, "analytic-t", unreliable, scale_points)
    raise ValueError(f"method must be 'logit' or 't', not {method!r}")


@dataclass(frozen=True, eq=False)
class IKMResult:
    """The IKM of one unit with its analytic, respondent-clustered uncertainty.

    Attributes
    ----------
    n : int
        Respondents (who answered at least one element).
    n_answers : ndarray of int, shape (k,)
        Respondents who answered each element.
    nrr : ndarray of float, shape (k,)
        NRR of each element (NaN for an element nobody answered).
    ikm : float
        IKM on 1..4: the mean of the NRRs of the answered elements.
    exact : Fraction
        The same IKM as an exact fraction (used for the category).
    cov : ndarray of float, shape (k, k)
        Estimated covariance matrix of the NRRs (see the module docstring).
    scheme : Scheme
        Category scheme.
    small_n : int
        Threshold below which the estimate is marked unreliable.
    scale_points : int
        m, the number of answer values (the IKM and NRRs lie in 1..m).

    Notes
    -----
    An element nobody answered has no NRR and is left out of the mean (weights 1/k' over the
    k' answered elements); check ``n_answers`` before publishing such a score.
    """

    n: int
    n_answers: NDArray[np.int64]
    nrr: FloatArray
    ikm: float
    exact: Fraction
    cov: FloatArray
    scheme: Scheme = PERMENPANRB_2017
    small_n: int = SMALL_N
    scale_points: int = 4

    def converted(self) -> float:
        """Return the converted IKM on 25..100 (:func:`~scoring.schemes.converted`)."""
        return float(converted(self.exact, self.scale_points))

    def category(self) -> Category:
        """Return the category of the IKM under the scheme (compared exactly)."""
        return self.scheme.categorize(self.exact, self.scale_points)

    def unreliable(self) -> bool:
        """Whether n is below the small-sample threshold."""
        return self.n < self.small_n

    def weights(self) -> FloatArray:
        """Return the weight of each element: 1/k' for the k' answered elements, else 0."""
        answered = self.n_answers > 0
        return np.where(answered, 1.0 / answered.sum(), 0.0)

    def se(self) -> float:
        """Return the standard error of the IKM (delta method, respondent-clustered).

        Elements answered by one respondent get the bounded variance of the module docstring
        (NaN only when n < 2).
        """
        w = self.weights()
        used = w > 0
        cov = self.cov if used.all() else self.cov[used][:, used]
        if np.isnan(cov).any():
            cov = _fill_unknown(cov, self.n_answers[used], self.scale_points)
        return float(np.sqrt(w[used] @ cov @ w[used]))

    def nrr_se(self) -> FloatArray:
        """Return the standard error of each NRR (NaN for fewer than 2 answers)."""
        return np.sqrt(np.diag(self.cov))

    def confidence_interval(
        self, confidence_level: float = 0.95, method: str = "logit"
    ) -> Interval:
        """Return the analytic interval of the IKM (``"logit"``, default, or ``"t"``).

        Examples
        --------
        >>> import numpy as np
        >>> rows = np.array([[4, 3, 3], [3, 3, 2], [4, 4, 4], [2, 3, 3]])
        >>> ci = ikm(rows).confidence_interval()
        >>> round(ci.low, 4), round(ci.high, 4), ci.method, ci.unreliable
        (2.3152, 3.6592, 'analytic-logit', True)
        >>> ci = ikm(rows).confidence_interval(method="t")
        >>> round(ci.low, 4), round(ci.high, 4), ci.method
        (2.151, 4.0, 'analytic-t')
        """
        level = _check_level(confidence_level)
        if self.n < 2:
            return Interval(float("nan"), float("nan"), level, f"analytic-{method}", True)
        return _interval(
            self.ikm, self.se(), self.n, level, method, self.unreliable(), self.scale_points
        )

    def element_intervals(
        self, confidence_level: float = 0.95, method: str = "logit"
    ) -> tuple[Interval, ...]:
        """Return the analytic interval of each NRR (its own n_j respondents).

        An element answered by fewer than 2 respondents has no interval (NaN ends).
        """
        level = _check_level(confidence_level)
        se = self.nrr_se()
        out = []
        for j in range(len(self.nrr)):
            nj = int(self.n_answers[j])
            if nj < 2:
                out.append(
                    Interval(
                        float("nan"),
                        float("nan"),
                        level,
                        f"analytic-{method}",
                        True,
                        scale_points=self.scale_points,
                    )
                )
                continue
            out.append(
                _interval(
                    float(self.nrr[j]),
                    float(se[j]),
                    nj,
                    level,
                    method,
                    bool(nj < self.small_n),
                    self.scale_points,
                )
            )
        return tuple(out)

    def crosses_boundary(self, confidence_level: float = 0.95) -> bool:
        """Whether the analytic interval spans more than one category."""
        ci = self.confidence_interval(confidence_level)
        if np.isnan(ci.low):
            return True
        return self.scheme.crosses_boundary(ci.low, ci.high, self.scale_points)


def _fill_unknown(cov: FloatArray, n_answers: NDArray[np.int64], scale_points: int) -> FloatArray:
    """Bound the covariances of elements answered once (see the module docstring)."""
    cov = np.array(cov, dtype=np.float64)
    var = np.diag(cov).copy()
    known = np.isfinite(var)
    nj = n_answers.astype(np.float64)
    respondent_var = var[known] * nj[known]
    worst = float(respondent_var.max()) if respondent_var.size else 0.0
    if worst <= 0:
        worst = (scale_points - 1) ** 2 / 4
    var = np.where(known, var, worst / np.maximum(nj, 1.0))
    sd = np.sqrt(var)
    bound = np.multiply.outer(sd, sd)
    unknown = ~np.isfinite(cov)
    cov[unknown] = bound[unknown]
    return cov


def _covariance(
    centred: FloatArray, n_both: NDArray[np.int64], n_answers: NDArray[np.int64]
) -> FloatArray:
    """Divide the centred cross sums by the unbiasing denominators (see module docstring)."""
    nj = n_answers.astype(np.float64)
    denom = np.multiply.outer(nj - 1.0, nj - 1.0) + n_both - 1.0
    cov = np.zeros_like(centred)
    has = n_both > 0
    ok = has & (denom > 0)
    cov[ok] = centred[ok] / denom[ok]
    # One respondent for an element: its variance cannot be estimated.
    cov[has & ~ok] = np.nan
    return cov


def _from_sums(
    n: int,
    n_answers: NDArray[np.int64],
    sums: NDArray[np.int64],
    cov: FloatArray,
    scheme: Scheme,
    small_n: int,
    scale_points: int = 4,
) -> IKMResult:
    answered = n_answers > 0
    if n < 1 or not answered.any():
        raise ValueError("no respondent answered any element: the IKM is undefined")
    nrr = np.full(len(n_answers), np.nan)
    nrr[answered] = sums[answered] / n_answers[answered]
    # The mean of the NRRs s_j / c_j exactly: over their least common denominator, one
    # Fraction rather than k additions of Fractions (500 OPDs are scored at each refresh).
    pairs = [(int(s), int(c)) for s, c in zip(sums[answered], n_answers[answered], strict=True)]
    common = math.lcm(*(c for _s, c in pairs))
    exact = Fraction(sum(s * (common // c) for s, c in pairs), common * len(pairs))
    nrr.flags.writeable = False
    cov.flags.writeable = False
    n_answers = np.array(n_answers, dtype=np.int64)
    n_answers.flags.writeable = False
    return IKMResult(
        n=int(n),
        n_answers=n_answers,
        nrr=nrr,
        ikm=float(exact),
        exact=exact,
        cov=cov,
        scheme=scheme,
        small_n=small_n,
        scale_points=int(scale_points),
    )


def _ikm_from_aggregates(agg: Aggregates, scheme: Scheme, small_n: int) -> IKMResult:
    nj = agg.n_answers
    m = np.where(nj > 0, agg.sums / np.maximum(nj, 1), 0.0)  # 0 for unanswered elements
    T = agg.pair_sums.astype(np.float64)
    # sum (x_j - m_j)(x_k - m_k) over both-answering = P - m_k T_jk - m_j T_kj + n_jk m_j m_k
    centred = (
        agg.products - T * m[None, :] - T.T * m[:, None] + agg.n_both * np.multiply.outer(m, m)
    )
    cov = _covariance(centred, agg.n_both, nj)
    return _from_sums(agg.n, nj, agg.sums, cov, scheme, small_n, agg.scale_points)


def _ikm_from_rows(
    rows: FloatArray, scheme: Scheme, small_n: int, scale_points: int = 4
) -> IKMResult:
    given = ~np.isnan(rows)
    keep = given.any(axis=1)
    rows, given = rows[keep], given[keep]
    x = np.where(given, rows, 0.0)
    n_answers = given.sum(axis=0)
    sums = np.rint(x.sum(axis=0)).astype(np.int64)
    m = np.divide(sums, n_answers, out=np.zeros(len(sums)), where=n_answers > 0)
    dev = np.where(given, x - m, 0.0)
    n_both = given.T.astype(np.int64) @ given.astype(np.int64)
    cov = _covariance(dev.T @ dev, n_both, n_answers)
    return _from_sums(int(keep.sum()), n_answers, sums, cov, scheme, small_n, scale_points)


def ikm(
    data: ArrayLike | Aggregates,
    *,
    scheme: Scheme = PERMENPANRB_2017,
    scale_points: int = 4,
    small_n: int = SMALL_N,
) -> IKMResult:
    """Compute the IKM of one unit, its NRRs, category and analytic intervals.

    Parameters
    ----------
    data : array_like of shape (n, k), or Aggregates
        Rows of answers (one per respondent, NaN for no answer, whole numbers in
        1..`scale_points`), or the unit's :class:`~scoring.aggregates.Aggregates`. Both give
        the same numbers (to rounding, about 1e-15).
    scheme : Scheme, optional
        Category scheme (default PermenPANRB 14/2017).
    scale_points : int, optional
        Number of answer values, for checking rows and for the converted score, category and
        intervals (default 4; Aggregates carry their own).
    small_n : int, optional
        Fewer respondents than this marks the result unreliable (default 15).

    Returns
    -------
    IKMResult
        With ``ikm``, ``nrr``, ``n``, ``n_answers`` and the methods ``converted()``,
        ``category()``, ``confidence_interval()``, ``element_intervals()``,
        ``crosses_boundary()``.

    Examples
    --------
    >>> import numpy as np
    >>> rows = np.array([[4, 4, 3], [3, 4, 4], [4, np.nan, 3]])
    >>> res = ikm(rows)
    >>> res.nrr.tolist(), res.ikm, res.converted(), res.category().code
    ([3.6666666666666665, 4.0, 3.3333333333333335], 3.6666666666666665, 91.66666666666667, 'A')
    """
    small_n = _check_small_n(small_n)
    if not isinstance(scheme, Scheme):
        raise TypeError(f"scheme must be a Scheme, not {type(scheme).__name__}")
    if isinstance(data, Aggregates):
        return _ikm_from_aggregates(data, scheme, small_n)
    return _ikm_from_rows(_check_answers(data, scale_points), scheme, small_n, int(scale_points))


@dataclass(frozen=True)
class BootstrapIntervals:
    """Bootstrap intervals of the IKM and of each NRR, resampling respondents.

    Attributes
    ----------
    interval : Interval
        Interval of the IKM.
    element_intervals : tuple of Interval
        Interval of each NRR (``"analytic-t"`` where the bootstrap is undefined because some
        resample has no answer for the element).
    n : int
        Respondents.
    n_resamples : int
        Bootstrap resamples (0 when n was below the small-sample threshold and the analytic
        t-intervals are given instead, marked unreliable).
    """

    interval: Interval
    element_intervals: tuple[Interval, ...]
    n: int
    n_resamples: int


def _resample_statistic(x: FloatArray, given: FloatArray) -> Callable[..., FloatArray]:
    """Vectorised statistic for scipy.stats.bootstrap on respondent indices."""

    def statistic(idx: NDArray[np.intp], axis: int = -1) -> FloatArray:
        idx = np.moveaxis(np.asarray(idx), axis, -1)
        sums = x[idx].sum(axis=-2)
        counts = given[idx].sum(axis=-2)
        answered = counts > 0
        nrr = np.divide(sums, counts, out=np.full(sums.shape, np.nan), where=answered)
        ikm_value = np.where(answered, nrr, 0.0).sum(axis=-1) / answered.sum(axis=-1)
        out = np.concatenate([ikm_value[..., None], nrr], axis=-1)
        return np.moveaxis(out, -1, 0)

    return statistic


def bootstrap_ikm(
    answers: ArrayLike,
    *,
    confidence_level: float = 0.95,
    n_resamples: int = 9999,
    method: str = "BCa",
    rng: int | np.random.Generator | None = None,
    scale_points: int = 4,
    small_n: int = SMALL_N,
) -> BootstrapIntervals:
    """Bootstrap intervals of the IKM and each NRR, resampling respondents (rows).

    The statistic is vectorised over resamples and computes the IKM and all NRRs in one call
    of :func:`scipy.stats.bootstrap`. Fallbacks, each named in the interval's ``method``:

    - fewer respondents than `small_n`: the analytic (logit) intervals, marked unreliable;
    - every resample gives the same value (e.g. all answers equal): the analytic logit
      interval (never zero-width), ``degenerate=True``;
    - BCa undefined (NaN): the percentile interval of the same resamples,
      ``"bootstrap-percentile"``;
    - an element unanswered in some resample: the analytic interval for that element.

    Parameters
    ----------
    answers : array_like, shape (n, k)
        Rows of answers, NaN for no answer.
    confidence_level : float, optional
        Default 0.95.
    n_resamples : int, optional
        Default 9999.
    method : {"BCa", "percentile", "basic"}, optional
        Default ``"BCa"``.
    rng : int, numpy.random.Generator or None
        Seed or generator; the same seed gives the same intervals.
    scale_points : int, optional
        Number of answer values (default 4).
    small_n : int, optional
        Small-sample threshold (default 15).

    Returns
    -------
    BootstrapIntervals

    Examples
    --------
    >>> import numpy as np
    >>> rows = np.random.default_rng(1).integers(1, 5, size=(40, 9)).astype(float)
    >>> res = bootstrap_ikm(rows, n_resamples=999, rng=7)
    >>> res.interval.method, res.interval.low < ikm(rows).ikm < res.interval.high
    ('bootstrap-bca', True)
    """
    level = _check_level(confidence_level)
    small_n = _check_small_n(small_n)
    if isinstance(n_resamples, bool) or int(n_resamples) != n_resamples or n_resamples < 1:
        raise ValueError(f"n_resamples must be a whole number >= 1, got {n_resamples!r}")
    key = str(method).lower()
    if key not in ("bca", "percentile", "basic"):
        raise ValueError(f"method must be 'BCa', 'percentile' or 'basic', not {method!r}")
    rows = _check_answers(answers, scale_points)
    given_all = ~np.isnan(rows)
    rows = rows[given_all.any(axis=1)]
    m = int(scale_points)
    analytic = _ikm_from_rows(rows, PERMENPANRB_2017, small_n, m)
    n = analytic.n
    t_ikm = analytic.confidence_interval(level)
    t_elements = analytic.element_intervals(level)
    if n < small_n:
        return BootstrapIntervals(t_ikm, t_elements, n, 0)

    given = ~np.isnan(rows)
    x = np.where(given, rows, 0.0)
    statistic = _resample_statistic(x, given.astype(np.float64))
    from scipy import stats  # imported here: the analytic scores never need it (0.3 s)

    # Keep each batch of resampled rows (batch x n x k doubles) to about 16 MB.
    batch = max(1, int(2_000_000 // (n * rows.shape[1])))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # Degenerate data make BCa divide 0 by 0; we detect that below and fall back.
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        res = stats.bootstrap(
            (np.arange(n),),
            statistic,
            n_resamples=int(n_resamples),
            batch=batch,
            vectorized=True,
            confidence_level=level,
            method=key,
            rng=rng,
        )
    dist = np.atleast_2d(res.bootstrap_distribution)
    lows = np.atleast_1d(res.confidence_interval.low)
    highs = np.atleast_1d(res.confidence_interval.high)
    alpha = (1 - level) / 2
    intervals = []
    for o, fallback in enumerate((t_ikm, *t_elements)):
        d = dist[o]
        if np.isnan(d).any():
            intervals.append(fallback)
        elif np.ptp(d) == 0:
            # Every resample the same (e.g. all answers equal): a zero-width interval would
            # claim certainty; the logit interval with its pseudo-respondents is given instead.
            intervals.append(fallback)
        elif np.isnan(lows[o]) or np.isnan(highs[o]):
            q = stats.quantile(d, [alpha, 1 - alpha])
            intervals.append(
                Interval(float(q[0]), float(q[1]), level, "bootstrap-percentile", scale_points=m)
            )
        else:
            intervals.append(
                Interval(float(lows[o]), float(highs[o]), level, f"bootstrap-{key}", scale_points=m)
            )
    return BootstrapIntervals(intervals[0], tuple(intervals[1:]), n, int(n_resamples))

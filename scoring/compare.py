"""Comparing units fairly: funnel-plot limits, empirical-Bayes shrinkage, Kruskal-Wallis.

- :func:`funnel` places each unit's score against control limits around a common target, as a
  function of its standard error (Spiegelhalter, "Funnel plots for comparing institutional
  performance", Statistics in Medicine 2005, doi:10.1002/sim.1970), with his overdispersion
  adjustment from winsorised z-scores.
- :func:`shrink` gives normal-normal empirical-Bayes scores (published beside the raw score,
  never instead), with the between-unit variance tau^2 by REML or DerSimonian-Laird.
- :func:`kruskal_units` tests whether the units differ at all, on respondents' mean scores,
  with optional pairwise Dunn tests adjusted by Holm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .aggregates import _check_answers
from .bayes import reml_tau2
from .distributions import norm_ppf, norm_sf

__all__ = [
    "FunnelResult",
    "KruskalResult",
    "ShrinkageResult",
    "funnel",
    "kruskal_units",
    "respondent_means",
    "shrink",
]

FloatArray = NDArray[np.float64]
Overdispersion = Literal["additive", "multiplicative", "none"]


def _estimates_and_se(estimates: ArrayLike, se: ArrayLike, minimum: int) -> tuple[FloatArray, ...]:
    y = np.array(estimates, dtype=np.float64)
    s = np.array(se, dtype=np.float64)
    if y.ndim != 1 or y.size < minimum:
        raise ValueError(f"estimates must be 1-D with at least {minimum} units, got {y.shape}")
    if s.shape != y.shape:
        raise ValueError(f"se has shape {s.shape}, expected {y.shape} like estimates")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"estimates must be finite, got {float(y[~np.isfinite(y)][0])}")
    bad = ~np.isfinite(s) | (s <= 0)
    if bad.any():
        raise ValueError(
            f"se must be finite and > 0, got se[{np.argmax(bad)}] = {float(s[bad][0])}"
        )
    y.flags.writeable = False
    s.flags.writeable = False
    return y, s


def _z_level(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level!r}")
    return float(norm_ppf(0.5 + level / 2))


@dataclass(frozen=True, eq=False)
class FunnelResult:
    """Funnel-plot limits and each unit's position.

    Attributes
    ----------
    estimates, se : ndarray of float, shape (p,)
    target : float
        The centre line: the precision-weighted mean, or the target given.
    overdispersion : {"additive", "multiplicative", "none"}
    phi : float
        Overdispersion estimated from the winsorised z-scores (1 means "as chance allows").
    tau2 : float
        Additive between-unit variance used by the limits (0 unless ``"additive"``).
    """

    estimates: FloatArray
    se: FloatArray
    target: float
    overdispersion: Overdispersion
    phi: float
    tau2: float

    def limits(self, level: float = 0.95, se: ArrayLike | None = None) -> tuple[FloatArray, ...]:
        """Return the (low, high) limits at `level` for standard errors `se`.

        `se` defaults to the units' own; pass a grid (e.g. ``sd / sqrt(n)`` for a range of n)
        to draw the funnel. ``level=0.95`` uses z = 1.96 and ``level=0.998`` z = 3.09 (the
        exact normal quantiles).
        """
        z = _z_level(level)
        s = self.se if se is None else np.asarray(se, dtype=np.float64)
        if self.overdispersion == "multiplicative":
            half = z * np.sqrt(max(self.phi, 1.0)) * s
        else:
            half = z * np.sqrt(s * s + self.tau2)
        return self.target - half, self.target + half

    def position(self, level: float = 0.95) -> NDArray[np.str_]:
        """Return ``"above"``, ``"below"`` or ``"inside"`` the `level` limits, per unit.

        Examples
        --------
        >>> res = funnel([3.0, 3.1, 2.9, 3.6], [0.05, 0.05, 0.05, 0.05], overdispersion="none")
        >>> res.position(0.95).tolist()
        ['below', 'inside', 'below', 'above']
        """
        low, high = self.limits(level)
        return np.where(
            self.estimates > high, "above", np.where(self.estimates < low, "below", "inside")
        )

    def z_scores(self) -> FloatArray:
        """Return (estimate - target) / se, before any overdispersion adjustment."""
        return (self.estimates - self.target) / self.se


def funnel(
    estimates: ArrayLike,
    se: ArrayLike,
    *,
    target: float | None = None,
    overdispersion: Overdispersion = "additive",
    winsor: float = 0.1,
    tau2: float | None = None,
) -> FunnelResult:
    """Funnel-plot limits with Spiegelhalter's (2005) overdispersion adjustment.

    z-scores z_i = (y_i - target) / se_i are winsorised at the `winsor` and 1 - `winsor`
    quantiles; phi = mean(z_w^2). With I units and weights w_i = 1 / se_i^2:

    - ``"additive"`` (default): random-effects limits target +- z sqrt(se^2 + tau^2), with
      tau^2 the project's one REML estimate (:func:`scoring.bayes.reml_tau2`, the same as
      :func:`shrink`; Spiegelhalter's moment estimate from phi would be a second tau^2 for the
      same wave, so it is not used) or the `tau2` given. Chosen as the default
      because its limits stay open for units with many respondents, which the multiplicative
      version would flag for differences too small to matter;
    - ``"multiplicative"``: target +- z sqrt(phi) se, phi floored at 1;
    - ``"none"``: target +- z se.

    Parameters
    ----------
    estimates, se : array_like, shape (p,)
        Scores and their standard errors (se > 0).
    target : float, optional
        Centre line; default the precision-weighted mean sum(w y) / sum(w).
    overdispersion : {"additive", "multiplicative", "none"}, optional
    winsor : float, optional
        Fraction winsorised at each end (default 0.1, as Spiegelhalter).
    tau2 : float, optional
        Between-unit variance for the additive limits (default: :func:`reml_tau2` of the
        estimates); pass the wave's one tau^2 when it is already computed.

    Returns
    -------
    FunnelResult

    Examples
    --------
    >>> res = funnel([3.0, 3.2, 2.8, 3.1, 3.05], [0.1, 0.1, 0.1, 0.05, 0.05])
    >>> round(res.target, 4), res.position(0.998).tolist()
    (3.0545, ['inside', 'inside', 'inside', 'inside', 'inside'])
    """
    between = tau2
    y, s = _estimates_and_se(estimates, se, 2)
    if overdispersion not in ("additive", "multiplicative", "none"):
        raise ValueError(
            f"overdispersion must be 'additive', 'multiplicative' or 'none', not {overdispersion!r}"
        )
    if not 0 <= winsor < 0.5:
        raise ValueError(f"winsor must be in [0, 0.5), got {winsor!r}")
    w = 1 / (s * s)
    centre = float(np.sum(w * y) / np.sum(w)) if target is None else float(target)
    if not np.isfinite(centre):
        raise ValueError(f"target must be finite, got {target!r}")
    z = (y - centre) / s
    lo, hi = np.quantile(z, [winsor, 1 - winsor])
    phi = float(np.mean(np.clip(z, lo, hi) ** 2))
    tau2 = 0.0
    if overdispersion == "additive":
        tau2 = reml_tau2(y, s * s) if between is None else float(between)
        if not (np.isfinite(tau2) and tau2 >= 0):
            raise ValueError(f"tau2 must be finite and >= 0, got {between!r}")
    return FunnelResult(y, s, centre, overdispersion, phi, float(tau2))


@dataclass(frozen=True, eq=False)
class ShrinkageResult:
    """Normal-normal empirical-Bayes estimates.

    Attributes
    ----------
    estimates, se : ndarray of float, shape (p,)
    tau2 : float
        Between-unit variance of the true scores.
    mean : float
        Overall mean, weighted by 1 / (se^2 + tau^2).
    method : {"reml", "dl"}
    """

    estimates: FloatArray
    se: FloatArray
    tau2: float
    mean: float
    method: str

    def factor(self) -> FloatArray:
        """Return the shrinkage factors B_j = se_j^2 / (se_j^2 + tau^2)."""
        v = self.se * self.se
        return v / (v + self.tau2)

    def shrunken(self) -> FloatArray:
        """Return B_j * mean + (1 - B_j) * estimate_j.

        Examples
        --------
        >>> res = shrink([3.4, 3.0, 2.6, 3.1], [0.2, 0.05, 0.2, 0.05], method="dl")
        >>> [round(float(v), 3) for v in res.shrunken()]
        [3.137, 3.005, 2.918, 3.091]
        """
        b = self.factor()
        return b * self.mean + (1 - b) * self.estimates

    def posterior_se(self) -> FloatArray:
        """Return the standard errors of the shrunken scores, sqrt((1 - B_j) se_j^2).

        They treat tau^2 and the mean as known, so they are slightly too small for few units.
        """
        return np.sqrt((1 - self.factor()) * self.se * self.se)


def _dl_tau2(y: FloatArray, v: FloatArray) -> float:
    w = 1 / v
    mu = np.sum(w * y) / np.sum(w)
    q = np.sum(w * (y - mu) ** 2)
    return float(max(0.0, (q - (y.size - 1)) / (np.sum(w) - np.sum(w * w) / np.sum(w))))


def shrink(
    estimates: ArrayLike, se: ArrayLike, *, method: Literal["reml", "dl"] = "reml"
) -> ShrinkageResult:
    """Empirical-Bayes (normal-normal) shrinkage of unit scores towards the overall mean.

    Model: y_j ~ N(theta_j, se_j^2), theta_j ~ N(mu, tau^2). tau^2 by REML (default; the
    restricted likelihood maximised by :func:`scoring.bayes.reml_tau2`) or by
    DerSimonian-Laird, tau^2 = max(0, (Q - (p - 1)) / (sum w - sum w^2 / sum w)) with
    w = 1 / se^2 and Q the weighted sum of squares about the weighted mean.

    Parameters
    ----------
    estimates, se : array_like, shape (p,)
        At least 2 units; se > 0.
    method : {"reml", "dl"}, optional

    Returns
    -------
    ShrinkageResult
        With ``tau2``, ``mean`` and the methods ``factor()``, ``shrunken()``,
        ``posterior_se()``.

    Examples
    --------
    >>> res = shrink([3.4, 3.0, 2.6, 3.1], [0.2, 0.05, 0.2, 0.05], method="dl")
    >>> round(res.tau2, 5), [round(float(b), 3) for b in res.factor()]
    (0.01508, [0.726, 0.142, 0.726, 0.142])
    """
    y, s = _estimates_and_se(estimates, se, 2)
    key = str(method).lower()
    if key not in ("reml", "dl"):
        raise ValueError(f"method must be 'reml' or 'dl', not {method!r}")
    v = s * s
    tau2 = reml_tau2(y, v) if key == "reml" else _dl_tau2(y, v)
    w = 1 / (v + tau2)
    mean = float(np.sum(w * y) / np.sum(w))
    return ShrinkageResult(y, s, tau2, mean, key)


def respondent_means(answers: ArrayLike, *, scale_points: int = 4) -> FloatArray:
    """Return each respondent's mean over the elements they answered (empty rows dropped).

    Examples
    --------
    >>> import numpy as np
    >>> respondent_means(np.array([[4, 3], [2, np.nan], [np.nan, np.nan]])).tolist()
    [3.5, 2.0]
    """
    rows = _check_answers(answers, scale_points)
    given = ~np.isnan(rows)
    keep = given.any(axis=1)
    return np.where(given, rows, 0.0)[keep].sum(axis=1) / given[keep].sum(axis=1)


@dataclass(frozen=True, eq=False)
class KruskalResult:
    """Kruskal-Wallis test across units, with optional pairwise Dunn tests.

    Attributes
    ----------
    statistic : float
        H, corrected for ties (NaN when all values are equal: the test is undefined).
    pvalue : float
    df : int
        Number of groups - 1.
    pairwise_pvalues : ndarray of float, shape (g, g), or None
        Dunn's test p-values, Holm-adjusted over all g(g - 1)/2 pairs (diagonal 1).
    """

    statistic: float
    pvalue: float
    df: int
    pairwise_pvalues: FloatArray | None

    def differs(self, alpha: float = 0.05) -> bool:
        """Whether the units differ at level `alpha` (False when undefined)."""
        return bool(self.pvalue < alpha)


def _holm(p: FloatArray) -> FloatArray:
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out


def kruskal_units(groups: Sequence[ArrayLike], *, pairwise: bool = False) -> KruskalResult:
    """Kruskal-Wallis test that the units' score distributions are equal.

    Parameters
    ----------
    groups : sequence of array_like
        One 1-D array per unit, e.g. respondents' mean scores from :func:`respondent_means`;
        at least 2 units, each with at least one value.
    pairwise : bool, optional
        Also compute Dunn's pairwise tests (normal approximation on the pooled mid-ranks, with
        the tie correction), Holm-adjusted (default False).

    Returns
    -------
    KruskalResult

    Examples
    --------
    >>> res = kruskal_units([[3.1, 3.4, 3.3, 3.6], [2.1, 2.4, 2.2, 2.5], [3.2, 3.0, 3.5]])
    >>> round(res.statistic, 3), res.df, res.differs()
    (7.212, 2, True)
    """
    arrays = [np.asarray(g, dtype=np.float64).ravel() for g in groups]
    if len(arrays) < 2:
        raise ValueError(f"need at least 2 groups, got {len(arrays)}")
    for i, a in enumerate(arrays):
        if a.size == 0:
            raise ValueError(f"group {i} is empty")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"group {i} has a value that is not finite")
    from scipy import stats  # imported here: most scores never need it (0.3 s)

    df = len(arrays) - 1
    pooled = np.concatenate(arrays)
    if np.all(pooled == pooled[0]):
        nan_matrix = np.full((len(arrays), len(arrays)), np.nan) if pairwise else None
        return KruskalResult(float("nan"), float("nan"), df, nan_matrix)
    res = stats.kruskal(*arrays)
    pair_p = None
    if pairwise:
        g = len(arrays)
        sizes = np.array([a.size for a in arrays], dtype=np.float64)
        ranks = stats.rankdata(pooled)
        mean_rank = np.add.reduceat(ranks, np.r_[0, np.cumsum(sizes)[:-1]].astype(int)) / sizes
        total = pooled.size
        _, ties = np.unique(pooled, return_counts=True)
        spread = total * (total + 1) / 12 - np.sum(ties**3 - ties) / (12 * (total - 1))
        first, second = np.triu_indices(g, 1)
        z = (mean_rank[first] - mean_rank[second]) / np.sqrt(
            spread * (1 / sizes[first] + 1 / sizes[second])
        )
        p = _holm(2 * norm_sf(np.abs(z)))
        pair_p = np.ones((g, g))
        pair_p[first, second] = p
        pair_p[second, first] = p
    return KruskalResult(float(res.statistic), float(res.pvalue), df, pair_p)

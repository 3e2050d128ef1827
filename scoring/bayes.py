"""Empirical Bayes for a wave: shrunken scores, posterior probabilities, expected ranks.

The normal-normal model on the units' IKM estimates y_i with sampling variances v_i = se_i^2:

    y_i | theta_i ~ N(theta_i, v_i),    theta_i ~ N(mu, tau^2).

- :func:`reml_tau2` is the project's ONE estimate of the between-unit variance tau^2 (REML).
  :func:`scoring.compare.shrink` and the additive funnel limits of :func:`scoring.compare.funnel`
  both call it, so a report prints a single tau^2.
- :func:`posterior` gives, given tau^2 and a flat prior on mu (so the uncertainty of the overall
  mean is carried, not ignored), the exact joint normal posterior of the true scores:

      mu | y ~ N(mu_hat, V),   V = 1 / sum w_j,   w_j = 1 / (v_j + tau^2),
      theta_i | mu, y ~ N(B_i mu + (1 - B_i) y_i, (1 - B_i) v_i),   B_i = v_i / (v_i + tau^2),

  so E theta_i = B_i mu_hat + (1 - B_i) y_i (the shrunken score), Var theta_i = (1 - B_i) v_i
  + B_i^2 V and Cov(theta_i, theta_j) = B_i B_j V. From it: a posterior interval, the
  probability of each category (bounds found by calling the wave scheme), the expected rank
  (exact, from normal CDFs of theta_j - theta_i), the probability of being among the best /
  worst K and the number of units per category (seeded simulation of the joint posterior).

tau^2 is plugged in (not integrated over), so with few units the posterior intervals are a
little too narrow; the texts say "menurut model".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .distributions import norm_cdf, norm_ppf, norm_sf
from .schemes import Category, Scheme

if TYPE_CHECKING:  # pragma: no cover - typing only (units imports compare, which imports us)
    from .units import WaveScore

__all__ = [
    "CategoryCount",
    "PosteriorResult",
    "UnitPosterior",
    "category_bounds",
    "posterior",
    "reml_tau2",
    "wave_posterior",
]

FloatArray = NDArray[np.float64]
MIN_DRAWS = 10_000


def _reml_objective(tau2: float, y: FloatArray, v: FloatArray) -> float:
    """Minus the restricted log-likelihood of the normal-normal model (constants dropped)."""
    total = v + tau2
    w = 1 / total
    mu = np.sum(w * y) / np.sum(w)
    return 0.5 * float(np.sum(np.log(total)) + np.log(np.sum(w)) + np.sum(w * (y - mu) ** 2))


def reml_tau2(estimates: ArrayLike, variances: ArrayLike) -> float:
    """REML estimate of tau^2, the variance of the units' true scores.

    Maximises the restricted likelihood -1/2 [sum log(v_i + tau^2) + log sum w_i
    + sum w_i (y_i - mu_hat)^2] over tau^2 >= 0 (golden-section search; 0 when the boundary is
    at least as good). With fewer than 2 units tau^2 cannot be estimated and 0 is returned.

    Parameters
    ----------
    estimates : array_like, shape (p,)
    variances : array_like, shape (p,)
        Sampling variances se^2, finite and > 0.

    Returns
    -------
    float

    Examples
    --------
    >>> round(reml_tau2([1.0, 3.0], [1.0, 1.0]), 12)  # (y1 - y2)^2 / 2 - v
    1.0
    >>> reml_tau2([3.0, 3.1], [1.0, 1.0])
    0.0
    """
    y = np.asarray(estimates, dtype=np.float64)
    v = np.asarray(variances, dtype=np.float64)
    if y.ndim != 1 or v.shape != y.shape:
        raise ValueError(f"estimates and variances must be 1-D of one length, got {y.shape}")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(v)) and np.all(v > 0)):
        raise ValueError("estimates must be finite and variances finite and > 0")
    if y.size < 2 or np.all(y == y[0]):
        return 0.0
    scale = float(np.var(y) + np.max(v))
    best = _golden_minimum(lambda t: _reml_objective(t, y, v), 0.0, 100 * scale, 1e-12 * scale)
    # The search never lands exactly on 0; the boundary is the REML estimate when the
    # likelihood is no better inside.
    if _reml_objective(0.0, y, v) <= _reml_objective(best, y, v):
        return 0.0
    # Polish to machine precision on the score equation around the search's answer.
    step = 1e-4 * scale
    lo, hi = max(0.0, best - step), best + step
    if _reml_score(lo, y, v) < 0 < _reml_score(hi, y, v):
        best = _root_by_bisection(lambda t: _reml_score(t, y, v), lo, hi)
    return best


# Golden-section search and bisection are written here rather than taken from scipy.optimize:
# importing scipy.optimize costs every command that scores (``ikm score``, the reports) 0.5 to
# 1.3 s, several times the search itself; both loops are the textbook ones.
_INVERSE_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0  # 0.618...


def _golden_minimum(f: Callable[[float], float], lo: float, hi: float, tol: float) -> float:
    """Golden-section search for a minimum of `f` on [lo, hi], to within `tol`.

    Each step keeps the part of the bracket around the lower of two inner points, so a
    unimodal `f` keeps its minimum inside; the bracket shrinks by 0.618 per step.
    """
    c = hi - _INVERSE_GOLDEN * (hi - lo)
    d = lo + _INVERSE_GOLDEN * (hi - lo)
    fc, fd = f(c), f(d)
    while hi - lo > tol:
        if fc <= fd:  # the minimum lies in [lo, d]
            hi, d, fd = d, c, fc
            c = hi - _INVERSE_GOLDEN * (hi - lo)
            fc = f(c)
        else:  # in [c, hi]
            lo, c, fc = c, d, fd
            d = lo + _INVERSE_GOLDEN * (hi - lo)
            fd = f(d)
    return c if fc <= fd else d


def _root_by_bisection(f: Callable[[float], float], lo: float, hi: float) -> float:
    """A root of `f` between lo and hi, where f(lo) < 0 < f(hi), to the last representable digit:
    halve the bracket until its midpoint is one of its ends."""
    while True:
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            return lo if -f(lo) <= f(hi) else hi
        value = f(mid)
        if value == 0:
            return mid
        if value < 0:
            lo = mid
        else:
            hi = mid


def _reml_score(tau2: float, y: FloatArray, v: FloatArray) -> float:
    """Twice the derivative of :func:`_reml_objective`: sum w - sum w^2 / sum w - sum w^2 r^2."""
    w = 1 / (v + tau2)
    mu = np.sum(w * y) / np.sum(w)
    return float(np.sum(w) - np.sum(w * w) / np.sum(w) - np.sum(w * w * (y - mu) ** 2))


def category_bounds(
    scheme: Scheme | Callable[[float], Category],
    *,
    low: float = 1.0,
    high: float = 4.0,
) -> tuple[tuple[Category, float], ...]:
    """Each category of `scheme` with its lower bound on the IKM scale [low, high].

    The bounds are found by asking the scheme (its ``categorize``), not by a conversion
    written here: for each category the smallest IKM the scheme puts in it or higher, by
    bisection to 1e-12 (exact comparisons make the step sharp). So any rule the scheme uses
    (bounds on the 1..4 value, on a converted score, or any scale) is followed as is.

    Returns
    -------
    tuple of (Category, float)
        Highest category first; the lowest category's bound is `low`.

    Examples
    --------
    >>> from scoring.schemes import PERMENPANRB_2017
    >>> [(c.code, round(b, 6)) for c, b in category_bounds(PERMENPANRB_2017)]
    [('A', 3.5324), ('B', 3.0644), ('C', 2.6), ('D', 1.0)]
    """
    ask = scheme.categorize if isinstance(scheme, Scheme) else scheme
    first = ask(float(low))

    def categorize(x: float) -> Category:
        # A scheme defined on a narrower scale (1..4) than the questionnaire's refuses the
        # values beyond it: those lie above its top bound, so they take its top category.
        try:
            return ask(x)
        except ValueError:
            return first if x <= low else top

    if isinstance(scheme, Scheme):
        top = scheme.categories[0]
    else:
        try:
            top = ask(float(high))
        except ValueError:
            top = first
    order: list[Category] = []
    if isinstance(scheme, Scheme):
        order = list(scheme.categories)
    else:
        for x in np.linspace(high, low, 2001):
            c = categorize(float(x))
            if c not in order:
                order.append(c)
    rank = {c.code: i for i, c in enumerate(order)}
    bounds: list[tuple[Category, float]] = []
    for i, c in enumerate(order):
        if i == len(order) - 1:
            bounds.append((c, float(low)))
            break
        # Smallest x with rank(categorize(x)) <= i: rank is non-increasing in x.
        lo, hi = float(low), float(high)
        for _ in range(200):
            if hi - lo <= 1e-12:
                break
            mid = (lo + hi) / 2
            if rank[categorize(mid).code] <= i:
                hi = mid
            else:
                lo = mid
        # The scheme compares at 10 decimals: prefer the printed bound when it is the step.
        tidy = round(hi, 10)
        bounds.append((c, tidy if rank[categorize(tidy).code] <= i else hi))
    return tuple(bounds)


@dataclass(frozen=True)
class UnitPosterior:
    """What the model says about one unit's true score.

    Attributes
    ----------
    unit : str
    estimate, se : float
        The unit's own IKM and its standard error.
    shrinkage : float
        B = se^2 / (se^2 + tau^2): the weight given to the overall mean (1 = all of it).
    mean, sd : float
        Posterior mean (the adjusted score) and standard deviation, on the IKM scale.
    low, high : float
        Posterior interval at the result's level (mean -+ z sd).
    category_probs : tuple of (str, float)
        P(true score in each category), highest category first.
    p_good : float
        P(true score in the "good" category or better).
    expected_rank : float
        1 + sum_j P(theta_j > theta_i) (+ half of P(theta_j = theta_i), only when tau^2 = 0).
    p_top, p_bottom : float
        P(truly among the best K / the worst K), by simulation.
    """

    unit: str
    estimate: float
    se: float
    shrinkage: float
    mean: float
    sd: float
    low: float
    high: float
    category_probs: tuple[tuple[str, float], ...]
    p_good: float
    expected_rank: float
    p_top: float
    p_bottom: float


@dataclass(frozen=True)
class CategoryCount:
    """How many units are truly in one category, by the model.

    Attributes
    ----------
    category : Category
    expected : float
        Expected number (sum of the units' probabilities; exact).
    low, high : int
        2.5% and 97.5% quantiles of the simulated number (95% range).
    """

    category: Category
    expected: float
    low: int
    high: int


@dataclass(frozen=True, eq=False)
class PosteriorResult:
    """The empirical-Bayes posterior of a wave.

    Attributes
    ----------
    units : tuple of UnitPosterior
        In input order, without the left-out units.
    left_out : tuple of str
        Units left out of the model (e.g. too few respondents to rank).
    tau2 : float
        Between-unit variance (REML; 0 with one unit).
    mu, mu_se : float
        Estimated overall mean and its standard error.
    top_k : int
        K of the best-K / worst-K probabilities (at most the number of units).
    good : Category
        The category whose "or better" probability is ``p_good``.
    good_bound : float
        Its lower bound on the IKM scale, as the scheme defines it.
    counts : tuple of CategoryCount
        Highest category first.
    level : float
    draws, seed : int
    """

    units: tuple[UnitPosterior, ...]
    left_out: tuple[str, ...]
    tau2: float
    mu: float
    mu_se: float
    top_k: int
    good: Category
    good_bound: float
    counts: tuple[CategoryCount, ...]
    level: float
    draws: int
    seed: int

    def unit(self, unit_id: str) -> UnitPosterior:
        """Return one unit's posterior."""
        for u in self.units:
            if u.unit == unit_id:
                return u
        raise KeyError(unit_id)


def _pairwise_greater(m: FloatArray, var: FloatArray, b: FloatArray, v_mu: float) -> FloatArray:
    """P[i, j] = P(theta_j > theta_i), with P(theta_j = theta_i) counted half."""
    diff = m[None, :] - m[:, None]
    dvar = var[None, :] + var[:, None] - 2 * np.outer(b, b) * v_mu
    scale = float(np.max(var)) if var.size else 0.0
    tiny = dvar <= 1e-14 * max(scale, 1e-300)
    sd = np.sqrt(np.where(tiny, 1.0, np.maximum(dvar, 0.0)))
    p = norm_cdf(diff / sd)
    degenerate = np.where(
        np.abs(diff) <= 1e-12, 0.5, np.where(diff > 0, 1.0, 0.0)
    )  # theta_j - theta_i is a constant
    out = np.where(tiny, degenerate, p)
    np.fill_diagonal(out, 0.0)
    return out


def posterior(
    units: Sequence[str],
    estimates: ArrayLike,
    se: ArrayLike,
    *,
    scheme: Scheme | Callable[[float], Category],
    top_k: int = 5,
    draws: int = MIN_DRAWS,
    seed: int = 0,
    level: float = 0.95,
    leave_out: Collection[str] = (),
    good: str = "B",
    scale: tuple[float, float] = (1.0, 4.0),
) -> PosteriorResult:
    """Empirical-Bayes posterior of the units' true scores (see the module docstring).

    Parameters
    ----------
    units : sequence of str
        Unit ids, one per estimate.
    estimates, se : array_like, shape (p,)
        IKMs on the IKM scale and their standard errors (finite, > 0).
    scheme : Scheme or callable
        The wave's category scheme (or its ``categorize``); the category bounds come from it.
    top_k : int, optional
        K of the best-K / worst-K probabilities (default 5; clamped to the units modelled).
    draws : int, optional
        Joint posterior draws for the best/worst-K probabilities and the category counts
        (default and minimum 10,000).
    seed : int, optional
        Seeds the draws: the same seed gives the same result.
    level : float, optional
        Of the posterior intervals and the count ranges (default 0.95).
    leave_out : collection of str, optional
        Units not modelled at all (e.g. below the wave's minimum n for ranking).
    good : str, optional
        Code of the category whose "or better" probability is reported (default ``"B"``; if
        the scheme has no such code, its second-highest category).
    scale : (float, float), optional
        The IKM scale (default 1..4).

    Returns
    -------
    PosteriorResult

    Examples
    --------
    >>> from scoring.schemes import PERMENPANRB_2017
    >>> res = posterior(["a", "b"], [3.0, 3.4], [0.1, 0.1], scheme=PERMENPANRB_2017)
    >>> round(res.tau2, 4), [round(u.mean, 4) for u in res.units]
    (0.07, [3.025, 3.375])
    """
    names = [str(u) for u in units]
    y_all = np.asarray(estimates, dtype=np.float64)
    s_all = np.asarray(se, dtype=np.float64)
    if y_all.ndim != 1 or y_all.shape != s_all.shape or y_all.size != len(names):
        raise ValueError("units, estimates and se must have one entry per unit")
    if len(set(names)) != len(names):
        raise ValueError("unit ids must be unique")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level!r}")
    if isinstance(draws, bool) or int(draws) != draws or draws < MIN_DRAWS:
        raise ValueError(f"draws must be a whole number >= {MIN_DRAWS}, got {draws!r}")
    if isinstance(top_k, bool) or int(top_k) != top_k or top_k < 1:
        raise ValueError(f"top_k must be a whole number >= 1, got {top_k!r}")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    skip = {str(u) for u in leave_out}
    keep = np.array([n not in skip for n in names], dtype=bool)
    kept = [n for n in names if n not in skip]
    if not kept:
        raise ValueError("no unit is left to model")
    y, s = y_all[keep], s_all[keep]
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(s)) and np.all(s > 0)):
        raise ValueError("estimates must be finite and se finite and > 0")
    p = y.size
    k = min(int(top_k), p)
    v = s * s
    tau2 = reml_tau2(y, v)
    w = 1 / (v + tau2)
    mu = float(np.sum(w * y) / np.sum(w))
    v_mu = float(1 / np.sum(w))
    b = v / (v + tau2)
    m = b * mu + (1 - b) * y
    var = (1 - b) * v + b * b * v_mu
    sd = np.sqrt(var)
    z = float(norm_ppf(0.5 + level / 2))

    bounds = category_bounds(scheme, low=scale[0], high=scale[1])
    codes = [c.code for c, _ in bounds]
    good_index = codes.index(good) if good in codes else min(1, len(codes) - 1)
    # P(theta >= bound of category c), for each c; the lowest bound is the scale's floor,
    # so the lowest category takes everything below too.
    at_least = np.ones((p, len(bounds)))
    for j, (_, bound) in enumerate(bounds[:-1]):
        at_least[:, j] = _prob_at_least(m, sd, bound)
    in_cat = np.diff(np.concatenate([np.zeros((p, 1)), at_least], axis=1), axis=1)
    in_cat = np.clip(in_cat, 0.0, 1.0)

    greater = _pairwise_greater(m, var, b, v_mu)
    expected_rank = 1 + greater.sum(axis=1)

    # Joint draws: mu, then each theta given mu; ties (tau^2 = 0) broken at random.
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xEB]))
    n = int(draws)
    mu_draw = mu + np.sqrt(v_mu) * rng.standard_normal(n)
    theta = (
        b[None, :] * mu_draw[:, None]
        + ((1 - b) * y)[None, :]
        + np.sqrt((1 - b) * v)[None, :] * rng.standard_normal((n, p))
    )
    tiebreak = rng.random((n, p))
    order = _order(theta, tiebreak)
    rank = np.empty_like(order)
    rows = np.arange(n)[:, None]
    rank[rows, order] = np.arange(1, p + 1)[None, :]
    p_top = (rank <= k).mean(axis=0)
    p_bottom = (rank > p - k).mean(axis=0)

    cut = np.array([bd for _, bd in bounds[:-1]][::-1])  # ascending, without the floor
    cat_index = len(bounds) - 1 - np.searchsorted(cut, theta, side="right")
    alpha = (1 - level) / 2
    counts = []
    for j, (cat, _) in enumerate(bounds):
        per_draw = (cat_index == j).sum(axis=1)
        lo, hi = np.quantile(per_draw, [alpha, 1 - alpha], method="inverted_cdf")
        counts.append(CategoryCount(cat, float(in_cat[:, j].sum()), int(lo), int(hi)))

    results = tuple(
        UnitPosterior(
            unit=kept[i],
            estimate=float(y[i]),
            se=float(s[i]),
            shrinkage=float(b[i]),
            mean=float(m[i]),
            sd=float(sd[i]),
            low=float(m[i] - z * sd[i]),
            high=float(m[i] + z * sd[i]),
            category_probs=tuple((codes[j], float(in_cat[i, j])) for j in range(len(codes))),
            p_good=float(at_least[i, good_index]),
            expected_rank=float(expected_rank[i]),
            p_top=float(p_top[i]),
            p_bottom=float(p_bottom[i]),
        )
        for i in range(p)
    )
    return PosteriorResult(
        units=results,
        left_out=tuple(n for n in names if n in skip),
        tau2=float(tau2),
        mu=mu,
        mu_se=float(np.sqrt(v_mu)),
        top_k=k,
        good=bounds[good_index][0],
        good_bound=float(bounds[good_index][1]),
        counts=tuple(counts),
        level=float(level),
        draws=n,
        seed=int(seed),
    )


def _prob_at_least(m: FloatArray, sd: FloatArray, bound: float) -> FloatArray:
    safe = np.where(sd > 0, sd, 1.0)
    return np.where(sd > 0, norm_sf((bound - m) / safe), (m >= bound).astype(float))


def _order(theta: FloatArray, tiebreak: FloatArray) -> NDArray[np.intp]:
    """Per draw, the units from the highest theta down (ties in random order)."""
    # Sort by tiebreak first, then stably by -theta: equal thetas keep the random order.
    first = np.argsort(tiebreak, axis=1)
    shuffled = np.take_along_axis(-theta, first, axis=1)
    second = np.argsort(shuffled, axis=1, kind="stable")
    return np.take_along_axis(first, second, axis=1)


def wave_posterior(
    wave: WaveScore,
    *,
    leave_out: Collection[str] = (),
    draws: int = MIN_DRAWS,
    good: str = "B",
    scale: tuple[float, float] = (1.0, 4.0),
) -> PosteriorResult:
    """:func:`posterior` of a scored wave: its IKMs, standard errors, scheme, K and seed.

    Units without a usable standard error (a single respondent in a wave where no unit has
    one) are left out as well as those in `leave_out`.
    """
    skip = {str(u) for u in leave_out} | {u.unit for u in wave.units if not u.se > 0}
    return posterior(
        [u.unit for u in wave.units],
        [u.ikm for u in wave.units],
        [u.se if u.se > 0 else np.nan for u in wave.units],
        scheme=wave.scheme,
        top_k=wave.top_k,
        draws=draws,
        seed=wave.seed,
        level=wave.confidence_level,
        leave_out=skip,
        good=good,
        scale=scale,
    )

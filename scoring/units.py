"""Scoring a whole wave: every unit's IKM, interval, category, rank and comparisons at once.

:func:`score_units` is what ``ikm score`` calls. It needs only each unit's
:class:`~scoring.aggregates.Aggregates` (one ``GROUP BY`` or running totals); rows are optional
and add the bootstrap intervals, Kruskal-Wallis and Cronbach's alpha with missing answers.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .aggregates import Aggregates, _check_answers, merge_aggregates
from .compare import (
    FunnelResult,
    KruskalResult,
    ShrinkageResult,
    funnel,
    kruskal_units,
    shrink,
)
from .ikm import SMALL_N, IKMResult, Interval, bootstrap_ikm, ikm
from .planning import AlphaResult, _alpha_from_cov, cronbach_alpha
from .ranks import RankResult, rank_confidence_sets
from .schemes import PERMENPANRB_2017, Category, Scheme

__all__ = [
    "MIN_RANK_N",
    "PUBLISHED_RANK_DRAWS",
    "VARIANCE_PRIOR_DF",
    "ElementScore",
    "UnitScore",
    "WaveScore",
    "score_units",
    "stabilised_variances",
]

#: Default per-wave minimum number of respondents for an OPD to be ranked (``Wave.min_rank_n``).
#: Below it an OPD is scored (its own IKM and interval) but left out of every rank inference.
MIN_RANK_N = 15

#: Prior degrees of freedom ``d0`` of the variance stabilisation: each ranked unit's respondent
#: variance is pulled toward the wave's pooled one as if ``d0`` more respondents had the pooled
#: variance, and its t draws get ``n - 1 + d0`` degrees of freedom (see
#: :func:`stabilised_variances`).
VARIANCE_PRIOR_DF = 14

#: Rank draws behind every published table (ranking report, public wave page, open data).
PUBLISHED_RANK_DRAWS = 10_000


def _json_float(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True)
class ElementScore:
    """One element (unsur) of one unit.

    Attributes
    ----------
    code : str
        Element code (``"U1"``).
    nrr : float
        NRR on 1..4 (NaN if nobody answered).
    n : int
        Respondents who answered it.
    interval : Interval
        Its interval (bootstrap if computed, else analytic).
    """

    code: str
    nrr: float
    n: int
    interval: Interval


@dataclass(frozen=True, eq=False)
class UnitScore:
    """Everything published about one unit in one wave.

    Attributes
    ----------
    unit : str
        Unit id (the OPD slug).
    estimate : IKMResult
        IKM, NRRs, counts and analytic uncertainty.
    interval : Interval
        The published interval of the IKM (bootstrap if computed, else analytic; see
        ``interval.method``).
    elements : tuple of ElementScore
    se : float
        Standard error used for ranks, funnel and shrinkage (the analytic one, or the pooled
        plug-in when the unit's own is 0 or undefined, e.g. all answers equal).
    rank : int
        Estimated rank (1 = best; ties share the best rank).
    rank_low, rank_high : int
        Simultaneous confidence set of the rank.
    rank_marginal_low, rank_marginal_high : int
        Marginal confidence set of the rank.
    in_top_set, in_bottom_set : bool
        Membership in the confidence sets for the top k and the bottom k.
    funnel_95, funnel_998 : str or None
        ``"above"``, ``"below"`` or ``"inside"`` the 95% and 99.8% funnel limits (None with a
        single unit).
    shrunken : float
        Empirical-Bayes score on 1..4 (NaN with a single unit).
    ranked : bool
        False for a unit with fewer respondents than ``min_rank_n``: it is scored (IKM,
        interval) but has no rank, rank set, top/bottom membership, funnel position or
        shrunken score (the rank fields are 0, the sets False), and public outputs show it as
        "belum cukup data" without a category.
    """

    unit: str
    estimate: IKMResult
    interval: Interval
    elements: tuple[ElementScore, ...]
    se: float
    rank: int
    rank_low: int
    rank_high: int
    rank_marginal_low: int
    rank_marginal_high: int
    in_top_set: bool
    in_bottom_set: bool
    funnel_95: str | None
    funnel_998: str | None
    shrunken: float
    ranked: bool = True

    @property
    def n(self) -> int:
        """Respondents."""
        return self.estimate.n

    @property
    def ikm(self) -> float:
        """IKM on 1..4."""
        return self.estimate.ikm

    def converted(self) -> float:
        """Converted IKM on 25..100."""
        return self.estimate.converted()

    def category(self) -> Category:
        """Category of the IKM under the wave's scheme."""
        return self.estimate.category()

    def crosses_boundary(self) -> bool:
        """Whether the published interval spans more than one category."""
        if math.isnan(self.interval.low):
            return True
        return self.estimate.scheme.crosses_boundary(
            self.interval.low, self.interval.high, self.estimate.scale_points
        )

    def unreliable(self) -> bool:
        """Whether n is below the small-sample threshold."""
        return self.estimate.unreliable()

    def as_dict(self) -> dict[str, Any]:
        """Return the fields of ``ikm score --format json`` (NaN as None).

        ``ci_low``/``ci_high`` are on the converted 25..100 scale; element intervals are on
        1..m like the NRRs (``scale_points``). The caller adds ``opd`` (= ``unit``) and ``name``.
        """
        low, high = self.interval.converted()
        own = {
            "unit": self.unit,
            "n": self.n,
            "ikm": self.ikm,
            "ikm_converted": self.converted(),
            "ci_low": _json_float(low),
            "ci_high": _json_float(high),
            "ci_method": self.interval.method,
        }
        if not self.ranked:
            # Below ``min_rank_n``: its own score and interval, no rank, no category.
            return {
                **own,
                "unreliable": True,
                **dict.fromkeys(_RANKED_FIELDS),
                "ranked": False,
                "elements": self._elements_dict(),
            }
        category = self.category()
        ranked = {
            "category": category.code,
            "category_label": category.label_id,
            "category_label_en": category.label_en,
            "crosses_boundary": self.crosses_boundary(),
            "rank": self.rank,
            "rank_ci_low": self.rank_low,
            "rank_ci_high": self.rank_high,
            "rank_marginal_low": self.rank_marginal_low,
            "rank_marginal_high": self.rank_marginal_high,
            "in_top_set": self.in_top_set,
            "in_bottom_set": self.in_bottom_set,
            "funnel_95": self.funnel_95,
            "funnel_998": self.funnel_998,
            "shrunken": _json_float(self.shrunken),
        }
        assert tuple(ranked) == _RANKED_FIELDS
        return {
            **own,
            "unreliable": self.unreliable(),
            **ranked,
            "ranked": True,
            "elements": self._elements_dict(),
        }

    def _elements_dict(self) -> dict[str, dict[str, Any]]:
        return {
            e.code: {
                "nrr": _json_float(e.nrr),
                "ci_low": _json_float(e.interval.low),
                "ci_high": _json_float(e.interval.high),
                "n": e.n,
            }
            for e in self.elements
        }


# The fields of a ranked unit that an unranked one (below ``min_rank_n``) leaves empty.
_RANKED_FIELDS = (
    "category",
    "category_label",
    "category_label_en",
    "crosses_boundary",
    "rank",
    "rank_ci_low",
    "rank_ci_high",
    "rank_marginal_low",
    "rank_marginal_high",
    "in_top_set",
    "in_bottom_set",
    "funnel_95",
    "funnel_998",
    "shrunken",
)


@dataclass(frozen=True, eq=False)
class WaveScore:
    """The scores of all units of a wave and the wave-level statistics.

    Attributes
    ----------
    units : tuple of UnitScore
        The ranked units (respondents >= ``min_rank_n``), in the order of the input mapping.
        Ranks, rank sets, top/bottom sets, funnel and shrinkage are over these only.
    unranked : tuple of UnitScore
        Units with respondents but fewer than ``min_rank_n`` (``ranked`` False): scored, never
        ranked, and they change nothing in the ranked units' inference.
    unscored : tuple of str
        Units without any respondent (no IKM).
    scheme : Scheme
    confidence_level : float
    top_k : int
        The k of the top-k / bottom-k confidence sets (at most the number of units).
    ranks : RankResult
    funnel : FunnelResult or None
        None with fewer than 2 units (also for ``shrinkage``).
    shrinkage : ShrinkageResult or None
    alpha : AlphaResult or None
        Cronbach's alpha over all respondents of the wave (None if answers are missing and no
        rows were given).
    kruskal : KruskalResult or None
        Kruskal-Wallis across units on respondents' mean scores (only with rows).
    seed : int
    min_rank_n : int
    variance_prior_df : float
        ``d0`` of :func:`stabilised_variances` (0 = no stabilisation).
    """

    units: tuple[UnitScore, ...]
    unscored: tuple[str, ...]
    scheme: Scheme
    confidence_level: float
    top_k: int
    ranks: RankResult
    funnel: FunnelResult | None
    shrinkage: ShrinkageResult | None
    alpha: AlphaResult | None
    kruskal: KruskalResult | None
    seed: int
    unranked: tuple[UnitScore, ...] = ()
    min_rank_n: int = 1
    variance_prior_df: float = 0.0

    def unit(self, unit_id: str) -> UnitScore:
        """Return the score of one unit (ranked or not)."""
        for u in self.units + self.unranked:
            if u.unit == unit_id:
                return u
        raise KeyError(unit_id)

    def mean_ikm(self) -> float:
        """The wave's one overall average: the plain mean of the ranked units' IKMs.

        Every ranked unit counts once, whatever its number of respondents ("rata-rata IKM
        seluruh OPD"); units below ``min_rank_n`` (``unranked``) are left out, as they are of
        the funnel. The summary, the charts and the funnel's centre line all use this value.
        """
        return float(np.mean([u.ikm for u in self.units]))

    def tau2(self) -> float:
        """Between-unit variance of the true IKMs (NaN with a single unit)."""
        return float("nan") if self.shrinkage is None else self.shrinkage.tau2

    def top_set(self) -> tuple[str, ...]:
        """Units that may be among the true top k (confidence set)."""
        return tuple(u.unit for u in self.units if u.in_top_set)

    def bottom_set(self) -> tuple[str, ...]:
        """Units that may be among the true bottom k (confidence set)."""
        return tuple(u.unit for u in self.units if u.in_bottom_set)


def _unit_rng(seed: int, unit: str) -> np.random.Generator:
    # Keyed by the unit id, so adding a unit to a wave does not change the others' intervals.
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(unit.encode())]))


def _pooled_se(se: NDArray[np.float64], n: NDArray[np.float64]) -> NDArray[np.float64]:
    """:func:`_plug_in_se` from the units' own se and n (robustness swaps one unit's in)."""
    ok = np.isfinite(se) & (se > 0) & (n >= 2)
    if ok.all():
        return se
    if ok.any():
        # se^2 n estimates the variance of a respondent's mean score (exactly, with no
        # missing answers); pool it with n - 1 weights like a pooled variance.
        pooled = np.sum((n[ok] - 1) * se[ok] ** 2 * n[ok]) / np.sum(n[ok] - 1)
        se = np.where(ok, se, np.sqrt(pooled / n))
    else:
        se = np.where(ok, se, 0.0)
    return se


def stabilised_variances(
    se: NDArray[np.float64], n: NDArray[np.float64], prior_df: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Standard errors and t degrees of freedom for the rank draws, stabilised toward the pool.

    Each unit's respondent variance ``s2_i = se_i^2 n_i`` (exact with no missing answers) is
    pulled toward the pooled one ``s2_p = sum((n_i - 1) s2_i) / sum(n_i - 1)`` (over the units
    given, with ``n_i >= 2`` and a finite se)::

        s2_i* = ((n_i - 1) s2_i + d0 s2_p) / (n_i - 1 + d0),   se_i* = sqrt(s2_i* / n_i)

    and its draws are t with ``n_i - 1 + d0`` degrees of freedom: the scaled-inverse-chi-square
    posterior of a unit's variance with a prior worth ``d0`` respondents at the pooled variance
    (Smyth's moderated t). A unit with 2 respondents thus gets 15 df, not 1, so no unit's draws
    explode; a unit whose answers are all equal gets a positive se. A unit without a variance
    estimate (se undefined) gets ``s2_p`` and ``d0`` df. ``prior_df = 0`` gives the unit's own se
    (the pooled plug-in where it is 0 or undefined) and ``max(n - 1, 1)`` df.
    """
    se = np.asarray(se, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    plain_df = np.maximum(n - 1, 1.0)
    if prior_df < 0 or not math.isfinite(prior_df):
        raise ValueError(f"variance_prior_df must be finite and >= 0, got {prior_df!r}")
    ok = np.isfinite(se) & (n >= 2)
    if prior_df == 0 or not ok.any():
        return _pooled_se(se, n), plain_df
    own = np.where(ok, se**2 * n, 0.0)
    dfi = np.where(ok, n - 1, 0.0)
    pooled = float(np.sum(dfi * own) / np.sum(dfi))
    s2 = (dfi * own + prior_df * pooled) / (dfi + prior_df)
    return np.sqrt(s2 / n), dfi + prior_df


def _unit_intervals(
    unit: str,
    est: IKMResult,
    row_arrays: Mapping[str, np.ndarray],
    bootstrap: int,
    confidence_level: float,
    seed: int,
    points: int,
    small_n: int,
    elements: bool = True,
) -> tuple[Interval, tuple[Interval, ...]]:
    """The published interval of a unit and of its elements (none unless ``elements``):
    bootstrap if asked, else analytic."""
    if bootstrap and unit in row_arrays:
        boot = bootstrap_ikm(
            row_arrays[unit],
            confidence_level=confidence_level,
            n_resamples=int(bootstrap),
            rng=_unit_rng(seed, unit),
            scale_points=points,
            small_n=small_n,
        )
        return boot.interval, boot.element_intervals if elements else ()
    interval = est.confidence_interval(confidence_level)
    return interval, est.element_intervals(confidence_level) if elements else ()


def _wave_tests(
    aggregates: Mapping[str, Aggregates],
    row_arrays: Mapping[str, np.ndarray],
    scored: Sequence[str],
    k: int,
) -> tuple[AlphaResult | None, KruskalResult | None]:
    """Cronbach's alpha of the instrument and Kruskal-Wallis across units, where computable.

    The rows were checked on entry to :func:`score_units`, so this works on them directly, in
    one pass over all of them (at a million rows, checking them again per test would cost
    more than the tests).
    """
    with_rows = [u for u in scored if u in row_arrays]
    alpha = None
    if k >= 2 and row_arrays and len(row_arrays) == len(aggregates):
        everyone = np.concatenate([row_arrays[u] for u in with_rows])
        complete = everyone[~np.isnan(everyone).any(axis=1)]
        n = complete.shape[0]
        if n < 2:
            alpha = AlphaResult(float("nan"), n, k)
        else:
            centred = complete - complete.mean(axis=0)
            alpha = _alpha_from_cov(centred.T @ centred / (n - 1), n, k)
    elif k >= 2:
        merged = merge_aggregates(*aggregates.values())
        if np.all(merged.n_both == merged.n):
            alpha = cronbach_alpha(merged)
    kruskal = None
    if len(with_rows) >= 2:
        groups = []
        for u in with_rows:
            rows = row_arrays[u]
            given = ~np.isnan(rows)
            keep = given.any(axis=1)
            groups.append(np.where(given, rows, 0.0)[keep].sum(axis=1) / given[keep].sum(axis=1))
        kruskal = kruskal_units(groups)
    return alpha, kruskal


def score_units(
    aggregates: Mapping[str, Aggregates],
    scheme: Scheme = PERMENPANRB_2017,
    *,
    confidence_level: float = 0.95,
    seed: int = 0,
    rows: Mapping[str, ArrayLike] | None = None,
    bootstrap: int = 0,
    top_k: int = 5,
    rank_draws: int = 1000,
    element_codes: Sequence[str] | None = None,
    small_n: int = SMALL_N,
    min_rank_n: int = 1,
    variance_prior_df: float = VARIANCE_PRIOR_DF,
    tau2_method: Literal["reml", "dl"] = "reml",
    overdispersion: Literal["additive", "multiplicative", "none"] = "additive",
    elements: bool = True,
) -> WaveScore:
    """Score many units at once: IKM, intervals, categories, ranks, funnel, shrinkage.

    Parameters
    ----------
    aggregates : mapping of str to Aggregates
        Unit id (e.g. OPD slug) to its aggregates; all with the same elements and scale.
    scheme : Scheme, optional
        Category scheme (default PermenPANRB 14/2017).
    confidence_level : float, optional
        For every interval and confidence set (default 0.95).
    seed : int, optional
        Seeds the rank draws and (per unit id) the bootstrap; the same seed gives the same
        output (default 0).
    rows : mapping of str to array_like, optional
        Rows of answers per unit (NaN = no answer), for the bootstrap, Kruskal-Wallis and
        alpha; each must aggregate to the unit's `aggregates` exactly.
    bootstrap : int, optional
        Bootstrap resamples per unit (BCa; 0 = analytic intervals only, the default). Needs
        `rows`; units with fewer than `small_n` respondents keep the analytic t-interval.
    top_k : int, optional
        k of the top-k and bottom-k confidence sets (default 5).
    rank_draws : int, optional
        Draws for the rank critical values (default 1000; published tables use
        :data:`PUBLISHED_RANK_DRAWS`). The draws are t per unit with the stabilised se and
        ``n - 1 + variance_prior_df`` degrees of freedom (:func:`stabilised_variances`).
        0 skips rank inference (for a page that shows no rank sets, such as the live
        dashboard): every rank set is then the whole range 1..p, which always holds, and so
        every ranked unit is in the top and bottom sets; the point ranks are as usual.
    element_codes : sequence of str, optional
        Element codes (default ``U1``..``Uk``).
    small_n : int, optional
        Small-sample threshold (default 15).
    min_rank_n : int, optional
        Units with fewer respondents are scored but not ranked (``WaveScore.unranked``): no
        rank set, no top/bottom set, no funnel or shrinkage, and no effect on the ranked
        units' inference (default 1: every scored unit is ranked; a wave's is
        ``Wave.min_rank_n``, default
        :data:`MIN_RANK_N`).
    variance_prior_df : float, optional
        ``d0`` of the variance stabilisation for ranks, funnel and shrinkage (default
        :data:`VARIANCE_PRIOR_DF`; 0 = each unit's own variance).
    tau2_method : {"reml", "dl"}, optional
        Between-unit variance for shrinkage (default REML).
    overdispersion : {"additive", "multiplicative", "none"}, optional
        Funnel-plot adjustment (default additive random effects).
    elements : bool, optional
        False leaves out the element scores (every ``UnitScore.elements`` is empty), for a
        page that shows none, such as the live dashboard: at 500 units their 4,500 intervals
        are a third of the cost. The units' own figures do not change (default True).

    Returns
    -------
    WaveScore

    Examples
    --------
    >>> import numpy as np
    >>> from scoring import aggregate
    >>> rng = np.random.default_rng(0)
    >>> aggs = {f"opd-{i}": aggregate(rng.integers(1 + (i > 1), 5, size=(40, 9)))
    ...         for i in range(4)}
    >>> wave = score_units(aggs, seed=1)
    >>> [(u.unit, u.category().code, u.rank, u.rank_low, u.rank_high) for u in wave.units]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('opd-0', 'C', 3, 3, 4), ('opd-1', 'D', 4, 3, 4),
     ('opd-2', 'C', 2, 1, 2), ('opd-3', 'C', 1, 1, 2)]
    """
    if not isinstance(aggregates, Mapping) or not aggregates:
        raise ValueError("aggregates must be a non-empty mapping of unit id to Aggregates")
    for unit, agg in aggregates.items():
        if not isinstance(agg, Aggregates):
            raise TypeError(f"aggregates[{unit!r}] is {type(agg).__name__}, not Aggregates")
    if not isinstance(scheme, Scheme):
        raise TypeError(f"scheme must be a Scheme, not {type(scheme).__name__}")
    shapes = {a.counts.shape for a in aggregates.values()}
    if len(shapes) > 1:
        raise ValueError(f"units differ in elements x scale points: {sorted(shapes)}")
    k, points = shapes.pop()
    codes = (
        tuple(element_codes) if element_codes is not None else tuple(f"U{j + 1}" for j in range(k))
    )
    if len(codes) != k:
        raise ValueError(f"element_codes has {len(codes)} codes for {k} elements")
    if not 0 < confidence_level < 1:
        raise ValueError(f"confidence_level must be between 0 and 1, got {confidence_level!r}")
    if isinstance(top_k, bool) or int(top_k) != top_k or top_k < 1:
        raise ValueError(f"top_k must be a whole number >= 1, got {top_k!r}")
    if isinstance(bootstrap, bool) or int(bootstrap) != bootstrap or bootstrap < 0:
        raise ValueError(f"bootstrap must be a whole number >= 0, got {bootstrap!r}")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    if bootstrap and rows is None:
        raise ValueError("bootstrap needs rows")
    if isinstance(min_rank_n, bool) or int(min_rank_n) != min_rank_n or min_rank_n < 1:
        raise ValueError(f"min_rank_n must be a whole number >= 1, got {min_rank_n!r}")
    if (
        isinstance(variance_prior_df, bool)
        or not math.isfinite(variance_prior_df)
        or variance_prior_df < 0
    ):
        raise ValueError(f"variance_prior_df must be finite and >= 0, got {variance_prior_df!r}")
    row_arrays: dict[str, np.ndarray] = {}
    if rows is not None:
        for unit, r in rows.items():
            if unit not in aggregates:
                raise ValueError(f"rows given for unknown unit {unit!r}")
            # Values are checked once here; then a consistency check (respondents, answers per
            # element) rather than re-aggregating, which at a million rows would cost as much
            # as the scoring itself.
            arr = _check_answers(r, points)
            agg = aggregates[unit]
            answered = ~np.isnan(arr)
            if (
                arr.shape[1] != k
                or int(answered.any(axis=1).sum()) != agg.n
                or not np.array_equal(answered.sum(axis=0), agg.n_answers)
            ):
                raise ValueError(f"rows of unit {unit!r} do not match its aggregates")
            row_arrays[unit] = arr

    scored = [u for u, a in aggregates.items() if a.n > 0]
    unscored = tuple(u for u, a in aggregates.items() if a.n == 0)
    if not scored:
        raise ValueError("no unit has any respondent")
    all_estimates = {u: ikm(aggregates[u], scheme=scheme, small_n=small_n) for u in scored}
    # Units below min_rank_n are scored but take no part in any rank inference: the ranked
    # units' rank sets are exactly those of the wave without them (same seed).
    ranked = [u for u in scored if aggregates[u].n >= min_rank_n]
    small = [u for u in scored if aggregates[u].n < min_rank_n]
    estimates = [all_estimates[u] for u in ranked]
    values = np.array([e.ikm for e in estimates])
    se, df = stabilised_variances(
        np.array([e.se() for e in estimates]),
        np.array([e.n for e in estimates], dtype=np.float64),
        float(variance_prior_df),
    )
    p = len(ranked)
    tau = min(int(top_k), p)

    # Rank inference is the costliest step and NumPy releases the GIL in it, so it runs in a
    # worker thread while the intervals, funnel, shrinkage, alpha and Kruskal-Wallis are
    # computed here; the result does not depend on the order.
    if isinstance(rank_draws, bool) or int(rank_draws) != rank_draws or rank_draws < 0:
        raise ValueError(f"rank_draws must be a whole number >= 0, got {rank_draws!r}")
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = (
            pool.submit(
                rank_confidence_sets,
                values,
                se,
                confidence_level=confidence_level,
                draws=rank_draws,
                rng=seed,
                df=df,
            )
            if p and rank_draws
            else None
        )
        comparable = p >= 2 and bool(np.all(se > 0))
        shr = shrink(values, se, method=tau2_method) if comparable else None
        # Centred on the wave's one overall average (WaveScore.mean_ikm), not on the
        # precision-weighted mean, so the funnel and every summary show the same average; and
        # one tau^2 per wave: the funnel's additive limits use the shrinkage's.
        fun = (
            funnel(
                values,
                se,
                target=float(np.mean(values)),
                overdispersion=overdispersion,
                tau2=shr.tau2,
            )
            if shr is not None
            else None
        )
        pos95 = fun.position(0.95) if fun is not None else None
        pos998 = fun.position(0.998) if fun is not None else None
        shrunken = shr.shrunken() if shr is not None else np.full(p, np.nan)
        intervals = {
            unit: _unit_intervals(
                unit, est, row_arrays, bootstrap, confidence_level, seed, points, small_n, elements
            )
            for unit, est in all_estimates.items()
        }
        alpha, kruskal = _wave_tests(aggregates, row_arrays, scored, k)
        if pending is not None:
            ranks = pending.result()
        elif p:
            ranks = _whole_range_ranks(values, confidence_level)
        else:
            ranks = _no_ranks(confidence_level, rank_draws)
    top = ranks.tau_best(tau) if p else np.zeros(0, dtype=bool)
    bottom = ranks.tau_worst(tau) if p else np.zeros(0, dtype=bool)

    def elements_of(unit: str) -> tuple[ElementScore, ...]:
        est = all_estimates[unit]
        element_intervals = intervals[unit][1]
        if not elements:
            return ()
        return tuple(
            ElementScore(code, float(est.nrr[j]), int(est.n_answers[j]), element_intervals[j])
            for j, code in enumerate(codes)
        )

    results = []
    for i, (unit, est) in enumerate(zip(ranked, estimates, strict=True)):
        results.append(
            UnitScore(
                unit=unit,
                estimate=est,
                interval=intervals[unit][0],
                elements=elements_of(unit),
                se=float(se[i]),
                rank=int(ranks.rank[i]),
                rank_low=int(ranks.low[i]),
                rank_high=int(ranks.high[i]),
                # Type error ignored below: marginal ranks are set whenever marginal=True, which
                # this call passes.
                rank_marginal_low=int(ranks.marginal_low[i]),  # type: ignore[index]
                rank_marginal_high=int(ranks.marginal_high[i]),  # type: ignore[index]
                in_top_set=bool(top[i]),
                in_bottom_set=bool(bottom[i]),
                funnel_95=None if pos95 is None else str(pos95[i]),
                funnel_998=None if pos998 is None else str(pos998[i]),
                shrunken=float(shrunken[i]),
            )
        )
    unranked = tuple(
        UnitScore(
            unit=unit,
            estimate=all_estimates[unit],
            interval=intervals[unit][0],
            elements=elements_of(unit),
            se=float(all_estimates[unit].se()),
            rank=0,
            rank_low=0,
            rank_high=0,
            rank_marginal_low=0,
            rank_marginal_high=0,
            in_top_set=False,
            in_bottom_set=False,
            funnel_95=None,
            funnel_998=None,
            shrunken=float("nan"),
            ranked=False,
        )
        for unit in small
    )

    return WaveScore(
        units=tuple(results),
        unscored=unscored,
        scheme=scheme,
        confidence_level=float(confidence_level),
        top_k=tau,
        ranks=ranks,
        funnel=fun,
        shrinkage=shr,
        alpha=alpha,
        kruskal=kruskal,
        seed=int(seed),
        unranked=unranked,
        min_rank_n=int(min_rank_n),
        variance_prior_df=float(variance_prior_df),
    )


def _no_ranks(confidence_level: float, draws: int) -> RankResult:
    """The rank result of a wave where no unit reaches ``min_rank_n``: nothing ranked."""
    empty_int = np.zeros(0, dtype=np.int64)
    return RankResult(
        estimates=np.zeros(0),
        rank=empty_int,
        low=empty_int,
        high=empty_int,
        marginal_low=empty_int,
        marginal_high=empty_int,
        surely_better=np.zeros((0, 0), dtype=bool),
        confidence_level=float(confidence_level),
        draws=int(draws),
    )


def _whole_range_ranks(values: NDArray[np.float64], confidence_level: float) -> RankResult:
    """The rank result without rank inference (``rank_draws=0``): point ranks, and every
    confidence set the whole range 1..p (true, and saying nothing)."""
    p = values.size
    rank = 1 + (values[None, :] > values[:, None]).sum(axis=1).astype(np.int64)
    low, high = np.ones(p, dtype=np.int64), np.full(p, p, dtype=np.int64)
    return RankResult(
        estimates=values.copy(),
        rank=rank,
        low=low,
        high=high,
        marginal_low=low,
        marginal_high=high,
        surely_better=np.zeros((p, p), dtype=bool),
        confidence_level=float(confidence_level),
        draws=0,
    )

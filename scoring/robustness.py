"""How many stuffed ballots would change a published verdict: robustness of a scored wave.

For each unit of a scored wave (:class:`~scoring.units.WaveScore`), :func:`wave_robustness`
finds the smallest number of *extreme ballots* added to that unit alone (every element answered
with the scale's best value, or every one with its worst) that would

- change its category: up (best ballots) and down (worst ballots), separately;
- change its membership of the top-K confidence set and of the bottom-K set as
  :func:`~scoring.units.score_units` computes them: enter a set it is not in, or leave a set it
  is in (entering the top set or leaving the bottom set takes best ballots; the other two
  worst ballots).

A count above ``limit`` is reported as None ("none found within `limit`"); so is a change that
is impossible (the highest category cannot go up, and with K equal to the number of units every
unit is in both sets whatever the scores). With more than about 60 units
(:data:`SET_WORK_LIMIT`) the set counts are not computed (``sets_computed`` is False).

**Category: exact.** Each NRR after adding k ballots of value v is (S_j + k v) / (n_j + k),
which moves monotonically towards v, so the IKM does too; the smallest k is found by bisection
on exact fractions and the category is decided by the scheme's own comparison. With no missing
answers this is the closed form k = ceil(n (b - IKM) / (v - b)) for a bound b.

**Top-K and bottom-K sets: recomputed exactly, the same way.** Each count tried is scored as
:func:`~scoring.units.score_units` scores the wave: the unit's new IKM and standard error from
its merged aggregates, the pooled plug-in standard error where a unit's own is 0, t draws with
n - 1 degrees of freedom from the wave's seed, the same number of draws and the same step-down
(:func:`~scoring.ranks.rank_confidence_sets`, evaluated densely on the same draws, which the
tests check against it). The reported count k is verified: with k ballots the membership differs
from the published one, with k - 1 it does not. Where to look is chosen by a shortcut that only
guides the search: the critical value implied by the published sets, held fixed, with the unit's
standard error updated in closed form. Because the critical value is a Monte Carlo quantile
whose draws change with the unit's degrees of freedom, membership need not be monotone in k; in
rare borderline cases a smaller count might also change it, which is why the count is documented
as "the first verified change found", not as a bound; likewise None for a set means that the
search (the shortcut, then the counts it tried, always including `limit` itself) found no
change. The category counts have no such caveat: there None means no count up to `limit` changes
it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from .aggregates import Aggregates, merge_aggregates
from .distributions import norm_ppf
from .ikm import IKMResult, ikm
from .ranks import rank_confidence_sets
from .schemes import Scheme
from .units import WaveScore, stabilised_variances

__all__ = [
    "DEFAULT_LIMIT",
    "SET_WORK_LIMIT",
    "UnitRobustness",
    "WaveRobustness",
    "extreme_ballots",
    "wave_robustness",
]

DEFAULT_LIMIT = 500
"""Counts above this many ballots are reported as "none within the limit"."""

SET_WORK_LIMIT = 1_800_000
"""Draws x pairs of units above which the set counts are not computed.

Each count tried re-scores the rank sets of all units (2 or 3 counts for each of a unit's two
questions), so the cost grows with the cube of the number of units: 60 units at 1000 draws
(1.77 M) take a few seconds and are computed, 61 (1.83 M) are not; 500 would take hours.
Category counts are always computed."""

# Recompute the sets with rank_confidence_sets itself instead of the dense evaluation (the
# same result; the benchmark compares the two).
_USE_LIBRARY = False

Ballot = Literal["best", "worst"]


def extreme_ballots(count: int, k: int, value: int, scale_points: int) -> Aggregates:
    """Return the aggregates of `count` ballots answering every one of `k` elements `value`.

    Examples
    --------
    >>> extreme_ballots(3, 2, 4, 4).sums.tolist()
    [12, 12]
    """
    if isinstance(count, bool) or int(count) != count or count < 0:
        raise ValueError(f"count must be a whole number >= 0, got {count!r}")
    if not 1 <= value <= scale_points:
        raise ValueError(f"value must be in 1..{scale_points}, got {value!r}")
    ones = np.full((k, k), count, dtype=np.int64)
    counts = np.zeros((k, scale_points), dtype=np.int64)
    counts[:, value - 1] = count
    return Aggregates(
        n=count,
        n_answers=np.full(k, count, dtype=np.int64),
        n_both=ones,
        sums=np.full(k, count * value, dtype=np.int64),
        products=ones * value * value,
        pair_sums=ones * value,
        counts=counts,
    )


@dataclass(frozen=True)
class UnitRobustness:
    """How many extreme ballots added to one unit would change what is published about it.

    Every count is the smallest number of ballots found to make the change, or None when no
    count up to the limit does (or the change is impossible; see :meth:`up_possible`).

    Attributes
    ----------
    unit : str
        Unit id (the OPD slug).
    n : int
        Its respondents.
    category : str
        Its published category code.
    highest, lowest : bool
        The category is the scheme's highest / lowest (no change up / down is possible).
    category_up : int or None
        Best ballots that lift it into a higher category.
    category_down : int or None
        Worst ballots that drop it into a lower category.
    in_top_set, in_bottom_set : bool
        Published membership of the top-K / bottom-K confidence sets.
    top_change : int or None
        Ballots that change its top-set membership (best ballots to enter, worst to leave).
    bottom_change : int or None
        Ballots that change its bottom-set membership (worst ballots to enter, best to leave).
    """

    unit: str
    n: int
    category: str
    highest: bool
    lowest: bool
    category_up: int | None
    category_down: int | None
    in_top_set: bool
    in_bottom_set: bool
    top_change: int | None
    bottom_change: int | None

    def top_ballot(self) -> Ballot:
        """The ballots that change its top-set membership: best to enter, worst to leave."""
        return "worst" if self.in_top_set else "best"

    def bottom_ballot(self) -> Ballot:
        """The ballots that change its bottom-set membership: worst to enter, best to leave."""
        return "best" if self.in_bottom_set else "worst"

    def up_possible(self) -> bool:
        """Whether a higher category exists."""
        return not self.highest

    def down_possible(self) -> bool:
        """Whether a lower category exists."""
        return not self.lowest

    def fewest(self) -> int | None:
        """The smallest of its four counts (None when none changes within the limit)."""
        found = [
            c
            for c in (self.category_up, self.category_down, self.top_change, self.bottom_change)
            if c is not None
        ]
        return min(found) if found else None


@dataclass(frozen=True)
class WaveRobustness:
    """The robustness of every scored unit of a wave.

    Attributes
    ----------
    units : tuple of UnitRobustness
        In the order of the wave's units.
    top_k : int
        K of the top-K and bottom-K sets.
    limit : int
        Counts above this are reported as None.
    best, worst : int
        The answer values of the extreme ballots (the scale's ends).
    seed : int
        The wave's seed, reused for every recomputation of the rank sets.
    draws : int
        Draws of the rank critical values, as for the published sets.
    evaluations : int
        How many times the rank sets were recomputed (for benchmarks).
    sets_computed : bool
        Whether the set counts were computed (False above :data:`SET_WORK_LIMIT`: every
        ``top_change`` and ``bottom_change`` is then None without meaning "none found").
    """

    units: tuple[UnitRobustness, ...]
    top_k: int
    limit: int
    best: int
    worst: int
    seed: int
    draws: int
    evaluations: int
    sets_computed: bool = True

    def unit(self, unit_id: str) -> UnitRobustness:
        """Return one unit's robustness (KeyError if it was not scored)."""
        for u in self.units:
            if u.unit == unit_id:
                return u
        raise KeyError(unit_id)

    def most_fragile(self) -> tuple[UnitRobustness, ...]:
        """The units by their fewest ballots to any change (most fragile first; ties by id)."""
        return tuple(
            sorted(
                self.units,
                key=lambda u: (u.fewest() is None, u.fewest() or 0, u.unit),
            )
        )


# --- categories: exact ------------------------------------------------------------------------


def _ikm_after(agg: Aggregates, count: int, value: int) -> Fraction:
    """The exact IKM after adding `count` ballots answering every element `value`."""
    if count == 0:
        answered = agg.n_answers > 0
        nrrs = [
            Fraction(int(s), int(c))
            for s, c in zip(agg.sums[answered], agg.n_answers[answered], strict=True)
        ]
    else:
        nrrs = [
            Fraction(int(s) + count * value, int(c) + count)
            for s, c in zip(agg.sums, agg.n_answers, strict=True)
        ]
    return sum(nrrs, Fraction(0)) / len(nrrs)


def _category_index(scheme: Scheme, value: Fraction, scale_points: int = 4) -> int:
    """Index of the category of `value` on 1..scale_points (0 = highest)."""
    m = Fraction(scale_points)
    category = scheme.categorize(min(max(value, Fraction(1)), m), scale_points)
    return scheme.categories.index(category)


def _first(test: Callable[[int], bool], limit: int) -> int | None:
    """Smallest k in 1..limit with test(k), for a test that is monotone in k; else None."""
    if not test(limit):
        return None
    lo, hi = 0, limit  # test(lo) is False (or lo == 0), test(hi) is True
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if test(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _category_counts(
    agg: Aggregates, scheme: Scheme, best: int, worst: int, limit: int
) -> tuple[int, bool, bool, int | None, int | None]:
    m = agg.scale_points
    now = _category_index(scheme, _ikm_after(agg, 0, best), m)
    highest, lowest = now == 0, now == len(scheme.categories) - 1
    up = (
        None
        if highest
        else _first(lambda c: _category_index(scheme, _ikm_after(agg, c, best), m) < now, limit)
    )
    down = (
        None
        if lowest
        else _first(lambda c: _category_index(scheme, _ikm_after(agg, c, worst), m) > now, limit)
    )
    return now, highest, lowest, up, down


# --- rank sets: recomputed as score_units computes them --------------------------------------


def _dense_better(
    x: NDArray[np.float64],
    se: NDArray[np.float64],
    df: NDArray[np.float64],
    level: float,
    draws: int,
    seed: int,
) -> NDArray[np.bool_]:
    """``surely_better`` of :func:`rank_confidence_sets` (simultaneous), every pair at once.

    The same draws (same generator calls), the same standardised differences and the same
    quantile rule, without the bounds that make the library version fit hundreds of units.
    Each unordered pair is kept once, oriented so that a scores at least b: the direction
    (b, a) can never be rejected, so its value -T counts in every step, and only (a, b) can
    leave the maximum (T of (b, a) is exactly -T of (a, b): negation and the symmetric sigma
    are exact).
    """
    p = x.size
    var = se * se
    z = np.random.default_rng(seed).standard_t(df, size=(draws, p)) * np.sqrt(var)
    a, b = np.triu_indices(p, 1)
    swap = x[a] < x[b]
    a, b = np.where(swap, b, a), np.where(swap, a, b)
    diff = x[a] - x[b]
    sigma = np.sqrt(np.clip(var[a] + var[b], 0, None))
    better = np.zeros((p, p), dtype=bool)
    deterministic = sigma == 0
    better[a[deterministic & (diff > 0)], b[deterministic & (diff > 0)]] = True
    random = ~deterministic
    if not random.any():
        return better
    a, b, diff, sigma = a[random], b[random], diff[random], sigma[random]
    # Pairs by decreasing diff / sigma: each step rejects those with diff > sigma c, and c only
    # falls, so the pairs still active are (in exact arithmetic) a tail of this order and their
    # maximum is taken over a view, not a copy. The exact rule decides; a non-tail falls back.
    order = np.argsort(-(diff / sigma), kind="stable")
    a, b, diff, sigma = a[order], b[order], diff[order], sigma[order]
    zt = np.ascontiguousarray(z.T)  # pairs x draws: gathering whole rows is fast
    t = zt[a]
    t -= zt[b]
    t *= (1.0 / sigma)[:, None]
    always = -t.min(axis=0)
    ties = diff == 0  # neither direction can be rejected
    if ties.any():
        np.maximum(always, t[ties].max(axis=0), out=always)
    active = np.flatnonzero(~ties)
    while True:
        if active.size == 0:
            worst = always
        elif active[-1] - active[0] + 1 == active.size:
            worst = np.maximum(always, t[active[0] : active[-1] + 1].max(axis=0))
        else:
            worst = np.maximum(always, t[active].max(axis=0))
        c = float(np.quantile(worst, level))
        new = diff[active] - sigma[active] * c > 0
        if not new.any():
            break
        better[a[active[new]], b[active[new]]] = True
        active = active[~new]
    return better


class _Ranker:
    """Recomputes the top-K / bottom-K membership of one unit with ballots added to it."""

    def __init__(self, score: WaveScore, aggregates: Mapping[str, Aggregates], tau: int) -> None:
        self.score = score
        self.top = score.ranks.tau_best(tau)
        self.bottom = score.ranks.tau_worst(tau)
        self.aggregates = aggregates
        self.tau = tau
        self.estimates: list[IKMResult] = [u.estimate for u in score.units]
        self.x = np.array([e.ikm for e in self.estimates])
        self.own_se = np.array([e.se() for e in self.estimates])
        self.n = np.array([e.n for e in self.estimates], dtype=np.float64)
        # The ranked units' se and df exactly as score_units drew them (stabilised).
        self.se, self.df = stabilised_variances(self.own_se, self.n, score.variance_prior_df)
        self.level = score.confidence_level
        self.draws = score.ranks.draws
        self.p = len(self.estimates)
        self.computable = self.draws * self.p * (self.p - 1) // 2 <= SET_WORK_LIMIT
        self.evaluations = 0
        self.memo: dict[tuple[int, int, int], tuple[bool, bool]] = {}
        self.c_hat = self._implied_critical_value()

    def _implied_critical_value(self) -> float:
        """A critical value consistent with the published sets (only to guide the search)."""
        sigma = np.sqrt(self.se[:, None] ** 2 + self.se[None, :] ** 2)
        diff = self.x[:, None] - self.x[None, :]
        random = (sigma > 0) & (diff > 0)
        ratio = np.divide(diff, sigma, out=np.zeros_like(diff), where=random)
        better = np.asarray(self.score.ranks.surely_better)
        rejected = ratio[random & better]
        kept = ratio[random & ~better]
        low = float(kept.max()) if kept.size else 0.0
        high = float(rejected.min()) if rejected.size else math.inf
        pairs = max(self.p * (self.p - 1), 1)
        guess = float(norm_ppf(1 - (1 - self.level) / pairs))
        return min(max(guess, low), high)

    def membership(self, i: int, value: int, count: int) -> tuple[bool, bool]:
        """(in top set, in bottom set) of unit i after `count` ballots of `value`."""
        if count == 0:  # the published sets
            return bool(self.top[i]), bool(self.bottom[i])
        key = (i, value, count)
        if key in self.memo:
            return self.memo[key]
        unit = self.score.units[i]
        agg = self.aggregates[unit.unit]
        merged = merge_aggregates(agg, extreme_ballots(count, agg.k, value, agg.scale_points))
        est = ikm(merged, scheme=self.score.scheme, small_n=unit.estimate.small_n)
        x, own_se, n = self.x.copy(), self.own_se.copy(), self.n.copy()
        x[i], own_se[i], n[i] = est.ikm, est.se(), est.n
        se, df = stabilised_variances(own_se, n, self.score.variance_prior_df)
        self.evaluations += 1
        if not _USE_LIBRARY:
            better = _dense_better(x, se, df, self.level, self.draws, self.score.seed)
        else:
            better = np.asarray(
                rank_confidence_sets(
                    x,
                    se,
                    confidence_level=self.level,
                    draws=self.draws,
                    rng=self.score.seed,
                    df=df,
                    marginal=False,
                ).surely_better
            )
        above = int(better[:, i].sum())  # units surely better than i
        below = int(better[i, :].sum())  # units surely worse than i
        # tau_best: 1 + above <= K; tau_worst: p - below >= p - K + 1; i.e. fewer than K.
        result = (above < self.tau, below < self.tau)
        self.memo[key] = result
        return result

    def predicted(self, i: int, value: int, limit: int, which: int) -> int | None:
        """First count in 1..limit whose membership differs, with the critical value fixed.

        The unit's standard error is updated in closed form (respondent means, no missing
        answers); the other units keep theirs. Only a guide for :meth:`first_change`.
        """
        est = self.score.units[i].estimate
        n = est.n
        m = self.x[i]
        s2 = self.se[i] ** 2 * n  # variance of a respondent's mean score
        k = np.arange(1, limit + 1, dtype=np.float64)
        mean = (n * m + k * value) / (n + k)
        ss = (n - 1) * s2 + n * (m - mean) ** 2 + k * (value - mean) ** 2
        se_k = np.sqrt(ss / np.maximum(n + k - 1, 1) / (n + k))
        others = np.delete(np.arange(self.p), i)
        sigma = np.sqrt(se_k[:, None] ** 2 + self.se[others][None, :] ** 2)
        gap = self.x[others][None, :] - mean[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            above = np.where(sigma > 0, gap > sigma * self.c_hat, gap > 0).sum(axis=1)
            below = np.where(sigma > 0, -gap > sigma * self.c_hat, gap < 0).sum(axis=1)
        # In the top set: fewer than K units surely better; in the bottom set: surely worse.
        member = (above < self.tau) if which == 0 else (below < self.tau)
        published = self.membership(i, value, 0)[which]
        changed = np.flatnonzero(member != published)
        return int(changed[0]) + 1 if changed.size else None

    def first_change(self, i: int, value: int, limit: int, which: int) -> int | None:
        """A verified count k (k changes the membership, k - 1 does not), or None."""

        def changed(count: int) -> bool:
            return self.membership(i, value, count)[which] != self.membership(i, value, 0)[which]

        if self.tau >= self.p or not self.computable:
            return None  # every unit is in both sets whatever the scores, or too costly
        guess = self.predicted(i, value, limit, which)
        if guess is None:
            if not changed(limit):
                return None
            lo, hi = 0, limit
        elif changed(guess):
            if guess == 1 or not changed(guess - 1):
                return guess
            lo, hi = 0, guess - 1
        else:
            lo, hi = guess, guess
            while True:
                hi = min(2 * hi, limit)
                if changed(hi):
                    break
                if hi == limit:
                    return None
                lo = hi
        while hi - lo > 1:  # changed(hi) and not changed(lo): find a crossing between them
            mid = (lo + hi) // 2
            if changed(mid):
                hi = mid
            else:
                lo = mid
        return hi


def wave_robustness(
    score: WaveScore,
    aggregates: Mapping[str, Aggregates],
    *,
    top_k: int | None = None,
    limit: int = DEFAULT_LIMIT,
) -> WaveRobustness:
    """Count the extreme ballots that would change each unit's category and rank-set membership.

    Parameters
    ----------
    score : WaveScore
        The scored wave (:func:`~scoring.units.score_units`).
    aggregates : mapping of str to Aggregates
        The aggregates it was scored from (at least those of its scored units).
    top_k : int, optional
        K of the top-K and bottom-K sets (default the wave's own, ``score.top_k``; clamped to
        the number of units).
    limit : int, optional
        Largest count tried; larger counts are reported as None (default 500).

    Returns
    -------
    WaveRobustness

    Examples
    --------
    Ten respondents answering 3 to every element have IKM 3.00 (category C); one all-4 ballot
    gives (30 + 4) / 11 = 3.0909 >= 3.0644 (B), and one all-1 ballot (30 + 1) / 11 = 2.818 is
    still C while two give 32 / 12 = 2.667 and three 33 / 13 = 2.538 < 2.60 (D):

    >>> import numpy as np
    >>> from scoring import aggregate, score_units
    >>> aggs = {"a": aggregate(np.full((10, 9), 3)), "b": aggregate(np.full((12, 9), 2))}
    >>> res = wave_robustness(score_units(aggs, seed=0), aggs)
    >>> u = res.unit("a")
    >>> u.category, u.category_up, u.category_down
    ('C', 1, 3)
    """
    if not isinstance(score, WaveScore):
        raise TypeError(f"score must be a WaveScore, not {type(score).__name__}")
    if isinstance(limit, bool) or int(limit) != limit or limit < 1:
        raise ValueError(f"limit must be a whole number >= 1, got {limit!r}")
    missing = [u.unit for u in score.units if u.unit not in aggregates]
    if missing:
        raise ValueError(f"aggregates lack the scored units {', '.join(missing)}")
    p = len(score.units)
    k = score.top_k if top_k is None else top_k
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"top_k must be a whole number >= 1, got {top_k!r}")
    tau = min(int(k), p)
    limit = int(limit)
    first = aggregates[score.units[0].unit]
    best, worst = first.scale_points, 1
    ranker = _Ranker(score, aggregates, tau)
    top, bottom = ranker.top, ranker.bottom
    results = []
    for i, unit in enumerate(score.units):
        agg = aggregates[unit.unit]
        now, highest, lowest, up, down = _category_counts(agg, score.scheme, best, worst, limit)
        in_top, in_bottom = bool(top[i]), bool(bottom[i])
        results.append(
            UnitRobustness(
                unit=unit.unit,
                n=unit.n,
                category=score.scheme.categories[now].code,
                highest=highest,
                lowest=lowest,
                category_up=up,
                category_down=down,
                in_top_set=in_top,
                in_bottom_set=in_bottom,
                top_change=ranker.first_change(i, worst if in_top else best, limit, 0),
                bottom_change=ranker.first_change(i, best if in_bottom else worst, limit, 1),
            )
        )
    return WaveRobustness(
        units=tuple(results),
        top_k=tau,
        limit=limit,
        best=best,
        worst=worst,
        seed=score.seed,
        draws=score.ranks.draws,
        evaluations=ranker.evaluations,
        sets_computed=ranker.computable or tau >= p,
    )

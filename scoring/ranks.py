"""Confidence sets for ranks, after Mogstad, Romano, Shaikh & Wilhelm (2024).

Reference: "Inference for Ranks with Applications to Mobility across Neighbourhoods and Academic
Achievement across Countries", Review of Economic Studies 91(1), doi:10.1093/restud/rdad006,
and its R package ``csranks`` (functions ``csranks``, ``cstaubest``, ``cstauworst``), whose
procedure this module follows:

1. For every ordered pair (i, j) of units, the difference x_i - x_j and its standard error
   sigma_ij = sqrt(Sigma_ii + Sigma_jj - 2 Sigma_ij).
2. Draw Z ~ N(0, Sigma) R times. The critical value is the ``confidence_level`` quantile
   (numpy's default "linear" rule, R's type 7) over the draws of the maximum over the active
   ordered pairs of (Z_i - Z_j) / sigma_ij. Taking ordered pairs, i.e. both signs, makes the
   two-sided family; ``csranks`` does the same when it steps down.
3. Pair (i, j) is rejected ("i is surely better than j") when x_i - x_j - sigma_ij c > 0.
   Step down: remove rejected pairs from the active set, recompute c, repeat until nothing new
   is rejected.
4. Unit i's rank interval (rank 1 = highest score) is
   [1 + #{j surely better than i}, p - #{j surely worse than i}].

*Simultaneous* sets run steps 2-3 on all ordered pairs and cover all true ranks at once;
*marginal* sets run them, for each unit i separately, on the pairs involving i. The tau-best
set is {i : simultaneous lower rank bound <= tau} and the tau-worst set {i : simultaneous upper
bound >= p - tau + 1}: ``cstaubest`` uses the one-sided (lower) simultaneous set, whose family
of hypotheses over all units is the same set of ordered pairs with the same statistics, so its
lower bounds equal the two-sided ones given the same draws (the tests check this against a
literal one-sided implementation).

Deliberate differences from ``csranks``: the same R draws are reused at every step (common
random numbers, so the critical value can only fall as pairs are removed); a pair whose
difference has standard error exactly 0 is decided without error (ordered if the estimates
differ) and left out of the maximum; and, optionally (``df``), the draws are t rather than
normal, for standard errors estimated from few respondents.

Scale: with 500 units there are 249,500 ordered pairs, too many to evaluate for each of
10,000 draws at every step (and for every unit's marginal family). Partners are grouped by
variance and estimate, and a unit's maximum in a draw is bounded above group by group ((Z_i -
min of the group's Z) times the group's largest 1/sigma_ij); the simultaneous maximum of a
draw is bounded by pairs of groups. The quantile needs only the two order statistics it
interpolates, so only draws whose bound can reach them, and within a draw only units of
groups whose bound exceeds the draw's best value so far and whose own bound does too, are
evaluated exactly. Marginal families are
done a few units at a time (by two threads beside the simultaneous family); each unit's
bounds start from coarse groups (one per variance bin) over all draws, and its draws are
taken in decreasing order of that bound only as far as the quantile may need them, refined
with all groups, then evaluated. Families only shrink as the steps go down, so every bound
and every earlier exact maximum stays an upper bound, and a marginal maximum whose attaining
partner is still in the family is known without evaluation. With independent units that
all vary (``se`` > 0, no ``cov``), a unit's maximum over its whole family (its marginal
family until a pair is rejected) needs only the partners on the draw's two fronts (with the
units in order of variance, those whose Z is below, or above, every earlier unit's: about 11
of 500 units each, with standard errors from 0.03 to 0.08): those draws are evaluated from
the fronts, without refining their bounds first (``_Pairs.front_entries`` says why that is
exact); and the simultaneous family's first step takes every draw's maximum from the pairs
of a unit of the upper front and one of the lower, without bounds. Once pairs are rejected,
a unit's bounds are refined with the draw's few units of lowest and of highest Z (its
``extremes``), which give most maxima exactly (``_Pairs.extreme_bounds``); the others are
evaluated over the whole row. The result is the same as evaluating every pair (the tests
compare with a plain loop over all pairs).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["RankResult", "rank_confidence_sets"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

# Exact evaluations are done for at most this many (draw, unit) values at a time.
_CHUNK_ELEMENTS = 262_144
# Exact maxima are computed over blocks of at most this many (draw, partner) values.
_EXACT_ELEMENTS = 65_536
# Partners are grouped (by variance, then by estimate) for the upper bounds: more groups give
# tighter bounds at a cost of one (draws x units) pass each.
_GROUPS_BY_VARIANCE = 8
_GROUPS_BY_ESTIMATE = 8
# The upper bounds are computed over blocks of at most this many (draw, unit) values.
_BLOCK_ELEMENTS = 16_384
# The marginal families are done in chunks of units with at most this many (unit, draw) bounds.
_MARGINAL_ELEMENTS = 250_000
# The draws' fronts are used unless one has more than this many units (or p / 8).
_LONGEST_FRONT = 64
# The first exact evaluations take the top + top // _FIRST_MARGIN highest bounds per column.
_FIRST_MARGIN = 4
# Per draw, this many units of lowest and of highest Z serve exact maxima of reduced families
# (``_Pairs.extreme_bounds``): at least _EXTREMES, and one per _UNITS_PER_EXTREME units (more
# units have standard errors further apart, whose bounds need more extremes; 500 OPDs' marginal
# sets took least time with 4, 2,000 and 5,000 OPDs' about a third less with 16 and 40 than 4).
_EXTREMES = 4
_UNITS_PER_EXTREME = 128


def _extreme_count(p: int) -> int:
    """How many extreme units per draw and side serve p units."""
    return max(_EXTREMES, p // _UNITS_PER_EXTREME)


@dataclass(frozen=True, eq=False)
class RankResult:
    """Ranks with their simultaneous and marginal confidence sets.

    Attributes
    ----------
    estimates : ndarray of float, shape (p,)
    rank : ndarray of int, shape (p,)
        Estimated rank: 1 + number of units with a strictly higher estimate (ties share the
        best rank).
    low, high : ndarray of int, shape (p,)
        Simultaneous confidence set for each rank: all true ranks lie in their sets with
        probability about ``confidence_level``.
    marginal_low, marginal_high : ndarray of int, shape (p,)
        Marginal confidence set of each unit's rank, or None if not computed.
    surely_better : ndarray of bool, shape (p, p)
        ``surely_better[i, j]``: the simultaneous procedure concluded that unit i scores
        higher than unit j.
    confidence_level : float
    draws : int
    """

    estimates: FloatArray
    rank: IntArray
    low: IntArray
    high: IntArray
    marginal_low: IntArray | None
    marginal_high: IntArray | None
    surely_better: BoolArray
    confidence_level: float
    draws: int

    def tau_best(self, tau: int) -> BoolArray:
        """Return the confidence set for the tau best units (the honest "top tau").

        With probability about ``confidence_level`` it contains every unit whose true rank is
        at most `tau`. It is {i : low_i <= tau}, as ``csranks::cstaubest``.

        Examples
        --------
        >>> res = rank_confidence_sets([3.5, 3.4, 2.0, 1.5], [0.05, 0.05, 0.05, 0.05], rng=0)
        >>> res.tau_best(1).tolist()
        [True, True, False, False]
        """
        tau = self._check_tau(tau)
        return self.low <= tau

    def tau_worst(self, tau: int) -> BoolArray:
        """Return the confidence set for the tau worst units (the honest "bottom tau").

        {i : high_i >= p - tau + 1}, as ``csranks::cstauworst``.
        """
        tau = self._check_tau(tau)
        return self.high >= len(self.estimates) - tau + 1

    def _check_tau(self, tau: int) -> int:
        p = len(self.estimates)
        if isinstance(tau, bool) or int(tau) != tau or not 1 <= tau <= p:
            raise ValueError(f"tau must be a whole number in 1..{p}, got {tau!r}")
        return int(tau)


def _check_inputs(
    estimates: ArrayLike, se: ArrayLike | None, cov: ArrayLike | None
) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    x = np.array(estimates, dtype=np.float64)  # a copy: it is frozen into the result
    if x.ndim != 1 or x.size < 1:
        raise ValueError(f"estimates must be a non-empty 1-D array, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"estimates must be finite, got {float(x[~np.isfinite(x)][0])}")
    if (se is None) == (cov is None):
        raise ValueError("give exactly one of se (independent units) or cov")
    p = x.size
    if se is not None:
        s = np.asarray(se, dtype=np.float64)
        if s.shape != (p,):
            raise ValueError(f"se has shape {s.shape}, expected ({p},) like estimates")
        bad = ~np.isfinite(s) | (s < 0)
        if bad.any():
            raise ValueError(
                f"se must be finite and >= 0, got se[{np.argmax(bad)}] = {float(s[bad][0])}"
            )
        with np.errstate(over="ignore"):
            huge = ~np.isfinite(2 * s * s)  # a pair's variance would overflow (NaN sets)
        if huge.any():
            raise ValueError(
                f"se is too large to rank with, got se[{np.argmax(huge)}] = {float(s[huge][0]):g}"
            )
        return x, s * s, None
    c = np.asarray(cov, dtype=np.float64)
    if c.shape != (p, p):
        raise ValueError(f"cov has shape {c.shape}, expected ({p}, {p})")
    if not np.all(np.isfinite(c)):
        raise ValueError("cov must be finite")
    if not np.allclose(c, c.T, rtol=1e-10, atol=1e-14):
        raise ValueError("cov must be symmetric")
    eig = np.linalg.eigvalsh(c)
    if eig[0] < -1e-10 * max(1.0, abs(eig[-1])):
        raise ValueError(
            f"cov must be positive semi-definite (smallest eigenvalue {float(eig[0]):g})"
        )
    return x, np.diag(c).copy(), c


def _draw(
    rng: np.random.Generator,
    draws: int,
    var: FloatArray,
    cov: FloatArray | None,
    df: FloatArray | None,
) -> FloatArray:
    if df is not None:
        z = rng.standard_t(df, size=(draws, var.size))
        z *= np.sqrt(var)  # in place: the same products, no second (draws x p) array
        return z
    z = rng.standard_normal((draws, var.size))
    if cov is None:
        z *= np.sqrt(var)
        return z
    # Symmetric square root: works for singular (semi-definite) matrices too.
    vals, vecs = np.linalg.eigh(cov)
    root = vecs * np.sqrt(np.clip(vals, 0, None))
    return z @ root.T


def _rows_per_block(p: int) -> int:
    """Rows of a (rows x p) array taken at a time: about ``_CHUNK_ELEMENTS`` elements. The
    drawing thread and the readers of the draws use the same blocks, so each reader's wait
    ends as soon as the block it needs is made."""
    return max(1, _CHUNK_ELEMENTS // max(1, p))


class _Draws:
    """The draws of :func:`_draw`, made block by block by a thread of their own, so that the
    work on the first blocks (``_Pairs``: group extremes, fronts, extremes) runs while the
    next are drawn; ``ready(b)`` waits until rows ``0..b-1`` are there.

    The numbers are those of one call: NumPy's generators fill an array in C order, one
    value after another (a test checks it), and the scaling by the standard errors is
    elementwise. With a full covariance the draws are made at once (the square root mixes
    the columns of every row; nothing waits).
    """

    def __init__(
        self,
        rng: np.random.Generator,
        draws: int,
        var: FloatArray,
        cov: FloatArray | None,
        df: FloatArray | None,
    ) -> None:
        self.step = _rows_per_block(var.size)
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if cov is not None:
            self.z = _draw(rng, draws, var, cov, df)
            self.done = draws
            return
        self.z = np.empty((draws, var.size))
        self.done = 0
        self._changed = threading.Condition()
        self._thread = threading.Thread(
            target=self._fill, args=(rng, var, df), name="rank-draws", daemon=True
        )
        self._thread.start()

    def _fill(self, rng: np.random.Generator, var: FloatArray, df: FloatArray | None) -> None:
        """Draw the rows in blocks of ``step`` (NumPy releases the GIL while it draws)."""
        scale = np.sqrt(var)
        draws = self.z.shape[0]
        try:
            for a in range(0, draws, self.step):
                block = self.z[a : a + self.step]
                if df is not None:
                    block[...] = rng.standard_t(df, size=block.shape)
                else:
                    rng.standard_normal(out=block)
                block *= scale
                with self._changed:
                    self.done = a + block.shape[0]
                    self._changed.notify_all()
        except BaseException as exc:  # handed to the readers, which raise it
            with self._changed:
                self._error = exc
                self._changed.notify_all()

    def ready(self, rows: int) -> None:
        """Wait until the first `rows` rows are drawn (raise what stopped the drawing)."""
        if self.done < rows:
            with self._changed:
                self._changed.wait_for(lambda: self.done >= rows or self._error is not None)
        if self.done < rows:
            raise RuntimeError("the rank draws failed") from self._error

    def finish(self) -> None:
        """Wait for every row and for the drawing thread (the generator is then free)."""
        if self._thread is not None:
            self.ready(self.z.shape[0])
            self._thread.join()


class _Front:
    """One side of the draws' fronts (see ``_Pairs.front_entries``). With the units in
    increasing order of variance (ties by index), a draw's lower front is the units whose Z
    is below every earlier unit's, its upper front those whose Z is above. ``front[r]``
    lists draw r's front (in that order), then pads (its first unit, the one of lowest
    variance, which is on every front); ``n_front[r]`` counts it; ``front_z`` and
    ``front_var`` hold the listed units' Z and variances.
    """

    def __init__(
        self, on_front: BoolArray, z: FloatArray, var: FloatArray, order: IntArray
    ) -> None:
        """From ``on_front[k, r]``: the k-th unit in the order of variance is on draw r's
        front (see ``_fronts``)."""
        draws = z.shape[0]
        pos, r = np.nonzero(on_front)
        by_draw = np.argsort(r, kind="stable")  # then in the order of variance
        pos, r = pos[by_draw], r[by_draw]
        self.n_front = np.bincount(r, minlength=draws)
        start = np.cumsum(self.n_front) - self.n_front
        self.front = np.full((draws, int(self.n_front.max())), order[0], dtype=np.intp)
        self.front[r, np.arange(r.size) - start[r]] = order[pos]
        self.front_z = np.take_along_axis(z, self.front, axis=1)
        self.front_var = var[self.front]


def _fronts(
    z: FloatArray, var: FloatArray, ready: Callable[[int], None] = lambda rows: None
) -> tuple[_Front, _Front] | None:
    """The draws' lower and upper fronts (see ``_Front``), or None if some front is long.

    Fronts are short (about 11 of 500 units with standard errors from 0.03 to 0.08) unless
    the variances are far apart: with each unit's far above the earlier ones', about half
    the units are on each front, and the padded lists (draws x longest front) would cost
    more memory and time than they save. ``ready(b)`` waits for the draws' rows up to b.
    """
    draws, p = z.shape
    order = np.argsort(var, kind="stable")
    lower = np.empty((p, draws), dtype=bool)  # by position in the order, then draw
    upper = np.empty((p, draws), dtype=bool)
    step = _rows_per_block(p)
    for a in range(0, draws, step):
        ready(min(draws, a + step))
        zs = np.ascontiguousarray(z[a : a + step, order].T)  # units x draws
        b = a + zs.shape[1]
        # On the front: below (above) the lowest (highest) Z of the earlier units.
        extreme = np.minimum.accumulate(zs, axis=0)
        lower[0, a:b] = True
        np.less(zs[1:], extreme[:-1], out=lower[1:, a:b])
        np.maximum.accumulate(zs, axis=0, out=extreme)
        upper[0, a:b] = True
        np.greater(zs[1:], extreme[:-1], out=upper[1:, a:b])
    longest = max(int(lower.sum(axis=0).max()), int(upper.sum(axis=0).max()))
    if longest > max(_LONGEST_FRONT, p // 8):
        return None
    return _Front(lower, z, var, order), _Front(upper, z, var, order)


@dataclass(frozen=True)
class _Extremes:
    """What ``_extremes`` keeps per draw (see there)."""

    low: IntArray
    low_z: FloatArray
    low_next: FloatArray
    high: IntArray
    high_z: FloatArray
    high_next: FloatArray


def _extremes(z: FloatArray, ready: Callable[[int], None] = lambda rows: None) -> _Extremes:
    """Per draw, the ``_extreme_count(p)`` units of lowest Z (in no order), their Z and the
    next lowest Z, and as many units of highest Z, their Z and the next highest Z (``ready``
    as for ``_fronts``). The units' Z are kept beside them: read from the whole draws, they
    were the slowest part of ``_Pairs.extreme_bounds`` at 5,000 units (scattered reads)."""
    draws, p = z.shape
    k = _extreme_count(p)
    low = np.empty((draws, k), dtype=np.intp)
    high = np.empty((draws, k), dtype=np.intp)
    low_z = np.empty((draws, k))
    high_z = np.empty((draws, k))
    low_next = np.empty(draws)
    high_next = np.empty(draws)
    step = _rows_per_block(p)
    for a in range(0, draws, step):
        ready(min(draws, a + step))
        block = z[a : a + step]
        idx = np.argpartition(block, (k, p - 1 - k), axis=1)
        low[a : a + step] = idx[:, :k]
        high[a : a + step] = idx[:, p - k :]
        low_z[a : a + step] = np.take_along_axis(block, idx[:, :k], axis=1)
        high_z[a : a + step] = np.take_along_axis(block, idx[:, p - k :], axis=1)
        rows = np.arange(block.shape[0])
        low_next[a : a + step] = block[rows, idx[:, k]]
        high_next[a : a + step] = block[rows, idx[:, p - 1 - k]]
    return _Extremes(low, low_z, low_next, high, high_z, high_next)


class _Pairs:
    """Pairwise quantities and the exact or bounded maxima of standardised draw differences.

    For draw r and units i, j let T_rij = (Z_ri - Z_rj) / sigma_ij. A "family" is given by two
    boolean (p, p) masks: pos[i, j] says T_rij counts towards unit i's maximum, neg[i, j] says
    -T_rij (= T_rji) does. The simultaneous family uses pos = active pairs, neg = None; unit
    i's marginal family uses pos = its active pairs (i, j) and neg = its active pairs (j, i).
    """

    def __init__(
        self,
        x: FloatArray,
        var: FloatArray,
        cov: FloatArray | None,
        z: FloatArray,
        ready: Callable[[int], None] = lambda rows: None,
    ) -> None:
        """``ready(b)`` waits until rows 0..b-1 of `z` are drawn (see ``_Draws``): only the
        per-draw work below reads them, in blocks, so it follows the drawing."""
        p = x.size
        self.p = p
        self.z = z
        self.diff = x[:, None] - x[None, :]
        pair_var = var[:, None] + var[None, :]
        if cov is not None:
            pair_var = pair_var - 2 * cov
        self.sigma = np.sqrt(np.clip(pair_var, 0, None))
        off = ~np.eye(p, dtype=bool)
        self.deterministic = off & (self.sigma == 0)
        self.random = off & ~self.deterministic
        self.inv = np.zeros((p, p))
        np.divide(1.0, self.sigma, out=self.inv, where=self.random)
        # The fronts serve exact maxima over whole families (``front_entries``): only for
        # independent units that all vary (then every pair is in the family, with sigma_ij
        # = sqrt(var_i + var_j)). Built by a second thread while this one does the groups
        # (NumPy releases the GIL in its array loops).
        self.fronts: tuple[_Front, _Front] | None = None
        # The draws' extreme units (see ``extreme_bounds``), if there are more units than that:
        # built by a third thread.
        self.extremes: _Extremes | None = None
        with_fronts = cov is None and p >= 2 and bool(np.all(var > 0))
        with_extremes = p > 2 * _extreme_count(p) + 2
        helper = ThreadPoolExecutor(max_workers=2) if with_fronts or with_extremes else None
        fronts = helper.submit(_fronts, z, var, ready) if helper and with_fronts else None
        extremes = helper.submit(_extremes, z, ready) if helper and with_extremes else None
        self.var = var
        # Upper bounds: groups of similar variance and estimate; per draw, each group's
        # extreme Z bounds every difference with a member of the group.
        var_bin = np.minimum(
            np.argsort(np.argsort(var, kind="stable")) * _GROUPS_BY_VARIANCE // p,
            _GROUPS_BY_VARIANCE - 1,
        )
        self.perm = np.lexsort((x, var_bin))
        n_groups = min(p, _GROUPS_BY_VARIANCE * _GROUPS_BY_ESTIMATE)
        self.starts = np.unique(np.linspace(0, p, n_groups + 1).astype(np.intp)[:-1])
        # Each group's members (padded with repeats of the last one), and which are not pads.
        sizes = np.diff(np.append(self.starts, p))
        offsets = np.arange(int(sizes.max()))
        self.members = self.perm[self.starts[:, None] + np.minimum(offsets, sizes[:, None] - 1)]
        self.member_valid = offsets < sizes[:, None]
        self.group = np.empty(p, dtype=np.intp)
        self.group[self.perm] = np.repeat(
            np.arange(self.starts.size), np.diff(np.append(self.starts, p))
        )
        # Group extremes per draw, in blocks of draws (no full permuted copy of z).
        self.zmin = np.empty((z.shape[0], self.starts.size))
        self.zmax = np.empty((z.shape[0], self.starts.size))
        step = _rows_per_block(p)
        for a in range(0, z.shape[0], step):
            ready(min(z.shape[0], a + step))
            zp = z[a : a + step, self.perm]
            self.zmin[a : a + step] = np.minimum.reduceat(zp, self.starts, axis=1)
            self.zmax[a : a + step] = np.maximum.reduceat(zp, self.starts, axis=1)
        # Coarse groups (unions of consecutive groups, about one per two variance bins) for a
        # first, cheap bound over all draws (four rather than eight: 5% less time for the
        # marginal sets of 500 OPDs with close standard errors, the same with far ones).
        self.coarse = np.arange(0, self.starts.size, 2 * _GROUPS_BY_ESTIMATE)
        self.zmin_coarse = np.minimum.reduceat(self.zmin, self.coarse, axis=1)
        self.zmax_coarse = np.maximum.reduceat(self.zmax, self.coarse, axis=1)
        if helper is not None:
            try:
                self.fronts = None if fronts is None else fronts.result()
                self.extremes = None if extremes is None else extremes.result()
            finally:
                helper.shutdown()

    def front_entries(self, r: IntArray, u: IntArray) -> tuple[FloatArray, IntArray]:
        """Exact maxima of unit u[k]'s whole family (every other unit, both signs) at draw
        r[k], and the attaining partners (codes as ``exact``); only if ``self.fronts``.

        With sigma_ij = sqrt(var_i + var_j), if Z_d <= Z_j and var_d <= var_j then T_id >=
        T_ij whenever T_ij >= 0: the subtraction, sum, square root, division and product
        are all monotone in floating point. Unit i's maximum over both signs is >= 0, and
        its positive side is attained on the lower front (see ``_Front``): a unit j with
        T_ij > 0 (Z_j < Z_i) is either on the front or has an earlier unit d (lower
        variance) with Z_d <= Z_j < Z_i, so d != i and T_id >= T_ij; following such units
        ends on the front. The negative side likewise with the upper front. Unit i itself,
        if on a front, gives 0, which changes nothing; a maximum of 0 (every Z equal) is
        redone with ``exact``.
        """
        assert self.fronts is not None
        best = np.full(r.size, -np.inf)
        code = np.zeros(r.size, dtype=np.int64)
        z_i = self.z[r, u]
        var_i = self.var[u]
        for side, sign in zip(self.fronts, (1, -1), strict=True):
            # Entries of similar width together (each block is as wide as its widest);
            # sorted as 16-bit keys, which numpy sorts by radix.
            width = side.n_front[r]
            key = int(width.max(initial=0)) - width
            if key.size and int(key.max()) < 2**16:
                key = key.astype(np.uint16)
            order = np.argsort(key, kind="stable")
            a = 0
            while a < order.size:
                w = int(width[order[a]])
                e = order[a : a + max(1, _EXACT_ELEMENTS // w)]
                a += e.size
                rr = r[e]
                t = side.front_z[rr, :w]
                if sign > 0:
                    np.subtract(z_i[e, None], t, out=t)
                else:
                    t -= z_i[e, None]
                # 1 / sigma_ij as in __init__, bit for bit (IEEE square roots and divisions
                # are correctly rounded).
                inv = side.front_var[rr, :w]
                inv += var_i[e, None]
                np.sqrt(inv, out=inv)
                np.divide(1.0, inv, out=inv)
                t *= inv
                arg = t.argmax(axis=1)
                v = t[np.arange(e.size), arg]
                new = v > best[e]
                best[e[new]] = v[new]
                code[e[new]] = sign * (side.front[rr[new], arg[new]] + 1)
        redo = np.flatnonzero(best <= 0)
        if redo.size:
            partner = np.empty(redo.size, dtype=np.int64)
            best[redo] = self.exact(r[redo], u[redo], self.random, self.random, partner)
            code[redo] = partner
        return best, code

    def front_draw_maxima(self) -> FloatArray:
        """Each draw's maximum over all ordered pairs, from the fronts; only if
        ``self.fronts``.

        As in ``front_entries``: a pair (i, j) with T_ij > 0 (Z_i > Z_j) is dominated by (i,
        d) with d on the lower front (Z_d <= Z_j, so d != i), and that by (e, d) with e on
        the upper front (Z_e >= Z_i > Z_d); pairs of a unit with itself give 0. A maximum
        of 0 (every Z equal) is left as 0 (the caller then bounds instead).
        """
        assert self.fronts is not None
        low, high = self.fronts
        best = np.zeros(self.z.shape[0])
        t = np.empty(low.front_z.shape)
        inv = np.empty_like(t)
        for k in range(high.front.shape[1]):
            np.subtract(high.front_z[:, k, None], low.front_z, out=t)
            # 1 / sigma_ij as in __init__, bit for bit.
            np.add(high.front_var[:, k, None], low.front_var, out=inv)
            np.sqrt(inv, out=inv)
            np.divide(1.0, inv, out=inv)
            t *= inv
            np.maximum(best, t.max(axis=1), out=best)
        return best

    def _group_maxinv(self, mask: BoolArray, units: IntArray) -> FloatArray:
        """out[k, g]: the largest 1/sigma of unit units[k]'s pairs in `mask` with group g (0
        if none), a block of units at a time (no (units x p) temporaries)."""
        out = np.empty((units.size, self.starts.size))
        step = _rows_per_block(self.p)
        for a in range(0, units.size, step):
            block = units[a : a + step]
            masked = np.where(mask[block], self.inv[block], 0.0)[:, self.perm]
            np.maximum.reduceat(masked, self.starts, axis=1, out=out[a : a + step])
        return out

    def upper(
        self,
        pos: BoolArray,
        neg: BoolArray | None,
        units: IntArray,
        rows: IntArray | None = None,
        coarse: bool = False,
        by_unit: bool = False,
    ) -> FloatArray:
        """Upper bounds (rows x len(units)) of the units' maxima over their families.

        All draws, or only the draws `rows`; with the coarse groups if `coarse`; transposed
        (len(units) x rows, C-contiguous) if `by_unit`. The draws are taken in blocks small
        enough to stay in the processor's cache during the pass over the groups.
        """
        n_rows = self.z.shape[0] if rows is None else rows.size
        lo, hi = (self.zmin_coarse, self.zmax_coarse) if coarse else (self.zmin, self.zmax)
        sides = [(pos, 1.0, lo)]
        if neg is not None:
            sides.append((neg, -1.0, hi))
        maxinvs = []
        for mask, _, _ in sides:
            maxinv = self._group_maxinv(mask, units)
            if coarse:
                maxinv = np.maximum.reduceat(maxinv, self.coarse, axis=1)
            maxinvs.append(maxinv.T.copy())
        step = max(1, _BLOCK_ELEMENTS // max(1, units.size))
        if by_unit:
            bound = np.empty((units.size, n_rows))
            block = np.empty((min(step, n_rows), units.size))
        else:
            bound = np.empty((n_rows, units.size))
        gap = np.empty((min(step, n_rows), units.size))
        for a in range(0, n_rows, step):
            b = min(n_rows, a + step)
            # Only the units' columns (all of each row when the rows are scattered).
            rr = np.arange(a, b) if rows is None else rows[a:b]
            z = self.z[a:b, units] if rows is None else self.z[rr][:, units]
            out = block[: b - a] if by_unit else bound[a:b]
            out.fill(0.0)
            g_buf = gap[: b - a]
            for (_, sign, extreme), maxinv in zip(sides, maxinvs, strict=True):
                ext = extreme[rr]
                for g in range(ext.shape[1]):
                    # sign * (z_i - z_j) <= sign * (z_i - extreme_g), times any
                    # 1/sigma_ij <= maxinv; negative products never exceed the start, 0.
                    if sign > 0:
                        np.subtract(z, ext[:, g : g + 1], out=g_buf)
                    else:
                        np.subtract(ext[:, g : g + 1], z, out=g_buf)
                    g_buf *= maxinv[g]
                    np.maximum(out, g_buf, out=out)
            if by_unit:
                bound[:, a:b] = out.T
        has = pos[units].any(axis=1)
        if neg is not None:
            has |= neg[units].any(axis=1)
        if by_unit:
            bound[~has] = -np.inf
        else:
            bound[:, ~has] = -np.inf
        return bound

    def upper_entries(
        self, pos: BoolArray, neg: BoolArray | None, u: IntArray, r: IntArray
    ) -> FloatArray:
        """Upper bounds, as ``upper``, of unit u[k]'s maximum at draw r[k], for each k."""
        units, which = np.unique(u, return_inverse=True)
        sides = [(self._group_maxinv(pos, units), 1.0, self.zmin)]
        if neg is not None:
            sides.append((self._group_maxinv(neg, units), -1.0, self.zmax))
        out = np.zeros(u.size)
        step = max(1, _BLOCK_ELEMENTS // self.starts.size)
        t = np.empty((min(step, u.size), self.starts.size))
        m = np.empty_like(t)
        for a in range(0, u.size, step):
            kk, rr = which[a : a + step], r[a : a + step]
            zi = self.z[rr, u[a : a + step], None]
            t_b, m_b, out_b = t[: rr.size], m[: rr.size], out[a : a + step]
            for maxinv, sign, extreme in sides:
                np.take(extreme, rr, axis=0, out=t_b, mode="clip")  # rr is in range
                if sign > 0:
                    np.subtract(zi, t_b, out=t_b)
                else:
                    np.subtract(t_b, zi, out=t_b)
                np.take(maxinv, kk, axis=0, out=m_b, mode="clip")
                t_b *= m_b
                np.maximum(out_b, t_b.max(axis=1), out=out_b)
        has = np.asarray(pos[units].any(axis=1))
        if neg is not None:
            has |= neg[units].any(axis=1)
        out[~has[which]] = -np.inf
        return out

    def group_pair_maxinv(self, active: BoolArray) -> FloatArray:
        """m[G, g]: the largest 1/sigma_ij of the active pairs with i in group G, j in g."""
        maxinv = self._group_maxinv(active, self.perm)  # rows in group order
        return np.maximum.reduceat(maxinv, self.starts, axis=0)

    def group_upper(self, m: FloatArray, rows: slice | IntArray) -> FloatArray:
        """Upper bounds (groups G x draws `rows`) of the maximum over the active pairs (i, j)
        with i in G, given m = ``group_pair_maxinv(active)``: (zmax_G - zmin_g) * m[G, g]
        over the groups g (at least 0). Few enough rows to stay in the processor's cache."""
        # Groups by draws (rows) for fast reductions across groups.
        zmin = np.ascontiguousarray(self.zmin[rows].T)
        zmax = np.ascontiguousarray(self.zmax[rows].T)
        bound = np.zeros(zmax.shape)
        t = np.empty(zmin.shape)
        for g in np.flatnonzero(m.any(axis=1)):
            # (z_i - z_j) / sigma_ij <= (zmax_G - zmin_g) * m[G, g] for i in G, j in g; groups
            # g without active pairs give 0 (the start).
            np.subtract(zmax[g], zmin, out=t)
            t *= m[g, :, None]
            t.max(axis=0, out=bound[g])
        np.maximum(bound, 0.0, out=bound)
        return bound

    def draw_upper(self, m: FloatArray) -> FloatArray:
        """Upper bounds (draws,) of the maximum over all active pairs, from group pairs (m as
        in ``group_upper``)."""
        draws = self.z.shape[0]
        bound = np.empty(draws)
        # Blocks of draws small enough for the temporaries to stay in the processor's cache
        # (over all draws at once, each group's pass is bound by memory bandwidth).
        step = max(1, _BLOCK_ELEMENTS * 4 // max(1, m.shape[0]))
        for a in range(0, draws, step):
            b = min(draws, a + step)
            bound[a:b] = self.group_upper(m, slice(a, b)).max(axis=0)
        return bound

    def extreme_bounds(
        self, r: IntArray, u: IntArray, pos: BoolArray, neg: BoolArray
    ) -> tuple[FloatArray, IntArray, BoolArray]:
        """Unit u[k]'s maximum over a family with both sides (pos, neg, as in ``exact``) at
        draw r[k] where the draws' extreme units show it, else an upper bound of it; only if
        ``self.extremes``. Returns the values, the partner codes (as ``exact``) and which
        values are exact.

        A positive term (z_i - z_j) / sigma_ij of a unit j not among draw r's lowest Z is at
        most (z_i - next lowest Z) times unit i's largest 1/sigma_ij in the family (the
        subtraction and product are monotone in floating point), and likewise on the negative
        side with the highest Z. So the largest of the extreme units' terms in the family, of
        those two bounds and of 0 bounds the maximum; it is the maximum when it is the first
        and positive. Terms are computed as in ``exact``, bit for bit.
        """
        assert self.extremes is not None
        ext = self.extremes
        units, which = np.unique(u, return_inverse=True)
        max_pos = np.where(pos[units], self.inv[units], 0.0).max(axis=1)[which]
        max_neg = np.where(neg[units], self.inv[units], 0.0).max(axis=1)[which]
        z_i = self.z[r, u]
        best = np.full(r.size, -np.inf)
        code = np.zeros(r.size, dtype=np.int64)
        rows = np.arange(r.size)
        # Flat indices into the (p x p) arrays: faster than pairs of indices.
        at_unit = u[:, None] * self.p
        inv_flat = self.inv.reshape(-1)
        sides = ((ext.low[r], ext.low_z[r], 1, pos), (ext.high[r], ext.high_z[r], -1, neg))
        for cand, t, sign, mask in sides:
            np.subtract(z_i[:, None], t, out=t)
            where = at_unit + cand
            t *= np.take(inv_flat, where)
            if sign < 0:
                np.negative(t, out=t)
            t[~np.take(mask.reshape(-1), where)] = -np.inf
            arg = t.argmax(axis=1)
            v = t[rows, arg]
            new = v > best
            best[new] = v[new]
            code[new] = sign * (cand[rows[new], arg[new]] + 1)
        rest = np.maximum((z_i - ext.low_next[r]) * max_pos, (ext.high_next[r] - z_i) * max_neg)
        exact = (best > 0) & (best >= rest)
        value = np.where(exact, best, np.maximum(np.maximum(best, rest), 0.0))
        code[~exact] = 0
        return value, code, exact

    def exact(
        self,
        r: IntArray,
        i: IntArray,
        pos: BoolArray,
        neg: BoolArray | None,
        partner: IntArray | None = None,
    ) -> FloatArray:
        """Each unit's exact maximum over its family, for the (draw r, unit i) pairs given.

        The draws' whole rows are used (contiguous, unlike a selection of columns), with
        1/sigma set to 0 outside the family: a positive maximum then comes from a member of
        the family, bit for bit; draws whose maximum is not positive are redone over the
        family's columns alone. If `partner` is given (same size as r), it receives the
        member attaining each maximum: j + 1 for T_ij (a pos pair), -(j + 1) for -T_ij.
        """
        out = np.empty(r.size)
        # By unit, and by draw within a unit (the rows of z then come in memory order).
        order = np.lexsort((r, i))
        units, first = np.unique(i[order], return_index=True)
        bounds = np.append(first, order.size)
        # Blocks of draws small enough for the two work arrays to stay in the processor's
        # cache through the passes; no new arrays per block.
        step = max(1, _EXACT_ELEMENTS // self.p)
        work = np.empty((min(step, r.size), self.p))
        prod = np.empty_like(work)
        for u, a, b in zip(units, bounds[:-1], bounds[1:], strict=True):
            sel = order[a:b]
            p_row = pos[u]
            n_row = None if neg is None else neg[u]
            if not (p_row.any() or (n_row is not None and n_row.any())):
                out[sel] = -np.inf
                if partner is not None:
                    partner[sel] = 0
                continue
            inv_p = np.where(p_row, self.inv[u], 0.0)
            same = n_row is not None and bool(np.array_equal(p_row, n_row))
            inv_n = None if n_row is None or same else np.where(n_row, self.inv[u], 0.0)
            for c in range(0, sel.size, step):
                part = sel[c : c + step]
                rr = r[part]
                t = work[: rr.size]
                np.take(self.z, rr, axis=0, out=t, mode="clip")  # rr is in range
                np.subtract(self.z[rr, u, None], t, out=t)
                if partner is None:
                    if same:
                        t *= inv_p
                        best = t.max(axis=1)
                        np.maximum(best, -t.min(axis=1), out=best)
                    elif inv_n is None:
                        t *= inv_p
                        best = t.max(axis=1)
                    else:
                        tp = prod[: rr.size]
                        np.multiply(t, inv_p, out=tp)
                        best = tp.max(axis=1)
                        t *= inv_n
                        np.maximum(best, -t.min(axis=1), out=best)
                else:
                    k = np.arange(rr.size)
                    tp = prod[: rr.size]
                    np.multiply(t, inv_p, out=tp)
                    jp = tp.argmax(axis=1)
                    best = tp[k, jp]
                    code = jp + 1
                    if n_row is not None:
                        if inv_n is not None:
                            np.multiply(t, inv_n, out=tp)
                        jn = tp.argmin(axis=1)
                        vn = -tp[k, jn]
                        use_n = vn > best
                        best[use_n] = vn[use_n]
                        code[use_n] = -(jn[use_n] + 1)
                redo = best <= 0
                if redo.any():
                    best[redo], code_redo = self._exact_columns(rr[redo], u, pos, neg)
                    if partner is not None:
                        code[redo] = code_redo
                out[part] = best
                if partner is not None:
                    partner[part] = code
        return out

    def _exact_columns(
        self, rr: IntArray, u: int, pos: BoolArray, neg: BoolArray | None
    ) -> tuple[FloatArray, IntArray]:
        """Unit u's exact maximum over its family's columns alone, for the draws rr."""
        use = pos[u] if neg is None else pos[u] | neg[u]
        cols = np.flatnonzero(use)
        inv = self.inv[u, cols]
        k = np.arange(rr.size)
        t = (self.z[rr, u][:, None] - self.z[np.ix_(rr, cols)]) * inv
        tp = np.where(pos[u, cols], t, -np.inf)
        jp = tp.argmax(axis=1)
        best = tp[k, jp]
        code = cols[jp] + 1
        if neg is not None:
            tn = np.where(neg[u, cols], -t, -np.inf)
            jn = tn.argmax(axis=1)
            vn = tn[k, jn]
            use_n = vn > best
            best[use_n] = vn[use_n]
            code[use_n] = -(cols[jn[use_n]] + 1)
        return best, code


def _kth_largest(mask: BoolArray, values: FloatArray, k: int) -> FloatArray:
    """Each row's k-th largest of the values where mask is True (-inf if fewer), as (n, 1).

    The selected values are gathered into a narrow array first: partitions over whole rows
    of mostly -inf would cost far more.
    """
    c, r = np.nonzero(mask)
    n = mask.shape[0]
    counts = np.bincount(c, minlength=n)
    width = max(k, int(counts.max()) if n else 0)
    compact = np.full((n, width), np.inf)  # negated values: the k-th smallest
    start = np.cumsum(counts) - counts
    compact[c, np.arange(c.size) - start[c]] = -values[c, r]
    return -np.partition(compact, k - 1, axis=1)[:, k - 1, None]


def _lazy_quantiles(
    upper: FloatArray,
    evaluate: Callable[[IntArray, IntArray], FloatArray],
    level: float,
) -> tuple[FloatArray, IntArray, IntArray, FloatArray]:
    """Row-wise `level` quantiles (numpy "linear") of values known through upper bounds.

    `upper` is (columns x draws), C-contiguous: each row's draws lie together, which makes
    the partitions fast. ``evaluate(r, c)`` returns the exact values at draws r of columns c
    (c ascending). Only the draws that can reach the order statistics the quantile uses are
    evaluated: first the highest bounds, then any draw whose bound reaches the order
    statistic found so far. Draws never evaluated lie strictly below that statistic, so
    setting them to -inf leaves the quantile unchanged.

    Returns the quantiles and the evaluated entries (draws, columns, exact values).
    """
    draws = upper.shape[1]
    lo = int(np.floor((draws - 1) * level))
    top = draws - lo  # values at or above the lower order statistic
    first = min(draws, top + top // _FIRST_MARGIN + 8)
    # At least the `first` highest bounds of each row (more where bounds tie). Partitions
    # select on the negated values: numpy's introselect is slow for a high k among many
    # equal low values (the -inf of draws not evaluated).
    part = np.negative(upper)
    part.partition(first - 1, axis=1)
    threshold = -part[:, first - 1, None]
    del part
    values = np.full(upper.shape, -np.inf)
    done = np.zeros(upper.shape, dtype=bool)
    need = upper >= threshold
    while True:
        need &= ~done
        need &= upper > -np.inf
        c, r = np.nonzero(need)
        if r.size == 0:
            break
        values[c, r] = evaluate(r, c)
        done |= need
        need = upper >= _kth_largest(done, values, top)
    c, r = np.nonzero(done)
    return np.quantile(values, level, axis=1), r, c, values[c, r]


def _critical_simultaneous(
    pairs: _Pairs, active: BoolArray, level: float, known: FloatArray
) -> float:
    """Quantile over draws of the max over all active pairs.

    `known` holds upper bounds per draw, valid for every later step too since the active
    set only shrinks (the first step's group-pair bounds, an earlier step's exact maxima);
    it is updated with this step's exact maxima.
    """
    m = pairs.group_pair_maxinv(active)

    def draw_max(r: IntArray, _c: IntArray) -> FloatArray:
        # Exact max for draws r: start from the highest draw of the group with the highest
        # bound, then every unit of a group whose bound exceeds the best value so far whose
        # own bound does too.
        groups = np.empty((r.size, m.shape[0]))
        step = max(1, _BLOCK_ELEMENTS * 4 // max(1, m.shape[0]))
        for a in range(0, r.size, step):
            groups[a : a + step] = pairs.group_upper(m, r[a : a + step]).T
        top = pairs.members[groups.argmax(axis=1)]
        first = top[np.arange(r.size), pairs.z[r[:, None], top].argmax(axis=1)]
        best = pairs.exact(r, first, active, None)
        d, g = np.nonzero(groups > best[:, None])
        d = np.repeat(d, pairs.members.shape[1])[pairs.member_valid[g].ravel()]
        units = pairs.members[g][pairs.member_valid[g]]
        upper = pairs.upper_entries(active, None, units, r[d])
        more = upper > best[d]
        if more.any():
            np.maximum.at(best, d[more], pairs.exact(r[d[more]], units[more], active, None))
        return best

    q, r, _, v = _lazy_quantiles(known[None, :], draw_max, level)
    known[r] = v
    return float(q[0])


def _simultaneous(pairs: _Pairs, level: float) -> BoolArray:
    better = pairs.deterministic & (pairs.diff > 0)
    active = pairs.random.copy()
    # Recomputing the bounds at each step, for the smaller active set, was found to spare
    # no exact evaluation (500 units, 10,000 draws).
    front = pairs.front_draw_maxima() if pairs.fronts is not None else None
    # Exact maxima of every draw over all pairs, if the fronts give them (all > 0).
    exact = front is not None and bool(np.all(front > 0))
    if front is not None and exact:
        known = front
    else:
        known = pairs.draw_upper(pairs.group_pair_maxinv(active))
    while active.any():
        if exact:
            # The first step's quantile at once: the same as from the order statistics.
            c = float(np.quantile(known, level))
            exact = False
        else:
            c = _critical_simultaneous(pairs, active, level, known)
        if not _reject(pairs, active, better, c):
            break
    return better


def _reject(pairs: _Pairs, active: BoolArray, better: BoolArray, c: float) -> bool:
    """Move the active pairs with diff - sigma * c > 0 from `active` to `better`, a block of
    rows at a time (no (p x p) temporaries); whether any moved."""
    step = _rows_per_block(pairs.p)
    moved = False
    for a in range(0, pairs.p, step):
        rows = slice(a, a + step)
        t = pairs.sigma[rows] * c
        np.subtract(pairs.diff[rows], t, out=t)
        new = t > 0
        new &= active[rows]
        if new.any():
            moved = True
            better[rows] |= new
            active[rows] &= ~new
    return moved


def _kth_by_row(values: FloatArray, mask: BoolArray | None, k: int) -> FloatArray:
    """Each row's k-th largest of the values (where mask is True), -inf if fewer; shape (n,).

    The partition selects on the negated values: numpy's introselect is slow for a high k
    among many equal low values.
    """
    if k > values.shape[1]:
        return np.full(values.shape[0], -np.inf)
    neg = np.negative(values) if mask is None else np.where(mask, -values, np.inf)
    neg.partition(k - 1, axis=1)
    return -neg[:, k - 1]


def _quantile_of_order_stats(
    lower: FloatArray, upper: FloatArray, draws: int, level: float
) -> FloatArray:
    """The `level` quantiles (numpy "linear") of rows of `draws` finite values, from the two
    order statistics they interpolate: `lower` the (lo + 1)-th smallest, lo = floor((draws -
    1) * level), and `upper` the next one (or `lower` again if there is none).

    numpy's own interpolation is applied to the pair, with the same weight: the same result,
    bit for bit, as ``np.quantile`` over the whole rows (the tests check this).
    """
    virtual = (draws - 1) * level
    gamma = virtual - np.floor(virtual)
    return np.quantile(np.stack([lower, upper], axis=1), gamma, axis=1)


def _take_highest(rest: FloatArray, count: int) -> tuple[IntArray, FloatArray]:
    """Columns and values of each row's `count` highest entries of `rest` (unordered), which
    are then set to -inf there (`count` at most the number of finite entries of each row)."""
    idx = np.argpartition(np.negative(rest), count - 1, axis=1)[:, :count]
    values = np.take_along_axis(rest, idx, axis=1)
    np.put_along_axis(rest, idx, -np.inf, axis=1)
    return idx, values


def _marginal(pairs: _Pairs, level: float, chunk: IntArray) -> tuple[IntArray, IntArray]:
    """Marginal rank sets (low, high) of the units in `chunk` (arrays of chunk.size).

    Each unit's family is its own, so the units of a chunk only share the passes over the
    arrays. For each unit, the coarse upper bounds of its maximum at every draw are computed
    once (valid at every step: families only shrink); the draws are then taken in
    decreasing order of that bound, as many as the quantile may need (the bound of every
    draw not taken yet is at most `tail`). Per taken draw: the tightest upper bound so far
    (coarse, refined with all groups, or an earlier step's exact maximum), whether it is
    refined, and the partner attaining an exact maximum (0 if none or no longer in the
    family). At each step, as in ``_lazy_quantiles``: the highest bounds are refined and
    evaluated until every draw whose bound reaches the order statistic of the exact values
    is exact.
    """
    p = pairs.p
    draws = pairs.z.shape[0]
    lo = int(np.floor((draws - 1) * level))
    top = draws - lo  # values at or above the lower order statistic
    first = min(draws, top + top // _FIRST_MARGIN + 8)
    wide = min(draws, 2 * first)
    # row[i, j]: pair (i, j) still active in unit i's family; col[i, j]: pair (j, i) is.
    # Only the chunk's rows are used, and only they are filled: the others stay the zero
    # pages np.zeros maps, so a chunk costs O(chunk x p), not O(p^2) (at 5,000 units, a
    # fifth of the marginal sets' time went into whole copies).
    row = np.zeros((p, p), dtype=bool)
    col = np.zeros((p, p), dtype=bool)
    row[chunk] = col[chunk] = pairs.random[chunk]
    det = pairs.deterministic
    above = (det[:, chunk] & (pairs.diff[:, chunk] > 0)).sum(axis=0)  # surely better than i
    below = (det[chunk] & (pairs.diff[chunk] > 0)).sum(axis=1)  # surely worse than i
    where = np.flatnonzero(row[chunk].any(axis=1))  # positions in the chunk
    units = chunk[where]
    m = units.size
    if m == 0:
        return 1 + above, p - below
    rest = pairs.upper(row, col, units, coarse=True, by_unit=True)  # bounds of draws not taken
    taken = 0
    tail = np.full(m, np.inf)
    draw = np.empty((m, 0), dtype=np.intp)
    bound = np.empty((m, 0))
    refined = np.empty((m, 0), dtype=bool)
    code = np.empty((m, 0), dtype=np.int64)  # partner code of an exact value (_Pairs.exact)
    is_open = np.ones(m, dtype=bool)
    # Units none of whose pairs is rejected yet: their exact maxima come from the fronts,
    # without refining the bounds first (an exact value costs about as much as a refined
    # bound there).
    whole = np.full(m, pairs.fronts is not None)
    while is_open.any():
        # An earlier exact maximum stays exact while its attaining partner is in the family;
        # otherwise it remains an upper bound.
        i, k = np.nonzero((code != 0) & is_open[:, None])
        codes = code[i, k]
        j = np.abs(codes) - 1
        stale = ~np.where(codes > 0, row[units[i], j], col[units[i], j])
        code[i[stale], k[stale]] = 0
        known = code != 0
        if pairs.extremes is not None:
            # The draws' extreme units often give a reduced family's maxima exactly: every
            # value not exact is bounded again, for the family as it is now.
            refined &= known
        work = is_open.copy()
        while work.any():
            w = np.flatnonzero(work)
            bound_w, known_w = bound[w], known[w]
            threshold = _kth_by_row(bound_w, known_w, top)
            few = known_w.sum(axis=1) < top
            if few.any():
                # Not enough exact values yet: the `first` highest bounds are needed.
                threshold[few] = _kth_by_row(bound_w[few], None, first)
            if taken < draws and (tail[w] >= threshold).any():
                # First the `wide` highest bounds, then as many again as taken so far.
                count = min(draws - taken, max(taken, wide))
                idx, values = _take_highest(rest, count)
                taken += count
                tail = rest.max(axis=1) if taken < draws else np.full(m, -np.inf)
                draw = np.concatenate([draw, idx], axis=1)
                bound = np.concatenate([bound, values], axis=1)
                refined = np.concatenate([refined, np.zeros(idx.shape, dtype=bool)], axis=1)
                code = np.concatenate([code, np.zeros(idx.shape, dtype=np.int64)], axis=1)
                known = np.concatenate([known, np.zeros(idx.shape, dtype=bool)], axis=1)
                continue
            need = ~known_w & (bound_w >= threshold[:, None])
            cand = need & ~refined[w] & ~whole[w, None]
            if cand.any():
                # Refine before evaluating; where exact values are still few, twice as many
                # of the highest bounds at once.
                if few.any():
                    wide_set = bound_w[few] >= _kth_by_row(bound_w[few], None, wide)[:, None]
                    cand[few] |= wide_set & ~known_w[few] & ~refined[w[few]] & ~whole[w[few], None]
                a, k = np.nonzero(cand)
                rr = w[a]
                if pairs.extremes is not None:
                    # Bounds from the draws' extreme units, often the exact values already.
                    value, partner, exact = pairs.extreme_bounds(draw[rr, k], units[rr], row, col)
                    tighter = np.minimum(bound[rr, k], value)
                    e = np.flatnonzero(exact)
                    tighter[e] = value[e]
                    code[rr[e], k[e]] = partner[e]
                    known[rr[e], k[e]] = True
                    need[a[e], k[e]] = False
                else:
                    tighter = np.minimum(
                        bound[rr, k], pairs.upper_entries(row, col, units[rr], draw[rr, k])
                    )
                bound[rr, k] = tighter
                refined[rr, k] = True
                if few.any():
                    continue  # their thresholds change
                # The others' thresholds (from exact values) stand: on to the evaluations.
                need[a, k] &= tighter >= threshold[a]
            work[w[~need.any(axis=1)]] = False
            a, k = np.nonzero(need)
            if a.size == 0:
                break
            rr = w[a]
            partner = np.empty(a.size, dtype=np.int64)
            value = np.empty(a.size)
            front = whole[rr]
            if front.any():
                f = np.flatnonzero(front)
                value[f], partner[f] = pairs.front_entries(draw[rr[f], k[f]], units[rr[f]])
            if not front.all():
                f = np.flatnonzero(~front)
                part = np.empty(f.size, dtype=np.int64)
                value[f] = pairs.exact(draw[rr[f], k[f]], units[rr[f]], row, col, part)
                partner[f] = part
            bound[rr, k] = value
            code[rr, k] = partner
            known[rr, k] = True
            refined[rr, k] = True
        o = np.flatnonzero(is_open)
        # Every draw not exact lies below the top-th highest exact value.
        order_stats = np.where(known[o], -bound[o], np.inf)  # negated
        order_stats.partition([top - 2, top - 1] if top >= 2 else [0], axis=1)
        c = _quantile_of_order_stats(
            -order_stats[:, top - 1], -order_stats[:, max(0, top - 2)], draws, level
        )
        u = units[o]
        diff = pairs.diff[u]
        sigma = pairs.sigma[u]
        # (i, j) rejected: i surely better than j. (j, i) rejected: j surely better than i.
        new_row = row[u] & (diff - sigma * c[:, None] > 0)
        new_col = col[u] & (-diff - sigma * c[:, None] > 0)
        below[where[o]] += new_row.sum(axis=1)
        above[where[o]] += new_col.sum(axis=1)
        row[u] &= ~new_row
        col[u] &= ~new_col
        changed = new_row.any(axis=1) | new_col.any(axis=1)
        whole[o[changed]] = False
        still = row[u].any(axis=1) | col[u].any(axis=1)
        is_open[o[~(changed & still)]] = False
    return 1 + above, p - below


def rank_confidence_sets(
    estimates: ArrayLike,
    se: ArrayLike | None = None,
    *,
    cov: ArrayLike | None = None,
    confidence_level: float = 0.95,
    draws: int = 1000,
    rng: int | np.random.Generator | None = None,
    marginal: bool = True,
    df: ArrayLike | None = None,
) -> RankResult:
    """Simultaneous and marginal confidence sets for the ranks of units (rank 1 = best).

    Parameters
    ----------
    estimates : array_like, shape (p,)
        Scores of the units (e.g. their IKM).
    se : array_like, shape (p,), optional
        Standard errors of independent estimates (covariance diagonal).
    cov : array_like, shape (p, p), optional
        Full covariance matrix of the estimates, instead of `se`.
    confidence_level : float, optional
        Default 0.95.
    draws : int, optional
        Number R of draws Z ~ N(0, Sigma) for the critical values (default 1000, as
        ``csranks``). The draws are ``rng.standard_normal((draws, p)) * se`` (with `cov`:
        times the symmetric square root of `cov`), reused at every step.
    rng : int, numpy.random.Generator or None
        Seed or generator; the same seed gives the same sets.
    marginal : bool, optional
        Also compute the marginal sets (default True).
    df : array_like, shape (p,), optional
        Degrees of freedom of each standard error (n_j - 1 for a mean of n_j respondents).
        Then the draws are ``rng.standard_t(df, size=(draws, p)) * se`` instead of normal:
        an extension of ``csranks`` for standard errors estimated from few respondents, whose
        studentised differences have heavier tails than normal. With 20 units of 20..60
        respondents and all true scores equal (the least favourable case), normal draws
        cover all ranks in about 90% of surveys, t draws in about 95% (``bench/coverage.py``).
        Only with `se`.

    Returns
    -------
    RankResult
        ``rank``, simultaneous ``low``/``high``, ``marginal_low``/``marginal_high`` and the
        methods ``tau_best(tau)`` and ``tau_worst(tau)``.

    Notes
    -----
    Memory grows with p * draws (the draws, 8 bytes each, per-draw group extremes and, with
    `se` all > 0, the draws' fronts, about 10 MB at 500 x 10,000) and p^2 (the pair
    matrices); the marginal bounds are held for a few units at a time. 500 units with
    10,000 t draws took, on a shared 2-core machine (December 2026), spread over up to five
    threads (one makes the draws while the others work on those already made): 2.2
    CPU-seconds (1.3 s wall) and about 135 MB above the memory of the imports
    with the data of ``bench/rank_draws.py`` (standard errors 0.027 to 0.079); 0.85 to 0.93 s
    wall with those of ``bench/scoring.py`` (standard errors 0.0077 to 0.0095, where the
    draws' extreme units replace most evaluations over whole rows: 1.5 to 1.6 s before).

    Examples
    --------
    >>> res = rank_confidence_sets([3.6, 3.1, 3.05, 2.4], [0.02, 0.05, 0.05, 0.02], rng=1)
    >>> res.rank.tolist(), res.low.tolist(), res.high.tolist()
    ([1, 2, 3, 4], [1, 2, 2, 4], [1, 3, 3, 4])
    """
    x, var, full = _check_inputs(estimates, se, cov)
    level = float(confidence_level)
    if not 0 < level < 1:
        raise ValueError(f"confidence_level must be between 0 and 1, got {confidence_level!r}")
    if isinstance(draws, bool) or int(draws) != draws or draws < 2:
        raise ValueError(f"draws must be a whole number >= 2, got {draws!r}")
    dof = None
    if df is not None:
        if full is not None:
            raise ValueError("df can only be given with se, not with cov")
        dof = np.broadcast_to(np.asarray(df, dtype=np.float64), x.shape)
        if not np.all(np.isfinite(dof) & (dof > 0)):
            bad = dof[~(np.isfinite(dof) & (dof > 0))][0]
            raise ValueError(f"df must be finite and > 0, got {float(bad)}")
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    p = x.size
    rank = 1 + (x[None, :] > x[:, None]).sum(axis=1)
    # The draws are made by a thread of their own while _Pairs works on those already made.
    made = _Draws(generator, int(draws), var, full, dof)
    try:
        pairs = _Pairs(x, var, full, made.z, made.ready)
    finally:
        made.finish()
    m_low = m_high = None
    if marginal:
        # The families share the draws but nothing else, and each unit's marginal family is
        # its own: two threads take chunks of units in turn while this one does the
        # simultaneous family (NumPy releases the GIL in its array loops). Small chunks keep
        # the marginal bounds (units x draws) small.
        size = max(1, _MARGINAL_ELEMENTS // int(draws))
        chunks = [np.arange(a, min(p, a + size)) for a in range(0, p, size)]
        with ThreadPoolExecutor(max_workers=2) as pool:
            pending = [pool.submit(_marginal, pairs, level, h) for h in chunks]
            better = _simultaneous(pairs, level)
            m_low, m_high = np.empty(p, dtype=np.int64), np.empty(p, dtype=np.int64)
            for h, job in zip(chunks, pending, strict=True):
                m_low[h], m_high[h] = job.result()
    else:
        better = _simultaneous(pairs, level)
    low = 1 + better.sum(axis=0)
    high = p - better.sum(axis=1)

    def frozen(a: NDArray | None) -> NDArray | None:
        if a is None:
            return None
        out = a.astype(np.int64) if a.dtype.kind in "iu" else a
        out.flags.writeable = False
        return out

    return RankResult(
        # Type error ignored below: frozen() returns a read-only view of the same array type the
        # result declares.
        estimates=frozen(x),  # type: ignore[arg-type]
        rank=frozen(rank),  # type: ignore[arg-type]
        low=frozen(low),  # type: ignore[arg-type]
        high=frozen(high),  # type: ignore[arg-type]
        marginal_low=frozen(m_low),
        marginal_high=frozen(m_high),
        # Type error ignored below: frozen() returns a read-only view of the same array type the
        # result declares.
        surely_better=frozen(better),  # type: ignore[arg-type]
        confidence_level=level,
        draws=int(draws),
    )

"""Sufficient statistics of a unit's answers, so that scoring does not grow with the responses.

For one unit (an OPD in a wave) with n respondents and k elements, x_ij in 1..m the answer of
respondent i to element j (or missing), the IKM, the NRRs, their respondent-clustered
covariance, the analytic intervals, the category and Cronbach's alpha need only integer sums:

====================  ===========  =====================================================
attribute             symbol       definition (sums over respondents)
====================  ===========  =====================================================
``n``                 n            respondents who answered at least one element
``n_answers[j]``      n_j          respondents who answered element j
``n_both[j, k]``      n_jk         respondents who answered both j and k (n_jj = n_j)
``sums[j]``           S_j          sum of x_ij
``products[j, k]``    P_jk         sum of x_ij x_ik over respondents answering both
``pair_sums[j, k]``   T_jk         sum of x_ij over respondents answering both j and k
``counts[j, v - 1]``  c_jv         respondents who answered v to element j
====================  ===========  =====================================================

T_jk is what lets the covariance be centred exactly when answers are missing. All of these add
up across batches of responses (:func:`merge_aggregates`), so the database can keep them per
unit as responses arrive, or compute them with one ``GROUP BY``. :func:`aggregate_units` builds
them for many units in one vectorised pass over an array of rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["Aggregates", "aggregate", "aggregate_units", "merge_aggregates", "stacked_aggregates"]

IntArray = NDArray[np.int64]

# Rows per block in aggregate_units: large enough for BLAS to be efficient, small enough that
# the working buffer (rows x (2k + 1) doubles) stays in cache-friendly tens of megabytes.
_BLOCK_ROWS = 65536


def _as_int_array(name: str, value: ArrayLike, shape: tuple[int, ...]) -> IntArray:
    arr = np.asarray(value)
    if arr.shape != shape:
        raise ValueError(f"{name} has shape {arr.shape}, expected {shape}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.rint(arr)):
            raise ValueError(f"{name} must hold whole numbers, got {arr.tolist()!r}")
    elif arr.dtype.kind not in "iu" and arr.size:
        raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
    out = np.array(arr, dtype=np.int64)
    if np.any(out < 0):
        raise ValueError(f"{name} must not be negative, got {out.tolist()!r}")
    out.flags.writeable = False
    return out


@dataclass(frozen=True, eq=False)
class Aggregates:
    """Sufficient statistics of one unit's answers (see the module docstring for symbols).

    Build them with :func:`aggregate` or :func:`aggregate_units`, add them with
    :func:`merge_aggregates`, store them with :meth:`as_dict` / :meth:`from_dict`. The
    constructor checks that the figures are consistent with each other (e.g. ``counts`` add up
    to ``n_answers`` and ``sums``), which catches a wrong ``GROUP BY`` early.

    Attributes
    ----------
    n : int
        Respondents who answered at least one element.
    n_answers : ndarray of int, shape (k,)
    n_both : ndarray of int, shape (k, k)
    sums : ndarray of int, shape (k,)
    products : ndarray of int, shape (k, k)
    pair_sums : ndarray of int, shape (k, k)
    counts : ndarray of int, shape (k, scale_points)

    Examples
    --------
    >>> import numpy as np
    >>> agg = aggregate(np.array([[4, 3], [2, np.nan]]))
    >>> agg.n, agg.n_answers.tolist(), agg.sums.tolist()
    (2, [2, 1], [6, 3])
    >>> agg.pair_sums.tolist()  # T[0, 1]: sum of element 0 over those who also answered 1
    [[6, 4], [3, 3]]
    """

    n: int
    n_answers: IntArray
    n_both: IntArray
    sums: IntArray
    products: IntArray
    pair_sums: IntArray
    counts: IntArray

    def __post_init__(self) -> None:
        counts = np.asarray(self.counts)
        if counts.ndim != 2 or counts.shape[0] < 1 or counts.shape[1] < 2:
            raise ValueError(
                f"counts must have shape (elements, scale points >= 2), got {counts.shape}"
            )
        k, m = counts.shape
        if isinstance(self.n, bool) or not float(self.n).is_integer() or self.n < 0:
            raise ValueError(f"n must be a whole number >= 0, got {self.n!r}")
        object.__setattr__(self, "n", int(self.n))
        for f, shape in (
            ("n_answers", (k,)),
            ("n_both", (k, k)),
            ("sums", (k,)),
            ("products", (k, k)),
            ("pair_sums", (k, k)),
            ("counts", (k, m)),
        ):
            object.__setattr__(self, f, _as_int_array(f, getattr(self, f), shape))
        values = np.arange(1, m + 1)
        checks = (
            ("n_answers == counts summed over values", self.n_answers, self.counts.sum(1)),
            ("sums == counts weighted by the values", self.sums, self.counts @ values),
            (
                "diagonal of products == sums of squares",
                np.diag(self.products),
                self.counts @ values**2,
            ),
            ("diagonal of n_both == n_answers", np.diag(self.n_both), self.n_answers),
            ("diagonal of pair_sums == sums", np.diag(self.pair_sums), self.sums),
            ("n_both is symmetric", self.n_both, self.n_both.T),
            ("products is symmetric", self.products, self.products.T),
        )
        for what, left, right in checks:
            if not np.array_equal(left, right):
                raise ValueError(f"inconsistent aggregates: expected {what}")
        if np.any(self.n_answers > self.n):
            raise ValueError(
                f"inconsistent aggregates: n_answers {self.n_answers.tolist()} exceeds n = {self.n}"
            )
        if np.any(self.n_both > np.minimum.outer(self.n_answers, self.n_answers)):
            raise ValueError("inconsistent aggregates: n_both exceeds n_answers")
        both = self.n_both
        if np.any(self.pair_sums < both) or np.any(self.pair_sums > m * both):
            raise ValueError("inconsistent aggregates: pair_sums outside n_both x (1..m)")
        if np.any(self.products < both) or np.any(self.products > m * m * both):
            raise ValueError("inconsistent aggregates: products outside n_both x (1..m^2)")

    @property
    def k(self) -> int:
        """Number of elements."""
        return int(self.counts.shape[0])

    @property
    def scale_points(self) -> int:
        """Number of answer values (4 for the 1..4 scale)."""
        return int(self.counts.shape[1])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Aggregates):
            return NotImplemented
        return all(
            np.array_equal(getattr(self, f.name), getattr(other, f.name)) for f in fields(self)
        )

    # Type error ignored below: unhashable on purpose (it holds arrays), as Python's own mutable
    # types do.
    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def empty(cls, k: int, scale_points: int = 4) -> Aggregates:
        """Return the aggregates of no respondents (the neutral element of merging).

        Examples
        --------
        >>> Aggregates.empty(9).n
        0
        """
        if k < 1 or scale_points < 2:
            raise ValueError(f"need k >= 1 and scale_points >= 2, got {k} and {scale_points}")
        zk, zkk = np.zeros(k, np.int64), np.zeros((k, k), np.int64)
        return cls(0, zk, zkk, zk, zkk, zkk, np.zeros((k, scale_points), np.int64))

    def as_dict(self) -> dict[str, Any]:
        """Return plain lists and ints, ready for JSON.

        Examples
        --------
        >>> import numpy as np
        >>> agg = aggregate(np.array([[4, 3], [2, 1]]))
        >>> Aggregates.from_dict(agg.as_dict()) == agg
        True
        """
        return {
            f.name: (getattr(self, f.name) if f.name == "n" else getattr(self, f.name).tolist())
            for f in fields(self)
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Aggregates:
        """Rebuild aggregates from :meth:`as_dict` output (validated as in the constructor)."""
        missing = [f.name for f in fields(cls) if f.name not in data]
        if missing:
            raise ValueError(f"aggregates dict lacks {', '.join(missing)}")
        return cls(**{f.name: data[f.name] for f in fields(cls)})


def stacked_aggregates(stats: Mapping[str, ArrayLike]) -> list[Aggregates]:
    """Return one :class:`Aggregates` per row of stacked figures, all checked at once.

    ``stats`` holds each field of :meth:`Aggregates.as_dict` stacked over p units (``n`` of
    shape (p,), ``n_answers`` (p, k), ``counts`` (p, k, m)...). The checks are the
    constructor's, made as whole-array operations: p units cost a few array operations
    instead of p constructions (the live dashboard reads 500 OPDs' kept figures at every
    refresh). The units' arrays are read-only views of copies of the stacked ones. When a
    check fails, the first unit that fails it is built alone, so the error is the
    constructor's, prefixed with the unit's index.

    Examples
    --------
    >>> import numpy as np
    >>> a, b = aggregate(np.array([[4, 3], [2, 1]])), aggregate(np.array([[1, 1]]))
    >>> both = {f: np.stack([a.as_dict()[f], b.as_dict()[f]]) for f in a.as_dict()}
    >>> stacked_aggregates(both) == [a, b]
    True
    """
    names = [f.name for f in fields(Aggregates)]
    missing = [name for name in names if name not in stats]
    if missing:
        raise ValueError(f"stacked aggregates lack {', '.join(missing)}")
    counts = np.asarray(stats["counts"])
    if counts.ndim != 3:
        raise ValueError(f"stacked counts must have shape (units, k, m), got {counts.shape}")
    p, k, m = counts.shape
    shapes = {
        "n": (p,),
        "n_answers": (p, k),
        "n_both": (p, k, k),
        "sums": (p, k),
        "products": (p, k, k),
        "pair_sums": (p, k, k),
        "counts": (p, k, m),
    }
    arrays = {name: np.asarray(stats[name]) for name in names}
    if p == 0:
        return []
    if any(
        arrays[name].shape != shapes[name] or arrays[name].dtype.kind not in "iu" for name in names
    ):
        return [Aggregates(**{name: arrays[name][i] for name in names}) for i in range(p)]
    a = {name: np.array(arrays[name], dtype=np.int64) for name in names}
    for arr in a.values():
        arr.flags.writeable = False
    if k < 1 or m < 2:
        raise ValueError(f"counts must have shape (elements, scale points >= 2), got {(k, m)}")
    values = np.arange(1, m + 1)

    def diagonal(arr: IntArray) -> IntArray:
        return np.diagonal(arr, axis1=1, axis2=2)

    def transposed(arr: IntArray) -> IntArray:
        return np.swapaxes(arr, 1, 2)

    both = a["n_both"]
    nj = a["n_answers"]
    ok = np.ones(p, dtype=bool)
    for arr in a.values():
        ok &= (arr >= 0).reshape(p, -1).all(axis=1)
    checks = (
        nj == a["counts"].sum(axis=2),
        a["sums"] == a["counts"] @ values,
        diagonal(a["products"]) == a["counts"] @ values**2,
        diagonal(both) == nj,
        diagonal(a["pair_sums"]) == a["sums"],
        both == transposed(both),
        a["products"] == transposed(a["products"]),
        nj <= a["n"][:, None],
        both <= np.minimum(nj[:, :, None], nj[:, None, :]),
        (a["pair_sums"] >= both) & (a["pair_sums"] <= m * both),
        (a["products"] >= both) & (a["products"] <= m * m * both),
    )
    for check in checks:
        ok &= check.reshape(p, -1).all(axis=1)
    if not ok.all():
        bad = int(np.argmin(ok))
        try:
            Aggregates(**{name: a[name][bad] for name in names})
        except ValueError as exc:
            raise ValueError(f"unit {bad}: {exc}") from None
        raise AssertionError("a stacked check refused what the constructor accepts")
    out = []
    for i in range(p):
        unit = object.__new__(Aggregates)
        object.__setattr__(unit, "n", int(a["n"][i]))
        for name in names[1:]:
            object.__setattr__(unit, name, a[name][i])
        out.append(unit)
    return out


def merge_aggregates(*parts: Aggregates) -> Aggregates:
    """Add aggregates of disjoint sets of respondents (e.g. two batches of responses).

    Parameters
    ----------
    *parts : Aggregates
        At least one; all with the same number of elements and scale points.

    Returns
    -------
    Aggregates
        The aggregates of all their respondents together.

    Examples
    --------
    >>> import numpy as np
    >>> rows = np.array([[4, 3], [2, np.nan], [1, 1]])
    >>> merge_aggregates(aggregate(rows[:2]), aggregate(rows[2:])) == aggregate(rows)
    True
    """
    if not parts:
        raise ValueError("merge_aggregates needs at least one Aggregates")
    first = parts[0]
    for i, part in enumerate(parts):
        if not isinstance(part, Aggregates):
            raise TypeError(f"part {i} is {type(part).__name__}, not Aggregates")
        if part.counts.shape != first.counts.shape:
            raise ValueError(
                f"part {i} has {part.k} elements x {part.scale_points} points, part 0 has"
                f" {first.k} x {first.scale_points}"
            )
    return Aggregates(**{f.name: sum(getattr(p, f.name) for p in parts) for f in fields(first)})


def _check_answers(answers: ArrayLike, scale_points: int) -> NDArray[np.float64]:
    arr = np.asarray(answers)
    if arr.ndim != 2:
        raise ValueError(f"answers must be 2-D (respondents x elements), got shape {arr.shape}")
    if arr.shape[1] < 1:
        raise ValueError("answers must have at least one element (column)")
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"answers must be numeric (NaN for no answer), got dtype {arr.dtype}")
    if isinstance(scale_points, bool) or int(scale_points) != scale_points or scale_points < 2:
        raise ValueError(f"scale_points must be a whole number >= 2, got {scale_points!r}")
    arr = arr.astype(np.float64, copy=False)
    given = ~np.isnan(arr)
    bad = given & ((arr < 1) | (arr > scale_points) | (arr != np.rint(arr)))
    if np.any(bad):
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"answers[{i}, {j}] = {float(arr[i, j]):g} is not a whole number in 1..{scale_points}"
        )
    return arr


def aggregate(answers: ArrayLike, *, scale_points: int = 4) -> Aggregates:
    """Compute the aggregates of one unit from its rows of answers.

    Parameters
    ----------
    answers : array_like, shape (n, k)
        One row per respondent, one column per element; whole numbers in 1..`scale_points`,
        NaN for no answer. Rows with no answer at all are not respondents and are ignored.
    scale_points : int, optional
        Number of answer values (default 4).

    Returns
    -------
    Aggregates

    Examples
    --------
    >>> import numpy as np
    >>> aggregate(np.array([[4, 4, 3], [3, np.nan, 3]])).n_both.tolist()
    [[2, 1, 2], [1, 1, 1], [2, 1, 2]]
    """
    arr = np.asarray(answers)
    return aggregate_units(
        np.zeros(arr.shape[0] if arr.ndim else 0, np.int64), arr, 1, scale_points=scale_points
    )[0]


def aggregate_units(
    unit_index: ArrayLike, answers: ArrayLike, n_units: int, *, scale_points: int = 4
) -> tuple[Aggregates, ...]:
    """Compute the aggregates of many units at once from rows of answers.

    One pass: rows are ordered by unit (a stable sort, skipped when already ordered), then each
    unit's block of rows is reduced with one matrix product ``[x, d, 1]' [x, d, 1]``, where x
    holds the answers (0 for missing) and d the answered indicators; that single product holds
    P (x'x), T (x'd), n_jk (d'd), S, n_j and n. About 0.3 s for 1,000,000 rows x 9 elements
    over 500 units.

    Parameters
    ----------
    unit_index : array_like of int, shape (n,)
        Unit of each row, in ``0 .. n_units - 1``.
    answers : array_like, shape (n, k)
        Answers as in :func:`aggregate` (NaN for no answer).
    n_units : int
        Number of units; units without rows get :meth:`Aggregates.empty`.
    scale_points : int, optional
        Number of answer values (default 4).

    Returns
    -------
    tuple of Aggregates
        One per unit, in unit-index order.

    Examples
    --------
    >>> import numpy as np
    >>> parts = aggregate_units([0, 1, 0], np.array([[4, 3], [2, 2], [3, 3]]), 2)
    >>> [p.n for p in parts], parts[0].sums.tolist()
    ([2, 1], [7, 6])
    """
    arr = _check_answers(answers, scale_points)
    units = np.asarray(unit_index)
    if isinstance(n_units, bool) or int(n_units) != n_units or n_units < 1:
        raise ValueError(f"n_units must be a whole number >= 1, got {n_units!r}")
    n_units = int(n_units)
    if units.shape != (arr.shape[0],):
        raise ValueError(
            f"unit_index has shape {units.shape}, expected ({arr.shape[0]},) like answers"
        )
    if units.size and units.dtype.kind not in "iu":
        raise ValueError(f"unit_index must hold integers, got dtype {units.dtype}")
    units = units.astype(np.int64, copy=False)
    if units.size and (units.min() < 0 or units.max() >= n_units):
        bad = units[(units < 0) | (units >= n_units)][0]
        raise ValueError(f"unit_index value {bad} is outside 0..{n_units - 1}")

    n_rows, k = arr.shape
    m = scale_points
    if units.size and np.any(units[1:] < units[:-1]):
        order: NDArray[np.intp] | None = np.argsort(units, kind="stable")
        units = units[order]
    else:
        order = None
    bounds = np.searchsorted(units, np.arange(n_units + 1))

    width = 2 * k + 1
    gram = np.zeros((n_units, width, width))
    counts = np.zeros((n_units, k, m), np.int64)
    buffer = np.empty((min(_BLOCK_ROWS, max(n_rows, 1)), width))
    product = np.empty((width, width))
    # Fixed blocks of the ordered rows, so memory stays bounded however big a unit is; a unit
    # cut by a block boundary is simply added up from both blocks.
    for start in range(0, n_rows, _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, n_rows)
        rows = arr[start:stop] if order is None else arr[order[start:stop]]
        block = buffer[: stop - start]
        given = ~np.isnan(rows)
        block[:, :k] = rows
        block[:, :k][~given] = 0.0
        block[:, k : 2 * k] = given
        block[:, 2 * k] = given.any(axis=1)
        first, last = int(units[start]), int(units[stop - 1])
        for v in range(first, last + 1):
            a, b = max(bounds[v], start) - start, min(bounds[v + 1], stop) - start
            if b > a:
                part = block[a:b]
                np.dot(part.T, part, out=product)
                gram[v] += product
        # Value counts: one bincount over (unit, element, value) codes of the given answers.
        span = last - first + 1
        codes = ((units[start:stop, None] - first) * k + np.arange(k)) * m + (
            block[:, :k].astype(np.int64) - 1
        )
        counts[first : last + 1] += np.bincount(codes[given], minlength=span * k * m).reshape(
            span, k, m
        )

    # Every entry of the product is a sum of small whole numbers below 2**53: exact in float64.
    ints = np.rint(gram).astype(np.int64)
    result = []
    for v in range(n_units):
        g = ints[v]
        result.append(
            Aggregates(
                n=int(g[2 * k, 2 * k]),
                n_answers=g[2 * k, k : 2 * k],
                n_both=g[k : 2 * k, k : 2 * k],
                sums=g[2 * k, :k],
                products=g[:k, :k],
                pair_sums=g[:k, k : 2 * k],
                counts=counts[v],
            )
        )
    return tuple(result)

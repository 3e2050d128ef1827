"""Perception questions scored on their own, apart from the IKM elements.

Evaluators such as KNPI add questions of their own to the nine elements ("how satisfied are
you overall?", "do you agree that ...?") on a Likert scale of 4 or 5 points. These are not
part of the IKM; each is reported by itself: the number of answers, the mean with its 95% t
interval, the count of each answer, and the share of positive answers (the top half of the
scale: 3 and 4 of 4, 4 and 5 of 5; the middle point of an odd scale is not positive) with its
Wilson score interval, which stays inside 0..1 and behaves at shares near 0 or 1.

The function works on plain arrays: one row per respondent, one column per item, NaN where the
respondent gave no answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .aggregates import _check_answers
from .distributions import norm_ppf, t_ppf

__all__ = ["PerceptionItem", "PerceptionResult", "perception_scores", "positive_threshold"]


@dataclass(frozen=True)
class PerceptionItem:
    """The summary of one perception item.

    Attributes
    ----------
    n : int
        Respondents who answered the item.
    mean : float
        Mean answer on 1..`scale_points` (NaN when ``n`` is 0).
    ci_low, ci_high : float
        The t interval of the mean, n - 1 degrees of freedom (NaN when ``n`` < 2).
    counts : tuple of int
        How many answered 1, 2, ..., `scale_points`.
    positive : int
        Answers in the top half of the scale.
    positive_share : float
        ``positive / n`` (NaN when ``n`` is 0).
    positive_low, positive_high : float
        Wilson score interval of the share (NaN when ``n`` is 0).
    """

    n: int
    mean: float
    ci_low: float
    ci_high: float
    counts: tuple[int, ...]
    positive: int
    positive_share: float
    positive_low: float
    positive_high: float


@dataclass(frozen=True)
class PerceptionResult:
    """The summaries of every item of one group of respondents (e.g. one OPD).

    Attributes
    ----------
    items : tuple of PerceptionItem
        One per column of the answers, in column order.
    scale_points : int
        Number of answer values.
    confidence_level : float
        Level of every interval.
    respondents : int
        Rows with at least one answer.
    """

    items: tuple[PerceptionItem, ...]
    scale_points: int
    confidence_level: float
    respondents: int


def positive_threshold(scale_points: int) -> int:
    """Lowest answer counted as positive: the top half of the scale.

    Parameters
    ----------
    scale_points : int
        Number of answer values (>= 2).

    Returns
    -------
    int
        ``(scale_points + 1) // 2 + 1``: 3 on a 4-point scale, 4 on a 5-point scale (the
        middle point of an odd scale is neither positive nor negative).

    Examples
    --------
    >>> positive_threshold(4), positive_threshold(5)
    (3, 4)
    """
    if isinstance(scale_points, bool) or not isinstance(scale_points, int | np.integer):
        raise ValueError(f"scale_points must be a whole number >= 2, got {scale_points!r}")
    if scale_points < 2:
        raise ValueError(f"scale_points must be a whole number >= 2, got {scale_points!r}")
    return (int(scale_points) + 1) // 2 + 1


def _wilson(successes: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval of a proportion (NaN, NaN without observations)."""
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # Clip rounding noise: at p = 0 or 1 one end is exactly 0 or 1.
    return (max(0.0, centre - half), min(1.0, centre + half))


def perception_scores(
    answers: ArrayLike, scale_points: int, *, confidence_level: float = 0.95
) -> PerceptionResult:
    """Summarise each perception item: mean with t interval, counts, positive share.

    Parameters
    ----------
    answers : array_like of shape (n, k)
        One row per respondent, one column per item; whole numbers in 1..`scale_points`,
        NaN for no answer.
    scale_points : int
        Number of answer values (4 or 5 in practice; any whole number >= 2).
    confidence_level : float, optional
        Level of the intervals, strictly between 0 and 1 (default 0.95).

    Returns
    -------
    PerceptionResult
        With one :class:`PerceptionItem` per column.

    Raises
    ------
    ValueError
        For answers that are not 2-D, not numeric or outside 1..`scale_points`, a bad
        `scale_points` or a bad `confidence_level`; the message names the bad value.

    Examples
    --------
    >>> import numpy as np
    >>> res = perception_scores(np.array([[1.0], [2.0], [3.0], [4.0]]), 4)
    >>> item = res.items[0]
    >>> item.n, item.mean, item.counts, item.positive, round(item.ci_high, 4)
    (4, 2.5, (1, 1, 1, 1), 2, 4.5543)
    """
    threshold = positive_threshold(scale_points)
    if isinstance(confidence_level, bool) or not 0 < confidence_level < 1:
        raise ValueError(f"confidence_level must be between 0 and 1, got {confidence_level!r}")
    rows = _check_answers(answers, scale_points)
    z = float(norm_ppf(0.5 + confidence_level / 2))
    items = []
    for j in range(rows.shape[1]):
        column = rows[:, j]
        given = column[~np.isnan(column)]
        n = int(given.size)
        counts = tuple(int(np.count_nonzero(given == v)) for v in range(1, scale_points + 1))
        positive = int(np.count_nonzero(given >= threshold))
        mean = float(given.mean()) if n else math.nan
        if n >= 2:
            sd = float(given.std(ddof=1))
            half = float(t_ppf(0.5 + confidence_level / 2, n - 1)) * sd / math.sqrt(n)
            low, high = mean - half, mean + half
        else:
            low = high = math.nan
        share = positive / n if n else math.nan
        p_low, p_high = _wilson(positive, n, z)
        items.append(
            PerceptionItem(
                n=n,
                mean=mean,
                ci_low=low,
                ci_high=high,
                counts=counts,
                positive=positive,
                positive_share=share,
                positive_low=p_low,
                positive_high=p_high,
            )
        )
    respondents = int(np.count_nonzero(~np.all(np.isnan(rows), axis=1)))
    return PerceptionResult(
        items=tuple(items),
        scale_points=int(scale_points),
        confidence_level=float(confidence_level),
        respondents=respondents,
    )

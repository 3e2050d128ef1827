"""How the sample was collected: response rate, channels, design effect of clustering by day.

Answers are not a simple random sample: they arrive in clumps, one survey day at a time, and
people served on one day share the staff, the queue and the weather. When days differ, an
interval that treats every answer as independent is too narrow.

:func:`day_design_effect` uses Kish's design effect for cluster samples,

    deff = 1 + (m - 1) ICC,

with the clusters the survey days, m = sum n_g^2 / N the size-weighted mean number of answers
per day (the plain mean n/G when every day has as many; Kish's choice for unequal clusters)
and ICC the one-way ANOVA estimator on the respondents' mean scores (each respondent's mean
over the elements they answered) grouped by day:

    MSB = sum n_g (ybar_g - ybar)^2 / (G - 1),  MSW = sum (y - ybar_g)^2 / (N - G),
    n0 = (N - sum n_g^2 / N) / (G - 1),         ICC = (MSB - MSW) / (MSB + (n0 - 1) MSW),

truncated at 0 (a negative ICC, days more alike than chance, never narrows an interval). With
one day, or no spread within days, the ICC is not estimable and deff = 1.

:func:`widen_interval` multiplies each half of an interval by sqrt(deff) **when deff > 1.1**
(an interval at least 5% wider); below that the change is within the interval's own
imprecision and the published interval stays as computed. The widened ends stay on the scale.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "DEFF_THRESHOLD",
    "ChannelShare",
    "DesignEffect",
    "UnitDesign",
    "channel_shares",
    "day_design_effect",
    "response_rate",
    "unit_design",
    "widen_interval",
]

DEFF_THRESHOLD = 1.1
"""Intervals are widened by sqrt(deff) only when deff is above this."""


@dataclass(frozen=True)
class DesignEffect:
    """Design effect of clustering by survey day.

    Attributes
    ----------
    n : int
        Respondents.
    days : int
        Survey days with at least one respondent (clusters).
    mean_cluster : float
        m = sum n_g^2 / N.
    icc : float
        Intraclass correlation (ANOVA, truncated at 0); NaN when not estimable.
    deff : float
        1 + (m - 1) ICC (1 when the ICC is not estimable).
    """

    n: int
    days: int
    mean_cluster: float
    icc: float
    deff: float

    @property
    def widens(self) -> bool:
        """Whether the interval is widened (deff > :data:`DEFF_THRESHOLD`)."""
        return self.deff > DEFF_THRESHOLD

    @property
    def factor(self) -> float:
        """The factor applied to the interval's half-widths (1 unless it widens)."""
        return math.sqrt(self.deff) if self.widens else 1.0


def day_design_effect(values: ArrayLike, days: Sequence[Hashable]) -> DesignEffect:
    """Kish's design effect of a sample clustered by survey day (see the module docstring).

    Parameters
    ----------
    values : array_like, shape (N,)
        Each respondent's mean score.
    days : sequence, length N
        Each respondent's survey day (any hashable label, e.g. a date).

    Returns
    -------
    DesignEffect

    Examples
    --------
    >>> d = day_design_effect([1, 2, 3, 4], ["mon", "mon", "tue", "tue"])
    >>> round(d.icc, 6), round(d.deff, 6)  # MSB 4, MSW 0.5, n0 2: ICC 3.5 / 4.5
    (0.777778, 1.777778)
    """
    y = np.asarray(values, dtype=np.float64).ravel()
    if len(days) != y.size:
        raise ValueError(f"days has {len(days)} labels for {y.size} values")
    if not np.all(np.isfinite(y)):
        raise ValueError("values must be finite")
    n = int(y.size)
    if n == 0:
        return DesignEffect(0, 0, float("nan"), float("nan"), 1.0)
    index: dict[Hashable, int] = {}
    group = np.array([index.setdefault(d, len(index)) for d in days], dtype=np.intp)
    g = len(index)
    sizes = np.bincount(group, minlength=g).astype(np.float64)
    m = float(np.sum(sizes * sizes) / n)
    if g < 2 or n - g < 1:
        return DesignEffect(n, g, m, float("nan"), 1.0)
    means = np.bincount(group, weights=y, minlength=g) / sizes
    grand = float(y.mean())
    msb = float(np.sum(sizes * (means - grand) ** 2) / (g - 1))
    msw = float(np.sum((y - means[group]) ** 2) / (n - g))
    n0 = (n - float(np.sum(sizes * sizes)) / n) / (g - 1)
    denominator = msb + (n0 - 1) * msw
    if denominator <= 0:
        return DesignEffect(n, g, m, float("nan"), 1.0)
    icc = max(0.0, (msb - msw) / denominator)
    return DesignEffect(n, g, m, float(icc), float(1 + (m - 1) * icc))


def widen_interval(
    low: float,
    high: float,
    estimate: float,
    deff: float,
    *,
    scale: tuple[float, float] = (1.0, 4.0),
    threshold: float = DEFF_THRESHOLD,
) -> tuple[float, float]:
    """The interval [low, high] around `estimate` with each half times sqrt(deff) if deff > 1.1.

    Examples
    --------
    >>> widen_interval(3.0, 3.4, 3.2, 1.21)
    (2.98, 3.42)
    >>> widen_interval(3.0, 3.4, 3.2, 1.05)
    (3.0, 3.4)
    >>> widen_interval(3.6, 3.95, 3.8, 4.0)
    (3.4, 4.0)
    """
    if not (math.isfinite(deff) and deff > threshold):
        return float(low), float(high)
    factor = math.sqrt(deff)
    lo = max(scale[0], estimate - (estimate - low) * factor)
    hi = min(scale[1], estimate + (high - estimate) * factor)
    return round(float(lo), 12), round(float(hi), 12)


def response_rate(n: int, population: int | None) -> float | None:
    """Respondents per person served, n / population (None when the population is unknown).

    Examples
    --------
    >>> response_rate(30, 600), response_rate(30, None)
    (0.05, None)
    """
    if population is None or population <= 0:
        return None
    return n / population


@dataclass(frozen=True)
class ChannelShare:
    """Answers from one channel (web/QR, kiosk, import, ...) and their share."""

    channel: str
    count: int
    share: float


def channel_shares(channels: Iterable[str]) -> tuple[ChannelShare, ...]:
    """Count answers by channel, largest first (ties by name).

    Examples
    --------
    >>> [(c.channel, c.count, c.share) for c in channel_shares(["qr", "kiosk", "qr", "qr"])]
    [('qr', 3, 0.75), ('kiosk', 1, 0.25)]
    """
    counts = Counter(channels)
    total = sum(counts.values())
    return tuple(
        ChannelShare(channel, count, count / total)
        for channel, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    )


@dataclass(frozen=True)
class UnitDesign:
    """How one unit's sample was collected.

    Attributes
    ----------
    unit : str
    n : int
        Respondents with at least one IKM answer.
    population : int or None
        People the unit serves in the period, when known.
    rate : float or None
        n / population.
    channels : tuple of ChannelShare
    effect : DesignEffect
        Of clustering by survey day.
    """

    unit: str
    n: int
    population: int | None
    rate: float | None
    channels: tuple[ChannelShare, ...]
    effect: DesignEffect


def unit_design(
    unit: str,
    values: ArrayLike,
    days: Sequence[Hashable],
    channels: Iterable[str],
    population: int | None = None,
) -> UnitDesign:
    """Response rate, channel shares and day design effect of one unit.

    Examples
    --------
    >>> d = unit_design("a", [1, 2, 3, 4], [1, 1, 2, 2], ["qr"] * 4, population=40)
    >>> d.rate, round(d.effect.deff, 4)
    (0.1, 1.7778)
    """
    effect = day_design_effect(values, days)
    return UnitDesign(
        unit=str(unit),
        n=effect.n,
        population=population,
        rate=response_rate(effect.n, population),
        channels=channel_shares(channels),
        effect=effect,
    )

"""Change of each unit's IKM between two waves: Welch intervals, Holm, regression to the mean.

For a unit scored in wave A and in wave B (independent samples of respondents), with IKM
estimates ``a`` and ``b``, standard errors ``s_a`` and ``s_b`` and degrees of freedom ``d_a``
and ``d_b`` as the scoring code computes them (analytic, respondent-clustered; n - 1):

- change ``b - a``, standard error ``s = sqrt(s_a^2 + s_b^2)``;
- Welch-Satterthwaite degrees of freedom ``(s_a^2 + s_b^2)^2 / (s_a^4 / d_a + s_b^4 / d_b)``;
- the 95% interval ``b - a +/- t(0.975, df) s`` and the two-sided p-value of ``(b - a) / s``;
- Holm's step-down adjustment of the p-values over every unit compared (family-wise error 5%):
  a unit "improved" or "declined" only when its Holm-adjusted p-value is at most 5%, else "no
  clear change" (``"unclear"``). A Holm-significant change always has an unadjusted interval
  that excludes 0, so the word never says more than the interval shows; the converse does not
  hold (an interval excluding 0 may not survive the correction, and is then "unclear");
- regression to the mean: a unit whose wave-A IKM was in the bottom quarter of the units
  compared (at or below their 25th percentile, numpy's linear rule) and went up, or in the top
  quarter (at or above the 75th percentile) and went down, gets ``rtm = True``: part of such a
  move toward the middle is expected by chance alone, since an extreme score is partly luck.

Everything is on the IKM scale of the questionnaire (1..scale points); :attr:`UnitChange.factor`
converts a change to the converted scale (a change needs only the slope of the conversion).
Pure: no Flask, no database.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .distributions import t_ppf, t_sf

__all__ = ["ChangeInput", "ChangeResult", "UnitChange", "compare_waves", "holm", "welch"]

Verdict = Literal["improved", "declined", "unclear", "not-estimable"]
Extreme = Literal["bottom", "top"]

LEVEL = 0.95
ALPHA = 0.05


@dataclass(frozen=True)
class ChangeInput:
    """One unit's IKM in one wave: estimate, standard error, degrees of freedom, respondents."""

    ikm: float
    se: float
    df: float
    n: int


@dataclass(frozen=True)
class WelchResult:
    """The Welch comparison of two estimates (NaN fields when it cannot be computed)."""

    diff: float
    se: float
    df: float
    low: float
    high: float
    p_value: float


def welch(a: ChangeInput, b: ChangeInput, level: float = LEVEL) -> WelchResult:
    """Return ``b - a`` with its Welch interval and two-sided p-value.

    Not estimable (NaN interval and p-value) when a standard error is missing or a wave has
    fewer than 1 degree of freedom, or when both standard errors are 0.

    Examples
    --------
    >>> r = welch(ChangeInput(3.0, 0.1, 20, 21), ChangeInput(3.3, 0.1, 20, 21))
    >>> round(r.diff, 6), round(r.df, 6), round(r.low, 4), round(r.high, 4)
    (0.3, 40.0, 0.0142, 0.5858)
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level!r}")
    diff = b.ikm - a.ikm
    va, vb = a.se**2, b.se**2
    usable = math.isfinite(va) and math.isfinite(vb) and a.df >= 1 and b.df >= 1 and va + vb > 0
    if not usable:
        nan = float("nan")
        return WelchResult(diff, nan, nan, nan, nan, nan)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / a.df + vb**2 / b.df)
    half = float(t_ppf(0.5 + level / 2, df)) * se
    p = float(2 * t_sf(abs(diff) / se, df))
    return WelchResult(diff, se, df, diff - half, diff + half, min(1.0, p))


def holm(p_values: Sequence[float]) -> list[float]:
    """Return Holm's step-down adjusted p-values (NaN stays NaN and is not counted).

    The m defined p-values sorted ascending, p_(i) becomes max over j <= i of
    min(1, (m - j + 1) p_(j)).

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03, float("nan")])
    [0.03, 0.06, 0.06, nan]
    """
    values = [float(p) for p in p_values]
    defined = [i for i, p in enumerate(values) if not math.isnan(p)]
    order = sorted(defined, key=lambda i: values[i])
    m = len(order)
    adjusted = [float("nan")] * len(values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * values[i]))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class UnitChange:
    """One unit's change from wave A to wave B.

    Attributes
    ----------
    unit : str
    a, b : ChangeInput
        The unit's IKM in each wave.
    diff, se, df, low, high, p_value : float
        ``b - a`` on the IKM scale, its standard error, Welch df, 95% interval and p-value
        (NaN when not estimable).
    p_holm : float
        Holm-adjusted p-value over the units compared.
    verdict : {"improved", "declined", "unclear", "not-estimable"}
    extreme : {"bottom", "top"} or None
        The quarter of wave A the unit was in.
    rtm : bool
        It was in a wave-A extreme quarter and moved toward the middle (see the module).
    factor : float
        Converted points per IKM point (25 for the 4-point regulation scale).
    """

    unit: str
    a: ChangeInput
    b: ChangeInput
    diff: float
    se: float
    df: float
    low: float
    high: float
    p_value: float
    p_holm: float
    verdict: Verdict
    extreme: Extreme | None
    rtm: bool
    factor: float

    def converted(self) -> tuple[float, float, float]:
        """Return the change and its interval ends on the converted scale."""
        return (self.diff * self.factor, self.low * self.factor, self.high * self.factor)

    def as_dict(self) -> dict[str, Any]:
        """The machine-readable fields (NaN as None); see :func:`compare_waves`."""

        def num(x: float) -> float | None:
            return None if not math.isfinite(x) else float(x)

        diff_c, low_c, high_c = self.converted()
        return {
            "unit": self.unit,
            "n_a": self.a.n,
            "n_b": self.b.n,
            "ikm_a": num(self.a.ikm),
            "ikm_b": num(self.b.ikm),
            "se_a": num(self.a.se),
            "se_b": num(self.b.se),
            "change": num(self.diff),
            "change_converted": num(diff_c),
            "ci_low": num(self.low),
            "ci_high": num(self.high),
            "ci_low_converted": num(low_c),
            "ci_high_converted": num(high_c),
            "se": num(self.se),
            "df": num(self.df),
            "p_value": num(self.p_value),
            "p_holm": num(self.p_holm),
            "verdict": self.verdict,
            "extreme_in_a": self.extreme,
            "regression_to_mean": self.rtm,
        }


@dataclass(frozen=True)
class ChangeResult:
    """Every unit's change, in the input order, with the family size of the correction."""

    units: tuple[UnitChange, ...]
    level: float
    alpha: float
    tested: int  # units with an estimable change: the m of Holm

    def unit(self, name: str) -> UnitChange | None:
        """Return the change of one unit, or None."""
        return next((u for u in self.units if u.unit == name), None)


def _extremes(values: Sequence[float]) -> list[Extreme | None]:
    """The wave-A quarter of each value: bottom (<= 25th percentile), top (>= 75th), or None."""
    if len(values) < 2:
        return [None] * len(values)
    q1, q3 = (float(q) for q in np.quantile(np.asarray(values, dtype=np.float64), [0.25, 0.75]))
    if q1 == q3:  # every unit alike: nobody is extreme
        return [None] * len(values)
    return ["bottom" if v <= q1 else "top" if v >= q3 else None for v in values]


def compare_waves(
    pairs: Sequence[tuple[str, ChangeInput, ChangeInput]],
    *,
    factor: float = 25.0,
    level: float = LEVEL,
    alpha: float = ALPHA,
) -> ChangeResult:
    """Compare every unit present in both waves: Welch interval, Holm verdict, RTM note.

    Parameters
    ----------
    pairs : sequence of (unit, wave-A input, wave-B input)
        The units in both waves (same questionnaire and scheme: the caller checks).
    factor : float
        Converted points per IKM point (25 on the regulation's 4-point scale).
    level : float
        Confidence level of each unit's interval (default 0.95).
    alpha : float
        Family-wise error rate of the Holm correction (default 0.05).

    Examples
    --------
    >>> res = compare_waves([
    ...     ("x", ChangeInput(3.0, 0.05, 30, 31), ChangeInput(3.4, 0.05, 30, 31)),
    ...     ("y", ChangeInput(3.2, 0.05, 30, 31), ChangeInput(3.25, 0.05, 30, 31)),
    ... ])
    >>> [(u.unit, u.verdict, u.extreme, u.rtm) for u in res.units]
    [('x', 'improved', 'bottom', True), ('y', 'unclear', 'top', False)]
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    tests = [welch(a, b, level) for _name, a, b in pairs]
    adjusted = holm([t.p_value for t in tests])
    extremes = _extremes([a.ikm for _name, a, _b in pairs])
    units = []
    for (name, a, b), t, p_holm, extreme in zip(pairs, tests, adjusted, extremes, strict=True):
        verdict: Verdict
        if math.isnan(t.p_value):
            verdict = "not-estimable"
        elif p_holm <= alpha and t.diff > 0:
            verdict = "improved"
        elif p_holm <= alpha and t.diff < 0:
            verdict = "declined"
        else:
            verdict = "unclear"
        rtm = (extreme == "bottom" and t.diff > 0) or (extreme == "top" and t.diff < 0)
        units.append(
            UnitChange(
                unit=name,
                a=a,
                b=b,
                diff=t.diff,
                se=t.se,
                df=t.df,
                low=t.low,
                high=t.high,
                p_value=t.p_value,
                p_holm=p_holm,
                verdict=verdict,
                extreme=extreme,
                rtm=rtm,
                factor=float(factor),
            )
        )
    tested = sum(1 for t in tests if not math.isnan(t.p_value))
    return ChangeResult(units=tuple(units), level=level, alpha=alpha, tested=tested)

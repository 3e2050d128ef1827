"""One story in every output: the statements the pages and reports may make, and their rules.

Three rules live here so that the ranking report, the OPD report, the public pages and the OPD
head's page all say the same thing:

- **"Clearly different from the average"** (:func:`clear_positions`). The funnel plot's 95%
  limits hold for one OPD at a time; with p OPDs about 5% of them fall outside by chance alone.
  An OPD is called clearly above (below) the wave's average only when it lies outside the
  funnel limits at the Bonferroni level 1 - 0.05 / p (so the chance of calling any OPD clearly
  different when none is stays below 5%) *and* its simultaneous 95% rank set does not reach the
  K lowest (K best). The second condition keeps one page from calling an OPD "clearly above
  average" and "possibly among the K lowest" at once: a statement is made only when both
  procedures agree.
- **Follow-up priorities** (:func:`element_priorities`). Only elements answered by at least
  :data:`MIN_ELEMENT_ANSWERS` respondents take part. The :data:`PRIORITIES` lowest NRRs are
  taken; elements tied with the last one taken are all taken too, unless that would take every
  element that takes part (then nothing stands out at the cut, and the tied ones are left out);
  when no more than :data:`PRIORITIES` elements take part, none is taken.
  An element is called *weak* ("lemah") only when its whole 95% interval lies below the OPD's
  own IKM; otherwise it is only the *lowest* ("terendah").
- **The wave's one average** is :meth:`scoring.WaveScore.mean_ikm` (every OPD counts once); the
  funnel's centre line is the same value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from scoring import ElementScore, UnitScore, WaveScore

__all__ = [
    "MIN_ELEMENT_ANSWERS",
    "PRIORITIES",
    "Priority",
    "bonferroni_level",
    "bonferroni_z",
    "clear_positions",
    "element_priorities",
]

MIN_ELEMENT_ANSWERS = 10
"""Fewest answers an element needs before it can be named a follow-up priority."""

PRIORITIES = 3
"""Lowest elements taken as the priorities of the follow-up plan (more when tied)."""

_TIE = 1e-9  # NRRs closer than this are equal (the same fraction computed two ways)


def bonferroni_level(count: int, confidence_level: float = 0.95) -> float:
    """The per-OPD level that keeps `count` comparisons at `confidence_level` together.

    Examples
    --------
    >>> round(bonferroni_level(20), 4)
    0.9975
    """
    return 1 - (1 - confidence_level) / max(int(count), 1)


def bonferroni_z(count: int, confidence_level: float = 0.95) -> float:
    """The two-sided normal quantile of :func:`bonferroni_level` (3.02 for 20 OPDs).

    Examples
    --------
    >>> round(bonferroni_z(20), 2), round(bonferroni_z(1), 2)
    (3.02, 1.96)
    """
    level = bonferroni_level(count, confidence_level)
    return NormalDist().inv_cdf(0.5 + level / 2)


def clear_positions(score: WaveScore) -> dict[str, str | None]:
    """Per unit: ``"above"``, ``"below"`` or ``"inside"``, "clearly" in the sense of the module.

    None for every unit when the wave has no funnel (a single OPD, or no standard errors).
    """
    fun = score.funnel
    if fun is None:
        return {u.unit: None for u in score.units}
    level = bonferroni_level(len(score.units), score.confidence_level)
    positions = fun.position(level)
    out: dict[str, str | None] = {}
    for u, position in zip(score.units, positions, strict=True):
        where = str(position)
        if (where == "above" and u.in_bottom_set) or (where == "below" and u.in_top_set):
            where = "inside"
        out[u.unit] = where
    return out


@dataclass(frozen=True)
class Priority:
    """One element chosen as a follow-up priority.

    Attributes
    ----------
    element : ElementScore
    weak : bool
        Its whole 95% interval lies below the OPD's IKM ("lemah"); else it is only among the
        lowest ("terendah").
    """

    element: ElementScore
    weak: bool

    @property
    def code(self) -> str:
        """The element's code."""
        return self.element.code


def _is_weak(element: ElementScore, unit: UnitScore) -> bool:
    high = element.interval.high
    return math.isfinite(high) and math.isfinite(unit.ikm) and high < unit.ikm


def element_priorities(
    unit: UnitScore, count: int = PRIORITIES, *, minimum: int = MIN_ELEMENT_ANSWERS
) -> list[Priority]:
    """The follow-up priorities of one OPD, lowest NRR first (ties in questionnaire order).

    See the module for the rule. Examples with NRRs 2.0, 2.5, 2.5, 3.0 ... take three (U1..U3);
    with 2.0, 2.5, 3.0, 3.0, 3.5 ... take four (the tie at the cut); with all NRRs equal take
    none; an element answered by fewer than `minimum` respondents is never taken.
    """
    order = {e.code: i for i, e in enumerate(unit.elements)}
    eligible = sorted(
        (e for e in unit.elements if math.isfinite(e.nrr) and e.n >= minimum),
        key=lambda e: (e.nrr, order[e.code]),
    )
    if not eligible or count < 1:
        return []
    cut = eligible[min(count, len(eligible)) - 1].nrr
    chosen = [e for e in eligible if e.nrr <= cut + _TIE]
    if len(chosen) == len(eligible) and len(eligible) > count:
        # Tied with everything above: nothing stands out at the cut, so no tie is broken.
        chosen = [e for e in eligible if e.nrr < cut - _TIE]
    elif len(eligible) <= count:
        # Too few elements take part to call any of them the lowest.
        chosen = []
    return [Priority(e, _is_weak(e, unit)) for e in chosen]

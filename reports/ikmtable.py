"""The IKM table in the regulation's layout, as every Pemda's SKM report carries it.

PermenPANRB 14/2017 (appendix) computes a unit's index in one table: per element (unsur) the
NRR, the weight (*penimbang*) and the weighted NRR (NRR x weight), then the IKM as the sum of
the weighted NRRs, the converted score and the quality category. The figures are the scoring
layer's own (:class:`scoring.IKMResult`): the NRRs, the weights 1/k' over the k' answered
elements, the exact IKM and its category, so the table and the headline figures cannot differ.
Printed values are rounded; the IKM is the sum of the unrounded weighted NRRs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from scoring import UnitScore
from scoring.schemes import converted

from .formatting import Formatter
from .model import ElementInfo, Lang
from .texts import Texts

__all__ = ["IkmTable", "IkmTableRow", "ikm_table"]

NRR_DIGITS = 3
WEIGHTED_DIGITS = 4
IKM_DIGITS = 4
CONVERTED_DIGITS = 2


@dataclass(frozen=True)
class IkmTableRow:
    """One element's line: code, name, respondents who answered, NRR, weight, weighted NRR."""

    code: str
    name: str
    answered: str
    nrr: str
    weight: str
    weighted: str


@dataclass(frozen=True)
class IkmTable:
    """One unit's table, every figure formatted for the report language."""

    rows: tuple[IkmTableRow, ...]
    ikm: str
    converted: str
    conversion: str  # how the score was converted ("IKM × 25")
    category_code: str
    category_label: str
    n: str
    # One sentence per element whose "not applicable" answer some respondents chose.
    notes: tuple[str, ...] = ()


def _weight(answered: int) -> tuple[Fraction, str]:
    return Fraction(1, answered), f"1/{answered}"


def ikm_table(
    unit: UnitScore,
    elements: tuple[ElementInfo, ...],
    f: Formatter,
    lang: Lang,
    not_applicable: tuple[tuple[str, int], ...] = (),
) -> IkmTable:
    """Return the regulation's table of one scored unit (``elements`` in questionnaire order).

    ``not_applicable`` (:attr:`OpdInfo.not_applicable`) adds a note per element on the
    respondents who chose its "not applicable" answer: counted, not scored.
    """
    estimate = unit.estimate
    answered = int((estimate.n_answers > 0).sum())
    rows = []
    for info, nrr, n in zip(elements, estimate.nrr, estimate.n_answers, strict=True):
        if n > 0 and math.isfinite(float(nrr)):
            weight, shown = _weight(answered)
            rows.append(
                IkmTableRow(
                    code=info.code,
                    name=info.name(lang),
                    answered=f.int(int(n)),
                    nrr=f.num(float(nrr), NRR_DIGITS),
                    weight=shown,
                    weighted=f.num(float(nrr) * float(weight), WEIGHTED_DIGITS),
                )
            )
        else:
            rows.append(IkmTableRow(info.code, info.name(lang), f.int(int(n)), "–", "0", "–"))
    category = estimate.category()
    points = estimate.scale_points
    t = Texts(lang, points)
    chose = dict(not_applicable)
    notes = tuple(
        t(
            "reg.not_applicable",
            code=info.code,
            count=f.int(chose[info.code]),
            label=info.not_applicable_en if lang == "en" else info.not_applicable_id,
        )
        for info in elements
        if chose.get(info.code) and (info.not_applicable_id or info.not_applicable_en)
    )
    conversion = "IKM × 25" if points == 4 else f"25 + 75 × (IKM − 1) / {points - 1}"
    return IkmTable(
        rows=tuple(rows),
        ikm=f.num(float(estimate.exact), IKM_DIGITS),
        converted=f.num(float(converted(estimate.exact, points)), CONVERTED_DIGITS),
        conversion=conversion,
        category_code=category.code,
        category_label=category.label_en if lang == "en" else category.label_id,
        n=f.int(estimate.n),
        notes=notes,
    )

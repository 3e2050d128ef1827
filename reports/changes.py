"""Change between two waves as plain data, and its sentences (Bahasa Indonesia, English).

The service :mod:`survey.core.changes` fills these value objects from the database; the OPD
report, the OPD head's page and ``ikm compare`` read them. Scores here are on the converted
scale (25..100 on the regulation's 4-point questionnaire); the statistics are in
:mod:`scoring.change`.

Wording rule: "membaik"/"improved" and "menurun"/"declined" only when the change is significant
after Holm's correction over every OPD compared; otherwise "tidak berbeda nyata"/"no clear
difference", whatever the sign of the estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .formatting import format_number
from .model import Lang

__all__ = ["CHANGE_TEXTS", "ChangeReport", "OpdChange", "change_sentences", "signed"]


@dataclass(frozen=True)
class OpdChange:
    """One OPD's change from wave A (earlier) to wave B.

    ``ikm_a``/``ikm_b`` are on the questionnaire's scale, ``score_a``/``score_b`` and
    ``change``/``low``/``high`` on the converted scale; ``se`` and ``df`` (Welch) of the change
    on the IKM scale. ``change``, ``low``, ``high`` are NaN when not estimable (``verdict``
    "not-estimable").
    ``tested`` is the number of OPDs in Holm's correction; ``extreme`` the wave-A quarter
    ("bottom", "top" or None); ``rtm`` the regression-to-the-mean note applies.
    """

    slug: str
    name: str
    wave_a_slug: str
    wave_a_title: str
    wave_b_slug: str
    wave_b_title: str
    n_a: int
    n_b: int
    ikm_a: float
    ikm_b: float
    score_a: float
    score_b: float
    change: float
    low: float
    high: float
    se: float
    df: float
    p_value: float
    p_holm: float
    verdict: str
    extreme: str | None
    rtm: bool
    tested: int

    @property
    def estimable(self) -> bool:
        """Whether the change has an interval."""
        return self.verdict != "not-estimable"


@dataclass(frozen=True)
class ChangeReport:
    """Every OPD's change between two comparable waves."""

    wave_a_slug: str
    wave_a_title: str
    wave_b_slug: str
    wave_b_title: str
    scale_points: int
    factor: float  # converted points per IKM point
    level: float
    alpha: float
    tested: int
    opds: tuple[OpdChange, ...]

    def opd(self, slug: str) -> OpdChange | None:
        """Return one OPD's change, or None when it is not in both waves."""
        return next((o for o in self.opds if o.slug == slug), None)


# key -> (Bahasa Indonesia, English)
CHANGE_TEXTS: dict[str, tuple[str, str]] = {
    "title": ("Perubahan dari gelombang sebelumnya", "Change from the previous wave"),
    "scores": (
        "{wave_a}: {score_a} (n = {n_a}); {wave_b}: {score_b} (n = {n_b}).",
        "{wave_a}: {score_a} (n = {n_a}); {wave_b}: {score_b} (n = {n_b}).",
    ),
    "change": (
        "Perubahan nilai konversi {change} poin (interval kepercayaan 95%: {low} sampai {high}).",
        "Change in the converted score {change} points (95% confidence interval: {low} to {high}).",
    ),
    "improved": (
        "Nilai OPD ini membaik secara nyata setelah koreksi Holm atas {tested} OPD yang "
        "dibandingkan (tingkat kesalahan 5%).",
        "This OPD's score improved beyond chance after Holm's correction over the {tested} "
        "OPDs compared (5% error rate).",
    ),
    "declined": (
        "Nilai OPD ini menurun secara nyata setelah koreksi Holm atas {tested} OPD yang "
        "dibandingkan (tingkat kesalahan 5%).",
        "This OPD's score declined beyond chance after Holm's correction over the {tested} "
        "OPDs compared (5% error rate).",
    ),
    "unclear": (
        "Perubahan ini tidak berbeda nyata setelah koreksi Holm atas {tested} OPD yang "
        "dibandingkan: data belum menunjukkan bahwa layanan membaik atau menurun.",
        "This change is not clearly different from zero after Holm's correction over the "
        "{tested} OPDs compared: the data do not show that the service improved or declined.",
    ),
    "unclear.interval": (
        "Interval 95% di atas berlaku untuk OPD ini saja; bila semua OPD yang dibandingkan "
        "diperhitungkan, perubahan ini masih mungkin terjadi karena kebetulan.",
        "The 95% interval above holds for this OPD alone; with all the OPDs compared taken "
        "into account, this change may still be due to chance.",
    ),
    "not-estimable": (
        "Perubahan ini tidak dapat diuji: jawaban salah satu gelombang terlalu sedikit atau "
        "tidak bervariasi.",
        "This change cannot be tested: one wave has too few answers or answers without spread.",
    ),
    "rtm.bottom": (
        "OPD ini termasuk seperempat terendah pada gelombang sebelumnya; sebagian dari kenaikan "
        "seperti ini memang diharapkan terjadi karena kebetulan (regresi ke arah rata-rata).",
        "This OPD was in the lowest quarter in the previous wave; part of a rise like this is "
        "expected by chance alone (regression to the mean).",
    ),
    "rtm.top": (
        "OPD ini termasuk seperempat tertinggi pada gelombang sebelumnya; sebagian dari "
        "penurunan seperti ini memang diharapkan terjadi karena kebetulan (regresi ke arah "
        "rata-rata).",
        "This OPD was in the highest quarter in the previous wave; part of a fall like this is "
        "expected by chance alone (regression to the mean).",
    ),
}


def signed(value: float, lang: Lang, digits: int = 2) -> str:
    """A change with its sign (``+2,50``, ``−1,25``, ``0,00``); "–" when undefined."""
    if value is None or not math.isfinite(value):
        return "–"
    text = format_number(abs(value), lang, digits)
    if text.strip("0,.") == "":
        return text
    return ("+" if value > 0 else "−") + text


def change_sentences(change: OpdChange, lang: Lang) -> list[str]:
    """The report's sentences about one OPD's change, in order (scores, change, verdict, RTM)."""
    index = 0 if lang == "id" else 1

    def text(key: str, **values: object) -> str:
        return CHANGE_TEXTS[key][index].format(**values)

    lines = [
        text(
            "scores",
            wave_a=change.wave_a_title,
            score_a=format_number(change.score_a, lang, 2),
            n_a=change.n_a,
            wave_b=change.wave_b_title,
            score_b=format_number(change.score_b, lang, 2),
            n_b=change.n_b,
        )
    ]
    if change.estimable:
        lines.append(
            text(
                "change",
                change=signed(change.change, lang),
                low=signed(change.low, lang),
                high=signed(change.high, lang),
            )
        )
    lines.append(text(change.verdict, tested=change.tested))
    if change.verdict == "unclear" and (change.low > 0 or change.high < 0):
        lines.append(text("unclear.interval"))
    if change.rtm and change.extreme in ("bottom", "top"):
        lines.append(text(f"rtm.{change.extreme}"))
    return lines

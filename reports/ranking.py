"""The ranking report of a wave: who scored best and worst, and how sure anyone can be.

:func:`render_ranking_pdf` is the public entry; :func:`ranking_context` builds everything the
template prints (also useful for a web page showing the same figures), and the small helpers
(:func:`category_counts`, :func:`certainty_paragraphs`, :func:`sample_rows`) are pure and
tested on their own. The report follows the KNPI evaluation (a top K and a bottom K) but prints
beside every score its interval and beside every rank its confidence set, and says in plain
words when the data cannot tell the best K apart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from scoring import Category, UnitScore, krejcie_morgan, margin_of_error
from scoring.design import UnitDesign
from scoring.schemes import converted

from . import charts
from .charts import ChartImage, chart_image
from .formatting import MISSING, Formatter
from .ikmtable import ikm_table
from .model import Lang, OpdInfo, ScoredWave
from .posterior import category_ranges, design_rows, posterior_section
from .render import fewer_collections, html_to_pdf, render, w3c_date
from .story import bonferroni_z, clear_positions
from .texts import Texts

__all__ = [
    "RankRow",
    "category_counts",
    "certainty_paragraphs",
    "ranking_charts",
    "ranking_context",
    "ranking_rows",
    "render_ranking_pdf",
    "robustness_rows",
]


@dataclass(frozen=True)
class RankRow:
    """One OPD as the ranking report prints it.

    Attributes
    ----------
    opd : OpdInfo
    unit : UnitScore or None
        None for an OPD without counted responses.
    in_top, in_bottom : bool
        In the 95% confidence set for the K best / K lowest (K of the report).
    sure_top, sure_bottom : bool
        Surely among the K best / K lowest (its whole simultaneous rank set is there).
    km : int or None
        Krejcie & Morgan minimum sample for the OPD's population, if known.
    moe : float or None
        Margin of error of its score at the achieved n, in points on 25..100.
    """

    opd: OpdInfo
    unit: UnitScore | None
    in_top: bool = False
    in_bottom: bool = False
    sure_top: bool = False
    sure_bottom: bool = False
    km: int | None = None
    moe: float | None = None
    # An OPD with counted responses but fewer than the wave's min_rank_n: scored, not ranked
    # (``unit`` is None); public outputs show its n and "belum cukup data", no category.
    small: UnitScore | None = None

    @property
    def name(self) -> str:
        """Full name of the OPD."""
        return self.opd.name

    @property
    def label(self) -> str:
        """Short name of the OPD."""
        return self.opd.label()

    def top_status(self) -> str:
        """``"sure"``, ``"maybe"`` or ``"no"``: membership of the K-best set, in words."""
        return "sure" if self.sure_top else "maybe" if self.in_top else "no"

    def bottom_status(self) -> str:
        """``"sure"``, ``"maybe"`` or ``"no"``: membership of the K-lowest set."""
        return "sure" if self.sure_bottom else "maybe" if self.in_bottom else "no"


def _margin(unit: UnitScore, population: int | None, level: float) -> float | None:
    """Half-width of the score's interval at its n, on 25..100, with the FPC when N is known."""
    if unit.n < 2 or not math.isfinite(unit.se):
        return None
    m = unit.estimate.scale_points
    # Respondent sd on 25..100 (se = sd / sqrt(n)); one answer point is worth this many.
    sd = unit.se * math.sqrt(unit.n) * (converted(2.0, m) - converted(1.0, m))
    fpc_population = population if population is not None and population >= max(unit.n, 2) else None
    return margin_of_error(unit.n, sd, population=fpc_population, confidence_level=level)


def ranking_rows(data: ScoredWave, top_k: int) -> list[RankRow]:
    """Every OPD of the wave: ranked ones by rank (ties by score, then slug), then those below
    the wave's ``min_rank_n`` (``small`` set, ``unit`` None), then those without responses.

    The top-K and bottom-K sets are those of `top_k`, recomputed from the rank result when it
    differs from the K the wave was scored with.
    """
    units = data.units()
    count = len(units)
    k = max(1, min(top_k, count)) if count else 1
    if count:
        score = data.wave_score()
        top = score.ranks.tau_best(k)
        bottom = score.ranks.tau_worst(k)
    rows = []
    for i, unit in enumerate(units):
        opd = data.opd(unit.unit)
        rows.append(
            RankRow(
                opd=opd,
                unit=unit,
                in_top=bool(top[i]),
                in_bottom=bool(bottom[i]),
                sure_top=unit.rank_high <= k,
                sure_bottom=unit.rank_low >= count - k + 1,
                km=krejcie_morgan(opd.population) if opd.population else None,
                moe=_margin(unit, opd.population, score.confidence_level),
            )
        )
    # Type error ignored below: only rows with a unit reach here (filtered above).
    rows.sort(key=lambda r: (r.unit.rank, -r.unit.ikm, r.opd.slug))  # type: ignore[union-attr]
    for small in sorted(data.small_units(), key=lambda u: u.unit):
        opd = data.opd(small.unit)
        km = krejcie_morgan(opd.population) if opd.population else None
        rows.append(RankRow(opd=opd, unit=None, km=km, small=small))
    scored = {r.opd.slug for r in rows}
    for opd in data.opds:
        if opd.slug not in scored:
            km = krejcie_morgan(opd.population) if opd.population else None
            rows.append(RankRow(opd=opd, unit=None, km=km))
    return rows


def category_counts(data: ScoredWave) -> list[tuple[Category, int, float]]:
    """(category, OPDs in it, share of the scored OPDs) for every category, best first."""
    score = data.wave_score()
    codes = [u.category().code for u in score.units]
    total = len(score.units)
    return [
        (cat, codes.count(cat.code), codes.count(cat.code) / total if total else 0.0)
        for cat in score.scheme.categories
    ]


def _names(rows: Sequence[RankRow], t: Texts) -> str:
    """Short names joined as prose."""
    return t.join([r.label for r in rows])


def certainty_paragraphs(
    rows: Sequence[RankRow],
    k: int,
    t: Texts,
    f: Formatter,
    clear: dict[str, str | None] | None = None,
    mean_ikm: float = math.nan,
    level: float = 0.95,
) -> list[str]:
    """The plain-language account of how sure the ranking is, one string per paragraph.

    It says whether the data can name the K best and the K lowest (comparing the size of the
    95% confidence sets with K), which OPDs are sure members, how wide rank ranges are, how
    many categories are uncertain and which OPDs differ clearly from the average: `clear` maps
    each OPD to its position by :func:`reports.story.clear_positions` (multiplicity-corrected
    and consistent with the rank sets); `mean_ikm` is the wave's one average (1..4).
    """
    scored = [r for r in rows if r.unit is not None]
    count = len(scored)
    if count == 0:
        return []
    k = max(1, min(k, count))
    kw = t.count_word(k)
    top = [r for r in scored if r.in_top]
    bottom = [r for r in scored if r.in_bottom]
    sure_top = [r for r in scored if r.sure_top]
    sure_bottom = [r for r in scored if r.sure_bottom]
    paragraphs = [t("certainty.intro")]

    parts = []
    # With K at least the number of OPDs every OPD is "among the best K": nothing to tell.
    if count > k:
        if len(top) <= k:
            parts.append(t("certainty.top_sure", k=kw, names=_names(top, t)))
        elif len(top) < count:
            parts.append(t("certainty.top_unsure", k=kw, size=len(top)))
        else:
            parts.append(t("certainty.top_all", k=kw))
        if len(top) > k:
            parts.append(
                t("certainty.top_surely", k=kw, names=_names(sure_top, t))
                if sure_top
                else t("certainty.top_none_sure", k=kw)
            )
        if len(bottom) <= k:
            parts.append(t("certainty.bottom_sure", k=kw, names=_names(bottom, t)))
        elif len(bottom) < count:
            parts.append(t("certainty.bottom_unsure", k=kw, size=len(bottom)))
        else:
            parts.append(t("certainty.bottom_all", k=kw))
        if len(bottom) > k:
            parts.append(
                t("certainty.bottom_surely", k=kw, names=_names(sure_bottom, t))
                if sure_bottom
                else t("certainty.bottom_none_sure", k=kw)
            )
    if parts:
        paragraphs.append(" ".join(parts))

    units = [r.unit for r in scored if r.unit is not None]
    width = float(np.mean([u.rank_high - u.rank_low + 1 for u in units]))
    crossing = sum(u.crosses_boundary() for u in units)
    detail = [
        t("certainty.width", width=f.num(width, 0), count=count),
        t("certainty.crossing", crossing=crossing, count=count)
        if crossing
        else t("certainty.crossing_none"),
    ]
    if clear is not None and units[0].funnel_95 is not None:
        z = f.num(bonferroni_z(count, level), 2)
        mean = f.conv(converted(mean_ikm, units[0].estimate.scale_points))
        outside = [r for r in scored if r.unit is not None and clear.get(r.unit.unit) != "inside"]
        raw = sum(u.funnel_95 != "inside" for u in units)
        detail.append(
            t(
                "certainty.funnel",
                count=len(outside),
                opd_word=t.opd_word(len(outside)),
                names=_names(outside, t),
                mean=mean,
                p=count,
                z=z,
            )
            if outside
            else t("certainty.funnel_none", mean=mean, p=count, z=z)
        )
        if raw > len(outside):
            detail.append(
                t(
                    "certainty.funnel_raw",
                    raw=raw,
                    opd_word=t.opd_word(raw),
                    p=count,
                    expected=f.num((1 - level) * count, 0),
                )
            )
    paragraphs.append(" ".join(detail))
    if len(top) > k or (count > k and len(bottom) > k):
        paragraphs.append(t("certainty.advice"))
    return paragraphs


def robustness_rows(data: ScoredWave, k: int, t: Texts, f: Formatter) -> list[dict[str, str]]:
    """The methods section's robustness table: one row per scored OPD, most fragile first.

    Each cell is a count of extreme ballots added to that OPD alone (``+3``), ``> limit`` when
    no count up to the limit makes the change, or ``—`` when it is impossible (see
    :meth:`reports.model.ScoredWave.robustness`).
    """
    result = data.robustness(k)

    def count(value: int | None, possible: bool = True) -> str:
        if not possible:
            return MISSING
        return f"> {f.int(result.limit)}" if value is None else f"+{f.int(value)}"

    rows = []
    for u in result.most_fragile():
        if result.sets_computed:
            top = t("robust.leave" if u.in_top_set else "robust.enter", n=count(u.top_change))
            bottom = t(
                "robust.leave" if u.in_bottom_set else "robust.enter", n=count(u.bottom_change)
            )
        else:
            top = bottom = t("robust.not_computed")
        rows.append(
            {
                "name": data.opd(u.unit).name,
                "n": f.int(u.n),
                "category": u.category,
                "up": count(u.category_up, u.up_possible()),
                "down": count(u.category_down, u.down_possible()),
                "top": ("▲ " if u.in_top_set else "") + top,
                "bottom": ("▼ " if u.in_bottom_set else "") + bottom,
            }
        )
    return rows


def _flag_rows(data: ScoredWave, t: Texts) -> list[tuple[str, int]]:
    """(reason in words, count), most frequent first; unknown codes printed as they are."""
    items = sorted(data.flag_reasons.items(), key=lambda item: (-item[1], item[0]))
    return [(t.get(f"flag.{code}", code), count) for code, count in items if count]


def _p_value(p: float, f: Formatter) -> str:
    """A p-value as "< 0,001" or "= 0,023"."""
    if not math.isfinite(p):
        return "—"
    return f"< {f.num(0.001, 3)}" if p < 0.001 else f"= {f.num(p, 3)}"


RANKING_CHARTS = ("caterpillar", "ranks", "funnel", "diverging")


def ranking_charts(
    data: ScoredWave, k: int, lang: Lang, *, names: Sequence[str] = RANKING_CHARTS
) -> dict[str, ChartImage]:
    """The wave's charts as images, keyed by name (those asked for that the data allow).

    The ranking report and the public ranking page both embed these, the same way.
    """
    t = Texts(lang, data.scale_points())
    score = data.wave_score()
    labels = {o.slug: o.label() for o in data.opds}
    out: dict[str, ChartImage] = {}
    if not score.units:
        return out
    if "caterpillar" in names:
        out["caterpillar"] = chart_image(
            charts.caterpillar_svg(score, labels, lang=lang), t("chart.caterpillar.title")
        )
    if "ranks" in names:
        out["ranks"] = chart_image(
            charts.rank_interval_svg(score, labels, lang=lang, top_k=k), t("chart.rank.title")
        )
    if "funnel" in names and score.funnel is not None:
        out["funnel"] = chart_image(
            charts.funnel_svg(score, labels, lang=lang), t("chart.funnel.title")
        )
    counts = [data.aggregates[u.unit].counts for u in score.units if u.unit in data.aggregates]
    if "diverging" in names and counts:
        out["diverging"] = chart_image(
            charts.diverging_svg(
                np.sum(counts, axis=0),
                [f"{e.code} {e.name(lang)}" for e in data.elements],
                lang=lang,
            ),
            t("chart.diverging.title"),
        )
    return out


def _nrr_table(data: ScoredWave, rows: Sequence[RankRow], f: Formatter) -> dict[str, Any]:
    """The OPD x element table: per row the label and (text, colour class) cells, and each
    colour class as (class, background, text colour).

    The colours come as a few classes, not as a style on each cell: WeasyPrint computes the
    style of a cell with a style attribute on its own, of one with classes only once for all
    its like (a tenth of the ranking report's style computation at 50 OPDs).
    """
    units = [r.unit for r in rows if r.unit is not None]
    if not units:
        return {"rows": [], "median": [], "colours": []}
    values = np.array([[e.nrr for e in u.elements] for u in units])
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (1.0, 4.0)
    colours: dict[tuple[str, str], str] = {}

    def cells(row: Sequence[float] | np.ndarray) -> list[tuple[str, str]]:
        """(text, colour class) of each NRR of a row."""
        out = []
        for v in row:
            colour = charts.nrr_colour(float(v), low, high)
            out.append((f.score(v), colours.setdefault(colour, f"nrr-{len(colours)}")))
        return out

    with np.errstate(all="ignore"):
        medians = np.nanmedian(np.where(np.isfinite(values), values, np.nan), axis=0)
    table_rows = [
        # Type error ignored below: only rows with a unit reach here (filtered above).
        {"label": r.label, "cells": cells(values[i]), "ikm": f.score(r.unit.ikm)}  # type: ignore[union-attr]
        for i, r in enumerate(r for r in rows if r.unit is not None)
    ]
    median_ikm = float(np.median([u.ikm for u in units]))
    return {
        "rows": table_rows,
        "median": cells(medians),
        "median_ikm": f.score(median_ikm),
        "colours": [(name, bg, fg) for (bg, fg), name in colours.items()],
    }


def ranking_context(
    data: ScoredWave,
    *,
    lang: Lang = "id",
    top_k: int = 5,
    design: Mapping[str, UnitDesign] | None = None,
) -> dict[str, Any]:
    """Return everything the ranking template prints, formatted for `lang`.

    Parameters
    ----------
    data : ScoredWave
    lang : {"id", "en"}
    top_k : int
        K of the best-K and worst-K tables and confidence sets (clamped to the OPDs scored).
    design : mapping of str to UnitDesign, optional
        How each OPD's sample was collected (:func:`survey.core.representation.wave_design`);
        without it the representativeness table is left out.
    """
    if isinstance(top_k, bool) or int(top_k) != top_k or top_k < 1:
        raise ValueError(f"top_k must be a whole number >= 1, got {top_k!r}")
    t = Texts(lang, data.scale_points())
    f = Formatter(lang, data.timezone)
    score = data.wave_score()
    count = len(score.units)
    k = max(1, min(int(top_k), count)) if count else int(top_k)
    rows = ranking_rows(data, k)
    scored = [r for r in rows if r.unit is not None]
    best = scored[:k]
    # Type error ignored below: only rows with a unit reach here (filtered above).
    worst = sorted(scored, key=lambda r: (-r.unit.rank, r.unit.ikm, r.opd.slug))[:k]  # type: ignore[union-attr]
    unscored = [r for r in rows if r.unit is None and r.small is None]
    small = [r for r in rows if r.small is not None]
    taken = f.datetime(data.data_taken_at)
    counted = f.int(data.counted)
    alpha = None
    if score.alpha is not None and math.isfinite(score.alpha.alpha):
        low, high = score.alpha.confidence_interval(score.confidence_level)
        alpha = {
            "alpha": f.num(score.alpha.alpha, 2),
            "low": f.num(low, 2),
            "high": f.num(high, 2),
            "n": f.int(score.alpha.n),
            "k": score.alpha.k,
        }
    kruskal = None
    if score.kruskal is not None and math.isfinite(score.kruskal.statistic):
        kruskal = {
            "h": f.num(score.kruskal.statistic, 1),
            "df": score.kruskal.df,
            "p": _p_value(score.kruskal.pvalue, f),
        }
    mean_ikm = score.mean_ikm() if count else math.nan
    clear = clear_positions(score) if count else {}
    points = data.scale_points()
    # Type error ignored below: only rows with a unit are in ``scored``.
    ikm_tables = [(r, ikm_table(r.unit, data.elements, f, lang)) for r in scored]  # type: ignore[arg-type]
    return {
        "lang": lang,
        "t": t,
        "f": f,
        "data": data,
        "k": k,
        "kw": t.count_word(k),
        "rows": rows,
        "scored": scored,
        "best": best,
        "worst": worst if count > k else [],
        "unscored": unscored,
        "small": small,
        "min_rank_n": data.min_rank_n(),
        "categories": category_counts(data),
        "category_ranges": category_ranges(data, lang=lang) if count else {},
        "mean_ikm": mean_ikm,
        "certainty": certainty_paragraphs(
            rows, k, t, f, clear, mean_ikm, score.confidence_level if count else 0.95
        ),
        "clear": clear,
        "bonferroni_z": bonferroni_z(count, score.confidence_level) if count else math.nan,
        "mean_conv": converted(mean_ikm, points),
        "funnel_conv": converted(score.funnel.target, points) if score.funnel else math.nan,
        "charts": ranking_charts(data, k, lang),
        "nrr": _nrr_table(data, rows, f),
        "ikm_tables": ikm_tables,
        "ikm_unanswered": any(c.weight == "0" for _r, table in ikm_tables for c in table.rows),
        "flags": _flag_rows(data, t),
        "robustness": data.robustness(k) if count else None,
        "robustness_rows": robustness_rows(data, k, t, f) if count else [],
        "alpha": alpha,
        "kruskal": kruskal,
        "posterior": posterior_section(data, lang=lang) if count else None,
        "design": design_rows(data, design, lang=lang) if count and design else None,
        "small_n": score.units[0].estimate.small_n if count else 15,
        "scale_points": data.scale_points(),
        "simulated": data.simulated,
        "doc_title": f"{t('ranking.kind')}: {data.title}",
        "doc_author": data.evaluator,
        "doc_description": t("ranking.subtitle"),
        "doc_date": w3c_date(data.data_taken_at),
        "header_left": f"{data.title} · {t('ranking.kind')}",
        "footer_left": t("footer.data", taken=taken, counted=counted),
    }


def render_ranking_pdf(
    data: ScoredWave,
    *,
    lang: Lang = "id",
    top_k: int = 5,
    design: Mapping[str, UnitDesign] | None = None,
) -> bytes:
    """Render the ranking report of a wave as PDF bytes.

    Parameters
    ----------
    data : ScoredWave
        The wave's scores and what is needed to trust them (see :mod:`reports.model`).
    lang : {"id", "en"}
        Report language (Bahasa Indonesia by default).
    top_k : int
        K of the "best K" and "lowest K" (default 5).
    design : mapping of str to UnitDesign, optional
        How each OPD's sample was collected (the representativeness table).

    Returns
    -------
    bytes
        A tagged PDF (PDF/UA-1) with embedded fonts; the same input gives the same bytes.
    """
    with fewer_collections():
        context = ranking_context(data, lang=lang, top_k=top_k, design=design)
        return html_to_pdf(render("ranking.html", context))

"""What the empirical-Bayes model and the sampling design say, ready for the pages and the PDF.

Two sections, each a plain dict a template partial prints (``templates/reports/_posterior.html``
and ``_design.html`` for the PDF; ``templates/results/_posterior.html`` and
``templates/opdhead/_posterior.html`` on the web):

- :func:`posterior_section` (the whole wave) and :func:`unit_posterior_view` (one OPD):
  adjusted scores with their 95% posterior intervals, the probability of being truly in the
  "good" category or better and among the best / lowest K, the expected rank, and how many OPDs
  are truly in each category with a 95% range, from :func:`scoring.bayes.wave_posterior`;
- :func:`design_rows` (the wave) and :func:`design_unit_view` (one OPD): respondents against the
  population served, channels and the design effect of clustering by day, with the interval
  widened by sqrt(deff) when deff > 1.1, from :mod:`scoring.design`.

Every probability is printed as a whole percentage, and never as 0% or 100%: "< 1%" and
"> 99%" (a model-based probability is not a certainty, and the simulated ones carry a Monte
Carlo error of up to half a percentage point at 10,000 draws). Scores are converted to the
0..100-style scale by one rule, 25 + 75 (IKM - 1) / (m - 1) for an m-point scale (25 x IKM on
the regulation's 4 points).
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Collection, Mapping
from typing import Any

from scoring.bayes import PosteriorResult, wave_posterior
from scoring.design import DEFF_THRESHOLD, UnitDesign, widen_interval
from scoring.schemes import converted

from .formatting import Formatter
from .model import Lang, ScoredWave
from .texts import Texts

__all__ = [
    "category_ranges",
    "design_rows",
    "design_unit_view",
    "posterior_of",
    "posterior_section",
    "to_converted",
    "unit_posterior_view",
]

# key -> (Bahasa Indonesia, English); kept here, beside the only code that prints them.
TEXTS: dict[str, tuple[str, str]] = {
    "title": ("Skor yang disesuaikan (Bayes empiris)", "Adjusted scores (empirical Bayes)"),
    "what": (
        "Skor yang disesuaikan menggabungkan skor OPD sendiri dengan rata-rata semua OPD. "
        "Skor OPD dengan sedikit responden kurang pasti, sehingga ditarik lebih kuat ke arah "
        "rata-rata; skor OPD dengan banyak responden hampir tidak bergeser. Dengan begitu "
        "OPD kecil lebih jarang tampak terbaik atau terburuk hanya karena kebetulan. Skor "
        "resmi tetap skor IKM menurut PermenPANRB 14/2017; skor yang disesuaikan adalah "
        "bacaan tambahan.",
        "The adjusted score combines the OPD's own score with the average of all OPDs. The "
        "score of an OPD with few respondents is less certain, so it is pulled more strongly "
        "toward the average; an OPD with many respondents hardly moves. This way a small OPD "
        "less often looks best or worst by chance alone. The official score remains the IKM "
        "of PermenPANRB 14/2017; the adjusted score is an additional reading.",
    ),
    "probability": (
        "Peluang di sini dihitung menurut model statistik dari data survei ini. Peluang 80% "
        "berarti: menurut model dan data ini, pernyataan itu kira-kira 8 dari 10 mungkin "
        "benar — bukan kepastian. Model menganggap skor sebenarnya OPD-OPD tersebar normal "
        "di sekitar rata-rata; bila anggapan itu keliru, peluangnya pun bisa keliru.",
        "The probabilities here are computed by a statistical model from this survey's data. "
        "A probability of 80% means: by the model and these data, the statement is about 8 "
        "in 10 likely to be true — not a certainty. The model assumes the OPDs' true scores "
        "are spread normally around the average; if that is wrong, so may be the "
        "probabilities.",
    ),
    "tau0": (
        "Menurut model, perbedaan antar-OPD tidak lebih besar daripada yang dapat terjadi "
        "karena kebetulan (τ² = 0): semua skor yang disesuaikan sama dengan rata-rata, dan "
        "model tidak dapat membedakan OPD satu dengan yang lain.",
        "By the model, the OPDs differ no more than chance allows (τ² = 0): every adjusted "
        "score equals the average, and the model cannot tell the OPDs apart.",
    ),
    "method": (
        "Model normal-normal: ragam skor sebenarnya antar-OPD τ² = {tau2} (REML, pada skala "
        "IKM 1–{points}; τ² yang sama dipakai untuk batas diagram corong), rata-rata menurut "
        "model {mu} (tertimbang, bobot 1/(se² + τ²)). "
        "Interval 95% adalah interval posterior dengan τ² dianggap diketahui, sehingga sedikit "
        "terlalu sempit bila OPD-nya sedikit. Peluang termasuk {k} terbaik atau terendah "
        "dihitung dari {draws} simulasi (seed {seed}); perkiraan peringkat dihitung tepat.",
        "Normal-normal model: variance of the OPDs' true scores τ² = {tau2} (REML, on the IKM "
        "scale 1–{points}; the funnel plot's limits use the same τ²), model average {mu} "
        "(weighted by 1/(se² + τ²)). The 95% "
        "intervals are posterior intervals with τ² taken as known, so they are a little too "
        "narrow when there are few OPDs. The probabilities of being among the {k} best or "
        "lowest come from {draws} simulations (seed {seed}); the expected ranks are exact.",
    ),
    "counts": (
        "Menurut model, banyaknya OPD yang sebenarnya berada di tiap kategori:",
        "By the model, how many OPDs are truly in each category:",
    ),
    "count_item": (
        "{code} ({label}): {expected} OPD (95%: {low}–{high})",
        "{code} ({label}): {expected} (95%: {low}–{high})",
    ),
    "left_out": (
        "Tidak dimodelkan (belum cukup data untuk diperingkat): {names}.",
        "Not modelled (not enough data to be ranked): {names}.",
    ),
    "col.opd": ("OPD", "OPD"),
    "col.n": ("n", "n"),
    "col.own": ("Skor sendiri", "Own score"),
    "col.adjusted": ("Skor disesuaikan", "Adjusted score"),
    "col.interval": ("Interval 95% (model)", "95% interval (model)"),
    "col.good": ("Peluang {code} atau lebih", "Probability {code} or better"),
    "col.top": ("Peluang {k} terbaik", "Probability {k} best"),
    "col.bottom": ("Peluang {k} terendah", "Probability {k} lowest"),
    "col.rank": ("Perkiraan peringkat", "Expected rank"),
    "unit.adjusted": (
        "Menurut model, skor yang disesuaikan OPD ini {adjusted} (interval 95%: {interval}); "
        "skor OPD sendiri {own} dari {n} responden.",
        "By the model, this OPD's adjusted score is {adjusted} (95% interval: {interval}); "
        "its own score is {own} from {n} respondents.",
    ),
    "unit.moved": (
        "Skor ini ditarik {share} dari skor sendiri ke arah rata-rata semua OPD menurut "
        "model ({mu}): "
        "makin sedikit responden, makin kuat tarikannya.",
        "This score is pulled {share} of the way from the OPD's own score toward the average "
        "of all OPDs by the model ({mu}): the fewer the respondents, the stronger the pull.",
    ),
    "unit.good": (
        "Peluang OPD ini sebenarnya berada di kategori {code} ({label}) atau lebih baik: {p}.",
        "Probability that this OPD is truly in category {code} ({label}) or better: {p}.",
    ),
    "unit.topbottom": (
        "Peluang termasuk {k} OPD terbaik: {top}; termasuk {k} terendah: {bottom}. "
        "Perkiraan peringkat: {rank} dari {count}.",
        "Probability of being among the {k} best OPDs: {top}; among the {k} lowest: "
        "{bottom}. Expected rank: {rank} of {count}.",
    ),
    "unit.left_out": (
        "OPD ini belum cukup data untuk dimodelkan dan diperingkat.",
        "This OPD has too little data to be modelled and ranked.",
    ),
    # --- representativeness -------------------------------------------------------------
    "design.title": ("Keterwakilan responden", "How representative the respondents are"),
    "design.what": (
        "Responden dibandingkan dengan jumlah orang yang dilayani (bila diketahui), jalur "
        "pengisian, dan seberapa mirip jawaban pada hari survei yang sama. Bila jawaban "
        "dalam satu hari saling mirip, data berisi lebih sedikit informasi daripada jumlah "
        "respondennya; efek desain (deff) mengukur hal itu. Bila deff lebih dari {threshold}, "
        "interval skor diperlebar dengan faktor √deff.",
        "Respondents are compared with the number of people served (when known), the channel "
        "they answered through, and how alike the answers of one survey day are. When the "
        "answers within a day are alike, the data hold less information than the number of "
        "respondents suggests; the design effect (deff) measures this. When deff exceeds "
        "{threshold}, the score's interval is widened by the factor √deff.",
    ),
    "design.method": (
        "Efek desain Kish: deff = 1 + (m − 1)·ICC, dengan hari survei sebagai klaster, m = "
        "Σn²/N (rata-rata ukuran klaster berbobot) dan ICC dari ANOVA satu arah atas skor "
        "rata-rata tiap responden per hari (ICC negatif dianggap 0). Dengan satu hari saja, "
        "ICC tidak dapat dihitung dan deff = 1. Jalur: web/QR (pindai kode), kios (perangkat "
        "terdaftar), impor (jawaban enumerator atau kertas yang diunggah).",
        "Kish's design effect: deff = 1 + (m − 1)·ICC, with survey days as clusters, m = "
        "Σn²/N (the size-weighted mean cluster size) and the ICC from a one-way ANOVA of each "
        "respondent's mean score by day (a negative ICC counts as 0). With a single day the "
        "ICC cannot be estimated and deff = 1. Channels: web/QR (scanned code), kiosk "
        "(enrolled device), import (enumerator or paper answers uploaded).",
    ),
    "design.col.population": ("Populasi dilayani", "Population served"),
    "design.col.rate": ("Tingkat respons", "Response rate"),
    "design.col.channels": ("Jalur", "Channels"),
    "design.col.days": ("Hari", "Days"),
    "design.col.icc": ("ICC", "ICC"),
    "design.col.deff": ("deff", "deff"),
    "design.col.interval": ("Interval 95%", "95% interval"),
    "design.widened": ("diperlebar", "widened"),
    "design.unit": (
        "{n} responden dari {population} orang yang dilayani (tingkat respons {rate}).",
        "{n} respondents of {population} people served (response rate {rate}).",
    ),
    "design.unit_unknown": (
        "{n} responden; jumlah orang yang dilayani belum diisi, sehingga tingkat respons "
        "tidak diketahui.",
        "{n} respondents; the number of people served is not filled in, so the response rate "
        "is unknown.",
    ),
    "design.unit_channels": ("Jalur pengisian: {channels}.", "Channels: {channels}."),
    "design.unit_deff": (
        "Jawaban dikumpulkan pada {days} hari; efek desain {deff} (ICC {icc}).",
        "Answers were collected on {days} days; design effect {deff} (ICC {icc}).",
    ),
    "design.unit_widened": (
        "Karena deff lebih dari {threshold}, interval skor diperlebar dari {before} menjadi "
        "{after}.",
        "Because deff exceeds {threshold}, the score's interval is widened from {before} to "
        "{after}.",
    ),
    "design.unit_kept": (
        "Efek desain tidak lebih dari {threshold}, sehingga interval skor tidak diubah.",
        "The design effect is not above {threshold}, so the score's interval is unchanged.",
    ),
    "channel.qr": ("web/QR", "web/QR"),
    "channel.kiosk": ("kios", "kiosk"),
    "channel.import": ("impor", "import"),
}


def _t(t: Texts, key: str, **values: Any) -> str:
    text = t.pick(*TEXTS[key])
    return text.format(**values) if values else text


def to_converted(value: float, points: int = 4) -> float:
    """The converted score of an IKM on an m-point scale (:func:`scoring.schemes.converted`,
    the one conversion: 25 + 75 (IKM - 1) / (m - 1)).

    Examples
    --------
    >>> to_converted(3.0), to_converted(3.0, 5)
    (75.0, 62.5)
    """
    return float(converted(float(value), points))


def _points(data: ScoredWave) -> int:
    return next(iter(data.aggregates.values())).scale_points if data.aggregates else 4


def _prob(p: float, f: Formatter) -> str:
    """A probability as a whole percentage, never 0% or 100% (see the module docstring)."""
    if p < 0.005:
        return "< " + f.pct(0.01)
    if p > 0.995:
        return "> " + f.pct(0.99)
    return f.pct(p)


_CACHE: dict[tuple[int, frozenset[str]], tuple[weakref.ref, PosteriorResult]] = {}
_LOCK = threading.Lock()


def posterior_of(data: ScoredWave, leave_out: Collection[str] = ()) -> PosteriorResult | None:
    """The wave's posterior (kept while the scored wave lives); None when nothing is modelled."""
    if data.score is None:
        return None
    key = (id(data), frozenset(leave_out))
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None and hit[0]() is data:
            return hit[1]
    points = _points(data)
    try:
        result = wave_posterior(data.score, leave_out=leave_out, scale=(1.0, float(points)))
    except ValueError:  # every OPD left out
        return None
    with _LOCK:
        for stale in [k for k, (ref, _r) in _CACHE.items() if ref() is None]:
            del _CACHE[stale]
        _CACHE[key] = (weakref.ref(data), result)
    return result


def category_ranges(data: ScoredWave, *, lang: Lang = "id") -> dict[str, str]:
    """Per category code, the model's count of OPDs truly in it with its 95% range, as a
    clause to print after the observed count ("; menurut model 2,2 OPD, 95%: 0–4"); empty
    when the wave is not modelled."""
    result = posterior_of(data)
    if result is None:
        return {}
    t, f = Texts(lang, _points(data)), Formatter(lang)
    return {
        c.category.code: t(
            "summary.category_model", expected=f.num(c.expected, 1), low=c.low, high=c.high
        )
        for c in result.counts
    }


def _name(data: ScoredWave, slug: str) -> str:
    opd = data.opd(slug)
    return opd.short_name or opd.name


def posterior_section(
    data: ScoredWave, *, lang: Lang = "id", leave_out: Collection[str] = ()
) -> dict[str, Any] | None:
    """The wave's empirical-Bayes table and sentences, formatted; None when nothing is scored."""
    result = posterior_of(data, leave_out)
    if result is None:
        return None
    t, f = Texts(lang), Formatter(lang, data.timezone)
    points = _points(data)
    conv = lambda x: to_converted(x, points)  # noqa: E731
    k = result.top_k
    units = {u.unit: u for u in data.units()}
    rows = [
        {
            "slug": u.unit,
            "name": _name(data, u.unit),
            "n": f.int(units[u.unit].n),
            "own": f.num(conv(u.estimate), 1),
            "adjusted": f.num(conv(u.mean), 1),
            "interval": f.interval(conv(max(u.low, 1.0)), conv(min(u.high, float(points))), 1),
            "good": _prob(u.p_good, f),
            "top": _prob(u.p_top, f),
            "bottom": _prob(u.p_bottom, f),
            "rank": f.num(u.expected_rank, 1),
            "sort": u.expected_rank,
        }
        for u in result.units
    ]
    rows.sort(key=lambda r: (r["sort"], r["slug"]))
    counts = [
        _t(
            t,
            "count_item",
            code=c.category.code,
            label=c.category.label_en if lang == "en" else c.category.label_id,
            expected=f.num(c.expected, 1),
            low=c.low,
            high=c.high,
        )
        for c in result.counts
    ]
    kw = t.count_word(k)
    return {
        "title": _t(t, "title"),
        "what": _t(t, "what"),
        "probability": _t(t, "probability"),
        "tau0": _t(t, "tau0") if result.tau2 == 0 and len(result.units) > 1 else None,
        "method": _t(
            t,
            "method",
            tau2=f.num(result.tau2, 4),
            points=points,
            mu=f.num(conv(result.mu), 1),
            k=kw,
            draws=f.int(result.draws),
            seed=result.seed,
        ),
        "counts_title": _t(t, "counts"),
        "counts": counts,
        "left_out": (
            _t(t, "left_out", names=t.join([_name(data, s) for s in result.left_out]))
            if result.left_out
            else None
        ),
        "head": {
            "opd": _t(t, "col.opd"),
            "n": _t(t, "col.n"),
            "own": _t(t, "col.own"),
            "adjusted": _t(t, "col.adjusted"),
            "interval": _t(t, "col.interval"),
            "good": _t(t, "col.good", code=result.good.code),
            "top": _t(t, "col.top", k=k),
            "bottom": _t(t, "col.bottom", k=k),
            "rank": _t(t, "col.rank"),
        },
        "rows": rows,
        # With K at least the number of OPDs, everyone is among the best K: nothing to show.
        "show_sets": k < len(result.units),
    }


def unit_posterior_view(
    data: ScoredWave, slug: str, *, lang: Lang = "id", leave_out: Collection[str] = ()
) -> dict[str, Any] | None:
    """What the model says about one OPD, as sentences; None when the wave has no scores."""
    if data.unit(slug) is None:
        return None
    t, f = Texts(lang), Formatter(lang, data.timezone)
    result = posterior_of(data, leave_out)
    base = {"title": _t(t, "title"), "what": _t(t, "what"), "probability": _t(t, "probability")}
    if result is None or slug not in {u.unit for u in result.units}:
        return {**base, "sentences": [_t(t, "unit.left_out")]}
    points = _points(data)
    conv = lambda x: to_converted(x, points)  # noqa: E731
    u = result.unit(slug)
    good = result.good
    kw = t.count_word(result.top_k)
    sentences = [
        _t(
            t,
            "unit.adjusted",
            adjusted=f.num(conv(u.mean), 1),
            interval=f.interval(conv(max(u.low, 1.0)), conv(min(u.high, float(points))), 1),
            own=f.num(conv(u.estimate), 1),
            n=f.int(data.unit(slug).n),  # type: ignore[union-attr]
        ),
        _t(t, "unit.moved", share=f.pct(u.shrinkage), mu=f.num(conv(result.mu), 1)),
        _t(
            t,
            "unit.good",
            code=good.code,
            label=good.label_en if lang == "en" else good.label_id,
            p=_prob(u.p_good, f),
        ),
    ]
    if result.top_k < len(result.units):
        sentences.append(
            _t(
                t,
                "unit.topbottom",
                k=kw,
                top=_prob(u.p_top, f),
                bottom=_prob(u.p_bottom, f),
                rank=f.num(u.expected_rank, 1),
                count=len(result.units),
            )
        )
    if result.tau2 == 0 and len(result.units) > 1:
        sentences.append(_t(t, "tau0"))
    return {**base, "sentences": sentences}


def _channels(design: UnitDesign, t: Texts, f: Formatter) -> str:
    return ", ".join(
        f"{t.pick(*TEXTS.get('channel.' + c.channel, (c.channel, c.channel)))} {f.pct(c.share)}"
        for c in design.channels
    )


Pair = tuple[float, float]


def _widened(data: ScoredWave, slug: str, design: UnitDesign) -> tuple[Pair, Pair] | None:
    """The unit's published interval and the one widened by its design effect (converted)."""
    unit = data.unit(slug)
    if unit is None:
        return None
    points = _points(data)
    low, high = unit.interval.low, unit.interval.high
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    wide_low, wide_high = widen_interval(
        low, high, unit.ikm, design.effect.deff, scale=(1.0, float(points))
    )
    return (
        (to_converted(low, points), to_converted(high, points)),
        (to_converted(wide_low, points), to_converted(wide_high, points)),
    )


def _fmt_pair(pair: Pair | None, f: Formatter) -> str:
    return "—" if pair is None else f.interval(pair[0], pair[1], 1)


def design_rows(
    data: ScoredWave, design: Mapping[str, UnitDesign], *, lang: Lang = "id"
) -> dict[str, Any] | None:
    """The compact representativeness table of the ranking report; None without data."""
    if not design:
        return None
    t, f = Texts(lang), Formatter(lang, data.timezone)
    threshold = f.num(DEFF_THRESHOLD, 1)
    rows = []
    for slug, d in design.items():
        if data.unit(slug) is None:
            continue
        pairs = _widened(data, slug, d)
        widens = d.effect.widens and pairs is not None
        rows.append(
            {
                "name": _name(data, slug),
                "n": f.int(d.n),
                "population": f.int(d.population) if d.population else "—",
                "rate": f.pct(d.rate, 1) if d.rate is not None else "—",
                "channels": _channels(d, t, f),
                "days": f.int(d.effect.days),
                "icc": f.num(d.effect.icc, 2) if math.isfinite(d.effect.icc) else "—",
                "deff": f.num(d.effect.deff, 2),
                "interval": _fmt_pair(None if pairs is None else pairs[1 if widens else 0], f),
                "widened": _t(t, "design.widened") if widens else "",
            }
        )
    return {
        "title": _t(t, "design.title"),
        "what": _t(t, "design.what", threshold=threshold),
        "method": _t(t, "design.method"),
        "head": {
            key: _t(t, f"design.col.{key}")
            for key in ("population", "rate", "channels", "days", "icc", "deff", "interval")
        }
        | {"opd": _t(t, "col.opd"), "n": _t(t, "col.n")},
        "rows": rows,
    }


def design_unit_view(
    data: ScoredWave, slug: str, design: UnitDesign | None, *, lang: Lang = "id"
) -> dict[str, Any] | None:
    """The representativeness sentences of one OPD (its head's page); None without data."""
    if design is None or data.unit(slug) is None:
        return None
    t, f = Texts(lang), Formatter(lang, data.timezone)
    threshold = f.num(DEFF_THRESHOLD, 1)
    sentences = [
        _t(
            t,
            "design.unit",
            n=f.int(design.n),
            population=f.int(design.population),
            rate=f.pct(design.rate, 1),
        )
        if design.rate is not None
        else _t(t, "design.unit_unknown", n=f.int(design.n)),
        _t(t, "design.unit_channels", channels=_channels(design, t, f)),
        _t(
            t,
            "design.unit_deff",
            days=f.int(design.effect.days),
            deff=f.num(design.effect.deff, 2),
            icc=f.num(design.effect.icc, 2) if math.isfinite(design.effect.icc) else "—",
        ),
    ]
    pairs = _widened(data, slug, design)
    if design.effect.widens and pairs is not None:
        sentences.append(
            _t(
                t,
                "design.unit_widened",
                threshold=threshold,
                before=_fmt_pair(pairs[0], f),
                after=_fmt_pair(pairs[1], f),
            )
        )
    else:
        sentences.append(_t(t, "design.unit_kept", threshold=threshold))
    return {
        "title": _t(t, "design.title"),
        "what": _t(t, "design.what", threshold=threshold),
        "sentences": sentences,
    }

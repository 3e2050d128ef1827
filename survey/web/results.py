"""Public results of published waves: ranking with intervals and rank sets, charts, PDFs, data.

Nothing of a wave is public before it is published: every page here answers 404 for a wave
in any other status. ``/hasil`` lists the published waves, ``/hasil/<wave>`` shows the ranking
table (the same figures as ``ikm score --format json``), a plain-language summary and the
charts inline as SVG, and ``/hasil/<wave>/<opd>`` shows one OPD's score and elements (no
comments and no respondent breakdown on the public page).

Scoring a wave reads all its counted answers, so the scored wave is kept in a small
in-process LRU per application, keyed by the wave and a cheap key of its counted data
(:func:`data_key`) and the language. A published wave no longer changes (imports and flag
decisions are refused for it), so in practice each is scored once per process. The OPD
head's pages (:mod:`survey.web.opdhead`) reuse the same cache and helpers.
"""

from __future__ import annotations

import html
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from sqlmodel import Session, select

from survey.core import queries as repo
from survey.core.models import Response, Wave
from survey.web.database import get_session
from survey.web.i18n import current_language

if TYPE_CHECKING:  # the reports (matplotlib, WeasyPrint) load on first use, not at start-up
    from reports.model import Lang, RankingData
    from reports.ranking import RankRow
    from scoring import UnitScore

bp = Blueprint("results", __name__)

TOP_K = 5  # K of "the best K / the lowest K", as ``ikm score`` and the ranking PDF default
SEED = 0  # the seed of every published figure (the PDFs use the same)
CACHE_SIZE = 32  # scored waves (per language) kept per process

# --- Charts inline ---------------------------------------------------------------------------

_STYLE_ATTR = re.compile(r'\sstyle="([^"]*)"')
_ID_ATTR = re.compile(r'\bid="([^"]+)"')
_URL_REF = re.compile(r"url\(#([^)]+)\)")
_HREF_REF = re.compile(r'xlink:href="#([^"]+)"')


def _presentation(style: str) -> str:
    """Rewrite a CSS ``style`` attribute's declarations as SVG presentation attributes."""
    out = []
    for declaration in style.split(";"):
        name, sep, value = declaration.partition(":")
        if sep and name.strip():
            out.append(f' {name.strip()}="{html.escape(value.strip(), quote=True)}"')
    return "".join(out)


def inline_svg(svg: str, *, label: str, prefix: str) -> Markup:
    """Turn a chart's SVG document into markup for a page, safe under a strict CSP.

    The XML prolog and metadata go; ``style`` attributes (which a Content-Security-Policy
    without 'unsafe-inline' blocks) become presentation attributes, and the one ``<style>``
    rule matplotlib writes becomes attributes of the root, which its children inherit. Every
    id gets `prefix`, so several charts on one page never share an id.
    """
    body = svg[svg.index("<svg") :]
    body = re.sub(r"<metadata>.*?</metadata>\s*", "", body, flags=re.S)
    body = re.sub(r"<style[^>]*>.*?</style>\s*", "", body, flags=re.S)
    body = _STYLE_ATTR.sub(lambda m: _presentation(m.group(1)), body)
    body = _ID_ATTR.sub(lambda m: f'id="{prefix}-{m.group(1)}"', body)
    body = _URL_REF.sub(lambda m: f"url(#{prefix}-{m.group(1)})", body)
    body = _HREF_REF.sub(lambda m: f'xlink:href="#{prefix}-{m.group(1)}"', body)
    root = (
        f'<svg role="img" aria-label="{html.escape(label, quote=True)}" '
        'stroke-linejoin="round" stroke-linecap="butt" '
    )
    # matplotlib escapes every text it writes into the SVG, and the label is escaped above.
    return Markup(body.replace("<svg ", root, 1).strip())  # nosec B704


# --- Scored waves, cached --------------------------------------------------------------------


@dataclass(frozen=True)
class ScoredWave:
    """A wave's ranking input with the charts drawn once, in one language."""

    ranking: RankingData
    lang: Lang
    charts: Mapping[str, Markup]


def data_key(session: Session, *, wave: Wave) -> tuple[Any, ...]:
    """A cheap key that changes whenever what the wave's scores rest on changes.

    The counted responses (how many, and which ids), the OPDs covered with their names and
    targets, the scheme and the questionnaire: any change to the counted data moves the
    count, the largest or the sum of the ids (responses are never edited in place).
    """
    counted = session.exec(
        select(sa.func.count(), sa.func.max(Response.id), sa.func.sum(Response.id)).where(
            Response.wave_id == wave.id, Response.status == "counted"
        )
    ).one()
    flagged = session.exec(
        select(sa.func.count()).where(Response.wave_id == wave.id, Response.status == "flagged")
    ).one()
    opds = tuple(
        (opd.id, opd.slug, opd.name, opd.short_name, opd.service_population, link.target_n)
        for opd, link in repo.wave_opds(session, wave=wave)
    )
    return (
        wave.status,
        wave.title,
        wave.evaluator,
        wave.period_start,
        wave.period_end,
        wave.scheme_id,
        wave.questionnaire_id,
        tuple(int(v or 0) for v in counted),
        int(flagged or 0),
        opds,
    )


class _Lru:
    """A small thread-safe least-recently-used map (several request threads share it)."""

    def __init__(self, size: int) -> None:
        """Keep at most `size` entries."""
        self.size = size
        self.items: OrderedDict[Any, ScoredWave | None] = OrderedDict()
        self.lock = threading.Lock()

    def get_or_make(self, key: Any, make: Callable[[], ScoredWave | None]) -> ScoredWave | None:
        """Return the entry of `key`, making (and keeping) it when absent."""
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = make()  # outside the lock: scoring takes a while, other waves need not wait
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


def _cache() -> _Lru:
    """The application's cache of scored waves (one per app, so tests never share one)."""
    return current_app.extensions.setdefault("ikm_results_cache", _Lru(CACHE_SIZE))


def _labels(ranking: RankingData) -> dict[str, str]:
    """Chart labels of the OPDs: short names where they have one."""
    return {o.slug: o.label() for o in ranking.opds}


def _wave_charts(ranking: RankingData, lang: Lang) -> dict[str, Markup]:
    """The ranking page's charts (caterpillar, rank intervals, funnel when there is one)."""
    from reports import charts
    from reports.texts import Texts

    score = ranking.score
    if not score.units:
        return {}
    t = Texts(lang)
    labels = _labels(ranking)
    k = max(1, min(TOP_K, len(score.units)))
    out = {
        "caterpillar": inline_svg(
            charts.caterpillar_svg(score, labels, lang=lang),
            label=t("chart.caterpillar.title"),
            prefix="chart-caterpillar",
        ),
        "ranks": inline_svg(
            charts.rank_interval_svg(score, labels, lang=lang, top_k=k),
            label=t("chart.rank.title"),
            prefix="chart-ranks",
        ),
    }
    if score.funnel is not None:
        out["funnel"] = inline_svg(
            charts.funnel_svg(score, labels, lang=lang),
            label=t("chart.funnel.title"),
            prefix="chart-funnel",
        )
    return out


def scored_wave(session: Session, *, wave: Wave, lang: Lang) -> ScoredWave | None:
    """Return the wave scored (seed 0, as ``ikm score``) with its charts; None if no response."""
    from survey.core.reportdata import wave_ranking

    def make() -> ScoredWave | None:
        """Score the wave and draw its charts."""
        try:
            ranking = wave_ranking(session, wave=wave, seed=SEED)
        except ValueError:  # no counted response at all: nothing to rank
            return None
        return ScoredWave(ranking=ranking, lang=lang, charts=_wave_charts(ranking, lang))

    key = (wave.id, data_key(session, wave=wave), lang)
    return _cache().get_or_make(key, make)


# --- What the pages show ---------------------------------------------------------------------


@dataclass(frozen=True)
class PublishedWave:
    """A published wave as the index lists it."""

    wave: Wave
    opds: int
    counted: int


def published_waves(session: Session) -> list[PublishedWave]:
    """Return the published waves, most recently published first, with their counts."""
    waves = [
        PublishedWave(wave=wave, opds=opds, counted=counted)
        for wave, opds, counted in repo.wave_summaries(session)
        if wave.status == "published"
    ]
    waves.sort(key=lambda w: (w.wave.published_at or w.wave.created_at, w.wave.slug), reverse=True)
    return waves


def published_wave_or_404(session: Session, slug: str) -> Wave:
    """Return the published wave with this slug; 404 for any other status or an unknown one."""
    wave = repo.get_wave(session, slug=slug)
    if wave is None or wave.status != "published":
        abort(404)
    return wave


@dataclass(frozen=True)
class ElementRow:
    """One element of an OPD beside the median of all OPDs."""

    code: str
    name: str
    nrr: float
    ci_low: float
    ci_high: float
    median: float
    n: int
    weak: bool

    @property
    def difference(self) -> float:
        """The OPD's NRR minus the median (NaN when either is unknown)."""
        return self.nrr - self.median


def element_rows(ranking: RankingData, unit: UnitScore, lang: Lang) -> list[ElementRow]:
    """The OPD's elements in questionnaire order, the three weakest marked."""
    from reports.opd import element_medians, weakest_elements

    weak = {e.code for e in weakest_elements(unit)}
    medians = element_medians(ranking)
    return [
        ElementRow(
            code=score.code,
            name=info.name(lang),
            nrr=score.nrr,
            ci_low=score.interval.low,
            ci_high=score.interval.high,
            median=median,
            n=score.n,
            weak=score.code in weak,
        )
        for info, score, median in zip(ranking.elements, unit.elements, medians, strict=True)
    ]


def element_chart(ranking: RankingData, unit: UnitScore, lang: Lang) -> Markup:
    """One OPD's elements against the median OPD, inline."""
    from reports import charts
    from reports.opd import element_medians, weakest_elements
    from reports.texts import Texts

    t = Texts(lang)
    labels = [f"{e.code} {e.name(lang)}" for e in ranking.elements]
    svg = charts.element_svg(
        unit,
        element_medians(ranking),
        labels,
        ranking.score.scheme,
        lang=lang,
        weakest=[w.code for w in weakest_elements(unit)],
    )
    return inline_svg(svg, label=t("opd.elements_title"), prefix="chart-elements")


def rank_row(ranking: RankingData, slug: str) -> RankRow | None:
    """The ranking row of one OPD (with its best-K and lowest-K verdicts), or None."""
    from reports.ranking import ranking_rows

    return next((r for r in ranking_rows(ranking, TOP_K) if r.opd.slug == slug), None)


def finite(value: float | None) -> bool:
    """True for a number that can be printed (not None, not NaN)."""
    return value is not None and math.isfinite(value)


def wave_context(scored: ScoredWave, lang: Lang) -> dict[str, Any]:
    """Everything the public ranking page prints besides the wave itself."""
    from reports.formatting import Formatter
    from reports.ranking import category_counts, certainty_paragraphs, ranking_rows
    from reports.texts import Texts

    ranking = scored.ranking
    t, f = Texts(lang), Formatter(lang, ranking.timezone)
    count = ranking.scored_count()
    k = max(1, min(TOP_K, count))
    rows = ranking_rows(ranking, k)
    return {
        "ranking": ranking,
        "rows": rows,
        "scored": [r for r in rows if r.unit is not None],
        "unscored": [r for r in rows if r.unit is None],
        "k": k,
        "t": t,
        "f": f,
        "categories": category_counts(ranking),
        "certainty": certainty_paragraphs(rows, k, t, f),
        "charts": scored.charts,
    }


def page_lang() -> Lang:
    """The page language as the reports name it."""
    return "en" if current_language() == "en" else "id"


# --- Views -----------------------------------------------------------------------------------


@bp.get("/")
def home() -> ResponseReturnValue:
    """The site's front door: the published results (citizens arrive by QR code instead)."""
    return redirect(url_for("results.index"))


@bp.get("/hasil")
def index() -> ResponseReturnValue:
    """The published waves, newest first."""
    return render_template("results/index.html", waves=published_waves(get_session()))


@bp.get("/hasil/<wave_slug>")
def wave(wave_slug: str) -> ResponseReturnValue:
    """The ranking of a published wave: table, summary, charts, downloads."""
    session = get_session()
    found = published_wave_or_404(session, wave_slug)
    lang = page_lang()
    scored = scored_wave(session, wave=found, lang=lang)
    context = wave_context(scored, lang) if scored is not None else {}
    return render_template(
        "results/wave.html",
        wave=found,
        scored_wave=scored,
        top_k=TOP_K,
        seed=SEED,
        finite=finite,
        **context,
    )


@bp.get("/hasil/<wave_slug>/<opd_slug>")
def opd(wave_slug: str, opd_slug: str) -> ResponseReturnValue:
    """One OPD's public result in a published wave (no comments, no respondent profile)."""
    from reports.formatting import Formatter
    from reports.texts import Texts

    session = get_session()
    found = published_wave_or_404(session, wave_slug)
    item = repo.opd_in_wave(session, wave=found, opd_slug=opd_slug)
    if item is None:
        abort(404)
    lang = page_lang()
    scored = scored_wave(session, wave=found, lang=lang)
    ranking = scored.ranking if scored is not None else None
    unit = ranking.unit(item.slug) if ranking is not None else None
    context: dict[str, Any] = {}
    if ranking is not None and unit is not None:
        context = {
            "row": rank_row(ranking, item.slug),
            "elements": element_rows(ranking, unit, lang),
            "element_chart": element_chart(ranking, unit, lang),
            "count": ranking.scored_count(),
        }
    return render_template(
        "results/opd.html",
        wave=found,
        opd=item,
        ranking=ranking,
        unit=unit,
        t=Texts(lang),
        f=Formatter(lang),
        top_k=TOP_K,
        seed=SEED,
        finite=finite,
        **context,
    )

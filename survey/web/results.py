"""Public results of published waves: ranking with intervals and rank sets, charts, PDFs, data.

Nothing of a wave is public before its first publication is ready: the pages serve the files
that publishing stored (:mod:`survey.web.snapshots`, :mod:`survey.core.publications`), so they
never change after publication; every page answers 404 for a wave without one (503 "being
prepared" while the first one builds). ``/hasil`` lists the published waves,
``/hasil/<wave>`` shows the ranking table (the same figures as ``ikm score --format json``),
a plain-language summary and the charts inline as SVG, and ``/hasil/<wave>/<opd>`` shows one
OPD's score and elements (no comments and no respondent breakdown on the public page).

The figures come from the one scored-wave object, :class:`reports.model.ScoredWave`, built by
:func:`survey.core.scores.score_wave` as for ``ikm score`` and the PDFs; the charts are the
PDFs' own images (:func:`reports.ranking.ranking_charts`), embedded the same way. Scoring a
wave reads all its counted answers and drawing its charts takes a second, so both are kept in
a small in-process LRU per application (:func:`cached`), keyed by the wave and a cheap key of
its counted data (:func:`data_key`). A published wave no longer changes (imports and flag
decisions are refused for it), so in practice each is scored once per process. The OPD head's
pages (:mod:`survey.web.opdhead`) reuse the same cache and helpers.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlmodel import Session, select

from survey.core import queries
from survey.core.models import Opd, Response, Wave, WaveLogo
from survey.web.database import get_session
from survey.web.i18n import current_language

if TYPE_CHECKING:  # the reports (matplotlib, WeasyPrint) load on first use, not at start-up
    from reports.charts import ChartImage
    from reports.model import Lang, ScoredWave
    from reports.ranking import RankRow
    from scoring import UnitScore
    from scoring.design import UnitDesign

bp = Blueprint("results", __name__)

TOP_K = 5  # K of "the best K / the lowest K", as ``ikm score`` and the ranking PDF default
SEED = 0  # the seed of every published figure (the PDFs use the same)
CACHE_SIZE = 32  # scored waves and their charts (per language) kept per process
PAGE_CHARTS = ("caterpillar", "ranks", "funnel")  # the ranking report's, less the answer bars
T = TypeVar("T")

# --- Scored waves, cached --------------------------------------------------------------------


def data_key(session: Session, *, wave: Wave) -> tuple[Any, ...]:
    """A cheap key that changes whenever what the wave's scores rest on changes.

    The counted responses (how many, and which ids), the OPDs covered with their names and
    targets, the scheme, the questionnaire and the logo's upload time: any change to the
    counted data moves the count, the largest or the sum of the ids (responses are never
    edited in place).
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
        for opd, link in queries.wave_opds(session, wave=wave)
    )
    # The logo is on the reports' covers: a new one is a new upload time (the bytes unread).
    logo = session.exec(select(WaveLogo.uploaded_at).where(WaveLogo.wave_id == wave.id)).first()
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
        logo,
    )


class _Lru:
    """A small thread-safe least-recently-used map (several request threads share it)."""

    def __init__(self, size: int) -> None:
        """Keep at most `size` entries."""
        self.size = size
        self.items: OrderedDict[Any, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get_or_make(self, key: Any, make: Callable[[], T]) -> T:
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


def cached(session: Session, *, wave: Wave, what: Hashable, make: Callable[[], T]) -> T:
    """Return what `make` builds for the wave, kept until the wave's counted data change."""
    key = (wave.id, data_key(session, wave=wave), what)
    return _cache().get_or_make(key, make)


def scored_wave(session: Session, *, wave: Wave, verified_only: bool = False) -> ScoredWave:
    """Return the wave scored as ``ikm score`` and the PDFs score it (seed 0), cached.

    ``verified_only`` scores only the answers that carried a valid visit code.
    """
    from survey.core.scores import score_wave

    return cached(
        session,
        wave=wave,
        what=("scores", verified_only),
        make=lambda: score_wave(session, wave=wave, seed=SEED, verified_only=verified_only),
    )


def wave_design_of(
    session: Session, *, wave: Wave, opd: Opd | None = None
) -> Mapping[str, UnitDesign]:
    """How each OPD's sample of the wave (or one OPD's) was collected, cached."""
    from survey.core.representation import wave_design

    return cached(
        session,
        wave=wave,
        what=("design", None if opd is None else opd.slug),
        make=lambda: wave_design(session, wave=wave, opd=opd),
    )


def wave_charts(
    session: Session, *, wave: Wave, lang: Lang, verified_only: bool = False
) -> dict[str, ChartImage]:
    """The ranking page's charts in `lang` (the ranking report's images), cached."""
    from reports.ranking import ranking_charts

    def make() -> dict[str, ChartImage]:
        """Draw the charts of the scored wave; none when nothing was scored."""
        scored = scored_wave(session, wave=wave, verified_only=verified_only)
        if scored.score is None:
            return {}
        k = max(1, min(TOP_K, scored.scored_count()))
        return ranking_charts(scored, k, lang, names=PAGE_CHARTS)

    return cached(session, wave=wave, what=("charts", lang, verified_only), make=make)


VERIFIED_PARAM = "terverifikasi"  # ?terverifikasi=1: results of verified answers only


@dataclass(frozen=True)
class VerifiedSwitch:
    """The switch between all counted answers and the verified ones, with both counts."""

    on: bool  # the page shows verified answers only
    counted: int
    verified: int


def verified_switch(session: Session, *, wave: Wave) -> VerifiedSwitch | None:
    """Return the switch of a wave whose codes are optional (None: no switch to offer).

    Only an "optional" wave has two sets of results: with codes "off" no answer is verified,
    and with codes "required" every answer through the survey page is.
    """
    from survey.core.scores import verified_share

    if wave.verification != "optional":
        return None
    share = verified_share(session, wave=wave)
    on = request.args.get(VERIFIED_PARAM) == "1"
    return VerifiedSwitch(on=on, counted=share.counted, verified=share.verified)


# --- What the pages show ---------------------------------------------------------------------


@dataclass(frozen=True)
class PublishedWave:
    """A published wave as the index lists it."""

    wave: Wave
    opds: int
    counted: int


def published_waves(session: Session) -> list[PublishedWave]:
    """Return the waves with a served publication, most recently published first."""
    from survey.core.publications import public_wave_ids

    public = public_wave_ids(session)
    waves = [
        PublishedWave(wave=wave, opds=opds, counted=counted)
        for wave, opds, counted in queries.wave_summaries(session)
        if wave.id in public
    ]
    waves.sort(key=lambda w: (w.wave.published_at or w.wave.created_at, w.wave.slug), reverse=True)
    return waves


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
    weak: bool  # a follow-up priority (reports.story.element_priorities)
    below_ikm: bool = False  # ... whose whole 95% interval lies below the OPD's IKM

    @property
    def difference(self) -> float:
        """The OPD's NRR minus the median (NaN when either is unknown)."""
        return self.nrr - self.median


def element_rows(ranking: ScoredWave, unit: UnitScore, lang: Lang) -> list[ElementRow]:
    """The OPD's elements in questionnaire order, the follow-up priorities marked."""
    from reports.opd import element_medians
    from reports.story import element_priorities

    chosen = {p.code: p.weak for p in element_priorities(unit)}
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
            weak=score.code in chosen,
            below_ikm=chosen.get(score.code, False),
        )
        for info, score, median in zip(ranking.elements, unit.elements, medians, strict=True)
    ]


def rank_rows(ranking: ScoredWave) -> dict[str, RankRow]:
    """Every OPD's ranking row (with its best-K and lowest-K verdicts), by slug.

    Made once for all of a snapshot's OPD pages: :func:`~reports.ranking.ranking_rows` goes
    through every OPD, so making it again for each page grew with the square of the OPDs.
    """
    from reports.ranking import ranking_rows

    rows: dict[str, RankRow] = {}
    for row in ranking_rows(ranking, TOP_K):
        rows.setdefault(row.opd.slug, row)
    return rows


def rank_row(
    ranking: ScoredWave, slug: str, rows: Mapping[str, RankRow] | None = None
) -> RankRow | None:
    """The ranking row of one OPD (with its best-K and lowest-K verdicts), or None.

    ``rows``: :func:`rank_rows` of ``ranking``, when the caller has it already.
    """
    return (rank_rows(ranking) if rows is None else rows).get(slug)


def finite(value: float | None) -> bool:
    """True for a number that can be printed (not None, not NaN)."""
    return value is not None and math.isfinite(value)


def wave_context(ranking: ScoredWave, charts: Mapping[str, ChartImage], lang: Lang) -> dict:
    """Everything the public ranking page prints besides the wave itself."""
    from reports.formatting import Formatter
    from reports.posterior import category_ranges, posterior_section
    from reports.ranking import category_counts, certainty_paragraphs, ranking_rows
    from reports.story import clear_positions
    from reports.texts import Texts
    from scoring.schemes import converted

    t, f = Texts(lang, ranking.scale_points()), Formatter(lang, ranking.timezone)
    count = ranking.scored_count()
    k = max(1, min(TOP_K, count))
    rows = ranking_rows(ranking, k)
    score = ranking.score
    # The wave's one average and the funnel statements, exactly as the ranking report's.
    mean_ikm = score.mean_ikm() if score is not None and score.units else math.nan
    clear = clear_positions(score) if score is not None and score.units else {}
    level = score.confidence_level if score is not None else 0.95
    return {
        "ranking": ranking,
        "rows": rows,
        "scored": [r for r in rows if r.unit is not None],
        "unscored": [r for r in rows if r.unit is None and r.small is None],
        "small": [r for r in rows if r.small is not None],
        "min_rank_n": ranking.min_rank_n(),
        "small_n": (ranking.units() + ranking.small_units())[0].estimate.small_n,
        "k": k,
        "t": t,
        "f": f,
        "categories": category_counts(ranking),
        "category_ranges": category_ranges(ranking, lang=lang),
        "certainty": certainty_paragraphs(rows, k, t, f, clear, mean_ikm, level),
        "mean_ikm": mean_ikm,
        "mean_conv": converted(mean_ikm, ranking.scale_points()),
        "charts": charts,
        "posterior": posterior_section(ranking, lang=lang),
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


def wave_page_html(
    session: Session,
    *,
    wave: Wave,
    ranking: ScoredWave,
    switch: VerifiedSwitch | None,
    lang: Lang,
    publication: Any = None,
    earlier: Sequence[Any] = (),
) -> str:
    """The ranking page of a wave from one scored wave (the snapshot stores it)."""
    from reports.ranking import ranking_charts

    context: dict[str, Any] = {}
    if ranking.score is not None:
        k = max(1, min(TOP_K, ranking.scored_count()))
        charts = ranking_charts(ranking, k, lang, names=PAGE_CHARTS)
        context = wave_context(ranking, charts, lang)
    return render_template(
        "results/wave.html",
        wave=wave,
        switch=switch,
        has_scores=ranking.score is not None,
        top_k=TOP_K,
        seed=SEED,
        finite=finite,
        publication=publication,
        earlier=earlier,
        **context,
    )


def opd_page_html(
    *,
    wave: Wave,
    opd: Opd,
    ranking: ScoredWave,
    switch: VerifiedSwitch | None,
    lang: Lang,
    publication: Any = None,
    earlier: Sequence[Any] = (),
    rows: Mapping[str, RankRow] | None = None,
) -> str:
    """One OPD's public page from one scored wave (the snapshot stores it).

    ``rows``: :func:`rank_rows` of ``ranking``, shared by the pages of one snapshot.
    """
    from reports.formatting import Formatter
    from reports.opd import element_chart
    from reports.texts import Texts

    unit = ranking.unit(opd.slug)
    context: dict[str, Any] = {
        "small": ranking.small_unit(opd.slug),
        "min_rank_n": ranking.min_rank_n(),
    }
    if unit is not None:
        context = {
            "row": rank_row(ranking, opd.slug, rows),
            "elements": element_rows(ranking, unit, lang),
            "element_chart": element_chart(ranking, unit, lang),
            "count": ranking.scored_count(),
        }
    return render_template(
        "results/opd.html",
        wave=wave,
        switch=switch,
        opd=opd,
        ranking=ranking if ranking.score is not None else None,  # nothing scored: no facts
        unit=unit,
        t=Texts(lang, ranking.scale_points()),
        f=Formatter(lang),
        top_k=TOP_K,
        seed=SEED,
        finite=finite,
        publication=publication,
        earlier=earlier,
        **context,
    )


def _wave_or_404(session: Session, slug: str) -> Wave:
    """Return the wave with this slug, or 404."""
    found = queries.get_wave(session, slug=slug)
    if found is None:
        abort(404)
    return found


def _page_name(wave: Wave, *parts: str) -> str:
    """The stored page's name for the request's language and verified switch."""
    verified = wave.verification == "optional" and request.args.get(VERIFIED_PARAM) == "1"
    return ":".join(["page", page_lang(), *parts]) + (":verified" if verified else "")


@bp.get("/hasil/<wave_slug>")
def wave(wave_slug: str) -> ResponseReturnValue:
    """The ranking of a published wave, as its latest version stored it."""
    from survey.web import snapshots

    session = get_session()
    found = _wave_or_404(session, wave_slug)
    return snapshots.serve_page(session, wave=found, name=_page_name(found, "wave"))


@bp.get("/hasil/<wave_slug>/<opd_slug>")
def opd(wave_slug: str, opd_slug: str) -> ResponseReturnValue:
    """One OPD's public result in a published wave (no comments, no respondent profile)."""
    from survey.web import snapshots

    session = get_session()
    found = _wave_or_404(session, wave_slug)
    return snapshots.serve_page(session, wave=found, name=_page_name(found, "opd", opd_slug))


@bp.get("/hasil/<wave_slug>/versi/<int:number>")
def wave_version(wave_slug: str, number: int) -> ResponseReturnValue:
    """The ranking page of one version of a published wave (a superseded one says so)."""
    from survey.web import snapshots

    session = get_session()
    found = _wave_or_404(session, wave_slug)
    return snapshots.serve_page(session, wave=found, name=_page_name(found, "wave"), number=number)


@bp.get("/hasil/<wave_slug>/versi/<int:number>/<opd_slug>")
def opd_version(wave_slug: str, number: int, opd_slug: str) -> ResponseReturnValue:
    """One OPD's page in one version of a published wave."""
    from survey.web import snapshots

    session = get_session()
    found = _wave_or_404(session, wave_slug)
    return snapshots.serve_page(
        session, wave=found, name=_page_name(found, "opd", opd_slug), number=number
    )

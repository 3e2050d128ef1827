"""The report for one OPD's head: its score, its elements, its follow-up plan, its citizens.

:func:`render_opd_pdf` renders one report; :func:`render_opd_pdfs` renders many and reports
progress after each (the CLI shows a progress bar). The anonymity rules of the product are
applied here, not by the caller: no profile group under :data:`MIN_GROUP` respondents is shown
(small groups are merged into "lainnya"/"other", or left out if even that is too small), and no
comment is shown for an OPD with fewer than :data:`MIN_N_COMMENTS` counted responses.
"""

from __future__ import annotations

import math
import multiprocessing
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from scoring import SMALL_N, ElementScore, Scheme, UnitScore
from scoring.schemes import converted

from . import charts
from .changes import CHANGE_TEXTS, change_sentences
from .charts import ChartImage, chart_image
from .formatting import Formatter
from .ikmtable import ikm_table
from .model import (
    AGE_BANDS,
    Comment,
    Lang,
    OpdReportData,
    ScoredWave,
    ServiceUnitResult,
    TrendPoint,
)
from .render import fewer_collections, html_to_pdf, render, w3c_date
from .story import MIN_ELEMENT_ANSWERS, PRIORITIES, clear_positions, element_priorities
from .texts import Texts

__all__ = [
    "MIN_GROUP",
    "MIN_N_COMMENTS",
    "ProfileField",
    "ServiceUnitRow",
    "element_chart",
    "element_medians",
    "opd_context",
    "profile_fields",
    "render_opd_pdf",
    "render_opd_pdfs",
    "service_unit_rows",
    "suppressed_groups",
    "trend_chart",
    "visible_comments",
    "weakest_elements",
]

MIN_GROUP = 5
"""Smallest respondent group shown on its own in the profile."""

MIN_N_COMMENTS = 8
"""Fewest counted responses an OPD needs before its comments are shown."""

# Display order of the standard profile fields and of their values; other fields and values
# follow, largest first.
FIELD_ORDER = ("sex", "age", "education", "occupation", "service")
VALUE_ORDER: dict[str, tuple[str, ...]] = {
    "sex": ("L", "P"),
    "age": tuple(label for _low, _high, label in AGE_BANDS),
    "education": ("SD", "SMP", "SMA", "D1-D3", "S1", "S2", "S3"),
    "occupation": ("PNS", "TNI", "POLRI", "Swasta", "Wirausaha", "Lainnya"),
}
_OTHER_KEYS = {"lainnya", "other", "others"}


@dataclass(frozen=True)
class ProfileField:
    """One profile field as printed: groups of at least :data:`MIN_GROUP`, and what was hidden.

    Attributes
    ----------
    field : str
        The field's key (``"sex"``).
    title : str
        Its name in the report language.
    groups : tuple of (str, int)
        Label and count of each group shown (the merged "other" group last).
    merged : bool
        Small groups were merged into "other".
    hidden : bool
        Some respondents are in groups too small to show even merged.
    """

    field: str
    title: str
    groups: tuple[tuple[str, int], ...]
    merged: bool
    hidden: bool


def _value_label(field: str, value: str, t: Texts) -> str:
    """The printed label of a profile value (codes such as L/P spelled out)."""
    if field in ("sex", "occupation"):
        return t.get(f"profile.value.{value}", value)
    return value


def profile_fields(
    profile: Mapping[str, Mapping[str, int]], t: Texts, *, minimum: int = MIN_GROUP
) -> list[ProfileField]:
    """Apply the anonymity rule to a respondent profile.

    Within each field, groups of at least `minimum` are shown; smaller groups (and any existing
    "Lainnya"/"other" group) are merged into one "other" group, shown if it reaches `minimum`
    and left out otherwise. No count of the left-out respondents is printed, since with a single
    small group that count would be the group's size.

    Examples
    --------
    >>> [f.groups for f in profile_fields({"sex": {"L": 12, "P": 4}}, Texts("id"))]
    [(('Laki-laki', 12),)]
    >>> profile_fields({"education": {"SMA": 9, "S1": 3, "S2": 2}}, Texts("en"))[0].groups
    (('SMA', 9), ('Other', 5))
    """
    keys = [k for k in FIELD_ORDER if k in profile]
    keys += sorted(k for k in profile if k not in FIELD_ORDER)
    out = []
    for key in keys:
        counts = {str(v): int(c) for v, c in profile[key].items() if int(c) > 0}
        others = [v for v in counts if v.casefold() in _OTHER_KEYS]
        small = [v for v, c in counts.items() if c < minimum and v not in others]
        order = VALUE_ORDER.get(key, ())
        big = sorted(
            (v for v, c in counts.items() if c >= minimum and v not in others),
            key=lambda v: (order.index(v) if v in order else len(order), -counts[v], v),
        )
        groups = [(_value_label(key, v, t), counts[v]) for v in big]
        rest = sum(counts[v] for v in (*small, *others))
        merged = bool(small)
        hidden = False
        if rest >= minimum:
            # A field's own "Lainnya" keeps its label unless small groups were added to it.
            label = _value_label(key, others[0], t) if others and not merged else t("profile.other")
            groups.append((label, rest))
        elif rest > 0:
            hidden = True
        out.append(ProfileField(key, t.get(f"profile.{key}", key), tuple(groups), merged, hidden))
    return out


def suppressed_groups(sizes: Sequence[int], *, minimum: int = MIN_GROUP) -> set[int]:
    """Return the positions of the groups whose score must not be printed.

    While any group has 1..``minimum - 1`` respondents, no group's score is printed. The
    whole's score is printed too (with every answer given, it is the groups' scores weighted by
    their sizes), so one withheld small group among printed ones could be worked out from them;
    withholding the next smallest as well is not enough either, since which group that is
    changes as answers arrive (or are restored from the flagged review), and two readings then
    give the small group away. All or nothing holds over time: every reading while a group is
    small shows the same nothing. Empty groups have no score to hide.

    Examples
    --------
    >>> sorted(suppressed_groups([40, 3, 12])), sorted(suppressed_groups([40, 0, 5, 9]))
    ([0, 1, 2], [])
    >>> sorted(suppressed_groups([4])), sorted(suppressed_groups([6, 0, 1]))
    ([0], [0, 2])
    """
    if all(size == 0 or size >= minimum for size in sizes):
        return set()
    return {i for i, size in enumerate(sizes) if size > 0}


@dataclass(frozen=True)
class ServiceUnitRow:
    """One service unit's line in the OPD's table, as printed.

    ``shown`` is False for a unit without a score to print; ``withheld`` for one that has
    responses but whose score is withheld (:func:`suppressed_groups`). Then ``score``,
    ``interval`` and ``category`` are "–". ``unreliable`` marks fewer respondents
    than the small-sample threshold, as for the OPD.
    """

    name: str
    n: str
    shown: bool
    withheld: bool
    score: str
    interval: str
    category: str
    unreliable: bool
    direct: bool
    active: bool


def service_unit_rows(
    units: Sequence[ServiceUnitResult],
    scheme: Scheme,
    t: Texts,
    f: Formatter,
    *,
    minimum: int = MIN_GROUP,
    small_n: int = SMALL_N,
) -> list[ServiceUnitRow]:
    """Return the OPD's service units as printed: converted score by the display rule, the
    interval, the category; no unit's score while a group is under ``minimum``
    (:func:`suppressed_groups`)."""
    hidden = suppressed_groups([u.n for u in units], minimum=minimum)
    rows = []
    for i, u in enumerate(units):
        shown = u.n > 0 and i not in hidden and math.isfinite(u.ikm)
        score = interval = category = "–"
        if shown:
            conv = u.conv()
            score = f.beside(conv, scheme.shown_bounds(u.scale_points, converted=True))
            interval = f.interval(*u.conv_interval())
            category = scheme.categorize(u.ikm, u.scale_points).code
        rows.append(
            ServiceUnitRow(
                name=t("opd.units_direct") if u.direct else u.name,
                n=f.int(u.n),
                shown=shown,
                withheld=u.n > 0 and not shown,
                score=score,
                interval=interval,
                category=category,
                unreliable=shown and u.n < small_n,
                direct=u.direct,
                active=u.active,
            )
        )
    return rows


def visible_comments(
    comments: Sequence[Comment], n: int, *, minimum: int = MIN_N_COMMENTS
) -> list[Comment] | None:
    """Return the comments to print, newest first, or None when the OPD has too few responses.

    Empty comments are dropped; equal times are ordered by text, so the order never depends on
    the caller's.

    Examples
    --------
    >>> visible_comments([Comment("Baik")], 7) is None, len(visible_comments([Comment("Baik")], 8))
    (True, 1)
    """
    if n < minimum:
        return None
    kept = [c for c in comments if c.text and c.text.strip()]
    oldest = datetime.min.replace(tzinfo=UTC)
    kept.sort(key=lambda c: (c.submitted_at or oldest, c.text), reverse=True)
    return kept


def element_medians(data: ScoredWave) -> list[float]:
    """Median NRR of all scored OPDs, per element (NaN where no OPD has one)."""
    units = data.units()
    if not units:
        return [math.nan] * len(data.elements)
    values = np.array([[e.nrr for e in u.elements] for u in units], dtype=float)
    medians = []
    for column in values.T:
        finite = column[np.isfinite(column)]
        medians.append(float(np.median(finite)) if finite.size else math.nan)
    return medians


def weakest_elements(unit: UnitScore, count: int = PRIORITIES) -> list[ElementScore]:
    """The plan's priorities: the lowest elements by the rule of :mod:`reports.story`.

    Only elements with at least :data:`~reports.story.MIN_ELEMENT_ANSWERS` answers; ties at
    the cut all taken (or none); lowest NRR first.
    """
    return [p.element for p in element_priorities(unit, count)]


def _trend(data: OpdReportData, unit: UnitScore) -> list[TrendPoint]:
    """Earlier waves, oldest first, then the current one."""
    ranking = data.ranking
    earlier = sorted(
        data.trend,
        key=lambda p: (p.period_end is None, p.period_end or datetime.min.date(), p.wave_title),
    )
    now = TrendPoint(
        wave_title=ranking.title,
        period_end=ranking.period_end or ranking.data_taken_at.date(),
        ikm=unit.ikm,
        ci_low=unit.interval.low,
        ci_high=unit.interval.high,
        n=unit.n,
        scale_points=unit.estimate.scale_points,
    )
    return [*earlier, now]


def element_chart(ranking: ScoredWave, unit: UnitScore, lang: Lang) -> ChartImage:
    """One OPD's elements against the median OPD, the follow-up priorities marked (report, page)."""
    svg = charts.element_svg(
        unit,
        element_medians(ranking),
        [f"{e.code} {e.name(lang)}" for e in ranking.elements],
        ranking.wave_score().scheme,
        lang=lang,
        weakest=[w.code for w in weakest_elements(unit)],
    )
    return chart_image(svg, Texts(lang)("opd.elements_title"))


def trend_chart(points: Sequence[TrendPoint], scheme: Scheme, lang: Lang) -> ChartImage:
    """One OPD's score over waves, oldest left (report and page)."""
    return chart_image(
        charts.trend_svg(points, scheme, lang=lang), Texts(lang)("opd.chart_trend_alt")
    )


def small_sample_notice(
    small: UnitScore, minimum: int, public: bool, t: Texts, f: Formatter
) -> str:
    """What the report says of an OPD below the wave's min_rank_n: publicly n and "belum
    cukup data"; to its head also the score with its interval."""
    if public:
        return t("opd.small_public", n=f.int(small.n), min=minimum)
    low, high = small.interval.converted()
    return t(
        "opd.small_head",
        n=f.int(small.n),
        min=minimum,
        score=f.conv(small.converted()),
        low=f.conv(low) if math.isfinite(low) else "–",
        high=f.conv(high) if math.isfinite(high) else "–",
    )


def opd_context(data: OpdReportData, *, lang: Lang = "id") -> dict[str, Any]:
    """Return everything the OPD template prints, formatted for `lang`."""
    ranking = data.ranking
    t = Texts(lang, ranking.scale_points())
    f = Formatter(lang, ranking.timezone)
    opd = data.opd
    unit = data.unit
    count = ranking.scored_count()
    small = ranking.small_unit(opd.slug) if unit is None else None
    n = unit.n if unit is not None else small.n if small is not None else 0
    context: dict[str, Any] = {
        "lang": lang,
        "t": t,
        "f": f,
        "data": data,
        "ranking": ranking,
        "opd": opd,
        "unit": unit,
        "count": count,
        "n": n,
        "profile": profile_fields(data.profile, t),
        "min_group": MIN_GROUP,
        "comments": None if data.public else visible_comments(data.comments, n),
        "public": data.public,
        "min_comments": MIN_N_COMMENTS,
        "simulated": ranking.simulated,
        "doc_title": f"{t('opd.kind')}: {opd.name} ({ranking.title})",
        "doc_author": ranking.evaluator,
        "doc_description": t("opd.for", name=opd.name),
        "doc_date": w3c_date(ranking.data_taken_at),
        "header_left": f"{ranking.title} · {opd.label()}",
        "footer_left": t(
            "footer.data",
            taken=f.datetime(ranking.data_taken_at),
            counted=f.int(n),
        ),
    }
    context["small_notice"] = None
    if small is not None:
        context["small_notice"] = small_sample_notice(
            small, ranking.min_rank_n(), data.public, t, f
        )
    if unit is None:
        return context
    medians = element_medians(ranking)
    weakest = element_priorities(unit)
    low, high = unit.interval.converted()
    score = ranking.wave_score()  # the OPD has a score, so the wave has one
    scheme = score.scheme
    codes = [c.code for c in scheme.categories]
    crossed: list[str] = []
    if math.isfinite(unit.interval.low):
        # Every category the interval touches, best first (ends clipped to the scale).
        m = unit.estimate.scale_points
        best = codes.index(scheme.categorize(min(float(m), unit.interval.high), m).code)
        worst = codes.index(scheme.categorize(max(1.0, unit.interval.low), m).code)
        crossed = codes[best : worst + 1]
    trend = _trend(data, unit)
    name_labels = {o.slug: o.label() for o in ranking.opds}
    context.update(
        {
            "low": low,
            "high": high,
            "category": unit.category(),
            "crossed": crossed,
            "elements": [
                {
                    "info": info,
                    "score": element,
                    "median": median,
                    "difference": element.nrr - median,
                }
                for info, element, median in zip(
                    ranking.elements, unit.elements, medians, strict=True
                )
            ],
            "weakest": [
                {
                    "info": ranking.elements[[e.code for e in unit.elements].index(w.code)],
                    "score": w.element,
                    "weak": w.weak,
                }
                for w in weakest
            ],
            "min_element_answers": MIN_ELEMENT_ANSWERS,
            "priorities": PRIORITIES,
            "clear": clear_positions(score).get(unit.unit),
            "trend": trend if len(trend) > 1 else [],
            "mean_conv": converted(score.mean_ikm(), unit.estimate.scale_points),
            "small_n": unit.estimate.small_n,
            "chart_elements": element_chart(ranking, unit, lang),
            "ikm_table": ikm_table(unit, ranking.elements, f, lang, opd.not_applicable),
            "chart_compare": chart_image(
                charts.caterpillar_svg(score, name_labels, lang=lang, highlight=opd.slug),
                t("chart.caterpillar.title"),
                max_height_mm=170,
            ),
            "chart_trend": trend_chart(trend, scheme, lang) if len(trend) > 1 else None,
            "service_units": service_unit_rows(
                data.service_units, scheme, t, f, small_n=unit.estimate.small_n
            ),
            "change_title": CHANGE_TEXTS["title"][0 if lang == "id" else 1],
            "change_lines": [] if data.change is None else change_sentences(data.change, lang),
        }
    )
    return context


def render_opd_pdf(data: OpdReportData, *, lang: Lang = "id") -> bytes:
    """Render the report of one OPD for its head as PDF bytes.

    Parameters
    ----------
    data : OpdReportData
        The wave, the OPD, its comments, respondent profile and earlier results.
    lang : {"id", "en"}
        Report language (Bahasa Indonesia by default).

    Returns
    -------
    bytes
        A tagged PDF (PDF/UA-1) with embedded fonts; the same input gives the same bytes.
    """
    with fewer_collections():
        return html_to_pdf(render("opd.html", opd_context(data, lang=lang)))


Progress = Callable[[int, int, str], None]
"""Called after each report with (reports done, reports in all, slug of the one just done)."""


def render_opd_pdfs(
    reports: Iterable[OpdReportData],
    *,
    lang: Lang = "id",
    progress: Progress | None = None,
    workers: int = 1,
) -> Iterator[tuple[str, bytes]]:
    """Render many OPD reports, yielding ``(slug, pdf)`` one at a time, in the given order.

    A generator, so the caller can write each file as it comes and memory stays flat however
    many OPDs a wave has; `progress` is called after each report (e.g. to advance a progress
    bar). With ``workers > 1`` that many processes render: this one and ``workers - 1`` worker
    processes (spawned, so safe beside threads), each taking the next report as soon as it is
    free (see :class:`_Batch`). This process renders too rather than only wait for the others:
    a worker process first spends a second on imports and fonts, which this one has paid
    already. The wave's ``ScoredWave`` is sent to each worker once, not with every report.
    Rendering is CPU-bound Python, so threads would not help.

    Examples
    --------
    A command writing every OPD's report::

        for slug, pdf in render_opd_pdfs(inputs, progress=lambda i, n, s: bar.update(1)):
            (out_dir / f"{slug}.pdf").write_bytes(pdf)
    """
    if isinstance(workers, bool) or int(workers) != workers or workers < 1:
        raise ValueError(f"workers must be a whole number >= 1, got {workers!r}")
    items = list(reports)
    total = len(items)
    if workers == 1 or total <= 1:
        for done, item in enumerate(items, start=1):
            pdf = render_opd_pdf(item, lang=lang)
            if progress is not None:
                progress(done, total, item.opd_slug)
            yield item.opd_slug, pdf
        return
    first = items[0].ranking
    shared = first if all(item.ranking is first for item in items) else None
    children = min(int(workers), total) - 1
    pool = ProcessPoolExecutor(
        max_workers=children,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(shared,),
    )
    batch = _Batch(items, pool, shared, lang, children)
    try:
        for done, item in enumerate(items, start=1):
            pdf = batch.result(done - 1)
            if progress is not None:
                progress(done, total, item.opd_slug)
            yield item.opd_slug, pdf
    finally:
        # Also when the caller stops early: drop the reports nobody will read.
        batch.stop()
        pool.shutdown(wait=True, cancel_futures=True)
        batch.join()


class _Batch:
    """The reports of one :func:`render_opd_pdfs` call, shared out between this process and
    the worker processes, each taking the next report nobody has taken yet.

    A thread of this process feeds each worker: it sends a report and waits for its PDF, with
    a second report queued behind it while more than two are left, so the worker never waits
    for this process (busy rendering) to send the next. This process renders the next report
    itself whenever the one to yield is not ready yet. An error is kept with its report and
    raised when that report's turn comes, as in one process.
    """

    def __init__(
        self,
        items: Sequence[OpdReportData],
        pool: ProcessPoolExecutor,
        shared: ScoredWave | None,
        lang: Lang,
        lanes: int,
    ) -> None:
        """Start one feeding thread per worker process."""
        self._items, self._pool, self._shared, self._lang = items, pool, shared, lang
        self._next = 0  # the first report nobody has taken
        self._stopped = False
        self._done: dict[int, bytes | BaseException] = {}
        self._ready = threading.Condition()
        self._threads = [
            threading.Thread(target=self._feed, name=f"opd-reports-{i}", daemon=True)
            for i in range(lanes)
        ]
        for thread in self._threads:
            thread.start()

    def _take(self, *, lane: bool = False, ahead: bool = False) -> int | None:
        """Take the next report (None if none is left; with `ahead`, if two or fewer are; for
        a worker's thread, also once stopped)."""
        with self._ready:
            left = len(self._items) - self._next
            if (lane and self._stopped) or left <= (2 if ahead else 0):
                return None
            self._next += 1
            return self._next - 1

    def _keep(self, index: int, outcome: bytes | BaseException) -> None:
        """Keep the PDF of report `index`, or the error that stopped it."""
        with self._ready:
            self._done[index] = outcome
            self._ready.notify_all()

    def _feed(self) -> None:
        """Send reports to one worker process until none is left or the worker fails."""
        sent: deque[tuple[int, Future[bytes]]] = deque()
        feeding = True
        while True:
            while feeding and len(sent) < 2:
                index = self._take(lane=True, ahead=bool(sent))
                if index is None:
                    break
                payload = _payload(self._items[index], self._shared)
                try:
                    sent.append((index, self._pool.submit(_render_in_worker, payload, self._lang)))
                except BaseException as error:  # a broken or closed pool: feed it no more
                    self._keep(index, error)
                    feeding = False
            if not sent:
                return
            index, future = sent.popleft()
            try:
                self._keep(index, future.result())
            except BaseException as error:  # raised in its turn; the rest is rendered here
                self._keep(index, error)
                feeding = False

    def result(self, index: int) -> bytes:
        """The PDF of report `index`: rendered here if nobody took it, else when it is ready."""
        while True:
            with self._ready:
                if index in self._done:
                    outcome = self._done.pop(index)
                    if isinstance(outcome, BaseException):
                        raise outcome
                    return outcome
            mine = self._take()
            if mine is None:
                with self._ready:
                    self._ready.wait_for(lambda: index in self._done)
                continue
            try:
                self._keep(mine, render_opd_pdf(self._items[mine], lang=self._lang))
            except Exception as error:  # raised in its turn, as in one process
                self._keep(mine, error)

    def stop(self) -> None:
        """Send no more reports to the workers (those sent still finish, or are cancelled)."""
        with self._ready:
            self._stopped = True

    def join(self) -> None:
        """Wait for the feeding threads to end (after the pool has shut down)."""
        for thread in self._threads:
            thread.join()


_WORKER_RANKING: ScoredWave | None = None


def _init_worker(ranking: ScoredWave | None) -> None:
    """Keep the wave shared by all reports in the worker process."""
    global _WORKER_RANKING
    _WORKER_RANKING = ranking


def _payload(item: OpdReportData, shared: ScoredWave | None) -> Any:
    """What a worker needs for one report: its own parts only, when the wave is shared."""
    if shared is None:
        return item
    return (
        item.opd_slug,
        item.comments,
        dict(item.profile),
        item.trend,
        item.public,
        item.change,
        item.service_units,
    )


def _render_in_worker(payload: Any, lang: Lang) -> bytes:
    """Render one report in a worker process."""
    if isinstance(payload, OpdReportData):
        return render_opd_pdf(payload, lang=lang)
    assert _WORKER_RANKING is not None
    slug, comments, profile, trend, public, change, service_units = payload
    item = OpdReportData(
        _WORKER_RANKING, slug, comments, profile, trend, public, change, service_units
    )
    return render_opd_pdf(item, lang=lang)

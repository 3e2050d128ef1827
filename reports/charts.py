"""Charts of a wave's scores as SVG, drawn with matplotlib ``Figure`` objects (never pyplot).

Each function takes scoring results and labels and returns an SVG document as ``str``:

- :func:`caterpillar_svg`: every OPD's score with its interval, sorted, over the category bands;
- :func:`rank_interval_svg`: every OPD's estimated rank with its confidence set;
- :func:`funnel_svg`: score against respondents with the 95% and 99.8% limits;
- :func:`diverging_svg`: the answer distribution per element (Heiberger & Robbins);
- :func:`element_svg`: one OPD's NRRs with intervals beside the median of all OPDs;
- :func:`trend_svg`: one OPD's score over waves;
- :func:`nrr_colour`: the shading of the OPD x element NRR table (drawn in HTML);
- :func:`chart_image`: a chart as a :class:`ChartImage`, the one way both the PDFs and the web
  pages embed a chart (an ``<img>`` with a ``data:`` URL and a text alternative).

The output is deterministic: matplotlib's SVG ids come from a fixed hash salt and no date is
written, so the same data give byte-identical SVG. Text stays text (``svg.fonttype: none``) in
DejaVu Sans, the font the PDFs embed, so chart labels are crisp, searchable and small. Colours
are from palettes that stay distinct for colour-blind readers (Okabe & Ito; ColorBrewer PuOr
and Blues), and every distinction is carried also by position, marker shape or line style, so
the charts read in greyscale.
"""

from __future__ import annotations

import base64
import io
import math
import re
import textwrap
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator
from numpy.typing import ArrayLike

from scoring import Category, Scheme, UnitScore, WaveScore
from scoring.schemes import converted, from_converted

from .formatting import format_number
from .model import Lang, TrendPoint
from .texts import Texts

__all__ = [
    "ChartImage",
    "caterpillar_svg",
    "chart_image",
    "diverging_svg",
    "element_svg",
    "funnel_svg",
    "nrr_colour",
    "rank_interval_svg",
    "trend_svg",
]

# Usable page area of A4 with the margins of report.css (210 - 2 x 18 mm by 297 - 44 mm),
# less room for a chart's heading and caption.
CONTENT_WIDTH_MM = 174.0
MAX_CHART_HEIGHT_MM = 205.0


@dataclass(frozen=True)
class ChartImage:
    """A chart ready for an ``<img>`` on a page or in a PDF: a data URL, size, text alternative.

    The one way charts are embedded: the PDFs size the image in millimetres
    (``width_mm``/``height_mm``), the web pages give the same size in CSS pixels
    (``width_px``/``height_px``, 96 per inch) and let it shrink to a narrow screen.
    """

    uri: str
    width_mm: float
    height_mm: float
    alt: str

    @property
    def width_px(self) -> int:
        """The width in CSS pixels (for a page's ``width`` attribute)."""
        return round(self.width_mm * 96 / 25.4)

    @property
    def height_px(self) -> int:
        """The height in CSS pixels (for a page's ``height`` attribute)."""
        return round(self.height_mm * 96 / 25.4)


_SIZE = re.compile(r'<svg[^>]*?width="([\d.]+)pt"[^>]*?height="([\d.]+)pt"', re.S)


def chart_image(svg: str, alt: str, *, max_height_mm: float = MAX_CHART_HEIGHT_MM) -> ChartImage:
    """Wrap an SVG chart for the page: natural size (1 pt = 1 pt), shrunk to fit if too tall."""
    match = _SIZE.search(svg)
    if match is None:
        raise ValueError("chart SVG has no width/height in points")
    width = float(match.group(1)) * 25.4 / 72
    height = float(match.group(2)) * 25.4 / 72
    scale = min(1.0, CONTENT_WIDTH_MM / width, max_height_mm / height)
    uri = "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return ChartImage(uri, round(width * scale, 2), round(height * scale, 2), alt)


# Okabe & Ito (2008): distinguishable with every common colour-vision deficiency.
INK = "#222222"
GREY = "#767676"  # 4.5:1 on white
BLUE = "#0072B2"
VERMILLION = "#D55E00"
SKY = "#56B4E9"
ORANGE = "#E69F00"
# Category bands, best first: a light blue-to-orange ramp whose lightness also steps down, so
# the bands stay apart in greyscale; the bands are labelled in text anyway.
BAND_COLOURS = ("#dcebf7", "#eef5fb", "#fdf0e2", "#f9dcc4", "#f3c4a2", "#eeac80")
# ColorBrewer PuOr (4 classes, colour-blind and print safe): unfavourable answers orange,
# favourable purple; the neutral middle of an odd scale grey.
DIVERGING = {
    "neg_strong": "#e66101",
    "neg": "#fdb863",
    "neutral": "#d9d9d9",
    "pos": "#b2abd2",
    "pos_strong": "#5e3c99",
}
# ColorBrewer Blues (9 classes), light to dark: lightness falls monotonically.
BLUES = (
    "#f7fbff",
    "#deebf7",
    "#c6dbef",
    "#9ecae1",
    "#6baed6",
    "#4292c6",
    "#2171b5",
    "#08519c",
    "#08306b",
)

WIDTH = 6.85  # inches: the text width of an A4 page with 18 mm margins, so 1 pt here = 1 pt there
BASE_FONT = 8.0
_RC: dict[str, Any] = {
    "svg.hashsalt": "ikm-reports",  # fixed ids: the same data, the same bytes
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": BASE_FONT,
    "axes.titlesize": BASE_FONT + 1,
    "axes.labelsize": BASE_FONT,
    "axes.edgecolor": GREY,
    "axes.linewidth": 0.6,
    "xtick.color": INK,
    "ytick.color": INK,
    "xtick.labelsize": BASE_FONT - 0.5,
    "ytick.labelsize": BASE_FONT - 0.5,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "legend.fontsize": BASE_FONT - 0.5,
    "legend.frameon": False,
    "axes.unicode_minus": True,
    # Every text is drawn as written: OPD names, element names and labels come from users, and
    # mathtext would read "$...$" in them as formulas (``$\\frac{$`` stops the whole chart).
    "text.parse_math": False,
}


# rcParams are global to the process: a web server rendering two charts in two threads would
# otherwise see each other's style (or the restored defaults) halfway through a figure.
_STYLE_LOCK = threading.RLock()


@contextmanager
def _style() -> Iterator[None]:
    """Apply the report style while a figure is built (rcParams are read at artist creation)."""
    with _STYLE_LOCK, matplotlib.rc_context(_RC):  # type: ignore[arg-type]  # keys are real rcParams; the stubs list them as Literals
        yield


def _svg(fig: Figure) -> str:
    """Return the figure as an SVG document (no date, so the bytes depend only on the data)."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    return _slim(buffer.getvalue())


# matplotlib wraps every artist in a group named after it: ``<g id="line2d_3"/>`` for the
# zero-length y ticks, ``<g id="text_5">`` around each label. Such a group styles, moves and
# clips nothing, yet WeasyPrint cascades and draws each node of an SVG one by one: a chart of
# 50 OPDs has some 350 groups, and dropping the empty ones and unwrapping the bare ones takes
# a tenth to a quarter off drawing it in a PDF. The picture is the same, pixel for pixel.
_EMPTY_GROUP = re.compile(r'^[ \t]*<g id="[^"]*"/>\n', re.M)
_BARE_GROUP = re.compile(r'[ \t]*<g id="[^"]*">')


def _slim(svg: str) -> str:
    """Drop the empty groups of a matplotlib SVG and unwrap those with nothing but an id.

    Relies on matplotlib writing each group's opening and closing tag on a line of its own
    (path data may span lines, but never starts with ``<g`` or is ``</g>`` alone).
    """
    out: list[str] = []
    bare: list[bool] = []  # per open group: whether its tags are dropped
    for line in _EMPTY_GROUP.sub("", svg).splitlines(keepends=True):
        tag = line.strip()
        if tag.startswith("<g") and tag.endswith(">") and not tag.endswith("/>"):
            bare.append(_BARE_GROUP.fullmatch(line.rstrip("\n")) is not None)
            if bare[-1]:
                continue
        elif tag == "</g>" and bare.pop():
            continue
        out.append(line)
    if bare:
        raise ValueError("unbalanced groups in the chart SVG")
    return "".join(out)


def _number_formatter(lang: Lang, digits: int) -> FuncFormatter:
    """Tick labels with the report's decimal mark."""
    return FuncFormatter(lambda value, _pos: format_number(value, lang, digits))


def _percent_formatter(lang: Lang) -> FuncFormatter:
    """Tick labels as unsigned percentages (both sides of a diverging chart count up)."""
    return FuncFormatter(lambda value, _pos: format_number(abs(value), lang, 0) + "%")


def _shorten(label: str, limit: int = 30) -> str:
    """Cut a long OPD name so that the chart keeps its room for the data."""
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def _wrap(label: str, width: int = 30) -> str:
    """Break a long element name over two lines (a third is cut), so no label is clipped."""
    lines = textwrap.wrap(label, width) or [""]
    if len(lines) > 2:
        lines = [lines[0], _shorten(" ".join(lines[1:]), width)]
    return "\n".join(lines)


def _sorted_units(score: WaveScore) -> list[UnitScore]:
    """Units best first (ties by slug, so the order never depends on input order)."""
    return sorted(score.units, key=lambda u: (-u.ikm, u.unit))


def _points(score: WaveScore) -> int:
    """The answer scale 1..m of a scored wave."""
    return score.units[0].estimate.scale_points if score.units else 4


def _category_spans(
    scheme: Scheme, factor: float, scale_points: int = 4
) -> list[tuple[float, float, Category, str]]:
    """(low, high, category, colour) of each category: on the converted 25..100 scale when
    `factor` is 25, else on the answer scale 1..`scale_points`."""
    spans = []
    m = scale_points
    top = 100.0 if factor == 25 else float(m)
    for i, cat in enumerate(scheme.categories):
        if m == scheme.scale_points:
            low = converted(cat.min_ikm, m) if factor == 25 else cat.min_ikm
        else:  # categories of another scale are defined on the converted score
            low = cat.min_converted if factor == 25 else from_converted(cat.min_converted, m)
        spans.append((low, top, cat, BAND_COLOURS[min(i, len(BAND_COLOURS) - 1)]))
        top = low
    return spans


def _draw_bands(
    ax: Any,
    scheme: Scheme,
    factor: float,
    lo: float,
    hi: float,
    t: Texts,
    scale_points: int = 4,
) -> None:
    """Shade the category bands and name them above the plot, where they are visible."""
    for low, high, cat, colour in _category_spans(scheme, factor, scale_points):
        ax.axvspan(low, high, color=colour, zorder=0, lw=0)
        if lo < low < hi:
            ax.axvline(low, color=GREY, lw=0.6, ls=(0, (4, 2)), zorder=1)
        left, right = max(low, lo), min(high, hi)
        if right - left > 0.035 * (hi - lo):
            name = t.pick(cat.label_id, cat.label_en)
            label = cat.code if right - left < 0.16 * (hi - lo) else f"{cat.code} {name}"
            ax.text(
                (left + right) / 2,
                1.005,
                label,
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="bottom",
                fontsize=BASE_FONT - 0.5,
                color=INK,
            )


def _row_height(count: int) -> float:
    """Figure height for a chart with one row per OPD (readable labels up to ~80 OPDs)."""
    per_row = 0.19 if count <= 25 else 0.155 if count <= 50 else 0.125
    return 1.1 + per_row * count


def caterpillar_svg(
    score: WaveScore,
    labels: Mapping[str, str],
    *,
    lang: Lang = "id",
    highlight: str | None = None,
) -> str:
    """Every OPD's converted IKM with its interval, best at the top, over the category bands.

    The figure is built once for a wave, language and labels and kept for the next call (the
    last two such figures are kept; see :class:`_Caterpillar`): the OPD reports of a wave all
    print this chart, each with its own OPD highlighted, and building the figure is half of
    drawing it. The SVG is the same as that of a figure built afresh with the highlight.

    Parameters
    ----------
    score : WaveScore
    labels : mapping of str to str
        OPD slug to the label shown (a short name).
    lang : {"id", "en"}
    highlight : str, optional
        Slug of an OPD drawn in colour (the OPD report's own).

    Returns
    -------
    str
        An SVG document.
    """
    with _style():  # also guards the shared figure: one thread draws it at a time
        return _caterpillar(score, labels, lang).svg(highlight)


# The last waves' caterpillar figures: (weak reference to the WaveScore, labels, lang, figure).
# A few, so that reports of two waves rendered in turn (a web server) do not rebuild each time.
_CATERPILLARS: list[tuple[weakref.ref[WaveScore], dict[str, str], Lang, _Caterpillar]] = []
_CATERPILLARS_KEPT = 2


def _caterpillar(score: WaveScore, labels: Mapping[str, str], lang: Lang) -> _Caterpillar:
    """The figure of `score` in `lang` with `labels`, built on first use (call under _style)."""
    wanted = dict(labels)
    for ref, kept_labels, kept_lang, chart in _CATERPILLARS:
        if ref() is score and kept_lang == lang and kept_labels == wanted:
            return chart
    chart = _Caterpillar(score, wanted, lang)
    _CATERPILLARS[:] = [e for e in _CATERPILLARS if e[0]() is not None][-(_CATERPILLARS_KEPT - 1) :]
    _CATERPILLARS.append((weakref.ref(score), wanted, lang, chart))
    return chart


class _Caterpillar:
    """The caterpillar figure of a wave, saved as SVG with any one OPD highlighted.

    The rows are drawn by a handful of lines, not two per OPD: the intervals of all other OPDs
    as one line broken between rows, their points as one line of markers for the reliable and
    one for the unreliable (hollow), and the highlighted OPD's interval and point on their own.
    A chart of 50 OPDs so has some 6 artists instead of 100, which matplotlib saves and
    WeasyPrint draws in a fraction of the time; the picture is the same. :meth:`svg` sets
    which rows each line draws for the highlighted OPD, restyles its label, saves, and puts the
    label back. Used under :func:`_style` only (the save reads the SVG rcParams; the lock keeps
    threads apart).
    """

    def __init__(self, score: WaveScore, labels: Mapping[str, str], lang: Lang) -> None:
        """Build the figure of every OPD, none highlighted."""
        t = Texts(lang)
        units = _sorted_units(score)
        count = len(units)
        values = np.array([u.converted() for u in units])
        lows = np.array([u.interval.converted()[0] for u in units])
        highs = np.array([u.interval.converted()[1] for u in units])
        lo = float(np.nanmin(np.concatenate([lows, values])))
        hi = float(np.nanmax(np.concatenate([highs, values])))
        pad = max(1.5, 0.06 * (hi - lo))
        lo, hi = max(25.0, lo - pad), min(100.0, hi + pad)
        y = np.arange(count)[::-1]
        fig = Figure(figsize=(WIDTH, _row_height(count)))
        ax = fig.add_subplot()
        _draw_bands(ax, score.scheme, 25.0, lo, hi, t)
        if score.funnel is not None:
            mean = converted(score.mean_ikm(), _points(score))  # the one average
            ax.axvline(mean, color=INK, lw=0.8, ls=":", zorder=2)
        # Per OPD: its row, interval (NaN when open-ended), point and whether it is unreliable.
        self._units = [u.unit for u in units]
        self._y = y.astype(float)
        self._values, self._lows, self._highs = values, lows, highs
        self._unreliable = np.array([u.unreliable() for u in units], dtype=bool)
        line: dict[str, Any] = {"color": INK, "lw": 1.1, "zorder": 3}
        point: dict[str, Any] = {
            "marker": "o",
            "ms": 3.8,
            "color": INK,
            "mew": 1.0,
            "ls": "none",
            "zorder": 4,
        }
        (self._intervals,) = ax.plot([], [], **line)
        (self._reliable,) = ax.plot([], [], mfc=INK, **point)
        (self._hollow,) = ax.plot([], [], mfc="white", **point)
        (self._own_interval,) = ax.plot([], [], **{**line, "color": VERMILLION, "lw": 1.6})
        own_point: dict[str, Any] = {**point, "marker": "D", "ms": 5, "color": VERMILLION}
        (self._own_point,) = ax.plot([], [], mfc=VERMILLION, **own_point)
        (self._own_hollow,) = ax.plot([], [], mfc="white", **own_point)
        self._show(None)
        ax.set_yticks(y, [_shorten(labels.get(u.unit, u.unit)) for u in units])
        self._ticks = dict(zip((u.unit for u in units), ax.get_yticklabels(), strict=True))
        ax.set_ylim(-0.7, count - 0.3)
        ax.set_xlim(lo, hi)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=8, steps=[1, 2, 2.5, 5, 10]))
        ax.xaxis.set_major_formatter(_number_formatter(lang, 0))
        ax.set_xlabel(t("chart.caterpillar.x"))
        ax.tick_params(axis="y", length=0)
        ax.grid(axis="x", color="white", lw=0.6, zorder=1)
        handles = [
            matplotlib.lines.Line2D([], [], color=INK, marker="o", ms=3.8, lw=1.1),
            matplotlib.lines.Line2D([], [], color=INK, lw=0.8, ls=":"),
        ]
        names = [t("chart.caterpillar.legend_point"), t("chart.legend_mean")]
        if any(u.unreliable() for u in units):
            handles.append(
                matplotlib.lines.Line2D([], [], color=INK, marker="o", mfc="white", ls="none")
            )
            names.append(t("chart.legend_unreliable"))
        fig.legend(handles, names, loc="lower center", ncol=len(names), bbox_to_anchor=(0.5, 0))
        fig.subplots_adjust(
            left=0.25,
            right=0.98,
            top=1 - 0.3 / fig.get_figheight(),
            bottom=0.7 / fig.get_figheight(),
        )
        self._fig = fig

    def _show(self, slug: str | None) -> None:
        """Let the lines draw every row, the row of `slug` (if any) as the report's own OPD."""
        own = np.array([unit == slug for unit in self._units], dtype=bool)
        finite = np.isfinite(self._lows) & np.isfinite(self._highs)

        def broken(rows: Any) -> tuple[Any, Any]:
            """x and y of the intervals of `rows` as one line, broken by NaN between rows."""
            nan = np.full(int(rows.sum()), np.nan)
            x = np.column_stack([self._lows[rows], self._highs[rows], nan]).ravel()
            return x, np.repeat(self._y[rows], 3)

        self._intervals.set_data(*broken(finite & ~own))
        self._own_interval.set_data(*broken(finite & own))
        for line, rows in (
            (self._reliable, ~own & ~self._unreliable),
            (self._hollow, ~own & self._unreliable),
            (self._own_point, own & ~self._unreliable),
            (self._own_hollow, own & self._unreliable),
        ):
            line.set_data(self._values[rows], self._y[rows])

    def _mark(self, slug: str | None, own: bool) -> None:
        """Style the label of `slug` as the report's own OPD (or back as any other)."""
        if slug not in self._ticks:
            return
        tick = self._ticks[slug]
        tick.set_color(VERMILLION if own else INK)
        tick.set_fontweight("bold" if own else "normal")

    def svg(self, highlight: str | None) -> str:
        """The chart as SVG with `highlight` (a slug, or None) drawn in colour."""
        self._show(highlight)
        self._mark(highlight, True)
        try:
            return _svg(self._fig)
        finally:
            self._mark(highlight, False)


def rank_interval_svg(
    score: WaveScore,
    labels: Mapping[str, str],
    *,
    lang: Lang = "id",
    top_k: int = 5,
    highlight: str | None = None,
) -> str:
    """Every OPD's estimated rank with its simultaneous 95% set, best at the top.

    The zones of the top `top_k` and the bottom `top_k` ranks are shaded, so a reader sees at a
    glance which OPDs surely belong there (bar inside the zone) and which only may.
    """
    t = Texts(lang)
    units = sorted(score.units, key=lambda u: (u.rank, -u.ikm, u.unit))
    count = len(units)
    k = max(1, min(top_k, count))
    y = np.arange(count)[::-1]
    with _style():
        fig = Figure(figsize=(WIDTH, _row_height(count)))
        ax = fig.add_subplot()
        ax.axvspan(0.5, k + 0.5, color=BAND_COLOURS[0], lw=0, zorder=0)
        zones = [(0.5 + k / 2, "chart.rank.top_zone")]
        if count >= 2 * k:  # with fewer OPDs the two zones would overlap
            ax.axvspan(count - k + 0.5, count + 0.5, color=BAND_COLOURS[3], lw=0, zorder=0)
            zones.append((count + 0.5 - k / 2, "chart.rank.bottom_zone"))
        for x, key in zones:
            ax.text(
                x,
                1.005,
                t(key, k=k),
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="bottom",
                fontsize=BASE_FONT - 0.5,
            )
        # One line per colour for the sets (broken by NaN between rows) and one for the ranks,
        # not two per OPD: the same picture, drawn much faster (see _Caterpillar).
        own = np.array([u.unit == highlight for u in units], dtype=bool)
        for rows, colour in ((~own, SKY), (own, ORANGE)):
            if rows.any():
                ends = [(u.rank_low - 0.35, u.rank_high + 0.35, np.nan) for u in units]
                ax.plot(
                    np.array(ends)[rows].ravel(),
                    np.repeat(y[rows], 3),
                    color=colour,
                    lw=5 if count <= 50 else 3.5,
                    solid_capstyle="butt",
                    zorder=2,
                )
        ranks = [u.rank for u in units]
        ax.plot(ranks, y, marker="|", ms=7, mew=1.8, color=INK, zorder=3, ls="none")
        ax.set_yticks(y, [_shorten(labels.get(u.unit, u.unit)) for u in units])
        for tick, u in zip(ax.get_yticklabels(), units, strict=True):
            if u.unit == highlight:
                tick.set_fontweight("bold")
        ax.set_xlim(0.5, count + 0.5)
        ax.set_ylim(-0.7, count - 0.3)
        ticks = _rank_ticks(count, k)
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{round(v)}"))
        ax.set_xlabel(t("chart.rank.x"))
        ax.tick_params(axis="y", length=0)
        ax.grid(axis="x", color="#bbbbbb", lw=0.4, zorder=1)
        handles = [
            matplotlib.lines.Line2D([], [], color=SKY, lw=5),
            matplotlib.lines.Line2D([], [], color=INK, marker="|", ms=7, mew=1.8, ls="none"),
        ]
        fig.legend(
            handles,
            [t("chart.rank.legend_set"), t("chart.rank.legend_rank")],
            loc="lower center",
            ncol=2,
            bbox_to_anchor=(0.5, 0),
        )
        fig.subplots_adjust(
            left=0.25,
            right=0.98,
            top=1 - 0.3 / fig.get_figheight(),
            bottom=0.7 / fig.get_figheight(),
        )
        return _svg(fig)


def _rank_ticks(count: int, k: int) -> list[int]:
    """Ticks at 1, K, the first of the bottom K, the last rank and every 5 or 10, none crowded."""
    step = 5 if count <= 30 else 10
    wanted = [1, k, count - k + 1, count]
    ticks: list[int] = []
    # Zone edges first, so a round number yields to them when two would touch.
    for tick in [*wanted, *range(step, count + 1, step)]:
        if 1 <= tick <= count and all(abs(tick - other) >= max(2, count / 25) for other in ticks):
            ticks.append(tick)
    return sorted(ticks)


def _place_labels(ax: Any, points: list[tuple[float, float, str, bool]]) -> None:
    """Name points without labels overlapping: try a few offsets per label, in display space.

    Labels are placed greedily from left to right; a label that finds no free spot is still
    drawn at its first choice (the table names every OPD anyway).
    """
    fig = ax.figure
    ax.get_xlim(), ax.get_ylim()  # settles pending autoscaling, so transData is final
    taken: list[tuple[float, float, float, float]] = []
    size = BASE_FONT - 1
    for x, y, label, below in sorted(points, key=lambda p: (p[0], p[1])):
        px, py = ax.transData.transform((x, y)) * 72 / fig.dpi  # points
        width, height = 0.6 * size * len(label), size * 1.2
        candidates = [(5, -10), (5, 4), (-width - 5, -10), (-width - 5, 4), (5, -20), (5, 14)]
        if not below:
            candidates = [candidates[1], candidates[0], *candidates[2:]]
        chosen = candidates[0]
        for dx, dy in candidates:
            box = (px + dx, py + dy, px + dx + width, py + dy + height)
            if all(box[2] < o[0] or box[0] > o[2] or box[3] < o[1] or box[1] > o[3] for o in taken):
                chosen = (dx, dy)
                break
        dx, dy = chosen
        taken.append((px + dx, py + dy, px + dx + width, py + dy + height))
        ax.annotate(
            label,
            (x, y),
            xytext=(dx, dy),
            textcoords="offset points",
            fontsize=size,
            color=INK,
        )


def funnel_svg(
    score: WaveScore,
    labels: Mapping[str, str],
    *,
    lang: Lang = "id",
    highlight: str | None = None,
) -> str:
    """Converted IKM against its precision, with the 95% and 99.8% limits around the mean.

    The horizontal axis is each OPD's precision expressed as *equivalent respondents*,
    (pooled sd / se)^2: the number of respondents an OPD with the typical spread of answers
    would need for the same standard error. It is close to the OPD's actual n, and with it the
    drawn limits are exactly those scoring applies to the OPD's own standard error, so a point
    lies outside a limit on the chart exactly when ``UnitScore.funnel_95``/``funnel_998`` says
    so (with plain n on the axis, an OPD with uniform answers could sit inside the drawn
    funnel and still be flagged). OPDs outside the 95% limits are named.
    """
    t = Texts(lang)
    fun = score.funnel
    units = list(score.units)
    n = np.array([u.n for u in units], dtype=float)
    se = np.array([u.se for u in units])
    values = np.array([u.converted() for u in units])
    ok = (n >= 2) & np.isfinite(se) & (se > 0)
    m = _points(score)
    # Pooled respondent sd on 1..m (se^2 n estimates the variance of a mean score).
    sd = math.sqrt(np.sum((n[ok] - 1) * se[ok] ** 2 * n[ok]) / max(np.sum(n[ok] - 1), 1))
    x_values = np.where(ok, (sd / np.where(ok, se, 1.0)) ** 2, n)
    with _style():
        fig = Figure(figsize=(WIDTH, 3.6))
        ax = fig.add_subplot()
        if fun is not None:
            grid = np.linspace(max(2.0, x_values.min() * 0.7), x_values.max() * 1.15, 200)
            ax.axhline(converted(fun.target, m), color=INK, lw=0.9, zorder=2)
            for level, style, colour in ((0.95, (0, (5, 3)), BLUE), (0.998, "-", VERMILLION)):
                low, high = fun.limits(level, se=sd / np.sqrt(grid))
                low, high = converted(low, m), converted(high, m)
                ax.plot(grid, np.clip(low, 25, 100), color=colour, ls=style, lw=1, zorder=2)
                ax.plot(grid, np.clip(high, 25, 100), color=colour, ls=style, lw=1, zorder=2)
        markers = {"above": ("^", BLUE), "below": ("v", VERMILLION), "inside": ("o", GREY)}
        named = []
        # One line of markers per run of OPDs drawn alike, not one per OPD: markers may
        # overlap, and runs keep the order in which they are drawn (see _Caterpillar).
        runs: list[tuple[tuple[str, int, str], list[float], list[float]]] = []
        for u, x, v in zip(units, x_values, values, strict=True):
            marker, colour = markers.get(u.funnel_95 or "inside", markers["inside"])
            own = u.unit == highlight
            look = ("D", 6, INK) if own else (marker, 5, colour)
            if not runs or runs[-1][0] != look:
                runs.append((look, [], []))
            runs[-1][1].append(x)
            runs[-1][2].append(v)
            if own or u.funnel_95 in ("above", "below"):
                named.append((x, v, labels.get(u.unit, u.unit), u.funnel_95 == "below"))
        for (marker, size, colour), xs, vs in runs:
            ax.plot(
                xs,
                vs,
                marker=marker,
                ms=size,
                color=colour,
                mec="white",
                mew=0.5,
                ls="none",
                zorder=4,
            )
        ax.set_xlabel(t("chart.funnel.x"))
        ax.set_ylabel(t("chart.funnel.y"))
        ax.yaxis.set_major_formatter(_number_formatter(lang, 0))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.margins(x=0.02, y=0.08)
        ax.grid(color="#e3e3e3", lw=0.5, zorder=0)
        fig.subplots_adjust(left=0.09, right=0.98, top=0.97, bottom=0.3)
        # Limits and layout are final now, so data-to-display positions are too.
        _place_labels(ax, [(x, v, _shorten(label, 22), below) for x, v, label, below in named])
        # Legends fill column by column: this order puts the lines on the first row and the
        # markers on the second.
        handles = [
            matplotlib.lines.Line2D([], [], color=INK, lw=0.9),
            matplotlib.lines.Line2D([], [], color=BLUE, marker="^", ls="none", mec="white"),
            matplotlib.lines.Line2D([], [], color=BLUE, lw=1, ls=(0, (5, 3))),
            matplotlib.lines.Line2D([], [], color=VERMILLION, marker="v", ls="none", mec="white"),
            matplotlib.lines.Line2D([], [], color=VERMILLION, lw=1),
        ]
        names = [
            t("chart.legend_mean"),
            t("chart.funnel.above"),
            t("chart.funnel.limit95"),
            t("chart.funnel.below"),
            t("chart.funnel.limit998"),
        ]
        fig.legend(handles, names, loc="lower center", ncol=3, bbox_to_anchor=(0.5, 0))
        return _svg(fig)


def _split_colours(points: int) -> list[str]:
    """Colours of the answer values 1..points: unfavourable orange, favourable purple."""
    half = points // 2
    neg = [DIVERGING["neg_strong"], DIVERGING["neg"]]
    pos = [DIVERGING["pos"], DIVERGING["pos_strong"]]
    if half > 2:  # long scales: interpolate within each side
        neg = [neg[0]] * (half - 1) + [neg[1]]
        pos = [pos[0]] + [pos[1]] * (half - 1)
    middle = [DIVERGING["neutral"]] if points % 2 else []
    return neg[-half:] + middle + pos[:half]


def diverging_svg(
    counts: ArrayLike,
    element_labels: Sequence[str],
    *,
    lang: Lang = "id",
    value_labels: Sequence[str] | None = None,
) -> str:
    """Share of each answer per element as a diverging stacked bar (Heiberger & Robbins 2014).

    Unfavourable answers (the lower half of the scale) extend left of zero, favourable ones
    right; the middle answer of an odd scale is split across zero. Shares of 8% or more are
    printed in their segment.

    Parameters
    ----------
    counts : array_like, shape (elements, scale points)
        Respondents per element and answer value (``Aggregates.counts``, summed over OPDs).
    element_labels : sequence of str
        One per element, top to bottom.
    lang : {"id", "en"}
    value_labels : sequence of str, optional
        Legend text per answer value (default: "1 (worst)" .. "4 (best)").
    """
    t = Texts(lang)
    table = np.asarray(counts, dtype=float)
    k, points = table.shape
    if len(element_labels) != k:
        raise ValueError(f"{len(element_labels)} labels for {k} elements")
    totals = table.sum(axis=1, keepdims=True)
    shares = np.divide(table, totals, out=np.zeros_like(table), where=totals > 0) * 100
    colours = _split_colours(points)
    half = points // 2
    if value_labels is None:
        value_labels = [str(v) for v in range(1, points + 1)]
        value_labels[0] = t("chart.diverging.worst", v=1)
        value_labels[-1] = t("chart.diverging.best", v=points)
    y = np.arange(k)[::-1]
    with _style():
        fig = Figure(figsize=(WIDTH, 0.9 + 0.32 * k))
        ax = fig.add_subplot()
        for row, yi in zip(shares, y, strict=True):
            middle = row[half] / 2 if points % 2 else 0.0
            # Left side: from zero outwards, the value next to the middle first.
            edge = -middle
            for v in range(half - 1, -1, -1):
                _segment(ax, yi, edge - row[v], row[v], colours[v], lang)
                edge -= row[v]
            if points % 2:
                _segment(ax, yi, -middle, row[half], colours[half], lang)
            edge = middle
            for v in range(points - half, points):
                _segment(ax, yi, edge, row[v], colours[v], lang)
                edge += row[v]
        ax.axvline(0, color=INK, lw=0.8, zorder=3)
        ax.set_yticks(y, [_wrap(label) for label in element_labels])
        ax.tick_params(axis="y", length=0)
        reach = max(
            10.0,
            float(
                np.max(shares[:, :half].sum(axis=1) + (shares[:, half] / 2 if points % 2 else 0))
            ),
            float(
                np.max(
                    shares[:, points - half :].sum(axis=1)
                    + (shares[:, half] / 2 if points % 2 else 0)
                )
            ),
        )
        reach = min(100.0, math.ceil(reach / 10) * 10)
        ax.set_xlim(-reach, reach)
        ax.set_ylim(-0.6, k - 0.4)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=10, steps=[1, 2, 2.5, 5, 10]))
        ax.xaxis.set_major_formatter(_percent_formatter(lang))
        ax.set_xlabel(t("chart.diverging.x"))
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        handles = [matplotlib.patches.Patch(color=c) for c in colours]
        fig.legend(
            handles,
            value_labels,
            loc="lower center",
            ncol=points,
            bbox_to_anchor=(0.5, 0),
            handlelength=1.2,
        )
        fig.subplots_adjust(left=0.33, right=0.98, top=0.98, bottom=0.62 / fig.get_figheight())
        return _svg(fig)


def _segment(ax: Any, y: float, left: float, width: float, colour: str, lang: Lang) -> None:
    """Draw one bar segment and print its share when it is wide enough to hold the text."""
    if width <= 0:
        return
    ax.barh(y, width, left=left, height=0.66, color=colour, edgecolor="white", lw=0.5, zorder=2)
    if width >= 8:
        dark = colour in (DIVERGING["neg_strong"], DIVERGING["pos_strong"])
        ax.text(
            left + width / 2,
            y,
            format_number(width, lang, 0) + "%",
            ha="center",
            va="center",
            fontsize=BASE_FONT - 1.5,
            color="white" if dark else INK,
            zorder=3,
        )


def element_svg(
    unit: UnitScore,
    medians: Sequence[float],
    element_labels: Sequence[str],
    scheme: Scheme,
    *,
    lang: Lang = "id",
    weakest: Sequence[str] = (),
) -> str:
    """One OPD's NRR per element with its interval, beside the median NRR of all OPDs.

    Parameters
    ----------
    unit : UnitScore
    medians : sequence of float
        Median NRR of all OPDs, per element (1..4).
    element_labels : sequence of str
        One per element, in order.
    scheme : Scheme
        For the category bands (on 1..4).
    weakest : sequence of str
        Element codes drawn in the accent colour (the follow-up priorities).
    """
    t = Texts(lang, unit.estimate.scale_points)
    k = len(unit.elements)
    y = np.arange(k)[::-1]
    nrr = np.array([e.nrr for e in unit.elements])
    lows = np.array([e.interval.low for e in unit.elements])
    highs = np.array([e.interval.high for e in unit.elements])
    finite = np.concatenate([v[np.isfinite(v)] for v in (nrr, lows, highs, np.asarray(medians))])
    m = unit.estimate.scale_points
    lo = max(1.0, math.floor((finite.min() - 0.1) * 4) / 4) if finite.size else 1.0
    hi = min(float(m), math.ceil((finite.max() + 0.1) * 4) / 4) if finite.size else float(m)
    with _style():
        fig = Figure(figsize=(WIDTH, 1.0 + 0.3 * k))
        ax = fig.add_subplot()
        _draw_bands(ax, scheme, 1.0, lo, hi, t, m)
        # One line per colour for the intervals (broken by NaN between rows), one per colour
        # for the points and one for the medians, not three per element: the same picture in
        # a fraction of the SVG nodes (see _Caterpillar).
        weak = np.array([e.code in weakest for e in unit.elements], dtype=bool)
        finite_interval = np.isfinite(lows) & np.isfinite(highs)
        for rows, colour in ((~weak, INK), (weak, VERMILLION)):
            shown = rows & finite_interval
            if shown.any():
                nan = np.full(int(shown.sum()), np.nan)
                ax.plot(
                    np.column_stack([lows[shown], highs[shown], nan]).ravel(),
                    np.repeat(y[shown], 3),
                    color=colour,
                    lw=1.3,
                    zorder=3,
                )
        for rows, colour in ((~weak, INK), (weak, VERMILLION)):
            shown = rows & np.isfinite(nrr)
            if shown.any():
                ax.plot(nrr[shown], y[shown], marker="o", ms=5, color=colour, ls="none", zorder=4)
        median_values = np.asarray(medians, dtype=float)
        shown = np.isfinite(median_values)
        if shown.any():
            ax.plot(
                median_values[shown],
                y[shown],
                marker="|",
                ms=11,
                mew=2,
                color=BLUE,
                ls="none",
                zorder=5,
            )
        ax.set_yticks(y, [_wrap(label) for label in element_labels])
        for tick, e in zip(ax.get_yticklabels(), unit.elements, strict=True):
            if e.code in weakest:
                tick.set_color(VERMILLION)
                tick.set_fontweight("bold")
        ax.tick_params(axis="y", length=0)
        ax.set_xlim(lo, hi)
        ax.set_ylim(-0.6, k - 0.4)
        ax.xaxis.set_major_formatter(_number_formatter(lang, 2))
        ax.xaxis.set_major_locator(MaxNLocator(nbins=8, steps=[1, 2, 2.5, 5, 10]))
        ax.set_xlabel(t("chart.element.x"))
        ax.grid(axis="x", color="white", lw=0.6, zorder=1)
        handles = [
            matplotlib.lines.Line2D([], [], color=INK, marker="o", ms=5, lw=1.3),
            matplotlib.lines.Line2D([], [], color=BLUE, marker="|", ms=11, mew=2, ls="none"),
        ]
        names = [t("chart.element.legend_own"), t("chart.element.legend_median")]
        if weakest:
            handles.append(matplotlib.lines.Line2D([], [], color=VERMILLION, marker="o", lw=1.3))
            names.append(t("chart.element.legend_weak"))
        fig.legend(handles, names, loc="lower center", ncol=len(names), bbox_to_anchor=(0.5, 0))
        fig.subplots_adjust(
            left=0.36,
            right=0.98,
            top=1 - 0.28 / fig.get_figheight(),
            bottom=0.66 / fig.get_figheight(),
        )
        return _svg(fig)


def trend_svg(points: Sequence[TrendPoint], scheme: Scheme, *, lang: Lang = "id") -> str:
    """The OPD's converted IKM per wave (oldest left) with intervals; the last point is now."""
    t = Texts(lang)
    count = len(points)
    x = np.arange(count)
    values = np.array([converted(p.ikm, p.scale_points) for p in points])
    lows = np.array([converted(p.ci_low, p.scale_points) for p in points])
    highs = np.array([converted(p.ci_high, p.scale_points) for p in points])
    finite = np.concatenate([v[np.isfinite(v)] for v in (values, lows, highs)])
    lo, hi = max(25.0, finite.min() - 3), min(100.0, finite.max() + 3)
    with _style():
        fig = Figure(figsize=(WIDTH, 2.5))
        ax = fig.add_subplot()
        for low, high, cat, colour in _category_spans(scheme, 25.0):
            ax.axhspan(low, high, color=colour, lw=0, zorder=0)
            if lo < low < hi:
                ax.axhline(low, color=GREY, lw=0.6, ls=(0, (4, 2)), zorder=1)
            mid_low, mid_high = max(low, lo), min(high, hi)
            if mid_high - mid_low > 0.08 * (hi - lo):
                ax.text(
                    1.005,
                    (mid_low + mid_high) / 2,
                    cat.code,
                    transform=ax.get_yaxis_transform(),
                    va="center",
                    fontsize=BASE_FONT - 0.5,
                )
        ax.plot(x, values, color=GREY, lw=1, zorder=2)
        for xi, v, low, high in zip(x, values, lows, highs, strict=True):
            last = xi == count - 1
            colour = VERMILLION if last else INK
            if math.isfinite(low) and math.isfinite(high):
                ax.plot([xi, xi], [low, high], color=colour, lw=1.2, zorder=3)
            ax.plot([xi], [v], marker="D" if last else "o", ms=5, color=colour, zorder=4, ls="none")
            ax.annotate(
                format_number(v, lang, 1),
                (xi, v),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                fontsize=BASE_FONT - 1,
            )
        ax.set_xticks(x, [_shorten(p.wave_title, 26) for p in points])
        ax.set_xlim(-0.5, count - 0.5)
        ax.set_ylim(lo, hi)
        ax.yaxis.set_major_formatter(_number_formatter(lang, 0))
        ax.set_ylabel(t("chart.trend.y"))
        fig.subplots_adjust(left=0.09, right=0.96, top=0.95, bottom=0.16)
        return _svg(fig)


def nrr_colour(value: float, low: float, high: float) -> tuple[str, str]:
    """Background and text colour of an NRR cell: darker blue for a higher value.

    `low` and `high` are the smallest and largest NRR of the table, so the whole ramp is used;
    the text turns white where the background is dark (contrast at least 4.5:1 either way).

    Examples
    --------
    >>> nrr_colour(2.0, 2.0, 3.0), nrr_colour(3.0, 2.0, 3.0)
    (('#f7fbff', '#222222'), ('#08306b', '#ffffff'))
    """
    if not math.isfinite(value):
        return ("#ffffff", GREY)
    span = high - low
    share = 0.5 if span <= 0 else min(1.0, max(0.0, (value - low) / span))
    index = round(share * (len(BLUES) - 1))
    return (BLUES[index], "#ffffff" if index >= 5 else INK)

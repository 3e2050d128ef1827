"""The input contract of the reports: small frozen value objects the caller fills in.

The database side (``survey``) assembles these from its tables; tests and benchmarks build
them from simulated data (:mod:`reports.sample`). The report functions read nothing else: no
database, no request, no clock. Everything a report prints about *when* comes from
:attr:`ScoredWave.data_taken_at`, so the same input gives the same PDF.

Conventions:

- OPDs are identified by their slug everywhere; ``ScoredWave.score`` holds one
  :class:`~scoring.UnitScore` per scored OPD with ``unit == slug``.
- Scores and intervals are on the 1..4 scale, as :mod:`scoring` gives them; the reports convert.
- Times are timezone-aware; the reports print them in :attr:`ScoredWave.timezone`.
- Counts for anonymity rules are the counted responses (``UnitScore.n``), never flagged ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from scoring import Aggregates, UnitScore, WaveRobustness, WaveScore, wave_robustness
from scoring.schemes import converted

if TYPE_CHECKING:
    from .changes import OpdChange

__all__ = [
    "AGE_BANDS",
    "SCORE_FIELDS",
    "Comment",
    "ElementInfo",
    "FrozenMap",
    "Lang",
    "Logo",
    "OpdInfo",
    "OpdReportData",
    "Poster",
    "ScoredWave",
    "TrendPoint",
    "age_band",
]

Lang = Literal["id", "en"]

# Age bands for the respondent profile: wide enough that few groups fall under the anonymity
# threshold, matching the bands Indonesian SKM reports usually print.
AGE_BANDS: tuple[tuple[int, int | None, str], ...] = (
    (0, 24, "< 25"),
    (25, 34, "25–34"),
    (35, 44, "35–44"),
    (45, 54, "45–54"),
    (55, None, "≥ 55"),
)


def age_band(age: int) -> str:
    """Return the profile label of an age (e.g. ``"25–34"``), for building ``profile["age"]``.

    Examples
    --------
    >>> age_band(17), age_band(38), age_band(70)
    ('< 25', '35–44', '≥ 55')
    """
    for low, high, label in AGE_BANDS:
        if age >= low and (high is None or age <= high):
            return label
    raise ValueError(f"age must be >= 0, got {age!r}")


class FrozenMap(Mapping):
    """A read-only mapping that, unlike ``MappingProxyType``, pickles (for worker processes)."""

    __slots__ = ("_data",)
    _data: dict[Any, Any]

    def __init__(self, data: Mapping | None = None) -> None:
        """Copy `data`, so later changes to the caller's dict do not show through."""
        object.__setattr__(self, "_data", dict(data or {}))

    def __getitem__(self, key: object) -> object:
        """Return the value of `key`."""
        return self._data[key]

    def __iter__(self) -> Iterator:
        """Iterate over the keys in insertion order."""
        return iter(self._data)

    def __len__(self) -> int:
        """Return the number of keys."""
        return len(self._data)

    def __repr__(self) -> str:
        """Show the contents like a dict."""
        return f"FrozenMap({self._data!r})"

    def __setattr__(self, name: str, value: object) -> None:
        """Refuse changes: the mapping is part of a frozen value object."""
        raise AttributeError("FrozenMap is read-only")

    def __reduce__(self) -> tuple:
        """Pickle as a rebuild from a plain dict."""
        return (FrozenMap, (self._data,))


def _frozen_mapping(value: Mapping) -> Mapping:
    """Return a read-only copy, so a frozen dataclass cannot be changed through its mappings."""
    return FrozenMap(value)


@dataclass(frozen=True)
class ElementInfo:
    """One element (unsur) of the questionnaire, in both languages.

    Attributes
    ----------
    code : str
        ``"U1"`` .. ``"U9"`` for the default questionnaire; the order is the questionnaire's
        and must match the columns of the scores and aggregates.
    name_id, name_en : str
        Element name (for U1 of the regulation, see :mod:`scoring.regulation`).
    labels_id, labels_en : tuple of str
        Answer labels for the values 1 .. scale points, worst first.
    not_applicable_id, not_applicable_en : str
        The element's "not applicable" answer, if it offers one (else empty).
    """

    code: str
    name_id: str
    name_en: str
    labels_id: tuple[str, ...] = ()
    labels_en: tuple[str, ...] = ()
    # The answer "does not apply to me" (U9: never complained), stored but never scored; ""
    # when the element does not offer it.
    not_applicable_id: str = ""
    not_applicable_en: str = ""

    def __post_init__(self) -> None:
        """Store the labels as tuples (lists from JSON columns are welcome)."""
        object.__setattr__(self, "labels_id", tuple(self.labels_id))
        object.__setattr__(self, "labels_en", tuple(self.labels_en))

    def name(self, lang: Lang) -> str:
        """Return the name in the report language."""
        return self.name_en if lang == "en" else self.name_id

    def labels(self, lang: Lang) -> tuple[str, ...]:
        """Return the answer labels in the report language (Indonesian if English is empty)."""
        return (self.labels_en or self.labels_id) if lang == "en" else self.labels_id


@dataclass(frozen=True)
class OpdInfo:
    """An OPD covered by the wave, scored or not.

    Attributes
    ----------
    slug : str
        Identifier; the ``unit`` of its :class:`~scoring.UnitScore`.
    name : str
        Full name (``"Badan Penanggulangan Bencana Daerah"``).
    short_name : str or None
        Abbreviation used where space is short (chart labels); the name if None.
    target_n : int or None
        The evaluator's target number of responses for the wave.
    population : int or None
        Service users in the period (N of Krejcie & Morgan), if known.
    flagged : int
        Responses of this OPD flagged and excluded from the scores.
    not_applicable : tuple of (str, int)
        Per element code, the counted respondents who chose its "not applicable" answer
        (only elements with some); they are not among the element's answers (n).
    """

    slug: str
    name: str
    short_name: str | None = None
    target_n: int | None = None
    population: int | None = None
    flagged: int = 0
    not_applicable: tuple[tuple[str, int], ...] = ()

    def label(self) -> str:
        """Return the short name, or the name when there is none."""
        return self.short_name or self.name


@dataclass(frozen=True)
class Logo:
    """The evaluator's logo for the report covers: PNG or JPEG bytes, already checked.

    Attributes
    ----------
    media_type : str
        ``"image/png"`` or ``"image/jpeg"``.
    data : bytes
        The image file.
    """

    media_type: str
    data: bytes

    def __post_init__(self) -> None:
        """Accept only the two types the covers print."""
        if self.media_type not in ("image/png", "image/jpeg"):
            raise ValueError(f"a logo is PNG or JPEG, not {self.media_type!r}")

    def data_url(self) -> str:
        """Return the image as a ``data:`` URL (the only kind of URL a report may load)."""
        import base64

        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode('ascii')}"


# The per-OPD fields of ``UnitScore.as_dict`` other than the unit and its elements; an OPD
# without counted responses carries them all as null in :meth:`ScoredWave.rows`.
SCORE_FIELDS = (
    "ikm",
    "ikm_converted",
    "ci_low",
    "ci_high",
    "ci_method",
    "unreliable",
    "category",
    "category_label",
    "category_label_en",
    "crosses_boundary",
    "rank",
    "rank_ci_low",
    "rank_ci_high",
    "rank_marginal_low",
    "rank_marginal_high",
    "in_top_set",
    "in_bottom_set",
    "funnel_95",
    "funnel_998",
    "shrunken",
    "ranked",
)


@dataclass(frozen=True)
class ScoredWave:
    """A wave scored: what ``ikm score``, the web pages and the PDFs all print.

    One frozen object per scored wave. ``survey.core.scores.score_wave`` builds it from the
    database, :func:`reports.sample.sample_ranking` from simulated data; ``ikm score`` prints
    :meth:`rows`, the pages and the reports read the rest.

    Attributes
    ----------
    title : str
        Wave title (``"Evaluasi 100 Hari Kerja"``).
    evaluator : str
        Who ran the survey (``"DPD KNPI Kota Serang"``).
    period_start, period_end : date or None
        Survey period.
    data_taken_at : datetime
        Timezone-aware moment the data were read; printed on every page and used as the PDF's
        creation date (never the clock at rendering time).
    simulated : bool
        Demo data: every page says so.
    scheme_slug : str
        Slug of the category scheme (``score.scheme`` is the scheme itself).
    elements : tuple of ElementInfo
        In questionnaire order (the order of ``score.units[i].elements``).
    opds : tuple of OpdInfo
        Every OPD of the wave, including those without counted responses.
    score : WaveScore or None
        :func:`scoring.score_units` over the OPDs' aggregates (keys = slugs); None when no
        OPD has a counted response (nothing to rank; :meth:`wave_score` refuses then).
    aggregates : mapping of str to Aggregates
        Per OPD slug, for the answer distributions (``counts``); may be empty (then the
        distribution chart is left out).
    counted : int
        Responses counted in the scores (all OPDs).
    flagged : int
        Responses flagged and excluded.
    flag_reasons : mapping of str to int
        Flagged responses by reason code (``"duplicate-device"``, ``"bot-suspect"``,
        ``"manual"``; other codes are printed as they are).
    seed : int
        Seed given to :func:`scoring.score_units`.
    fingerprint : str
        Hash of the data scored (as ``ikm score`` prints it).
    bootstrap : int
        Bootstrap resamples per OPD (0 = analytic intervals).
    wave_slug : str
        The wave's identifier, printed with the seed so that anyone can score it again.
    timezone : str
        IANA zone for printed dates and times (default Asia/Jakarta).
    verified_only : bool
        Only answers that carried a valid visit code were scored (``counted`` is how many);
        a page that shows these figures must say so.
    logo : Logo or None
        The evaluator's logo, printed on the covers beside ``evaluator``.
    """

    title: str
    evaluator: str
    period_start: date | None
    period_end: date | None
    data_taken_at: datetime
    simulated: bool
    scheme_slug: str
    elements: tuple[ElementInfo, ...]
    opds: tuple[OpdInfo, ...]
    score: WaveScore | None
    aggregates: Mapping[str, Aggregates]
    counted: int
    flagged: int
    flag_reasons: Mapping[str, int]
    seed: int
    fingerprint: str
    bootstrap: int = 0
    wave_slug: str = ""
    timezone: str = "Asia/Jakarta"
    verified_only: bool = False
    logo: Logo | None = None
    # Robustness counts by K, computed on first use: the scored wave is cached by the web
    # and shared by the wave page and the PDF, so each is computed once per process.
    _robustness: dict[int, WaveRobustness] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        """Freeze the collections and check that the parts fit together."""
        object.__setattr__(self, "elements", tuple(self.elements))
        object.__setattr__(self, "opds", tuple(self.opds))
        object.__setattr__(self, "aggregates", _frozen_mapping(self.aggregates))
        object.__setattr__(self, "flag_reasons", _frozen_mapping(self.flag_reasons))
        if self.data_taken_at.tzinfo is None or self.data_taken_at.utcoffset() is None:
            raise ValueError("data_taken_at must be timezone-aware (e.g. UTC)")
        ZoneInfo(self.timezone)  # raises for an unknown zone now, not halfway through a PDF
        slugs = [o.slug for o in self.opds]
        if len(set(slugs)) != len(slugs):
            raise ValueError("opds has a slug more than once")
        units = self.units()
        known = set(slugs)
        unknown = [u.unit for u in units if u.unit not in known]
        if unknown:
            raise ValueError(f"scored units without an OpdInfo: {', '.join(unknown)}")
        # Scores made without element scores (elements=False, the live dashboard) have none.
        if units and units[0].elements and len(units[0].elements) != len(self.elements):
            raise ValueError(
                f"{len(self.elements)} elements given, the scores have {len(units[0].elements)}"
            )
        for unit in units:
            agg = self.aggregates.get(unit.unit)
            if agg is not None and agg.k != len(self.elements):
                raise ValueError(f"aggregates of {unit.unit!r} have {agg.k} elements")

    @property
    def element_codes(self) -> tuple[str, ...]:
        """The element codes in questionnaire order (``U1`` .. ``U9``)."""
        return tuple(e.code for e in self.elements)

    def wave_score(self) -> WaveScore:
        """Return the scores, or raise ValueError when no OPD has a counted response."""
        if self.score is None:
            raise ValueError(f"wave {self.wave_slug!r} has no counted response to report on")
        return self.score

    def units(self) -> tuple[UnitScore, ...]:
        """Return the ranked OPDs' scores (empty when nothing was scored).

        OPDs with fewer counted responses than the wave's ``min_rank_n`` are not among them:
        see :meth:`small_units`.
        """
        return () if self.score is None else self.score.units

    def small_units(self) -> tuple[UnitScore, ...]:
        """Return the OPDs scored but not ranked (fewer responses than ``min_rank_n``).

        Public outputs list them with their n and "belum cukup data", without rank or
        category; only the OPD head's own page and report show their score.
        """
        return () if self.score is None else self.score.unranked

    def small_unit(self, slug: str) -> UnitScore | None:
        """Return the score of an OPD below ``min_rank_n``, or None when it is not one."""
        for unit in self.small_units():
            if unit.unit == slug:
                return unit
        return None

    def min_rank_n(self) -> int:
        """Return the minimum counted responses for an OPD to be ranked in this wave."""
        return 1 if self.score is None else self.score.min_rank_n

    def opd(self, slug: str) -> OpdInfo:
        """Return the OPD with this slug (KeyError if it is not in the wave)."""
        for opd in self.opds:
            if opd.slug == slug:
                return opd
        raise KeyError(slug)

    def unit(self, slug: str) -> UnitScore | None:
        """Return the OPD's score, or None when it has no counted response."""
        for unit in self.units():
            if unit.unit == slug:
                return unit
        return None

    def robustness(self, top_k: int | None = None) -> WaveRobustness:
        """Return how many extreme ballots would change each OPD's category and rank sets.

        `top_k` is the K of the top-K / bottom-K sets (default the wave's; clamped to the OPDs
        scored). See :func:`scoring.wave_robustness`; raises ValueError when nothing was scored.
        """
        score = self.wave_score()
        k = max(1, min(score.top_k if top_k is None else int(top_k), len(score.units)))
        if k not in self._robustness:
            self._robustness[k] = wave_robustness(score, self.aggregates, top_k=k)
        return self._robustness[k]

    def scored_count(self) -> int:
        """Return how many OPDs have a score."""
        return len(self.units())

    def scale_points(self) -> int:
        """Return the questionnaire's number of answer values (4 when nothing was counted)."""
        for agg in self.aggregates.values():
            return agg.scale_points
        return 4

    def ranked_units(self) -> list[UnitScore]:
        """Return the scored OPDs' scores by rank (ties by slug)."""
        return sorted(self.units(), key=lambda u: (u.rank, u.unit))

    def rows(self) -> list[dict[str, Any]]:
        """Return one dict per OPD, as ``ikm score --format json`` prints them.

        Ranked OPDs first, by rank, with ``opd``, ``name``, the fields of
        :meth:`scoring.UnitScore.as_dict` and ``flagged``; then the OPDs below ``min_rank_n``
        (``ranked`` false: their IKM and interval, rank and category null); then the OPDs
        without counted responses, with ``n`` 0 and every score field null.
        """
        out = []
        for unit in (*self.ranked_units(), *self.small_units()):
            opd = self.opd(unit.unit)
            data = unit.as_dict()
            data.pop("unit")
            out.append({"opd": opd.slug, "name": opd.name, **data, "flagged": opd.flagged})
        done = {row["opd"] for row in out}
        for opd in self.opds:
            if opd.slug not in done:
                elements = {
                    c: {"nrr": None, "ci_low": None, "ci_high": None, "n": 0}
                    for c in self.element_codes
                }
                out.append(
                    {
                        "opd": opd.slug,
                        "name": opd.name,
                        "n": 0,
                        **dict.fromkeys(SCORE_FIELDS),
                        "elements": elements,
                        "flagged": opd.flagged,
                    }
                )
        return out


@dataclass(frozen=True)
class Comment:
    """A citizen's comment (*kritik dan saran*), printed as plain text (never as markup).

    Attributes
    ----------
    text : str
    submitted_at : datetime or None
        Timezone-aware; only the date is printed.
    """

    text: str
    submitted_at: datetime | None = None


class _ConvertedScore:
    """The converted score (25..100) of a value object holding an IKM on 1..m and its interval."""

    ikm: float
    ci_low: float
    ci_high: float
    scale_points: int

    def conv(self) -> float:
        """The converted IKM on 25..100 (NaN stays NaN)."""
        return converted(self.ikm, self.scale_points)

    def conv_interval(self) -> tuple[float, float]:
        """The interval on the converted 25..100 scale."""
        return converted(self.ci_low, self.scale_points), converted(self.ci_high, self.scale_points)


@dataclass(frozen=True)
class TrendPoint(_ConvertedScore):
    """The OPD's result in an earlier wave.

    Attributes
    ----------
    wave_title : str
    period_end : date or None
        End of that wave's period (for ordering and printing).
    ikm : float
        IKM on 1..4.
    ci_low, ci_high : float
        Its interval on 1..4 (NaN if unknown).
    n : int
        Counted responses.
    scale_points : int
        The questionnaire's answer scale 1..m (the chart shows the converted score).
    """

    wave_title: str
    period_end: date | None
    ikm: float
    ci_low: float = math.nan
    ci_high: float = math.nan
    n: int = 0
    scale_points: int = 4


@dataclass(frozen=True)
class ServiceUnitResult(_ConvertedScore):
    """One service unit's result within its OPD (a Puskesmas, a kecamatan office, a counter).

    Computed as the OPD's own figures are, on the unit's counted responses only: the IKM on
    1..m and its interval at the wave's confidence level (NaN without responses). The report
    decides what it may print (:func:`reports.opd.service_unit_rows`: no score of a group under
    5 respondents, nor one that could be worked out from the others).

    Attributes
    ----------
    name : str
        The unit's name; for ``direct`` the report prints its own label.
    n : int
        Counted responses given at the unit.
    ikm, ci_low, ci_high : float
        IKM on 1..m and its interval (NaN without responses, or without an interval).
    scale_points : int
        The answer scale 1..m.
    direct : bool
        The responses given on the OPD's own page, at no unit.
    active : bool
        False for a unit the OPD has closed (its answers still count).
    """

    name: str
    n: int
    ikm: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    scale_points: int = 4
    direct: bool = False
    active: bool = True


@dataclass(frozen=True)
class OpdReportData:
    """Everything one OPD head's report needs.

    Attributes
    ----------
    ranking : ScoredWave
        The wave (its scores give the comparison with the other OPDs).
    opd_slug : str
        The OPD the report is for.
    comments : tuple of Comment
        Comments of its counted responses. Printed only when the OPD has at least
        :data:`reports.opd.MIN_N_COMMENTS` (8) counted responses.
    profile : mapping of str to mapping of str to int
        Respondent profile: field -> value -> count of counted responses, e.g.
        ``{"sex": {"L": 12, "P": 9}, "age": {"25–34": 7, ...}, "education": {...},
        "occupation": {...}, "service": {...}}``. Ages as bands (:func:`age_band`). Groups
        under 5 are merged or suppressed by the report, not by the caller.
    trend : tuple of TrendPoint
        The OPD's results in *earlier* waves, any order (printed oldest first); the current
        wave is added by the report from ``ranking``.
    public : bool
        True for the copy anyone may download once the wave is published: it says that the
        citizens' comments are for the OPD head and the evaluators, and prints none of them
        (give no comments then). False (the default) for the OPD head's own copy.
    change : reports.changes.OpdChange or None
        The OPD's change from the previous comparable wave (same questionnaire and scheme),
        printed as "Perubahan dari gelombang sebelumnya"; None when there is none.
    service_units : tuple of ServiceUnitResult
        The OPD's service units (and its own page's responses, ``direct``), in the units'
        order; empty for an OPD without units. Their responses add up to the OPD's.
    """

    ranking: ScoredWave
    opd_slug: str
    comments: tuple[Comment, ...] = ()
    profile: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    trend: tuple[TrendPoint, ...] = ()
    public: bool = False
    change: OpdChange | None = None
    service_units: tuple[ServiceUnitResult, ...] = ()

    def __post_init__(self) -> None:
        """Freeze the collections; the OPD must be one of the wave's."""
        object.__setattr__(self, "comments", tuple(self.comments))
        object.__setattr__(self, "service_units", tuple(self.service_units))
        object.__setattr__(self, "trend", tuple(self.trend))
        object.__setattr__(
            self,
            "profile",
            _frozen_mapping({k: _frozen_mapping(v) for k, v in self.profile.items()}),
        )
        self.ranking.opd(self.opd_slug)  # KeyError for an OPD not in the wave

    @property
    def opd(self) -> OpdInfo:
        """The OPD the report is for."""
        return self.ranking.opd(self.opd_slug)

    @property
    def unit(self) -> UnitScore | None:
        """Its score (None without counted responses)."""
        return self.ranking.unit(self.opd_slug)


@dataclass(frozen=True)
class Poster:
    """One QR poster.

    Attributes
    ----------
    opd_name : str
        Printed large at the top.
    opd_short_name : str or None
        Printed under the name when given.
    url : str
        Encoded in the QR code (the absolute survey URL).
    short_url : str or None
        Printed under the code for people who type it; ``url`` if None.
    unit_name : str or None
        The OPD's service unit the poster is for (printed under the OPD's name); None for
        the OPD's own poster.
    """

    opd_name: str
    opd_short_name: str | None
    url: str
    short_url: str | None = None
    unit_name: str | None = None

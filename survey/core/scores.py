"""Scoring a wave from the database: its kept statistics (rows only where needed) to ``scoring``.

This is the glue between storage and the pure statistics: it finds the wave's questionnaire,
scheme and OPDs, reads every OPD's sufficient statistics as they are kept with the rows
(:mod:`survey.core.tallies`, a few rows per OPD whatever the number of answers), and calls
:func:`scoring.score_units`. Only Cronbach's alpha, Kruskal-Wallis and the bootstrap read the
counted answers themselves (:mod:`survey.core.answers`, one scan). Flagged responses are never
scored; their count per OPD is reported beside the scores.

:func:`score_wave` is the one service that scores a wave: it returns the one result object,
:class:`reports.model.ScoredWave`, which ``ikm score`` prints (:func:`to_table`,
:func:`to_json`, :func:`to_csv`) and the web pages and the PDFs read.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
from numpy.typing import NDArray
from sqlalchemy import case, func
from sqlmodel import Session, col, select

from reports.formatting import format_number
from reports.model import ElementInfo, OpdInfo, ScoredWave
from scoring.units import PUBLISHED_RANK_DRAWS
from survey.core import notapplicable, queries, tallies
from survey.core.answers import read_wave_answers
from survey.core.database import engine_of
from survey.core.logos import report_logo
from survey.core.models import CategoryScheme, Element, Response, Wave, utcnow
from survey.core.problems import ProblemError, define, problem

if TYPE_CHECKING:
    from scoring import Aggregates


define(
    {
        "score-scheme-unknown": "unknown category scheme {value!r}",
        "score-bootstrap": "the number of bootstrap resamples must be 0 or more, not {value}",
        "score-top-k": "K of the best and lowest K must be at least 1, not {value}",
        "score-no-elements": "the questionnaire of wave {wave!r} has no IKM elements",
    }
)


class ScoreError(ProblemError):
    """The wave cannot be scored as asked (unknown scheme, no elements, bad option)."""


def _refused(code: str, /, **params: Any) -> ScoreError:
    """Return the error of one coded problem."""
    return ScoreError([problem(code, **params)])


def _stored_scheme(session: Session, wave: Wave, slug: str | None) -> CategoryScheme:
    """Return the scheme asked for, or the wave's own."""
    if slug:
        stored = queries.get_scheme(session, slug=slug)
        if stored is None:
            raise _refused("score-scheme-unknown", value=slug)
        return stored
    stored = session.get(CategoryScheme, wave.scheme_id)
    assert stored is not None
    return stored


def _fingerprint(aggregates: Sequence[Aggregates], slugs: Sequence[str]) -> str:
    """A short hash of the data scored, so a report can be checked against it.

    It hashes each OPD's sufficient statistics (every figure the scores are computed from),
    so the same responses give the same fingerprint whatever order they are stored in.
    """
    digest = hashlib.sha256()
    for slug, agg in zip(slugs, aggregates, strict=True):
        digest.update(slug.encode() + b"\0")
        digest.update(_figures_text(agg))
    return digest.hexdigest()[:16]


_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _figures_text(agg: Aggregates) -> bytes:
    """``json.dumps(agg.as_dict(), sort_keys=True)`` as UTF-8, the text the fingerprint has
    always hashed, written by orjson (8 rather than 60 microseconds an OPD): its compact text
    of whole numbers and these keys differs from json's only by the spaces after "," and ":"."""
    try:
        compact = orjson.dumps(
            {name: getattr(agg, name) for name in tallies.STAT_FIELDS}, option=_ORJSON_OPTIONS
        )
    except orjson.JSONEncodeError:  # an array orjson does not take (not C-contiguous)
        return json.dumps(agg.as_dict(), sort_keys=True).encode()
    return compact.replace(b",", b", ").replace(b":", b": ")


def element_infos(
    items: Sequence[Element],
    scale_points: int | None = None,
    not_applicable: Mapping[str, tuple[str, str]] | None = None,
) -> tuple[ElementInfo, ...]:
    """Return the stored elements as the reports' value objects, in questionnaire order.

    With ``scale_points``, the labels are the scale's only (a "not applicable" answer stored
    past them, :mod:`survey.core.notapplicable`, is not a point of the scale);
    ``not_applicable`` gives that answer by code.
    """
    end = scale_points
    offered = not_applicable or {}
    return tuple(
        ElementInfo(
            code=e.code,
            name_id=e.name_id,
            name_en=e.name_en,
            labels_id=tuple(e.labels_id[:end]),
            labels_en=tuple(e.labels_en[:end]),
            not_applicable_id=offered.get(e.code, ("", ""))[0],
            not_applicable_en=offered.get(e.code, ("", ""))[1],
        )
        for e in items
    )


@dataclass
class _OpdFigures:
    """One OPD's kept figures, summed over its service units (and verification, if asked)."""

    aggregates: Aggregates
    flagged: int
    not_applicable: tuple[tuple[str, int], ...]


def _kept_figures(
    session: Session,
    wave: Wave,
    codes: Sequence[str],
    offered: Collection[str],
    scale_points: int,
    verified_only: bool,
) -> tuple[dict[int, _OpdFigures], dict[str, int]]:
    """Return the wave's kept figures by OPD id, and its flagged responses by reason.

    Flagged responses count whether verified or not; the answers and the "not applicable"
    choices of counted ones only when verified if ``verified_only``.
    """
    from scoring import Aggregates, stacked_aggregates

    lay = tallies.layout(session, wave_id=int(wave.id or 0))
    if lay.scale_points != scale_points or lay.k != len(codes):
        raise ValueError("the kept statistics do not fit the wave's questionnaire")
    kept = tallies.kept_stacked(session, wave_id=int(wave.id or 0), lay=lay)
    flagged: Counter[int] = Counter()
    reasons: Counter[str] = Counter()
    for (_wave, opd_id, _unit, _verified), by_reason in zip(kept.keys, kept.flagged, strict=True):
        flagged[opd_id] += sum(by_reason.values())
        reasons.update(by_reason)
    # The rows are in key order, so each OPD's (its units', verified or not) are contiguous:
    # they are summed with one reduceat per figure, and checked all at once.
    used = [i for i, key in enumerate(kept.keys) if key[3] or not verified_only]
    opd_ids = np.array([kept.keys[i][1] for i in used], dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, opd_ids[1:] != opd_ids[:-1]]) if used else opd_ids
    summed = {
        name: np.add.reduceat(figure[used], starts, axis=0) if used else figure[:0]
        for name, figure in kept.stats.items()
    }
    not_applicable = (
        np.add.reduceat(kept.not_applicable[used], starts, axis=0) if used else np.zeros((0,))
    )
    found = {
        int(opd_ids[start]): _OpdFigures(
            aggregates=aggregates,
            flagged=flagged[int(opd_ids[start])],
            not_applicable=tuple(
                (code, int(count))
                for code, count in zip(codes, not_applicable[i], strict=True)
                if code in offered and count
            ),
        )
        for i, (start, aggregates) in enumerate(
            zip(starts.tolist(), stacked_aggregates(summed), strict=True)
        )
    }
    for opd_id in flagged.keys() - found.keys():
        found[opd_id] = _OpdFigures(Aggregates.empty(lay.k, lay.scale_points), flagged[opd_id], ())
    return found, {r: c for r, c in reasons.items() if c}


def _rows_by_opd(
    session: Session,
    wave: Wave,
    items: Sequence[Element],
    covered: Sequence[tuple[Any, Any]],
    slugs: Sequence[str],
    present: Collection[str],
    verified_only: bool,
) -> dict[str, NDArray[np.float64]]:
    """Return the counted answers of each scored OPD (rows with at least one IKM answer)."""
    data = read_wave_answers(
        engine_of(session),
        wave_id=int(wave.id or 0),
        positions=[e.position for e in items],
        verified_only=verified_only,
    )
    index_of = {int(opd.id or 0): i for i, (opd, _link) in enumerate(covered)}
    lookup = np.full(max(index_of, default=0) + 2, -1, dtype=np.int64)
    for opd_id, i in index_of.items():
        lookup[opd_id] = i
    opd_index = lookup[np.clip(data.opd_ids, 0, len(lookup) - 1)]
    # Responses of an OPD the wave no longer covers are not part of this wave's ranking.
    # A response with no answer at all to the IKM elements says nothing about the IKM.
    keep = (opd_index >= 0) & ~np.all(np.isnan(data.answers), axis=1)
    opd_index, answers = opd_index[keep], data.answers[keep]
    order = np.argsort(opd_index, kind="stable")
    opd_index, answers = opd_index[order], answers[order]
    bounds = np.searchsorted(opd_index, np.arange(len(slugs) + 1))
    return {
        slugs[i]: answers[bounds[i] : bounds[i + 1]]
        for i in range(len(slugs))
        if slugs[i] in present
    }


def score_wave(
    session: Session,
    *,
    wave: Wave,
    scheme_slug: str | None = None,
    seed: int = 0,
    bootstrap: int = 0,
    top_k: int = 5,
    confidence_level: float = 0.95,
    rank_draws: int = PUBLISHED_RANK_DRAWS,
    wave_tests: bool = True,
    verified_only: bool = False,
    elements: bool = True,
) -> ScoredWave:
    """Score every OPD of ``wave`` on its counted responses: the one scored-wave object.

    ``ikm score``, the public pages, the OPD head's pages, the dashboard and the PDFs all read
    the :class:`~reports.model.ScoredWave` this returns (its ``score`` is None when no OPD has a
    counted response). ``wave_tests=False`` leaves out Cronbach's alpha (with missing answers)
    and the Kruskal-Wallis test, which need every row; the scores and ranks do not change.
    ``verified_only=True`` scores only the counted answers marked verified (they carried a
    valid visit code); the result says so in ``verified_only``. ``elements=False`` leaves
    out the element scores (for the live dashboard, which shows none; see
    :func:`scoring.score_units`).
    """
    if bootstrap < 0:
        raise _refused("score-bootstrap", value=bootstrap)
    if top_k < 1:
        raise _refused("score-top-k", value=top_k)
    stored_scheme = _stored_scheme(session, wave, scheme_slug)
    questionnaire = queries.get_questionnaire(session, questionnaire_id=wave.questionnaire_id)
    assert questionnaire is not None
    items: list[Element] = [
        e
        for e in queries.elements(session, questionnaire_id=wave.questionnaire_id)
        if e.kind == "ikm"
    ]
    if not items:
        raise _refused("score-no-elements", wave=wave.slug)
    codes = tuple(e.code for e in items)
    covered = queries.wave_opds(session, wave=wave)
    offered = notapplicable.by_code(items, questionnaire)
    # The scores need only each OPD's kept sufficient statistics (survey.core.tallies), a few
    # rows per OPD however many answers it has.
    kept, flag_reasons = _kept_figures(
        session, wave, codes, offered, questionnaire.scale_points, verified_only
    )
    from scoring import Aggregates, Scheme, score_units

    empty = Aggregates.empty(len(codes), questionnaire.scale_points)
    opds = tuple(
        OpdInfo(
            slug=opd.slug,
            name=opd.name,
            short_name=opd.short_name,
            target_n=link.target_n,
            population=opd.service_population,
            flagged=kept[int(opd.id or 0)].flagged if int(opd.id or 0) in kept else 0,
            not_applicable=kept[int(opd.id or 0)].not_applicable
            if int(opd.id or 0) in kept
            else (),
        )
        for opd, link in covered
    )
    slugs = [o.slug for o in opds]
    aggregates = [
        kept[int(opd.id or 0)].aggregates if int(opd.id or 0) in kept else empty
        for opd, _link in covered
    ]
    slug = stored_scheme.slug
    scheme = Scheme.from_dicts(stored_scheme.categories, name=stored_scheme.name)
    present = {slugs[i]: agg for i, agg in enumerate(aggregates) if agg.n > 0}
    score = None
    if present:
        rows = None
        if wave_tests or bootstrap:
            # Cronbach's alpha with missing answers, Kruskal-Wallis and the bootstrap need
            # every row: only then are the answers read.
            rows = _rows_by_opd(session, wave, items, covered, slugs, present, verified_only)
        score = score_units(
            present,
            scheme,
            confidence_level=confidence_level,
            seed=seed,
            rows=rows,
            bootstrap=bootstrap,
            top_k=min(top_k, len(present)),
            rank_draws=rank_draws,
            element_codes=codes,
            min_rank_n=wave.min_rank_n,
            elements=elements,
        )
    return ScoredWave(
        title=wave.title,
        evaluator=wave.evaluator or "",
        period_start=wave.period_start,
        period_end=wave.period_end,
        data_taken_at=utcnow(),
        simulated=wave.simulated,
        scheme_slug=slug,
        elements=element_infos(items, questionnaire.scale_points, offered),
        opds=opds,
        score=score,
        aggregates=present,
        counted=sum(agg.n for agg in aggregates),
        flagged=sum(o.flagged for o in opds),
        flag_reasons=flag_reasons,
        seed=seed,
        fingerprint=_fingerprint(aggregates, slugs),
        logo=report_logo(session, wave=wave),
        bootstrap=bootstrap,
        wave_slug=wave.slug,
        verified_only=verified_only,
    )


@dataclass(frozen=True)
class VerifiedShare:
    """How many of a wave's counted answers are verified (carried a valid visit code)."""

    counted: int
    verified: int


def verified_share(session: Session, *, wave: Wave) -> VerifiedShare:
    """Return the wave's counted answers and how many of them are verified."""
    verified_one = case((col(Response.verified).is_(True), 1), else_=0)
    query = select(func.count(), func.coalesce(func.sum(verified_one), 0)).where(
        Response.wave_id == wave.id, Response.status == "counted"
    )
    counted, verified = session.exec(query).one()
    return VerifiedShare(counted=int(counted or 0), verified=int(verified or 0))


def _num(value: Any, digits: int) -> str:
    """A number for the terminal table: the one formatter (English, half up), "–" if none."""
    return format_number(value, "en", digits, missing="–")


def to_json(report: ScoredWave) -> str:
    """Return the ``--format json`` text: a list with one object per OPD.

    orjson writes it in a fortieth of the standard library's time (0.17 s at 500 OPDs), with
    the same layout (two-space indent) and the same shortest numbers; a few are spelled
    differently but are equal JSON numbers (``0.00005`` for ``5e-05``).
    """
    return orjson.dumps(
        report.rows(), option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY
    ).decode()


def to_csv(report: ScoredWave) -> str:
    """Return the ``--format csv`` text: one row per OPD, element figures flattened."""
    buffer = io.StringIO()
    rows = report.rows()
    element_columns = [
        f"{code}_{part}"
        for code in report.element_codes
        for part in ("nrr", "ci_low", "ci_high", "n")
    ]
    head = [k for k in rows[0] if k != "elements"] if rows else ["opd"]
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(head + element_columns)
    for row in rows:
        flat = [row[k] for k in head]
        for code in report.element_codes:
            e = row["elements"][code]
            flat += [e["nrr"], e["ci_low"], e["ci_high"], e["n"]]
        writer.writerow(["" if v is None else v for v in flat])
    return buffer.getvalue()


def to_table(report: ScoredWave) -> str:
    """Return a plain-text table for the terminal, with the confidence-set verdicts."""
    lines = [
        f"Wave {report.wave_slug}: {report.title}"
        + (" (SIMULATED DATA)" if report.simulated else ""),
        f"Scheme {report.scheme_slug}; {report.counted} counted responses, "
        f"{report.flagged} flagged and excluded; seed {report.seed}; data {report.fingerprint}",
        "",
        f"{'rank':>4} {'rank 95% sim.':>13} {'OPD':<24} {'n':>5} {'IKM':>6} {'conv.':>6} "
        f"{'95% interval':>13} cat  sets",
    ]
    for row in report.rows():
        rank_set = f"{row['rank_ci_low']}–{row['rank_ci_high']}" if row["rank"] is not None else "–"
        interval = (
            f"{_num(row['ci_low'], 1)}–{_num(row['ci_high'], 1)}"
            if row["ci_low"] is not None
            else "–"
        )
        sets = " ".join(
            label
            for label, flag in (("top", row["in_top_set"]), ("bottom", row["in_bottom_set"]))
            if flag
        )
        if row.get("ranked") is False:
            sets = f"not enough data to rank (n < {report.min_rank_n()})"
        lines.append(
            f"{row['rank'] if row['rank'] is not None else '–':>4} {rank_set:>13} "
            f"{row['opd'][:24]:<24} {row['n']:>5} {_num(row['ikm'], 3):>6} "
            f"{_num(row['ikm_converted'], 2):>6} {interval:>13} {row['category'] or '–':<4} "
            f"{sets}".rstrip()
        )
    if report.score is not None:
        k = report.score.top_k
        ranked = report.ranked_units()
        top = [u.unit for u in ranked if u.in_top_set]
        bottom = [u.unit for u in ranked if u.in_bottom_set]
        lines += [
            "",
            "rank 95% sim. = simultaneous 95% rank set (holds for all OPDs at once).",
            f"The true top {k} are, with 95% confidence, among these {len(top)}: " + ", ".join(top),
            f"The true bottom {k} are, with 95% confidence, among these {len(bottom)}: "
            + ", ".join(bottom),
        ]
    return "\n".join(lines)


# --- Perception items (scored apart from the IKM) --------------------------------------------


@dataclass(frozen=True)
class PerceptionOpd:
    """One OPD's perception results (one entry per item, in questionnaire order)."""

    slug: str
    name: str
    result: Any  # scoring.PerceptionResult


@dataclass(frozen=True)
class PerceptionReport:
    """A wave's perception items per OPD, from its counted responses only."""

    wave: Wave
    items: tuple[ElementInfo, ...]
    scale_points: int
    opds: tuple[PerceptionOpd, ...]
    counted: int
    taken_at: datetime = field(default_factory=utcnow)


def perception_scores(session: Session, *, wave: Wave) -> PerceptionReport | None:
    """Summarise each perception item per OPD of the wave; None without perception items.

    Reads counted responses only (flagged ones are excluded as for the IKM); an OPD without
    answers gets items with n = 0.
    """
    from scoring import perception_scores as summarise

    questionnaire = queries.get_questionnaire(session, questionnaire_id=wave.questionnaire_id)
    assert questionnaire is not None
    items = [
        e
        for e in queries.elements(session, questionnaire_id=wave.questionnaire_id)
        if e.kind == "perception"
    ]
    if not items:
        return None
    data = read_wave_answers(
        engine_of(session), wave_id=int(wave.id or 0), positions=[e.position for e in items]
    )
    opds = []
    counted = 0
    for opd, _link in queries.wave_opds(session, wave=wave):
        rows = data.answers[data.opd_ids == int(opd.id or 0)]
        result = summarise(rows, questionnaire.scale_points)
        counted += int(rows.shape[0])
        opds.append(PerceptionOpd(slug=opd.slug, name=opd.name, result=result))
    return PerceptionReport(
        wave=wave,
        items=element_infos(items, questionnaire.scale_points),
        scale_points=questionnaire.scale_points,
        opds=tuple(opds),
        counted=counted,
    )

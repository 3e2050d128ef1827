"""Filling the reports' input objects from the database.

``reports`` reads nothing but the value objects of :mod:`reports.model`; this module is where
the wave, its scores, the reasons for flagged responses, an OPD's comments, respondent profile
and earlier waves come out of the tables and into those objects. Anonymity rules (no group
under 5, no comment under 8 responses) are applied by the reports themselves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sqlalchemy import func
from sqlmodel import Session, col, select

from reports.model import (
    Comment,
    ElementInfo,
    OpdInfo,
    OpdReportData,
    Poster,
    RankingData,
    TrendPoint,
    age_band,
)
from scoring import UnitScore
from survey.core import queries as repo
from survey.core import urls
from survey.core.models import Opd, Response, Wave, WaveOpd
from survey.core.scores import WaveReport, score_wave

PROFILE_FIELDS = ("sex", "age", "education", "occupation", "service")


def flag_reasons(session: Session, *, wave: Wave) -> dict[str, int]:
    """Return the wave's flagged responses counted by reason."""
    query = (
        select(Response.flag_reason, func.count())
        .where(Response.wave_id == wave.id, Response.status == "flagged")
        .group_by(col(Response.flag_reason))
    )
    return {str(reason or "manual"): int(n) for reason, n in session.exec(query).all()}


def ranking_data(session: Session, *, wave: Wave, report: WaveReport) -> RankingData:
    """Return the ranking report's input for a scored wave."""
    if report.score is None:
        raise ValueError(f"wave {wave.slug!r} has no counted response to report on")
    elements = tuple(
        ElementInfo(
            code=e.code,
            name_id=e.name_id,
            name_en=e.name_en,
            labels_id=tuple(e.labels_id),
            labels_en=tuple(e.labels_en),
        )
        for e in repo.elements(session, questionnaire_id=wave.questionnaire_id)
        if e.kind == "ikm"
    )
    populations = {
        opd.slug: opd.service_population for opd, _link in repo.wave_opds(session, wave=wave)
    }
    opds = tuple(
        OpdInfo(
            slug=o.slug,
            name=o.name,
            short_name=o.short_name,
            target_n=o.target,
            population=populations.get(o.slug),
            flagged=o.flagged,
        )
        for o in report.opds
    )
    return RankingData(
        title=wave.title,
        evaluator=wave.evaluator or "",
        period_start=wave.period_start,
        period_end=wave.period_end,
        data_taken_at=report.taken_at,
        simulated=wave.simulated,
        scheme_slug=report.scheme_slug,
        elements=elements,
        opds=opds,
        score=report.score,
        aggregates=report.aggregates,
        counted=report.counted,
        flagged=report.flagged,
        flag_reasons=flag_reasons(session, wave=wave),
        seed=report.seed,
        fingerprint=report.fingerprint,
        bootstrap=report.bootstrap,
        wave_slug=wave.slug,
    )


def counted_of_opd(session: Session, *, wave: Wave, opd: Opd) -> Sequence[Response]:
    """Return the OPD's counted responses to the wave, oldest first (profile, comments)."""
    query = (
        select(Response)
        .where(
            Response.wave_id == wave.id,
            Response.opd_id == opd.id,
            Response.status == "counted",
        )
        .order_by(col(Response.submitted_at), col(Response.id))
    )
    return session.exec(query).all()


def comments_of(responses: Sequence[Response]) -> tuple[Comment, ...]:
    """Return the non-empty comments of the responses, as the OPD report takes them."""
    return tuple(
        Comment(text=r.comment.strip(), submitted_at=r.submitted_at)
        for r in responses
        if r.comment and r.comment.strip()
    )


def respondent_profile(responses: Sequence[Response]) -> dict[str, dict[str, int]]:
    """Count the counted responses by each respondent field (ages in bands)."""
    profile: dict[str, Counter[str]] = {name: Counter() for name in PROFILE_FIELDS}
    for response in responses:
        for name in PROFILE_FIELDS:
            value = getattr(response, name)
            if value is None or value == "":
                continue
            profile[name][age_band(value) if name == "age" else str(value).strip()] += 1
    return {name: dict(counts) for name, counts in profile.items() if counts}


def trend(session: Session, *, wave: Wave, opd: Opd, seed: int) -> tuple[TrendPoint, ...]:
    """The OPD's results in the earlier closed or published waves that covered it."""
    query = (
        select(Wave)
        .join(WaveOpd, col(WaveOpd.wave_id) == Wave.id)
        .where(
            WaveOpd.opd_id == opd.id,
            Wave.id != wave.id,
            col(Wave.status).in_(("closed", "published")),
            col(Wave.created_at) < wave.created_at,
        )
        .order_by(col(Wave.created_at))
    )
    points = []
    for earlier in session.exec(query).all():
        report = score_wave(session, wave=earlier, seed=seed, wave_tests=False)
        unit = None if report.score is None else _unit(report, opd.slug)
        if unit is None:
            continue
        points.append(
            TrendPoint(
                wave_title=earlier.title,
                period_end=earlier.period_end or earlier.created_at.date(),
                ikm=unit.ikm,
                ci_low=unit.interval.low,
                ci_high=unit.interval.high,
                n=unit.n,
            )
        )
    return tuple(points)


def _unit(report: WaveReport, slug: str) -> UnitScore | None:
    """Return the OPD's score in a report, or None."""
    assert report.score is not None
    return next((u for u in report.score.units if u.unit == slug), None)


def opd_report_data(
    session: Session, *, wave: Wave, ranking: RankingData, opd_slug: str, public: bool = False
) -> OpdReportData:
    """Return one OPD head's report input: the wave's ranking plus the OPD's own details.

    ``public`` gives the copy anyone may download: without the citizens' comments.
    """
    opd = repo.opd_in_wave(session, wave=wave, opd_slug=opd_slug)
    if opd is None:
        raise ValueError(f"OPD {opd_slug!r} is not covered by wave {wave.slug!r}")
    responses = counted_of_opd(session, wave=wave, opd=opd)
    return OpdReportData(
        ranking=ranking,
        opd_slug=opd.slug,
        comments=() if public else comments_of(responses),
        public=public,
        profile=respondent_profile(responses),
        trend=trend(session, wave=wave, opd=opd, seed=ranking.seed),
    )


def posters(session: Session, *, wave: Wave, public_url: str) -> list[Poster]:
    """One poster per OPD of the wave, each with its absolute survey URL."""
    items = []
    for opd, _link in repo.wave_opds(session, wave=wave):
        url = urls.survey_url(public_url, wave.slug, opd.slug)
        items.append(
            Poster(
                opd_name=opd.name,
                opd_short_name=opd.short_name,
                url=url,
                short_url=url.split("://", 1)[-1],  # what people type: no scheme
            )
        )
    return items


def wave_ranking(session: Session, *, wave: Wave, seed: int = 0, bootstrap: int = 0) -> RankingData:
    """Score a wave with everything the reports print (alpha and Kruskal-Wallis included)."""
    report = score_wave(session, wave=wave, seed=seed, bootstrap=bootstrap, wave_tests=True)
    return ranking_data(session, wave=wave, report=report)

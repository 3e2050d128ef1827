"""Filling the OPD reports' and the posters' input objects from the database.

``reports`` reads nothing but the value objects of :mod:`reports.model`. The scored wave
itself comes from :func:`survey.core.scores.score_wave`; this module adds what one OPD's report
needs besides (its comments, respondent profile and earlier waves) and the posters' URLs.
Anonymity rules (no group under 5, no comment under 8 responses) are applied by the reports
themselves. A service is counted only under a name the OPD has listed (``OpdService``): what a
citizen or an importer's file put there otherwise is never printed, so free text reaches a
report only where staff chose it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import replace

from sqlmodel import Session, col, select

from reports.model import (
    Comment,
    OpdReportData,
    Poster,
    ScoredWave,
    ServiceUnitResult,
    TrendPoint,
    age_band,
)
from scoring import Aggregates, ikm
from survey.core import opds, queries, shortlinks, tallies, units, urls
from survey.core.changes import Scorer, previous_comparable
from survey.core.models import Opd, Response, Wave
from survey.core.scores import score_wave

PROFILE_FIELDS = ("sex", "age", "education", "occupation", "service")


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


def respondent_profile(
    responses: Sequence[Response], *, services: Collection[str]
) -> dict[str, dict[str, int]]:
    """Count the counted responses by each respondent field (ages in bands).

    A service outside ``services`` (the OPD's listed names) is left out, not counted.
    """
    profile: dict[str, Counter[str]] = {name: Counter() for name in PROFILE_FIELDS}
    for response in responses:
        for name in PROFILE_FIELDS:
            value = getattr(response, name)
            if value is None or value == "":
                continue
            if name == "service" and value not in services:
                continue
            profile[name][age_band(value) if name == "age" else str(value).strip()] += 1
    return {name: dict(counts) for name, counts in profile.items() if counts}


def listed_services_of(session: Session, opd: Opd) -> frozenset[str]:
    """Return every service name the OPD has listed (removed ones too): what may be shown."""
    assert opd.id is not None
    return opds.listed_services(session, opd_ids=[opd.id])[opd.id]


def wave_scorer(*, wave: Wave, ranking: ScoredWave) -> Scorer:
    """Score each wave once (as ``ranking`` was: its seed, verified answers or all); the
    report's own wave is ``ranking``. Shared by the trend and the change of many reports."""
    done: dict[int, ScoredWave] = {int(wave.id or 0): ranking}

    def score(session: Session, other: Wave) -> ScoredWave:
        key = int(other.id or 0)
        if key not in done:
            done[key] = score_wave(
                session,
                wave=other,
                seed=ranking.seed,
                wave_tests=False,
                verified_only=ranking.verified_only,
            )
        return done[key]

    return score


def trend(
    session: Session, *, wave: Wave, opd: Opd, seed: int, scorer: Scorer | None = None
) -> tuple[TrendPoint, ...]:
    """The OPD's results in the earlier closed or published waves that covered it."""
    points = []
    for earlier in queries.earlier_waves(session, wave=wave, opd=opd):
        scored = (
            score_wave(session, wave=earlier, seed=seed, wave_tests=False)
            if scorer is None
            else scorer(session, earlier)
        )
        unit = scored.unit(opd.slug)
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
                scale_points=unit.estimate.scale_points,
            )
        )
    return tuple(points)


def service_unit_results(
    session: Session, *, wave: Wave, opd: Opd, ranking: ScoredWave
) -> tuple[ServiceUnitResult, ...]:
    """Score each service unit of the OPD as the OPD is scored in ``ranking``.

    One row per unit of the OPD in the units' order (an inactive unit only if it has counted
    responses), then one for the responses given on the OPD's own page (``direct``) if any;
    nothing for an OPD without units. From the kept statistics per (wave, OPD, unit)
    (:mod:`survey.core.tallies`), the ones the OPD's score sums: counted responses (verified
    only, when ``ranking`` scored verified answers only), the IKM and its analytic interval at
    the ranking's confidence level. So the rows' ``n`` add up to the OPD's and their statistics
    merge into the OPD's exactly.
    """
    assert opd.id is not None
    listed = units.list_units(session, opd_id=opd.id)
    if not listed or ranking.score is None:
        return ()
    lay = tallies.layout(session, wave_id=int(wave.id or 0))
    by_unit: dict[int, tallies.Figures] = {}
    for (_wave, _opd, unit_id, verified), figures in tallies.kept(
        session, wave_id=int(wave.id or 0), lay=lay, opd_id=opd.id
    ).items():
        if ranking.verified_only and not verified:
            continue
        by_unit.setdefault(unit_id, tallies.Figures(lay.k, lay.scale_points)).add(figures)
    score = ranking.wave_score()
    places = [(u, int(u.id or 0)) for u in listed] + [(None, 0)]
    results = []
    for unit, unit_id in places:
        kept = by_unit.get(unit_id)
        aggregates: Aggregates | None = None if kept is None else kept.aggregates()
        n = 0 if aggregates is None else int(aggregates.n)
        if n == 0 and (unit is None or not unit.active):
            continue
        result = ServiceUnitResult(
            name="" if unit is None else unit.name,
            n=n,
            scale_points=lay.scale_points,
            direct=unit is None,
            active=unit is None or unit.active,
        )
        if aggregates is not None and n:
            estimate = ikm(aggregates, scheme=score.scheme)
            interval = estimate.confidence_interval(score.confidence_level)
            result = replace(result, ikm=estimate.ikm, ci_low=interval.low, ci_high=interval.high)
        results.append(result)
    return tuple(results)


def opd_report_data(
    session: Session,
    *,
    wave: Wave,
    ranking: ScoredWave,
    opd_slug: str,
    public: bool = False,
    scorer: Scorer | None = None,
) -> OpdReportData:
    """Return one OPD head's report input: the wave's ranking plus the OPD's own details.

    ``public`` gives the copy anyone may download: without the citizens' comments. The change
    from the previous comparable closed or published wave is added when there is one
    (:func:`survey.core.changes.previous_comparable`). ``scorer`` (:func:`wave_scorer`) lets
    many reports of one wave score each earlier wave once.
    """
    opd = queries.opd_in_wave(session, wave=wave, opd_slug=opd_slug)
    if opd is None:
        raise ValueError(f"OPD {opd_slug!r} is not covered by wave {wave.slug!r}")
    responses = counted_of_opd(session, wave=wave, opd=opd)
    score = scorer or wave_scorer(wave=wave, ranking=ranking)
    change = None
    if ranking.unit(opd.slug) is not None:
        previous, _reason = previous_comparable(session, wave=wave, opd_slug=opd.slug, scorer=score)
        change = None if previous is None else previous.opd(opd.slug)
    return OpdReportData(
        ranking=ranking,
        opd_slug=opd.slug,
        comments=() if public else comments_of(responses),
        public=public,
        profile=respondent_profile(responses, services=listed_services_of(session, opd)),
        trend=trend(session, wave=wave, opd=opd, seed=ranking.seed, scorer=score),
        change=change,
        service_units=service_unit_results(session, wave=wave, opd=opd, ranking=ranking),
    )


def posters(session: Session, *, wave: Wave, public_url: str) -> list[Poster]:
    """One poster per OPD of the wave, each with its absolute survey URL and its short link
    (made on first demand; commits then), each followed by one per active service unit of
    the OPD, in the units' order."""
    items = []
    links = queries.wave_opds(session, wave=wave)
    active_units = units.units_by_opd(
        session, opd_ids=[int(opd.id or 0) for opd, _link in links], active_only=True
    )
    for opd, _link in links:
        url = urls.survey_url(public_url, wave.slug, opd.slug)
        # The printed address is the OPD's short link (made on first demand, then kept): what
        # people type, without the scheme. The QR code keeps the full address.
        code = shortlinks.short_code(session, int(wave.id or 0), int(opd.id or 0))
        short = shortlinks.short_url(public_url, code)
        items.append(
            Poster(
                opd_name=opd.name,
                opd_short_name=opd.short_name,
                url=url,
                short_url=short.split("://", 1)[-1],
            )
        )
        for unit in active_units[int(opd.id or 0)]:
            path = urls.unit_survey_path(wave.slug, opd.slug, unit.slug)
            code = shortlinks.short_code(
                session, int(wave.id or 0), int(opd.id or 0), int(unit.id or 0)
            )
            short = shortlinks.short_url(public_url, code)
            items.append(
                Poster(
                    opd_name=opd.name,
                    opd_short_name=opd.short_name,
                    url=public_url.rstrip("/") + path,
                    short_url=short.split("://", 1)[-1],
                    unit_name=unit.name,
                )
            )
    return items

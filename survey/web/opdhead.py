"""The OPD head's page: their OPD's results per wave, the PDF, comments, follow-up priorities.

An OPD head reads only their own OPD (any other OPD's page is 404, as if it did not exist);
evaluators and administrators may read every OPD. The OPD page lists the closed and published
waves that covered the OPD (a closed one is marked as not yet published) with the trend over
them; the page of one wave adds what the public page leaves out: the lowest elements
as the priorities of the follow-up plan, the respondent profile (no group under 5) and the
citizens' comments (none at all for an OPD with fewer than 8 counted responses). The
anonymity rules are those of the OPD PDF (:mod:`reports.opd`), applied by the same functions.
Both pages show the change from the previous comparable wave (``opdhead/_change.html``, from
:mod:`survey.core.changes`, the service behind ``ikm compare`` and the OPD report).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from sqlmodel import Session, col, select

from survey.core import queries
from survey.core.models import Opd, User, Wave, WaveOpd
from survey.web.database import get_session
from survey.web.results import (
    TOP_K,
    element_rows,
    finite,
    page_lang,
    rank_row,
    scored_wave,
    wave_design_of,
)
from survey.web.signin import current_user, login_required

if TYPE_CHECKING:  # the reports (matplotlib, WeasyPrint) load on first use, not at start-up
    from reports.charts import ChartImage
    from reports.model import Lang, ScoredWave
    from reports.texts import Texts
    from scoring import UnitScore

bp = Blueprint("opdhead", __name__)

READABLE_STATUSES = ("closed", "published")  # what an OPD head may see of a wave


def is_staff(user: User) -> bool:
    """True for the roles that may read every OPD (evaluators and administrators)."""
    return user.role in ("admin", "evaluator")


def may_read(user: User, opd: Opd) -> bool:
    """True if `user` may read `opd`'s results: staff, or that OPD's own head."""
    return is_staff(user) or (user.role == "opd-head" and user.opd_id == opd.id)


def _readable_opd(session: Session, slug: str) -> tuple[User, Opd]:
    """Return the signed-in user and the OPD; 404 when unknown or not theirs to read."""
    user = current_user()
    assert user is not None  # login_required ran first
    opd = queries.get_opd(session, slug=slug)
    if opd is None or not may_read(user, opd):
        abort(404)  # another OPD's page does not exist for an OPD head
    return user, opd


def opd_waves(session: Session, *, opd: Opd, statuses: Sequence[str]) -> list[Wave]:
    """The waves covering `opd` in one of `statuses`, oldest first."""
    query = (
        select(Wave)
        .join(WaveOpd, col(WaveOpd.wave_id) == Wave.id)
        .where(WaveOpd.opd_id == opd.id, col(Wave.status).in_(tuple(statuses)))
        .order_by(col(Wave.created_at), col(Wave.slug))
    )
    return list(session.exec(query).all())


@dataclass(frozen=True)
class WaveResult:
    """The OPD's result in one wave (no unit: it had no counted response there)."""

    wave: Wave
    scored: ScoredWave
    unit: UnitScore | None
    small: UnitScore | None = None  # scored, but below the wave's min_rank_n: not ranked

    @property
    def published(self) -> bool:
        """True once the wave is published."""
        return self.wave.status == "published"

    @property
    def count(self) -> int:
        """How many OPDs the wave scored."""
        return self.scored.scored_count()


def opd_results(session: Session, *, opd: Opd) -> list[WaveResult]:
    """The OPD's result in every closed or published wave that covered it, oldest first."""
    results = []
    for wave in opd_waves(session, opd=opd, statuses=READABLE_STATUSES):
        scored = scored_wave(session, wave=wave)
        results.append(
            WaveResult(
                wave=wave,
                scored=scored,
                unit=scored.unit(opd.slug),
                small=scored.small_unit(opd.slug),
            )
        )
    return results


def trend_chart(results: Sequence[WaveResult], lang: Lang) -> ChartImage | None:
    """The OPD's score over the waves (oldest left), when it has a score in two or more."""
    from reports.model import TrendPoint
    from reports.opd import trend_chart as draw

    points = [
        TrendPoint(
            wave_title=r.wave.title,
            period_end=r.wave.period_end or r.wave.created_at.date(),
            ikm=r.unit.ikm,
            ci_low=r.unit.interval.low,
            ci_high=r.unit.interval.high,
            n=r.unit.n,
        )
        for r in results
        if r.unit is not None
    ]
    if len(points) < 2:
        return None
    latest = next(r for r in reversed(results) if r.unit is not None)
    return draw(points, latest.scored.wave_score().scheme, lang)


def change_context(session: Session, *, wave: Wave, opd_slug: str, lang: Lang) -> dict[str, Any]:
    """What ``opdhead/_change.html`` needs: the OPD's change from the previous comparable wave.

    Compares with the latest earlier closed or published wave of the same questionnaire and
    scheme that scored the OPD (:func:`survey.core.changes.previous_comparable`), scoring both
    waves as the pages do (cached).
    """
    from reports.changes import signed
    from survey.core.changes import previous_comparable

    report, reason = previous_comparable(
        session,
        wave=wave,
        opd_slug=opd_slug,
        statuses=READABLE_STATUSES,
        scorer=lambda s, w: scored_wave(s, wave=w),
    )
    return {
        "change": None if report is None else report.opd(opd_slug),
        "change_reason": reason,
        "signed": lambda value: signed(value, lang),
    }


def _small_notice(ranking: ScoredWave, slug: str, t: Texts, lang: Lang) -> str | None:
    """The OPD head's notice for an OPD below the wave's min_rank_n: its score, interval, n."""
    from reports.formatting import Formatter
    from reports.opd import small_sample_notice

    small = ranking.small_unit(slug)
    if small is None:
        return None
    return small_sample_notice(small, ranking.min_rank_n(), False, t, Formatter(lang))


# --- Views -----------------------------------------------------------------------------------


@bp.get("/kerja/opd-saya")
@login_required
def home() -> ResponseReturnValue:
    """Send an OPD head to their OPD's page; staff choose an OPD from the list."""
    session = get_session()
    user = current_user()
    assert user is not None
    if user.role == "opd-head":
        opd = session.get(Opd, user.opd_id)
        if opd is None:
            abort(404)
        return redirect(url_for("opdhead.opd", opd_slug=opd.slug))
    return render_template("opdhead/index.html", opds=queries.list_opds(session))


@bp.get("/kerja/hasil-opd/<opd_slug>")
@login_required
def opd(opd_slug: str) -> ResponseReturnValue:
    """The OPD's results in every closed or published wave, with the trend."""
    from reports.texts import Texts

    session = get_session()
    _user, item = _readable_opd(session, opd_slug)
    lang = page_lang()
    results = opd_results(session, opd=item)
    latest = next((r for r in reversed(results) if r.unit is not None), None)
    change = (
        change_context(session, wave=latest.wave, opd_slug=item.slug, lang=lang)
        if latest is not None
        else {}
    )
    return render_template(
        "opdhead/opd.html",
        latest=latest,
        **change,
        opd=item,
        results=list(reversed(results)),  # newest first in the table
        trend=trend_chart(results, lang),
        t=Texts(lang),
        finite=finite,
    )


@bp.get("/kerja/hasil-opd/<opd_slug>/<wave_slug>")
@login_required
def wave(opd_slug: str, wave_slug: str) -> ResponseReturnValue:
    """One wave's result of the OPD: elements, follow-up priorities, profile, comments."""
    from reports.formatting import Formatter
    from reports.opd import (
        MIN_GROUP,
        MIN_N_COMMENTS,
        element_chart,
        profile_fields,
        service_unit_rows,
        visible_comments,
        weakest_elements,
    )
    from reports.posterior import design_unit_view, unit_posterior_view
    from reports.story import MIN_ELEMENT_ANSWERS, PRIORITIES
    from reports.texts import Texts
    from survey.core.reportdata import (
        comments_of,
        counted_of_opd,
        listed_services_of,
        respondent_profile,
        service_unit_results,
    )

    session = get_session()
    user, item = _readable_opd(session, opd_slug)
    found = queries.get_wave(session, slug=wave_slug)
    if (
        found is None
        or queries.opd_in_wave(session, wave=found, opd_slug=item.slug) is None
        or (found.status not in READABLE_STATUSES and not is_staff(user))
    ):
        abort(404)
    lang = page_lang()
    ranking = scored_wave(session, wave=found)
    t = Texts(lang, ranking.scale_points())
    unit = ranking.unit(item.slug)
    context: dict[str, Any] = {"small": _small_notice(ranking, item.slug, t, lang)}
    if unit is not None:
        rows = element_rows(ranking, unit, lang)
        by_code = {r.code: r for r in rows}
        responses = counted_of_opd(session, wave=found, opd=item)
        context = {
            "row": rank_row(ranking, item.slug),
            "count": ranking.scored_count(),
            "elements": rows,
            "element_chart": element_chart(ranking, unit, lang),
            # The follow-up priorities as the OPD report lists them: lowest first.
            "priorities": [by_code[w.code] for w in weakest_elements(unit)],
            "min_element_answers": MIN_ELEMENT_ANSWERS,
            "priority_count": PRIORITIES,
            "profile": profile_fields(
                respondent_profile(responses, services=listed_services_of(session, item)), t
            ),
            "comments": visible_comments(list(comments_of(responses)), unit.n),
            "service_units": service_unit_rows(
                service_unit_results(session, wave=found, opd=item, ranking=ranking),
                ranking.wave_score().scheme,
                t,
                Formatter(lang),
                small_n=unit.estimate.small_n,
            ),
            "small_n": unit.estimate.small_n,
            **change_context(session, wave=found, opd_slug=item.slug, lang=lang),
            "posterior": unit_posterior_view(ranking, item.slug, lang=lang),
            "design": design_unit_view(
                ranking,
                item.slug,
                wave_design_of(session, wave=found, opd=item).get(item.slug),
                lang=lang,
            ),
        }
    return render_template(
        "opdhead/wave.html",
        wave=found,
        opd=item,
        ranking=ranking if ranking.score is not None else None,  # nothing scored: no facts
        unit=unit,
        t=t,
        f=Formatter(lang),
        top_k=TOP_K,
        finite=finite,
        min_group=MIN_GROUP,
        min_comments=MIN_N_COMMENTS,
        **context,
    )

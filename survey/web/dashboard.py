"""The evaluator's live dashboard of a wave: responses against target, scores so far.

One page per wave for evaluators and administrators, sorted by OPD name (no league table while
responses still come in), refreshing itself with ``<meta http-equiv="refresh">`` and no
script. ``?segarkan=0`` stops the refresh for a reader who needs time (WCAG 2.2.1);
``?tv=1`` (or ``/tv``) gives a large-type layout without the site header for a
meeting-room screen, refreshing every 30 seconds. An OPD with fewer than
``MIN_RESPONSES`` counted responses shows "belum cukup data" instead of a score.

Each load of an open wave's dashboard also runs the alarm's check on the OPDs with answers
since their last check that no worker has checked this minute
(:func:`survey.core.alarms.check_wave`): within ``CHECK_BUDGET_SECONDS`` before the page is
made (the latest answered first), the rest once it is sent; and the page lists the open
alarms (OPD, kind, when, the figures that raised it, a link to the OPD's flagged review); an
evaluator clears one with its button (``alarm.clear`` in the audit log).

A load also closes the wave when its period is over (``survey.core.periods``); the page of a
closed or published wave no longer refreshes itself: its figures do not change any more.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlmodel import Session, col, select

from scoring import UnitScore
from survey.core import alarms, periods, queries, units
from survey.core.models import Opd, Questionnaire, Wave, WaveOpd
from survey.core.scores import score_wave
from survey.web.background import app_of
from survey.web.database import get_session, session_scope
from survey.web.i18n import current_language, format_number
from survey.web.problems import problems_text
from survey.web.results import verified_switch
from survey.web.signin import current_user, roles_required
from survey.web.workspace_forms import AlarmClearForm

bp = Blueprint("dashboard", __name__)

MIN_RESPONSES = 15  # below this an OPD's score is too uncertain to show
CHECK_BUDGET_SECONDS = 0.03  # alarm checks before the page is made (one always runs)
AFTER_BUDGET_SECONDS = 10.0  # alarm checks once it is sent, within a worker's timeout
REFRESH_SECONDS = 60
TV_REFRESH_SECONDS = 30
# OPD rows on one TV page: what a 1920x1080 screen shows at the TV layout's type size. Each
# refresh shows the next page (plain meta refresh, no script), so every OPD comes round.
TV_ROWS_PER_PAGE = 4


def status_label(status: str) -> str:
    """Return the name of a wave status in the current language."""
    labels = {
        "draft": _("Draf"),
        "open": _("Dibuka"),
        "closed": _("Ditutup"),
        "published": _("Diterbitkan"),
    }
    return labels.get(status, status)


def alarm_kind_label(kind: str) -> str:
    """Return the name of an alarm's kind in the current language."""
    labels = {
        "rate": _("Laju pengisian melonjak"),
        "pattern": _("Pola jawaban sama"),
        "mean-jump": _("Rata-rata berubah mendadak"),
        "burst": _("Lonjakan dari satu jaringan"),
    }
    return labels.get(kind, kind)


def alarm_figures(kind: str, detail: dict[str, Any]) -> str:
    """Return the figures that raised an alarm as a sentence in the current language."""
    d = detail
    if kind == "rate":
        return _(
            "%(count)s respons dalam %(minutes)s menit; biasanya %(expected)s (p = %(p)s).",
            count=d.get("count"),
            minutes=d.get("minutes"),
            expected=format_number(d.get("expected"), 1),
            p=d.get("p"),
        )
    if kind == "pattern":
        share = d.get("other_share")
        return _(
            "%(count)s dari %(of)s respons dalam %(minutes)s menit berpola sama %(pattern)s; "
            "di OPD lain %(share)s %% (p = %(p)s).",
            count=d.get("count"),
            of=d.get("of"),
            minutes=d.get("minutes"),
            pattern=d.get("pattern"),
            share=format_number(100 * share if share is not None else None, 1),
            p=d.get("p"),
        )
    if kind == "mean-jump":
        return _(
            "Rata-rata %(last)s respons terakhir %(last_mean)s, %(rest)s respons sebelumnya "
            "%(rest_mean)s (z = %(z)s).",
            last=d.get("last"),
            last_mean=format_number(d.get("last_mean"), 2),
            rest=d.get("rest"),
            rest_mean=format_number(d.get("rest_mean"), 2),
            z=format_number(d.get("z"), 1),
        )
    if kind == "burst":
        return _(
            "%(count)s respons melewati batas laju jaringannya dalam %(minutes)s menit.",
            count=d.get("count"),
            minutes=d.get("minutes"),
        )
    return ", ".join(f"{key}: {value}" for key, value in d.items())


def last_response_times(session: Session, *, wave: Wave) -> dict[str, datetime]:
    """Return the time of each OPD's latest response to the wave (any status), by slug."""
    return {slug: at for _opd_id, slug, at in queries.last_answer_times(session, wave=wave)}


@dataclass(frozen=True)
class DashboardRow:
    """One OPD on the dashboard."""

    slug: str
    name: str
    counted: int
    target: int | None
    flagged: int
    last_at: datetime | None
    score: UnitScore | None  # None: below MIN_RESPONSES counted responses, or not ranked

    @property
    def enough(self) -> bool:
        """Return True if the OPD has enough counted responses to show a score."""
        return self.score is not None

    @property
    def bar_value(self) -> int:
        """Return the progress bar's value (the target at most)."""
        return min(self.counted, self.target or 0)


@dataclass(frozen=True)
class Totals:
    """The figures over all OPDs of the wave."""

    counted: int
    target: int | None  # None unless every OPD has a target
    flagged: int
    opds: int
    opds_enough: int
    opds_reached: int
    last_at: datetime | None


def dashboard_data(
    session: Session, *, wave: Wave, verified_only: bool = False
) -> tuple[list[DashboardRow], Totals, datetime]:
    """Return the rows (by OPD name), the totals and the time the data was taken.

    ``verified_only``: counts and scores of the verified answers only.
    """
    # The same object as ikm score. The dashboard shows no rank sets and no element scores,
    # so it computes neither (issue 15 gives a refresh at 500 OPDs 200 ms; rank inference
    # alone takes more, the element intervals a third of the rest).
    report = score_wave(
        session,
        wave=wave,
        wave_tests=False,
        verified_only=verified_only,
        rank_draws=0,
        elements=False,
    )
    ranked = {unit.unit: unit for unit in report.units()}
    counts = {unit.unit: unit.n for unit in (*report.units(), *report.small_units())}
    last = last_response_times(session, wave=wave)
    rows = []
    for opd in report.opds:
        counted = counts.get(opd.slug, 0)
        unit = ranked.get(opd.slug)
        rows.append(
            DashboardRow(
                slug=opd.slug,
                name=opd.name,
                counted=counted,
                target=opd.target_n,
                flagged=opd.flagged,
                last_at=last.get(opd.slug),
                # Below the wave's min_rank_n there is no category to show either.
                score=unit if counted >= MIN_RESPONSES else None,
            )
        )
    rows.sort(key=lambda r: (r.name.casefold(), r.slug))
    targets = [r.target for r in rows]
    totals = Totals(
        counted=sum(r.counted for r in rows),
        target=sum(t for t in targets if t) if rows and all(targets) else None,
        flagged=sum(r.flagged for r in rows),
        opds=len(rows),
        opds_enough=sum(1 for r in rows if r.enough),
        opds_reached=sum(1 for r in rows if r.target and r.counted >= r.target),
        last_at=max((r.last_at for r in rows if r.last_at), default=None, key=_utc_key),
    )
    return rows, totals, report.data_taken_at


def _utc_key(value: datetime) -> datetime:
    """Compare stored times whether the backend gave them aware (PostgreSQL) or naive."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class TvPage:
    """Which OPD rows one TV page shows, and where the next refresh goes."""

    number: int
    pages: int
    first: int
    next_url: str


def _tv_page(wave: Wave, count: int) -> TvPage:
    """Return the TV page asked for (``?halaman=N``, 1 when absent or out of range)."""
    pages = max(1, -(-count // TV_ROWS_PER_PAGE))
    raw = request.args.get("halaman", "1")
    number = int(raw) if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= pages else 1
    following = number % pages + 1
    next_url = url_for("dashboard.wave_dashboard_tv", wave_slug=wave.slug, halaman=following)
    return TvPage(number, pages, (number - 1) * TV_ROWS_PER_PAGE, next_url)


def _scale_points(session: Session, wave: Wave) -> int:
    """Return the answer scale of the wave's questionnaire (the IKM runs 1..m)."""
    questionnaire = session.get(Questionnaire, wave.questionnaire_id)
    return questionnaire.scale_points if questionnaire is not None else 4


def _unit_rows(
    session: Session, *, wave: Wave, slugs: list[str]
) -> dict[str, list[units.UnitCount]]:
    """Return each OPD's service units with their counts against their targets (counts only:
    no score per unit here); inactive units only when they have answers."""
    # Two columns, not ORM objects: at 500 OPDs loading the objects took 10 ms a refresh.
    query = (
        select(Opd.slug, Opd.id)
        .join(WaveOpd, col(WaveOpd.opd_id) == Opd.id)
        .where(WaveOpd.wave_id == wave.id)
    )
    by_slug = {slug: int(opd_id or 0) for slug, opd_id in session.exec(query).all()}
    ids = [by_slug[slug] for slug in slugs if slug in by_slug]
    counts = units.wave_unit_counts(session, wave=wave, opd_ids=ids)
    found: dict[str, list[units.UnitCount]] = {}
    for slug in slugs:
        if slug in by_slug:
            rows = counts[by_slug[slug]]
            found[slug] = [r for r in rows if r.active or r.counted or r.flagged]
    return found


def _show(wave_slug: str, *, tv: bool) -> ResponseReturnValue:
    session = get_session()
    wave = queries.get_wave(session, slug=wave_slug)
    if wave is None:
        abort(404)
    timezone = str(current_app.config.get("TIMEZONE", periods.DEFAULT_TIMEZONE))
    periods.close_overdue(session, timezone=timezone, wave=wave)
    ended = wave.status in ("closed", "published")
    # Before the page reads anything else: alarms raised now are listed on this very page.
    # Within a budget, so that a refresh stays quick when many OPDs moved since their last
    # check (each check reads its OPD's series); the others are checked once the page is sent.
    alarms.check_wave(session, wave=wave, budget_seconds=CHECK_BUDGET_SECONDS)
    open_alarms = alarms.open_alarms(session, wave=wave)
    # The TV layout has no room for the switch's label, so it always shows every answer.
    switch = None if tv else verified_switch(session, wave=wave)
    verified = switch is not None and switch.on
    rows, totals, taken_at = dashboard_data(session, wave=wave, verified_only=verified)
    unit_rows = _unit_rows(session, wave=wave, slugs=[row.slug for row in rows])
    # WCAG 2.2.1: whoever reads the page may stop its self-refresh (?segarkan=0); the TV
    # layout, on a meeting-room screen no one operates, always refreshes.
    paused = not tv and request.args.get("segarkan") == "0"
    refresh = None if paused or ended else TV_REFRESH_SECONDS if tv else REFRESH_SECONDS
    paging = _tv_page(wave, len(rows)) if tv else None
    if paging is not None:
        rows = rows[paging.first : paging.first + TV_ROWS_PER_PAGE]
    page = render_template(
        "dashboard/tv.html" if tv else "dashboard/wave.html",
        wave=wave,
        rows=rows,
        unit_rows=unit_rows,
        totals=totals,
        taken_at=taken_at,
        refresh=refresh,
        ended=ended,
        every=REFRESH_SECONDS,
        min_responses=MIN_RESPONSES,
        status_label=status_label(wave.status),
        lang=current_language(),
        alarms=open_alarms,
        alarm_kind_label=alarm_kind_label,
        alarm_figures=alarm_figures,
        cleared=request.args.get("alarm") == "selesai",
        switch=switch,
        scale_points=_scale_points(session, wave),
        paging=paging,
        refresh_url=paging.next_url if paging is not None and paging.pages > 1 else None,
    )
    response = make_response(page)
    response.headers["Cache-Control"] = "no-store"
    if not ended:
        response.call_on_close(functools.partial(_check_the_rest, app_of(), int(wave.id or 0)))
    return response


def _check_the_rest(app: Flask, wave_id: int) -> None:
    """Once the page is sent: check the OPDs still due, within ``AFTER_BUDGET_SECONDS`` (the
    next refresh takes up any left). A failure is logged; the page is already out."""
    try:
        with app.app_context(), session_scope(app) as session:
            wave = session.get(Wave, wave_id)
            if wave is not None:
                alarms.check_wave(session, wave=wave, budget_seconds=AFTER_BUDGET_SECONDS)
    except Exception:
        logging.getLogger(__name__).exception("alarm check of wave %s failed", wave_id)


@bp.get("/kerja/gelombang/<wave_slug>/dasbor")
@roles_required("evaluator")
def wave_dashboard(wave_slug: str) -> ResponseReturnValue:
    """The live dashboard of a wave; ``?tv=1`` gives the meeting-room layout."""
    return _show(wave_slug, tv=request.args.get("tv") in ("1", "true", "ya"))


@bp.get("/kerja/gelombang/<wave_slug>/dasbor/tv")
@roles_required("evaluator")
def wave_dashboard_tv(wave_slug: str) -> ResponseReturnValue:
    """The meeting-room (TV) layout of a wave's live dashboard."""
    return _show(wave_slug, tv=True)


@bp.post("/kerja/gelombang/<wave_slug>/alarm/<int:alarm_id>/selesai")
@roles_required("evaluator")
def clear_alarm(wave_slug: str, alarm_id: int) -> ResponseReturnValue:
    """Clear one open alarm of the wave (audited) and go back to the dashboard."""
    session = get_session()
    wave = queries.get_wave(session, slug=wave_slug)
    if wave is None:
        abort(404)
    if not AlarmClearForm().validate():
        abort(400)
    user = current_user()
    try:
        alarms.clear_alarm(
            session, wave=wave, alarm_id=alarm_id, actor=user.username if user else None
        )
    except alarms.AlarmError as exc:
        if exc.problems[0].code == "alarm-not-found":
            abort(404)
        page = render_template(
            "errors/error.html",
            code=409,
            title=_("Alarm tidak diubah"),
            message=problems_text(exc.problems),
        )
        return page, 409
    return redirect(url_for("dashboard.wave_dashboard", wave_slug=wave.slug, alarm="selesai"))


def dashboard_waves() -> list[tuple[Wave, str]]:
    """Return the waves (newest first) with their status label, for evaluators and admins."""
    user = current_user()
    if user is None or user.role not in ("admin", "evaluator"):
        return []
    return [(wave, status_label(wave.status)) for wave in queries.list_waves(get_session())]


@bp.app_context_processor
def inject_dashboard_waves() -> dict[str, Any]:
    """Let the workspace page list the waves with links to their dashboards."""
    return {"dashboard_waves": dashboard_waves}

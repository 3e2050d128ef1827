"""A wave's period is enforced: answers outside it are refused, and an overdue wave closes."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from auth_helpers import AuthActions
from flask.testing import FlaskClient
from sqlmodel import Session, select
from survey_helpers import ALL_FOURS, SurveyActions, create_wave, install_clock

from survey.core import periods, queries, submissions
from survey.core.demo import DEMO_WAVE_SLUG
from survey.core.models import AuditLog, Response, Wave
from survey.web import citizen as citizen_views

JAKARTA = ZoneInfo("Asia/Jakarta")


def today() -> date:
    """Return today in Jakarta, the app's time zone in the tests."""
    return datetime.now(JAKARTA).date()


@pytest.fixture
def clock(monkeypatch):
    """The anti-abuse clock, frozen until a test moves it."""
    return install_clock(monkeypatch)


@pytest.fixture
def citizen(app, session, open_wave, clock) -> SurveyActions:
    """A citizen answering BPBD's survey of the open wave 'uji-2026' (no dates yet)."""
    return SurveyActions(app, clock)


def set_period(session: Session, start: date | None, end: date | None) -> Wave:
    """Give the test wave a period (an ORM change: this process's cache of it is stale)."""
    wave = queries.get_wave(session, slug="uji-2026")
    wave.period_start, wave.period_end = start, end
    session.add(wave)
    session.commit()
    return wave


def stored(session: Session) -> list[Response]:
    """Return every stored response of the test wave."""
    session.expire_all()
    return list(session.exec(select(Response)).all())


def freeze(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    """Make the survey page and the answer's INSERT see ``moment`` as now."""
    monkeypatch.setattr(citizen_views, "utcnow", lambda: moment)
    monkeypatch.setattr(submissions, "utcnow", lambda: moment)


def test_an_answer_after_the_period_is_refused_with_410(citizen, session):
    """GET and POST after the last day show the period (and its time zone); nothing stored."""
    page = citizen.open()
    assert page.response.status_code == 200
    last = today() - timedelta(days=1)
    set_period(session, date(2026, 1, 13), last)
    response = citizen.get(citizen.path)
    assert response.status_code == 410
    html = response.get_data(as_text=True)
    assert "Periode survei sudah berakhir" in html
    assert (
        "Survei untuk Badan Penanggulangan Bencana Daerah ini menerima jawaban dari "
        "13 Januari 2026 pukul 00.00 sampai "
    ) in html
    assert "pukul 23.59, waktu Asia/Jakarta." in html
    posted = citizen.post(ALL_FOURS, page=page)
    assert posted.status_code == 410
    assert "Periode survei sudah berakhir" in posted.get_data(as_text=True)
    assert stored(session) == []


def test_an_answer_before_the_period_is_refused_with_403(citizen, session):
    """Before the first day the page says the survey has not started; nothing stored."""
    page = citizen.open()
    set_period(session, today() + timedelta(days=1), None)
    response = citizen.get(citizen.path)
    assert response.status_code == 403
    assert "Survei belum dimulai" in response.get_data(as_text=True)
    assert citizen.post(ALL_FOURS, page=page).status_code == 403
    assert stored(session) == []


def test_a_cached_page_cannot_store_an_answer_after_the_period(citizen, session):
    """A period changed by another process hides behind the page's cache of the wave, but the
    INSERT itself checks the period: the POST answers 410 and stores nothing."""
    page = citizen.open()
    wave = queries.get_wave(session, slug="uji-2026")
    session.connection().execute(
        sa.text("UPDATE wave SET period_end = :end WHERE id = :id"),
        {"end": today() - timedelta(days=1), "id": wave.id},
    )
    session.commit()
    assert citizen.get(citizen.path).status_code == 200  # the cached read: the form
    posted = citizen.post(ALL_FOURS, page=page)
    assert posted.status_code == 410
    assert "Periode survei sudah berakhir" in posted.get_data(as_text=True)
    assert stored(session) == []


def test_an_answer_inside_the_period_is_stored(citizen, session):
    """A period from yesterday to tomorrow takes the answer (303 to the thank-you page)."""
    set_period(session, today() - timedelta(days=1), today() + timedelta(days=1))
    assert citizen.get(citizen.path).status_code == 200
    assert citizen.submit().status_code == 303
    assert [r.a1 for r in stored(session)] == [4]


def test_a_wave_without_dates_is_unrestricted(citizen, session):
    """No dates: the form shows and the answer is stored, whatever the day."""
    assert queries.get_wave(session, slug="uji-2026").period_end is None
    assert citizen.get(citizen.path).status_code == 200
    assert citizen.submit().status_code == 303
    assert len(stored(session)) == 1


# 30 June 2026 is the last day: 23:59:59 WIB is 16:59:59 UTC, and 00:00 WIB of 1 July is
# 17:00 UTC of 30 June.
LAST_DAY = date(2026, 6, 30)
LAST_SECOND = datetime(2026, 6, 30, 16, 59, 59, tzinfo=UTC)
NEXT_MIDNIGHT = datetime(2026, 6, 30, 17, 0, 0, tzinfo=UTC)


def test_the_last_day_ends_at_midnight_jakarta_time_in_the_insert(session, open_wave, monkeypatch):
    """The service alone: 23:59:59 local on the last day is stored, 00:00 the next day is not;
    likewise 00:00 local of the first day is in and the second before it is out."""
    set_period(session, date(2026, 6, 1), LAST_DAY)
    bpbd = queries.get_opd(session, slug="bpbd")

    def store(moment: datetime, submission_id: str) -> submissions.StoreResult:
        monkeypatch.setattr(submissions, "utcnow", lambda: moment)
        answer = submissions.Submission(
            wave_id=open_wave.id, opd_id=bpbd.id, submission_id=submission_id, answers={1: 4}
        )
        return submissions.store_submission(session, submission=answer, timezone="Asia/Jakarta")

    assert store(LAST_SECOND, "last-second").created
    with pytest.raises(submissions.WaveNotOpenError):
        store(NEXT_MIDNIGHT, "next-midnight")
    first_midnight = datetime(2026, 5, 31, 17, 0, 0, tzinfo=UTC)  # 1 June 00:00 WIB
    assert store(first_midnight, "first-midnight").created
    with pytest.raises(submissions.WaveNotOpenError):
        store(first_midnight - timedelta(seconds=1), "too-early")
    assert sorted(r.submission_id for r in stored(session)) == ["first-midnight", "last-second"]


def test_the_last_day_ends_at_midnight_jakarta_time_on_the_page(citizen, session, monkeypatch):
    """The page and the POST agree with the INSERT: 23:59 local on the last day is taken,
    00:00 the next day shows the ended page."""
    set_period(session, date(2026, 6, 1), LAST_DAY)
    freeze(monkeypatch, LAST_SECOND - timedelta(seconds=59))  # 23:59:00 WIB
    assert citizen.get(citizen.path).status_code == 200
    assert citizen.submit().status_code == 303
    freeze(monkeypatch, NEXT_MIDNIGHT)
    late = SurveyActions(citizen.app, citizen.clock)
    assert late.get(late.path).status_code == 410
    assert late.submit().status_code == 410
    assert len(stored(session)) == 1


def test_effective_status_of_an_open_wave_past_its_last_day():
    """Open past its last day: closed. A draft is never opened by its dates; no end, no end."""
    wave = Wave(slug="w", title="W", status="open", period_end=LAST_DAY)
    assert periods.effective_status(wave, LAST_SECOND) == "open"
    assert periods.effective_status(wave, NEXT_MIDNIGHT) == "closed"
    draft = Wave(slug="d", title="D", status="draft", period_start=date(2026, 6, 1))
    assert periods.effective_status(draft, NEXT_MIDNIGHT) == "draft"
    endless = Wave(slug="e", title="E", status="open")
    assert periods.effective_status(endless, NEXT_MIDNIGHT) == "open"


def test_wave_tick_closes_an_overdue_wave_with_an_audit_entry(runner, session, open_wave):
    """`ikm wave tick` closes the open waves past their last day (actor 'system'), and only
    those: one ending today, one without dates and a draft past its dates stay as they are."""
    yesterday, now = today() - timedelta(days=1), today()
    set_period(session, yesterday - timedelta(days=10), yesterday)
    create_wave(session, slug="hari-ini", title="Hari ini", status="open", period_end=now)
    create_wave(session, slug="tanpa-tanggal", title="Tanpa tanggal", status="open")
    create_wave(session, slug="draf", title="Draf", period_end=yesterday)
    result = runner.invoke(args=["wave", "tick"])
    assert result.exit_code == 0, result.output
    assert "Wave uji-2026 is now closed (its period is over)" in result.output
    session.expire_all()
    statuses = {w.slug: w.status for w in session.exec(select(Wave)).all()}
    assert statuses == {
        "uji-2026": "closed",
        "hari-ini": "open",
        "tanpa-tanggal": "open",
        "draf": "draft",
    }
    assert queries.get_wave(session, slug="uji-2026").closed_at is not None
    entries = session.exec(select(AuditLog).where(AuditLog.actor == "system")).all()
    assert [(e.action, e.detail) for e in entries] == [
        ("wave.close", {"wave": "uji-2026", "from": "open", "to": "closed"})
    ]
    again = runner.invoke(args=["wave", "tick"])
    assert again.exit_code == 0
    assert "No open wave is past its period" in again.output
    assert len(session.exec(select(AuditLog).where(AuditLog.actor == "system")).all()) == 1


@pytest.fixture
def evaluator(client: FlaskClient, users, open_wave) -> FlaskClient:
    """The test client signed in as the evaluator."""
    assert AuthActions(client).login("eva").status_code == 302
    return client


DASHBOARD = "/kerja/gelombang/uji-2026/dasbor"
REFRESH = '<meta http-equiv="refresh"'


def test_the_dashboard_of_a_closed_wave_does_not_refresh(evaluator, session):
    """Open: the page refreshes itself; closed or published: no meta refresh, also on TV."""
    assert REFRESH in evaluator.get(DASHBOARD).get_data(as_text=True)
    for status in ("closed", "published"):
        wave = queries.get_wave(session, slug="uji-2026")
        wave.status = status
        session.add(wave)
        session.commit()
        for url in (DASHBOARD, DASHBOARD + "?tv=1"):
            response = evaluator.get(url)
            assert response.status_code == 200
            html = response.get_data(as_text=True)
            assert REFRESH not in html, (status, url)
        assert "gelombang ini sudah ditutup" in evaluator.get(DASHBOARD).get_data(as_text=True)


def test_loading_the_dashboard_closes_an_overdue_wave(evaluator, session):
    """The dashboard of an open wave past its last day closes it (audited) and shows it
    closed, without refresh; so does the workspace's list of waves for another wave."""
    yesterday = today() - timedelta(days=1)
    set_period(session, yesterday - timedelta(days=3), yesterday)
    html = evaluator.get(DASHBOARD).get_data(as_text=True)
    assert REFRESH not in html
    assert "Ditutup" in html
    session.expire_all()
    assert queries.get_wave(session, slug="uji-2026").status == "closed"
    create_wave(session, slug="lewat", title="Lewat", status="open", period_end=yesterday)
    assert evaluator.get("/kerja/gelombang").status_code == 200
    session.expire_all()
    assert queries.get_wave(session, slug="lewat").status == "closed"
    actors = session.exec(
        select(AuditLog.actor).where(AuditLog.action == "wave.close").order_by(AuditLog.id)
    ).all()
    assert list(actors) == ["system", "system"]


def test_the_demo_wave_is_open_today(app, runner, session, clock):
    """`ikm demo` builds its wave over a period around today: the survey takes an answer."""
    result = runner.invoke(args=["demo", "--no-reports"])
    assert result.exit_code == 0, result.output
    wave = queries.get_wave(session, slug=DEMO_WAVE_SLUG)
    assert wave.status == "open"
    assert wave.period_start <= today() <= wave.period_end
    demo_citizen = SurveyActions(app, clock, wave=DEMO_WAVE_SLUG, opd="bpbd")
    assert demo_citizen.get(demo_citizen.path).status_code == 200
    before = queries.response_counts(session, wave=wave)["counted"]
    assert demo_citizen.submit().status_code == 303
    session.expire_all()
    assert queries.response_counts(session, wave=wave)["counted"] == before + 1


def test_a_wave_past_its_period_is_not_reopened(evaluator, runner, session):
    """Opening a closed wave whose last day is over is refused, on the page (400, the reason
    next to the buttons) and on the command line, until its last day moves."""
    yesterday = today() - timedelta(days=1)
    set_period(session, yesterday - timedelta(days=3), yesterday)
    assert runner.invoke(args=["wave", "close", "uji-2026"]).exit_code == 0
    page = evaluator.get("/kerja/gelombang/uji-2026").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    data = {"action": "open"} | ({"csrf_token": token.group(1)} if token else {})
    response = evaluator.post("/kerja/gelombang/uji-2026/status", data=data)
    assert response.status_code == 400
    assert f"Periode gelombang ini berakhir {yesterday.isoformat()}" in response.get_data(
        as_text=True
    )
    result = runner.invoke(args=["wave", "open", "uji-2026"])
    assert result.exit_code == 1
    assert f"the wave's period ended on {yesterday.isoformat()}" in result.output
    session.expire_all()
    assert queries.get_wave(session, slug="uji-2026").status == "closed"
    set_period(session, yesterday, today())
    assert runner.invoke(args=["wave", "open", "uji-2026"]).exit_code == 0
    session.expire_all()
    assert queries.get_wave(session, slug="uji-2026").status == "open"

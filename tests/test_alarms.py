"""The alarm: a burst, identical patterns and a jump raise it in minutes; honest traffic does not.

The clock is moved, never waited for: each stored answer's time is set, and the check after
it is told the time (``now``) the live hook would have seen.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from auth_helpers import CSRF_RE, AuthActions, login
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, col, select
from survey_helpers import ALL_FOURS, SurveyActions, add_responses, install_clock

from survey.core import alarms
from survey.core.demo import DEMO_SEED, DemoData, demo_data
from survey.core.models import Alarm, AuditLog, Opd, RateCounter, Response, Wave, utcnow

DASHBOARD = "/kerja/gelombang/uji-2026/dasbor"
ATTACK = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)  # 10.00 WIB
PATTERN = (3, 3, 2, 3, 3, 3, 3, 3, 2)


@functools.cache
def demo() -> DemoData:
    """The demo's simulated wave (built once for this module)."""
    return demo_data(DEMO_SEED)


def honest_rows(rng: np.random.Generator, n: int) -> list[list[int]]:
    """Return n answer rows of demo-like variety (each answer 2..4 around 3)."""
    return [[int(v) for v in rng.choice([2, 3, 3, 4], size=9)] for _ in range(n)]


def history(session: Session, wave: Wave, *, seed: int = 1) -> None:
    """The day before: 40 varied answers for each OPD, one every 12 minutes from 08.00 WIB."""
    rng = np.random.default_rng(seed)
    start = ATTACK - timedelta(days=1, hours=2)
    for slug in ("bpbd", "rsud", "dishub"):
        for i, row in enumerate(honest_rows(rng, 40)):
            add_responses(
                session, wave, slug, [row], submitted_at=start + timedelta(minutes=12 * i)
            )


def opd(session: Session, slug: str) -> Opd:
    return session.exec(select(Opd).where(Opd.slug == slug)).one()


def alarm_rows(session: Session) -> list[Alarm]:
    session.expire_all()
    return list(session.exec(select(Alarm).order_by(col(Alarm.id))).all())


def raise_audits(session: Session) -> list[AuditLog]:
    session.expire_all()
    query = select(AuditLog).where(AuditLog.action == "alarm.raise").order_by(col(AuditLog.id))
    return list(session.exec(query).all())


def aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def test_thirty_answers_in_three_minutes_raise_a_rate_alarm_within_five_minutes(
    session: Session, open_wave: Wave
) -> None:
    history(session, open_wave)
    bpbd = opd(session, "bpbd")
    rng = np.random.default_rng(7)
    checked = []
    for i, row in enumerate(honest_rows(rng, 30)):  # varied answers: only the rate gives it away
        moment = ATTACK + timedelta(seconds=6 * i)
        add_responses(session, open_wave, "bpbd", [row], submitted_at=moment)
        alarms.after_answer(session, wave_id=open_wave.id, opd_id=bpbd.id, now=moment)
        checked.append(moment)
    rate = [a for a in alarm_rows(session) if a.kind == "rate"]
    assert len(rate) == 1  # raised once, not again at every later check
    (alarm,) = rate
    assert alarm.opd_id == bpbd.id and alarm.cleared_at is None
    assert aware(alarm.raised_at) - ATTACK <= timedelta(minutes=5)
    # The busiest hour of the day before held 5 answers: 2 expected a window (the floor).
    assert alarm.detail["expected"] == 2.0 and alarm.detail["minutes"] == 10
    assert alarm.detail["count"] >= alarms.RATE_MIN_COUNT and alarm.detail["p"] < 1e-6
    (entry,) = [e for e in raise_audits(session) if e.detail["kind"] == "rate"]
    assert entry.actor is None
    assert entry.detail["wave"] == "uji-2026" and entry.detail["opd"] == "bpbd"
    assert entry.detail["alarm_id"] == alarm.id and entry.detail["count"] == alarm.detail["count"]
    # Once a minute: the 30 answers in three minutes ran three checks; older claims are pruned.
    session.expire_all()
    claims = session.exec(select(RateCounter).where(col(RateCounter.key).startswith("alarm"))).all()
    assert [(c.key, c.bucket) for c in claims] == [
        (f"alarm-check:{open_wave.id}:{bpbd.id}", int(checked[-1].timestamp()) // 60)
    ]


def test_a_rate_alarm_needs_more_than_the_opds_own_rush(session: Session, open_wave: Wave) -> None:
    """An OPD whose busiest hour held 60 answers may take 14 in ten minutes without alarm."""
    rng = np.random.default_rng(3)
    rush = ATTACK - timedelta(days=1)
    for i, row in enumerate(honest_rows(rng, 60)):
        add_responses(session, open_wave, "rsud", [row], submitted_at=rush + timedelta(minutes=i))
    rsud = opd(session, "rsud")
    for i, row in enumerate(honest_rows(rng, 14)):
        add_responses(
            session, open_wave, "rsud", [row], submitted_at=ATTACK + timedelta(seconds=40 * i)
        )
    now = ATTACK + timedelta(seconds=40 * 13)
    assert alarms.check_opd(session, wave=open_wave, opd=rsud, now=now) == []
    for i, row in enumerate(honest_rows(rng, 26)):  # 40 in the window: well past the rush
        add_responses(session, open_wave, "rsud", [row], submitted_at=now + timedelta(seconds=i))
    later = now + timedelta(seconds=26)
    assert alarms.check_opd(session, wave=open_wave, opd=rsud, now=later) == ["rate"]
    assert alarm_rows(session)[0].detail["expected"] == 10.0  # 60 an hour, a sixth a window


def test_identical_patterns_raise_a_pattern_alarm(session: Session, open_wave: Wave) -> None:
    history(session, open_wave, seed=2)
    bpbd = opd(session, "bpbd")
    raised: list[tuple[int, list[str]]] = []
    for i in range(10):  # one every 5 minutes: a normal pace, an abnormal sameness
        moment = ATTACK + timedelta(minutes=5 * i)
        add_responses(session, open_wave, "bpbd", [list(PATTERN)], submitted_at=moment)
        kinds = alarms.check_opd(session, wave=open_wave, opd=bpbd, now=moment)
        if kinds:
            raised.append((i + 1, kinds))
    assert raised == [(8, ["pattern"])]  # at the eighth identical answer, and only once
    (alarm,) = alarm_rows(session)
    assert alarm.detail["pattern"] == "332333332"
    assert (alarm.detail["count"], alarm.detail["of"], alarm.detail["minutes"]) == (8, 8, 60)
    assert alarm.detail["other_share"] == 0.0 and alarm.detail["p"] < 1e-4
    assert [e.detail["kind"] for e in raise_audits(session)] == ["pattern"]


# Nine answers: (minutes after ATTACK, OPD, pattern P or Q), stored in this order; two share
# minute 5 (the later id is the later answer) and the last comes after every check below.
P, Q = (4,) * 9, (3,) * 9
LATEST_ROWS = [
    (0, "rsud", P), (1, "dishub", Q), (2, "rsud", P), (3, "bpbd", P), (4, "dishub", P),
    (5, "bpbd", P), (5, "rsud", Q), (6, "dishub", P), (8, "rsud", P),
]  # fmt: skip


@pytest.mark.parametrize(
    ("slug", "minute", "shares"),
    [
        # Other OPDs' latest 5 up to minute 6: rows 8, 7, 5, 3, 2 (bpbd's 6 and 4 skipped, not
        # counted against the 5): P in 8, 5, 3; Q in 7, 2. The whole wave would say P 4 of 6.
        ("bpbd", 6, {P: (3, 5), Q: (2, 5)}),
        # rsud at minute 6: rows 8, 6, 5, 4, 2: P 4, Q 1 (its own 1, 3, 7 and 9 are not others').
        ("rsud", 6, {P: (4, 5), Q: (1, 5)}),
        # dishub at minute 5: rows 7, 6, 4, 3, 1 (the tie at minute 5 both in): P 4, Q 1.
        ("dishub", 5, {P: (4, 5), Q: (1, 5)}),
        # Fewer than 5 others before minute 2: rows 1 and 2 (rsud's 3 is not, nor dishub's 2).
        ("dishub", 2, {P: (2, 2), Q: (0, 2)}),
    ],
)
def test_the_pattern_baseline_is_the_other_opds_latest_answers(
    session: Session,
    open_wave: Wave,
    monkeypatch: pytest.MonkeyPatch,
    slug: str,
    minute: int,
    shares: dict[tuple[int, ...], tuple[int, int]],
) -> None:
    """The database's count and the replay's agree on hand-counted shares of the latest 5."""
    monkeypatch.setattr(alarms, "PATTERN_BASELINE", 5)
    latest = alarms._Latest()
    now = ATTACK + timedelta(minutes=minute)
    for at, owner, pattern in LATEST_ROWS:
        moment = ATTACK + timedelta(minutes=at)
        add_responses(session, open_wave, owner, [list(pattern)], submitted_at=moment)
        if moment <= now:
            latest.add(owner, pattern)
    counted = alarms._other_share(session, wave=open_wave, opd_id=opd(session, slug).id, now=now)
    replayed = latest.others(slug)
    for pattern, share in shares.items():
        assert counted(pattern) == share
        assert replayed(pattern) == share


def test_a_jump_in_the_running_mean_raises_an_alarm() -> None:
    """The last 20 answers far below the 40 before: a mean-jump (pure detector)."""
    rng = np.random.default_rng(5)
    start = ATTACK - timedelta(days=1)
    before = [
        alarms.Answer(start + timedelta(minutes=15 * i), tuple(int(v) for v in row))
        for i, row in enumerate(honest_rows(rng, 40))
    ]
    low = ((1,) * 9, (1, 2) + (1,) * 7, (2,) + (1,) * 8)
    ones = [alarms.Answer(ATTACK + timedelta(minutes=4 * i), low[i % 3]) for i in range(20)]
    found = alarms.detect(before + ones, now=ones[-1].at, others=lambda _p: (0, 100))
    jump = [f for f in found if f.kind == "mean-jump"]
    assert len(jump) == 1
    assert jump[0].detail["last"] == 20 and jump[0].detail["rest"] == 40
    assert jump[0].detail["last_mean"] < 1.3 < 2.9 < jump[0].detail["rest_mean"]
    assert alarms.detect(before, now=before[-1].at, others=lambda _p: (0, 100)) == []


def test_answers_marked_burst_raise_a_burst_alarm(session: Session, open_wave: Wave) -> None:
    history(session, open_wave)
    bpbd = opd(session, "bpbd")
    for i in range(3):
        moment = ATTACK + timedelta(minutes=10 * i)
        row = [3, 4, 3, 2, 3, 4, 3, 3, 4 - i]
        add_responses(
            session, open_wave, "bpbd", [row], status="flagged", reason="burst", burst=True,
            submitted_at=moment,
        )  # fmt: skip
        kinds = alarms.check_opd(session, wave=open_wave, opd=bpbd, now=moment)
    assert kinds == ["burst"]
    assert alarm_rows(session)[0].detail == {"count": 3, "minutes": 60}


def test_a_burst_inside_one_minute_raises_its_alarm_while_it_lasts(
    session: Session, open_wave: Wave
) -> None:
    """A scripted burst over in 15 seconds: the minute's check ran at its first answer, so
    only the 10-second burst check can see it; it does, at the first burst answer of the next
    10-second slot."""
    history(session, open_wave)
    bpbd = opd(session, "bpbd")
    start = ATTACK.replace(second=0)
    raised_at = None
    for i in range(15):
        moment = start + timedelta(seconds=i)
        burst = i >= 3  # the network's soft limit passed after three answers
        add_responses(
            session, open_wave, "bpbd", [[3, 4, 3, 2, 3, 4, 3, 3, 4 - i % 3]],
            status="flagged" if burst else "counted", reason="burst" if burst else None,
            burst=burst, submitted_at=moment,
        )  # fmt: skip
        kinds = alarms.after_answer(
            session, wave_id=open_wave.id, opd_id=bpbd.id, now=moment, burst=burst
        )
        if "burst" in kinds and raised_at is None:
            raised_at = moment
    # Second 0: the minute's check (one answer). Second 3: the first 10-second burst check
    # (one burst answer, below 3). Second 10: the next slot's check sees 8 burst answers.
    assert raised_at == start + timedelta(seconds=10)
    assert [a.kind for a in alarm_rows(session)] == ["burst"]
    assert alarm_rows(session)[0].detail == {"count": 8, "minutes": 60}


def test_honest_demo_traffic_raises_no_alarm() -> None:
    """The demo wave replayed in time order through the checks: not one alarm."""
    answers = [
        (row["opd"], alarms.Answer(row["submitted_at"], tuple(row["answers"])))
        for row in demo().responses
    ]
    found, checks = alarms.replay(answers)
    assert found == []
    assert checks > 900  # nearly one check an answer: the demo is quiet


def test_honest_demo_traffic_through_the_database_raises_no_alarm(
    session: Session, open_wave: Wave
) -> None:
    """Three demo OPDs' answers stored in time order, checked after each as the hook would."""
    data = demo()
    slugs = {"bpbd": "bpbd", "rsud": "rsud", "dinsos": "dishub"}  # demo OPD -> test OPD
    ids = {slug: opd(session, slug).id for slug in slugs.values()}
    stored = 0
    for row in data.responses:
        if row["opd"] not in slugs:
            continue
        slug = slugs[row["opd"]]
        add_responses(session, open_wave, slug, [list(row["answers"])],
                      submitted_at=row["submitted_at"])  # fmt: skip
        alarms.after_answer(
            session, wave_id=open_wave.id, opd_id=ids[slug], now=row["submitted_at"]
        )
        stored += 1
    assert stored > 100
    assert alarm_rows(session) == [] and raise_audits(session) == []


def test_a_stored_answer_runs_the_check(
    app: Flask, session: Session, open_wave: Wave, monkeypatch: pytest.MonkeyPatch
) -> None:
    """29 answers in the last three minutes; the citizen's 30th, through the page, alarms."""
    clock = install_clock(monkeypatch)
    now = utcnow()
    for i in range(29):
        moment = now - timedelta(minutes=3) + timedelta(seconds=6 * i)
        row = [3, 4, 3, 2, 3, 4, 3, 3, i % 4 + 1]
        add_responses(session, open_wave, "bpbd", [row], submitted_at=moment)
    assert alarm_rows(session) == []
    response = SurveyActions(app, clock).submit(ALL_FOURS)
    assert response.status_code == 303
    kinds = {a.kind for a in alarm_rows(session)}
    assert "rate" in kinds
    assert {e.detail["kind"] for e in raise_audits(session)} == kinds


def test_a_failing_check_does_not_fail_the_answer(
    app: Flask, session: Session, open_wave: Wave, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer is stored and thanked for; the failure is logged, nothing else written."""
    clock = install_clock(monkeypatch)

    def broken(*_args: object, **_kwargs: object) -> list[str]:
        raise RuntimeError("the check failed")

    monkeypatch.setattr(alarms, "check_opd", broken)
    response = SurveyActions(app, clock).submit(ALL_FOURS)
    assert response.status_code == 303
    session.expire_all()
    assert len(session.exec(select(Response)).all()) == 1
    assert alarm_rows(session) == [] and raise_audits(session) == []


# --- The dashboard -----------------------------------------------------------------------------


@pytest.fixture
def attacked(session: Session, open_wave: Wave, users) -> Wave:
    """25 answers to BPBD in the last five minutes (real time: the dashboard checks now)."""
    now = utcnow()
    for i in range(25):
        moment = now - timedelta(minutes=5) + timedelta(seconds=12 * i)
        row = [3, 4, 3, 2, 3, 4, 3, 3, i % 4 + 1]
        add_responses(session, open_wave, "bpbd", [row], submitted_at=moment)
    return open_wave


def alarm_items(html: str) -> list[str]:
    return re.findall(r'<li id="alarm-(\d+)">', html)


def test_the_dashboard_raises_and_lists_alarms(
    client: FlaskClient, session: Session, attacked
) -> None:
    login(client, "eva")
    html = client.get(DASHBOARD).get_data(as_text=True)
    (alarm,) = alarm_rows(session)
    assert alarm.kind == "rate" and alarm.detail["count"] == 25
    assert alarm_items(html) == [str(alarm.id)]
    item = html[html.index(f'<li id="alarm-{alarm.id}">') :]
    item = item[: item.index("</li>")]
    assert "Badan Penanggulangan Bencana Daerah: Laju pengisian melonjak" in item
    assert "25 respons dalam 10 menit; biasanya 6,0" in item
    assert "/kerja/gelombang/uji-2026/ditandai?opd=bpbd" in item
    english = client.get(DASHBOARD + "?lang=en").get_data(as_text=True)
    assert "Answer rate surged" in english and "25 answers in 10 minutes; usually 6.0" in english
    # Loading the page again (here the TV layout, which shows the count) does not raise it again.
    tv = client.get(DASHBOARD + "/tv").get_data(as_text=True)
    assert '<dd class="total-alarms">1</dd>' in tv
    assert len(alarm_rows(session)) == 1 and len(raise_audits(session)) == 1


def test_an_evaluator_clears_an_alarm(client: FlaskClient, session: Session, attacked) -> None:
    login(client, "eva")
    html = client.get(DASHBOARD).get_data(as_text=True)
    (alarm,) = alarm_rows(session)
    token = CSRF_RE.search(html)
    assert token
    url = f"/kerja/gelombang/uji-2026/alarm/{alarm.id}/selesai"
    assert client.post(url).status_code == 400  # no token
    assert alarm_rows(session)[0].cleared_at is None
    page = client.post(url, data={"csrf_token": token.group(1)})
    assert page.status_code == 302
    (alarm,) = alarm_rows(session)
    assert alarm.cleared_by == "eva" and alarm.cleared_at is not None
    session.expire_all()
    (entry,) = session.exec(select(AuditLog).where(AuditLog.action == "alarm.clear")).all()
    assert entry.actor == "eva"
    assert entry.detail == {"wave": "uji-2026", "opd": "bpbd", "kind": "rate", "alarm_id": alarm.id}
    # The dashboard checks again on load: the burst just reviewed stays quiet for an hour.
    html = client.get(page.headers["Location"]).get_data(as_text=True)
    assert "Alarm diselesaikan." in html and "Tidak ada alarm terbuka." in html
    assert len(alarm_rows(session)) == 1
    again = client.post(url, data={"csrf_token": token.group(1)})
    assert again.status_code == 409 and "sudah diselesaikan oleh eva" in again.get_data(
        as_text=True
    )
    missing = client.post("/kerja/gelombang/uji-2026/alarm/999/selesai",
                          data={"csrf_token": token.group(1)})  # fmt: skip
    assert missing.status_code == 404


def test_an_opd_head_cannot_see_or_clear_alarms(
    client: FlaskClient, session: Session, attacked
) -> None:
    alarms.check_wave(session, wave=attacked)
    (alarm,) = alarm_rows(session)
    login(client, "kepala-bpbd")
    assert client.get(DASHBOARD).status_code == 403
    token = AuthActions(client).token("/kerja")
    url = f"/kerja/gelombang/uji-2026/alarm/{alarm.id}/selesai"
    assert client.post(url, data={"csrf_token": token}).status_code == 403
    assert alarm_rows(session)[0].cleared_at is None


def test_the_wave_check_looks_only_at_opds_with_new_answers(
    session: Session, open_wave: Wave
) -> None:
    """After a check, an OPD is due again only when an answer came in since that check began;
    the latest answered is checked first, and an attack after a check is still found."""
    history(session, open_wave)
    ids = {slug: opd(session, slug).id for slug in ("bpbd", "rsud", "dishub")}
    assert sorted(alarms.due_opds(session, wave=open_wave)) == sorted(ids.values())
    assert alarms.check_wave(session, wave=open_wave, now=ATTACK) == []
    assert alarms.due_opds(session, wave=open_wave) == []  # nothing new: nothing to check
    add_responses(
        session, open_wave, "rsud", [[3] * 9], submitted_at=ATTACK + timedelta(seconds=90)
    )
    add_responses(
        session, open_wave, "dishub", [[3] * 9], submitted_at=ATTACK + timedelta(seconds=30)
    )
    assert alarms.due_opds(session, wave=open_wave) == [ids["rsud"], ids["dishub"]]
    rng = np.random.default_rng(3)
    for i, row in enumerate(honest_rows(rng, 30)):
        moment = ATTACK + timedelta(minutes=3, seconds=6 * i)
        add_responses(session, open_wave, "bpbd", [row], submitted_at=moment)
    assert alarms.due_opds(session, wave=open_wave)[0] == ids["bpbd"]
    later = ATTACK + timedelta(minutes=7)
    assert ("bpbd", "rate") in alarms.check_wave(session, wave=open_wave, now=later)
    assert alarms.due_opds(session, wave=open_wave) == []


def test_a_dashboard_refresh_checks_within_its_budget_and_the_rest_once_sent(
    client: FlaskClient, session: Session, attacked, monkeypatch
) -> None:
    """With no time to spare, the refresh checks one OPD before the page (the latest
    answered, here the attacked BPBD, whose alarm the page lists) and the others once the
    page is sent."""
    from survey.web import dashboard

    add_responses(
        session, attacked, "rsud", [[3] * 9], submitted_at=utcnow() - timedelta(minutes=9)
    )
    add_responses(
        session, attacked, "dishub", [[3] * 9], submitted_at=utcnow() - timedelta(minutes=8)
    )
    monkeypatch.setattr(dashboard, "CHECK_BUDGET_SECONDS", 0.0)
    ids = {slug: opd(session, slug).id for slug in ("bpbd", "rsud", "dishub")}

    def checked() -> set[int]:
        session.expire_all()
        keys = session.exec(select(RateCounter.key)).all()
        return {int(key.rsplit(":", 1)[1]) for key in keys if key.startswith("alarm-check:")}

    seen: list[set[int]] = []
    original = dashboard.render_template

    def render(*args, **kwargs):
        seen.append(checked())
        return original(*args, **kwargs)

    monkeypatch.setattr(dashboard, "render_template", render)
    login(client, "eva")
    response = client.get(DASHBOARD)
    html = response.get_data(as_text=True)
    response.close()
    (alarm,) = alarm_rows(session)
    assert alarm.kind == "rate" and alarm_items(html) == [str(alarm.id)]
    assert seen == [{ids["bpbd"]}]  # one check before the page: the latest answered
    assert checked() == set(ids.values())  # the others once the page was sent

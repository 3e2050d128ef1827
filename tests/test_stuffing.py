"""Ballot stuffing, attack by attack, run for real through the test client on both backends.

Each test plays one trick of issue 11 against the citizen survey and checks what the database
holds afterwards: how many answers count, how many are kept flagged and why, what is refused.
"Several workers" or app servers are two app instances on one database (or one Redis).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from redis_helpers import use_redis
from survey_helpers import (
    ALL_FOURS,
    FormPage,
    SurveyActions,
    enrol_kiosk,
    install_clock,
    stored,
    token_payload,
)
from werkzeug.test import TestResponse

from survey.core import queries
from survey.core.codes import code_hash
from survey.core.models import RateCounter, VisitCode
from survey.web import create_app


@pytest.fixture
def clock(monkeypatch):
    """The anti-abuse clock, frozen until a test moves it."""
    return install_clock(monkeypatch)


def fresh_browser(app: Flask, clock, *, opd: str = "bpbd") -> SurveyActions:
    """A citizen with no cookies at all (the attacker deleting them between ballots)."""
    return SurveyActions(app, clock, opd=opd)


def ballot(citizen: SurveyActions, address: str, **kwargs) -> TestResponse:
    """Open the form and send one all-fours ballot, both from ``address``."""
    environ = {"REMOTE_ADDR": address}
    page = FormPage.parse(citizen.get(citizen.path, environ_base=environ))
    return citizen.post(ALL_FOURS, page=page, environ_base=environ, **kwargs)


def tally(session) -> Counter:
    """Return the stored answers by (status, flag reason)."""
    return Counter((row.status, row.flag_reason) for row in stored(session))


@pytest.fixture
def second_app(app_config: dict, tmp_path) -> Iterator[Flask]:
    """Another app instance (another worker or app server) on the same database."""
    other = create_app(app_config, instance_path=str(tmp_path / "instance"))
    yield other
    other.extensions["ikm_engine"].dispose()


# ---------------------------------------------------------------------------------------------
# The kiosk override


@pytest.mark.parametrize("how", ["query", "hidden field"])
def test_kiosk_override_counts_one(app, open_wave, clock, session, how):
    """``?channel=kiosk`` (or a posted channel) from one browser: one counted ballot, the rest
    flagged duplicate-device; no answer is stored as a kiosk answer."""
    citizen = SurveyActions(app, clock)
    query = "?channel=kiosk" if how == "query" else ""
    fields = ALL_FOURS if how == "query" else {**ALL_FOURS, "channel": "kiosk"}
    for _ in range(5):
        assert citizen.post(fields, query=query).status_code == 303
    assert tally(session) == {("counted", None): 1, ("flagged", "duplicate-device"): 4}
    assert {row.channel for row in stored(session)} == {"qr"}


# ---------------------------------------------------------------------------------------------
# Fresh cookies from one address


def test_fresh_cookies_from_one_address(app, open_wave, clock, session):
    """Deleting every cookie between ballots, one address, default limits: 20 counted in the
    hour, the next 100 stored flagged burst, then 429 with Retry-After and nothing stored."""
    assert (app.config["LIMIT_SOFT"], app.config["LIMIT_HARD"]) == (20, 120)
    statuses = [ballot(fresh_browser(app, clock), "203.0.113.7").status_code for _ in range(120)]
    assert statuses == [303] * 120
    refused = ballot(fresh_browser(app, clock), "203.0.113.7")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert tally(session) == {("counted", None): 20, ("flagged", "burst"): 100}
    rows = stored(session)
    assert [row.burst for row in rows] == [False] * 20 + [True] * 100
    assert len({row.network for row in rows}) == 1
    # Another OPD of the same wave has a budget of its own; the burst does not spill over.
    assert ballot(fresh_browser(app, clock, opd="rsud"), "203.0.113.7").status_code == 303
    assert stored(session)[-1].status == "counted"


def test_a_neighbour_on_the_same_network_is_flagged_not_refused(app, open_wave, clock, session):
    """Past the network's soft limit an honest neighbour's answer is kept (flagged burst, for
    an evaluator to restore), never lost."""
    for i in range(20):
        assert ballot(fresh_browser(app, clock), f"203.0.113.{i + 1}").status_code == 303
    neighbour = ballot(fresh_browser(app, clock), "203.0.113.200")
    assert neighbour.status_code == 303
    assert neighbour.headers["Location"] == "/s/uji-2026/bpbd/terima-kasih"
    assert tally(session) == {("counted", None): 20, ("flagged", "burst"): 1}


# ---------------------------------------------------------------------------------------------
# Several workers or app servers


def limit_rows(session) -> int:
    """Return the rate-limit rows in the database (not the alarm check's minute claims)."""
    query = (
        sa.select(sa.func.count())
        .select_from(RateCounter)
        .where(sa.not_(sa.column("key").like("alarm-check%")))
    )
    return int(session.exec(query).one()[0])


@pytest.mark.parametrize("store", ["database", "redis"])
def test_two_app_instances_share_the_limits(
    app, second_app, open_wave, clock, session, store, redis_prefix
):
    """Ballots alternating between two app instances (two workers, or two servers) count
    against one limit: 20 counted, then burst, then 429 on either instance."""
    if store == "redis":
        use_redis(app, second_app, prefix=redis_prefix)
    for each in (app, second_app):
        each.config["LIMIT_HARD"] = 26
    statuses = [
        ballot(fresh_browser(each, clock), "198.51.100.9").status_code
        for each in [app, second_app] * 13
    ]
    assert statuses == [303] * 26
    assert ballot(fresh_browser(app, clock), "198.51.100.9").status_code == 429
    assert ballot(fresh_browser(second_app, clock), "198.51.100.9").status_code == 429
    assert tally(session) == {("counted", None): 20, ("flagged", "burst"): 6}
    if store == "redis":
        assert limit_rows(session) == 0


# ---------------------------------------------------------------------------------------------
# Rotating addresses


def test_rotating_addresses_inside_one_ipv6_64(app, open_wave, clock, session):
    """Thirty addresses of one /64, each with fresh cookies: one network, 20 counted."""
    for i in range(30):
        address = f"2001:db8:77:1:{i:x}:{i * 7:x}::{i + 1:x}"
        assert ballot(fresh_browser(app, clock), address).status_code == 303
    assert tally(session) == {("counted", None): 20, ("flagged", "burst"): 10}
    assert len({row.network for row in stored(session)}) == 1


def test_addresses_of_other_networks_are_other_budgets(app, open_wave, clock, session):
    """The control: thirty citizens from thirty different /64s are all counted."""
    for i in range(30):
        address = f"2001:db8:77:{i + 1:x}::1"
        assert ballot(fresh_browser(app, clock), address).status_code == 303
    assert tally(session) == {("counted", None): 30}
    assert len({row.network for row in stored(session)}) == 30


# ---------------------------------------------------------------------------------------------
# Token replay


def test_token_replay_across_opds(app, open_wave, clock, session):
    """A token rendered for BPBD is refused by RSUD's survey (400, nothing stored)."""
    bpbd = SurveyActions(app, clock)
    page = bpbd.open()
    rsud = SurveyActions(app, clock, client=bpbd.client, opd="rsud")
    response = rsud.post(ALL_FOURS, page=page)
    assert response.status_code == 400
    assert "halaman ini terlalu lama terbuka" in response.get_data(as_text=True)
    assert stored(session) == []


def test_token_replay_on_its_own_opd_is_one_answer(app, open_wave, clock, session):
    """One token, at most one answer: replaying the POST, even from fresh browsers with their
    own CSRF tokens, gives the same row back."""
    citizen = SurveyActions(app, clock)
    page = citizen.open()
    assert citizen.post(ALL_FOURS, page=page).status_code == 303
    for _ in range(5):
        stranger = SurveyActions(app, clock)
        csrf = stranger.open().hidden["csrf_token"]
        replay = stranger.post({**ALL_FOURS, "U1": "1", "csrf_token": csrf}, page=page)
        assert replay.status_code == 303
    [row] = stored(session)
    assert row.submission_id == token_payload(app, page)[2] and row.a1 == 4


def test_token_replay_after_expiry(app, open_wave, clock, session):
    """A token past RENDER_TOKEN_MAX_AGE (3 hours) stores nothing; the citizen gets the form
    back with the answers and a fresh token, and one more tap counts."""
    assert app.config["RENDER_TOKEN_MAX_AGE"] == 3 * 3600
    assert app.config["WTF_CSRF_TIME_LIMIT"] <= app.config["RENDER_TOKEN_MAX_AGE"]
    citizen = SurveyActions(app, clock)
    page = citizen.open()
    late = citizen.post({"U2": "3"}, page=page, wait=3 * 3600 + 1)
    assert late.status_code == 400
    again = FormPage.parse(late)
    assert again.checked == {"U2": "3"} and again.hidden["token"] != page.hidden["token"]
    assert stored(session) == []
    assert citizen.post({"U2": "3"}, page=again).status_code == 303
    [row] = stored(session)
    assert row.status == "counted" and row.submission_id == token_payload(app, again)[2]


# ---------------------------------------------------------------------------------------------
# Visit codes


def test_required_wave_counts_nothing_without_a_valid_code(app, open_wave, clock, session):
    """In a "required" wave, ballots with no code, invented codes or a used code: 0 counted."""
    wave = queries.get_wave(session, slug="uji-2026")
    opd = queries.get_opd(session, slug="bpbd")
    wave.verification = "required"
    session.add(wave)
    secret = app.config["SECRET_KEY"]
    session.add(
        VisitCode(
            wave_id=wave.id,
            opd_id=opd.id,
            code_hash=code_hash("HJKM2345", wave_id=wave.id, secret=secret),
            uses=1,  # handed out and used already
        )
    )
    session.commit()
    tries = [{}, {"visit_code": "ABCDEFGH"}, {"visit_code": "HJKM2345"}, {"visit_code": "x" * 8}]
    for extra in tries * 3:
        response = fresh_browser(app, clock).submit({**ALL_FOURS, **extra})
        assert response.status_code == 400
    assert stored(session) == []


# ---------------------------------------------------------------------------------------------
# The busy counter


def test_an_enrolled_kiosk_is_exempt_from_the_network_soft_limit(app, open_wave, clock, session):
    """A kiosk at a busy counter: 25 citizens in the hour all counted; the office's phones on
    the same network keep their own budget."""
    tablet = SurveyActions(app, clock)
    device = enrol_kiosk(session, app, tablet.client)
    for _ in range(25):
        assert ballot(tablet, "192.0.2.10").status_code == 303
    phone = ballot(fresh_browser(app, clock), "192.0.2.11")
    assert phone.status_code == 303
    rows = stored(session)
    assert [(r.channel, r.status) for r in rows] == [("kiosk", "counted")] * 25 + [
        ("qr", "counted")
    ]
    assert {r.device_id for r in rows[:25]} == {device.id} and not any(r.burst for r in rows)


def test_an_unreachable_redis_falls_back_to_the_database(app, open_wave, clock, session):
    """A Redis that does not answer neither opens the survey to floods nor closes it: the
    database counts instead."""
    app.config.update(REDIS_URL="redis://127.0.0.1:1/0")
    assert ballot(fresh_browser(app, clock), "203.0.113.5").status_code == 303
    assert tally(session) == {("counted", None): 1}
    assert limit_rows(session) == 3

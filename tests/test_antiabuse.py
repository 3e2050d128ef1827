"""Counting once without a CAPTCHA: the pieces of web.antiabuse and core.submissions."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import request
from itsdangerous import URLSafeSerializer
from survey_helpers import stored

from survey.core import queries, submissions
from survey.core.codes import code_hash
from survey.core.evidence import Evidence
from survey.core.models import VisitCode, utcnow
from survey.core.submissions import (
    Submission,
    VisitCodeClaim,
    VisitCodeError,
    store_submission,
)
from survey.web import antiabuse
from survey.web.antiabuse import Verdict, assess


def make_submission(session, submission_id: str = "a" * 32, **overrides) -> Submission:
    """Return a valid submission for the open wave's BPBD."""
    wave = queries.get_wave(session, slug="uji-2026")
    opd = queries.get_opd(session, slug="bpbd")
    values = {"answers": {1: 4, 2: 3}, **overrides}
    return Submission(wave_id=wave.id, opd_id=opd.id, submission_id=submission_id, **values)


# ---------------------------------------------------------------------------------------------
# Pure rules (no app needed)


def test_submission_ids():
    """Fresh ids are 32 hex digits, a new one each time."""
    fresh = {antiabuse.new_submission_id() for _ in range(3)}
    assert len(fresh) == 3 and all(re.fullmatch(r"[0-9a-f]{32}", value) for value in fresh)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, Verdict()),
        ({"honeypot": "x"}, Verdict("flagged", "bot-suspect")),
        ({"honeypot": "   "}, Verdict()),
        ({"seconds": None}, Verdict("flagged", "bot-suspect")),
        ({"seconds": 2.0}, Verdict("flagged", "bot-suspect")),
        ({"seconds": 3.0}, Verdict()),
        ({"seen_before": True}, Verdict("flagged", "duplicate-device")),
        ({"burst": True}, Verdict("flagged", "burst")),
        ({"seen_before": True, "burst": True}, Verdict("flagged", "duplicate-device")),
        ({"seen_before": True, "honeypot": "x"}, Verdict("flagged", "bot-suspect")),
        ({"seconds": 1.0, "burst": True}, Verdict("flagged", "bot-suspect")),
    ],
)
def test_assess(kwargs, expected):
    """Bot signs come first, then a repeated device, then a burst; otherwise counted."""
    arguments = {
        "honeypot": "",
        "seconds": 50.0,
        "min_seconds": 3.0,
        "seen_before": False,
        **kwargs,
    }
    verdict = assess(**arguments)
    assert verdict == expected
    assert verdict.flagged == (expected.status == "flagged")


def test_client_key_hides_the_address():
    """The rate-limit key is an HMAC of the address: stable, secret-dependent, not the IP."""
    key = antiabuse.client_key("127.0.0.1", "secret-one")
    assert key == antiabuse.client_key("127.0.0.1", "secret-one")
    assert key != antiabuse.client_key("127.0.0.1", "secret-two")
    assert key != antiabuse.client_key("127.0.0.2", "secret-one")
    assert "127.0.0.1" not in key and re.fullmatch(r"[0-9a-f]{64}", key)


def test_submission_value_object_refuses_nonsense():
    """The value object refuses what no form should let through, and cannot be changed."""
    with pytest.raises(ValueError, match="channel"):
        Submission(wave_id=1, opd_id=1, submission_id="a" * 32, channel="email")
    with pytest.raises(ValueError, match="position"):
        Submission(wave_id=1, opd_id=1, submission_id="a" * 32, answers={25: 1})
    with pytest.raises(ValueError, match="not a score"):
        Submission(wave_id=1, opd_id=1, submission_id="a" * 32, answers={1: -1})
    with pytest.raises(ValueError, match="not a score"):
        Submission(wave_id=1, opd_id=1, submission_id="a" * 32, answers={1: True})
    # 0 is the "not applicable" answer (U9's "never complained"); which elements offer it is
    # the form's check (tests/test_u9_not_applicable.py).
    assert Submission(wave_id=1, opd_id=1, submission_id="a" * 32, answers={9: 0}).answers[9] == 0
    value = Submission(wave_id=1, opd_id=1, submission_id="a" * 32, answers={1: 4})
    with pytest.raises(TypeError):
        value.answers[1] = 1  # type: ignore[index]


# ---------------------------------------------------------------------------------------------
# Signed values (need the app's secret)


def test_render_token_round_trip_and_tampering(app, monkeypatch):
    """The token carries wave, OPD, a fresh submission id and the render time, signed; it is
    refused for another wave or OPD, once expired, tampered, or signed for something else."""
    monkeypatch.setattr(antiabuse, "clock", lambda: 1234.5)
    with app.test_request_context():
        raw = antiabuse.issue_token(wave_id=3, opd_id=7)
        other = antiabuse.issue_token(wave_id=3, opd_id=7)
        read = antiabuse.read_token(raw, wave_id=3, opd_id=7, now=1300.0, max_age=100)
        assert read is not None
        assert (read.wave_id, read.opd_id, read.rendered_at) == (3, 7, 1234.5)
        assert re.fullmatch(r"[0-9a-f]{32}", read.submission_id)
        second = antiabuse.read_token(other, wave_id=3, opd_id=7, now=1300.0, max_age=100)
        assert second is not None and second.submission_id != read.submission_id

        def reads(token, wave=3, opd=7, now=1300.0):
            """Return whether ``token`` is accepted."""
            found = antiabuse.read_token(token, wave_id=wave, opd_id=opd, now=now, max_age=100)
            return found is not None

        assert reads(raw, now=1334.5)  # exactly max_age old
        assert not reads(raw, now=1334.6)  # expired
        assert not reads(raw, now=1234.5 - antiabuse.CLOCK_SKEW - 1)  # from the future
        assert not reads(raw, wave=4) and not reads(raw, opd=8)
        assert not reads(raw[:-2] + "xx") and not reads(None) and not reads("")
        secret = app.config["SECRET_KEY"]
        sid = "a" * 32
        for salt, payload in [
            ("ikm-render-token", [3, 7, sid]),  # too short
            ("ikm-render-token", [3, 7, "x' OR 1=1", 1234.5]),  # not a submission id
            ("ikm-render-token", [True, 7, sid, 1234.5]),
            ("ikm-render-token", [3, 7, sid, "soon"]),
            ("ikm-render-token", {"w": 3}),
            ("ikm-seen-device", [3, 7, sid, 1234.5]),  # signed for the device cookie
        ]:
            assert not reads(URLSafeSerializer(secret, salt=salt).dumps(payload)), payload
        foreign = URLSafeSerializer("another-secret-key-0123456789", salt="ikm-render-token")
        assert not reads(foreign.dumps([3, 7, sid, 1234.5]))
        genuine = URLSafeSerializer(secret, salt="ikm-render-token")
        assert reads(genuine.dumps([3, 7, sid, 1234.5]))


def test_kiosk_cookie_round_trip(app):
    """The kiosk cookie names a device, wave and OPD, signed; anything else reads as None."""
    with app.test_request_context():
        value = antiabuse.sign_kiosk(device_id=5, wave_id=1, opd_id=2)
    with app.test_request_context(headers={"Cookie": f"ikm_kiosk={value}"}):
        assert antiabuse.read_kiosk(request) == (5, 1, 2)
    with app.test_request_context(headers={"Cookie": f"ikm_kiosk={value[:-3]}abc"}):
        assert antiabuse.read_kiosk(request) is None
    forged = URLSafeSerializer(app.config["SECRET_KEY"], salt="ikm-seen-device").dumps([5, 1, 2])
    with app.test_request_context(headers={"Cookie": f"ikm_kiosk={forged}"}):
        assert antiabuse.read_kiosk(request) is None


def test_device_cookie(app):
    """The cookie is signed, HttpOnly, SameSite=Lax, capped; a tampered one lists nothing."""
    with app.test_request_context():
        response = app.response_class()
        keys = [antiabuse.device_key(1, n) for n in range(40)]
        antiabuse.remember_device(response, keys, antiabuse.device_key(2, 7))
        header = response.headers["Set-Cookie"]
        assert header.startswith("ikm_seen=")
        assert "HttpOnly" in header and "SameSite=Lax" in header and "Max-Age=15552000" in header
        assert "Secure" not in header  # the test config serves plain HTTP
        value = header.split(";")[0].split("=", 1)[1]
    with app.test_request_context(headers={"Cookie": f"ikm_seen={value}"}):
        seen = antiabuse.seen_keys(request)
        assert len(seen) == antiabuse.SEEN_MAX_KEYS and seen[-1] == "2:7"
        assert "1:0" not in seen  # the oldest dropped out
    with app.test_request_context(headers={"Cookie": f"ikm_seen={value[:-3]}abc"}):
        assert antiabuse.seen_keys(request) == []


def test_device_cookie_is_secure_on_https(app):
    """With SESSION_COOKIE_SECURE (an HTTPS public URL) the cookie is Secure."""
    app.config["SESSION_COOKIE_SECURE"] = True
    with app.test_request_context():
        response = app.response_class()
        antiabuse.remember_device(response, [], "1:1")
        assert "Secure" in response.headers["Set-Cookie"]


# ---------------------------------------------------------------------------------------------
# Storing once


def test_store_submission_once(open_wave, session):
    """The second store of the same submission id returns the first row and adds nothing."""
    first = store_submission(session, submission=make_submission(session))
    again = store_submission(
        session,
        submission=make_submission(session, answers={1: 1}),
        status="flagged",
        flag_reason="bot-suspect",
    )
    assert first.created and not again.created
    assert again.response_id == first.response_id and again.status == "counted"
    [row] = stored(session)
    assert (row.a1, row.a2, row.status) == (4, 3, "counted")


def test_store_submission_survives_the_race(open_wave, session, monkeypatch):
    """A new answer is one INSERT; a repeat (double tap, race) is refused by the unique key,
    and the first row is the answer; the session is usable afterwards."""
    real = queries.response_by_submission
    calls = []

    def counting(*args, **kwargs):
        """Count the look-ups of an existing row."""
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(submissions.queries, "response_by_submission", counting)
    winner = store_submission(session, submission=make_submission(session))
    assert winner.created and calls == []  # no look-up before a new answer's insert
    loser = store_submission(session, submission=make_submission(session, answers={3: 2}))
    assert len(calls) == 1
    assert not loser.created and loser.response_id == winner.response_id
    assert len(stored(session)) == 1
    # The session is usable again after the rollback.
    assert store_submission(session, submission=make_submission(session, "b" * 32)).created


def test_store_submission_refuses_inconsistent_status(open_wave, session):
    """A flag needs a known reason and a counted answer has none."""
    submission = make_submission(session)
    for status, reason in [("flagged", None), ("counted", "bot-suspect"), ("flagged", "spam")]:
        with pytest.raises(ValueError):
            store_submission(session, submission=submission, status=status, flag_reason=reason)
    with pytest.raises(ValueError):
        store_submission(session, submission=submission, status="deleted")
    assert stored(session) == []


@pytest.mark.parametrize("status", ["draft", "closed", "published"])
def test_store_submission_refuses_a_wave_not_open(open_wave, session, status):
    """The write itself checks that the wave is open: a closed one stores nothing."""
    open_wave.status = status
    session.add(open_wave)
    session.commit()
    with pytest.raises(submissions.WaveNotOpenError):
        store_submission(session, submission=make_submission(session))
    assert stored(session) == []


def test_store_submission_refuses_an_opd_the_wave_does_not_cover(open_wave, session):
    """An OPD taken off the wave (or never on it) gets no answer stored."""
    submission = make_submission(session)
    session.connection().execute(
        sa.text("DELETE FROM waveopd WHERE opd_id = :opd"), {"opd": submission.opd_id}
    )
    session.commit()
    with pytest.raises(submissions.WaveNotOpenError):
        store_submission(session, submission=submission)
    assert stored(session) == []


def test_flagged_answers_are_kept(open_wave, session):
    """Flagged submissions are stored with their answers, never dropped."""
    store_submission(
        session,
        submission=make_submission(session, comment="spam"),
        status="flagged",
        flag_reason="duplicate-device",
    )
    [row] = stored(session)
    assert (row.status, row.flag_reason, row.a1, row.comment) == (
        "flagged",
        "duplicate-device",
        4,
        "spam",
    )


def test_evidence_is_stored_with_the_answer(open_wave, session):
    """Every signal lands in its column; the verified flag is the store's alone to set."""
    signals = Evidence(
        seconds=42,
        straightline=True,
        repeat_device=True,
        burst=True,
        off_hours=True,
        network="0123456789abcdef",
        verified=True,  # claimed without a code: ignored
    )
    store_submission(
        session,
        submission=make_submission(session),
        status="flagged",
        flag_reason="duplicate-device",
        evidence=signals,
    )
    [row] = stored(session)
    assert (row.seconds, row.straightline, row.repeat_device, row.burst, row.off_hours) == (
        42,
        True,
        True,
        True,
        True,
    )
    assert (row.network, row.verified, row.device_id) == ("0123456789abcdef", False, None)


def add_code(session, code: str, *, max_uses: int = 1, expires_at=None) -> VisitCode:
    """Store a visit code for the open wave's BPBD (only its hash), as the staff side does."""
    wave = queries.get_wave(session, slug="uji-2026")
    opd = queries.get_opd(session, slug="bpbd")
    row = VisitCode(
        wave_id=wave.id,
        opd_id=opd.id,
        code_hash=code_hash(code, wave_id=wave.id, secret="s" * 32),
        max_uses=max_uses,
        expires_at=expires_at,
    )
    session.add(row)
    session.commit()
    return row


def claim(code, *, required=False) -> VisitCodeClaim:
    """A visit code typed with an answer."""
    return VisitCodeClaim(code=code, required=required, secret="s" * 32, now=utcnow())


def test_a_valid_code_verifies_the_answer_once(open_wave, session):
    """A valid code is used up with the answer it verifies; the same code again is refused
    and nothing of that second answer is written; a replay of the first answer is the first."""
    code = add_code(session, "ABCDEFGH")
    first = store_submission(
        session, submission=make_submission(session), visit_code=claim("abcd-efgh")
    )
    assert first.created
    replay = store_submission(
        session, submission=make_submission(session), visit_code=claim("ABCDEFGH")
    )
    assert replay.response_id == first.response_id and not replay.created
    with pytest.raises(VisitCodeError) as refused:
        store_submission(
            session, submission=make_submission(session, "b" * 32), visit_code=claim("ABCDEFGH")
        )
    assert [p.code for p in refused.value.problems] == ["visit-code-invalid"]
    [row] = stored(session)
    assert row.verified is True and row.submission_id == "a" * 32
    session.refresh(code)
    assert code.uses == 1


def test_a_refused_answer_does_not_burn_the_code(open_wave, session, monkeypatch):
    """When the answer's INSERT fails the code's use is rolled back with it."""
    code = add_code(session, "ABCDEFGH")

    def broken(*_args, **_kwargs):
        """Fail like a database refusing the row."""
        raise RuntimeError("insert failed")

    monkeypatch.setattr(submissions, "_row_values", broken)
    with pytest.raises(RuntimeError):
        store_submission(session, submission=make_submission(session), visit_code=claim("ABCDEFGH"))
    session.rollback()
    session.refresh(code)
    assert code.uses == 0 and stored(session) == []


def test_a_closed_wave_does_not_burn_the_code(open_wave, session):
    """A code typed with an answer to a wave closed meanwhile is not used up."""
    code = add_code(session, "ABCDEFGH")
    submission = make_submission(session)
    open_wave.status = "closed"
    session.add(open_wave)
    session.commit()
    with pytest.raises(submissions.WaveNotOpenError):
        store_submission(session, submission=submission, visit_code=claim("ABCDEFGH"))
    session.refresh(code)
    assert code.uses == 0 and stored(session) == []


@pytest.mark.parametrize(
    ("typed", "required", "expected"),
    [
        (None, True, "visit-code-required"),
        ("  ", True, "visit-code-required"),
        ("ABCDEFGX", True, "visit-code-invalid"),
        ("ABCDEFGX", False, "visit-code-invalid"),
        ("not a code", False, "visit-code-invalid"),
    ],
)
def test_missing_or_wrong_codes_are_refused(open_wave, session, typed, required, expected):
    """No code where one is required, or a code that is not valid: refused, nothing written."""
    add_code(session, "ABCDEFGH")
    with pytest.raises(VisitCodeError) as refused:
        store_submission(
            session,
            submission=make_submission(session),
            visit_code=claim(typed, required=required),
        )
    assert [p.code for p in refused.value.problems] == [expected]
    assert stored(session) == []


def test_an_expired_counter_code_is_refused(open_wave, session):
    """A counter screen's code serves several answers until it expires, then none."""
    add_code(session, "MNPQ2345", max_uses=50, expires_at=utcnow() + timedelta(minutes=5))
    add_code(session, "MNPQ2346", max_uses=50, expires_at=utcnow() - timedelta(seconds=1))
    for sid in ("a" * 32, "b" * 32):
        store_submission(
            session, submission=make_submission(session, sid), visit_code=claim("MNPQ2345")
        )
    with pytest.raises(VisitCodeError):
        store_submission(
            session, submission=make_submission(session, "c" * 32), visit_code=claim("MNPQ2346")
        )
    assert [row.verified for row in stored(session)] == [True, True]


def test_an_optional_wave_stores_an_answer_without_code(open_wave, session):
    """Without a code in an optional wave the answer is stored, not verified."""
    store_submission(session, submission=make_submission(session), visit_code=claim(""))
    [row] = stored(session)
    assert row.verified is False and row.status == "counted"

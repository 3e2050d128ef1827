"""Counting once without a CAPTCHA: the pieces of web.antiabuse and core.submissions."""

from __future__ import annotations

import re

import pytest
from flask import request
from itsdangerous import URLSafeSerializer
from survey_helpers import stored

from survey.core import queries, submissions
from survey.core.submissions import Submission, store_submission
from survey.web import antiabuse
from survey.web.antiabuse import SlidingWindowLimiter, Verdict, assess


def make_submission(session, submission_id: str = "a" * 32, **overrides) -> Submission:
    """Return a valid submission for the open wave's BPBD."""
    wave = queries.get_wave(session, slug="uji-2026")
    opd = queries.get_opd(session, slug="bpbd")
    values = {"answers": {1: 4, 2: 3}, **overrides}
    return Submission(wave_id=wave.id, opd_id=opd.id, submission_id=submission_id, **values)


# ---------------------------------------------------------------------------------------------
# Pure rules (no app needed)


def test_submission_ids():
    """Fresh ids are 32 hex digits; a bad id is replaced, a good one kept."""
    fresh = antiabuse.new_submission_id()
    assert re.fullmatch(r"[0-9a-f]{32}", fresh)
    assert antiabuse.checked_submission_id(fresh) == fresh
    for bad in (None, "", "A" * 32, "g" * 32, "a" * 31, "a" * 33, fresh + "\n"):
        replaced = antiabuse.checked_submission_id(bad)
        assert replaced != bad and re.fullmatch(r"[0-9a-f]{32}", replaced)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, Verdict()),
        ({"honeypot": "x"}, Verdict("flagged", "bot-suspect")),
        ({"honeypot": "   "}, Verdict()),
        ({"rendered_at": None}, Verdict("flagged", "bot-suspect")),
        ({"rendered_at": 98.0}, Verdict("flagged", "bot-suspect")),
        ({"rendered_at": 97.0}, Verdict()),
        ({"seen_before": True}, Verdict("flagged", "duplicate-device")),
        ({"seen_before": True, "honeypot": "x"}, Verdict("flagged", "bot-suspect")),
    ],
)
def test_assess(kwargs, expected):
    """Bot signs come first, then a repeated device; otherwise the answer is counted."""
    arguments = {
        "honeypot": "",
        "rendered_at": 50.0,
        "now": 100.0,
        "min_seconds": 3.0,
        "seen_before": False,
        **kwargs,
    }
    verdict = assess(**arguments)
    assert verdict == expected
    assert verdict.flagged == (expected.status == "flagged")


def test_sliding_window():
    """At most ``limit`` hits per window; a refused hit does not extend the wait."""
    limiter = SlidingWindowLimiter()
    hits = [limiter.hit("k", now=t, limit=3, window=10) for t in (0, 1, 2, 3, 9)]
    assert hits == [True, True, True, False, False]
    assert limiter.hit("k", now=10, limit=3, window=10) is True  # the hit at 0 has expired
    assert limiter.hit("k", now=10.5, limit=3, window=10) is False
    assert limiter.hit("other", now=10.5, limit=3, window=10) is True


def test_limiter_memory_is_bounded():
    """However many clients come, at most ``max_keys`` are tracked, each with <= limit hits."""
    limiter = SlidingWindowLimiter(max_keys=100)
    for i in range(1000):
        limiter.hit(f"client-{i}", now=float(i), limit=5, window=10_000)
    assert len(limiter) == 100
    for _ in range(50):
        limiter.hit("busy", now=2000.0, limit=5, window=10_000)
    assert len(limiter._hits["busy"]) == 5
    # Stale clients go first once the window has passed.
    limiter.hit("late", now=1e9, limit=5, window=10)
    assert len(limiter) == 1


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
        Submission(wave_id=1, opd_id=1, submission_id="a" * 32, answers={1: 0})
    value = Submission(wave_id=1, opd_id=1, submission_id="a" * 32, answers={1: 4})
    with pytest.raises(TypeError):
        value.answers[1] = 1  # type: ignore[index]


# ---------------------------------------------------------------------------------------------
# Signed values (need the app's secret)


def test_render_time_round_trip_and_tampering(app, monkeypatch):
    """``t`` carries the render time signed; anything altered or foreign reads as None."""
    monkeypatch.setattr(antiabuse, "clock", lambda: 1234.5)
    with app.test_request_context():
        token = antiabuse.sign_render_time()
        assert antiabuse.read_render_time(token) == 1234.5
        assert antiabuse.read_render_time(token[:-2] + "xx") is None
        assert antiabuse.read_render_time(None) is None
        assert antiabuse.read_render_time("1234.5") is None
        other_secret = URLSafeSerializer("another-secret-key-0123456789", salt="ikm-render-time")
        assert antiabuse.read_render_time(other_secret.dumps(1234.5)) is None
        # A value signed for the device cookie is no render time.
        cookie_like = URLSafeSerializer(app.config["SECRET_KEY"], salt="ikm-seen-device")
        assert antiabuse.read_render_time(cookie_like.dumps(1234.5)) is None
        forged = URLSafeSerializer(app.config["SECRET_KEY"], salt="ikm-render-time")
        assert antiabuse.read_render_time(forged.dumps("soon")) is None


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

"""Accounts and roles: hashing, ``ikm user``, sign-in, throttling, sessions and role checks."""

from __future__ import annotations

import hashlib
from html import unescape
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from auth_helpers import PASSWORD, AuthActions, csrf_token, login
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, col, select
from survey_helpers import FakeClock
from werkzeug.test import TestResponse

from survey.core import accounts, queries
from survey.core.models import AuditLog, LoginFailure, StaffSession, User
from survey.web import signin

GENERIC_ERROR = "Nama pengguna atau kata sandi salah."


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Replace ``survey.core.accounts.clock`` with a clock that moves only when told to."""
    fake = FakeClock()
    monkeypatch.setattr(accounts, "clock", fake)
    return fake


@pytest.fixture
def actions(client: FlaskClient, clock: FakeClock) -> AuthActions:
    """Sign-in actions on the test client, with the fake clock installed."""
    return AuthActions(client)


def _location(response: TestResponse) -> str:
    """Return the path and query a redirect points at."""
    parts = urlsplit(response.headers["Location"])
    assert parts.netloc in ("", "localhost")
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _count(session: Session, model: type) -> int:
    """Return the number of rows of a table, fresh from the database."""
    session.expire_all()
    return len(session.exec(select(model)).all())


# ---------------------------------------------------------------------------------------------
# Hashing


@pytest.mark.real_hash
def test_password_hash_is_scrypt_and_never_the_password():
    """Hashes are salted scrypt at Werkzeug's cost, check out for the right password only."""
    first, second = accounts.hash_password(PASSWORD), accounts.hash_password(PASSWORD)
    assert first.startswith("scrypt:32768:8:1$")
    assert PASSWORD not in first
    assert first != second  # salted
    assert accounts.check_password(first, PASSWORD)
    assert not accounts.check_password(first, PASSWORD + "x")


@pytest.mark.real_hash
def test_hashes_made_by_werkzeug_still_check():
    """A hash stored by an earlier version (Werkzeug's scrypt) checks the same way."""
    from werkzeug.security import check_password_hash, generate_password_hash

    stored = generate_password_hash(PASSWORD, method="scrypt")
    assert accounts.check_password(stored, PASSWORD)
    assert not accounts.check_password(stored, PASSWORD + "x")
    assert check_password_hash(accounts.hash_password(PASSWORD), PASSWORD)
    for malformed in ("", "scrypt", "scrypt:x:8:1$salt$00", "pbkdf2:sha256:1$s$00", "a$b$c"):
        assert not accounts.check_password(malformed, PASSWORD)


def test_the_cheap_test_hash_is_a_real_scrypt_hash():
    """Outside ``real_hash`` tests the cost is lower, the format and the check the same."""
    cheap = accounts.hash_password(PASSWORD)
    assert cheap.startswith("scrypt:16:1:1$")
    assert accounts.check_password(cheap, PASSWORD) and not accounts.check_password(cheap, "x")


# ---------------------------------------------------------------------------------------------
# ikm user


def test_user_add_stores_a_hash_and_an_audit_entry(runner, session, users):
    """``ikm user add`` creates the user with a scrypt hash and logs the creation."""
    args = ["user", "add", "Wakil-RSUD", "--role", "opd-head", "--opd", "rsud"]
    result = runner.invoke(args=[*args, "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    user = accounts.get_user(session, username="wakil-rsud")
    assert user is not None and user.username == "wakil-rsud"
    assert user.role == "opd-head" and user.active
    assert user.opd_id == queries.get_opd(session, slug="rsud").id
    assert user.password_hash.startswith("scrypt:") and PASSWORD not in user.password_hash
    assert accounts.check_password(user.password_hash, PASSWORD)
    assert user.created_at.tzinfo is not None
    entry = session.exec(select(AuditLog).where(AuditLog.action == "user.create")).all()[-1]
    assert entry.actor is None
    assert entry.detail == {"username": "wakil-rsud", "role": "opd-head", "opd": "rsud"}
    assert PASSWORD not in str(entry.detail)


def test_user_add_prompts_for_the_password_twice(runner, session, users):
    """Without --password the command asks, hidden, with confirmation."""
    result = runner.invoke(
        args=["user", "add", "evaluator2", "--role", "evaluator"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    user = accounts.get_user(session, username="evaluator2")
    assert user is not None and accounts.check_password(user.password_hash, PASSWORD)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["eva", "--role", "evaluator"], "already exists"),
        (["EVA", "--role", "admin"], "already exists"),
        (["kepala", "--role", "opd-head"], "needs --opd"),
        (["kepala", "--role", "opd-head", "--opd", "nowhere"], "unknown OPD 'nowhere'"),
        (["eva2", "--role", "evaluator", "--opd", "bpbd"], "only for the opd-head role"),
        (["admin2", "--role", "admin", "--password", "short"], "too short"),
        (
            ["admin2", "--role", "admin", "--password", "password123456"],
            "Error: the password is too easy to guess: This is similar to a commonly used "
            "password. Add another word or two. Uncommon words are better.\n",
        ),
        (["nurhayati", "--role", "evaluator", "--password", "nurhayati2026"], "too easy"),
        (["bad name!", "--role", "admin"], "not a valid username"),
        (["someone", "--role", "boss"], "Invalid value for '--role'"),
    ],
)
def test_user_add_errors_write_nothing(runner, session, users, args, message):
    """Every refused ``ikm user add`` says why and writes neither a user nor an audit entry."""
    users_before, audit_before = _count(session, User), _count(session, AuditLog)
    if "--password" not in args:
        args = [*args, "--password", PASSWORD]
    result = runner.invoke(args=["user", "add", *args])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert _count(session, User) == users_before
    assert _count(session, AuditLog) == audit_before


def test_user_add_checks_before_prompting(runner, session, users):
    """A duplicate name is refused before anyone types a password."""
    result = runner.invoke(args=["user", "add", "eva", "--role", "evaluator"])
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert "Password" not in result.output


def test_user_list(runner, users):
    """One user per line: username, then tab-separated role, OPD and active."""
    result = runner.invoke(args=["user", "list"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "admin\tadmin\t-\tactive",
        "eva\tevaluator\t-\tactive",
        "kepala-bpbd\topd-head\tbpbd\tactive",
        "kepala-rsud\topd-head\trsud\tactive",
    ]


def test_role_change_is_audited_and_signs_the_user_out(runner, session, users, actions):
    """``ikm user role`` changes the role, logs before and after, and ends open sessions."""
    assert actions.login("eva").status_code == 302
    result = runner.invoke(args=["user", "role", "eva", "--role", "opd-head", "--opd", "rsud"])
    assert result.exit_code == 0, result.output
    session.expire_all()
    user = accounts.get_user(session, username="eva")
    assert user.role == "opd-head"
    entry = session.exec(select(AuditLog).where(AuditLog.action == "user.role")).one()
    assert entry.detail == {
        "username": "eva",
        "before": {"role": "evaluator", "opd": None},
        "after": {"role": "opd-head", "opd": "rsud"},
    }
    assert _location(actions.client.get("/kerja")).startswith("/masuk")
    refused = runner.invoke(args=["user", "role", "eva", "--role", "admin", "--opd", "rsud"])
    assert refused.exit_code == 1 and "only for the opd-head role" in refused.output
    user_entries = session.exec(select(AuditLog).where(col(AuditLog.action).startswith("user.")))
    assert len(user_entries.all()) == 5  # four creations and one role change


# ---------------------------------------------------------------------------------------------
# Password strength


@pytest.mark.parametrize(
    ("password", "username", "warning"),
    [
        ("password123456", "eva", "This is similar to a commonly used password."),
        ("qwertyuiop", "eva", "This is a top-100 common password."),
        ("nurhayati2026", "nurhayati", ""),  # the user's own name and a year
        ("kepuasanmasyarakat", "eva", ""),  # this application's words
        (
            "1234512345",
            "eva",
            'Repeats like "abcabcabc" are only slightly harder to guess than "abc".',
        ),
    ],
)
def test_guessable_passwords_are_refused(password, username, warning):
    """zxcvbn scores under 3 are refused with its feedback, as a coded problem."""
    (problem,) = accounts.password_problems(password, username=username)
    assert (problem.code, problem.field) == ("password-weak", "password")
    assert problem.values["warning"] == warning
    assert problem.values["suggestions"]
    with pytest.raises(accounts.AccountError):
        accounts.check_password_strength(password, username=username)


def test_strong_passwords_pass():
    """The tests' own passwords and a name-based one for another user pass."""
    for password in (PASSWORD, "sandi-baru-yang-panjang", "correct horse battery staple"):
        assert accounts.password_problems(password, username="eva") == []
    assert accounts.password_problems("nurhayati2026", username="eva") == []
    # Past zxcvbn's own limit of 72 characters only the first 72 are judged (no error).
    assert accounts.password_problems("Tanjung-Priok " * 15, username="eva") == []
    assert accounts.password_problems("a" * 200, username="eva")[0].code == "password-weak"


def test_every_zxcvbn_sentence_has_an_indonesian_text(app):
    """Each feedback sentence zxcvbn can give is translated, and is itself again in English."""
    import ast

    import zxcvbn.feedback

    from survey.web import problems as web_problems

    tree = ast.parse(Path(zxcvbn.feedback.__file__).read_text(encoding="utf-8"))
    said = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "_"
        and isinstance(node.args[0], ast.Constant)
    }
    assert len(said) >= 25
    with app.test_request_context("/?lang=id"):
        indonesian = web_problems._zxcvbn_sentences()
    with app.test_request_context("/?lang=en"):
        english = web_problems._zxcvbn_sentences()
    assert set(indonesian) == said
    assert all(indonesian[text] != text for text in said)
    assert english == {text: text for text in said}


def test_a_weak_password_on_the_admin_page(client, session, users):
    """Indonesian advice next to the field, English on the English page; nothing changes."""
    login(client, "admin")
    before = _password_hash(session, "eva")
    data = {"action": "password", "password": "password123456", "confirmation": "password123456"}
    for lang, expected in (
        (
            "id",
            "Kata sandi terlalu mudah ditebak. Ini mirip kata sandi yang umum dipakai. "
            "Tambahkan satu atau dua kata lagi; kata yang jarang dipakai lebih baik.",
        ),
        (
            "en",
            "The password is too easy to guess. This is similar to a commonly used password. "
            "Add another word or two. Uncommon words are better.",
        ),
    ):
        response = client.post(
            f"/kerja/pengguna/eva?lang={lang}",
            data={"csrf_token": csrf_token(client, "/kerja/pengguna/eva"), **data},
        )
        assert response.status_code == 400
        html = unescape(response.get_data(as_text=True))
        error_at = html.index('id="e-password"')
        assert expected in html[error_at : error_at + 400]
    assert _password_hash(session, "eva") == before


def _password_hash(session: Session, username: str) -> str:
    """Return a user's stored password hash, fresh from the database."""
    session.expire_all()
    user = accounts.get_user(session, username=username)
    assert user is not None
    return user.password_hash


# ---------------------------------------------------------------------------------------------
# Signing in and out


def test_login_success_opens_the_workspace(actions, session, users):
    """Right credentials: a permanent session, the workspace, the last sign-in time."""
    response = actions.login("Eva")  # usernames are case-insensitive
    assert response.status_code == 302
    assert _location(response) == "/kerja"
    cookie = response.headers["Set-Cookie"]
    assert "Expires=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = actions.client.get("/kerja")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Ruang kerja evaluator" in html and "eva" in html and "Evaluator" in html
    assert 'action="/keluar"' in html
    session.expire_all()
    assert accounts.get_user(session, username="eva").last_login_at is not None


@pytest.mark.parametrize("username", ["eva", "nobody"])
def test_login_failure_is_generic(actions, users, username):
    """A wrong password and an unknown name get the same answer, and no session."""
    response = actions.login(username, "salah-sandi-123")
    assert response.status_code == 200
    assert GENERIC_ERROR in response.get_data(as_text=True)
    assert _location(actions.client.get("/kerja")).startswith("/masuk")


def test_login_form_needs_both_fields(actions, users):
    """An empty field is named next to it, and no failure is counted."""
    response = actions.login("", "")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Isi nama pengguna." in html and "Isi kata sandi." in html


def test_login_needs_csrf(client, users):
    """A sign-in POST without the CSRF token is refused."""
    response = client.post("/masuk", data={"username": "eva", "password": PASSWORD})
    assert response.status_code == 400


def test_inactive_user_cannot_sign_in(actions, session, users):
    """A deactivated account gets the generic message, and its open session ends."""
    assert actions.login("eva").status_code == 302
    user = accounts.get_user(session, username="eva")
    user.active = False
    session.add(user)
    session.commit()
    assert _location(actions.client.get("/kerja")).startswith("/masuk")
    assert GENERIC_ERROR in actions.login("eva").get_data(as_text=True)


def test_login_page_in_english(client, users):
    """The sign-in page follows the language switch."""
    html = client.get("/masuk?lang=en").get_data(as_text=True)
    assert "Sign in to the workspace" in html and "Password" in html


def test_throttled_after_five_failures(actions, session, users, clock):
    """Five failures for one name: the sixth try gets 429, even with the right password."""
    for attempt in range(5):
        response = actions.login("eva", f"salah-{attempt}", addr=f"203.0.113.{attempt}")
        assert response.status_code == 200
    response = actions.login("eva", addr="203.0.113.99")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "900"
    assert "Terlalu banyak percobaan masuk" in response.get_data(as_text=True)
    # Only HMACs are stored, never the name or the address.
    keys = [row.key for row in session.exec(select(LoginFailure)).all()]
    assert keys and not any("eva" in key or "203.0.113" in key for key in keys)
    clock.advance(15 * 60 + 1)
    assert actions.login("eva", addr="203.0.113.99").status_code == 302


def test_success_resets_the_username_counter(actions, users):
    """Four failures, a success, four more failures: still not throttled."""
    for attempt in range(4):
        assert actions.login("eva", f"salah-{attempt}").status_code == 200
    assert actions.login("eva").status_code == 302
    assert actions.logout().status_code == 302
    for attempt in range(4):
        assert actions.login("eva", f"lagi-salah-{attempt}").status_code == 200
    assert actions.login("eva").status_code == 302


def _guess(app: Flask, username: str, addresses: list[str]) -> list[int]:
    """Make one wrong guess at ``username`` from each address, each from a fresh browser."""
    return [
        AuthActions(app.test_client()).login(username, f"tebakan-{i}", addr=addr).status_code
        for i, addr in enumerate(addresses)
    ]


def test_an_attacker_elsewhere_cannot_lock_a_user_out(app, session, users, clock):
    """50 failures on eva from 10.0.0.x: that network is stopped, eva at 10.9.9.9 signs in."""
    statuses = _guess(app, "eva", [f"10.0.0.{1 + i % 250}" for i in range(50)])
    assert statuses == [200] * 5 + [429] * 45
    assert _count(session, LoginFailure) == 10  # 5 guesses, each under network and account
    eva = AuthActions(app.test_client())
    assert eva.login("eva", addr="10.9.9.9").status_code == 302
    assert eva.client.get("/kerja").status_code == 200
    # The attacker's network stays stopped for this account (the right password too) ...
    assert AuthActions(app.test_client()).login("eva", addr="10.0.0.77").status_code == 429
    # ... and rotating inside one IPv6 /64 is one network.
    sixes = _guess(app, "admin", [f"2001:db8:5:6:{i:x}::1" for i in range(7)])
    assert sixes == [200] * 5 + [429] * 2
    assert AuthActions(app.test_client()).login("admin", addr="2001:db8:5:7::1").status_code == 302


def test_an_office_address_does_not_lock_out_its_colleagues(app, session, users, clock):
    """20 failures on eva from the office's one address; a colleague there signs in, and so
    does eva from the browser she signed in with before."""
    office = "192.0.2.10"
    evas_browser = AuthActions(app.test_client())
    assert evas_browser.login("eva", addr=office).status_code == 302
    assert evas_browser.logout().status_code == 302
    assert _guess(app, "eva", [office] * 20) == [200] * 5 + [429] * 15
    colleague = AuthActions(app.test_client())
    assert colleague.login("kepala-bpbd", addr=office).status_code == 302
    assert colleague.client.get("/kerja").status_code == 200
    assert evas_browser.login("eva", addr=office).status_code == 302
    # A stranger's browser at the office (no history with eva) waits out the window.
    assert AuthActions(app.test_client()).login("eva", addr=office).status_code == 429
    clock.advance(15 * 60 + 1)
    assert AuthActions(app.test_client()).login("eva", addr=office).status_code == 302


def test_guessing_from_many_networks_only_lets_known_browsers_in(app, session, users, clock):
    """Past 20 failures on one account from anywhere, a new browser must wait; eva's own
    browser still signs in (from a new network too), with a limit of its own."""
    evas_browser = AuthActions(app.test_client())
    assert evas_browser.login("eva", addr="198.51.100.7").status_code == 302
    evas_browser.logout()
    spread = [f"10.{n}.0.{i + 1}" for n in range(1, 6) for i in range(5)]  # 5 networks x 5
    assert _guess(app, "eva", spread) == [200] * 20 + [429] * 5
    assert AuthActions(app.test_client()).login("eva", addr="172.16.0.1").status_code == 429
    assert evas_browser.login("eva", addr="172.16.0.1").status_code == 302
    evas_browser.logout()
    # A known browser's own guesses are limited too (a stolen device cookie buys 5 tries).
    for attempt in range(5):
        assert evas_browser.login("eva", f"salah-{attempt}").status_code == 200
    assert evas_browser.login("eva").status_code == 429
    # A browser known to another account is a new browser for eva.
    other = AuthActions(app.test_client())
    assert other.login("kepala-bpbd", addr="172.16.0.2").status_code == 302
    other.logout()
    assert other.login("eva", addr="172.16.0.2").status_code == 429
    clock.advance(15 * 60 + 1)
    assert other.login("eva", addr="172.16.0.2").status_code == 302


def test_a_forged_device_cookie_is_a_new_browser(app, users, clock):
    """The device cookie is signed: a made-up one counts as no history at all."""
    _guess(app, "eva", [f"10.{n}.0.1" for n in range(1, 5) for _ in range(5)])
    forger = AuthActions(app.test_client())
    forger.client.set_cookie(signin.DEVICE_COOKIE, "W1sxLCJ4Il1d.forged", path="/masuk")
    assert forger.login("eva", addr="172.16.9.9").status_code == 429


def test_logout_needs_post_and_csrf(actions, users):
    """GET is not allowed, a POST without the token is refused, with it the session ends."""
    actions.login("eva")
    assert actions.client.get("/keluar").status_code == 405
    assert actions.client.post("/keluar").status_code == 400
    assert actions.client.get("/kerja").status_code == 200
    response = actions.logout()
    assert response.status_code == 302 and _location(response) == "/masuk"
    assert _location(actions.client.get("/kerja")).startswith("/masuk")


def _copy_session(source: FlaskClient, target: FlaskClient) -> str:
    """Copy ``source``'s session cookie into ``target`` (a thief's browser); return it."""
    cookie = source.get_cookie("session")
    assert cookie is not None
    target.set_cookie("session", cookie.value)
    return cookie.value


def _staff_sessions(session: Session) -> list[StaffSession]:
    """Return every server-side session row, fresh from the database."""
    session.expire_all()
    return list(session.exec(select(StaffSession).order_by(col(StaffSession.id))).all())


def test_sign_out_ends_the_session_on_the_server(app, actions, session, users):
    """A copy of the cookie works while the session lasts and is refused after sign-out."""
    assert actions.login("eva").status_code == 302
    thief = app.test_client()
    value = _copy_session(actions.client, thief)
    assert thief.get("/kerja").status_code == 200
    # The cookie carries a token whose SHA-256 is the row; the row holds no token itself.
    token = app.session_interface.get_signing_serializer(app).loads(value)["st"]  # type: ignore[attr-defined]
    (row,) = _staff_sessions(session)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() != token
    assert row.user_id == users["eva"].id and row.ended_at is None
    assert actions.logout().status_code == 302
    assert _staff_sessions(session)[0].ended_at is not None
    replay = thief.get("/kerja")
    assert replay.status_code == 302 and _location(replay) == "/masuk?next=/kerja"
    thief.set_cookie("session", value)  # the refusal cleared it; replay the copy once more
    assert _location(thief.get("/kerja/opd")).startswith("/masuk")


def test_sign_out_everywhere_still_ends_every_session(app, runner, session, users):
    """A role change ends both browsers' sessions (the session version and the rows)."""
    first, second = AuthActions(app.test_client()), AuthActions(app.test_client())
    assert first.login("eva").status_code == 302 and second.login("eva").status_code == 302
    assert len([row for row in _staff_sessions(session) if row.ended_at is None]) == 2
    result = runner.invoke(args=["user", "role", "eva", "--role", "admin"])
    assert result.exit_code == 0, result.output
    assert all(row.ended_at is not None for row in _staff_sessions(session))
    for actions in (first, second):
        assert _location(actions.client.get("/kerja")).startswith("/masuk")


def test_session_expires_after_the_lifetime(actions, users, clock):
    """Eight hours after signing in the session is over, however active it was."""
    actions.login("eva")
    clock.advance(8 * 3600 - 10)
    assert actions.client.get("/kerja").status_code == 200
    clock.advance(11)
    assert _location(actions.client.get("/kerja")) == "/masuk?next=/kerja"


def test_session_lifetime_is_configurable(app_config, database_url, tmp_path, monkeypatch):
    """PERMANENT_SESSION_LIFETIME (seconds) sets both the cookie's and the server's limit."""
    from survey.web import create_app

    fake = FakeClock()
    monkeypatch.setattr(accounts, "clock", fake)
    app = create_app(
        {**app_config, "PERMANENT_SESSION_LIFETIME": 60}, instance_path=str(tmp_path / "i")
    )
    try:
        from survey.web.database import session_scope

        with session_scope(app) as db:
            accounts.create_user(db, username="eva", password=PASSWORD, role="evaluator")
        actions = AuthActions(app.test_client())
        assert actions.login("eva").status_code == 302
        assert actions.client.get("/kerja").status_code == 200
        fake.advance(61)
        assert _location(actions.client.get("/kerja")).startswith("/masuk")
    finally:
        app.extensions["ikm_engine"].dispose()


def test_default_session_lifetime_is_eight_hours(app):
    """Without a setting, sessions last eight hours, not Flask's 31 days."""
    assert app.permanent_session_lifetime.total_seconds() == 8 * 3600


# ---------------------------------------------------------------------------------------------
# Redirects and role checks


def test_next_brings_the_user_back(actions, users):
    """A local ``next`` is followed after signing in."""
    response = actions.login("eva", next_url="/kerja?tab=1")
    assert _location(response) == "/kerja?tab=1"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "kerja",
        "/kerja\r\nSet-Cookie: x=1",
    ],
)
def test_next_refuses_open_redirects(actions, users, target):
    """A ``next`` pointing off the site is ignored: the workspace opens instead."""
    response = actions.login("eva", next_url=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/kerja"


def test_workspace_sends_anonymous_users_to_sign_in(client, users):
    """/kerja redirects to the sign-in page, asking to come back."""
    response = client.get("/kerja")
    assert response.status_code == 302
    assert _location(response) == "/masuk?next=/kerja"


def test_workspace_of_an_opd_head_names_the_opd(actions, users):
    """The OPD head sees their OPD and role."""
    actions.login("kepala-bpbd")
    html = actions.client.get("/kerja").get_data(as_text=True)
    assert "Badan Penanggulangan Bencana Daerah" in html and "Kepala OPD" in html
    assert "Ruang kerja evaluator" not in html


def test_workspace_of_an_admin(actions, users):
    """The admin sees the evaluator workspace and the admin role."""
    actions.login("admin")
    html = actions.client.get("/kerja").get_data(as_text=True)
    assert "Ruang kerja evaluator" in html and "Administrator" in html


@pytest.fixture
def guarded_app(app: Flask) -> Flask:
    """The app with one route only evaluators (and admins) may open."""

    @signin.roles_required("evaluator")
    def evaluators_only() -> str:
        return f"hello {signin.current_user().username}"

    app.add_url_rule("/uji-peran", "evaluators_only", evaluators_only)
    return app


@pytest.mark.parametrize(
    ("username", "status"),
    [(None, 302), ("admin", 200), ("eva", 200), ("kepala-bpbd", 403)],
)
def test_roles_required(guarded_app, users, clock, username, status):
    """Anonymous users go to sign in, other roles get 403, admins pass every check."""
    actions = AuthActions(guarded_app.test_client())
    if username:
        actions.login(username)
    response = actions.client.get("/uji-peran")
    assert response.status_code == status
    if status == 302:
        assert _location(response) == "/masuk?next=/uji-peran"
    if status == 403:
        assert "Akses ditolak" in response.get_data(as_text=True)


def test_roles_required_refuses_unknown_roles():
    """A typo in a role name fails at import time, not silently at request time."""
    with pytest.raises(ValueError, match="unknown roles"):
        signin.roles_required("evaluater")

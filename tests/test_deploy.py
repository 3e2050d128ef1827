"""Deployment: /healthz, structured logs, request ids, the connection pool, the proxy, gunicorn."""

from __future__ import annotations

import contextlib
import http.cookiejar
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pypdf
import pytest
import sqlalchemy as sa
from auth_helpers import PASSWORD, AuthActions
from flask import Flask
from sqlmodel import Session
from survey_helpers import (
    ALL_FOURS,
    SurveyActions,
    add_opd,
    create_wave,
    install_clock,
    printed_short_link,
    stored,
)

from survey.core import accounts
from survey.core.database import make_engine
from survey.web import create_app, health
from survey.web.database import session_scope

ROOT = Path(__file__).resolve().parent.parent
HEAD = ",".join(sorted(health.known_revisions()[0]))
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
INPUT_RE = re.compile(r"<input\b[^>]*>")
ATTR_RE = re.compile(r'(\w+)="([^"]*)"')
DB_PASSWORD = "kata-sandi-basis-data-9"
PUBLIC = "https://skm.example.go.id"


def free_port() -> int:
    """Return a loopback TCP port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **config: Any) -> Flask:
    """Build an app outside the fixtures (for databases the fixtures do not make)."""
    for name in list(os.environ):
        if name.startswith("IKM_") and not name.startswith("IKM_TEST_"):
            monkeypatch.delenv(name)
    settings = {"TESTING": True, "SECRET_KEY": "x" * 40, "PUBLIC_URL": PUBLIC, **config}
    return create_app(settings, instance_path=str(tmp_path / "instance"))


def json_lines(text: str) -> list[dict[str, Any]]:
    """Parse every JSON log line of ``text`` (other lines are left out)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def request_lines(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the request records among ``records``."""
    return [r for r in records if r["logger"] == "survey.request"]


# ---------------------------------------------------------------------------------------------
# /healthz


def test_healthz_ok(client):
    """On a migrated database: 200, the newest revision, no caching, no cookie."""
    started = time.perf_counter()
    response = client.get("/healthz")
    assert time.perf_counter() - started < 2
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {"status": "ok", "database": "ok", "schema": HEAD}
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    assert client.head("/healthz").status_code == 200


@pytest.mark.parametrize("where", ["postgresql", "sqlite"])
def test_healthz_503_when_the_database_is_gone(tmp_path, monkeypatch, capsys, where):
    """An unreachable server or an unusable SQLite path: 503 at once, no secret, no trace."""
    if where == "postgresql":
        url = f"postgresql://ikm:{DB_PASSWORD}@127.0.0.1:{free_port()}/ikm"
    else:
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("a file where the database folder should be", encoding="utf-8")
        url = f"sqlite:///{blocker / 'missing' / 'ikm.sqlite3'}"
    app = build_app(tmp_path, monkeypatch, DATABASE_URL=url, LOG_FORMAT="json")
    try:
        started = time.perf_counter()
        response = app.test_client().get("/healthz")
        elapsed = time.perf_counter() - started
    finally:
        app.extensions["ikm_engine"].dispose()
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "database": "unreachable"}
    assert response.headers["Cache-Control"] == "no-store"
    assert elapsed < 2
    body = response.get_data(as_text=True)
    assert "Traceback" not in body and DB_PASSWORD not in body and "127.0.0.1" not in body
    records = json_lines(capsys.readouterr().err)
    warning = next(r for r in records if r["level"] == "WARNING")
    assert warning["message"].startswith("health check failed: unreachable (")
    assert "OperationalError" in warning["message"]
    assert DB_PASSWORD not in json.dumps(records)


def test_healthz_gives_up_on_a_hung_database(tmp_path, monkeypatch):
    """A server that accepts connections and never answers: 503 "timeout" within the limit."""
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)  # the kernel completes the handshake; nobody ever answers
        port = hung.getsockname()[1]
        app = build_app(
            tmp_path,
            monkeypatch,
            DATABASE_URL=f"postgresql://ikm@127.0.0.1:{port}/ikm",
            HEALTH_TIMEOUT=0.3,
        )
        try:
            client = app.test_client()
            started = time.perf_counter()
            first = client.get("/healthz")
            second = client.get("/healthz")
            elapsed = time.perf_counter() - started
            # The second probe waited on the check already in flight instead of adding one.
            probes = [t for t in threading.enumerate() if t.name == "healthz"]
        finally:
            app.extensions["ikm_engine"].dispose()
    for response in (first, second):
        assert response.status_code == 503
        assert response.get_json() == {"status": "error", "database": "timeout"}
    assert elapsed < 1.5
    assert len(probes) == 1


def test_healthz_judges_the_schema_revision(tmp_path, monkeypatch, sqlite_template):
    """Missing or older schema: 503; newest, or newer than this release: 200."""
    path = tmp_path / "ikm.sqlite3"
    shutil.copy(sqlite_template, path)
    app = build_app(tmp_path, monkeypatch, DATABASE_URL=f"sqlite:///{path}")
    engine = app.extensions["ikm_engine"]
    client = app.test_client()
    _heads, every = health.known_revisions()
    older = sorted(every - set(HEAD.split(",")))[0]

    def set_revision(revision: str | None) -> None:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM alembic_version"))
            if revision is not None:
                conn.execute(sa.text("INSERT INTO alembic_version VALUES (:r)"), {"r": revision})

    try:
        assert client.get("/healthz").get_json()["schema"] == HEAD
        set_revision(older)
        assert client.get("/healthz").get_json() == {
            "status": "error",
            "database": "schema out of date",
        }
        set_revision(None)
        assert client.get("/healthz").status_code == 503
        set_revision("9999_from_a_newer_release")
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.get_json()["schema"] == "9999_from_a_newer_release"
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE alembic_version"))
        assert client.get("/healthz").get_json()["database"] == "schema missing"
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------------------------
# Logs and request ids


@pytest.fixture
def json_app(app_config: dict, request: pytest.FixtureRequest) -> Flask:
    """The app (on each backend) logging JSON, with a route that fails."""
    app_config["LOG_FORMAT"] = "json"
    app_config["PROPAGATE_EXCEPTIONS"] = False  # a real 500, logged, as in production
    application: Flask = request.getfixturevalue("app")

    def broken() -> str:
        raise RuntimeError("the disk is on fire")

    application.add_url_rule("/_broken", "broken", broken)
    return application


def test_json_logs_one_line_per_request_without_secrets(json_app, session, capsys, monkeypatch):
    """Fields present; no password, CSRF token, cookie, client address or query string."""
    accounts.create_user(session, username="eva", password=PASSWORD, role="evaluator")
    add_opd(session, slug="bpbd", name="Badan Penanggulangan Bencana Daerah")
    create_wave(session, slug="uji-2026", title="Uji", status="open", target_n=30)
    client = json_app.test_client()
    capsys.readouterr()
    address = "198.51.100.7"
    actions = AuthActions(client)
    login_page = client.get("/masuk?next=/kerja&token=RAHASIA-DI-QUERY")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login_page.get_data(as_text=True))
    assert token is not None
    assert actions.login("eva", addr=address).status_code == 302
    citizen = SurveyActions(json_app, install_clock(monkeypatch))
    comment = "komentar rahasia warga <script>"
    assert citizen.submit({**ALL_FOURS, "comment": comment}).status_code == 303
    cookies = [c.value for c in client._cookies.values()]  # type: ignore[attr-defined]
    assert cookies
    err = capsys.readouterr().err
    records = json_lines(err)
    assert len(records) == len(err.splitlines())  # every line is a JSON object
    lines = request_lines(records)
    assert len(lines) == 5  # /masuk twice (the helper reads a token), the POST, GET and POST
    for line in lines:
        assert ISO_UTC.match(line["time"]) and line["level"] == "INFO"
        assert re.fullmatch(r"[0-9a-f]{32}", line["request_id"])
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] > 0
        assert isinstance(line["size"], int) and re.fullmatch(r"[0-9a-f]{16}", line["client"])
        assert "?" not in line["path"]
    login = next(r for r in lines if r["method"] == "POST" and r["path"] == "/masuk")
    assert login["status"] == 302
    survey = next(r for r in lines if r["method"] == "POST" and r["path"].startswith("/s/"))
    assert (survey["status"], survey["wave"], survey["opd"]) == (303, "uji-2026", "bpbd")
    for secret in (PASSWORD, token.group(1), address, "RAHASIA-DI-QUERY", comment, *cookies):
        assert secret not in err
    # The hash tells clients apart (the form was read from the test client's own address).
    form_read = next(r for r in lines if r["method"] == "GET" and r["path"] == "/masuk")
    assert login["client"] != form_read["client"]


def test_json_logs_an_error_with_its_traceback(json_app, capsys):
    """An unhandled exception: one error record with type, message and traceback as fields."""
    client = json_app.test_client()
    capsys.readouterr()
    response = client.get("/_broken", headers={"X-Request-ID": "req-1234-abcd"})
    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == "req-1234-abcd"
    records = json_lines(capsys.readouterr().err)
    error = next(r for r in records if r["level"] == "ERROR")
    assert error["exc_type"] == "RuntimeError"
    assert error["exc_message"] == "the disk is on fire"
    assert "Traceback (most recent call last)" in error["traceback"]
    assert error["request_id"] == "req-1234-abcd"
    [line] = request_lines(records)
    assert (line["status"], line["request_id"]) == (500, "req-1234-abcd")
    assert "the disk is on fire" not in response.get_data(as_text=True)


def test_text_logs_are_readable_lines(client, capsys):
    """The development format: one line with the method, path, status and fields."""
    capsys.readouterr()
    client.get("/healthz", headers={"X-Request-ID": "abcdefgh-text"})  # DEBUG: not shown
    client.get("/tidak-ada")
    err = capsys.readouterr().err
    assert "/healthz" not in err
    [line] = [x for x in err.splitlines() if "survey.request" in x]
    assert "INFO survey.request: GET /tidak-ada 404 [" in line
    assert "status=404" in line and "duration_ms=" in line


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("abcdef0123456789abcdef0123456789", True),
        ("nginx-req.42_x", True),
        ("short", False),
        ("has space in it", False),
        ("x" * 129, False),
        ("line\nbreak-injected", False),
        (None, False),
    ],
)
def test_request_id_round_trip(client, sent, kept):
    """A well-formed X-Request-ID comes back as sent; anything else is replaced."""
    headers = {} if sent is None else {"X-Request-ID": sent}
    try:
        response = client.get("/healthz", headers=headers)
    except ValueError:  # Werkzeug refuses to send a header with a newline at all
        assert "\n" in (sent or "")
        return
    echoed = response.headers["X-Request-ID"]
    if kept:
        assert echoed == sent
    else:
        assert echoed != sent and re.fullmatch(r"[0-9a-f]{32}", echoed)
        assert client.get("/healthz", headers=headers).headers["X-Request-ID"] != echoed


def test_unknown_log_format_is_refused(tmp_path, monkeypatch):
    """A typo in IKM_LOG_FORMAT stops the start with a clear message."""
    from survey.core.settings import ConfigError

    with pytest.raises(ConfigError, match="IKM_LOG_FORMAT"):
        build_app(tmp_path, monkeypatch, DATABASE_URL="sqlite://", LOG_FORMAT="xml")


# ---------------------------------------------------------------------------------------------
# The connection pool (PostgreSQL)


def test_pool_settings_reach_the_engine(postgres_ready, tmp_path, monkeypatch):
    """IKM_DB_POOL_* size the pool; past size + overflow a checkout waits, then fails."""
    monkeypatch.setenv("IKM_DB_POOL_SIZE", "2")
    from survey.core.settings import from_environment

    assert from_environment()["DB_POOL_SIZE"] == 2
    app = build_app(
        tmp_path,
        monkeypatch,
        DATABASE_URL=postgres_ready,
        DB_POOL_SIZE=2,
        DB_MAX_OVERFLOW=1,
        DB_POOL_TIMEOUT=1,
    )
    engine = app.extensions["ikm_engine"]
    held = []
    try:
        assert engine.pool.size() == 2
        held = [engine.connect() for _ in range(3)]
        for conn in held:
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1
        started = time.perf_counter()
        with pytest.raises(sa.exc.TimeoutError):
            engine.connect()
        assert 0.9 < time.perf_counter() - started < 3
    finally:
        for conn in held:
            conn.close()
        engine.dispose()


def test_an_idle_dead_connection_is_replaced_before_use(postgres_ready, monkeypatch):
    """A pooled connection killed while idle (a PostgreSQL restart) is pinged and replaced;
    one handed back a moment ago is used without a ping (no round trip on the hot path)."""
    from survey.core import database as db

    engine = make_engine(postgres_ready, pool_size=1, max_overflow=0)
    pings = []
    real_ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(1) or real_ping(c))
    try:
        with engine.connect() as conn:
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        with engine.connect() as conn:  # back in the pool just now: no ping
            assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar() == pid
        assert pings == []
        killer = make_engine(postgres_ready)
        with killer.begin() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        killer.dispose()
        monkeypatch.setattr(db, "PING_IDLE_SECONDS", 0.0)  # as if it sat idle for a while
        with engine.connect() as conn:  # pinged, found dead, replaced: the caller sees none of it
            assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar() != pid
        assert pings == [1]
    finally:
        engine.dispose()


def test_engine_hides_sql_parameters_in_errors(tmp_path):
    """A failing statement's message never carries the values (a comment, a hash)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'p.sqlite3'}")
    try:
        with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError) as caught:
            conn.execute(sa.text("SELECT * FROM no_such_table WHERE x = :v"), {"v": "RAHASIA"})
    finally:
        engine.dispose()
    assert "RAHASIA" not in str(caught.value)


# ---------------------------------------------------------------------------------------------
# Behind a reverse proxy


@pytest.fixture
def proxied(app_config: dict, request: pytest.FixtureRequest):
    """Build the app with PROXY_COUNT set, the wave uji-2026 open, a rate limit of 1.

    Returns the app and a session; the test must not ask for ``app`` or ``session`` itself,
    since either would build the app before the settings change.
    """

    def make(count: int) -> tuple[Flask, Session]:
        app_config.update(PROXY_COUNT=count, LIMIT_HARD=1, FORWARDED_ALLOW_IPS="10.0.0.2")
        app_config.pop("SESSION_COOKIE_SECURE")  # derived from the https PUBLIC_URL
        application: Flask = request.getfixturevalue("app")
        request.getfixturevalue("open_wave")
        return application, request.getfixturevalue("session")

    return make


PROXY_ENV = {"REMOTE_ADDR": "10.0.0.2"}  # every request arrives from the proxy


def forwarded(address: str) -> dict[str, Any]:
    """The request as nginx passes on a citizen's POST from ``address`` over HTTPS."""
    headers = {
        "X-Forwarded-For": address,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "skm.example.go.id",
        # Over HTTPS Flask-WTF also checks that the form came from this site.
        "Referer": "https://skm.example.go.id/s/uji-2026/bpbd",
    }
    return {"headers": headers, "environ_base": PROXY_ENV}


def test_behind_one_proxy_the_rate_limit_sees_each_citizen(proxied, monkeypatch):
    """PROXY_COUNT=1: the cap applies per forwarded address, not to the proxy's one address."""
    app, session = proxied(1)
    clock = install_clock(monkeypatch)
    first = SurveyActions(app, clock).submit(**forwarded("203.0.113.7"))
    again = SurveyActions(app, clock).submit(**forwarded("203.0.113.7"))
    other = SurveyActions(app, clock).submit(**forwarded("203.0.113.8"))
    assert (first.status_code, again.status_code, other.status_code) == (303, 429, 303)
    assert len(stored(session)) == 2


def test_without_proxy_count_a_forged_forwarded_for_is_ignored(proxied, monkeypatch):
    """PROXY_COUNT=0: X-Forwarded-For from the client changes nothing; its own address counts."""
    app, session = proxied(0)
    clock = install_clock(monkeypatch)
    first = SurveyActions(app, clock).submit(**forwarded("203.0.113.7"))
    forged = SurveyActions(app, clock).submit(**forwarded("203.0.113.9"))
    assert (first.status_code, forged.status_code) == (303, 429)
    assert len(stored(session)) == 1


def test_behind_a_proxy_qr_posters_and_cookies_use_the_public_url(proxied):
    """The QR code and posters point at IKM_PUBLIC_URL, whatever host the request named."""
    app, session = proxied(1)
    accounts.create_user(session, username="eva", password=PASSWORD, role="evaluator")
    client = app.test_client()
    internal = {
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "app-3.internal.example",
    }
    kwargs = {"headers": internal, "environ_base": PROXY_ENV, "base_url": "http://10.0.0.5:8000"}
    svg = client.get("/qr/uji-2026/bpbd.svg", **kwargs).get_data(as_text=True)
    assert "<title>https://skm.example.go.id/s/uji-2026/bpbd</title>" in svg
    assert "internal" not in svg and "10.0.0.5" not in svg
    page = client.get("/masuk", **kwargs)
    cookie = page.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert token is not None
    # Over HTTPS Flask-WTF also checks that the form came from this host.
    headers = {**internal, "Referer": "https://app-3.internal.example/masuk"}
    login = client.post(
        "/masuk",
        data={"csrf_token": token.group(1), "username": "eva", "password": PASSWORD},
        **{**kwargs, "headers": headers},
    )
    assert login.status_code == 302
    pdf = client.get("/r/uji-2026/posters.pdf", **kwargs)
    assert pdf.status_code == 200
    reader = pypdf.PdfReader(io.BytesIO(pdf.get_data()))
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    assert printed_short_link(session, wave_slug="uji-2026", opd_slug="bpbd") in text
    assert "internal" not in text and "10.0.0.5" not in text


# ---------------------------------------------------------------------------------------------
# gunicorn, for real


def _open_wave_on(url: str) -> None:
    """Add an OPD and an open wave to the database at ``url``."""
    engine = make_engine(url)
    app = Flask("arrange")
    app.extensions["ikm_engine"] = engine
    try:
        with session_scope(app) as session:
            add_opd(session, slug="bpbd", name="Badan Penanggulangan Bencana Daerah")
            create_wave(session, slug="uji-2026", title="Uji", status="open", target_n=30)
    finally:
        engine.dispose()


def _wait_healthy(base: str, proc: subprocess.Popen[bytes], deadline: float) -> None:
    """Poll /healthz until it answers 200; fail if gunicorn exits or time runs out."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"gunicorn exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    pytest.fail("gunicorn did not answer /healthz in time")


def _submit_over_http(base: str) -> tuple[int, str]:
    """Answer the survey like a browser (cookies, hidden fields); return the final page."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    path = "/s/uji-2026/bpbd"
    with opener.open(base + path, timeout=10) as page:
        inputs = [dict(ATTR_RE.findall(tag)) for tag in INPUT_RE.findall(page.read().decode())]
    hidden = {i["name"]: i.get("value", "") for i in inputs if i.get("type") == "hidden"}
    assert {"csrf_token", "token"} <= set(hidden)
    body = urllib.parse.urlencode({**hidden, **ALL_FOURS}).encode("ascii")
    # urllib follows the 303 to the thank-you page with a GET, as a browser does.
    with opener.open(base + path, data=body, timeout=10) as answer:
        return answer.status, answer.url


def _burst(base: str, *, clients: int, each: int) -> None:
    """Send ``clients`` x ``each`` requests for a missing page from parallel threads."""

    def fetch_all() -> None:
        for _ in range(each):
            try:
                urllib.request.urlopen(base + "/tidak-ada", timeout=10).close()
            except urllib.error.HTTPError as error:  # the 404 is the point
                error.close()

    threads = [threading.Thread(target=fetch_all) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)


def test_gunicorn_serves_with_the_repo_config(tmp_path, sqlite_template):
    """``gunicorn -c gunicorn.conf.py``: healthy, takes an answer, stops cleanly and quickly."""
    instance = tmp_path / "instance"
    instance.mkdir()
    database = instance / "ikm.sqlite3"
    shutil.copy(sqlite_template, database)
    url = f"sqlite:///{database}"
    _open_wave_on(url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IKM_")}
    env.update(
        IKM_ENV="production",
        IKM_SECRET_KEY=secrets.token_urlsafe(48),
        IKM_INSTANCE_PATH=str(instance),
        IKM_DATABASE_URL=url,
        IKM_PUBLIC_URL=base,
        IKM_BIND=f"127.0.0.1:{port}",
        IKM_WORKERS="2",
        IKM_LOG_FORMAT="json",
        IKM_MIN_SUBMIT_SECONDS="0",
    )
    log = tmp_path / "gunicorn.log"
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "gunicorn.conf.py",
        "survey.web:create_app()",
    ]
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=stderr, stderr=stderr, start_new_session=True
        )
    try:
        _wait_healthy(base, proc, time.monotonic() + 30)
        status, final_url = _submit_over_http(base)
        assert status == 200 and final_url.endswith("/s/uji-2026/bpbd/terima-kasih")
        _burst(base, clients=8, each=15)  # both workers write log lines at once
        started = time.monotonic()
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 5
        with pytest.raises(ProcessLookupError):  # no worker left behind in its group
            os.killpg(proc.pid, 0)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # stray workers, if any
    text = log.read_text(encoding="utf-8")
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert records, text  # gunicorn's own lines are JSON too: every line parsed
    assert any(r["logger"] == "gunicorn.error" for r in records)
    post = [r for r in request_lines(records) if r["method"] == "POST"]
    assert [(r["path"], r["status"]) for r in post] == [("/s/uji-2026/bpbd", 303)]
    missing = [r for r in request_lines(records) if r["path"] == "/tidak-ada"]
    assert len(missing) == 8 * 15 and {r["status"] for r in missing} == {404}
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT status FROM response")).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [("counted",)]


def test_gunicorn_workers_freeze_their_startup_heap():
    """post_worker_init moves the objects a worker holds after building its app out of the
    garbage collector's way (gc.freeze), so full collections no longer walk them."""
    import gc
    import runpy

    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        config["post_worker_init"](object())
        assert gc.get_freeze_count() > 10_000  # the imported modules' functions, types...
    finally:
        gc.unfreeze()


def test_gunicorn_workers_import_scipy_before_any_request():
    """The app imports scipy.stats on first use (ikm commands start 0.5 s sooner); a gunicorn
    worker imports it in post_worker_init, before it serves anyone."""
    script = (
        "import gc, runpy, sys\n"
        f"config = runpy.run_path({str(ROOT / 'gunicorn.conf.py')!r})\n"
        "import survey.web\n"
        "before = sorted(m for m in ('scipy.stats', 'scipy.optimize') if m in sys.modules)\n"
        "config['post_worker_init'](object())\n"
        "after = sorted(m for m in ('scipy.stats', 'scipy.optimize') if m in sys.modules)\n"
        "gc.unfreeze()\n"
        "print(before, after)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.split("\n")[0] == "[] ['scipy.optimize', 'scipy.stats']"

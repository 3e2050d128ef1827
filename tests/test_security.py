"""Hardening: security headers on every kind of response, cookie attributes, no debug.

Every response (pages, redirects, errors, the QR SVG, a PDF, static files) carries the
Content-Security-Policy and the other security headers; HSTS only when the public URL is
HTTPS. The pages the policy governs carry no script and no inline style, so the policy costs
nothing (``tests/test_browser_csp.py`` checks the same in Chromium). Each cookie is HttpOnly
and SameSite=Lax, and Secure exactly when the public URL is HTTPS. In production DEBUG stays
off whatever the environment says, and ``ikm run`` refuses to serve.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from auth_helpers import CSRF_RE, PASSWORD, AuthActions
from flask import Flask, abort
from sqlmodel import Session
from survey_helpers import (
    ALL_FOURS,
    FormPage,
    SurveyActions,
    add_responses,
    create_wave,
    install_clock,
    set_wave_status,
)
from werkzeug.test import TestResponse

from survey.cli.main import guard_run_command, main
from survey.core import accounts
from survey.web import create_app
from survey.web.security import PAGE_POLICY, PDF_POLICY

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
PUBLIC = "https://skm.example.go.id"
EVALUATOR = "eva.security"
EXPECTED = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# What a page could do that the policy forbids: script, inline style, event handlers.
INLINE = re.compile(
    r"<script|<style|\sstyle\s*=|\son[a-z]+\s*=|javascript:|<iframe|<embed|<object", re.I
)


def directives(policy: str) -> dict[str, str]:
    """Split a Content-Security-Policy into its directives by name."""
    found = {}
    for part in policy.split(";"):
        name, _, value = part.strip().partition(" ")
        found[name] = value
    return found


HSTS = "max-age=31536000; includeSubDomains"


def assert_hardened(response: TestResponse, *, hsts: str | None = HSTS) -> None:
    """The response carries every security header (the PDF policy on PDFs)."""
    headers = response.headers
    for name, value in EXPECTED.items():
        assert headers.get(name) == value, (name, response.status, response.mimetype)
    permissions = headers["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in permissions
    policy = headers["Content-Security-Policy"]
    if response.mimetype == "application/pdf":
        assert policy == PDF_POLICY
        assert directives(policy)["frame-ancestors"] == "'none'"
    else:
        assert policy == PAGE_POLICY
    assert "unsafe" not in policy
    assert headers.get("Strict-Transport-Security") == hsts


def test_the_page_policy_allows_no_script_and_no_inline_style() -> None:
    """The policy's directives are the strict ones, with nothing inline anywhere."""
    found = directives(PAGE_POLICY)
    assert found == {
        "default-src": "'none'",
        "script-src": "'none'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "font-src": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
        "base-uri": "'none'",
        "object-src": "'none'",
    }


FIELD_SCRIPT = """<script src="{{ url_for('static', filename='field.js') }}" defer></script>"""


def test_templates_use_no_script_and_no_inline_style() -> None:
    """No page template holds script, a style element or attribute, or an event handler.

    The report templates (``templates/reports``) are excluded: WeasyPrint reads them on the
    server, no browser does. The one exception is the field pages' own external script
    (``static/field.js``, loaded by ``survey/field.html`` alone; no inline script).
    """
    offenders = []
    allowed = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        if "reports" in path.relative_to(TEMPLATES).parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if INLINE.search(line):
                where = f"{path.relative_to(TEMPLATES)}:{number}"
                if where.startswith("survey/field.html:") and FIELD_SCRIPT in line:
                    allowed.append(where)
                    line = line.replace(FIELD_SCRIPT, "")
                    if not INLINE.search(line):
                        continue
                offenders.append(f"{where}: {line.strip()}")
    assert offenders == []
    assert len(allowed) == 1
    assert len(list(TEMPLATES.rglob("*.html"))) > 20  # the scan really read the templates


@pytest.fixture
def app_config(app_config: dict) -> dict:
    """Let an unexpected exception become the 500 page, as in production."""
    return {**app_config, "PROPAGATE_EXCEPTIONS": False}


@pytest.fixture
def published(session: Session, open_wave) -> Any:
    """A second wave, 'terbit-2025', over the same OPDs, with responses, published."""
    wave = create_wave(session, slug="terbit-2025", title="Terbit 2025", status="open")
    for slug in ("bpbd", "rsud", "dishub"):
        add_responses(session, wave, slug, [[4] * 9, [3] * 9, [2] * 9] * 6)
    set_wave_status(session, slug="terbit-2025", status="closed")
    return set_wave_status(session, slug="terbit-2025", status="published")


def test_every_kind_of_response_carries_the_headers(
    app: Flask, session: Session, published, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Survey GET/POST, thanks, QR, sign-in, workspace, PDF, results, errors, static."""

    def boom() -> None:
        """Fail as a bug would."""
        raise RuntimeError("a bug")

    app.add_url_rule("/uji-500", "boom", boom)
    app.add_url_rule("/uji-403", "forbidden", lambda: abort(403))
    accounts.create_user(session, username=EVALUATOR, password=PASSWORD, role="evaluator")
    citizen = SurveyActions(app, install_clock(monkeypatch))
    seen: dict[str, TestResponse] = {}
    page = citizen.open()
    seen["survey page"] = page.response
    seen["survey post"] = citizen.submit(page=page)
    seen["survey post with errors"] = citizen.post({"U1": "9"})
    seen["thank-you"] = citizen.get(citizen.thanks_path)
    seen["qr svg"] = citizen.get("/qr/uji-2026/bpbd.svg")
    seen["413"] = citizen.request("POST", citizen.path, data={"comment": "x" * 200_000})
    seen["404"] = citizen.get("/tidak-ada")
    seen["405"] = citizen.request("DELETE", citizen.path)
    seen["403"] = citizen.get("/uji-403")
    seen["500"] = citizen.get("/uji-500")
    seen["static css"] = citizen.get("/static/survey.css")
    seen["static css"].close()  # a file response: close it now, whatever fails below
    seen["results index"] = citizen.get("/hasil")
    seen["results wave"] = citizen.get("/hasil/terbit-2025")
    seen["results opd"] = citizen.get("/hasil/terbit-2025/bpbd")
    seen["workspace anonymous"] = citizen.get("/kerja")
    staff = AuthActions(app.test_client())
    seen["sign-in page"] = staff.client.get("/masuk")
    seen["sign-in post"] = staff.login(EVALUATOR)
    seen["workspace"] = staff.client.get("/kerja")
    seen["wave page"] = staff.client.get("/kerja/gelombang/uji-2026")
    seen["dashboard"] = staff.client.get("/kerja/gelombang/uji-2026/dasbor")
    seen["pdf"] = staff.client.get("/r/uji-2026/posters.pdf")
    statuses = {name: response.status_code for name, response in seen.items()}
    assert statuses == {
        "survey page": 200,
        "survey post": 303,
        "survey post with errors": 400,
        "thank-you": 200,
        "qr svg": 200,
        "413": 413,
        "404": 404,
        "405": 405,
        "403": 403,
        "500": 500,
        "static css": 200,
        "results index": 200,
        "results wave": 200,
        "results opd": 200,
        "workspace anonymous": 302,
        "sign-in page": 200,
        "sign-in post": 302,
        "workspace": 200,
        "wave page": 200,
        "dashboard": 200,
        "pdf": 200,
    }
    assert seen["pdf"].mimetype == "application/pdf"
    assert seen["qr svg"].mimetype == "image/svg+xml"
    assert seen["static css"].mimetype == "text/css"
    for name, response in seen.items():
        try:
            assert_hardened(response)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from exc
        # What the policy would block is simply not there.
        if response.mimetype == "text/html":
            html = response.get_data(as_text=True)
            assert not INLINE.search(html), (name, INLINE.search(html))
    # The charts of the results page are really there, as SVG images the policy allows.
    assert seen["results wave"].get_data(as_text=True).count('src="data:image/svg+xml;') >= 3


def https_app(app_config: dict, tmp_path: Path, **overrides: Any) -> Flask:
    """Build an app as production would: cookie security decided by the public URL."""
    config = {k: v for k, v in app_config.items() if k != "SESSION_COOKIE_SECURE"}
    config.update(overrides)
    return create_app(config, instance_path=str(tmp_path / "instance"))


@pytest.fixture
def make_app(app_config: dict, tmp_path: Path, monkeypatch) -> Iterator[Any]:
    """Build apps with other settings, disposing of their engines afterwards."""
    for name in ("IKM_PUBLIC_URL", "IKM_HSTS_SECONDS", "IKM_ENV"):
        monkeypatch.delenv(name, raising=False)
    made: list[Flask] = []
    # A key production accepts (the tests' own key is published, so production refuses it).
    config = {**app_config, "SECRET_KEY": secrets.token_urlsafe(48)}

    def build(**overrides: Any) -> Flask:
        """Build one app with ``overrides``."""
        made.append(https_app(config, tmp_path, **overrides))
        return made[-1]

    yield build
    for application in made:
        engine = application.extensions.get("ikm_engine")
        if engine is not None:
            engine.dispose()


@pytest.mark.parametrize(
    ("public_url", "seconds", "expected"),
    [
        ("https://skm.example.go.id", 31536000, HSTS),
        ("https://skm.example.go.id/", 600, "max-age=600; includeSubDomains"),
        ("https://skm.example.go.id", 0, None),
        ("http://skm.example.go.id", 31536000, None),
        ("http://127.0.0.1:5000", 31536000, None),
    ],
)
def test_hsts_only_behind_an_https_public_url(make_app, public_url, seconds, expected) -> None:
    """The app sees plain HTTP behind a TLS proxy; the public URL decides HSTS."""
    application = make_app(PUBLIC_URL=public_url, HSTS_SECONDS=seconds)
    client = application.test_client()
    for response in (client.get("/masuk"), client.get("/tidak-ada"), client.get("/hasil")):
        assert_hardened(response, hsts=expected)


def cookie(response: TestResponse, name: str) -> dict[str, str | bool]:
    """Return the attributes of the Set-Cookie header for ``name`` (lower-case keys)."""
    for header in response.headers.getlist("Set-Cookie"):
        first, *rest = [part.strip() for part in header.split(";")]
        if first.split("=", 1)[0] == name:
            attrs: dict[str, str | bool] = {"value": first.split("=", 1)[1]}
            for part in rest:
                key, sep, value = part.partition("=")
                attrs[key.lower()] = value if sep else True
            return attrs
    raise AssertionError(f"no Set-Cookie for {name}: {response.headers.getlist('Set-Cookie')}")


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_every_cookie_is_httponly_samesite_and_secure_under_https(
    make_app, session: Session, open_wave, monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    """The session, language and device cookies, as a citizen and a staff member get them."""
    base = f"{scheme}://skm.example.go.id"
    application = make_app(PUBLIC_URL=base)
    accounts.create_user(session, username=EVALUATOR, password=PASSWORD, role="evaluator")
    clock = install_clock(monkeypatch)
    client = application.test_client()
    citizen = SurveyActions(application, clock, client=client)
    # The browser speaks to the public address (through the proxy, as the app sees it here).
    headers = {"Referer": f"{base}/s/uji-2026/bpbd"}
    first = citizen.get(citizen.path + "?lang=en", base_url=base)
    page = FormPage.parse(first)
    done = citizen.post(ALL_FOURS, page=page, query="?lang=en", base_url=base, headers=headers)
    assert done.status_code == 303, done.get_data(as_text=True)
    staff = application.test_client()
    form = staff.get("/masuk", base_url=base)
    token = CSRF_RE.search(form.get_data(as_text=True)).group(1)
    login = staff.post(
        "/masuk",
        data={"csrf_token": token, "username": EVALUATOR, "password": PASSWORD},
        base_url=base,
        headers={"Referer": f"{base}/masuk"},
    )
    assert login.status_code == 302
    found = {
        "session (survey)": cookie(first, application.config["SESSION_COOKIE_NAME"]),
        "lang": cookie(first, "lang"),
        "ikm_seen": cookie(done, "ikm_seen"),
        "session (sign-in)": cookie(login, application.config["SESSION_COOKIE_NAME"]),
    }
    for name, attrs in found.items():
        assert attrs.get("httponly") is True, name
        assert str(attrs.get("samesite")).lower() == "lax", name
        assert attrs.get("secure", False) is (scheme == "https"), name
        assert attrs.get("path") == "/", name


def test_production_never_enables_debug(make_app, monkeypatch: pytest.MonkeyPatch) -> None:
    """FLASK_DEBUG=1 and DEBUG=True in the settings leave a production app without debug."""
    monkeypatch.setenv("FLASK_DEBUG", "1")
    development = make_app()
    assert development.debug is True  # the environment is honoured where it is harmless
    for overrides in ({"ENV": "production"}, {"ENV": "production", "DEBUG": True}):
        application = make_app(**overrides)
        assert application.debug is False
        assert application.config["DEBUG"] is False
        response = application.test_client().get("/tidak-ada")
        assert response.status_code == 404
    monkeypatch.setenv("IKM_ENV", "production")
    assert make_app().debug is False


def ikm(monkeypatch: pytest.MonkeyPatch, capsys, *args: str) -> tuple[int, str]:
    """Run the ``ikm`` console command with ``args``; return its exit status and stderr."""
    monkeypatch.setattr("sys.argv", ["ikm", *args])
    with pytest.raises(SystemExit) as stop:
        main()
    return int(stop.value.code or 0), capsys.readouterr().err


def test_ikm_run_refuses_production(
    app_config: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """The development server (and its debugger) never serves a production app."""
    served: list[Any] = []
    monkeypatch.setattr("flask.cli.run_simple", lambda *a, **k: served.append((a, k)))
    monkeypatch.setenv("IKM_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("IKM_SECRET_KEY", secrets.token_urlsafe(48))
    monkeypatch.setenv("IKM_DATABASE_URL", app_config["DATABASE_URL"])
    monkeypatch.setenv("FLASK_DEBUG", "1")
    monkeypatch.setenv("IKM_ENV", "production")
    status, err = ikm(monkeypatch, capsys, "run")
    assert status == 1
    assert "refuses to serve IKM_ENV=production" in err
    assert len(err.strip().splitlines()) == 1
    assert served == []
    monkeypatch.setenv("IKM_ENV", "development")
    status, err = ikm(monkeypatch, capsys, "run", "--port", "5999")
    assert status == 0, err
    assert len(served) == 1 and served[0][0][:2] == ("127.0.0.1", 5999)
    # Debug comes from FLASK_DEBUG in development: the debugger is what production must lack.
    assert served[0][1]["use_debugger"] is True


def test_guard_leaves_flask_own_run_command_alone() -> None:
    """Guarding one group replaces its command by a copy; Flask's own stays as it was."""
    from flask.cli import FlaskGroup, run_command

    callback = run_command.callback
    group = FlaskGroup(create_app=lambda: Flask(__name__))
    guard_run_command(group)
    assert group.commands["run"] is not run_command
    assert run_command.callback is callback
    assert [p.name for p in group.commands["run"].params] == [p.name for p in run_command.params]

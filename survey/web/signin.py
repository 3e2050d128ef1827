"""Accounts and roles: password hashing, sign-in and sign-out, throttling, role checks, CLI.

Passwords are stored only as Werkzeug scrypt hashes. The signed Flask session cookie holds the
user's id, their ``session_version`` and the sign-in time; a session ends when the cookie is
idle for ``PERMANENT_SESSION_LIFETIME``, when that long has passed since sign-in, or when the
user's ``session_version`` changes (role change, deactivation). Failed sign-ins are counted in
the database per HMAC of the username and per HMAC of the client address (neither is stored
raw), so every app server behind a load balancer sees the same counts; past
``LOGIN_FAILURE_LIMIT`` failures for a name (``LOGIN_ADDRESS_FAILURE_LIMIT`` for an address)
in ``LOGIN_FAILURE_WINDOW`` seconds the answer is 429, and a success resets the name's count.
Administrators pass every role check. Time comes from the module-level ``clock`` so tests can
move it instead of sleeping.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from survey.core import accounts
from survey.core.accounts import (
    LOGIN_ADDRESS_FAILURE_LIMIT,
    LOGIN_FAILURE_LIMIT,
    LOGIN_FAILURE_WINDOW,
    check_password,
    get_user,
    normalise_username,
    record_failure,
    reset_failures,
    throttled,
)
from survey.core.models import USER_ROLES, Opd, User, utcnow
from survey.web.antiabuse import client_key
from survey.web.database import get_session
from survey.web.workspace_forms import LoginForm

bp = Blueprint("auth", __name__)

SESSION_LIFETIME = timedelta(hours=8)
F = TypeVar("F", bound=Callable[..., Any])


def role_label(role: str) -> str:
    """Return the name of a role in the current language."""
    labels = {
        "admin": _("Administrator"),
        "evaluator": _("Evaluator"),
        "opd-head": _("Kepala OPD"),
    }
    return labels.get(role, role)


# ---------------------------------------------------------------------------------------------
# Throttling


def _failure_keys(username: str, remote_addr: str | None) -> tuple[str, str]:
    """Return the keys a failed sign-in is counted under: the username and the address."""
    secret = current_app.config["SECRET_KEY"]
    user_key = "u:" + client_key(f"user:{normalise_username(username)}", secret)
    return user_key, "a:" + client_key(remote_addr, secret)


# ---------------------------------------------------------------------------------------------
# Sessions and role checks


def _limits() -> dict[str, int]:
    """Return the failure limits by key kind: ``u`` a username, ``a`` a client address."""
    config = current_app.config
    return {
        "u": int(config["LOGIN_FAILURE_LIMIT"]),
        "a": int(config["LOGIN_ADDRESS_FAILURE_LIMIT"]),
    }


def _window() -> float:
    """Return the failure-counting window in seconds."""
    return float(current_app.config["LOGIN_FAILURE_WINDOW"])


def current_user() -> User | None:
    """Return the signed-in user of this request, or None (ending a stale session)."""
    if "ikm_user" in g:
        return g.ikm_user
    user = _load_session_user()
    if user is None and "uid" in session:
        session.clear()
    g.ikm_user = user
    return user


def _load_session_user() -> User | None:
    """Return the user the session cookie names if the session is still valid."""
    uid, version, since = session.get("uid"), session.get("sv"), session.get("since")
    if not isinstance(uid, int) or not isinstance(version, int):
        return None
    if not isinstance(since, int | float):
        return None
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    if not 0 <= accounts.clock() - since < lifetime:
        return None
    user = get_session().get(User, uid)
    if user is None or not user.active or user.session_version != version:
        return None
    return user


def start_session(user: User) -> None:
    """Sign ``user`` in: a fresh permanent session naming the user and its version."""
    session.clear()  # never carry anything of an earlier session over (session fixation)
    session.permanent = True
    session["uid"] = user.id
    session["sv"] = user.session_version
    session["since"] = accounts.clock()
    g.ikm_user = user


def safe_next(target: str | None) -> str | None:
    """Return ``target`` if it is a path on this site, else None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(ch in target for ch in "\\\r\n\t") or any(ord(ch) < 32 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _to_login() -> ResponseReturnValue:
    """Redirect to the sign-in page, coming back here afterwards."""
    path = request.full_path if request.query_string else request.path
    return redirect(url_for("auth.login", next=path))


def login_required(view: F) -> F:
    """Let only signed-in users through; send anyone else to the sign-in page."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            return _to_login()
        return view(*args, **kwargs)

    # Type error ignored below: functools.wraps keeps the view's signature; mypy sees the inner
    # function's type.
    return wrapped  # type: ignore[return-value]


def roles_required(*roles: str) -> Callable[[F], F]:
    """Let only signed-in users with one of ``roles`` (or admins) through; others get 403."""
    unknown = set(roles) - set(USER_ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}: use {', '.join(USER_ROLES)}")

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                return _to_login()
            if user.role != "admin" and user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        # Type error ignored below: functools.wraps keeps the view's signature; mypy sees the inner
        # function's type.
        return wrapped  # type: ignore[return-value]

    return decorator


# ---------------------------------------------------------------------------------------------
# Views


def _login_page(
    *, username: str = "", error: str | None = None, field_errors: dict[str, str] | None = None
) -> str:
    """Render the sign-in page."""
    return render_template(
        "auth/login.html",
        username=username,
        error=error,
        field_errors=field_errors or {},
        next=safe_next(request.args.get("next")),
    )


@bp.route("/masuk", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Show the sign-in form, and sign in with a username and password."""
    next_url = safe_next(request.args.get("next"))
    if request.method == "GET":
        if current_user() is not None:
            return redirect(next_url or url_for("auth.workspace"))
        return _login_page()
    form = LoginForm()
    creds = form.as_credentials()
    if not form.validate():
        return _login_page(username=creds.username, field_errors=form.errors_by_field())
    db = get_session()
    keys = _failure_keys(creds.username, request.remote_addr)
    if throttled(db, keys, limits=_limits(), window=_window()):
        return _throttled_page()
    user = get_user(db, username=creds.username)
    # Always check a hash, so an unknown name takes as long as a wrong password.
    matches = check_password(user.password_hash if user else accounts.dummy_hash(), creds.password)
    if user is None or not matches or not user.active:
        record_failure(db, keys, window=_window())
        error = _("Nama pengguna atau kata sandi salah.")
        return _login_page(username=creds.username, error=error)
    reset_failures(db, keys[0])
    user.last_login_at = utcnow()
    db.add(user)
    db.commit()
    start_session(user)
    return redirect(next_url or url_for("auth.workspace"))


def _throttled_page() -> ResponseReturnValue:
    """Answer 429 with a page saying how long to wait."""
    minutes = max(1, round(float(current_app.config["LOGIN_FAILURE_WINDOW"]) / 60))
    response = make_response(render_template("auth/throttled.html", minutes=minutes), 429)
    response.headers["Retry-After"] = str(int(current_app.config["LOGIN_FAILURE_WINDOW"]))
    return response


@bp.post("/keluar")
def logout() -> ResponseReturnValue:
    """Sign out (POST with the CSRF token, so no other site can sign anyone out)."""
    session.clear()
    g.ikm_user = None
    return redirect(url_for("auth.login"))


@bp.get("/kerja")
@login_required
def workspace() -> ResponseReturnValue:
    """The signed-in landing page: who is signed in, their role and their OPD."""
    user = current_user()
    assert user is not None  # login_required
    opd = get_session().get(Opd, user.opd_id) if user.opd_id else None
    return render_template(
        "auth/workspace.html", user=user, role_label=role_label(user.role), opd=opd
    )


def render_forbidden(error: HTTPException) -> ResponseReturnValue:
    """Render the friendly 403 page in the user's language."""
    page = render_template(
        "errors/error.html",
        code=403,
        title=_("Akses ditolak"),
        message=_("Akun Anda tidak berhak membuka halaman ini."),
    )
    return make_response(page, 403)


# ---------------------------------------------------------------------------------------------
# CLI


def init_app(app: Flask) -> None:
    """Set the session and throttling defaults, the 403 page and the ``ikm user`` commands."""
    app.config.setdefault("PERMANENT_SESSION_LIFETIME", SESSION_LIFETIME)
    if app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(days=31):  # Flask's default
        app.config["PERMANENT_SESSION_LIFETIME"] = SESSION_LIFETIME
    app.config.setdefault("LOGIN_FAILURE_LIMIT", LOGIN_FAILURE_LIMIT)
    app.config.setdefault("LOGIN_ADDRESS_FAILURE_LIMIT", LOGIN_ADDRESS_FAILURE_LIMIT)
    app.config.setdefault("LOGIN_FAILURE_WINDOW", LOGIN_FAILURE_WINDOW)
    app.register_blueprint(bp)
    app.register_error_handler(403, render_forbidden)

    @app.context_processor
    def inject_user() -> dict[str, Any]:
        """Give templates the signed-in user (None for citizens)."""
        return {"current_user": current_user}

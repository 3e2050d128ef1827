"""Accounts and roles: password hashing, sign-in and sign-out, throttling, role checks, CLI.

Passwords are stored only as Werkzeug scrypt hashes. The signed Flask session cookie holds the
user's id, their ``session_version``, the sign-in time and a random token whose SHA-256 is a
``StaffSession`` row; a session ends when the cookie is idle for
``PERMANENT_SESSION_LIFETIME``, when that long has passed since sign-in, when the user's
``session_version`` changes (role change, deactivation: "sign out everywhere"), or when its
row is ended (signing out), so a copy of the cookie taken before sign-out opens nothing after.
Administrators pass every role check.

Throttling guesses without handing anyone a lockout tool. Failed sign-ins are counted in the
database (so every app server sees the same counts) under HMACs of the username with the
client's network (IPv4 /24, IPv6 /64), of the username alone, and of the username with a
browser that has signed in to that account before (the signed ``ikm_device`` cookie, set at
each successful sign-in, 90 days); nothing is stored raw. Within ``LOGIN_FAILURE_WINDOW``
(15 minutes):

- 5 failures for one account from one network: that account is refused (429) from that
  network only. An attacker elsewhere cannot lock the user out, and an office's failures on one
  account do not touch its colleagues' accounts: no limit counts an address across accounts.
- 20 failures for one account from all networks together (a guesser spread over many
  networks): the account then accepts sign-ins only from browsers that signed in to it before,
  each with its own limit of 5. The right password from such a browser always gets through;
  a new browser waits until the window has passed.

So a guesser gets at most 5 tries per account per network and at most 20 per account overall
per 15 minutes (about 2,000 a day), against passwords that must resist 10^8 guesses (zxcvbn
score 3, see :mod:`survey.core.accounts`). A success clears the counts of its network and
browser, never the account's overall count. Time comes from the module-level ``clock`` so
tests can move it instead of sleeping.
"""

from __future__ import annotations

import functools
import secrets
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
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from survey.core import accounts
from survey.core.accounts import (
    LOGIN_ACCOUNT_FAILURE_LIMIT,
    LOGIN_FAILURE_LIMIT,
    LOGIN_FAILURE_WINDOW,
    LOGIN_NETWORK_PREFIXES,
    check_password,
    client_network,
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
DEVICE_COOKIE = "ikm_device"
DEVICE_MAX_AGE = 90 * 24 * 3600
DEVICE_MAX_ACCOUNTS = 5  # accounts one browser is remembered for (a shared office computer)
_DEVICE_SALT = "ikm-staff-device"
F = TypeVar("F", bound=Callable[..., Any])


def role_label(role: str) -> str:
    """Return the name of a role in the current language."""
    labels = {
        "admin": _("Administrator"),
        "evaluator": _("Evaluator"),
        "opd-head": _("Kepala OPD"),
        "enumerator": _("Pencacah"),
    }
    return labels.get(role, role)


# ---------------------------------------------------------------------------------------------
# Throttling


def _failure_keys(username: str, remote_addr: str | None) -> tuple[str, str]:
    """Return the keys a failed sign-in from a new browser counts and is limited under.

    The account with the client's network (``n``), and the account alone (``u``).
    """
    secret = current_app.config["SECRET_KEY"]
    name = normalise_username(username)
    prefixes = tuple(current_app.config["LOGIN_NETWORK_PREFIXES"])
    network = client_network(remote_addr, (int(prefixes[0]), int(prefixes[1])))
    return (
        "n:" + client_key(f"user-network:{name}|{network}", secret),
        "u:" + client_key(f"user:{name}", secret),
    )


def _device_key(username: str, device: str) -> str:
    """Return the key of an account tried from a browser that signed in to it before."""
    name = normalise_username(username)
    return "d:" + client_key(f"user-device:{name}|{device}", current_app.config["SECRET_KEY"])


def _device_serializer() -> URLSafeTimedSerializer:
    """Return the signer of the ``ikm_device`` cookie."""
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_DEVICE_SALT)


def _known_devices() -> list[list[Any]]:
    """Return the [user id, device id] pairs of this browser's device cookie (none if bad)."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw:
        return []
    try:
        value = _device_serializer().loads(raw, max_age=DEVICE_MAX_AGE)
    except BadSignature:  # tampered, foreign or expired (SignatureExpired is one)
        return []
    if not isinstance(value, list):
        return []
    return [
        pair
        for pair in value
        if isinstance(pair, list)
        and len(pair) == 2
        and isinstance(pair[0], int)
        and isinstance(pair[1], str)
    ]


def _device_for(user: User | None) -> str | None:
    """Return this browser's device id for ``user`` if it signed in as them before."""
    if user is None:
        return None
    return next((device for uid, device in _known_devices() if uid == user.id), None)


def _remember_device(response: BaseResponse, user: User, device: str | None) -> None:
    """Set the device cookie so this browser counts as known to ``user`` from now on."""
    others = [pair for pair in _known_devices() if pair[0] != user.id]
    pairs = [[user.id, device or secrets.token_urlsafe(16)], *others][:DEVICE_MAX_ACCOUNTS]
    response.set_cookie(
        DEVICE_COOKIE,
        _device_serializer().dumps(pairs),
        max_age=DEVICE_MAX_AGE,
        path=url_for("auth.login"),  # sent with sign-in requests only
        secure=bool(current_app.config["SESSION_COOKIE_SECURE"]),
        httponly=True,
        samesite="Lax",
    )


# ---------------------------------------------------------------------------------------------
# Sessions and role checks


def _limits() -> dict[str, int]:
    """Return the failure limits by key kind (see the module's paragraph on throttling)."""
    config = current_app.config
    per_source = int(config["LOGIN_FAILURE_LIMIT"])
    return {"n": per_source, "d": per_source, "u": int(config["LOGIN_ACCOUNT_FAILURE_LIMIT"])}


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
    """Return the user the session cookie names if the session is still valid.

    Valid: within its lifetime, the user active with the same session version, and the
    session's row on the server not ended.
    """
    uid, version, since = session.get("uid"), session.get("sv"), session.get("since")
    token = session.get("st")
    if not isinstance(uid, int) or not isinstance(version, int) or not isinstance(token, str):
        return None
    if not isinstance(since, int | float):
        return None
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    if not 0 <= accounts.clock() - since < lifetime:
        return None
    user = accounts.staff_session_user(get_session(), token=token, user_id=uid)
    if user is None or not user.active or user.session_version != version:
        return None
    return user


def start_session(user: User) -> None:
    """Sign ``user`` in: a fresh permanent session naming the user, its version and a new
    server-side session."""
    assert user.id is not None
    token = accounts.open_staff_session(
        get_session(), user_id=user.id, lifetime=current_app.permanent_session_lifetime
    )
    session.clear()  # never carry anything of an earlier session over (session fixation)
    session.permanent = True
    session["uid"] = user.id
    session["sv"] = user.session_version
    session["since"] = accounts.clock()
    session["st"] = token
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
    user = get_user(db, username=creds.username)
    network_key, account_key = _failure_keys(creds.username, request.remote_addr)
    device = _device_for(user)
    # A browser that signed in to this account before has a limit of its own; any other is
    # limited per network and, past the account's overall limit, refused.
    if device is not None:
        limited: tuple[str, ...] = (_device_key(creds.username, device),)
    else:
        limited = (network_key, account_key)
    if throttled(db, limited, limits=_limits(), window=_window()):
        return _throttled_page()
    # Always check a hash, so an unknown name takes as long as a wrong password.
    matches = check_password(user.password_hash if user else accounts.dummy_hash(), creds.password)
    if user is None or not matches or not user.active:
        counted = (limited[0], account_key) if device is not None else limited
        record_failure(db, counted, window=_window())
        error = _("Nama pengguna atau kata sandi salah.")
        return _login_page(username=creds.username, error=error)
    reset_failures(db, *limited[:1])  # this network's or this browser's count, not the account's
    user.last_login_at = utcnow()
    db.add(user)
    db.commit()
    start_session(user)
    response = redirect(next_url or url_for("auth.workspace"))
    _remember_device(response, user, device)
    return response


def _throttled_page() -> ResponseReturnValue:
    """Answer 429 with a page saying how long to wait."""
    minutes = max(1, round(float(current_app.config["LOGIN_FAILURE_WINDOW"]) / 60))
    response = make_response(render_template("auth/throttled.html", minutes=minutes), 429)
    response.headers["Retry-After"] = str(int(current_app.config["LOGIN_FAILURE_WINDOW"]))
    return response


@bp.post("/keluar")
def logout() -> ResponseReturnValue:
    """Sign out (POST with the CSRF token, so no other site can sign anyone out).

    The session's row on the server ends, so the cookie is refused even if a copy survives.
    """
    end_current_session()
    return redirect(url_for("auth.login"))


def end_current_session() -> None:
    """End this browser's staff session, on the server too (its cookie opens nothing after)."""
    token = session.get("st")
    if isinstance(token, str):
        accounts.end_staff_session(get_session(), token=token)
    session.clear()
    g.ikm_user = None


@bp.get("/kerja")
@login_required
def workspace() -> ResponseReturnValue:
    """The signed-in landing page: who is signed in, their role and their OPD."""
    user = current_user()
    assert user is not None  # login_required
    if user.role == "enumerator":
        return redirect(url_for("enumerators.home"))  # its own page is all it may open
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
    app.config.setdefault("LOGIN_ACCOUNT_FAILURE_LIMIT", LOGIN_ACCOUNT_FAILURE_LIMIT)
    app.config.setdefault("LOGIN_NETWORK_PREFIXES", LOGIN_NETWORK_PREFIXES)
    app.config.setdefault("LOGIN_FAILURE_WINDOW", LOGIN_FAILURE_WINDOW)
    app.register_blueprint(bp)
    app.register_error_handler(403, render_forbidden)

    @app.context_processor
    def inject_user() -> dict[str, Any]:
        """Give templates the signed-in user (None for citizens)."""
        return {"current_user": current_user}

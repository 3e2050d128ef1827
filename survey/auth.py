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
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click
import sqlalchemy as sa
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
from flask.cli import AppGroup
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlmodel import Session, col, select
from werkzeug.exceptions import HTTPException
from werkzeug.security import check_password_hash, generate_password_hash

from .antiabuse import client_key
from .db import command_session, get_session
from .models import USER_ROLES, AuditLog, LoginFailure, Opd, User, utcnow

bp = Blueprint("auth", __name__)

# The name of the hash method, not a password.
PASSWORD_METHOD = "scrypt"  # nosec B105
PASSWORD_MIN_LENGTH = 10
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
SESSION_LIFETIME = timedelta(hours=8)
LOGIN_FAILURE_LIMIT = 5  # per username
# Per client address: higher, as the staff of one office often share one NAT address; it
# stops one address from trying a few passwords on each of many names.
LOGIN_ADDRESS_FAILURE_LIMIT = 20
LOGIN_FAILURE_WINDOW = 15 * 60  # seconds
F = TypeVar("F", bound=Callable[..., Any])


def clock() -> float:
    """Return the current time in seconds; tests monkeypatch this instead of sleeping."""
    return time.time()


def _now() -> datetime:
    """Return ``clock()`` as an aware UTC datetime."""
    return datetime.fromtimestamp(clock(), UTC)


def role_label(role: str) -> str:
    """Return the name of a role in the current language."""
    labels = {
        "admin": _("Administrator"),
        "evaluator": _("Evaluator"),
        "opd-head": _("Kepala OPD"),
    }
    return labels.get(role, role)


class AccountError(ValueError):
    """An account cannot be created or changed as asked; the message says why."""


# ---------------------------------------------------------------------------------------------
# Passwords


def hash_password(password: str) -> str:
    """Return the scrypt hash of ``password`` (salted; never the password itself)."""
    return generate_password_hash(password, method=PASSWORD_METHOD)


def check_password(password_hash: str, password: str) -> bool:
    """Return True if ``password`` matches ``password_hash``."""
    return check_password_hash(password_hash, password)


@functools.cache
def _dummy_hash() -> str:
    """A hash of a random password, checked when the username is unknown (same timing)."""
    return hash_password(secrets.token_urlsafe(16))


# ---------------------------------------------------------------------------------------------
# Accounts (data access: the session is passed in, the caller's transaction is committed here)


def normalise_username(username: str) -> str:
    """Return the stored form of a username: stripped and in lower case."""
    return username.strip().lower()


def get_user(session: Session, *, username: str) -> User | None:
    """Return the user called ``username`` (case-insensitive), if any."""
    name = normalise_username(username)
    if "\x00" in name:
        return None  # no stored name has one, and PostgreSQL refuses NUL in a parameter
    return session.exec(select(User).where(User.username == name)).first()


def list_users(session: Session) -> list[tuple[User, Opd | None]]:
    """Return every user with their OPD (None unless an OPD head), by username."""
    statement = (
        select(User, Opd)
        .join(Opd, col(User.opd_id) == Opd.id, isouter=True)
        .order_by(User.username)
    )
    return [(user, opd) for user, opd in session.exec(statement).all()]


def audit(session: Session, *, actor: str | None, action: str, **detail: Any) -> AuditLog:
    """Add an audit log entry to the session (committed with the change it records)."""
    entry = AuditLog(at=utcnow(), actor=actor, action=action, detail=detail)
    session.add(entry)
    return entry


def _resolve_role(session: Session, *, role: str, opd_slug: str | None) -> Opd | None:
    """Check a role and its OPD; return the OPD of an OPD head, None for the other roles."""
    if role not in USER_ROLES:
        raise AccountError(f"unknown role {role!r}: use one of {', '.join(USER_ROLES)}")
    if role != "opd-head":
        if opd_slug:
            raise AccountError(f"--opd is only for the opd-head role, not for {role!r}")
        return None
    if not opd_slug:
        raise AccountError("the opd-head role needs --opd SLUG (the OPD this user heads)")
    opd = session.exec(select(Opd).where(Opd.slug == opd_slug)).first()
    if opd is None:
        raise AccountError(f"unknown OPD {opd_slug!r}; see 'ikm opd list'")
    return opd


def check_new_user(
    session: Session, *, username: str, role: str, opd_slug: str | None
) -> tuple[str, Opd | None]:
    """Check a new user's name, role and OPD; return the stored name and the OPD."""
    name = normalise_username(username)
    if not USERNAME_PATTERN.fullmatch(name):
        raise AccountError(
            f"{username!r} is not a valid username: use 2 to 64 letters, digits, '.', '_' or "
            "'-', starting with a letter or digit"
        )
    if get_user(session, username=name) is not None:
        raise AccountError(f"user {name!r} already exists")
    return name, _resolve_role(session, role=role, opd_slug=opd_slug)


def check_password_strength(password: str) -> None:
    """Refuse a password shorter than ``PASSWORD_MIN_LENGTH`` characters."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise AccountError(
            f"the password is too short: use at least {PASSWORD_MIN_LENGTH} characters"
        )


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    opd_slug: str | None = None,
    actor: str | None = None,
) -> User:
    """Create a user after checking every rule; write an audit entry; commit."""
    name, opd = check_new_user(session, username=username, role=role, opd_slug=opd_slug)
    check_password_strength(password)
    user = User(
        username=name,
        password_hash=hash_password(password),
        role=role,
        opd_id=opd.id if opd else None,
    )
    session.add(user)
    audit(
        session,
        actor=actor,
        action="user.create",
        username=name,
        role=role,
        opd=opd.slug if opd else None,
    )
    session.commit()
    return user


def set_role(
    session: Session,
    *,
    username: str,
    role: str,
    opd_slug: str | None = None,
    actor: str | None = None,
) -> User:
    """Change a user's role (and OPD), sign them out everywhere, write an audit entry; commit.

    Refuses to demote the last active administrator, and (on the web, where ``actor`` is
    known) an administrator demoting themself.
    """
    user = get_user(session, username=username)
    if user is None:
        raise AccountError(f"unknown user {username!r}")
    opd = _resolve_role(session, role=role, opd_slug=opd_slug)
    if role != "admin":
        check_keeps_admin(session, user=user, actor=actor, change="demote")
    old_opd = session.get(Opd, user.opd_id) if user.opd_id else None
    before = {"role": user.role, "opd": old_opd.slug if old_opd else None}
    user.role = role
    user.opd_id = opd.id if opd else None
    user.session_version += 1
    session.add(user)
    audit(
        session,
        actor=actor,
        action="user.role",
        username=user.username,
        before=before,
        after={"role": role, "opd": opd.slug if opd else None},
    )
    session.commit()
    return user


class AdminGuardError(AccountError):
    """A change would lock administrators out (reason: self-demote, self-deactivate, last-admin)."""

    def __init__(self, message: str, *, reason: str) -> None:
        """Keep the reason code (the web pages say it in the user's language)."""
        super().__init__(message)
        self.reason = reason


def check_keeps_admin(session: Session, *, user: User, actor: str | None, change: str) -> None:
    """Refuse to demote or deactivate (``change``) oneself or the last active administrator."""
    if actor is not None and normalise_username(actor) == user.username:
        raise AdminGuardError(f"you cannot {change} yourself", reason=f"self-{change}")
    if user.role != "admin" or not user.active:
        return
    # Lock the active admins' rows, so two admins demoting each other at once cannot both
    # pass this check (SQLite serialises writers anyway).
    admins = session.exec(
        select(User.id).where(User.role == "admin", User.active == True).with_for_update()  # noqa: E712
    ).all()
    if len(admins) <= 1:
        raise AdminGuardError(
            f"{user.username!r} is the last active administrator", reason="last-admin"
        )


def set_password(
    session: Session, *, username: str, password: str, actor: str | None = None
) -> User:
    """Set a user's password, sign them out everywhere, write an audit entry; commit.

    The audit entry names the user only: never the password, never its hash.
    """
    user = get_user(session, username=username)
    if user is None:
        raise AccountError(f"unknown user {username!r}")
    check_password_strength(password)
    user.password_hash = hash_password(password)
    user.session_version += 1
    session.add(user)
    audit(session, actor=actor, action="user.password", username=user.username)
    session.commit()
    return user


def set_active(session: Session, *, username: str, active: bool, actor: str | None = None) -> User:
    """Deactivate (signing them out everywhere) or reactivate a user; audit; commit.

    Refuses to deactivate oneself or the last active administrator, and a change to the state
    the user already is in.
    """
    user = get_user(session, username=username)
    if user is None:
        raise AccountError(f"unknown user {username!r}")
    if user.active == active:
        raise AccountError(
            f"user {user.username!r} is already {'active' if active else 'inactive'}"
        )
    if not active:
        check_keeps_admin(session, user=user, actor=actor, change="deactivate")
    user.active = active
    user.session_version += 1
    session.add(user)
    audit(
        session,
        actor=actor,
        action="user.activate" if active else "user.deactivate",
        username=user.username,
    )
    session.commit()
    return user


def guard_message(reason: str) -> str:
    """Return why an administrator change was refused, in the current language."""
    messages = {
        "self-demote": _("Anda tidak dapat menurunkan peran akun Anda sendiri."),
        "self-deactivate": _("Anda tidak dapat menonaktifkan akun Anda sendiri."),
        "last-admin": _(
            "Ini administrator aktif terakhir; jadikan pengguna lain administrator lebih dulu."
        ),
    }
    return messages.get(reason, reason)


def password_form_errors(password: str, confirmation: str) -> dict[str, str]:
    """Return the web form's errors for a new password and its confirmation, by field."""
    errors = {}
    if not password:
        errors["password"] = _("Isi kata sandi.")
    elif len(password) < PASSWORD_MIN_LENGTH:
        errors["password"] = _(
            "Kata sandi terlalu pendek: paling sedikit %(n)s karakter.", n=PASSWORD_MIN_LENGTH
        )
    elif password != confirmation:
        errors["confirmation"] = _("Konfirmasi kata sandi tidak sama.")
    return errors


def role_form_errors(session: Session, *, role: str, opd_slug: str | None) -> dict[str, str]:
    """Return the web form's errors for a role and its OPD, by field (as ``_resolve_role``)."""
    if role not in USER_ROLES:
        return {"role": _("Pilih salah satu peran.")}
    if role != "opd-head":
        return {}
    if not opd_slug:
        return {"opd": _("Pilih OPD yang dipimpin kepala OPD ini.")}
    if session.exec(select(Opd).where(Opd.slug == opd_slug)).first() is None:
        return {"opd": _("OPD ini tidak dikenal.")}
    return {}


def new_user_form_errors(
    session: Session,
    *,
    username: str,
    role: str,
    opd_slug: str | None,
    password: str,
    confirmation: str,
) -> dict[str, str]:
    """Return the new-user form's errors by field (``check_new_user``'s rules, in words)."""
    errors = {}
    name = normalise_username(username)
    if not name:
        errors["username"] = _("Isi nama pengguna.")
    elif not USERNAME_PATTERN.fullmatch(name):
        errors["username"] = _(
            "Nama pengguna 2 sampai 64 karakter: huruf, angka, '.', '_' atau '-', diawali "
            "huruf atau angka."
        )
    elif get_user(session, username=name) is not None:
        errors["username"] = _("Nama pengguna ini sudah dipakai.")
    errors.update(role_form_errors(session, role=role, opd_slug=opd_slug))
    errors.update(password_form_errors(password, confirmation))
    return errors


# ---------------------------------------------------------------------------------------------
# Throttling


def _failure_keys(username: str, remote_addr: str | None) -> tuple[str, str]:
    """Return the keys a failed sign-in is counted under: the username and the address."""
    secret = current_app.config["SECRET_KEY"]
    user_key = "u:" + client_key(f"user:{normalise_username(username)}", secret)
    return user_key, "a:" + client_key(remote_addr, secret)


def _window_start() -> datetime:
    """Return the start of the failure-counting window."""
    return _now() - timedelta(seconds=float(current_app.config["LOGIN_FAILURE_WINDOW"]))


def throttled(session: Session, keys: tuple[str, ...]) -> bool:
    """Return True once any key has reached the limit of failures within the window."""
    statement = (
        select(LoginFailure.key, sa.func.count())
        .where(col(LoginFailure.key).in_(keys), LoginFailure.at > _window_start())
        .group_by(LoginFailure.key)
    )
    config = current_app.config
    limits = {
        "u": int(config["LOGIN_FAILURE_LIMIT"]),
        "a": int(config["LOGIN_ADDRESS_FAILURE_LIMIT"]),
    }
    return any(count >= limits[key[0]] for key, count in session.exec(statement).all())


def record_failure(session: Session, keys: tuple[str, ...]) -> None:
    """Count one failed sign-in under each key, dropping failures older than the window."""
    session.execute(sa.delete(LoginFailure).where(col(LoginFailure.at) <= _window_start()))
    now = _now()
    session.add_all([LoginFailure(key=key, at=now) for key in keys])
    session.commit()


def reset_failures(session: Session, key: str) -> None:
    """Forget the failures counted under ``key`` (after a successful sign-in)."""
    session.execute(sa.delete(LoginFailure).where(col(LoginFailure.key) == key))


# ---------------------------------------------------------------------------------------------
# Sessions and role checks


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
    if not 0 <= clock() - since < lifetime:
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
    session["since"] = clock()
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

        return wrapped  # type: ignore[return-value]

    return decorator


# ---------------------------------------------------------------------------------------------
# Views


@dataclass(frozen=True)
class Credentials:
    """What the sign-in form sent."""

    username: str
    password: str

    @classmethod
    def from_form(cls, form: Any) -> Credentials:
        """Read the credentials from a submitted form (missing fields are empty)."""
        return cls(
            username=normalise_username(form.get("username", ""))[:64],
            password=form.get("password", "")[:1024],
        )


def _login_page(
    *, username: str = "", error: str | None = None, field_errors: dict[str, str] | None = None
) -> str:
    """Render the sign-in page."""
    return render_template(
        "auth/login.html",
        username=username,
        error=error,
        field_errors=field_errors or {},
        next=safe_next(request.values.get("next")),
    )


@bp.route("/masuk", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Show the sign-in form, and sign in with a username and password."""
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_user() is not None:
            return redirect(next_url or url_for("auth.workspace"))
        return _login_page()
    creds = Credentials.from_form(request.form)
    field_errors = {}
    if not creds.username:
        field_errors["username"] = _("Isi nama pengguna.")
    if not creds.password:
        field_errors["password"] = _("Isi kata sandi.")
    if field_errors:
        return _login_page(username=creds.username, field_errors=field_errors)
    db = get_session()
    keys = _failure_keys(creds.username, request.remote_addr)
    if throttled(db, keys):
        return _throttled_page()
    user = get_user(db, username=creds.username)
    # Always check a hash, so an unknown name takes as long as a wrong password.
    matches = check_password(user.password_hash if user else _dummy_hash(), creds.password)
    if user is None or not matches or not user.active:
        record_failure(db, keys)
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

user_group = AppGroup("user", help="Manage the accounts of administrators, evaluators, OPD heads.")


@user_group.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(USER_ROLES), help="The user's role.")
@click.option("--opd", "opd_slug", default=None, help="The OPD an opd-head user heads (slug).")
@click.option("--password", default=None, help="The password; asked for when left out.")
def user_add_command(name: str, role: str, opd_slug: str | None, password: str | None) -> None:
    """Create a user; prompts for the password (twice) unless --password is given."""
    with command_session() as db:
        # Check everything that needs no password first, so no one types one for nothing.
        try:
            check_new_user(db, username=name, role=role, opd_slug=opd_slug)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from None
        if password is None:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        try:
            user = create_user(db, username=name, password=password, role=role, opd_slug=opd_slug)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"User {user.username!r} created with role {role}.")


@user_group.command("role")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(USER_ROLES), help="The new role.")
@click.option("--opd", "opd_slug", default=None, help="The OPD an opd-head user heads (slug).")
def user_role_command(name: str, role: str, opd_slug: str | None) -> None:
    """Change a user's role (signs them out everywhere; written to the audit log)."""
    with command_session() as db:
        try:
            user = set_role(db, username=name, role=role, opd_slug=opd_slug)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"User {user.username!r} now has role {role}.")


@user_group.command("list")
def user_list_command() -> None:
    """List users: username, then tab-separated role, OPD slug (or '-') and active."""
    with command_session() as db:
        for user, opd in list_users(db):
            active = "active" if user.active else "inactive"
            click.echo(f"{user.username}\t{user.role}\t{opd.slug if opd else '-'}\t{active}")


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
    app.cli.add_command(user_group)

    @app.context_processor
    def inject_user() -> dict[str, Any]:
        """Give templates the signed-in user (None for citizens)."""
        return {"current_user": current_user}

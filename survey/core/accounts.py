"""Accounts and roles: users, password hashes, role changes and the sign-in failure counts.

Passwords are stored only as salted scrypt hashes in Werkzeug's format
(``scrypt:N:r:p$salt$hex``), made and checked with the standard library's ``hashlib.scrypt``
so that this module needs no web package; hashes written by earlier versions (through
Werkzeug) check unchanged. Failed sign-ins are counted in the database per key (an HMAC made
by the web layer of the username with the client's network, of the username alone, or of the
username with a browser that signed in before), so every app server sees the same counts; the
limits and why they are shaped so are in :mod:`survey.web.signin`. A signed-in browser holds a
random token whose SHA-256 is a ``StaffSession`` row: signing out ends the row, so a copied
cookie is worthless afterwards. Role, password and state changes bump ``session_version`` and
end every session row of the user, which signs them out everywhere. Time comes from the
module-level ``clock`` so tests can move it instead of sleeping.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import re
import secrets
import string
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select
from zxcvbn import zxcvbn

from survey.core.audit import audit
from survey.core.models import USER_ROLES, LoginFailure, Opd, StaffSession, User
from survey.core.problems import Problem, ProblemError, define, problem

# The name of the hash method, not a password.
PASSWORD_METHOD = "scrypt"  # nosec B105
# scrypt's cost (N, r, p): Werkzeug's default, about 32 MiB and a few tens of milliseconds per
# hash. Only the tests of other things lower it (tests/conftest.py); a hash records its own
# cost, so a stored hash checks whatever this is now.
SCRYPT_COST = (2**15, 8, 1)
SALT_CHARS = string.ascii_letters + string.digits
PASSWORD_MIN_LENGTH = 10
# zxcvbn's score (0..4) a new password must reach: 3 is "safely unguessable", about 10^8
# guesses, enough against online guessing at the sign-in throttle's pace.
PASSWORD_MIN_SCORE = 3
# zxcvbn's work grows with the length, and it refuses (ValueError) more than 72 characters by
# default; what lies past this adds only strength, not weakness.
PASSWORD_CHECKED_LENGTH = 72
# Words of this application and its setting that a guesser tries first, besides the user name.
APP_WORDS = (
    "ikm",
    "skm",
    "survei",
    "survey",
    "kepuasan",
    "masyarakat",
    "indeks",
    "layanan",
    "pelayanan",
    "publik",
    "opd",
    "pemda",
    "pemkot",
    "pemkab",
    "kota",
    "kabupaten",
    "admin",
    "administrator",
    "evaluator",
    "kepala",
    "katasandi",
    "sandi",
    "rahasia",
    "masuk",
)
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
# Failed sign-ins per window: the hard limit for one account from one client network (or from
# one browser that signed in to it before) ...
LOGIN_FAILURE_LIMIT = 5
# ... and for one account from everywhere together, past which only such browsers may try.
LOGIN_ACCOUNT_FAILURE_LIMIT = 20
LOGIN_FAILURE_WINDOW = 15 * 60  # seconds
# A client's network: the addresses one subscriber or one office usually holds.
LOGIN_NETWORK_PREFIXES = (24, 64)  # IPv4, IPv6


def clock() -> float:
    """Return the current time in seconds; tests monkeypatch this instead of sleeping."""
    return time.time()


def _now() -> datetime:
    """Return ``clock()`` as an aware UTC datetime."""
    return datetime.fromtimestamp(clock(), UTC)


define(
    {
        "role-unknown": "unknown role {value!r}: use one of {roles}",
        "role-needs-opd": "the opd-head role needs the OPD the user heads",
        "role-no-opd": "only the opd-head role has an OPD, not {role!r}",
        "user-opd-unknown": "unknown OPD {value!r}",
        "username-required": "the username is empty",
        "username-invalid": (
            "{value!r} is not a valid username: use 2 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        ),
        "username-taken": "user {value!r} already exists",
        "password-required": "the password is empty",
        "password-too-short": "the password is too short: use at least {limit} characters",
        "password-weak": "the password is too easy to guess: {advice}",
        "user-unknown": "unknown user {value!r}",
        "user-already-active": "user {value!r} is already active",
        "user-already-inactive": "user {value!r} is already inactive",
        "admin-self-demote": "you cannot demote yourself",
        "admin-self-deactivate": "you cannot deactivate yourself",
        "admin-last": "{value!r} is the last active administrator",
        "role-not-yours": "a user with role {actor_role!r} cannot give the role {role!r}",
    }
)

# The roles each signed-in role may give a new account: an evaluator makes its enumerators and
# nothing else; an OPD head and an enumerator make none. The operator at the command line
# (no actor role) may give any.
CREATABLE_ROLES: dict[str, tuple[str, ...]] = {
    "admin": USER_ROLES,
    "evaluator": ("enumerator",),
}


class AccountError(ProblemError):
    """An account cannot be created or changed as asked; ``problems`` say why, by field."""


def _scrypt(password: str, salt: str, n: int, r: int, p: int) -> str:
    """Return scrypt's key for ``password`` and ``salt`` in hex (Werkzeug's computation)."""
    # Werkzeug's memory bound (132 * n * r * p), plus room for OpenSSL's fixed overhead, which
    # that bound leaves out and which only matters at the tests' tiny cost.
    maxmem = 132 * n * r * p + 2**20
    key = hashlib.scrypt(password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=maxmem)
    return key.hex()


def hash_password(password: str) -> str:
    """Return the salted scrypt hash of ``password`` (never the password itself)."""
    n, r, p = SCRYPT_COST
    salt = "".join(secrets.choice(SALT_CHARS) for _ in range(16))
    return f"{PASSWORD_METHOD}:{n}:{r}:{p}${salt}${_scrypt(password, salt, n, r, p)}"


def check_password(password_hash: str, password: str) -> bool:
    """Return True if ``password`` matches ``password_hash`` (False for a malformed hash)."""
    try:
        method, salt, expected = password_hash.split("$", 2)
        name, *args = method.split(":")
        n, r, p = (int(arg) for arg in args)
    except ValueError:
        return False
    if name != PASSWORD_METHOD:
        return False
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), expected)


@functools.cache
def dummy_hash() -> str:
    """A hash of a random password, checked when the username is unknown (same timing)."""
    return hash_password(secrets.token_urlsafe(16))


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


def role_problems(session: Session, *, role: str, opd_slug: str | None) -> list[Problem]:
    """Return what is wrong with a role and its OPD (fields ``role`` and ``opd``)."""
    if role not in USER_ROLES:
        return [problem("role-unknown", "role", value=role, roles=", ".join(USER_ROLES))]
    if role != "opd-head":
        return [problem("role-no-opd", "opd", role=role)] if opd_slug else []
    if not opd_slug:
        return [problem("role-needs-opd", "opd")]
    if _find_opd(session, opd_slug) is None:
        return [problem("user-opd-unknown", "opd", value=opd_slug)]
    return []


def _find_opd(session: Session, slug: str) -> Opd | None:
    """Return the OPD with this slug, if any."""
    return session.exec(select(Opd).where(Opd.slug == slug)).first()


def _resolve_role(session: Session, *, role: str, opd_slug: str | None) -> Opd | None:
    """Check a role and its OPD; return the OPD of an OPD head, None for the other roles."""
    problems = role_problems(session, role=role, opd_slug=opd_slug)
    if problems:
        raise AccountError(problems)
    return _find_opd(session, opd_slug) if role == "opd-head" and opd_slug else None


def password_problems(password: str, *, username: str | None = None) -> list[Problem]:
    """Return what is wrong with a new password (field ``password``).

    Beyond the length, zxcvbn (a maintained estimator with lists of common passwords, names
    and words, and patterns such as keyboard rows, dates and repeats) must score it at least
    ``PASSWORD_MIN_SCORE``, with the user name and ``APP_WORDS`` as words a guesser knows.
    The problem carries zxcvbn's own feedback (English sentences from a fixed set, which the
    web translates) as ``warning`` and ``suggestions``.
    """
    if not password:
        return [problem("password-required", "password")]
    if len(password) < PASSWORD_MIN_LENGTH:
        return [problem("password-too-short", "password", limit=PASSWORD_MIN_LENGTH)]
    inputs = [*APP_WORDS, *([normalise_username(username)] if username else [])]
    result = zxcvbn(password[:PASSWORD_CHECKED_LENGTH], user_inputs=inputs)
    if result["score"] >= PASSWORD_MIN_SCORE:
        return []
    warning = str(result["feedback"].get("warning") or "")
    suggestions = tuple(str(s) for s in result["feedback"].get("suggestions") or ())
    advice = " ".join([warning, *suggestions]).strip() or "use a few uncommon words"
    return [
        problem(
            "password-weak", "password", warning=warning, suggestions=suggestions, advice=advice
        )
    ]


def new_user_problems(
    session: Session, *, username: str, role: str, opd_slug: str | None, password: str | None
) -> list[Problem]:
    """Return every problem of a new user's fields at once (``password=None``: not checked).

    Fields: ``username``, ``role``, ``opd`` and ``password``; nothing is written, so a form
    can show each field's problem together.
    """
    problems: list[Problem] = []
    name = normalise_username(username)
    if not name:
        problems.append(problem("username-required", "username"))
    elif not USERNAME_PATTERN.fullmatch(name):
        problems.append(problem("username-invalid", "username", value=username))
    elif get_user(session, username=name) is not None:
        problems.append(problem("username-taken", "username", value=name))
    problems += role_problems(session, role=role, opd_slug=opd_slug)
    if password is not None:
        problems += password_problems(password, username=name)
    return problems


def check_new_user(
    session: Session, *, username: str, role: str, opd_slug: str | None
) -> tuple[str, Opd | None]:
    """Check a new user's name, role and OPD; return the stored name and the OPD."""
    problems = new_user_problems(
        session, username=username, role=role, opd_slug=opd_slug, password=None
    )
    if problems:
        raise AccountError(problems)
    return normalise_username(username), _resolve_role(session, role=role, opd_slug=opd_slug)


def check_actor_may_give(*, actor_role: str | None, role: str) -> None:
    """Refuse a role the acting user may not give (``actor_role`` None: the operator)."""
    if actor_role is not None and role not in CREATABLE_ROLES.get(actor_role, ()):
        raise AccountError([problem("role-not-yours", "role", actor_role=actor_role, role=role)])


def check_password_strength(password: str, *, username: str | None = None) -> None:
    """Refuse an empty, short or guessable password (see :func:`password_problems`)."""
    problems = password_problems(password, username=username)
    if problems:
        raise AccountError(problems)


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    opd_slug: str | None = None,
    actor: str | None = None,
    actor_role: str | None = None,
) -> User:
    """Create a user after checking every rule; write an audit entry; commit.

    ``actor_role`` is the role of the signed-in user creating it: an evaluator may create
    enumerators only (:data:`CREATABLE_ROLES`); None is the operator, who may create any.
    """
    check_actor_may_give(actor_role=actor_role, role=role)
    problems = new_user_problems(
        session, username=username, role=role, opd_slug=opd_slug, password=password
    )
    if problems:
        raise AccountError(problems)
    name = normalise_username(username)
    opd = _resolve_role(session, role=role, opd_slug=opd_slug)
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
    actor_role: str | None = None,
) -> User:
    """Change a user's role (and OPD), sign them out everywhere, write an audit entry; commit.

    Refuses to demote the last active administrator, and (on the web, where ``actor`` is
    known) an administrator demoting themself. Only an administrator (or the operator,
    ``actor_role`` None) changes roles.
    """
    if actor_role not in (None, "admin"):
        raise AccountError([problem("role-not-yours", "role", actor_role=actor_role, role=role)])
    user = get_user(session, username=username)
    if user is None:
        raise AccountError([problem("user-unknown", "username", value=username)])
    opd = _resolve_role(session, role=role, opd_slug=opd_slug)
    if role != "admin":
        check_keeps_admin(session, user=user, actor=actor, change="demote")
    old_opd = session.get(Opd, user.opd_id) if user.opd_id else None
    before = {"role": user.role, "opd": old_opd.slug if old_opd else None}
    user.role = role
    user.opd_id = opd.id if opd else None
    user.session_version += 1
    session.add(user)
    if user.id is not None:
        end_user_sessions(session, user_id=user.id)
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
    """A change would lock administrators out (oneself, or the last active administrator)."""


def check_keeps_admin(session: Session, *, user: User, actor: str | None, change: str) -> None:
    """Refuse to demote or deactivate (``change``) oneself or the last active administrator.

    The problem's field is the form field of the change: ``role`` or ``active``.
    """
    field_name = "role" if change == "demote" else "active"
    if actor is not None and normalise_username(actor) == user.username:
        raise AdminGuardError([problem(f"admin-self-{change}", field_name)])
    if user.role != "admin" or not user.active:
        return
    # Lock the active admins' rows, so two admins demoting each other at once cannot both
    # pass this check (SQLite serialises writers anyway).
    admins = session.exec(
        select(User.id).where(User.role == "admin", User.active == True).with_for_update()  # noqa: E712
    ).all()
    if len(admins) <= 1:
        raise AdminGuardError([problem("admin-last", field_name, value=user.username)])


def set_password(
    session: Session, *, username: str, password: str, actor: str | None = None
) -> User:
    """Set a user's password, sign them out everywhere, write an audit entry; commit.

    The audit entry names the user only: never the password, never its hash.
    """
    user = get_user(session, username=username)
    if user is None:
        raise AccountError([problem("user-unknown", "username", value=username)])
    check_password_strength(password, username=user.username)
    user.password_hash = hash_password(password)
    user.session_version += 1
    session.add(user)
    if user.id is not None:
        end_user_sessions(session, user_id=user.id)
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
        raise AccountError([problem("user-unknown", "username", value=username)])
    if user.active == active:
        code = "user-already-active" if active else "user-already-inactive"
        raise AccountError([problem(code, "active", value=user.username)])
    if not active:
        check_keeps_admin(session, user=user, actor=actor, change="deactivate")
    user.active = active
    user.session_version += 1
    session.add(user)
    if user.id is not None:
        end_user_sessions(session, user_id=user.id)
    audit(
        session,
        actor=actor,
        action="user.activate" if active else "user.deactivate",
        username=user.username,
    )
    session.commit()
    return user


def client_network(address: str | None, prefixes: tuple[int, int] = LOGIN_NETWORK_PREFIXES) -> str:
    """Return the network of a client address (IPv4 /24, IPv6 /64 by default) as text.

    >>> client_network("203.0.113.77"), client_network("2001:db8:1:2:3:4:5:6")
    ('203.0.113.0/24', '2001:db8:1:2::/64')
    """
    try:
        parsed = ipaddress.ip_address((address or "").split("%", 1)[0])
    except ValueError:
        return address or "unknown"
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    prefix = prefixes[0] if parsed.version == 4 else prefixes[1]
    return str(ipaddress.ip_network(f"{parsed}/{prefix}", strict=False))


def throttled(
    session: Session, keys: tuple[str, ...], *, limits: dict[str, int], window: float
) -> bool:
    """Return True once any key has reached its limit of failures within ``window`` seconds.

    A key's first letter selects its limit in ``limits`` (``n``: an account from a network,
    ``u``: an account from anywhere, ``d``: an account from a browser that signed in before).
    """
    statement = (
        select(LoginFailure.key, sa.func.count())
        .where(
            col(LoginFailure.key).in_(keys), LoginFailure.at > _now() - timedelta(seconds=window)
        )
        .group_by(LoginFailure.key)
    )
    return any(count >= limits[key[0]] for key, count in session.exec(statement).all())


def record_failure(session: Session, keys: tuple[str, ...], *, window: float) -> None:
    """Count one failed sign-in under each key, dropping failures older than the window."""
    start = _now() - timedelta(seconds=window)
    session.execute(sa.delete(LoginFailure).where(col(LoginFailure.at) <= start))
    now = _now()
    session.add_all([LoginFailure(key=key, at=now) for key in keys])
    session.commit()


def reset_failures(session: Session, *keys: str) -> None:
    """Forget the failures counted under ``keys`` (after a successful sign-in)."""
    session.execute(sa.delete(LoginFailure).where(col(LoginFailure.key).in_(keys)))


# ---------------------------------------------------------------------------------------------
# Staff sessions on the server


def token_hash(token: str) -> str:
    """Return the SHA-256 of a session token in hex: all the database ever holds of it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def open_staff_session(session: Session, *, user_id: int, lifetime: timedelta) -> str:
    """Start a server-side session for a user; return its random token; commit.

    Rows that ended, or began more than ``lifetime`` ago, are deleted on the way.
    """
    now = _now()
    over = sa.or_(
        col(StaffSession.ended_at).is_not(None), col(StaffSession.created_at) < now - lifetime
    )
    session.execute(sa.delete(StaffSession).where(over))
    token = secrets.token_urlsafe(32)
    row = StaffSession(token_hash=token_hash(token), user_id=user_id, created_at=now)
    row.last_seen_at = now
    session.add(row)
    session.commit()
    return token


def staff_session_user(session: Session, *, token: str, user_id: int) -> User | None:
    """Return the user of a session token that is not ended and belongs to ``user_id``."""
    statement = (
        select(User)
        .join(StaffSession, col(StaffSession.user_id) == User.id)
        .where(
            StaffSession.token_hash == token_hash(token),
            col(StaffSession.ended_at).is_(None),
            User.id == user_id,
        )
    )
    return session.exec(statement).first()


def end_staff_session(session: Session, *, token: str) -> bool:
    """End the session of ``token`` (sign-out); return False if it was unknown or ended; commit."""
    result = session.execute(
        sa.update(StaffSession)
        .where(
            col(StaffSession.token_hash) == token_hash(token), col(StaffSession.ended_at).is_(None)
        )
        .values(ended_at=_now())
    )
    session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def end_user_sessions(session: Session, *, user_id: int) -> None:
    """End every open session of a user (in the caller's transaction: no commit)."""
    session.execute(
        sa.update(StaffSession)
        .where(col(StaffSession.user_id) == user_id, col(StaffSession.ended_at).is_(None))
        .values(ended_at=_now())
    )

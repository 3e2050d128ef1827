"""Settings: defaults, then the instance folder, then ``IKM_*`` environment variables.

Secrets never have a usable default. In production (``IKM_ENV=production``) the app refuses to
start without a real secret key: one of at least ``SECRET_KEY_MIN_LENGTH`` characters, of more
than a handful of different characters, and none of the ``KNOWN_SECRETS`` (every key that was
ever written in this repository: a key anyone can read signs anyone's session;
tests/test_secrets.py scans the repository for new ones). In development a missing,
placeholder or very short key is replaced by a random one that lives only as long as the
process (``ikm init-db`` and ``ikm demo`` write a persistent one to ``instance/secret_key``).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "changethis", "secret", "dev", "development", "placeholder"}
)
# Secret keys written somewhere in this repository (examples, documentation, tests), in lower
# case: public, so never a production key. tests/test_secrets.py finds every assignment of a
# key in the repository's text files and fails until its value is refused.
KNOWN_SECRETS = PLACEHOLDER_SECRETS | {
    "replace-with-a-long-random-value",  # deploy/ikm.env.example
    "test-secret-key-not-for-production-0123456789",  # tests/conftest.py
}
SECRET_KEY_MIN_LENGTH = 32
# A key of so few different characters ("x" * 40) is no secret however long it is.
SECRET_KEY_MIN_DISTINCT = 8
# The name of the file that holds the key, not a secret.
SECRET_KEY_FILE = "secret_key"  # nosec B105

DEFAULTS: dict[str, Any] = {
    "ENV": "development",
    "DATABASE_URL": None,  # None: SQLite file under the instance folder
    "PUBLIC_URL": "http://127.0.0.1:5000",
    "DEFAULT_LOCALE": "id",
    "TIMEZONE": "Asia/Jakarta",
    # Survey submission limits shared by every worker and app server (survey.core.limits):
    # hits per window (seconds) counted in buckets; past LIMIT_SOFT per address or network for
    # one wave and OPD an answer is stored flagged "burst", past the hard limits 429.
    "LIMIT_WINDOW": 3600,
    "LIMIT_BUCKET": 60,
    "LIMIT_SOFT": 20,
    # Per enrolled kiosk: a busy counter serves more than one place's 20 an hour, but the
    # counter's own staff could tap it; past this its answers are flagged "burst" for review.
    "LIMIT_KIOSK_SOFT": 60,
    "LIMIT_HARD": 120,  # per address, wave and OPD (and per enrolled kiosk)
    "LIMIT_NETWORK_HARD": 600,  # per network, wave and OPD
    "LIMIT_FLOOD": 600,  # per address over every survey
    "LIMIT_V4_PREFIX": 24,
    "LIMIT_V6_PREFIX": 64,
    # Redis for the limit counters instead of the database (e.g. redis://127.0.0.1:6379/0).
    "REDIS_URL": None,
    "REDIS_PREFIX": "ikm:limit:",
    # Seconds a rendered survey form (its signed token) stays valid; CSRF tokens live no longer.
    "RENDER_TOKEN_MAX_AGE": 3 * 3600,
    # A submission sooner than this after the page was served is flagged bot-suspect.
    "MIN_SUBMIT_SECONDS": 3.0,
    "COMMENT_MAX_LENGTH": 1200,
    "MAX_CONTENT_LENGTH": 64 * 1024,
    # Reverse proxies in front of the app whose X-Forwarded-* headers are trusted (0: none).
    "PROXY_COUNT": 0,
    # The direct peers (addresses or CIDR networks, comma-separated; "*": any) whose
    # X-Forwarded-* headers are believed: the reverse proxy only, as gunicorn's own setting.
    "FORWARDED_ALLOW_IPS": "127.0.0.1,::1",
    # Largest response file a web import accepts (the survey's own limit stays small).
    "IMPORT_MAX_BYTES": 20 * 1024 * 1024,
    # PostgreSQL connection pool per app process (SQLite ignores these).
    "DB_POOL_SIZE": 5,
    "DB_MAX_OVERFLOW": 5,
    "DB_POOL_TIMEOUT": 10,
    # Seconds /healthz waits for the database before it answers 503.
    "HEALTH_TIMEOUT": 2.0,
    # Logs: "json" (one object a line, for production) or "text".
    "LOG_FORMAT": "text",
    "LOG_LEVEL": "INFO",
    # Strict-Transport-Security max-age when the public URL is HTTPS (0: no header).
    "HSTS_SECONDS": 31536000,
    # Days after a wave closes when its respondent metadata is stripped (0: keep).
    "RETENTION_DAYS": 0,
    # Counter screens: minutes a visit code is shown, answers one code may verify.
    "COUNTER_CODE_MINUTES": 5,
    "COUNTER_CODE_USES": 30,
}

# Environment variables read as integers or floats rather than strings.
_NUMERIC = {
    "LIMIT_WINDOW": int,
    "LIMIT_BUCKET": int,
    "LIMIT_SOFT": int,
    "LIMIT_KIOSK_SOFT": int,
    "LIMIT_HARD": int,
    "LIMIT_NETWORK_HARD": int,
    "LIMIT_FLOOD": int,
    "LIMIT_V4_PREFIX": int,
    "LIMIT_V6_PREFIX": int,
    "RENDER_TOKEN_MAX_AGE": int,
    "MIN_SUBMIT_SECONDS": float,
    "COMMENT_MAX_LENGTH": int,
    "MAX_CONTENT_LENGTH": int,
    "PROXY_COUNT": int,
    "IMPORT_MAX_BYTES": int,
    "DB_POOL_SIZE": int,
    "DB_MAX_OVERFLOW": int,
    "DB_POOL_TIMEOUT": int,
    "HEALTH_TIMEOUT": float,
    "HSTS_SECONDS": int,
    "RETENTION_DAYS": int,
    "COUNTER_CODE_MINUTES": int,
    "COUNTER_CODE_USES": int,
}


class ConfigError(RuntimeError):
    """The configuration cannot be used (for example a placeholder secret in production)."""


def from_environment(environ: os._Environ[str] | dict[str, str] | None = None) -> dict[str, Any]:
    """Return the settings named ``IKM_<NAME>`` found in the environment, typed."""
    environ = os.environ if environ is None else environ
    found: dict[str, Any] = {}
    for name in [*DEFAULTS, "SECRET_KEY"]:
        raw = environ.get(f"IKM_{name}")
        if raw is None:
            continue
        cast = _NUMERIC.get(name)
        if cast is None:
            found[name] = raw
            continue
        try:
            found[name] = cast(raw)
        except ValueError as exc:
            raise ConfigError(f"IKM_{name}={raw!r} is not a valid {cast.__name__}") from exc
    return found


def read_secret_file(instance_path: str | Path) -> str | None:
    """Return the secret key stored in the instance folder, if there is one."""
    path = Path(instance_path) / SECRET_KEY_FILE
    if path.is_file():
        return path.read_text(encoding="utf-8").strip() or None
    return None


def write_secret_file(instance_path: str | Path) -> Path:
    """Create ``instance/secret_key`` with a fresh random key unless it exists; return its path."""
    path = Path(instance_path) / SECRET_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secrets.token_urlsafe(48))
    return path


def weak_secret(key: str | None) -> str | None:
    """Return why ``key`` cannot be a production secret key, or None if it can."""
    if key is None or not key.strip():
        return "is missing"
    if key.strip().lower() in KNOWN_SECRETS:
        return "is a placeholder or a key published in the repository"
    if len(key) < SECRET_KEY_MIN_LENGTH:
        return f"is shorter than {SECRET_KEY_MIN_LENGTH} characters"
    if len(set(key)) < SECRET_KEY_MIN_DISTINCT:
        return f"has fewer than {SECRET_KEY_MIN_DISTINCT} different characters"
    return None


def resolve_secret_key(settings: dict[str, Any], instance_path: str | Path) -> str:
    """Pick the secret key, refusing a missing, short or published one in production."""
    key = settings.get("SECRET_KEY") or read_secret_file(instance_path)
    reason = weak_secret(key)
    if reason is not None and settings.get("ENV") == "production":
        raise ConfigError(
            f"IKM_SECRET_KEY {reason}; set it to a long random value "
            "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))') "
            "or write one to instance/secret_key"
        )
    # In development only an unusable key is replaced (by one that lives as long as the
    # process); a weak one is kept, so that several local processes can share it.
    if key is None or key.strip().lower() in PLACEHOLDER_SECRETS or len(key) < 16:
        return secrets.token_urlsafe(48)
    return key

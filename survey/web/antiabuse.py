"""Counting each citizen once without a CAPTCHA: the render token, cookies and shared limits.

None of these checks turns a citizen away except a hard limit, a form that is no longer valid
(re-rendered with the answers kept) and a missing visit code where a wave requires one. A
suspicious submission is still stored, with ``status="flagged"`` and a reason, so evaluators can
review it and the citizen always sees the normal thank-you page. The pieces:

- the **render token**, a signed hidden field carrying the wave, the OPD, a server-issued
  submission id and the render time; it is valid for ``RENDER_TOKEN_MAX_AGE`` seconds and only
  for its own wave and OPD. The stored answer takes its submission id from it, so one token
  gives at most one answer; the seconds from render to submission come from it too;
- a signed per-device cookie ``ikm_seen`` lists the "wave_id:opd_id" pairs this browser has
  already answered; a later answer for the same pair is ``duplicate-device``;
- a signed kiosk cookie ``ikm_kiosk`` names a device staff enrolled for one wave and OPD; only
  while that device is active does an answer count as a kiosk answer (the channel is never
  taken from the request);
- the shared limits of ``survey.core.limits`` (database, or Redis with ``IKM_REDIS_URL``):
  past a soft limit ``burst``, past a hard one 429. Addresses are only ever held as keyed
  hashes.

The verdict itself is ``survey.core.evidence.assess``. Time comes from the module-level
``clock`` so tests can move it instead of sleeping.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, Request, current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlmodel import Session
from werkzeug.wrappers import Response as BaseResponse

from survey.core import limits
from survey.core.evidence import COUNTED, Verdict, assess

if TYPE_CHECKING:
    import redis

__all__ = ["COUNTED", "Verdict", "assess"]

SEEN_COOKIE = "ikm_seen"
SEEN_MAX_KEYS = 32  # pairs kept in the cookie; the oldest drop out first
SEEN_MAX_AGE = 180 * 24 * 3600
HONEYPOT_FIELD = "website"
SUBMISSION_ID_RE = re.compile(r"^[0-9a-f]{32}$")
KIOSK_COOKIE = "ikm_kiosk"
KIOSK_MAX_AGE = 400 * 24 * 3600  # browsers cap a cookie's life at 400 days; revoking ends it
# A token from a server whose clock runs a little ahead is still a token.
CLOCK_SKEW = 60.0
_KIOSK_SALT = "ikm-kiosk-device"
# A salt that keeps the render token's signatures apart from the other signed values, no secret.
_TOKEN_SALT = "ikm-render-token"  # nosec B105
_SEEN_SALT = "ikm-seen-device"
_SERIALIZERS_KEY = "ikm_signers"
_REDIS_KEY = "ikm_redis"
log = logging.getLogger(__name__)


def clock() -> float:
    """Return the current time in seconds; tests monkeypatch this instead of sleeping."""
    return time.time()


def new_submission_id() -> str:
    """Return a fresh submission id (uuid4 as 32 lowercase hex digits)."""
    return uuid.uuid4().hex


def _serializer(salt: str, app: Flask | None = None) -> URLSafeSerializer:
    """Return a serializer signed with the app secret; the salt keeps each use separate."""
    app = app or current_app
    secret = app.config["SECRET_KEY"]
    # Made once per app, secret and salt: every survey request signs or reads two values.
    cache: dict[tuple[str, str], URLSafeSerializer]
    cache = app.extensions.setdefault(_SERIALIZERS_KEY, {})
    serializer = cache.get((secret, salt))
    if serializer is None:
        serializer = cache[(secret, salt)] = URLSafeSerializer(secret, salt=salt)
    return serializer


# ---------------------------------------------------------------------------------------------
# The render token (hidden field ``token``)


@dataclass(frozen=True)
class RenderToken:
    """What a rendered survey form carries: where it answers, its id, when it was shown."""

    wave_id: int
    opd_id: int
    submission_id: str
    rendered_at: float


def issue_token(*, wave_id: int, opd_id: int, now: float | None = None) -> str:
    """Return a signed render token for a fresh form of this wave and OPD."""
    moment = clock() if now is None else now
    payload = [wave_id, opd_id, new_submission_id(), round(moment, 3)]
    return _serializer(_TOKEN_SALT).dumps(payload)


def read_token(
    raw: str | None, *, wave_id: int, opd_id: int, now: float, max_age: float
) -> RenderToken | None:
    """Return the token in ``raw`` if genuine, for this wave and OPD, and not expired; else None."""
    if not raw:
        return None
    try:
        value = _serializer(_TOKEN_SALT).loads(raw)
    except BadSignature:
        return None
    if not isinstance(value, list) or len(value) != 4:
        return None
    token_wave, token_opd, submission_id, rendered_at = value
    if (
        not all(isinstance(v, int) and not isinstance(v, bool) for v in (token_wave, token_opd))
        or not isinstance(submission_id, str)
        or not SUBMISSION_ID_RE.fullmatch(submission_id)
        or isinstance(rendered_at, bool)
        or not isinstance(rendered_at, int | float)
    ):
        return None
    if (token_wave, token_opd) != (wave_id, opd_id):
        return None
    if not now - max_age <= rendered_at <= now + CLOCK_SKEW:
        return None
    return RenderToken(token_wave, token_opd, submission_id, float(rendered_at))


# ---------------------------------------------------------------------------------------------
# Device cookie


def device_key(wave_id: int, opd_id: int) -> str:
    """Return the cookie entry for one wave and OPD."""
    return f"{wave_id}:{opd_id}"


def seen_keys(request: Request) -> list[str]:
    """Return the wave/OPD pairs the signed cookie lists; a tampered cookie counts as none."""
    raw = request.cookies.get(SEEN_COOKIE)
    if not raw:
        return []
    try:
        value = _serializer(_SEEN_SALT).loads(raw)
    except BadSignature:
        return []
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, str)][-SEEN_MAX_KEYS:]


def remember_device(response: BaseResponse, keys: list[str], key: str) -> None:
    """Add ``key`` to the device cookie on ``response`` (newest last, capped in size)."""
    kept = [*[k for k in keys if k != key][-(SEEN_MAX_KEYS - 1) :], key]
    response.set_cookie(
        SEEN_COOKIE,
        _serializer(_SEEN_SALT).dumps(kept),
        max_age=SEEN_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE", False)),
    )


# ---------------------------------------------------------------------------------------------
# Kiosk cookie (set when staff enrol a device; the kiosk row decides whether it still counts)


def sign_kiosk(*, device_id: int, wave_id: int, opd_id: int) -> str:
    """Return the signed value of an enrolled kiosk's cookie."""
    return _serializer(_KIOSK_SALT).dumps([device_id, wave_id, opd_id])


def read_kiosk(request: Request) -> tuple[int, int, int] | None:
    """Return (device id, wave id, OPD id) from a kiosk cookie; None if absent or tampered."""
    raw = request.cookies.get(KIOSK_COOKIE)
    if not raw:
        return None
    try:
        value = _serializer(_KIOSK_SALT).loads(raw)
    except BadSignature:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 3
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return None
    return (value[0], value[1], value[2])


# ---------------------------------------------------------------------------------------------
# Limits


def client_key(remote_addr: str | None, secret: str) -> str:
    """Return the HMAC-SHA256 of the client address keyed with the secret (never the address)."""
    message = (remote_addr or "unknown").encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def _redis_client(app: Flask) -> redis.Redis | None:
    """Return the app's Redis client when ``REDIS_URL`` is set (made once per app)."""
    url = app.config.get("REDIS_URL")
    if not url:
        return None
    client: redis.Redis | None = app.extensions.get(_REDIS_KEY)
    if client is None:
        import redis  # imported with the first client: 0.1 s that apps without Redis skip

        client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        app.extensions[_REDIS_KEY] = client
    return client


class _NeverRaised(Exception):
    """Stands for redis.RedisError while no Redis client was made (none can be raised then)."""


def _redis_error() -> type[Exception]:
    """Return ``redis.RedisError`` once redis is imported (a client exists), else a class no
    code raises; for ``except _redis_error():`` clauses, evaluated only when something is raised.
    """
    module = sys.modules.get("redis")
    return module.RedisError if module is not None else _NeverRaised


def limit_store(session: Session, app: Flask | None = None) -> limits.Store:
    """Return where the limit counters live: Redis when configured, else the database."""
    app = app or current_app
    client = _redis_client(app)
    if client is None:
        return limits.DatabaseStore(session)
    return limits.RedisStore(client, prefix=str(app.config["REDIS_PREFIX"]))


def count_submission(
    session: Session,
    *,
    address: str | None,
    wave_id: int,
    opd_id: int,
    kiosk_device: int | None = None,
) -> limits.Outcome:
    """Count one survey POST against the shared limits and return what they say (see
    :func:`hit` for a Redis store that does not answer)."""
    config = current_app.config
    settings = limits.Limits.from_config(config)
    rules = limits.survey_rules(
        settings,
        secret=config["SECRET_KEY"],
        address=address,
        wave_id=wave_id,
        opd_id=opd_id,
        kiosk_device=kiosk_device,
    )
    return hit(session, rules, settings)


def hit(session: Session, rules: Sequence[limits.Rule], settings: limits.Limits) -> limits.Outcome:
    """Count one hit on `rules` in the app's limit store and return what the limits say.

    If Redis is configured but does not answer, the database counts instead: a limit that
    stops working would open the survey to floods, one that fails would close it to citizens.
    """
    try:
        return limits.hit(limit_store(session), rules, now=clock(), limits=settings)
    except _redis_error() as exc:
        log.warning("Redis limit store failed (%s); counting in the database", type(exc).__name__)
        return limits.hit(limits.DatabaseStore(session), rules, now=clock(), limits=settings)

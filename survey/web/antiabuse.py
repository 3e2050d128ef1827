"""Counting each citizen once without a CAPTCHA: timing, honeypot, device cookie, rate limit.

None of these checks turns a citizen away except the hard rate limit. A suspicious submission
is still stored, with ``status="flagged"`` and a reason, so evaluators can review it and the
citizen always sees the normal thank-you page. The pieces:

- the render time travels in a signed hidden field ``t``; a submission sooner than
  ``MIN_SUBMIT_SECONDS`` after it (or with ``t`` missing or tampered) is ``bot-suspect``, as is
  a filled honeypot field ``website``;
- a signed per-device cookie ``ikm_seen`` lists the "wave_id:opd_id" pairs this browser has
  already answered; a later answer for the same pair is ``duplicate-device``;
- a sliding-window rate limit per client address answers 429 past a hard cap. The address is
  only ever held as an HMAC-SHA256 of it keyed with the app secret, never raw. The window is
  kept **in process memory, per process**: with N worker processes (or N app servers) a client
  can make up to N times the cap. That is acceptable for a cap meant to stop floods, not to
  count exactly; a shared store (PostgreSQL, Redis) would be needed for an exact global cap.

Time comes from the module-level ``clock`` so tests can move it instead of sleeping.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass

from flask import Flask, Request, current_app
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.wrappers import Response as BaseResponse

SEEN_COOKIE = "ikm_seen"
SEEN_MAX_KEYS = 32  # pairs kept in the cookie; the oldest drop out first
SEEN_MAX_AGE = 180 * 24 * 3600
HONEYPOT_FIELD = "website"
SUBMISSION_ID_RE = re.compile(r"^[0-9a-f]{32}$")
RATE_LIMIT_MAX_KEYS = 10_000  # clients tracked at once; least recently seen are evicted
KIOSK_COOKIE = "ikm_kiosk"
KIOSK_MAX_AGE = 400 * 24 * 3600  # browsers cap a cookie's life at 400 days; revoking ends it
_KIOSK_SALT = "ikm-kiosk-device"
_RENDER_SALT = "ikm-render-time"
_SEEN_SALT = "ikm-seen-device"
_LIMITER_KEY = "ikm_rate_limiter"
_SERIALIZERS_KEY = "ikm_signers"


def clock() -> float:
    """Return the current time in seconds; tests monkeypatch this instead of sleeping."""
    return time.time()


# ---------------------------------------------------------------------------------------------
# Submission ids


def new_submission_id() -> str:
    """Return a fresh submission id (uuid4 as 32 lowercase hex digits)."""
    return uuid.uuid4().hex


def checked_submission_id(raw: str | None) -> str:
    """Return ``raw`` if it is a well-formed submission id, else a fresh one."""
    if raw and SUBMISSION_ID_RE.fullmatch(raw):
        return raw
    return new_submission_id()


# ---------------------------------------------------------------------------------------------
# Render time (hidden field ``t``)


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


def sign_render_time(now: float | None = None) -> str:
    """Return the signed render time to put in the form's hidden ``t`` field."""
    moment = clock() if now is None else now
    return _serializer(_RENDER_SALT).dumps(round(moment, 3))


def read_render_time(token: str | None) -> float | None:
    """Return the render time signed in ``token``, or None when missing or tampered."""
    if not token:
        return None
    try:
        value = _serializer(_RENDER_SALT).loads(token)
    except BadSignature:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


# ---------------------------------------------------------------------------------------------
# The verdict


@dataclass(frozen=True)
class Verdict:
    """How a submission is stored: counted, or flagged with a reason."""

    status: str = "counted"
    flag_reason: str | None = None

    @property
    def flagged(self) -> bool:
        """Return True if the submission is kept but not counted."""
        return self.status == "flagged"


COUNTED = Verdict()


def assess(
    *,
    honeypot: str | None,
    rendered_at: float | None,
    now: float,
    min_seconds: float,
    seen_before: bool,
) -> Verdict:
    """Decide how to store a submission; bot signs outrank a repeated device."""
    if honeypot and honeypot.strip():
        return Verdict("flagged", "bot-suspect")
    # A missing or forged render time is no browser behaviour: treat it like a bot.
    if rendered_at is None or now - rendered_at < min_seconds:
        return Verdict("flagged", "bot-suspect")
    if seen_before:
        return Verdict("flagged", "duplicate-device")
    return COUNTED


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
# Rate limit


def client_key(remote_addr: str | None, secret: str) -> str:
    """Return the HMAC-SHA256 of the client address keyed with the secret (never the address)."""
    message = (remote_addr or "unknown").encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


class SlidingWindowLimiter:
    """An exact sliding-window counter per key, bounded in memory, safe across threads.

    Each key keeps at most ``limit`` timestamps (a refused hit is not recorded), and at most
    ``max_keys`` keys are tracked: expired ones are pruned first, then the least recently seen.
    """

    def __init__(self, max_keys: int = RATE_LIMIT_MAX_KEYS) -> None:
        """Create an empty limiter tracking at most ``max_keys`` clients."""
        self.max_keys = max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Return the number of clients tracked."""
        return len(self._hits)

    def hit(self, key: str, *, now: float, limit: int, window: float) -> bool:
        """Record one hit for ``key``; return False if it is over ``limit`` per ``window``."""
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                if len(self._hits) >= self.max_keys:
                    self._prune(now, window, room=1)
                hits = deque()
                self._hits[key] = hits
            else:
                self._hits.move_to_end(key)
            while hits and hits[0] <= now - window:
                hits.popleft()
            if len(hits) >= limit:
                return False
            hits.append(now)
            return True

    def _prune(self, now: float, window: float, room: int = 0) -> None:
        """Drop expired keys, then the least recently seen, until ``room`` keys are free."""
        # Keys are kept in order of last use, so expired ones gather at the front: popping
        # from there keeps each call cheap even with a full table.
        while self._hits:
            hits = next(iter(self._hits.values()))
            if hits and hits[-1] > now - window:
                break
            self._hits.popitem(last=False)
        while self._hits and len(self._hits) > self.max_keys - room:
            self._hits.popitem(last=False)


def limiter(app: Flask | None = None) -> SlidingWindowLimiter:
    """Return the app's rate limiter, creating it on first use."""
    app = app or current_app
    return app.extensions.setdefault(_LIMITER_KEY, SlidingWindowLimiter())


def allow_post(remote_addr: str | None) -> bool:
    """Count one survey POST from this client; return False once it is past the hard cap."""
    config = current_app.config
    key = client_key(remote_addr, config["SECRET_KEY"])
    return limiter().hit(
        key,
        now=clock(),
        limit=int(config["RATE_LIMIT_COUNT"]),
        window=float(config["RATE_LIMIT_WINDOW"]),
    )

"""Visit codes: the one-time codes an OPD hands out with the service, and their redemption.

A code is eight characters from an alphabet without look-alikes (no 0/O, 1/I/L), shown as
``ABCD-EFGH``. Only a keyed hash of it is stored (HMAC-SHA256 with the app secret, bound to the
wave), so the table cannot be read back into codes, and nothing links a code to the answer that
used it: redeeming only counts a use. A printed ticket code serves once; a counter screen's
code serves a few answers until it expires.

Staff make codes here too: :func:`create_ticket_codes` draws a batch for printing (the plain
codes leave this module only in its return value, for the PDF and the CSV) and
:func:`counter_code` gives the code of a counter screen's current time slot, derived from the
secret so that every worker shows the same one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from survey.core import queries
from survey.core.audit import audit
from survey.core.models import Opd, VisitCode, Wave, utcnow
from survey.core.problems import ProblemError, define, problem

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8


def normalise_code(raw: str | None) -> str | None:
    """Return a typed code in its stored form (upper case, no spaces or hyphens), or None.

    None when it cannot be a code: wrong length or a character outside the alphabet (the
    alphabet leaves out 0, O, 1, I and L, so a misread character is refused, never guessed).
    """
    if raw is None:
        return None
    text = "".join(ch for ch in raw.upper() if ch not in " -\t")
    if len(text) != CODE_LENGTH or any(ch not in ALPHABET for ch in text):
        return None
    return text


def code_hash(code: str, *, wave_id: int, secret: str) -> str:
    """Return the stored hash of a normalised code for one wave (HMAC-SHA256, hex)."""
    message = f"{wave_id}:{code}".encode()
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def redeem_code(
    session: Session, *, wave_id: int, opd_id: int, code: str | None, secret: str, now: datetime
) -> bool:
    """Count one use of a code for this wave and OPD; True if it was valid, unused and current.

    One conditional UPDATE, so two racing answers cannot both use a single-use code, whichever
    worker or app server they reach. The caller commits (with the answer it verifies).
    """
    normal = normalise_code(code)
    if normal is None:
        return False
    statement = (
        sa.update(VisitCode)
        .where(
            col(VisitCode.wave_id) == wave_id,
            col(VisitCode.opd_id) == opd_id,
            col(VisitCode.code_hash) == code_hash(normal, wave_id=wave_id, secret=secret),
            col(VisitCode.uses) < col(VisitCode.max_uses),
            sa.or_(col(VisitCode.expires_at).is_(None), col(VisitCode.expires_at) > now),
        )
        .values(uses=col(VisitCode.uses) + 1)
    )
    result = session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0) == 1


# ---------------------------------------------------------------------------------------------
# Printed ticket codes and the counter screen's code (the staff side)

define(
    {
        "codes-wave-unknown": "unknown wave {value!r}",
        "codes-opd-unknown": "unknown OPD {value!r}",
        "codes-opd-not-in-wave": "OPD {opd!r} is not covered by wave {wave!r}",
        "codes-wave-finished": (
            "wave {wave!r} is {status}: codes are made only for a draft or open wave"
        ),
        "codes-verification-off": (
            "wave {wave!r} does not use visit codes (verification is off); turn it on with "
            "'ikm wave edit {wave} --verification optional' (or required), or in the wave form"
        ),
        "codes-count-range": "the number of codes must be from 1 to {limit}, not {value}",
    }
)

MAX_BATCH = 10_000  # codes in one printed batch
COUNTER_DEFAULT_MINUTES = 5
COUNTER_DEFAULT_USES = 30


class CodeError(ProblemError):
    """Codes cannot be made for this wave and OPD (unknown, not covered, closed, off, count)."""


def display_code(code: str) -> str:
    """Return a normalised code as people read it: ``ABCD-EFGH``."""
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


def new_code() -> str:
    """Return a fresh random code.

    From :mod:`secrets` and deliberately without a seed: a printed code must be unguessable,
    so no test or run can reproduce one.
    """
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def code_target(session: Session, *, wave_slug: str, opd_slug: str) -> tuple[Wave, Opd]:
    """Return the wave and OPD codes are made for, or raise CodeError saying why not."""
    wave = queries.get_wave(session, slug=wave_slug)
    if wave is None:
        raise CodeError([problem("codes-wave-unknown", "wave", value=wave_slug)])
    opd = queries.get_opd(session, slug=opd_slug)
    if opd is None:
        raise CodeError([problem("codes-opd-unknown", "opd", value=opd_slug)])
    if queries.opd_in_wave(session, wave=wave, opd_slug=opd_slug) is None:
        raise CodeError([problem("codes-opd-not-in-wave", "opd", opd=opd_slug, wave=wave.slug)])
    check_codes_allowed(wave)
    return wave, opd


def check_codes_allowed(wave: Wave) -> None:
    """Refuse codes for a closed or published wave and for a wave that does not verify."""
    if wave.status not in ("draft", "open"):
        raise CodeError(
            [problem("codes-wave-finished", "wave", wave=wave.slug, status=wave.status)]
        )
    if wave.verification == "off":
        raise CodeError([problem("codes-verification-off", "wave", wave=wave.slug)])


@dataclass(frozen=True)
class TicketBatch:
    """A batch of printed codes, plain, as they leave the service (never stored so)."""

    wave: Wave
    opd: Opd
    codes: tuple[str, ...]  # normalised; display_code() prints them


def _taken(session: Session, *, wave_id: int, hashes: Iterable[str]) -> set[str]:
    """Return which of ``hashes`` the wave already holds (in chunks: a bound list each)."""
    found: set[str] = set()
    pending = list(hashes)
    for start in range(0, len(pending), 500):
        chunk = pending[start : start + 500]
        query = select(VisitCode.code_hash).where(
            VisitCode.wave_id == wave_id, col(VisitCode.code_hash).in_(chunk)
        )
        found.update(session.exec(query).all())
    return found


def create_ticket_codes(
    session: Session,
    *,
    wave_slug: str,
    opd_slug: str,
    count: int,
    secret: str,
    actor: str | None,
    commit: bool = True,
) -> TicketBatch:
    """Make ``count`` one-time codes for a wave and OPD: hashes stored, plain codes returned.

    One transaction with one ``codes.create`` audit entry (how many, never which). Refused
    (CodeError, nothing written) for an unknown wave or OPD, an OPD outside the wave, a
    closed or published wave, a wave whose verification is off, or a count outside 1..10000.
    ``commit=False`` leaves the commit to the caller, who renders the tickets first: codes
    are stored only once their printable sheet exists.
    """
    if isinstance(count, bool) or not 1 <= count <= MAX_BATCH:
        raise CodeError([problem("codes-count-range", "count", limit=MAX_BATCH, value=count)])
    wave, opd = code_target(session, wave_slug=wave_slug, opd_slug=opd_slug)
    wave_id = int(wave.id or 0)
    chosen: dict[str, str] = {}  # hash -> code
    while len(chosen) < count:
        fresh = {}
        for _ in range(count - len(chosen)):
            code = new_code()
            fresh[code_hash(code, wave_id=wave_id, secret=secret)] = code
        # A repeat (in the batch or of an earlier code of the wave) is drawn again; with 31^8
        # codes it almost never happens, but a printed code must serve exactly once.
        for taken in _taken(session, wave_id=wave_id, hashes=fresh):
            del fresh[taken]
        for digest in chosen:
            fresh.pop(digest, None)
        chosen.update(fresh)
    now = utcnow()
    session.add_all(
        VisitCode(
            wave_id=wave_id,
            opd_id=int(opd.id or 0),
            kind="ticket",
            code_hash=digest,
            created_at=now,
            max_uses=1,
        )
        for digest in chosen
    )
    audit(session, actor=actor, action="codes.create", wave=wave.slug, opd=opd.slug, count=count)
    if commit:
        session.commit()
    return TicketBatch(wave=wave, opd=opd, codes=tuple(chosen.values()))


@dataclass(frozen=True)
class CounterCode:
    """The code a counter screen shows in one time slot, and when it changes and expires."""

    code: str
    slot_start: datetime
    slot_end: datetime  # the screen shows the next code from here
    expires_at: datetime  # answers may still use it until the end of the next slot
    max_uses: int


def counter_slot(now: datetime, *, minutes: int) -> tuple[int, datetime, datetime]:
    """Return the slot number of ``now`` and its start and end (UTC)."""
    length = minutes * 60
    slot = int(now.timestamp()) // length
    start = datetime.fromtimestamp(slot * length, UTC)
    return slot, start, start + timedelta(seconds=length)


def derive_counter_code(*, wave_id: int, opd_id: int, slot: int, secret: str) -> str:
    """Return the counter code of one slot: an HMAC of the slot, so every worker agrees."""
    message = f"counter:{wave_id}:{opd_id}:{slot}".encode()
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    # 8 bytes -> 8 characters of a 31-letter alphabet; the modulo bias (256 mod 31 = 8) only
    # makes some letters slightly likelier, and a code lives minutes.
    return "".join(ALPHABET[byte % len(ALPHABET)] for byte in digest[:CODE_LENGTH])


def counter_code(
    session: Session,
    *,
    wave: Wave,
    opd: Opd,
    secret: str,
    now: datetime,
    minutes: int = COUNTER_DEFAULT_MINUTES,
    max_uses: int = COUNTER_DEFAULT_USES,
) -> CounterCode:
    """Return the counter code of the slot of ``now``, storing its hash on first display.

    The row (kind "counter", expiring at the end of the next slot, ``max_uses`` answers) is
    inserted with ON CONFLICT DO NOTHING, so screens on several workers or app servers that
    show the slot's code at once store it once. Commits. Raises CodeError as for tickets.
    """
    check_codes_allowed(wave)
    wave_id, opd_id = int(wave.id or 0), int(opd.id or 0)
    slot, start, end = counter_slot(now, minutes=minutes)
    code = derive_counter_code(wave_id=wave_id, opd_id=opd_id, slot=slot, secret=secret)
    expires = end + timedelta(minutes=minutes)
    values = {
        "wave_id": wave_id,
        "opd_id": opd_id,
        "kind": "counter",
        "code_hash": code_hash(code, wave_id=wave_id, secret=secret),
        "created_at": now,
        "expires_at": expires,
        "uses": 0,
        "max_uses": max_uses,
    }
    if session.get_bind().dialect.name == "postgresql":
        statement: Any = pg_insert(VisitCode).values(**values).on_conflict_do_nothing()
    else:
        statement = sqlite_insert(VisitCode).values(**values).on_conflict_do_nothing()
    session.execute(statement)
    session.commit()
    return CounterCode(
        code=code, slot_start=start, slot_end=end, expires_at=expires, max_uses=max_uses
    )

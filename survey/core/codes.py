"""Visit codes: the one-time codes an OPD hands out with the service, and their redemption.

A code is eight characters from an alphabet without look-alikes (no 0/O, 1/I/L), shown as
``ABCD-EFGH``. Only a keyed hash of it is stored (HMAC-SHA256 with the app secret, bound to the
wave), so the table cannot be read back into codes, and nothing links a code to the answer that
used it: redeeming only counts a use. A printed ticket code serves once; a counter screen's
code serves a few answers until it expires.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col

from survey.core.models import VisitCode

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

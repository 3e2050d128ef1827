"""Short printable addresses (``/l/<code>``) for a wave's link, an OPD's or a unit's survey page.

A code is six characters from an alphabet without look-alikes (no 0/O, 1/l/I), drawn with
``secrets``, stored in lower case and read in any case, so that it survives being printed on a
poster, read aloud or typed on a phone. Each target gets its code on first demand and keeps it:
:func:`short_code` returns the earliest code stored for that target. Codes only lead to public
survey pages, so guessing them teaches nothing that the wave's own link does not.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from survey.core import urls
from survey.core.models import Opd, ServiceUnit, ShortLink, Wave, WaveOpd

# Digits 2-9 and the lower-case letters without i, l and o: 31 signs, 31**6 (887 million) codes.
ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
CODE_LENGTH = 6
MAX_ATTEMPTS = 8  # collisions are one in millions; a loop that never ends is not an option
CODE_MAX_LENGTH = 16  # the column's width: longer input is no code at all


@dataclass(frozen=True)
class ShortTarget:
    """Where a short code leads: the wave, and the OPD and unit if it names them."""

    wave_slug: str
    opd_slug: str | None = None
    unit_slug: str | None = None

    def path(self) -> str:
        """Return the path of the page the code leads to."""
        if self.opd_slug is None:
            return urls.wave_path(self.wave_slug)
        if self.unit_slug is None:
            return urls.survey_path(self.wave_slug, self.opd_slug)
        return urls.unit_survey_path(self.wave_slug, self.opd_slug, self.unit_slug)


def new_code(length: int = CODE_LENGTH) -> str:
    """Return a random code of ``length`` signs of :data:`ALPHABET`."""
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def normalise(code: str) -> str | None:
    """Return a typed code in its stored form (lower case, trimmed), or None if it cannot be one."""
    value = code.strip().lower()
    if not value or len(value) > CODE_MAX_LENGTH or any(c not in ALPHABET for c in value):
        return None
    return value


def _existing(
    session: Session, wave_id: int, opd_id: int | None, unit_id: int | None
) -> str | None:
    """Return the earliest code stored for this target, if any."""
    query = select(ShortLink.code).where(
        ShortLink.wave_id == wave_id,
        col(ShortLink.opd_id).is_(None) if opd_id is None else ShortLink.opd_id == opd_id,
        col(ShortLink.unit_id).is_(None) if unit_id is None else ShortLink.unit_id == unit_id,
    )
    # Two racing first requests may each store a code: both keep working, and from then on
    # every caller gets the same (earliest) one.
    query = query.order_by(col(ShortLink.created_at), col(ShortLink.code)).limit(1)
    return session.exec(query).first()


def short_code(
    session: Session, wave_id: int, opd_id: int | None = None, unit_id: int | None = None
) -> str:
    """Return the target's short code, creating it on first demand; commits when it creates.

    A new code that collides with a stored one (the primary key refuses it) is drawn again.
    """
    if unit_id is not None and opd_id is None:
        raise ValueError("a unit's short link also names its OPD")
    found = _existing(session, wave_id, opd_id, unit_id)
    if found is not None:
        return found
    for _attempt in range(MAX_ATTEMPTS):
        link = ShortLink(code=new_code(), wave_id=wave_id, opd_id=opd_id, unit_id=unit_id)
        session.add(link)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            continue
        return _existing(session, wave_id, opd_id, unit_id) or link.code
    raise RuntimeError(f"no free short code after {MAX_ATTEMPTS} attempts")


def resolve(session: Session, code: str, *, public: bool = False) -> ShortTarget | None:
    """Return where a typed code leads (any case), or None for a code nobody made.

    ``public``: None as well for a code whose page is not public now (a draft wave, whose
    posters may be printed before it opens; an OPD the wave no longer covers; an inactive
    unit), so that probing codes tells nothing the pages themselves do not: each of those
    pages is a 404.
    """
    normal = normalise(code)
    if normal is None:
        return None
    query = (
        select(Wave, Opd, ServiceUnit)
        .select_from(ShortLink)
        .join(Wave, col(Wave.id) == ShortLink.wave_id)
        .outerjoin(Opd, col(Opd.id) == ShortLink.opd_id)
        .outerjoin(ServiceUnit, col(ServiceUnit.id) == ShortLink.unit_id)
        .where(ShortLink.code == normal)
    )
    row = session.exec(query).first()
    if row is None:
        return None
    wave, opd, unit = row
    if public and (
        wave.status == "draft"
        or (opd is not None and session.get(WaveOpd, (wave.id, opd.id)) is None)
        or (unit is not None and not unit.active)
    ):
        return None
    wave_slug = wave.slug
    opd_slug = None if opd is None else opd.slug
    unit_slug = None if unit is None else unit.slug
    return ShortTarget(wave_slug=wave_slug, opd_slug=opd_slug, unit_slug=unit_slug)


def short_url(public_url: str, code: str) -> str:
    """Return the absolute public address of a short code (``IKM_PUBLIC_URL`` + ``/l/<code>``)."""
    return public_url.rstrip("/") + short_path(code)


def short_path(code: str) -> str:
    """Return the path of a short code."""
    return f"/l/{code}"


def delete_for_wave(session: Session, *, wave_id: int) -> None:
    """Delete a wave's short links (no commit), before the wave itself."""
    session.execute(sa.delete(ShortLink).where(col(ShortLink.wave_id) == wave_id))

"""Data access: keyword-only functions that take the session explicitly.

Views and commands call these instead of building queries themselves, so the rules (which OPDs a
wave covers, which elements a questionnaire has, in which order) live in one place.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from .models import CategoryScheme, Element, Opd, Questionnaire, Response, Wave, WaveOpd


def get_wave(session: Session, *, slug: str) -> Wave | None:
    """Return the wave with this slug, or None."""
    return session.exec(select(Wave).where(Wave.slug == slug)).first()


def get_opd(session: Session, *, slug: str) -> Opd | None:
    """Return the OPD with this slug, or None."""
    return session.exec(select(Opd).where(Opd.slug == slug)).first()


def find_opd(session: Session, *, key: str) -> Opd | None:
    """Return the OPD whose slug or exact name is ``key`` (as the import format allows)."""
    key = key.strip()
    return session.exec(select(Opd).where((Opd.slug == key) | (Opd.name == key))).first()


def list_opds(session: Session, *, active_only: bool = False) -> Sequence[Opd]:
    """Return the OPDs ordered by slug."""
    query = select(Opd).order_by(Opd.slug)
    if active_only:
        query = query.where(Opd.active == True)  # noqa: E712
    return session.exec(query).all()


def list_waves(session: Session) -> Sequence[Wave]:
    """Return the waves, newest first."""
    return session.exec(select(Wave).order_by(col(Wave.created_at).desc(), Wave.slug)).all()


def wave_opds(session: Session, *, wave: Wave) -> Sequence[tuple[Opd, WaveOpd]]:
    """Return the OPDs a wave covers with their target, ordered by name."""
    query = (
        select(Opd, WaveOpd)
        .join(WaveOpd, col(WaveOpd.opd_id) == Opd.id)
        .where(WaveOpd.wave_id == wave.id)
        .order_by(Opd.name)
    )
    return session.exec(query).all()


def opd_in_wave(session: Session, *, wave: Wave, opd_slug: str) -> Opd | None:
    """Return the OPD with this slug if the wave covers it, else None."""
    query = (
        select(Opd)
        .join(WaveOpd, col(WaveOpd.opd_id) == Opd.id)
        .where(WaveOpd.wave_id == wave.id, Opd.slug == opd_slug)
    )
    return session.exec(query).first()


def get_questionnaire(session: Session, *, questionnaire_id: int) -> Questionnaire | None:
    """Return the questionnaire with this id."""
    return session.get(Questionnaire, questionnaire_id)


def elements(session: Session, *, questionnaire_id: int) -> Sequence[Element]:
    """Return a questionnaire's elements in question order."""
    query = (
        select(Element)
        .where(Element.questionnaire_id == questionnaire_id)
        .order_by(Element.position)
    )
    return session.exec(query).all()


def get_scheme(session: Session, *, slug: str) -> CategoryScheme | None:
    """Return the category scheme with this slug, or None."""
    return session.exec(select(CategoryScheme).where(CategoryScheme.slug == slug)).first()


def response_by_submission(
    session: Session, *, wave_id: int, submission_id: str
) -> Response | None:
    """Return the response stored under a submission id, if any (idempotent submits)."""
    query = select(Response).where(
        Response.wave_id == wave_id, Response.submission_id == submission_id
    )
    return session.exec(query).first()

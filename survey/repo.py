"""Data access: keyword-only functions that take the session explicitly.

Views and commands call these instead of building queries themselves, so the rules (which OPDs a
wave covers, which elements a questionnaire has, in which order) live in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

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


class RepoError(ValueError):
    """A request the data cannot satisfy (unknown slug, duplicate, bad status change)."""


def add_opd(
    session: Session,
    *,
    slug: str,
    name: str,
    short_name: str | None = None,
    service_population: int | None = None,
) -> Opd:
    """Add an OPD; refuse a slug or name that is taken. Commits."""
    if get_opd(session, slug=slug) is not None:
        raise RepoError(f"OPD slug {slug!r} already exists")
    if session.exec(select(Opd).where(Opd.name == name)).first() is not None:
        raise RepoError(f"OPD name {name!r} already exists")
    opd = Opd(slug=slug, name=name, short_name=short_name, service_population=service_population)
    session.add(opd)
    session.commit()
    return opd


def default_questionnaire(session: Session) -> Questionnaire:
    """Return the built-in PermenPANRB 14/2017 questionnaire."""
    from .builtin import DEFAULT_QUESTIONNAIRE_SLUG

    query = (
        select(Questionnaire)
        .where(Questionnaire.slug == DEFAULT_QUESTIONNAIRE_SLUG)
        .order_by(col(Questionnaire.version).desc())
    )
    questionnaire = session.exec(query).first()
    if questionnaire is None:
        raise RepoError("the built-in questionnaire is missing; run 'ikm init-db'")
    return questionnaire


def create_wave(
    session: Session,
    *,
    slug: str,
    title: str,
    opd_slugs: Sequence[str] | None = None,
    scheme_slug: str | None = None,
    questionnaire_id: int | None = None,
    status: str = "draft",
    target_n: int | None = None,
    simulated: bool = False,
    period_start: date | None = None,
    period_end: date | None = None,
) -> Wave:
    """Create a wave covering the named OPDs (None: every active OPD). Commits.

    Nothing is written when a slug is unknown or taken.
    """
    from .builtin import DEFAULT_SCHEME_SLUG
    from .models import WAVE_STATUSES

    if get_wave(session, slug=slug) is not None:
        raise RepoError(f"wave slug {slug!r} already exists")
    if status not in WAVE_STATUSES:
        raise RepoError(f"unknown wave status {status!r}; use one of {', '.join(WAVE_STATUSES)}")
    scheme = get_scheme(session, slug=scheme_slug or DEFAULT_SCHEME_SLUG)
    if scheme is None:
        known = ", ".join(s.slug for s in session.exec(select(CategoryScheme)).all())
        raise RepoError(f"unknown category scheme {scheme_slug!r}; known: {known}")
    if questionnaire_id is None:
        questionnaire_id = default_questionnaire(session).id
    if opd_slugs is None:
        opds = list(list_opds(session, active_only=True))
    else:
        opds = []
        for opd_slug in opd_slugs:
            opd = get_opd(session, slug=opd_slug)
            if opd is None:
                raise RepoError(f"unknown OPD {opd_slug!r}")
            opds.append(opd)
    if not opds:
        raise RepoError("a wave must cover at least one OPD")
    assert questionnaire_id is not None
    wave = Wave(
        slug=slug,
        title=title,
        status=status,
        questionnaire_id=questionnaire_id,
        scheme_id=scheme.id,
        simulated=simulated,
        period_start=period_start,
        period_end=period_end,
    )
    session.add(wave)
    session.flush()
    for opd in opds:
        session.add(WaveOpd(wave_id=wave.id, opd_id=opd.id, target_n=target_n))
    session.commit()
    return wave


def set_wave_status(session: Session, *, slug: str, status: str) -> Wave:
    """Move a wave to ``status`` (draft -> open -> closed -> published; reopen allowed). Commits."""
    allowed = {
        "draft": {"open"},
        "open": {"closed"},
        "closed": {"open", "published"},
        "published": set(),
    }
    wave = get_wave(session, slug=slug)
    if wave is None:
        raise RepoError(f"unknown wave {slug!r}")
    if status == wave.status:
        return wave
    if status not in allowed.get(wave.status, set()):
        raise RepoError(f"wave {slug!r} is {wave.status}; it cannot become {status}")
    wave.status = status
    session.add(wave)
    session.commit()
    return wave

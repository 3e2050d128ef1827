"""Data access: keyword-only functions that take the session explicitly.

Views and commands call these instead of building queries themselves, so the rules (which OPDs a
wave covers, which elements a questionnaire has, in which order) live in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from survey.core.models import (
    CategoryScheme,
    Element,
    ImportJob,
    Opd,
    Questionnaire,
    Response,
    Wave,
    WaveOpd,
)


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
    from survey.core.builtin import DEFAULT_QUESTIONNAIRE_SLUG

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
    evaluator: str | None = None,
) -> Wave:
    """Create a wave covering the named OPDs (None: every active OPD). Commits.

    Nothing is written when a slug is unknown or taken.
    """
    from survey.core.builtin import DEFAULT_SCHEME_SLUG
    from survey.core.models import WAVE_STATUSES

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
        evaluator=evaluator,
    )
    session.add(wave)
    session.flush()
    for opd in opds:
        session.add(WaveOpd(wave_id=wave.id, opd_id=opd.id, target_n=target_n))
    session.commit()
    return wave


def set_wave_status(session: Session, *, slug: str, status: str, commit: bool = True) -> Wave:
    """Move a wave to ``status`` (draft -> open -> closed -> published; reopen allowed).

    Commits unless ``commit`` is False, so that a caller can commit the change together with
    its audit entry.
    """
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
    if status == "closed":
        from survey.core.models import utcnow

        wave.closed_at = utcnow()
    if status == "published" and wave.published_at is None:
        from survey.core.models import utcnow

        wave.published_at = utcnow()
    session.add(wave)
    if commit:
        session.commit()
    else:
        session.flush()
    return wave


# --- Used by the command-line data tools (import, export, demo). -----------------------------


def wave_summaries(session: Session) -> list[tuple[Wave, int, int]]:
    """Return each wave (newest first) with its number of OPDs and of counted responses."""
    opd_counts = dict(
        session.exec(select(WaveOpd.wave_id, sa.func.count()).group_by(col(WaveOpd.wave_id))).all()
    )
    counted = dict(
        session.exec(
            select(Response.wave_id, sa.func.count())
            .where(Response.status == "counted")
            .group_by(col(Response.wave_id))
        ).all()
    )
    return [
        (wave, opd_counts.get(wave.id, 0), counted.get(wave.id, 0)) for wave in list_waves(session)
    ]


def response_counts(session: Session, *, wave: Wave) -> dict[str, int]:
    """Return the number of a wave's responses by status (counted, flagged)."""
    query = (
        select(Response.status, sa.func.count())
        .where(Response.wave_id == wave.id)
        .group_by(col(Response.status))
    )
    return dict(session.exec(query).all())


def submission_ids(session: Session, *, wave: Wave, channel: str) -> set[str]:
    """Return the submission ids a wave already holds from one channel."""
    query = select(Response.submission_id).where(
        Response.wave_id == wave.id, Response.channel == channel
    )
    return set(session.exec(query).all())


def insert_responses(
    session: Session, *, rows: Iterable[dict[str, Any]], batch_size: int = 5000
) -> int:
    """Insert response rows (dicts of column values, same keys in each) in bulk; no commit.

    Core executemany in batches keeps a 100,000-row import to seconds and its memory flat;
    the caller commits once so that the rows arrive all together or not at all.
    """
    table = Response.__table__  # type: ignore[attr-defined]
    connection = session.connection()
    total = 0
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= batch_size:
            connection.execute(table.insert(), batch)
            total += len(batch)
            batch = []
    if batch:
        connection.execute(table.insert(), batch)
        total += len(batch)
    return total


def counted_responses(session: Session, *, wave: Wave) -> Iterator[sa.Row[Any]]:
    """Yield a wave's counted responses (flagged left out), oldest first, with ``opd_slug``.

    Rows of the response columns plus the OPD's slug, not ORM objects: building 100,000
    objects would double the time of a large export.
    """
    table = Response.__table__  # type: ignore[attr-defined]
    query = (
        sa.select(col(Opd.slug).label("opd_slug"), *table.columns)
        .join(Opd, col(Opd.id) == table.c.opd_id)
        .where(table.c.wave_id == wave.id, table.c.status == "counted")
        .order_by(table.c.submitted_at, table.c.id)
        .execution_options(yield_per=2000)
    )
    yield from session.connection().execute(query)


def delete_wave(session: Session, *, wave: Wave) -> None:
    """Delete a wave with its responses, import jobs and OPD links; no commit."""
    session.exec(sa.delete(Response).where(col(Response.wave_id) == wave.id))
    session.exec(sa.delete(ImportJob).where(col(ImportJob.wave_id) == wave.id))
    session.exec(sa.delete(WaveOpd).where(col(WaveOpd.wave_id) == wave.id))
    session.delete(wave)
    session.flush()


def ensure_opd(
    session: Session,
    *,
    slug: str,
    name: str,
    short_name: str | None = None,
    service_population: int | None = None,
) -> Opd:
    """Return the OPD with this slug, creating it with these values if missing; no commit.

    An existing OPD is left as it is (an operator may have renamed it); a new one whose name
    another OPD already holds is refused.
    """
    opd = get_opd(session, slug=slug)
    if opd is not None:
        return opd
    holder = session.exec(select(Opd).where(Opd.name == name)).first()
    if holder is not None:
        raise RepoError(f"OPD name {name!r} is already used by OPD {holder.slug!r}")
    opd = Opd(slug=slug, name=name, short_name=short_name, service_population=service_population)
    session.add(opd)
    session.flush()
    return opd

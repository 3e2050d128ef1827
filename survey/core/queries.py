"""Read-only lookups: keyword-only functions that take the session explicitly.

Views, commands and services call these instead of building queries themselves, so the rules
(which OPDs a wave covers, which elements a questionnaire has, in which order) live in one
place. Nothing here writes: each change has its service (``opds``, ``waves``, ``submissions``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from survey.core.models import (
    CategoryScheme,
    Element,
    Opd,
    Questionnaire,
    Response,
    Wave,
    WaveOpd,
)
from survey.core.problems import ProblemError, define, problem

define({"builtin-missing": "the built-in {what} is missing; run 'ikm init-db'"})


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


def earlier_waves(
    session: Session,
    *,
    wave: Wave,
    opd: Opd,
    statuses: Sequence[str] = ("closed", "published"),
    newest_first: bool = False,
) -> Sequence[Wave]:
    """Return the waves created before ``wave`` that covered ``opd``, in ``statuses``, oldest
    first (newest first with ``newest_first``): the trend's and the change's candidates."""
    order = (
        (col(Wave.created_at).desc(), col(Wave.slug).desc())
        if newest_first
        else (col(Wave.created_at), col(Wave.slug))
    )
    query = (
        select(Wave)
        .join(WaveOpd, col(WaveOpd.wave_id) == Wave.id)
        .where(
            WaveOpd.opd_id == opd.id,
            Wave.id != wave.id,
            col(Wave.status).in_(tuple(statuses)),
            col(Wave.created_at) < wave.created_at,
        )
        .order_by(*order)
    )
    return session.exec(query).all()


def get_questionnaire(session: Session, *, questionnaire_id: int) -> Questionnaire | None:
    """Return the questionnaire with this id."""
    return session.get(Questionnaire, questionnaire_id)


def elements(session: Session, *, questionnaire_id: int) -> Sequence[Element]:
    """Return a questionnaire's elements in question order."""
    query = (
        select(Element)
        .where(Element.questionnaire_id == questionnaire_id)
        .order_by(col(Element.position))
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
        raise ProblemError([problem("builtin-missing", what="questionnaire")])
    return questionnaire


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
        (wave, opd_counts.get(wave.id or 0, 0), counted.get(wave.id or 0, 0))
        for wave in list_waves(session)
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


def counted_responses(session: Session, *, wave: Wave) -> Iterator[sa.Row[Any]]:
    """Yield a wave's counted responses (flagged left out), oldest first, with ``opd_slug``.

    Rows of the response columns plus the OPD's slug, not ORM objects: building 100,000
    objects would double the time of a large export.
    """
    # Type error ignored below: SQLModel adds __table__ when the class is made; the type checker
    # cannot see it.
    table = Response.__table__  # type: ignore[attr-defined]
    query = (
        sa.select(col(Opd.slug).label("opd_slug"), *table.columns)
        .join(Opd, col(Opd.id) == table.c.opd_id)
        .where(table.c.wave_id == wave.id, table.c.status == "counted")
        .order_by(table.c.submitted_at, table.c.id)
        .execution_options(yield_per=2000)
    )
    yield from session.connection().execute(query)


def last_answer_times(session: Session, *, wave: Wave) -> list[tuple[int, str, Any]]:
    """Return (OPD id, slug, time) of each OPD's latest response to the wave (any status), for
    the OPDs that have one.

    One MAX per OPD of the wave, each a seek to the end of its part of the (wave, OPD, time)
    index: a few milliseconds for 500 OPDs, where grouping the wave's rows read them all.
    """
    latest = (
        select(sa.func.max(Response.submitted_at))
        .where(Response.wave_id == wave.id, Response.opd_id == WaveOpd.opd_id)
        .scalar_subquery()
    )
    query = (
        select(Opd.id, Opd.slug, latest)
        .join(WaveOpd, col(WaveOpd.opd_id) == Opd.id)
        .where(WaveOpd.wave_id == wave.id)
    )
    return [(int(i or 0), slug, at) for i, slug, at in session.exec(query).all() if at is not None]

"""Enumerators: who may record interviews for which waves and OPDs.

An enumerator is a staff account (role ``enumerator``) that an evaluator gives waves, and
optionally single OPDs of them (:class:`~survey.core.models.EnumeratorScope`; no OPD means
every OPD of the wave). Everything an enumerator records is attributed to it, so that the
evaluator can compare enumerators; what it may record is decided here alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import sqlalchemy as sa
from sqlmodel import Session, col, or_, select

from survey.core import accounts, queries, urls
from survey.core.audit import audit
from survey.core.models import EnumeratorScope, Opd, Response, User, Wave, utcnow
from survey.core.problems import ProblemError, define, problem

if TYPE_CHECKING:  # the statistics (scipy) load on first use, not at start-up
    from scoring.enumerators import EnumeratorEffects


def may_record(session: Session, *, user: User, wave_id: int, opd_id: int) -> bool:
    """Return True if ``user`` is an active enumerator scoped to this wave and OPD."""
    if user.role != "enumerator" or not user.active or user.id is None:
        return False
    found = session.exec(
        select(EnumeratorScope.id).where(
            EnumeratorScope.user_id == user.id,
            EnumeratorScope.wave_id == wave_id,
            or_(col(EnumeratorScope.opd_id).is_(None), EnumeratorScope.opd_id == opd_id),
        )
    ).first()
    return found is not None


define(
    {
        "enumerator-user-unknown": "unknown user {value!r}",
        "enumerator-not-enumerator": "user {value!r} has role {role!r}, not enumerator",
        "enumerator-opd-not-in-wave": "OPD {opd!r} is not covered by wave {wave!r}",
        "enumerator-wave-finished": "wave {wave!r} is {status}: enumerators are given a draft "
        "or open wave only",
        "enumerator-scope-exists": "{value!r} may already record {opd} of wave {wave!r}",
        "enumerator-scope-unknown": "{value!r} has no scope {opd} in wave {wave!r}",
        "enumerator-scope-id-unknown": "wave {wave!r} has no enumerator scope {value}",
    }
)

GRANTABLE_STATUSES = ("draft", "open")


class EnumeratorError(ProblemError):
    """An enumerator's scope cannot be granted or revoked as asked."""


def _opd_text(opd_slug: str | None) -> str:
    """Return how the English messages name a scope's OPD (None: all of the wave's)."""
    return f"OPD {opd_slug!r}" if opd_slug else "every OPD"


def create_enumerator(
    session: Session, *, username: str, password: str, actor: str, actor_role: str | None
) -> User:
    """Create an enumerator account (the account rules, audited as ``user.create``); commit.

    ``actor_role`` is checked by :func:`survey.core.accounts.create_user`: evaluators and
    administrators may create enumerators.
    """
    return accounts.create_user(
        session,
        username=username,
        password=password,
        role="enumerator",
        actor=actor,
        actor_role=actor_role,
    )


def _enumerator(session: Session, username: str, *, lock: bool = False) -> User:
    """Return the enumerator called ``username`` or raise (unknown, or another role)."""
    name = accounts.normalise_username(username)
    user = None
    if name and "\x00" not in name:  # PostgreSQL refuses NUL in a parameter; no name has one
        query = select(User).where(User.username == name)
        # Locking the user's row serialises two grants to one enumerator, so the duplicate
        # check of the caller holds (a NULL OPD escapes the unique constraint).
        user = session.exec(query.with_for_update() if lock else query).first()
    if user is None:
        raise EnumeratorError([problem("enumerator-user-unknown", "user", value=username)])
    if user.role != "enumerator":
        raise EnumeratorError(
            [problem("enumerator-not-enumerator", "user", value=user.username, role=user.role)]
        )
    return user


def _scopes_of(session: Session, *, user: User, wave: Wave) -> list[EnumeratorScope]:
    """Return the user's scopes in the wave."""
    query = select(EnumeratorScope).where(
        EnumeratorScope.user_id == user.id, EnumeratorScope.wave_id == wave.id
    )
    return list(session.exec(query).all())


def grant_scope(
    session: Session, *, wave: Wave, username: str, opd_slug: str | None, actor: str | None
) -> EnumeratorScope:
    """Let an enumerator record interviews in a wave (one OPD, or all: None); audit; commit.

    Refused (EnumeratorError, nothing written) for an unknown user or one of another role, a
    closed or published wave, an OPD the wave does not cover, and a scope already held (an
    OPD is also held through an "every OPD" scope).
    """
    slug = (opd_slug or "").strip() or None
    if wave.status not in GRANTABLE_STATUSES:
        raise EnumeratorError(
            [problem("enumerator-wave-finished", "wave", wave=wave.slug, status=wave.status)]
        )
    opd = None
    if slug is not None:
        opd = queries.opd_in_wave(session, wave=wave, opd_slug=slug)
        if opd is None:
            raise EnumeratorError(
                [problem("enumerator-opd-not-in-wave", "opd", opd=slug, wave=wave.slug)]
            )
    try:
        user = _enumerator(session, username, lock=True)
    except EnumeratorError:
        session.rollback()  # a refusal holds no lock
        raise
    held = _scopes_of(session, user=user, wave=wave)
    if any(s.opd_id is None or (opd is not None and s.opd_id == opd.id) for s in held):
        session.rollback()
        raise EnumeratorError(
            [
                problem(
                    "enumerator-scope-exists",
                    "opd",
                    value=user.username,
                    opd=_opd_text(slug),
                    wave=wave.slug,
                )
            ]
        )
    scope = EnumeratorScope(
        user_id=int(user.id or 0),
        wave_id=int(wave.id or 0),
        opd_id=opd.id if opd else None,
        granted_by=actor or "",
        granted_at=utcnow(),
    )
    session.add(scope)
    session.flush()
    audit(
        session,
        actor=actor,
        action="enumerator.grant",
        wave=wave.slug,
        username=user.username,
        opd=opd.slug if opd else None,
    )
    session.commit()
    return scope


def find_scope(
    session: Session, *, wave: Wave, username: str, opd_slug: str | None
) -> EnumeratorScope:
    """Return an enumerator's scope in the wave for one OPD (None: the "every OPD" scope)."""
    user = _enumerator(session, username)
    slug = (opd_slug or "").strip() or None
    opd = queries.get_opd(session, slug=slug) if slug else None
    for scope in _scopes_of(session, user=user, wave=wave):
        if (scope.opd_id is None and slug is None) or (opd is not None and scope.opd_id == opd.id):
            return scope
    raise EnumeratorError(
        [
            problem(
                "enumerator-scope-unknown",
                "opd",
                value=user.username,
                opd=_opd_text(slug),
                wave=wave.slug,
            )
        ]
    )


def revoke_scope(session: Session, *, wave: Wave, scope_id: int, actor: str | None) -> None:
    """Take a scope away (the row goes; interviews recorded stay attributed); audit; commit.

    Allowed in any state of the wave: taking a permission away is always safe.
    """
    query = (
        select(EnumeratorScope)
        .where(EnumeratorScope.id == scope_id, EnumeratorScope.wave_id == wave.id)
        .with_for_update()
    )
    scope = session.exec(query).first()
    if scope is None:
        session.rollback()
        raise EnumeratorError(
            [problem("enumerator-scope-id-unknown", "scope", wave=wave.slug, value=scope_id)]
        )
    user = session.get(User, scope.user_id)
    opd = session.get(Opd, scope.opd_id) if scope.opd_id is not None else None
    session.delete(scope)
    audit(
        session,
        actor=actor,
        action="enumerator.revoke",
        wave=wave.slug,
        username=user.username if user else None,
        opd=opd.slug if opd else None,
    )
    session.commit()


@dataclass(frozen=True)
class ScopeRow:
    """A scope as the wave's enumerator page and ``ikm enumerator list`` show it."""

    id: int
    username: str
    active: bool
    opd_slug: str | None  # None: every OPD of the wave
    opd_name: str | None
    granted_by: str
    granted_at: datetime


def list_scopes(session: Session, *, wave: Wave) -> list[ScopeRow]:
    """Return the wave's enumerator scopes by username, "every OPD" first, then by OPD."""
    query = (
        select(EnumeratorScope, User, Opd)
        .join(User, col(User.id) == EnumeratorScope.user_id)
        .join(Opd, col(Opd.id) == EnumeratorScope.opd_id, isouter=True)
        .where(EnumeratorScope.wave_id == wave.id)
    )
    rows = [
        ScopeRow(
            id=int(scope.id or 0),
            username=user.username,
            active=user.active,
            opd_slug=opd.slug if opd else None,
            opd_name=opd.name if opd else None,
            granted_by=scope.granted_by,
            granted_at=scope.granted_at,
        )
        for scope, user, opd in session.exec(query).all()
    ]
    return sorted(rows, key=lambda r: (r.username, r.opd_slug is not None, r.opd_name or ""))


def list_enumerators(session: Session) -> list[User]:
    """Return every enumerator account, by username."""
    query = select(User).where(User.role == "enumerator").order_by(User.username)
    return list(session.exec(query).all())


@dataclass(frozen=True)
class Assignment:
    """A wave and OPD an enumerator may record, as its landing page lists them."""

    wave_slug: str
    wave_title: str
    wave_status: str
    opd_slug: str
    opd_name: str

    @property
    def path(self) -> str:
        """Return the path of the interview page of this wave and OPD."""
        return urls.interview_path(self.wave_slug, self.opd_slug)


def assignments(session: Session, *, user: User) -> list[Assignment]:
    """Return the OPDs of draft and open waves the enumerator may record, by wave and OPD.

    An "every OPD" scope lists each OPD the wave covers; an inactive account has none.
    """
    if user.role != "enumerator" or not user.active:
        return []
    query = (
        select(EnumeratorScope, Wave)
        .join(Wave, col(Wave.id) == EnumeratorScope.wave_id)
        .where(EnumeratorScope.user_id == user.id, col(Wave.status).in_(GRANTABLE_STATUSES))
    )
    found: dict[tuple[int, int], Assignment] = {}
    for scope, wave in session.exec(query).all():
        for opd, _link in queries.wave_opds(session, wave=wave):
            if scope.opd_id is None or scope.opd_id == opd.id:
                found[(int(wave.id or 0), int(opd.id or 0))] = Assignment(
                    wave.slug, wave.title, wave.status, opd.slug, opd.name
                )
    return sorted(found.values(), key=lambda a: (a.wave_title, a.wave_slug, a.opd_name))


# ---------------------------------------------------------------------------------------------
# What the enumerators recorded


@dataclass(frozen=True)
class EnumeratorStats:
    """One enumerator's interviews in a wave: counts, OPDs, durations, first and last."""

    username: str
    counted: int
    flagged: int
    opds: int
    # Quartiles of the interview durations in seconds (numpy's linear interpolation) over the
    # interviews that carry one, counted and flagged alike; None when none does.
    seconds_q1: float | None
    seconds_median: float | None
    seconds_q3: float | None
    first_at: datetime
    last_at: datetime

    @property
    def interviews(self) -> int:
        """Return every interview recorded, counted or flagged."""
        return self.counted + self.flagged


def wave_enumerator_stats(session: Session, *, wave: Wave) -> list[EnumeratorStats]:
    """Return, per enumerator who recorded interviews in the wave, its figures, by username."""
    query = (
        sa.select(
            col(User.username),
            col(Response.status),
            col(Response.opd_id),
            col(Response.seconds),
            col(Response.submitted_at),
        )
        .join(User, col(User.id) == col(Response.enumerator_id))
        .where(col(Response.wave_id) == wave.id, col(Response.channel) == "interview")
    )
    rows: dict[str, list[tuple[str, int, int | None, datetime]]] = {}
    for username, status, opd_id, seconds, at in session.execute(query).all():
        rows.setdefault(username, []).append((status, opd_id, seconds, at))
    found = []
    for username in sorted(rows):
        items = rows[username]
        durations = [float(s) for _status, _opd, s, _at in items if s is not None]
        q1 = median = q3 = None
        if durations:
            q1, median, q3 = (float(v) for v in np.percentile(durations, [25, 50, 75]))
        times = [at for *_rest, at in items]
        counted = sum(1 for status, *_rest in items if status == "counted")
        found.append(
            EnumeratorStats(
                username=username,
                counted=counted,
                flagged=len(items) - counted,
                opds=len({opd for _status, opd, *_rest in items}),
                seconds_q1=q1,
                seconds_median=median,
                seconds_q3=q3,
                first_at=min(times),
                last_at=max(times),
            )
        )
    return found


def respondent_scores(
    session: Session, *, wave: Wave
) -> tuple[list[float], list[str], list[int], int]:
    """Return the counted interviews' respondent means, enumerators and OPD ids, and m.

    A respondent's score is its mean over the IKM elements it answered (a "not applicable"
    answer, stored as 0, is no score); interviews without any IKM answer are left out.
    """
    questionnaire = queries.get_questionnaire(session, questionnaire_id=wave.questionnaire_id)
    assert questionnaire is not None  # a wave's foreign key
    positions = [
        e.position
        for e in queries.elements(session, questionnaire_id=wave.questionnaire_id)
        if e.kind == "ikm"
    ]
    columns = [getattr(Response, f"a{p}") for p in positions]
    query = (
        sa.select(col(User.username), col(Response.opd_id), *columns)
        .join(User, col(User.id) == col(Response.enumerator_id))
        .where(
            col(Response.wave_id) == wave.id,
            col(Response.channel) == "interview",
            col(Response.status) == "counted",
        )
        .order_by(col(Response.id))
    )
    scores: list[float] = []
    names: list[str] = []
    opd_ids: list[int] = []
    for username, opd_id, *answers in session.execute(query).all():
        given = [float(a) for a in answers if a is not None and a != 0]
        if given:
            scores.append(sum(given) / len(given))
            names.append(username)
            opd_ids.append(int(opd_id))
    return scores, names, opd_ids, int(questionnaire.scale_points)


def wave_enumerator_effects(
    session: Session, *, wave: Wave, seed: int = 0, permutations: int | None = None
) -> EnumeratorEffects:
    """Run the enumerator-effect check (:mod:`scoring.enumerators`) on the wave's interviews.

    Counted interviews only, compared within OPDs; seeded, so the page shows the same result
    each time for the same data.
    """
    from scoring.enumerators import DEFAULT_PERMUTATIONS, enumerator_effects

    scores, names, opd_ids, points = respondent_scores(session, wave=wave)
    return enumerator_effects(
        scores,
        names,
        opd_ids,
        permutations=permutations or DEFAULT_PERMUTATIONS,
        seed=seed,
        scale_points=points,
    )

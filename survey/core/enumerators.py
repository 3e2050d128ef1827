"""Enumerators: who may record interviews for which waves and OPDs.

An enumerator is a staff account (role ``enumerator``) that an evaluator gives waves, and
optionally single OPDs of them (:class:`~survey.core.models.EnumeratorScope`; no OPD means
every OPD of the wave). Everything an enumerator records is attributed to it, so that the
evaluator can compare enumerators; what it may record is decided here alone.
"""

from __future__ import annotations

from sqlmodel import Session, col, or_, select

from survey.core.models import EnumeratorScope, User


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

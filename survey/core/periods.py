"""A wave's period: the local days on which it takes answers, and closing it when it is over.

``Wave.period_start`` and ``Wave.period_end`` are local days, both inclusive: the period runs
from 00:00 of its first day to 23:59:59 of its last day in the app's time zone (``IKM_TIMEZONE``,
Asia/Jakarta by default). A wave without dates, or without one of them, is unbounded on that
side. The rule, in full:

- an answer is taken only while the wave is open *and* today (local) is inside the period; the
  answer's INSERT checks both in the same statement (``survey.core.submissions``);
- a draft is never opened by its dates: opening stays an evaluator's decision;
- an open wave whose last day has passed is over: its *effective* status is closed, and
  :func:`close_overdue` (``ikm wave tick``, and every load of the dashboard and the workspace's
  wave pages) closes it for real, audited with the actor ``system``.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from survey.core import waves
from survey.core.models import Wave, utcnow
from survey.core.problems import define, problem

define(
    {
        "wave-period-over": (
            "the wave's period ended on {end}; move its last day before opening it again"
        ),
    }
)

DEFAULT_TIMEZONE = "Asia/Jakarta"
SYSTEM_ACTOR = "system"


def _zone(timezone: str | ZoneInfo) -> ZoneInfo:
    """Return the time zone named ``timezone`` (or ``timezone`` itself)."""
    return timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone)


def local_day(moment: datetime, timezone: str | ZoneInfo = DEFAULT_TIMEZONE) -> date:
    """Return the local day of an aware (or naive UTC) moment."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    return moment.astimezone(_zone(timezone)).date()


def in_period(
    wave: Wave, moment: datetime | None = None, timezone: str | ZoneInfo = DEFAULT_TIMEZONE
) -> bool:
    """Return True if ``moment`` (now by default) is inside the wave's period."""
    day = local_day(moment or utcnow(), timezone)
    if wave.period_start is not None and day < wave.period_start:
        return False
    return wave.period_end is None or day <= wave.period_end


def is_overdue(
    wave: Wave, moment: datetime | None = None, timezone: str | ZoneInfo = DEFAULT_TIMEZONE
) -> bool:
    """Return True if the wave is open and its last day is over at ``moment`` (now)."""
    return (
        wave.status == "open"
        and wave.period_end is not None
        and local_day(moment or utcnow(), timezone) > wave.period_end
    )


def effective_status(
    wave: Wave, moment: datetime | None = None, timezone: str | ZoneInfo = DEFAULT_TIMEZONE
) -> str:
    """Return the wave's status as it stands: an open wave past its last day is closed."""
    return "closed" if is_overdue(wave, moment, timezone) else wave.status


def check_can_open(
    wave: Wave, moment: datetime | None = None, timezone: str | ZoneInfo = DEFAULT_TIMEZONE
) -> None:
    """Refuse to open a wave whose last day is over (it would be closed again at once)."""
    if wave.period_end is not None and local_day(moment or utcnow(), timezone) > wave.period_end:
        raise waves.WaveSetupError(
            [problem("wave-period-over", "action", end=wave.period_end.isoformat())]
        )


def close_overdue(
    session: Session,
    *,
    moment: datetime | None = None,
    timezone: str | ZoneInfo = DEFAULT_TIMEZONE,
    wave: Wave | None = None,
) -> list[str]:
    """Close the open waves (or just ``wave``) whose last day is over; return their slugs.

    Each is closed through ``waves.change_status`` (one audit entry, actor ``system``, and its
    own commit). Nothing is written when no wave is overdue.
    """
    day = local_day(moment or utcnow(), timezone)
    query = select(Wave).where(
        Wave.status == "open", col(Wave.period_end).is_not(None), col(Wave.period_end) < day
    )
    if wave is not None:
        query = query.where(Wave.id == wave.id)
    overdue = list(session.exec(query).all())
    closed = []
    for item in overdue:
        try:
            waves.change_status(session, wave=item, action="close", actor=SYSTEM_ACTOR)
        except waves.WaveSetupError:
            # Closed by someone else since the read: nothing left to do.
            session.rollback()
            continue
        closed.append(item.slug)
    return closed


def period_condition(table: sa.Table) -> sa.ColumnElement[bool]:
    """Return the SQL condition "the local day ``:today`` is inside the wave's period"."""
    today = sa.bindparam("today", type_=sa.Date())
    return sa.and_(
        sa.or_(table.c.period_start.is_(None), table.c.period_start <= today),
        sa.or_(table.c.period_end.is_(None), table.c.period_end >= today),
    )

"""Reading the evidence of answers and acting on a burst of them, for the flagged review.

Every answer carries its evidence (see ``Response``): the channel and enrolled kiosk, a
verified visit code, the seconds from form to answer, straight-lining, a repeat device, a
network burst, an answer outside the OPD's service hours, and the keyed hash of the sender's
network. :class:`Evidence` is that set of signals as one value; the web labels it, the staff
exports write it as columns.

A *burst group* is the answers one network sent to one OPD within one clock hour (UTC) that
look suspicious: at least ``GROUP_MIN`` of them, or any marked ``burst`` by the rate limit.
An evaluator flags (reason ``burst``) or restores a whole group in one action,
:func:`act_on_group`, which writes one ``flag.group`` audit entry with the count and the
criteria. Restoring puts the group's answers flagged ``burst`` or ``manual`` back to counted
(``flag_reason`` None) and leaves the others (a repeat device, a bot suspect: each with its
own evidence) for one-by-one review; no evidence column is touched either way.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlmodel import Session, col, select

from survey.core import tallies
from survey.core.audit import audit
from survey.core.models import Opd, Response, Wave
from survey.core.problems import ProblemError, define, problem

GROUP_MIN = 5  # answers from one network to one OPD in one hour that make a group to review
GROUP_ACTIONS = ("flag", "restore")
# Flags an evaluator may lift for a whole group: the burst flag and earlier group decisions.
GROUP_RESTORABLE = ("burst", "manual")
GROUP_AUDIT_ACTION = "flag.group"

define(
    {
        "group-wave-published": (
            "wave {wave!r} is published; its answers can no longer be flagged or restored"
        ),
        "group-action-unknown": "unknown group action {value!r} (use flag or restore)",
        "group-empty": "no answer of network {network} to {opd} in that hour can be changed",
    }
)


class GroupError(ProblemError):
    """A group action is refused (published wave, unknown action, nothing to change)."""


@dataclass(frozen=True)
class BurstGroup:
    """The answers of one network to one OPD in one clock hour, by status."""

    opd: str  # slug
    opd_name: str
    network: str
    hour: datetime  # start of the hour, aware UTC
    counted: int
    flagged: int
    burst: int  # answers the rate limit marked burst
    restorable: int  # flagged burst or manual: what a restore would count again

    @property
    def total(self) -> int:
        """Return the number of answers in the group."""
        return self.counted + self.flagged


def _aware(moment: datetime) -> datetime:
    """Return a stored time as aware UTC (SQLite hands back naive UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def hour_start(moment: datetime) -> datetime:
    """Return the start of the UTC clock hour ``moment`` falls in."""
    return _aware(moment).replace(minute=0, second=0, microsecond=0)


def burst_groups(session: Session, *, wave: Wave, opd_slug: str | None = None) -> list[BurstGroup]:
    """Return the wave's burst groups (biggest first), of one OPD if ``opd_slug`` is given."""
    where: list[sa.ColumnElement[bool]] = [
        col(Response.wave_id) == wave.id,
        col(Response.network).is_not(None),
    ]
    if opd_slug is not None:
        where.append(col(Opd.slug) == opd_slug)
    # Only networks that sent GROUP_MIN answers to an OPD, or a burst, can form a group: the
    # hourly split happens here, in Python, so that one query serves SQLite and PostgreSQL.
    busy = (
        select(Response.opd_id, Response.network)
        .join(Opd, col(Opd.id) == Response.opd_id)
        .where(*where)
        .group_by(col(Response.opd_id), col(Response.network))
        .having(
            (sa.func.count() >= GROUP_MIN)
            | (sa.func.max(sa.case((col(Response.burst), 1), else_=0)) == 1)
        )
        .subquery()
    )
    query = (
        sa.select(
            *[
                col(Opd.slug),
                col(Opd.name),
                col(Response.network),
                col(Response.submitted_at),
                col(Response.status),
                col(Response.flag_reason),
                col(Response.burst),
            ]
        )
        .join(Opd, col(Opd.id) == Response.opd_id)
        .join(
            busy,
            (busy.c.opd_id == col(Response.opd_id)) & (busy.c.network == col(Response.network)),
        )
        .where(col(Response.wave_id) == wave.id)
    )
    tally: dict[tuple[str, str, str, datetime], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for slug, name, network, at, status, reason, burst in session.execute(query).all():
        counts = tally[(slug, name, network, hour_start(at))]
        counts[0 if status == "counted" else 1] += 1
        counts[2] += int(bool(burst))
        counts[3] += int(status == "flagged" and reason in GROUP_RESTORABLE)
    groups = [
        BurstGroup(slug, name, network, hour, *counts)
        for (slug, name, network, hour), counts in tally.items()
        if counts[0] + counts[1] >= GROUP_MIN or counts[2] > 0
    ]
    groups.sort(key=lambda g: (-g.total, g.hour, g.opd, g.network))
    return groups


@dataclass(frozen=True)
class GroupResult:
    """What a group action changed."""

    action: str
    changed: int
    counted_before: int
    counted_after: int


def act_on_group(
    session: Session,
    *,
    wave: Wave,
    opd_slug: str,
    network: str,
    hour: datetime,
    action: str,
    actor: str | None,
) -> GroupResult:
    """Flag (reason ``burst``) or restore one burst group in one audited transaction. Commits.

    ``flag`` flags the group's counted answers; ``restore`` counts again its answers flagged
    ``burst`` or ``manual``. Evidence columns stay as they are. Refused on a published wave
    and when nothing would change.
    """
    if action not in GROUP_ACTIONS:
        raise GroupError([problem("group-action-unknown", "action", value=action)])
    if wave.status == "published":
        raise GroupError([problem("group-wave-published", "wave", wave=wave.slug)])
    opd = session.exec(select(Opd).where(Opd.slug == opd_slug)).first()
    start = hour_start(hour)
    in_group: list[sa.ColumnElement[bool]] = [
        col(Response.wave_id) == wave.id,
        col(Response.opd_id) == (opd.id if opd else -1),
        col(Response.network) == network,
        col(Response.submitted_at) >= start,
        col(Response.submitted_at) < start + timedelta(hours=1),
    ]
    count_query = select(sa.func.count()).select_from(Response)
    counted_before = session.exec(count_query.where(*in_group, Response.status == "counted")).one()
    if action == "flag":
        chosen = [*in_group, col(Response.status) == "counted"]
        new_values: dict[str, Any] = {"status": "flagged", "flag_reason": "burst"}
    else:
        chosen = [
            *in_group,
            col(Response.status) == "flagged",
            col(Response.flag_reason).in_(GROUP_RESTORABLE),
        ]
        new_values = {"status": "counted", "flag_reason": None}
    try:
        # The rows are locked and then changed by id, so the kept statistics change by exactly
        # the rows that changed, even with answers arriving in the same hour meanwhile.
        before = tallies.locked_rows(session, *chosen)
        ids = [int(row["id"]) for row in before]
        change = sa.update(Response).where(tallies.ids_condition(ids), *chosen).values(new_values)
        result = session.execute(change.execution_options(synchronize_session=False))
        changed = cast("sa.CursorResult[Any]", result).rowcount
        if not changed:
            raise GroupError([problem("group-empty", "network", network=network, opd=opd_slug)])
        tallies.rows_changed(session, before, [{**row, **new_values} for row in before])
        after = counted_before - changed if action == "flag" else counted_before + changed
        audit(
            session,
            actor=actor,
            action=GROUP_AUDIT_ACTION,
            wave=wave.slug,
            opd=opd_slug,
            decision=action,
            count=changed,
            criteria={"network": network, "hour": start.isoformat(), "hours": 1},
            counted_before=counted_before,
            counted_after=after,
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return GroupResult(action, changed, counted_before, after)

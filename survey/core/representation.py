"""Who answered, and how: per OPD of a wave, the response rate, channels and day design effect.

Reads the wave's counted responses (their day in Asia/Jakarta, channel and IKM answers) and
hands them to the pure :mod:`scoring.design`. A response with no IKM answer says nothing about
the IKM and is left out, as the scores leave it out. The result feeds the ranking report
(:func:`reports.posterior.design_rows`) and the OPD head's page.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from scoring.design import UnitDesign, unit_design
from survey.core import queries
from survey.core.models import Opd, Response, Wave

__all__ = ["wave_design"]

ZONE = ZoneInfo("Asia/Jakarta")


def _day(moment: datetime) -> date:
    """The survey day of a stored time (stored in UTC; SQLite hands it back naive)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(ZONE).date()


def wave_design(
    session: Session, *, wave: Wave, opd: Opd | None = None
) -> Mapping[str, UnitDesign]:
    """Return, per OPD slug of the wave with a counted response, how its sample was collected.

    With `opd`, only that OPD's responses are read (its head's page needs no other).
    """
    positions = [
        e.position
        for e in queries.elements(session, questionnaire_id=wave.questionnaire_id)
        if e.kind == "ikm"
    ]
    covered = queries.wave_opds(session, wave=wave)
    by_id = {int(opd.id or 0): opd for opd, _link in covered}
    columns = [getattr(Response, f"a{p}") for p in positions]
    query = (
        select(Response.opd_id, Response.submitted_at, Response.channel, *columns)
        .where(Response.wave_id == wave.id, Response.status == "counted")
        .order_by(col(Response.id))
    )
    if opd is not None:
        query = query.where(Response.opd_id == opd.id)
    values: dict[int, list[float]] = defaultdict(list)
    days: dict[int, list[date]] = defaultdict(list)
    channels: dict[int, list[str]] = defaultdict(list)
    rows: list[Any] = list(session.exec(query).all())
    for row in rows:
        opd_id, submitted_at, channel = row[0], row[1], row[2]
        given = [int(a) for a in row[3:] if a]  # neither empty nor 0 ("not applicable")
        if int(opd_id) not in by_id or not given:
            continue
        values[opd_id].append(sum(given) / len(given))
        days[opd_id].append(_day(submitted_at))
        channels[opd_id].append(str(channel or "qr"))
    return {
        by_id[opd_id].slug: unit_design(
            by_id[opd_id].slug,
            values[opd_id],
            days[opd_id],
            channels[opd_id],
            population=by_id[opd_id].service_population,
        )
        for opd_id in sorted(values, key=lambda i: by_id[i].name)
    }

"""Answers recorded in the field: enumerators' interviews and kiosks, online or sent later.

An enumerator's phone and a counter kiosk keep answers on the device while the network is
down and send them when it returns. Everything the device says about an answer (when it was
shown, when it was answered, its id) is a claim, so this module bounds each claim:

- the answer's time is clamped to the last ``OFFLINE_MAX_AGE`` (seven days: a week in
  villages without signal is the longest honest gap we plan for; older claims become the
  oldest allowed moment, so a device cannot park answers in a long-gone hour);
- the interview's duration is the device's two times, bounded to ``0..MAX_SECONDS``; an
  "interview" shorter than ``INTERVIEW_MIN_SECONDS`` is flagged (nobody reads nine questions
  and a profile aloud and hears the answers in under a minute);
- an enumerator gets at most ``INTERVIEW_HOUR_CAP`` counted interviews in any hour of answer
  time: twenty is one interview every three minutes, already faster than a real one, so an
  honest enumerator never meets it, while an account with a script gets at most twenty counted
  ballots an hour (the rest is stored flagged ``burst`` for the evaluator to see). The window
  is measured on the stored answers' times, and checked both ways around each answer (the
  hour before and the hour after), so no order of sending fits more than twenty into any one
  hour of answer time. Since a device may claim any hour of the last week, the web layer also
  applies the same soft limit to arrivals (``survey.web.field._count``): answers claimed over
  168 hours and sent within one real hour count twenty, not 3,360. The price: more than twenty
  honest interviews sent at once (after a day without signal) arrive partly flagged ``burst``,
  and the evaluator restores them in the flagged review.
- the submission id is the device's UUID behind a prefix, so a resend (the network dropped
  after the server stored it) finds the first row instead of storing the answer twice.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from survey.core import tallies
from survey.core.models import Response

OFFLINE_MAX_AGE = timedelta(days=7)
MAX_SECONDS = 24 * 3600
INTERVIEW_MIN_SECONDS = 60.0
INTERVIEW_HOUR_CAP = 20
CAP_WINDOW = timedelta(hours=1)
# "f-" marks an id made on a field device; a server-issued render token's id is 32 hex digits.
SUBMISSION_PREFIX = "f-"
_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def submission_id(client_id: object) -> str | None:
    """Return the stored submission id of a device's UUID (v4, lower case), or None if invalid.

    >>> submission_id("0f8fad5b-d9cb-469f-a165-70867728950e")
    'f-0f8fad5b-d9cb-469f-a165-70867728950e'
    >>> submission_id("../../etc") is None
    True
    """
    if not isinstance(client_id, str) or not _UUID_RE.fullmatch(client_id):
        return None
    return SUBMISSION_PREFIX + client_id


def clamp_answered(claimed: datetime, *, now: datetime) -> datetime:
    """Return the claimed answer time within ``[now - OFFLINE_MAX_AGE, now]``.

    >>> from datetime import UTC
    >>> now = datetime(2026, 1, 20, 12, tzinfo=UTC)
    >>> clamp_answered(datetime(2026, 1, 1, tzinfo=UTC), now=now).isoformat()
    '2026-01-13T12:00:00+00:00'
    >>> clamp_answered(datetime(2026, 2, 1, tzinfo=UTC), now=now) == now
    True
    """
    return min(max(claimed, now - OFFLINE_MAX_AGE), now)


def seconds_between(shown: float, answered: float) -> int:
    """Return whole seconds from showing the form to answering it, within ``0..MAX_SECONDS``.

    >>> seconds_between(1000.0, 1185.5), seconds_between(50.0, 10.0), seconds_between(0, 1e9)
    (185, 0, 86400)
    """
    return int(min(max(answered - shown, 0.0), float(MAX_SECONDS)))


_TABLE = Response.__table__  # type: ignore[attr-defined]  # added by SQLModel


def _counted_near(enumerator_id: int, wave_id: int, at: datetime) -> sa.Select[int]:
    """Return the count of the enumerator's counted interviews within an hour of ``at``."""
    return sa.select(sa.func.count()).where(
        _TABLE.c.wave_id == wave_id,
        _TABLE.c.enumerator_id == enumerator_id,
        _TABLE.c.channel == "interview",
        _TABLE.c.status == "counted",
        _TABLE.c.submitted_at > at - CAP_WINDOW,
        _TABLE.c.submitted_at < at + CAP_WINDOW,
    )


def interview_burst(session: Session, *, enumerator_id: int, wave_id: int, at: datetime) -> bool:
    """Return True if the enumerator already has ``INTERVIEW_HOUR_CAP`` counted interviews of
    this wave less than an hour before or after ``at`` (the new one is then flagged)."""
    found = session.execute(_counted_near(enumerator_id, wave_id, at)).scalar_one()
    return int(found) >= INTERVIEW_HOUR_CAP


def recheck_cap(
    session: Session, *, response_id: int, enumerator_id: int, wave_id: int, at: datetime
) -> bool:
    """Flag a just-stored counted interview ``burst`` if racing sends took the hour past the
    cap; return True if it was flagged. Commits.

    Two sends that arrive together both see nineteen and both store "counted"; looking again
    after the insert, each sees more than the cap and steps back, so a script sending in
    parallel ends with at most the cap (an honest race, which needs two devices of one
    account at the same moment, at worst loses one counted answer to the flag).
    """
    found = int(session.execute(_counted_near(enumerator_id, wave_id, at)).scalar_one())
    if found <= INTERVIEW_HOUR_CAP:
        return False
    before = tallies.locked_rows(session, _TABLE.c.id == response_id, _TABLE.c.status == "counted")
    session.execute(
        _TABLE.update()
        .where(_TABLE.c.id == response_id, _TABLE.c.status == "counted")
        .values(status="flagged", flag_reason="burst", burst=True)
    )
    after = [{**row, "status": "flagged", "flag_reason": "burst"} for row in before]
    tallies.rows_changed(session, before, after)
    session.commit()
    return True

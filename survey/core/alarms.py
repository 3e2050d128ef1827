"""The alarm: per OPD of a wave, notice a burst or a shift within minutes and say so.

Four detectors look at one OPD's answers at a moment ``now`` (``detect``, pure, over plain
values; ``check_opd`` feeds it from the database):

- **rate**: answers in the last ``RATE_WINDOW`` against the OPD's own busiest clock hour in
  the ``RATE_LOOKBACK`` before (scaled to the window; at least ``RATE_FLOOR`` expected, or
  ``RATE_COLD_FLOOR`` while the OPD has less than ``RATE_WARM_UP`` of history):
  alarm when at least ``RATE_MIN_COUNT`` arrived and the Poisson tail P(X >= count) is below
  ``RATE_ALPHA``;
- **pattern**: the most frequent identical answer pattern of the last ``PATTERN_WINDOW``
  against that pattern's share among the other OPDs' latest ``PATTERN_BASELINE`` answers to
  the wave (smoothed, at least ``PATTERN_FLOOR``): alarm when it occurs at least
  ``PATTERN_MIN_COUNT`` times and the binomial tail is below ``ALPHA``;
- **mean-jump**: the mean answer of the last ``JUMP_K`` answers against the mean of the ones
  before (at least ``JUMP_MIN_REST``): alarm when they differ by at least ``JUMP_MIN_DIFF``
  scale points and by ``JUMP_Z`` standard errors;
- **burst**: at least ``BURST_MIN_COUNT`` answers of the last hour marked ``burst`` by the
  shared rate limit.

An alarm is an ``Alarm`` row with the figures that raised it and an ``alarm.raise`` audit
entry, once per (wave, OPD, kind) until an evaluator clears it (``alarm.clear``; the kind
then stays quiet for an hour, so that the burst just reviewed does not raise it again). The check
runs after stored answers (``after_answer``: at most once a minute per wave and OPD, whichever
worker or app server claims the minute first in the shared ``RateCounter`` table) and when the
live dashboard loads (``check_wave``), so an attack is on the dashboard within a couple of
minutes of its start. ``replay`` runs the detectors over timestamped answers in time order,
as the checks would have run: ``bench/alarms.py`` measures the false alarms on the demo.
"""

from __future__ import annotations

import logging
import math
import time
import weakref
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from survey.core import queries
from survey.core.audit import audit
from survey.core.models import ALARM_KINDS, Alarm, Opd, RateCounter, Response, Wave, utcnow
from survey.core.problems import ProblemError, define, problem

ALPHA = 1e-4  # tail probability below which a pattern or a count is not chance
RATE_ALPHA = 1e-6  # the rate's: arrivals bunch more than Poisson (queues, opening hours)
RATE_WINDOW = timedelta(minutes=10)
RATE_LOOKBACK = timedelta(days=7)
RATE_MIN_COUNT = 10
RATE_FLOOR = 2.0  # expected answers a window at least
RATE_WARM_UP = timedelta(hours=1)  # an OPD with less history than this is judged against
RATE_COLD_FLOOR = 6.0  # this floor (a busy counter's first hour is not an attack)
PATTERN_WINDOW = timedelta(hours=1)
PATTERN_MIN_COUNT = 8
PATTERN_FLOOR = 0.02
# The other OPDs' answers a pattern's share is counted in: their latest, by time. Enough to
# know a share to a tenth of a percentage point, and a count that costs the same in a wave of
# a million answers as in one of thirty thousand (the whole wave took 2 s a check at a million).
PATTERN_BASELINE = 20_000
JUMP_K = 20
JUMP_MIN_REST = 30
JUMP_MIN_DIFF = 0.5
JUMP_Z = 4.0
JUMP_SD_FLOOR = 0.25  # a standard deviation of the earlier answers at least
BURST_WINDOW = timedelta(hours=1)
BURST_MIN_COUNT = 3
CHECK_EVERY_SECONDS = 60
# After an answer flagged burst the check comes sooner: a scripted burst can be over within a
# minute, and nothing else may arrive to trigger the next check.
BURST_CHECK_EVERY_SECONDS = 10
QUIET_AFTER_CLEAR = timedelta(hours=1)
CHECK_KEY = "alarm-check"

define(
    {
        "alarm-not-found": "wave {wave!r} has no alarm {value}",
        "alarm-already-cleared": "alarm {value} was already cleared by {by}",
    }
)


class AlarmError(ProblemError):
    """An alarm cannot be cleared (unknown, or cleared already)."""


@dataclass(frozen=True)
class Answer:
    """One stored answer as the detectors see it."""

    at: datetime  # aware UTC
    pattern: tuple[int | None, ...]  # the answers in questionnaire order
    burst: bool = False

    @cached_property
    def mean(self) -> float | None:
        """Return the mean of the answered questions (None when none was answered)."""
        given = [value for value in self.pattern if value is not None]
        return sum(given) / len(given) if given else None


@dataclass(frozen=True)
class Finding:
    """What a detector saw: the alarm's kind and the figures that raised it."""

    kind: str
    detail: dict[str, Any] = field(default_factory=dict)


# The other OPDs of the wave: (answers with this pattern, all answers) among their latest
# ``PATTERN_BASELINE`` answers up to ``now``.
OtherShare = Callable[[tuple[int | None, ...]], tuple[int, int]]


def _rate(answers: Sequence[Answer], now: datetime) -> Finding | None:
    start = bisect_right(answers, now - RATE_WINDOW, key=_at)
    count = bisect_right(answers, now, key=_at) - start
    if count < RATE_MIN_COUNT:
        return None
    # The OPD's own busiest clock hour before the window, a sixth of it per ten minutes: a
    # counter's morning rush is its own normal, not an attack.
    first = bisect_right(answers, now - RATE_LOOKBACK, key=_at)
    hours = Counter(int(a.at.timestamp()) // 3600 for a in answers[first:start])
    busiest = max(hours.values(), default=0)
    # Less than an hour of history says little about the OPD's rush: a higher floor then.
    cold = now - RATE_WINDOW - answers[first].at < RATE_WARM_UP if first < start else True
    floor = RATE_COLD_FLOOR if cold else RATE_FLOOR
    expected = max(busiest * (RATE_WINDOW / timedelta(hours=1)), floor)
    from scipy.stats import poisson  # imported on first use: 0.3 s that most commands skip

    tail = float(poisson.sf(count - 1, expected))
    if tail >= RATE_ALPHA:
        return None
    return Finding(
        "rate",
        {
            "count": count,
            "minutes": int(RATE_WINDOW.total_seconds() // 60),
            "expected": round(expected, 2),
            "p": float(f"{tail:.2g}"),
        },
    )


def _at(answer: Answer) -> datetime:
    return answer.at


def _pattern(answers: Sequence[Answer], now: datetime, others: OtherShare) -> Finding | None:
    recent = [a.pattern for a in answers if now - PATTERN_WINDOW < a.at <= now]
    patterns = Counter(p for p in recent if any(v is not None for v in p))
    if not patterns:
        return None
    pattern, count = patterns.most_common(1)[0]
    if count < PATTERN_MIN_COUNT:
        return None
    same, total = others(pattern)
    share = max((same + 0.5) / (total + 1), PATTERN_FLOOR)
    from scipy.stats import binom  # imported on first use: 0.3 s that most commands skip

    tail = float(binom.sf(count - 1, len(recent), share))
    if tail >= ALPHA:
        return None
    return Finding(
        "pattern",
        {
            "pattern": "".join("-" if v is None else str(v) for v in pattern),
            "count": count,
            "of": len(recent),
            "minutes": int(PATTERN_WINDOW.total_seconds() // 60),
            "other_share": round(same / total, 4) if total else None,
            "p": float(f"{tail:.2g}"),
        },
    )


def _mean_jump(answers: Sequence[Answer]) -> Finding | None:
    means = [m for a in answers if (m := a.mean) is not None]
    if len(means) < JUMP_K + JUMP_MIN_REST:
        return None
    last, rest = means[-JUMP_K:], means[:-JUMP_K]
    last_mean, rest_mean = sum(last) / len(last), sum(rest) / len(rest)
    variance = sum((m - rest_mean) ** 2 for m in rest) / (len(rest) - 1)
    sd = max(math.sqrt(variance), JUMP_SD_FLOOR)
    z = (last_mean - rest_mean) / (sd * math.sqrt(1 / len(last) + 1 / len(rest)))
    if abs(last_mean - rest_mean) < JUMP_MIN_DIFF or abs(z) < JUMP_Z:
        return None
    return Finding(
        "mean-jump",
        {
            "last": JUMP_K,
            "last_mean": round(last_mean, 2),
            "rest_mean": round(rest_mean, 2),
            "rest": len(rest),
            "z": round(z, 1),
        },
    )


def _burst(answers: Sequence[Answer], now: datetime) -> Finding | None:
    count = sum(1 for a in answers if a.burst and now - BURST_WINDOW < a.at <= now)
    if count < BURST_MIN_COUNT:
        return None
    return Finding("burst", {"count": count, "minutes": int(BURST_WINDOW.total_seconds() // 60)})


def detect(answers: Sequence[Answer], *, now: datetime, others: OtherShare) -> list[Finding]:
    """Return what the four detectors see in one OPD's answers (oldest first) up to ``now``."""
    until = answers[: bisect_right(answers, now, key=_at)]
    found = (
        _rate(until, now),
        _pattern(until, now, others),
        _mean_jump(until),
        _burst(until, now),
    )
    return [finding for finding in found if finding is not None]


# --- The database side -----------------------------------------------------------------------


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _answer_columns(session: Session, wave: Wave) -> list[Any]:
    positions = [
        e.position for e in queries.elements(session, questionnaire_id=wave.questionnaire_id)
    ]
    return [getattr(Response, f"a{position}") for position in positions]


def opd_answers(session: Session, *, wave: Wave, opd_id: int) -> list[Answer]:
    """Return all the OPD's answers to the wave (any status), oldest first."""
    columns = _answer_columns(session, wave)
    # The whole series, not the last hours: the mean-jump compares the last answers with all
    # the ones before. One OPD's answers to one wave are thousands at most, read once a minute.
    query = (
        sa.select(*[col(Response.submitted_at), col(Response.burst), *columns])
        .where(col(Response.wave_id) == wave.id, col(Response.opd_id) == opd_id)
        .order_by(col(Response.submitted_at), col(Response.id))
    )
    return [
        Answer(at=_aware(row[0]), pattern=tuple(row[2:]), burst=bool(row[1]))
        for row in session.execute(query).all()
    ]


def _other_share(session: Session, *, wave: Wave, opd_id: int, now: datetime) -> OtherShare:
    """Return the share function of the wave's other OPDs, counted in the database.

    The other OPDs' latest ``PATTERN_BASELINE`` answers up to ``now`` are read backwards along
    ``ix_response_wave_time`` (wave, time, id, OPD), so a check costs the same at any size of
    wave, and an OPD flooding the wave cannot push the others out of its own baseline.
    """
    columns = _answer_columns(session, wave)
    latest = (
        sa.select(*columns)
        .where(
            col(Response.wave_id) == wave.id,
            col(Response.submitted_at) <= now,
            col(Response.opd_id) != opd_id,
        )
        .order_by(col(Response.submitted_at).desc(), col(Response.id).desc())
        .limit(PATTERN_BASELINE)
        .subquery()
    )

    def share(pattern: tuple[int | None, ...]) -> tuple[int, int]:
        same = [
            latest.c[column.key].is_(None) if value is None else latest.c[column.key] == value
            for column, value in zip(columns, pattern, strict=True)
        ]
        counts = sa.select(sa.func.count(), sa.func.count(sa.case((sa.and_(*same), 1))))
        total, matching = session.execute(counts.select_from(latest)).one()
        return int(matching), int(total)

    return share


def quiet_kinds(session: Session, *, wave_id: int, opd_id: int, now: datetime) -> set[str]:
    """Return the kinds not to raise for one OPD now: still open, or cleared in the last hour.

    An evaluator who clears an alarm has looked at it; the same burst must not raise it again
    at the next check, so a cleared kind stays quiet for ``QUIET_AFTER_CLEAR``.
    """
    query = select(Alarm.kind, Alarm.cleared_at).where(
        Alarm.wave_id == wave_id, Alarm.opd_id == opd_id
    )
    return {
        kind
        for kind, cleared in session.exec(query).all()
        if cleared is None or _aware(cleared) > now - QUIET_AFTER_CLEAR
    }


def check_opd(session: Session, *, wave: Wave, opd: Opd, now: datetime) -> list[str]:
    """Run the detectors on one OPD and raise each new finding (row and audit). Commits.

    Returns the kinds raised now; a kind open for the OPD, or cleared less than
    ``QUIET_AFTER_CLEAR`` ago, is not raised again.
    """
    assert wave.id is not None and opd.id is not None
    answers = opd_answers(session, wave=wave, opd_id=opd.id)
    findings = detect(
        answers, now=now, others=_other_share(session, wave=wave, opd_id=opd.id, now=now)
    )
    already = quiet_kinds(session, wave_id=wave.id, opd_id=opd.id, now=now)
    raised = []
    try:
        for finding in findings:
            if finding.kind in already:
                continue
            assert finding.kind in ALARM_KINDS
            alarm = Alarm(
                wave_id=wave.id,
                opd_id=opd.id,
                kind=finding.kind,
                raised_at=now,
                detail=finding.detail,
            )
            session.add(alarm)
            session.flush()
            audit(
                session,
                actor=None,
                action="alarm.raise",
                wave=wave.slug,
                opd=opd.slug,
                kind=finding.kind,
                alarm_id=alarm.id,
                **finding.detail,
            )
            raised.append(finding.kind)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return raised


# Per engine, the slot each claim key was last seen taken in (by this process or another):
# asking the database again within the same slot can only say "taken", so only the first
# answer of a slot in each process pays for the claim's write.
_TAKEN: weakref.WeakKeyDictionary[sa.Engine, dict[str, int]] = weakref.WeakKeyDictionary()


def claim_check(
    session: Session, *, wave_id: int, opd_id: int, now: datetime, burst: bool = False
) -> bool:
    """Claim this minute's check of one OPD for this worker; False if another has it. Commits.

    One INSERT that does nothing on a conflict: of all workers and app servers, the first to
    store (key, minute) runs the check. The OPD's older claims are dropped on the way. With
    ``burst`` the claim is of a 10-second slot, under a key of its own.
    """
    kind = f"{CHECK_KEY}-burst" if burst else CHECK_KEY
    key = f"{kind}:{wave_id}:{opd_id}"
    every = BURST_CHECK_EVERY_SECONDS if burst else CHECK_EVERY_SECONDS
    bucket = int(now.timestamp()) // every
    bind = session.get_bind()
    engine = bind if isinstance(bind, sa.Engine) else bind.engine
    taken = _TAKEN.setdefault(engine, {})
    if taken.get(key) == bucket:
        return False
    dialect = engine.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # RETURNING says whether the row went in (the row count is -1 here on PostgreSQL).
    table = RateCounter.__table__  # type: ignore[attr-defined]  # added by SQLModel at runtime
    statement = insert(table).values(key=key, bucket=bucket, count=1).on_conflict_do_nothing()
    claimed = session.connection().execute(statement.returning(table.c.key)).first() is not None
    if claimed:
        session.execute(
            sa.delete(RateCounter).where(
                col(RateCounter.key) == key, col(RateCounter.bucket) < bucket
            )
        )
    session.commit()
    if len(taken) > 10_000:  # keys of old waves and OPDs: start afresh
        taken.clear()
    taken[key] = bucket
    return claimed


def after_answer(
    session: Session,
    *,
    wave_id: int,
    opd_id: int,
    now: datetime | None = None,
    burst: bool = False,
) -> list[str]:
    """Check an OPD after one of its answers was stored, at most once a minute; never raises.

    After an answer flagged ``burst`` (its network past the soft limit) the check may also run
    once every 10 seconds, so that a burst raises its alarm while it lasts.

    The claim uses the caller's session (its answer already committed); the check runs in a
    session of its own, so that the alarm and its audit entry share one transaction even when
    the caller's connection is in autocommit mode. A failure of the check is logged, never
    passed on: the citizen's answer is stored and must be thanked for.
    """
    moment = now or utcnow()
    try:
        claimed = claim_check(session, wave_id=wave_id, opd_id=opd_id, now=moment)
        if not claimed and burst:
            claimed = claim_check(session, wave_id=wave_id, opd_id=opd_id, now=moment, burst=True)
        if not claimed:
            return []
        with Session(session.get_bind()) as own:
            wave, opd = own.get(Wave, wave_id), own.get(Opd, opd_id)
            if wave is None or opd is None or wave.status != "open":
                return []
            return check_opd(own, wave=wave, opd=opd, now=moment)
    except Exception:
        # Whatever went wrong (a locked database, a bug), the answer is stored: log it and
        # let the citizen be thanked; the next minute's check, or the dashboard, tries again.
        session.rollback()
        logging.getLogger(__name__).exception(
            "alarm check of wave %s OPD %s failed", wave_id, opd_id
        )
        return []


def due_opds(session: Session, *, wave: Wave) -> list[int]:
    """Return the OPDs of the wave with an answer stored since their last check began (or
    never checked), the latest answered first.

    An OPD with no answer since its last check has nothing new to find: its windows only
    lose answers as time passes, and its series is the one already judged.
    """
    prefix = f"{CHECK_KEY}:{wave.id}:"
    checked = {
        int(key.removeprefix(prefix)): int(bucket)
        for key, bucket in session.execute(
            sa.select(col(RateCounter.key), col(RateCounter.bucket)).where(
                col(RateCounter.key).startswith(prefix, autoescape=True)
            )
        ).all()
    }
    moved = [
        (_aware(last), opd_id)
        for opd_id, _slug, last in queries.last_answer_times(session, wave=wave)
        if opd_id not in checked
        or _aware(last).timestamp() >= checked[opd_id] * CHECK_EVERY_SECONDS
    ]
    return [opd_id for _last, opd_id in sorted(moved, reverse=True)]


def check_wave(
    session: Session,
    *,
    wave: Wave,
    now: datetime | None = None,
    budget_seconds: float | None = None,
) -> list[tuple[str, str]]:
    """Check the OPDs of an open wave that are due (:func:`due_opds`) and whose minute is not
    claimed yet; return (OPD, kind).

    With ``budget_seconds`` no new check starts once that much time has passed (one always
    runs): the OPDs left stay due for the next call. At 500 OPDs a check reads its OPD's whole
    series (about 20 ms), so the live dashboard checks within a budget before answering and
    the rest after (``bench/dashboard.py``).
    """
    moment = now or utcnow()
    if wave.status != "open" or wave.id is None:
        return []
    started = time.monotonic()
    raised = []
    for i, opd_id in enumerate(due_opds(session, wave=wave)):
        if budget_seconds is not None and i and time.monotonic() - started >= budget_seconds:
            break
        if claim_check(session, wave_id=wave.id, opd_id=opd_id, now=moment):
            opd = session.get(Opd, opd_id)
            assert opd is not None
            raised += [
                (opd.slug, kind) for kind in check_opd(session, wave=wave, opd=opd, now=moment)
            ]
    return raised


@dataclass(frozen=True)
class OpenAlarm:
    """An open alarm as the dashboard lists it."""

    id: int
    opd: str  # slug
    opd_name: str
    kind: str
    raised_at: datetime
    detail: dict[str, Any]


def open_alarms(session: Session, *, wave: Wave) -> list[OpenAlarm]:
    """Return the wave's open alarms, newest first."""
    query = (
        select(Alarm, Opd.slug, Opd.name)
        .join(Opd, col(Opd.id) == Alarm.opd_id)
        .where(Alarm.wave_id == wave.id, col(Alarm.cleared_at).is_(None))
        .order_by(col(Alarm.raised_at).desc(), col(Alarm.id).desc())
    )
    return [
        OpenAlarm(
            int(alarm.id or 0), slug, name, alarm.kind, _aware(alarm.raised_at), dict(alarm.detail)
        )
        for alarm, slug, name in session.exec(query).all()
    ]


def clear_alarm(
    session: Session, *, wave: Wave, alarm_id: int, actor: str | None, now: datetime | None = None
) -> Alarm:
    """Clear one open alarm of the wave (the kind may be raised again later). Commits."""
    alarm = session.exec(select(Alarm).where(Alarm.id == alarm_id).with_for_update()).first()
    if alarm is None or alarm.wave_id != wave.id:
        raise AlarmError([problem("alarm-not-found", "alarm", wave=wave.slug, value=alarm_id)])
    if alarm.cleared_at is not None:
        session.rollback()
        raise AlarmError(
            [problem("alarm-already-cleared", "alarm", value=alarm_id, by=alarm.cleared_by or "-")]
        )
    opd = session.get(Opd, alarm.opd_id)
    alarm.cleared_at = now or utcnow()
    alarm.cleared_by = actor
    session.add(alarm)
    audit(
        session,
        actor=actor,
        action="alarm.clear",
        wave=wave.slug,
        opd=opd.slug if opd else None,
        kind=alarm.kind,
        alarm_id=alarm.id,
    )
    session.commit()
    return alarm


# --- Replaying timestamped answers -----------------------------------------------------------


@dataclass(frozen=True)
class ReplayAlarm:
    """An alarm the replay raised: when, for which OPD, which kind and why."""

    at: datetime
    opd: str
    kind: str
    detail: dict[str, Any]


class _Latest:
    """The answers a replay has seen, in order, to count the other OPDs' latest as
    ``_other_share`` does: positions per OPD, per pattern and per (OPD, pattern), bisected."""

    def __init__(self) -> None:
        self.seen = 0
        self.by_opd: dict[str, list[int]] = {}
        self.by_pattern: dict[tuple[int | None, ...], list[int]] = {}
        self.by_both: dict[tuple[str, tuple[int | None, ...]], list[int]] = {}

    def add(self, slug: str, pattern: tuple[int | None, ...]) -> None:
        """Note the next answer."""
        for positions in (
            self.by_opd.setdefault(slug, []),
            self.by_pattern.setdefault(pattern, []),
            self.by_both.setdefault((slug, pattern), []),
        ):
            positions.append(self.seen)
        self.seen += 1

    def others(self, slug: str) -> OtherShare:
        """Return the share function of the OPDs other than ``slug`` among the answers so far."""
        own, seen = self.by_opd.get(slug, []), self.seen

        def others_from(start: int) -> int:
            return seen - start - (len(own) - bisect_left(own, start))

        # The latest start from which PATTERN_BASELINE answers are the other OPDs' (or 0): the
        # other OPDs' answers from a start fall as the start moves on, so bisect for it.
        too_late = bisect_left(
            range(seen + 1), True, key=lambda s: others_from(s) < PATTERN_BASELINE
        )
        start = max(too_late - 1, 0)

        def after(positions: list[int]) -> int:
            return len(positions) - bisect_left(positions, start)

        def share(pattern: tuple[int | None, ...]) -> tuple[int, int]:
            same = after(self.by_pattern.get(pattern, [])) - after(
                self.by_both.get((slug, pattern), [])
            )
            return same, others_from(start)

        return share


def replay(answers: Iterable[tuple[str, Answer]]) -> tuple[list[ReplayAlarm], int]:
    """Run the checks over (OPD, answer) pairs in time order as the live hook would.

    After each answer its OPD is checked unless it was checked less than a minute before;
    an alarm stays open (is not raised again) for the rest of the replay. Returns the alarms
    and the number of checks run.
    """
    ordered = sorted(answers, key=lambda pair: pair[1].at)
    by_opd: dict[str, list[Answer]] = {}
    latest = _Latest()
    last_check: dict[str, datetime] = {}
    open_: set[tuple[str, str]] = set()
    raised: list[ReplayAlarm] = []
    checks = 0
    for slug, answer in ordered:
        by_opd.setdefault(slug, []).append(answer)
        latest.add(slug, answer.pattern)
        earlier = last_check.get(slug)
        if earlier is not None and answer.at - earlier < timedelta(seconds=CHECK_EVERY_SECONDS):
            continue
        last_check[slug] = answer.at
        checks += 1
        for finding in detect(by_opd[slug], now=answer.at, others=latest.others(slug)):
            if (slug, finding.kind) not in open_:
                open_.add((slug, finding.kind))
                raised.append(ReplayAlarm(answer.at, slug, finding.kind, finding.detail))
    return raised, checks

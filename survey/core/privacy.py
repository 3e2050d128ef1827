"""Retention of respondent metadata (UU 27/2022): strip it from closed waves after a set time.

A response's answers are what the scores use; the respondent fields around them (when the
citizen was served, sex, age, education, occupation, the service used, the comment) and the
exact submission time are what could single a person out. ``strip_metadata`` sets those
fields to NULL for every response of a closed (or published) wave, keeps only the day of
``submitted_at`` (midnight in the app's time zone, so date-only views such as the open data
keep their dates), stamps ``Wave.metadata_stripped_at`` and writes a ``privacy.strip`` audit
entry, all in one transaction. The comment is stripped too: it is free text that often holds
names, telephone numbers or a description of one visit (see PRIVACY.md for why).

Of an answer's evidence only ``network`` goes with the metadata: the keyed hash of the
sender's network is a pseudonym that links every answer sent from one home, office or mobile
cell, needed while bursts can still be reviewed and no longer once the wave is closed. The
other signals stay: the yes/no flags (verified, uniform answers, repeat device, burst,
outside hours), the enrolled kiosk (a staff device, not a citizen's) and the seconds taken
(a duration that points at no one once the submission time is cut to its day) explain why an
answer is flagged, and flags keep shaping the counts after the strip.

``IKM_RETENTION_DAYS`` (0: keep) counts days since the wave was closed (``Wave.closed_at``;
for a wave published before that column existed, its publication time). ``ikm privacy apply``
strips every wave past that period, drops import jobs older than it, and drops failed
sign-ins older than the throttle window; run it daily from a timer (PRIVACY.md). A wave that
is reopened and closed again after a strip is due again, counted from its new closing time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from survey.core.models import ImportJob, LoginFailure, Response, Wave

# The respondent fields set to NULL (the answers a1..a24, the status, the flag and the other
# evidence stay): the network hash links answers to one sender's network, so it goes too.
STRIPPED_FIELDS = (
    "visited_at",
    "sex",
    "age",
    "education",
    "occupation",
    "service",
    "comment",
    "network",
)
STRIPPABLE_STATUSES = ("closed", "published")
STRIP_ACTION = "privacy.strip"


class PrivacyError(Exception):
    """A strip cannot be done (for example the wave is still open)."""


@dataclass(frozen=True)
class StripResult:
    """One wave stripped: how many responses, and when."""

    wave: str
    responses: int
    at: datetime


@dataclass
class RetentionReport:
    """What ``apply_retention`` did (or, in a dry run, would do)."""

    days: int
    stripped: list[StripResult] = field(default_factory=list)
    undated: list[str] = field(default_factory=list)  # closed waves without a closing time
    jobs_deleted: int = 0
    jobs_cleared: int = 0  # finished jobs that still held file bytes (should stay 0)
    login_failures_deleted: int = 0


def _aware(moment: datetime | None) -> datetime | None:
    """Return ``moment`` as an aware UTC time (SQLite may hand back naive UTC)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def day_start(moment: datetime, zone: ZoneInfo) -> datetime:
    """Return the start (00:00 local time, as UTC) of the local day ``moment`` falls on."""
    # Type error ignored below: _aware returns None only for None, and moment is never None here.
    local = _aware(moment).astimezone(zone)  # type: ignore[union-attr]
    return datetime.combine(local.date(), time(0), tzinfo=zone).astimezone(UTC)


def strip_metadata(
    session: Session,
    *,
    wave: Wave,
    actor: str | None,
    now: datetime,
    timezone: str = "Asia/Jakarta",
    reason: str = "manual",
) -> StripResult:
    """Remove the respondent metadata of every response of a closed wave, in one transaction.

    Sets the fields of ``STRIPPED_FIELDS`` to NULL, keeps only the local day of
    ``submitted_at``, stamps ``wave.metadata_stripped_at`` and writes the audit entry; the
    answers, statuses and flags (hence the scores) do not change. Commits.
    """
    from survey.core.audit import audit

    if wave.status not in STRIPPABLE_STATUSES:
        raise PrivacyError(
            f"wave {wave.slug!r} is {wave.status}; close it first (new answers would "
            "arrive with their metadata)"
        )
    zone = ZoneInfo(timezone)
    try:
        session.execute(
            sa.update(Response)
            .where(col(Response.wave_id) == wave.id)
            .values({name: None for name in STRIPPED_FIELDS})
        )
        rows = session.exec(
            select(Response.id, Response.submitted_at).where(Response.wave_id == wave.id)
        ).all()
        coarse = [
            {"id": rid, "submitted_at": start}
            for rid, moment in rows
            if (start := day_start(moment, zone)) != _aware(moment)
        ]
        if coarse:
            # ORM bulk UPDATE by primary key: one executemany, not one statement per row.
            session.execute(sa.update(Response), coarse)
        wave.metadata_stripped_at = now
        session.add(wave)
        audit(
            session,
            actor=actor,
            action=STRIP_ACTION,
            wave=wave.slug,
            responses=len(rows),
            reason=reason,
            fields=[*STRIPPED_FIELDS, "submitted_at (day kept)"],
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return StripResult(wave=wave.slug, responses=len(rows), at=now)


def retention_start(wave: Wave) -> datetime | None:
    """Return the moment a wave's retention period counts from (its closing), if known."""
    return _aware(wave.closed_at) or _aware(wave.published_at)


def due_waves(session: Session, *, days: int, now: datetime) -> tuple[list[Wave], list[Wave]]:
    """Return the closed waves past ``days`` whose metadata is still there, and undated ones."""
    if days <= 0:
        return [], []
    cutoff = now - timedelta(days=days)
    due: list[Wave] = []
    undated: list[Wave] = []
    waves = session.exec(
        select(Wave).where(col(Wave.status).in_(STRIPPABLE_STATUSES)).order_by(col(Wave.id))
    ).all()
    for wave in waves:
        start = retention_start(wave)
        if start is None:
            undated.append(wave)
            continue
        stripped = _aware(wave.metadata_stripped_at)
        # Reopened and closed again since the last strip: the new answers carry metadata.
        if start <= cutoff and (stripped is None or stripped < start):
            due.append(wave)
    return due, undated


def apply_retention(
    session: Session,
    *,
    days: int,
    now: datetime,
    timezone: str = "Asia/Jakarta",
    login_window_seconds: float = 15 * 60,
    dry_run: bool = False,
) -> RetentionReport:
    """Strip every wave past the retention period and drop old import jobs and sign-in failures.

    Each wave is stripped in a transaction of its own; the clean-up of jobs and failures is one
    more. With ``dry_run`` nothing is written and the report says what would be done.
    """
    from survey.core.imports import expire_stale_jobs

    if days < 0:
        raise PrivacyError(f"IKM_RETENTION_DAYS is {days}; use 0 (keep) or a number of days")
    report = RetentionReport(days=days)
    due, undated = due_waves(session, days=days, now=now)
    report.undated = [wave.slug for wave in undated]
    for wave in due:
        if dry_run:
            count = session.exec(
                select(sa.func.count()).select_from(Response).where(Response.wave_id == wave.id)
            ).one()
            report.stripped.append(StripResult(wave.slug, int(count), now))
        else:
            report.stripped.append(
                strip_metadata(
                    session, wave=wave, actor=None, now=now, timezone=timezone, reason="retention"
                )
            )
    login_cutoff = now - timedelta(seconds=login_window_seconds)
    old_failures = sa.select(sa.func.count()).select_from(LoginFailure)
    old_failures = old_failures.where(col(LoginFailure.at) <= login_cutoff)
    report.login_failures_deleted = int(session.execute(old_failures).scalar_one())
    holding = col(ImportJob.status).in_(("done", "failed")) & (
        sa.func.length(col(ImportJob.data)) > 0
    )
    report.jobs_cleared = int(
        session.execute(
            sa.select(sa.func.count()).select_from(ImportJob).where(holding)
        ).scalar_one()
    )
    # An import job's age counts from its upload (the file it held is the personal data).
    # A failed job whose rows are still to be taken back (``imports.take_back_failed``) stays:
    # its ``written`` is the only record of which rows those are.
    old_jobs = (
        (col(ImportJob.created_at) <= now - timedelta(days=days))
        & (sa.cast(col(ImportJob.written), sa.Text) == "[]")
        if days > 0
        else sa.false()
    )
    report.jobs_deleted = int(
        session.execute(
            sa.select(sa.func.count()).select_from(ImportJob).where(old_jobs)
        ).scalar_one()
    )
    if dry_run:
        session.rollback()
        return report
    # Uploads abandoned at the mapping step (or whose worker died) lose their bytes first.
    expire_stale_jobs(session, now=now)
    session.execute(sa.delete(LoginFailure).where(col(LoginFailure.at) <= login_cutoff))
    session.execute(sa.update(ImportJob).where(holding).values(data=b""))
    session.execute(sa.delete(ImportJob).where(old_jobs))
    session.commit()
    return report


# --- Command line ----------------------------------------------------------------------------

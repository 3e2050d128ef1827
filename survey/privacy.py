"""Retention of respondent metadata (UU 27/2022): strip it from closed waves after a set time.

A response's answers are what the scores use; the respondent fields around them (when the
citizen was served, sex, age, education, occupation, the service used, the comment) and the
exact submission time are what could single a person out. ``strip_metadata`` sets those
fields to NULL for every response of a closed (or published) wave, keeps only the day of
``submitted_at`` (midnight in the app's time zone, so date-only views such as the open data
keep their dates), stamps ``Wave.metadata_stripped_at`` and writes a ``privacy.strip`` audit
entry, all in one transaction. The comment is stripped too: it is free text that often holds
names, telephone numbers or a description of one visit (see PRIVACY.md for why).

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

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup
from sqlmodel import Session, col, select

from .models import ImportJob, LoginFailure, Response, Wave, utcnow

# The respondent fields set to NULL (the answers a1..a24, the status and the flag stay).
STRIPPED_FIELDS = ("visited_at", "sex", "age", "education", "occupation", "service", "comment")
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
    from .auth import audit

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
    from .dataio import expire_stale_jobs

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
    old_jobs = col(ImportJob.created_at) <= now - timedelta(days=days) if days > 0 else sa.false()
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

privacy_group = AppGroup(
    "privacy", help="Respondent metadata retention (UU No. 27 Tahun 2022); see PRIVACY.md."
)


def _fields() -> str:
    """Return the stripped fields as a list for messages."""
    return ", ".join(STRIPPED_FIELDS)


@privacy_group.command("strip")
@click.option("--wave", "wave_slug", required=True, help="Slug of a closed or published wave.")
@click.option("--yes", is_flag=True, help="Confirm: the metadata cannot be brought back.")
def strip_command(wave_slug: str, yes: bool) -> None:
    """Strip the respondent metadata of one closed wave now (answers and scores stay)."""
    from . import repo
    from .db import command_session

    with command_session() as session:
        wave = repo.get_wave(session, slug=wave_slug)
        if wave is None:
            raise click.ClickException(f"unknown wave {wave_slug!r}; see 'ikm wave list'")
        if wave.status not in STRIPPABLE_STATUSES:
            raise click.ClickException(
                f"wave {wave.slug!r} is {wave.status}; close it first: ikm wave close {wave.slug}"
            )
        count = session.exec(
            select(sa.func.count()).select_from(Response).where(Response.wave_id == wave.id)
        ).one()
        if not yes:
            raise click.ClickException(
                f"this removes for good {_fields()} and the time of day of submitted_at from "
                f"{count} responses of wave {wave.slug}: run again with --yes"
            )
        try:
            result = strip_metadata(
                session,
                wave=wave,
                actor=None,
                now=utcnow(),
                timezone=current_app.config["TIMEZONE"],
            )
        except PrivacyError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(
        f"Stripped the respondent metadata of {result.responses} responses of wave "
        f"{result.wave}; answers and scores are unchanged"
    )


@privacy_group.command("apply")
@click.option("--dry-run", is_flag=True, help="Say what would be done; change nothing.")
def apply_command(dry_run: bool) -> None:
    """Apply IKM_RETENTION_DAYS now: strip waves closed longer ago, drop old import jobs.

    Also drops failed sign-ins older than the throttle window. Meant for a daily timer (cron or
    systemd); prints one line per action.
    """
    from .db import command_session

    config = current_app.config
    days = int(config.get("RETENTION_DAYS") or 0)
    with command_session() as session:
        try:
            report = apply_retention(
                session,
                days=days,
                now=utcnow(),
                timezone=config["TIMEZONE"],
                login_window_seconds=float(config.get("LOGIN_FAILURE_WINDOW", 15 * 60)),
                dry_run=dry_run,
            )
        except PrivacyError as exc:
            raise click.ClickException(str(exc)) from None
    verb = "would strip" if dry_run else "stripped"
    prefix = "Dry run, nothing changed: " if dry_run else ""
    if days == 0:
        click.echo(f"{prefix}IKM_RETENTION_DAYS is 0: respondent metadata is kept")
    else:
        click.echo(f"{prefix}retention {days} days: {len(report.stripped)} waves due")
    for result in report.stripped:
        click.echo(f"{result.wave}\t{verb}\t{result.responses} responses")
    for slug in report.undated:
        click.echo(
            f"{slug}\tskipped\tclosed at an unknown time (before retention was recorded); "
            f"strip it with: ikm privacy strip --wave {slug} --yes"
        )
    drop = "would drop" if dry_run else "dropped"
    if days:
        click.echo(f"import jobs\t{drop}\t{report.jobs_deleted} older than {days} days")
    else:
        click.echo("import jobs\tkept\tIKM_RETENTION_DAYS is 0")
    if report.jobs_cleared:
        clear = "would clear" if dry_run else "cleared"
        click.echo(
            f"import jobs\t{clear}\t{report.jobs_cleared} finished jobs still holding file bytes"
        )
    click.echo(f"login failures\t{drop}\t{report.login_failures_deleted} past the throttle window")


COMMANDS: list[click.Command] = [privacy_group]

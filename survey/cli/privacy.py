"""``ikm privacy``: strip respondent metadata from a wave now, or by the retention rule."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup
from sqlmodel import select

from survey.core.models import Response, utcnow
from survey.core.privacy import (
    STRIPPABLE_STATUSES,
    STRIPPED_FIELDS,
    PrivacyError,
    apply_retention,
    strip_metadata,
)

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
    from survey.cli.common import command_session
    from survey.core import queries

    with command_session() as session:
        wave = queries.get_wave(session, slug=wave_slug)
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
    from survey.cli.common import command_session

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

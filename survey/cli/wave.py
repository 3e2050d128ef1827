"""``ikm wave``: create, edit, open, close, publish, revise and list survey waves."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from survey.cli.common import command_session as _database
from survey.cli.common import find_wave as _wave
from survey.core import checklist, periods, publications, queries, waves
from survey.core.builtin import DEFAULT_SCHEME_SLUG
from survey.core.models import VERIFICATION_MODES

# --- Waves ------------------------------------------------------------------------------------

wave_group = AppGroup("wave", help="Create, open, close and list survey waves.")


@wave_group.command("create")
@click.option("--slug", required=True, help="Used in survey URLs.")
@click.option("--title", required=True, help="e.g. 'Evaluasi 100 Hari Kerja'.")
@click.option("--evaluator", help="Who runs the survey, e.g. 'DPD KNPI Kota Serang'.")
@click.option(
    "--opds",
    default="all",
    show_default=True,
    help="'all' (every active OPD) or a comma-separated list of OPD slugs.",
)
@click.option(
    "--scheme",
    default=DEFAULT_SCHEME_SLUG,
    show_default=True,
    help="Category scheme slug, e.g. kepmenpan-25-2004.",
)
@click.option("--target", type=click.IntRange(min=1), help="Target sample size per OPD.")
@click.option("--start", type=click.DateTime(formats=["%Y-%m-%d"]), help="First day, YYYY-MM-DD.")
@click.option("--end", type=click.DateTime(formats=["%Y-%m-%d"]), help="Last day, YYYY-MM-DD.")
@click.option(
    "--verification",
    type=click.Choice(VERIFICATION_MODES),
    default="off",
    show_default=True,
    help="Visit codes: off, optional (answers with a code are marked verified) or required.",
)
@click.option(
    "--min-rank-n",
    type=int,
    default=waves.MIN_RANK_N_DEFAULT,
    show_default=True,
    help="OPDs with fewer counted responses are scored but not ranked (whole number >= 2).",
)
@click.option(
    "--multi-opd/--single-opd",
    default=False,
    show_default=True,
    help="Whether a citizen may rate up to 5 OPDs in one sitting from the wave's link /s/SLUG.",
)
def wave_create_command(
    slug: str,
    title: str,
    evaluator: str | None,
    opds: str,
    scheme: str,
    target: int | None,
    start: datetime | None,
    end: datetime | None,
    verification: str,
    min_rank_n: int,
    multi_opd: bool,
) -> None:
    """Create a wave (as a draft) over some or all OPDs with the default questionnaire."""
    opd_slugs: tuple[str, ...] | None = None
    if opds.strip().lower() != "all":
        # dict.fromkeys drops repeats and keeps the order given.
        opd_slugs = tuple(dict.fromkeys(s.strip() for s in opds.split(",") if s.strip()))
        if not opd_slugs:
            raise click.UsageError("--opds names no OPD; give 'all' or slugs like 'bpbd,rsud'")
    with _database() as session:
        if opd_slugs is None:
            opd_slugs = tuple(opd.slug for opd in queries.list_opds(session, active_only=True))
        # The options become the value object the workspace's form makes; the wave service
        # judges them (slug, texts, period, OPDs, scheme) the same way for both.
        settings = waves.WaveSettings(
            title=title.strip(),
            evaluator=(evaluator or "").strip() or None,
            period_start=start.date() if start else None,
            period_end=end.date() if end else None,
            opd_slugs=opd_slugs,
            questionnaire_id=None,
            scheme_slug=scheme,
            targets=dict.fromkeys(opd_slugs, target),
            verification=verification,
            min_rank_n=min_rank_n,
            multi_opd=multi_opd,
        )
        wave = waves.create_wave(session, slug=slug, settings=settings, actor=None)
        covered = len(queries.wave_opds(session, wave=wave))
        click.echo(
            f"Created wave {wave.slug} ({wave.status}) over {covered} OPDs; "
            f"open it with: ikm wave open {wave.slug}"
        )


@wave_group.command("edit")
@click.argument("slug")
@click.option("--title", help="A new title.")
@click.option("--evaluator", help="Who runs the survey ('' clears it).")
@click.option(
    "--verification",
    type=click.Choice(VERIFICATION_MODES),
    help="Visit codes: off, optional or required.",
)
@click.option(
    "--min-rank-n",
    type=int,
    help="OPDs with fewer counted responses are scored but not ranked (whole number >= 2).",
)
@click.option(
    "--multi-opd/--single-opd",
    default=None,
    help="Whether a citizen may rate up to 5 OPDs in one sitting from the wave's link.",
)
def wave_edit_command(
    slug: str,
    title: str | None,
    evaluator: str | None,
    verification: str | None,
    min_rank_n: int | None,
    multi_opd: bool | None,
) -> None:
    """Change a wave's title, evaluator, verification, minimum n for ranking or sittings.

    Refused once it is published.
    """
    with _database() as session:
        wave = _wave(session, slug)
        current = waves.current_settings(session, wave=wave)
        changes: dict[str, Any] = {}
        if title is not None:
            changes["title"] = title.strip()
        if evaluator is not None:
            changes["evaluator"] = evaluator.strip() or None
        if verification is not None:
            changes["verification"] = verification
        if min_rank_n is not None:
            changes["min_rank_n"] = min_rank_n
        if multi_opd is not None:
            changes["multi_opd"] = multi_opd
        settings = dataclasses.replace(current, **changes)
        changed = waves.update_wave(session, wave=wave, settings=settings, actor=None)
        click.echo(f"Wave {slug} changed" if changed else f"Wave {slug}: nothing to change")


def _change_status(
    slug: str,
    action: str,
    *,
    note: str | None = None,
    reason: str | None = None,
) -> None:
    """Open, close or revise a wave through the wave service (audited), and say so."""
    status, _audit_action = waves.STATUS_ACTIONS[action]
    with _database() as session:
        wave = _wave(session, slug)
        if wave.status == status:
            click.echo(f"Wave {slug} is already {status}")
            return
        try:
            if action == "open":
                periods.check_can_open(wave, timezone=str(current_app.config["TIMEZONE"]))
            wave = waves.change_status(
                session, wave=wave, action=action, actor=None, note=note, reason=reason
            )
        except waves.WaveSetupError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Wave {slug} is now {wave.status}")


def _build(slug: str, publication_id: int, version: int, *, reports: bool = True) -> None:
    """Build a publication inline, printing its progress; a failure is a ClickException.

    Without ``reports`` only the first phase is built (pages, ZIP); each report is then made
    when it is first asked for.
    """
    from survey.web import snapshots

    def progress(publication: Any) -> None:
        click.echo(f"Version {version}: {publication.done} of {publication.total} files")

    try:
        snapshots.build_now(current_app, publication_id, progress=progress, later=reports)
    except Exception as exc:
        raise click.ClickException(
            f"building version {version} of wave {slug} failed ({type(exc).__name__}: {exc}); "
            f"it is not public. Fix the cause and run: ikm wave snapshot {slug}"
        ) from None
    click.echo(f"Wave {slug}: version {version} is public")


@wave_group.command("open")
@click.argument("slug")
def wave_open_command(slug: str) -> None:
    """Open a wave (from draft, or reopen a closed one) so citizens can answer."""
    _change_status(slug, "open")


@wave_group.command("close")
@click.argument("slug")
def wave_close_command(slug: str) -> None:
    """Close an open wave: the survey pages stop taking answers."""
    _change_status(slug, "close")


ACKNOWLEDGE_ALL = "all"


def _acknowledged(codes: tuple[str, ...], confirm_reviewed: bool) -> tuple[set[str], bool]:
    """Return the item codes acknowledged on the command line, and whether 'all' was given."""
    known = set(checklist.ACKNOWLEDGEABLE_CODES)
    given = {code.strip().lower() for code in codes}
    unknown = sorted(given - known - {ACKNOWLEDGE_ALL} - set(checklist.BLOCKING_CODES))
    if unknown:
        raise click.BadParameter(
            f"unknown item {', '.join(unknown)} (items: "
            f"{', '.join(checklist.ACKNOWLEDGEABLE_CODES)}, or 'all')",
            param_hint="--acknowledge",
        )
    if confirm_reviewed:
        given.add("flagged")
    everything = ACKNOWLEDGE_ALL in given
    return (known if everything else given - {ACKNOWLEDGE_ALL}), everything


@wave_group.command("publish")
@click.argument("slug")
@click.option(
    "--acknowledge",
    "acknowledge",
    multiple=True,
    metavar="CODE",
    help=(
        "Acknowledge a checklist item by its code (repeat for each item the checklist "
        "lists); 'all' acknowledges every item listed, each named in the audit entry. "
        "Blocking items cannot be acknowledged."
    ),
)
@click.option(
    "--confirm-reviewed",
    is_flag=True,
    help="The same as --acknowledge flagged: the flagged responses were reviewed.",
)
@click.option(
    "--note",
    help="Public change note of a corrected version (required from version 2 on).",
)
@click.option(
    "--reports/--no-reports",
    default=True,
    help="Also build every OPD's reports now (default); without, each is made when first asked.",
)
def wave_publish_command(
    slug: str,
    acknowledge: tuple[str, ...],
    confirm_reviewed: bool,
    note: str | None,
    reports: bool,
) -> None:
    """Publish a closed wave after its checklist: its results are frozen into a new version.

    Prints the checklist first. A blocking item refuses; every other item must be
    acknowledged with --acknowledge CODE (exit status 2 otherwise, nothing changed). The new
    version's files are built here, with a progress line per batch.
    """
    acknowledged, everything = _acknowledged(acknowledge, confirm_reviewed)
    timezone = str(current_app.config["TIMEZONE"])
    with _database() as session:
        wave = _wave(session, slug)
        if wave.status == "published":
            click.echo(f"Wave {slug} is already published")
            return
        if wave.status != "closed":
            # The service's refusal (only a closed wave can be published), exit status 1.
            try:
                waves.change_status(session, wave=wave, action="publish", actor=None)
            except waves.WaveSetupError as exc:
                raise click.ClickException(str(exc)) from None
        items = checklist.publication_checklist(session, wave=wave, timezone=timezone)
        session.rollback()  # read only: the service recomputes the list in its transaction
        click.echo(f"Checklist of wave {slug} before publishing:")
        for item in items:
            click.echo("\n".join(item.english()))
        if not items:
            click.echo("    nothing to report")
        listed = [item.code for item in items if not item.blocking]
        if everything:
            acknowledged = set(listed)  # the items printed above, each named in the audit
            click.echo(f"Acknowledged (all): {', '.join(listed) or 'none'}")
        absent = sorted(acknowledged - set(listed))
        if absent:
            click.echo(f"Not in the checklist (ignored): {', '.join(absent)}")
        try:
            wave = waves.change_status(
                session,
                wave=wave,
                action="publish",
                actor=None,
                acknowledged=acknowledged,
                timezone=timezone,
                note=note,
            )
        except waves.WaveSetupError as exc:
            click.echo(f"Error: {exc}", err=True)
            if any(p.code == "wave-checklist-unacknowledged" for p in exc.problems):
                click.echo(
                    "Publish with --acknowledge CODE for each item once you have read it.",
                    err=True,
                )
            raise click.exceptions.Exit(2) from None
        click.echo(f"Wave {slug} is now {wave.status}")
        building = publications.latest(session, wave=wave)
    if building is not None:
        _build(slug, int(building.id or 0), building.version, reports=reports)


@wave_group.command("revise")
@click.argument("slug")
@click.option("--reason", required=True, help="Why it is corrected (audit log only).")
def wave_revise_command(slug: str, reason: str) -> None:
    """Take a published wave back to closed for a correction; its version stays public."""
    _change_status(slug, "revise", reason=reason)


@wave_group.command("snapshot")
@click.argument("slug")
def wave_snapshot_command(slug: str) -> None:
    """Build (again) the files of a wave's newest version after a failed or interrupted build."""
    with _database() as session:
        wave = _wave(session, slug)
        try:
            publication = publications.pending_publication(session, wave=wave)
        except waves.WaveSetupError as exc:
            raise click.ClickException(str(exc)) from None
        publication_id, version = int(publication.id or 0), publication.version
    _build(slug, publication_id, version)


@wave_group.command("tick")
def wave_tick_command() -> None:
    """Close the open waves whose last day (IKM_TIMEZONE) is over, audited as 'system'."""
    with _database() as session:
        closed = periods.close_overdue(session, timezone=str(current_app.config["TIMEZONE"]))
    for slug in closed:
        click.echo(f"Wave {slug} is now closed (its period is over)")
    if not closed:
        click.echo("No open wave is past its period")


@wave_group.command("list")
def wave_list_command() -> None:
    """List waves, newest first: slug, status, title, OPDs, counted responses (tab-separated)."""
    with _database() as session:
        for wave, n_opds, n_counted in queries.wave_summaries(session):
            click.echo(f"{wave.slug}\t{wave.status}\t{wave.title}\t{n_opds}\t{n_counted}")


@wave_group.command("logo")
@click.argument("slug")
@click.argument(
    "file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--remove", is_flag=True, help="Remove the wave's logo instead.")
def wave_logo_command(slug: str, file: Path | None, remove: bool) -> None:
    """Set (PNG or JPEG, at most 512 KB) or --remove the evaluator's logo of a wave's reports."""
    from survey.core import logos

    if remove == (file is not None):
        raise click.UsageError("give either FILE or --remove")
    with _database() as session:
        wave = _wave(session, slug)
        if remove:
            if logos.remove_logo(session, wave=wave, actor=None):
                click.echo(f"Wave {slug}: logo removed")
            else:
                click.echo(f"Wave {slug} has no logo")
            return
        assert file is not None
        with file.open("rb") as handle:
            data = handle.read(logos.MAX_LOGO_BYTES + 1)
        stored = logos.store_logo(session, wave=wave, data=data, actor=None)
        click.echo(f"Wave {slug}: logo stored ({stored.media_type}, {len(stored.data):,} bytes)")

"""``ikm opd``: add, list and import OPDs, and manage each OPD's list of services."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup
from sqlmodel import Session

from survey.cli.common import command_session as _database
from survey.cli.common import find_wave
from survey.core import opds, queries, units
from survey.core.models import Opd

# --- OPDs -------------------------------------------------------------------------------------

opd_group = AppGroup("opd", help="Manage OPDs (the units citizens rate).")


@opd_group.command("add")
@click.argument("slug")
@click.option("--name", required=True, help="Full name, e.g. 'Dinas Perhubungan'.")
@click.option("--short-name", help="Short name, e.g. 'Dishub'.")
@click.option(
    "--population",
    help="Service users per period (for the Krejcie-Morgan sample size), a whole number.",
)
@click.option("--hours", help="Service hours HH:MM-HH:MM, local time, e.g. 08:00-15:30.")
def opd_add_command(
    slug: str, name: str, short_name: str | None, population: str | None, hours: str | None
) -> None:
    """Add an OPD."""
    # The OPD service judges every field, as it does for the workspace's form: a refused
    # value is one English line and exit status 1, and nothing is written.
    with _database() as session:
        opd = opds.create_opd(
            session,
            slug=slug,
            name=name,
            short_name=short_name,
            service_population=population,
            service_hours=hours,
            actor=None,
        )
        click.echo(f"Added OPD {opd.slug}: {opd.name}")


@opd_group.command("edit")
@click.argument("slug")
@click.option("--name", help="Full name.")
@click.option("--short-name", help="Short name ('' clears it).")
@click.option("--population", help="Service users per period, a whole number ('' clears it).")
@click.option(
    "--hours",
    help="Service hours HH:MM-HH:MM, local time ('' clears them); answers outside them are "
    "marked off-hours in their evidence.",
)
def opd_edit_command(
    slug: str,
    name: str | None,
    short_name: str | None,
    population: str | None,
    hours: str | None,
) -> None:
    """Change an OPD's fields; an option left out keeps its value."""
    with _database() as session:
        opd = _opd_or_fail(session, slug)
        population_now = "" if opd.service_population is None else str(opd.service_population)
        changes = opds.update_opd(
            session,
            opd=opd,
            name=opd.name if name is None else name,
            short_name=(opd.short_name or "") if short_name is None else short_name,
            service_population=population_now if population is None else population,
            service_hours=(opd.service_hours or "") if hours is None else hours,
            actor=None,
        )
        if not changes:
            click.echo(f"OPD {opd.slug}: nothing changed")
            return
        for field_name, (before, after) in changes.items():
            click.echo(f"OPD {opd.slug}: {field_name} {before!r} -> {after!r}")


@opd_group.command("list")
def opd_list_command() -> None:
    """List OPDs: slug, name, short name, active|inactive, service hours (tab-separated)."""
    with _database() as session:
        for opd in queries.list_opds(session):
            state = "active" if opd.active else "inactive"
            hours = opd.service_hours or ""
            click.echo(f"{opd.slug}\t{opd.name}\t{opd.short_name or ''}\t{state}\t{hours}")


@opd_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and report; write nothing.")
def opd_import_command(file: Path, dry_run: bool) -> None:
    """Add and update OPDs from a CSV file (slug, name[, short_name, service_population,
    service_hours])."""
    data = file.read_bytes()
    with _database() as session:
        report = opds.import_opds(
            session, data=data, filename=file.name, actor=None, dry_run=dry_run
        )
    if report.file_problem is not None:
        raise click.ClickException(f"{file.name}: {report.file_problem.english()}; nothing written")
    if report.row_problems:
        # Every bad row on stderr, then the one-line verdict.
        for bad in report.row_problems:
            click.echo(bad.english(), err=True)
        count = len(report.row_problems)
        raise click.ClickException(
            f"{file.name}: {count} bad row{'s' if count != 1 else ''}; nothing written"
        )
    prefix = "Dry run, nothing written: would be " if dry_run else ""
    click.echo(f"{prefix}{report.summary()}")


# --- Services ---------------------------------------------------------------------------------


def _opd_or_fail(session: Session, slug: str) -> Opd:
    """Return the OPD with this slug, or stop with an English error."""
    found = opds.get_opd(session, slug=slug)
    if found is None:
        raise click.ClickException(f"unknown OPD {slug!r}")
    return found


@opd_group.command("services")
@click.argument("slug")
@click.option("--all", "show_all", is_flag=True, help="Include removed services.")
def opd_services_command(slug: str, show_all: bool) -> None:
    """List an OPD's services in form order: name, active|removed (tab-separated)."""
    with _database() as session:
        opd = _opd_or_fail(session, slug)
        assert opd.id is not None
        for service in opds.list_services(session, opd_id=opd.id, active_only=not show_all):
            click.echo(f"{service.name}\t{'active' if service.active else 'removed'}")


@opd_group.command("service-add")
@click.argument("slug")
@click.argument("name")
def opd_service_add_command(slug: str, name: str) -> None:
    """Add a service to an OPD's list (offered on the citizen's form; audited)."""
    with _database() as session:
        service = opds.add_service(session, opd=_opd_or_fail(session, slug), name=name, actor=None)
        click.echo(f"Added service {service.name!r} to OPD {slug}")


@opd_group.command("service-remove")
@click.argument("slug")
@click.argument("name")
def opd_service_remove_command(slug: str, name: str) -> None:
    """Take a service off an OPD's form (answers that named it keep it; audited)."""
    with _database() as session:
        opds.remove_service(session, opd=_opd_or_fail(session, slug), name=name, actor=None)
        click.echo(f"Removed service {name.strip()!r} from OPD {slug}")


# --- Service units ----------------------------------------------------------------------------

unit_group = AppGroup(
    "unit", help="Manage an OPD's service units (a Puskesmas, a kecamatan office, a counter)."
)
opd_group.add_command(unit_group)


@unit_group.command("add")
@click.argument("opd_slug", metavar="OPD")
@click.argument("slug")
@click.argument("name")
def unit_add_command(opd_slug: str, slug: str, name: str) -> None:
    """Add a unit to an OPD (its survey page is /s/<wave>/<OPD>/<SLUG>; audited)."""
    with _database() as session:
        unit = units.add_unit(
            session, opd=_opd_or_fail(session, opd_slug), slug=slug, name=name, actor=None
        )
        click.echo(f"Added unit {unit.slug} to OPD {opd_slug}: {unit.name}")


@unit_group.command("list")
@click.argument("opd_slug", metavar="OPD")
def unit_list_command(opd_slug: str) -> None:
    """List an OPD's units in order: slug, name, active|inactive (tab-separated)."""
    with _database() as session:
        opd = _opd_or_fail(session, opd_slug)
        assert opd.id is not None
        for unit in units.list_units(session, opd_id=opd.id):
            click.echo(f"{unit.slug}\t{unit.name}\t{'active' if unit.active else 'inactive'}")


@unit_group.command("rename")
@click.argument("opd_slug", metavar="OPD")
@click.argument("slug")
@click.argument("name")
def unit_rename_command(opd_slug: str, slug: str, name: str) -> None:
    """Give a unit a new name (its slug, and so its links, stay; audited)."""
    with _database() as session:
        opd = _opd_or_fail(session, opd_slug)
        unit = units.unit_or_error(session, opd=opd, slug=slug)
        if units.rename_unit(session, opd=opd, unit=unit, name=name, actor=None):
            click.echo(f"Unit {opd_slug}/{unit.slug} renamed: {unit.name}")
        else:
            click.echo(f"Unit {opd_slug}/{unit.slug}: nothing changed")


def _set_active(opd_slug: str, slug: str, active: bool) -> None:
    """Deactivate or reactivate a unit and say what happened."""
    with _database() as session:
        opd = _opd_or_fail(session, opd_slug)
        unit = units.unit_or_error(session, opd=opd, slug=slug)
        state = "active" if active else "inactive"
        if units.set_unit_active(session, opd=opd, unit=unit, active=active, actor=None):
            click.echo(f"Unit {opd_slug}/{unit.slug} is now {state}")
        else:
            click.echo(f"Unit {opd_slug}/{unit.slug} was already {state}")


@unit_group.command("deactivate")
@click.argument("opd_slug", metavar="OPD")
@click.argument("slug")
def unit_deactivate_command(opd_slug: str, slug: str) -> None:
    """Deactivate a unit: its survey page and poster go, its answers stay (audited)."""
    _set_active(opd_slug, slug, False)


@unit_group.command("activate")
@click.argument("opd_slug", metavar="OPD")
@click.argument("slug")
def unit_activate_command(opd_slug: str, slug: str) -> None:
    """Reactivate a unit (audited)."""
    _set_active(opd_slug, slug, True)


@unit_group.command("target")
@click.argument("opd_slug", metavar="OPD")
@click.argument("slug")
@click.option("--wave", "wave_slug", required=True, help="The wave the target is for.")
@click.option("--target", help="Target sample size of the unit in the wave ('' clears it).")
@click.option("--clear", is_flag=True, help="Remove the unit's target in the wave.")
def unit_target_command(
    opd_slug: str, slug: str, wave_slug: str, target: str | None, clear: bool
) -> None:
    """Set or clear a unit's target sample in a wave (the OPD's target stays; audited)."""
    if clear == (target is not None):
        raise click.UsageError("give either --target N or --clear")
    with _database() as session:
        wave = find_wave(session, wave_slug)
        opd = _opd_or_fail(session, opd_slug)
        unit = units.unit_or_error(session, opd=opd, slug=slug)
        value = None if clear else target
        changed = units.set_unit_target(
            session, wave=wave, opd=opd, unit=unit, target=value, actor=None
        )
        shown = units.unit_targets(session, wave=wave).get(int(unit.id or 0))
        verb = "is" if changed else "was already"
        click.echo(
            f"Unit {opd_slug}/{unit.slug} in wave {wave.slug}: target {verb} "
            f"{shown if shown is not None else 'none'}"
        )

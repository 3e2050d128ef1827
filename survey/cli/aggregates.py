"""``ikm aggregates``: rebuild or verify the kept statistics that scoring reads.

Every write of a response keeps them in step (``survey.core.tallies``); these commands are
for after something wrote rows behind the service's back (a bulk load straight into the
database, a hand-made fix), and for checking.
"""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from sqlmodel import Session, select

from survey.cli.common import command_session
from survey.cli.common import find_wave as _wave

aggregates_group = AppGroup(
    "aggregates", help="The kept per-OPD statistics that scores are computed from."
)


def _wave_id(session: Session, slug: str | None) -> int | None:
    """Return the id of the wave named, or None for every wave."""
    if slug is None:
        return None
    return int(_wave(session, slug).id or 0)


@aggregates_group.command("rebuild")
@click.option("--wave", "wave_slug", help="Slug of one wave (default: every wave).")
def rebuild_command(wave_slug: str | None) -> None:
    """Recount the kept statistics from the responses and store them (one transaction)."""
    from survey.core import tallies

    with command_session() as session:
        written = tallies.rebuild(session, wave_id=_wave_id(session, wave_slug))
        session.commit()
    click.echo(f"Rebuilt the kept statistics: {written} rows")


@aggregates_group.command("verify")
@click.option("--wave", "wave_slug", help="Slug of one wave (default: every wave).")
def verify_command(wave_slug: str | None) -> None:
    """Compare the kept statistics with a recount of the responses; exit 1 if they differ.

    Each differing (wave, OPD, service unit, verified) is named on standard error.
    """
    from survey.core import tallies
    from survey.core.models import Opd, ServiceUnit, Wave

    with command_session() as session:
        differ = tallies.differences(session, wave_id=_wave_id(session, wave_slug))
        waves = dict(session.exec(select(Wave.id, Wave.slug)).all())
        opds = dict(session.exec(select(Opd.id, Opd.slug)).all())
        units = dict(session.exec(select(ServiceUnit.id, ServiceUnit.slug)).all())
        session.rollback()
    for wave_id, opd_id, unit_id, verified in differ:
        unit = units.get(unit_id, str(unit_id)) if unit_id else "-"
        click.echo(
            f"differs: wave {waves.get(wave_id, wave_id)} OPD {opds.get(opd_id, opd_id)} "
            f"unit {unit} {'verified' if verified else 'unverified'}",
            err=True,
        )
    if differ:
        click.echo(
            f"{len(differ)} kept statistics differ from the responses; "
            "run 'ikm aggregates rebuild'",
            err=True,
        )
        sys.exit(1)
    click.echo("The kept statistics equal a recount of the responses")

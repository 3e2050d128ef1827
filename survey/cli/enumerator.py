"""``ikm enumerator``: give enumerators a wave (or one OPD of it), take it away, list them.

Enumerator accounts are made with ``ikm user add NAME --role enumerator``. Grants and
revocations are audited (``enumerator.grant``, ``enumerator.revoke``) with no actor: the
operator at the command line.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask.cli import AppGroup

from survey.cli.common import command_session, find_wave
from survey.core import enumerators

ALL_OPDS = "*"  # how the list names an "every OPD of the wave" scope (no slug holds "*")


def _utc_text(moment: datetime) -> str:
    """Return a stored time as ISO 8601 UTC to the second (a naive one is UTC already)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0).isoformat() + "Z"


enumerator_group = AppGroup("enumerator", help="Give enumerators waves and OPDs to interview.")


@enumerator_group.command("grant")
@click.argument("name")
@click.option("--wave", "wave_slug", required=True, help="The wave (slug).")
@click.option("--opd", "opd_slug", default=None, help="One OPD of the wave; every OPD if left out.")
def grant_command(name: str, wave_slug: str, opd_slug: str | None) -> None:
    """Let enumerator NAME record interviews for the wave (or one OPD of it)."""
    with command_session() as db:
        wave = find_wave(db, wave_slug)
        enumerators.grant_scope(db, wave=wave, username=name, opd_slug=opd_slug, actor=None)
        where = f"OPD {opd_slug}" if opd_slug else "every OPD"
        click.echo(f"{name} may now record interviews for {where} of wave {wave.slug}.")


@enumerator_group.command("revoke")
@click.argument("name")
@click.option("--wave", "wave_slug", required=True, help="The wave (slug).")
@click.option(
    "--opd", "opd_slug", default=None, help="The OPD of the scope; the all-OPD scope if left out."
)
def revoke_command(name: str, wave_slug: str, opd_slug: str | None) -> None:
    """Take a scope away from enumerator NAME (its recorded interviews stay)."""
    with command_session() as db:
        wave = find_wave(db, wave_slug)
        scope = enumerators.find_scope(db, wave=wave, username=name, opd_slug=opd_slug)
        enumerators.revoke_scope(db, wave=wave, scope_id=int(scope.id or 0), actor=None)
        where = f"OPD {opd_slug}" if opd_slug else "every OPD"
        click.echo(f"{name} may no longer record interviews for {where} of wave {wave.slug}.")


@enumerator_group.command("list")
@click.option("--wave", "wave_slug", required=True, help="The wave (slug).")
def list_command(wave_slug: str) -> None:
    """List the wave's scopes: username, then tab-separated OPD slug ('*': every OPD), active,
    granted by ('-': the command line) and when (UTC, ISO 8601)."""
    with command_session() as db:
        wave = find_wave(db, wave_slug)
        for row in enumerators.list_scopes(db, wave=wave):
            active = "active" if row.active else "inactive"
            at = _utc_text(row.granted_at)
            fields = [row.username, row.opd_slug or ALL_OPDS, active, row.granted_by or "-", at]
            click.echo("\t".join(fields))

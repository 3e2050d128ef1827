"""``ikm compare``: the change of every OPD between two waves (table, JSON or CSV)."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from survey.cli.common import command_session, find_wave, write_atomically


@click.command("compare")
@click.option(
    "--wave",
    "wave_slugs",
    multiple=True,
    required=True,
    help="Slug of a wave; give it twice: the earlier wave (A), then the later one (B).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
@with_appcontext
def compare_command(wave_slugs: tuple[str, ...], fmt: str, output: Path | None) -> None:
    """Compare two waves: each OPD's change B − A with its 95% interval (Welch).

    An OPD "improved" or "declined" only when the change stays significant after Holm's
    correction over every OPD compared (5%); OPDs that were in wave A's lowest or highest
    quarter and moved toward the middle are marked (regression to the mean). Waves that cannot
    be compared are refused with the reason, and nothing is written. The JSON and CSV fields
    are described in survey/core/changes.py.
    """
    from survey.core.changes import ChangeRefused, compare, to_csv, to_json, to_table

    if len(wave_slugs) != 2:
        raise click.ClickException(
            f"Berikan tepat dua gelombang (--wave A --wave B), bukan {len(wave_slugs)}."
        )
    with command_session() as session:
        wave_a = find_wave(session, wave_slugs[0])
        wave_b = find_wave(session, wave_slugs[1])
        try:
            report = compare(session, wave_a=wave_a, wave_b=wave_b)
        except ChangeRefused as exc:
            raise click.ClickException(f"Tidak dapat dibandingkan: {exc}") from None
    text = {"table": to_table, "json": to_json, "csv": to_csv}[fmt](report)
    if output is None:
        click.echo(text)
    else:
        write_atomically(output, (text + ("" if text.endswith("\n") else "\n")).encode("utf-8"))

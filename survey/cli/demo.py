"""``ikm demo``: build the demo database and its reports."""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from survey.cli.common import (
    command_session as _database,
)
from survey.cli.common import (
    find_wave as _wave,
)
from survey.cli.report import ranking_of as _ranking
from survey.cli.report import write_opd_reports, write_posters, write_ranking_report
from survey.core import queries
from survey.core.database import first_line as _first_line
from survey.core.database import upgrade
from survey.core.urls import survey_url
from survey.web.database import get_engine

# --- Demo -------------------------------------------------------------------------------------


@click.command("demo")
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Seed of the simulation (default: the fixed demo seed, so every build is the same).",
)
@click.option(
    "--reports",
    "reports_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the demo reports (default: demo-reports/ in the instance folder).",
)
@click.option("--no-reports", is_flag=True, help="Build the database only.")
@with_appcontext
def demo_command(seed: int | None, reports_dir: Path | None, no_reports: bool) -> None:
    """Build (or rebuild) the demo: 20 OPDs of Kota Serang, a simulated open wave, reports."""
    from survey.core.demo import DEMO_SEED, write_demo, write_demo_accounts
    from survey.core.settings import write_secret_file

    if current_app.config.get("ENV") == "production":
        raise click.ClickException(
            "ikm demo writes simulated data; refusing because IKM_ENV=production"
        )
    engine = get_engine()
    click.echo(f"Preparing the database {engine.url.render_as_string(hide_password=True)} ...")
    try:
        upgrade(engine)
    except sa.exc.DBAPIError as exc:
        raise click.ClickException(f"database error: {_first_line(exc.orig or exc)}") from None
    if engine.url.get_backend_name() == "sqlite":
        write_secret_file(current_app.instance_path)
    with _database() as session:
        wave, data = write_demo(session, seed=DEMO_SEED if seed is None else seed, echo=click.echo)
        counts = queries.response_counts(session, wave=wave)
    click.echo(
        f"Demo ready: wave {wave.slug} ({wave.status}, simulated) over {len(data.opds)} OPDs, "
        f"{counts.get('counted', 0)} counted and {counts.get('flagged', 0)} flagged responses."
    )
    base = str(current_app.config["PUBLIC_URL"]).rstrip("/")
    click.echo("Survey page and QR code of each OPD:")
    for opd in data.opds:
        click.echo(
            f"{opd.slug}\t{survey_url(base, wave.slug, opd.slug)}"
            f"\t{base}/qr/{wave.slug}/{opd.slug}.svg"
        )
    with _database() as session:
        accounts = write_demo_accounts(session)
    click.echo(f"Demo accounts (sign in at {base}/masuk; new passwords at every build):")
    for username, role, password in accounts:
        click.echo(f"{username}\t{role}\t{password}")
    if not no_reports:
        folder = reports_dir or Path(current_app.instance_path) / "demo-reports"
        _write_demo_reports(wave.slug, data.opds[0].slug, folder)


def _write_demo_reports(wave_slug: str, opd_slug: str, folder: Path) -> None:
    """Write the demo's ranking report, one OPD report and the posters; print their paths."""
    click.echo(f"Writing the demo reports to {folder} ...")
    with _database() as session:
        wave = _wave(session, wave_slug)
        ranking = _ranking(session, wave, 0, 0)
        paths = [folder / f"{wave.slug}-ranking.pdf", folder / f"{wave.slug}-posters.pdf"]
        write_ranking_report(ranking, paths[0], lang="id", top_k=5)
        write_posters(session, wave, paths[1], lang="id")
        paths[1:1] = write_opd_reports(session, wave, ranking, [opd_slug], folder, lang="id")
    click.echo("Demo reports:")
    for path in paths:
        click.echo(f"  {path}")

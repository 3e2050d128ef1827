"""``ikm codes``: a batch of one-time visit codes for an OPD, as a printable PDF and a CSV.

The codes are stored only as keyed hashes; the plain codes exist only in the files written
here, so keep them as you would keep blank receipts.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from survey.cli.common import LANGS
from survey.cli.common import command_session as _database
from survey.cli.common import stderr as _stderr
from survey.cli.common import write_atomically as _write_atomically
from survey.core import codes, urls
from survey.core.models import utcnow


def codes_csv(batch: codes.TicketBatch, url: str) -> bytes:
    """Return the batch as CSV: one code a row (as printed), with its wave, OPD and URL."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["code", "wave", "opd", "url"])
    for code in batch.codes:
        writer.writerow([codes.display_code(code), batch.wave.slug, batch.opd.slug, url])
    return buffer.getvalue().encode("utf-8")


@click.command("codes")
@click.option("--wave", "wave_slug", required=True, help="Slug of the wave.")
@click.option("--opd", "opd_slug", required=True, help="Slug of the OPD that hands them out.")
@click.option("--count", type=int, required=True, help=f"How many codes (1..{codes.MAX_BATCH}).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The printable PDF (A4, twelve tickets a page); default codes-WAVE-OPD.pdf.",
)
@click.option(
    "--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Also a CSV."
)
@click.option("--lang", type=LANGS, default="id", show_default=True)
@with_appcontext
def codes_command(
    wave_slug: str,
    opd_slug: str,
    count: int,
    output: Path | None,
    csv_path: Path | None,
    lang: str,
) -> None:
    """Make COUNT one-time visit codes for an OPD of a wave: a PDF of tickets and a CSV."""
    from reports.codesheet import CodeSheet, render_code_sheet

    output = output or Path(f"codes-{wave_slug}-{opd_slug}.pdf")
    with _database() as session:
        batch = codes.create_ticket_codes(
            session,
            wave_slug=wave_slug,
            opd_slug=opd_slug,
            count=count,
            secret=current_app.config["SECRET_KEY"],
            actor=None,
            commit=False,
        )
        url = urls.survey_url(current_app.config["PUBLIC_URL"], batch.wave.slug, batch.opd.slug)
        sheet = CodeSheet(
            opd_name=batch.opd.name,
            wave_title=batch.wave.title,
            url=url,
            codes=tuple(codes.display_code(code) for code in batch.codes),
        )
        click.echo(f"Rendering {count} tickets ...", file=_stderr())
        pdf = render_code_sheet(sheet, lang="en" if lang == "en" else "id", created_at=utcnow())
        # Stored once the sheet exists, and before the files are written: if writing fails,
        # the stored hashes belong to codes nobody holds, which is harmless; the reverse
        # order could print codes that do not work.
        session.commit()
    _write_atomically(output, pdf)
    click.echo(f"Wrote {count} codes for {batch.opd.slug} in {batch.wave.slug} to {output}")
    if csv_path is not None:
        _write_atomically(csv_path, codes_csv(batch, url))
        click.echo(f"Wrote {count} codes to {csv_path}")

"""``ikm report``: the ranking report, the OPD reports and the QR posters as PDF."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from sqlmodel import Session

from survey.cli.common import (
    LANGS,
)
from survey.cli.common import (
    command_session as _database,
)
from survey.cli.common import (
    find_wave as _wave,
)
from survey.cli.common import (
    stderr as _stderr,
)
from survey.cli.common import (
    write_atomically as _write_atomically,
)
from survey.core import queries
from survey.core.models import Wave

if TYPE_CHECKING:  # the reports (matplotlib, WeasyPrint) load when a report is asked for
    from collections.abc import Mapping

    from reports.model import Lang, ScoredWave
    from scoring.design import UnitDesign

# --- Reports ----------------------------------------------------------------------------------

report_group = AppGroup("report", help="PDF reports: the ranking, OPD reports, QR posters.")


def ranking_of(session: Session, wave: Wave, seed: int, bootstrap: int) -> ScoredWave:
    """Score the wave for a report; a wave without counted responses is a clear error."""
    from survey.core.scores import score_wave

    try:
        scored = score_wave(session, wave=wave, seed=seed, bootstrap=bootstrap)
        scored.wave_score()  # refuses a wave with no counted response
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    return scored


@report_group.command("ranking")
@click.option("--wave", "wave_slug", required=True, help="Slug of the wave.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--lang", type=LANGS, default="id", show_default=True)
@click.option("--top", "top_k", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--bootstrap", type=click.IntRange(min=0), default=0, show_default=True)
@with_appcontext
def report_ranking_command(
    wave_slug: str, output: Path, lang: Lang, top_k: int, seed: int, bootstrap: int
) -> None:
    """Write the ranking report of a wave (PDF)."""
    with _database() as session:
        wave = _wave(session, wave_slug)
        ranking = ranking_of(session, wave, seed, bootstrap)
        from survey.core.representation import wave_design

        design = wave_design(session, wave=wave)
    size = write_ranking_report(ranking, output, lang=lang, top_k=top_k, design=design)
    click.echo(f"Wrote the ranking report of {wave_slug} to {output} ({size:,} bytes)")


def write_ranking_report(
    ranking: ScoredWave,
    output: Path,
    *,
    lang: Lang,
    top_k: int,
    design: Mapping[str, UnitDesign] | None = None,
) -> int:
    """Render and write a ranking report; return its size."""
    from reports.ranking import render_ranking_pdf

    pdf = render_ranking_pdf(ranking, lang=lang, top_k=top_k, design=design)
    _write_atomically(output, pdf)
    return len(pdf)


@report_group.command("opd")
@click.option("--wave", "wave_slug", required=True, help="Slug of the wave.")
@click.option("--opd", "opd_slug", help="One OPD's slug.")
@click.option("--all", "all_opds", is_flag=True, help="Every OPD of the wave.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--lang", type=LANGS, default="id", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@with_appcontext
def report_opd_command(
    wave_slug: str, opd_slug: str | None, all_opds: bool, output: Path, lang: Lang, seed: int
) -> None:
    """Write OPD heads' reports (one PDF per OPD) into a folder."""
    if bool(opd_slug) == all_opds:
        raise click.UsageError("give either --opd SLUG or --all")
    with _database() as session:
        wave = _wave(session, wave_slug)
        covered = [opd.slug for opd, _link in queries.wave_opds(session, wave=wave)]
        if opd_slug and opd_slug not in covered:
            raise click.ClickException(f"OPD {opd_slug!r} is not covered by wave {wave_slug!r}")
        ranking = ranking_of(session, wave, seed, 0)
        written = write_opd_reports(
            session, wave, ranking, covered if all_opds else [str(opd_slug)], output, lang=lang
        )
    for path in written:
        click.echo(str(path))
    click.echo(f"Wrote {len(written)} OPD reports to {output}", err=True)


def write_opd_reports(
    session: Session, wave: Wave, ranking: ScoredWave, slugs: list[str], folder: Path, *, lang: Lang
) -> list[Path]:
    """Render and write one OPD report per slug, with a progress bar; return the paths.

    Several reports render in two processes, this one and a worker (one per core of a small
    server); each file is written as soon as it is ready, so memory stays flat however many
    OPDs there are.
    """
    from reports.opd import render_opd_pdfs
    from survey.core.reportdata import opd_report_data, wave_scorer

    scorer = wave_scorer(wave=wave, ranking=ranking)  # each earlier wave scored once
    inputs = [
        opd_report_data(session, wave=wave, ranking=ranking, opd_slug=s, scorer=scorer)
        for s in slugs
    ]
    written = []
    with click.progressbar(length=len(inputs), label="OPD reports", file=_stderr()) as bar:
        rendered = render_opd_pdfs(
            inputs, lang=lang, workers=2, progress=lambda _done, _total, _slug: bar.update(1)
        )
        for slug, pdf in rendered:
            path = folder / f"{wave.slug}-{slug}.pdf"
            _write_atomically(path, pdf)
            written.append(path)
    return written


@report_group.command("posters")
@click.option("--wave", "wave_slug", required=True, help="Slug of the wave.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--lang", type=LANGS, default="id", show_default=True)
@with_appcontext
def report_posters_command(wave_slug: str, output: Path, lang: Lang) -> None:
    """Write the QR posters of a wave: one A4 page per OPD, then one per active unit of it (PDF)."""
    with _database() as session:
        wave = _wave(session, wave_slug)
        count, size = write_posters(session, wave, output, lang=lang)
    click.echo(f"Wrote {count} QR posters of {wave_slug} to {output} ({size:,} bytes)")


def write_posters(session: Session, wave: Wave, output: Path, *, lang: Lang) -> tuple[int, int]:
    """Render and write the wave's QR posters; return (posters, bytes)."""
    from reports.posters import render_posters_pdf
    from survey.core.reportdata import posters

    items = posters(session, wave=wave, public_url=current_app.config["PUBLIC_URL"])
    pdf = render_posters_pdf(items, wave_title=wave.title, lang=lang)
    _write_atomically(output, pdf)
    return len(items), len(pdf)

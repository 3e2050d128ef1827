"""The ``ikm`` command line: a Flask CLI group over ``create_app``.

Besides Flask's ``run`` and the database's ``init-db``, it holds the data tools: OPDs
(``ikm opd``), waves (``ikm wave``), the canonical response file (``ikm import``,
``ikm export``) and the demo database (``ikm demo``). Every command runs in the app context
on the app's database. Problems end the command with a one-line message and exit status 1,
never a traceback; listings print one item per line, slug first, then tab-separated fields,
so that scripts can cut them.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any, TextIO

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import AppGroup, FlaskGroup, with_appcontext
from sqlmodel import Session

from . import dataio, repo
from .builtin import DEFAULT_SCHEME_SLUG
from .db import command_session as _database
from .db import first_line as _first_line
from .db import get_engine, upgrade
from .importexport import (
    COMMENT_MAX_LENGTH,
    CanonicalReader,
    ColumnMapping,
    FileFormatError,
    ImportContext,
    ImportRow,
    RowError,
    file_kind,
    write_csv,
)
from .models import Wave
from .urls import survey_url

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SLUG_MAX_LENGTH = 64
NAME_MAX_LENGTH = 200
SHORT_NAME_MAX_LENGTH = 64
TITLE_MAX_LENGTH = 200
PROGRESS_STEP = 500  # rows between redraws of a progress bar (redrawing each row is slow)


def _check_slug(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """Accept a URL-safe slug: lower-case letters and digits joined by single hyphens."""
    if len(value) > SLUG_MAX_LENGTH or not SLUG_PATTERN.match(value):
        raise click.BadParameter(
            f"{value!r} is not a slug: use lower-case letters, digits and single hyphens "
            f"(at most {SLUG_MAX_LENGTH} characters), e.g. 'dinas-perhubungan'"
        )
    return value


def _check_length(what: str, value: str | None, limit: int) -> None:
    """Refuse text longer than its column (PostgreSQL would fail mid-write)."""
    if value is not None and len(value) > limit:
        raise click.UsageError(f"{what} has {len(value)} characters (at most {limit})")


def _wave(session: Session, slug: str) -> Wave:
    """Return the wave with this slug or stop with a message."""
    wave = repo.get_wave(session, slug=slug)
    if wave is None:
        known = ", ".join(w.slug for w in repo.list_waves(session)) or "none yet"
        raise click.ClickException(f"unknown wave {slug!r} (known: {known})")
    return wave


def _stderr() -> TextIO:
    """Return the error stream, where progress and summaries go (stdout may carry data)."""
    return sys.stderr


# --- OPDs -------------------------------------------------------------------------------------

opd_group = AppGroup("opd", help="Manage OPDs (the units citizens rate).")


@opd_group.command("add")
@click.argument("slug", callback=_check_slug)
@click.option("--name", required=True, help="Full name, e.g. 'Dinas Perhubungan'.")
@click.option("--short-name", help="Short name, e.g. 'Dishub'.")
@click.option(
    "--population",
    type=click.IntRange(min=1),
    help="Service users per period (for the Krejcie-Morgan sample size).",
)
def opd_add_command(slug: str, name: str, short_name: str | None, population: int | None) -> None:
    """Add an OPD."""
    name = name.strip()
    short_name = short_name.strip() if short_name else None
    if not name:
        raise click.UsageError("--name must not be empty")
    _check_length("--name", name, NAME_MAX_LENGTH)
    _check_length("--short-name", short_name, SHORT_NAME_MAX_LENGTH)
    from .auth import audit
    from .opds import RESERVED_SLUGS

    if slug in RESERVED_SLUGS:
        raise click.BadParameter(f"{slug!r} is used by the app's own pages", param_hint="SLUG")
    with _database() as session:
        opd = repo.add_opd(
            session, slug=slug, name=name, short_name=short_name, service_population=population
        )
        audit(session, actor=None, action="opd.create", slug=opd.slug, name=opd.name)
        session.commit()
        click.echo(f"Added OPD {opd.slug}: {opd.name}")


@opd_group.command("list")
def opd_list_command() -> None:
    """List OPDs: slug, name, short name, active|inactive (tab-separated)."""
    with _database() as session:
        for opd in repo.list_opds(session):
            state = "active" if opd.active else "inactive"
            click.echo(f"{opd.slug}\t{opd.name}\t{opd.short_name or ''}\t{state}")


@opd_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and report; write nothing.")
def opd_import_command(file: Path, dry_run: bool) -> None:
    """Add and update OPDs from a CSV file (slug, name[, short_name, service_population])."""
    from . import opds

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


# --- Waves ------------------------------------------------------------------------------------

wave_group = AppGroup("wave", help="Create, open, close and list survey waves.")


@wave_group.command("create")
@click.option("--slug", required=True, callback=_check_slug, help="Used in survey URLs.")
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
def wave_create_command(
    slug: str,
    title: str,
    evaluator: str | None,
    opds: str,
    scheme: str,
    target: int | None,
    start: datetime | None,
    end: datetime | None,
) -> None:
    """Create a wave (as a draft) over some or all OPDs with the default questionnaire."""
    from .auth import audit
    from .wavesetup import RESERVED_SLUGS

    if slug in RESERVED_SLUGS:
        raise click.BadParameter(f"{slug!r} is used by the app's own pages", param_hint="--slug")
    title = title.strip()
    if not title:
        raise click.UsageError("--title must not be empty")
    _check_length("--title", title, TITLE_MAX_LENGTH)
    evaluator = (evaluator or "").strip() or None
    _check_length("--evaluator", evaluator, TITLE_MAX_LENGTH)
    period_start: date | None = start.date() if start else None
    period_end: date | None = end.date() if end else None
    if period_start and period_end and period_end < period_start:
        raise click.UsageError(f"--end {period_end} is before --start {period_start}")
    opd_slugs: list[str] | None = None
    if opds.strip().lower() != "all":
        # dict.fromkeys drops repeats and keeps the order given.
        opd_slugs = list(dict.fromkeys(s.strip() for s in opds.split(",") if s.strip()))
        if not opd_slugs:
            raise click.UsageError("--opds names no OPD; give 'all' or slugs like 'bpbd,rsud'")
    with _database() as session:
        wave = repo.create_wave(
            session,
            slug=slug,
            title=title,
            opd_slugs=opd_slugs,
            scheme_slug=scheme,
            target_n=target,
            period_start=period_start,
            period_end=period_end,
            evaluator=evaluator,
        )
        covered = len(repo.wave_opds(session, wave=wave))
        audit(
            session,
            actor=None,
            action="wave.create",
            wave=wave.slug,
            title=wave.title,
            opds=covered,
            scheme=scheme,
        )
        session.commit()
        click.echo(
            f"Created wave {wave.slug} ({wave.status}) over {covered} OPDs; "
            f"open it with: ikm wave open {wave.slug}"
        )


STATUS_ACTIONS = {"open": "wave.open", "closed": "wave.close", "published": "wave.publish"}


def _set_status(slug: str, status: str) -> None:
    """Move a wave to ``status``, with its audit entry in the same commit, and say so."""
    from .auth import audit

    with _database() as session:
        wave = _wave(session, slug)
        if wave.status == status:
            click.echo(f"Wave {slug} is already {status}")
            return
        previous = wave.status
        wave = repo.set_wave_status(session, slug=slug, status=status, commit=False)
        detail: dict[str, Any] = {"wave": wave.slug, "from": previous, "to": status}
        if wave.published_at is not None and status == "published":
            detail["published_at"] = wave.published_at.isoformat()
        audit(session, actor=None, action=STATUS_ACTIONS[status], **detail)
        session.commit()
        click.echo(f"Wave {slug} is now {status}")


@wave_group.command("open")
@click.argument("slug")
def wave_open_command(slug: str) -> None:
    """Open a wave (from draft, or reopen a closed one) so citizens can answer."""
    _set_status(slug, "open")


@wave_group.command("close")
@click.argument("slug")
def wave_close_command(slug: str) -> None:
    """Close an open wave: the survey pages stop taking answers."""
    _set_status(slug, "closed")


@wave_group.command("publish")
@click.argument("slug")
def wave_publish_command(slug: str) -> None:
    """Publish a closed wave: its results become public and can no longer change."""
    _set_status(slug, "published")


@wave_group.command("list")
def wave_list_command() -> None:
    """List waves, newest first: slug, status, title, OPDs, counted responses (tab-separated)."""
    with _database() as session:
        for wave, n_opds, n_counted in repo.wave_summaries(session):
            click.echo(f"{wave.slug}\t{wave.status}\t{wave.title}\t{n_opds}\t{n_counted}")


# --- Import and export ------------------------------------------------------------------------


def _import_context(session: Session, wave: Wave) -> ImportContext:
    """Gather what a file for this wave is checked against (settings of the app)."""
    from .dataio import DataIOError, import_context

    try:
        return import_context(
            session,
            wave=wave,
            timezone=current_app.config["TIMEZONE"],
            comment_max_length=int(
                current_app.config.get("COMMENT_MAX_LENGTH", COMMENT_MAX_LENGTH)
            ),
        )
    except DataIOError as exc:
        raise click.ClickException(str(exc)) from None


def _check_file(reader: CanonicalReader, label: str) -> tuple[list[ImportRow], list[RowError]]:
    """Check every row of the file, showing progress; return the good and the bad rows."""
    rows: list[ImportRow] = []
    errors: list[RowError] = []
    with click.progressbar(
        length=max(reader.estimated_rows, 1),
        label=f"Checking {label}",
        file=_stderr(),
        update_min_steps=PROGRESS_STEP,
    ) as bar:
        for item in reader:
            if isinstance(item, RowError):
                errors.append(item)
            else:
                rows.append(item)
            bar.update(1)
    return rows, errors


def _load_mapping(map_file: Path | None, column_options: tuple[str, ...]) -> ColumnMapping | None:
    """Return the column mapping of --map and --column (the latter win), or None."""
    mapping: ColumnMapping | None = None
    if map_file is not None:
        try:
            data = json.loads(map_file.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise click.ClickException(
                f"{map_file.name}: not a readable JSON mapping ({exc})"
            ) from None
        try:
            mapping = ColumnMapping.from_json(data)
        except FileFormatError as exc:
            raise click.ClickException(f"{map_file.name}: {exc}") from None
    if column_options:
        columns: dict[str, str | None] = {}
        for option in column_options:
            header, sep, name = option.rpartition("=")
            if not sep or not header.strip():
                raise click.UsageError(f"--column {option!r}: use HEADER=FIELD (or HEADER=)")
            columns[header.strip()] = name.strip() or None
        extra = ColumnMapping(columns=columns)
        mapping = extra if mapping is None else mapping.merged(extra)
    return mapping


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--wave", "wave_slug", required=True, help="Slug of the wave to import into.")
@click.option(
    "--map",
    "map_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='JSON mapping: {"columns": {"HEADER": "FIELD" or null}, '
    '"values": {"FIELD": {"TEXT": "CODE"}}, "time_format": "%d/%m/%Y %H:%M"} '
    "(values and time_format optional).",
)
@click.option(
    "--column",
    "column_options",
    multiple=True,
    metavar="HEADER=FIELD",
    help="Read column HEADER as FIELD (HEADER= ignores it); repeatable; wins over --map.",
)
@click.option("--ignore-extra", is_flag=True, help="Skip columns that map to no field.")
@click.option(
    "--dry-run", is_flag=True, help="Print the column mapping and the check; write nothing."
)
@with_appcontext
def import_command(
    file: Path,
    wave_slug: str,
    map_file: Path | None,
    column_options: tuple[str, ...],
    ignore_extra: bool,
    dry_run: bool,
) -> None:
    """Import responses from a CSV or XLSX file, all or nothing.

    The canonical file has one row per respondent: opd (slug or exact name), submitted_at
    (ISO 8601; without an offset it is IKM_TIMEZONE time, Asia/Jakarta by default; empty
    means now), one column per question code (U1..U9) holding 1..4 or nothing, and optional
    sex, age, education, occupation, service, comment. A file ending in .xlsx is read as a
    workbook: its first worksheet, header in row 1 (a quote put before formula-like text by
    'ikm export' is taken off again). If any row is bad, every bad row is listed with its
    row number (header = row 1, as a spreadsheet shows it) and nothing is written. Rows are
    stored as counted, channel "import"; importing the same file into the same wave again
    adds nothing.

    Other headers are mapped: by --map/--column, else by suggestion (the question texts in
    Bahasa Indonesia or English, and names such as "Jenis Kelamin", "Umur", "Pendidikan",
    "Pekerjaan", "Jenis Layanan", "Kritik dan Saran", "Timestamp"/"Cap waktu", "OPD"). In a
    mapped file, answers may be the questionnaire's labels ("Sangat sesuai", "Very
    suitable") and sex may be "Laki-laki"/"Perempuan". Unknown columns are an error unless
    --ignore-extra. --dry-run shows the mapping and the check without writing. Every import
    (not a dry run) is written to the audit log as import.run, with the file's SHA-256.
    """
    if file.suffix.lower() in (".xls", ".ods", ".xlsm"):
        raise click.ClickException(f"{file.name}: save it as .xlsx (Excel workbook) or CSV UTF-8")
    mapping = _load_mapping(map_file, column_options)
    data = file.read_bytes()
    with _database() as session:
        wave = _wave(session, wave_slug)
        if wave.status == "published" and not dry_run:
            raise click.ClickException(
                f"wave {wave.slug!r} is published; its responses can no longer change"
            )
        context = _import_context(session, wave)
        try:
            reader = CanonicalReader(
                data, context, kind=file_kind(file.name), mapping=mapping, ignore_extra=ignore_extra
            )
            if dry_run or reader.plan.mapped:
                click.echo(f"Column mapping of {file.name}:", err=not dry_run)
                for line in reader.plan.describe():
                    click.echo(f"  {line}", err=not dry_run)
            rows, errors = _check_file(reader, file.name)
        except FileFormatError as exc:
            raise click.ClickException(f"{file.name}: {exc}") from None
        if errors:
            for error in errors:
                click.echo(str(error), err=True)
            total = len(rows) + len(errors)
            raise click.ClickException(
                f"{file.name}: {len(errors)} of {total} rows have errors; nothing was imported"
            )
        if not rows:
            raise click.ClickException(f"{file.name}: no data rows to import")
        for code in reader.missing_questions:
            click.echo(f"note: no column {code}; its answers are left empty", err=True)

        if dry_run:
            fresh, already = dataio.new_import_rows(
                session, wave=wave, digest=reader.digest, rows=rows
            )
            click.echo(
                f"{file.name}: dry run, nothing written: {len(fresh)} rows would be imported, "
                f"{already} already present (wave {wave.slug})"
            )
            return
        with click.progressbar(
            length=len(rows),
            label="Writing responses",
            file=_stderr(),
            update_min_steps=PROGRESS_STEP,
        ) as bar:
            try:
                result = dataio.write_import(
                    session,
                    wave=wave,
                    filename=file.name,
                    digest=reader.digest,
                    rows=rows,
                    actor=None,
                    progress=bar.update,
                )
            except dataio.DataIOError as exc:
                raise click.ClickException(str(exc)) from None
        click.echo(
            f"{file.name}: {result.imported} imported, {result.already_present} already present "
            f"(wave {wave.slug})"
        )


@click.command("export")
@click.option("--wave", "wave_slug", required=True, help="Slug of the wave to export.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "xlsx", "json", "open-data"]),
    default="csv",
    show_default=True,
    help="csv: the canonical file; xlsx: sheets 'responses' and 'scores'; json: wave, "
    "responses and scores in one object; open-data: the public ZIP of a published wave.",
)
@click.option(
    "--safe",
    is_flag=True,
    help="CSV: put a quote before text a spreadsheet would run as a formula (not lossless).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output (required for xlsx).",
)
@with_appcontext
def export_command(wave_slug: str, fmt: str, safe: bool, output: Path | None) -> None:
    """Export a wave's counted responses as CSV, XLSX or JSON.

    Flagged responses (duplicate device, bot suspect, manual) are left out, and so are
    submission ids, device hashes and anything secret. Columns: opd (slug), submitted_at
    (ISO 8601 UTC, +00:00), the question codes in questionnaire order, sex, age, education,
    occupation, service, comment.

    csv (default) writes free text as stored, so the file imports back unchanged ('ikm
    import'); it is NOT neutralised against spreadsheet formulas, so cells starting with
    = + - @ could run as formulas if opened in a spreadsheet: use --safe for a CSV meant for
    spreadsheets (a quote is put before such text; it then no longer round-trips exactly).
    xlsx (needs -o, written atomically) always neutralises such text with a quote, which
    'ikm import' takes off again, so an XLSX export also imports back exactly; its 'scores'
    sheet holds the scores of 'ikm score --format csv'. json holds {"wave", "responses",
    "scores"} with the text as stored. open-data (needs -o, published waves only) writes the
    ZIP served at /hasil/WAVE/data-terbuka.zip: responses without free text (age bands, dates,
    no profile for OPDs under 5 responses), the scores and a README of the columns.
    """
    if fmt in ("xlsx", "open-data") and output is None:
        raise click.UsageError(f"--format {fmt} needs -o FILE (it is not text)")
    if safe and fmt != "csv":
        raise click.UsageError("--safe applies to --format csv (xlsx is always neutralised)")
    with _database() as session:
        wave = _wave(session, wave_slug)
        if fmt == "csv":
            codes = dataio.question_codes(session, wave=wave)
            records = dataio.export_records(session, wave=wave)
            if output is None:
                count = write_csv(sys.stdout, codes, records, safe=safe)
            else:
                try:
                    with output.open("w", encoding="utf-8", newline="") as stream:
                        count = write_csv(stream, codes, records, safe=safe)
                except OSError as exc:
                    raise click.ClickException(f"cannot write {output}: {exc.strerror}") from None
        elif fmt == "xlsx":
            assert output is not None
            data, count = dataio.export_xlsx(session, wave=wave)
            _write_atomically(output, data)
        elif fmt == "open-data":
            assert output is not None
            try:
                data = dataio.open_data_zip(
                    session, wave=wave, timezone=current_app.config["TIMEZONE"]
                )
            except dataio.DataIOError as exc:
                raise click.ClickException(str(exc)) from None
            _write_atomically(output, data)
            count = repo.response_counts(session, wave=wave).get("counted", 0)
        else:
            data, count = dataio.export_json(session, wave=wave)
            if output is None:
                click.echo(data.decode("utf-8"), nl=False)
            else:
                _write_atomically(output, data)
        flagged = repo.response_counts(session, wave=wave).get("flagged", 0)
        click.echo(
            f"Exported {count} counted responses of wave {wave.slug} "
            f"({flagged} flagged left out){f' to {output}' if output else ''}",
            err=True,
        )


# --- Scores -----------------------------------------------------------------------------------


@click.command("score")
@click.option("--wave", "wave_slug", required=True, help="Slug of the wave to score.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
@click.option("--scheme", help="Category scheme slug (default: the wave's own).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds every random draw.")
@click.option(
    "--bootstrap",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Bootstrap resamples per OPD (BCa); 0 = analytic intervals.",
)
@click.option(
    "--top", "top_k", type=click.IntRange(min=1), default=5, show_default=True, help="K of top K."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
@with_appcontext
def score_command(
    wave_slug: str,
    fmt: str,
    scheme: str | None,
    seed: int,
    bootstrap: int,
    top_k: int,
    output: Path | None,
) -> None:
    """Score a wave: IKM, interval, category, rank and rank confidence set of every OPD.

    Only counted responses are scored; flagged ones are excluded and counted per OPD. The
    same data and seed always give the same output.
    """
    from .scorewave import ScoreError, score_wave, to_csv, to_json, to_table

    with _database() as session:
        wave = _wave(session, wave_slug)
        try:
            report = score_wave(
                session,
                wave=wave,
                scheme_slug=scheme,
                seed=seed,
                bootstrap=bootstrap,
                top_k=top_k,
                # The listing shows no alpha or Kruskal-Wallis; skipping them saves a pass
                # over every row.
                wave_tests=False,
            )
        except ScoreError as exc:
            raise click.ClickException(str(exc)) from None
    text = {"table": to_table, "json": to_json, "csv": to_csv}[fmt](report)
    if output is None:
        click.echo(text)
    else:
        try:
            output.write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"cannot write {output}: {exc.strerror}") from None
    click.echo(
        f"Scored {report.counted} counted responses of wave {wave.slug} "
        f"({report.flagged} flagged excluded); seed {seed}, data {report.fingerprint}",
        err=True,
    )


# --- Reports ----------------------------------------------------------------------------------

report_group = AppGroup("report", help="PDF reports: the ranking, OPD reports, QR posters.")
LANGS = click.Choice(["id", "en"])


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, so no half-written PDF is left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(data)
        partial.replace(path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise click.ClickException(f"cannot write {path}: {exc.strerror}") from None


def _ranking(session: Session, wave: Wave, seed: int, bootstrap: int) -> Any:
    """Score the wave for a report; a wave without counted responses is a clear error."""
    from .reportdata import wave_ranking

    try:
        return wave_ranking(session, wave=wave, seed=seed, bootstrap=bootstrap)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


@report_group.command("ranking")
@click.option("--wave", "wave_slug", required=True, help="Slug of the wave.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--lang", type=LANGS, default="id", show_default=True)
@click.option("--top", "top_k", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--bootstrap", type=click.IntRange(min=0), default=0, show_default=True)
@with_appcontext
def report_ranking_command(
    wave_slug: str, output: Path, lang: str, top_k: int, seed: int, bootstrap: int
) -> None:
    """Write the ranking report of a wave (PDF)."""
    with _database() as session:
        wave = _wave(session, wave_slug)
        ranking = _ranking(session, wave, seed, bootstrap)
    size = write_ranking_report(ranking, output, lang=lang, top_k=top_k)
    click.echo(f"Wrote the ranking report of {wave_slug} to {output} ({size:,} bytes)")


def write_ranking_report(ranking: Any, output: Path, *, lang: str, top_k: int) -> int:
    """Render and write a ranking report; return its size."""
    from reports.ranking import render_ranking_pdf

    pdf = render_ranking_pdf(ranking, lang=lang, top_k=top_k)
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
    wave_slug: str, opd_slug: str | None, all_opds: bool, output: Path, lang: str, seed: int
) -> None:
    """Write OPD heads' reports (one PDF per OPD) into a folder."""
    if bool(opd_slug) == all_opds:
        raise click.UsageError("give either --opd SLUG or --all")
    with _database() as session:
        wave = _wave(session, wave_slug)
        covered = [opd.slug for opd, _link in repo.wave_opds(session, wave=wave)]
        if opd_slug and opd_slug not in covered:
            raise click.ClickException(f"OPD {opd_slug!r} is not covered by wave {wave_slug!r}")
        ranking = _ranking(session, wave, seed, 0)
        written = write_opd_reports(
            session, wave, ranking, covered if all_opds else [str(opd_slug)], output, lang=lang
        )
    for path in written:
        click.echo(str(path))
    click.echo(f"Wrote {len(written)} OPD reports to {output}", err=True)


def write_opd_reports(
    session: Session, wave: Wave, ranking: Any, slugs: list[str], folder: Path, *, lang: str
) -> list[Path]:
    """Render and write one OPD report per slug, with a progress bar; return the paths.

    Several reports render in two worker processes (one per core of a small server); each
    file is written as soon as it is ready, so memory stays flat however many OPDs there are.
    """
    from reports.opd import render_opd_pdfs

    from .reportdata import opd_report_data

    inputs = [opd_report_data(session, wave=wave, ranking=ranking, opd_slug=s) for s in slugs]
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
def report_posters_command(wave_slug: str, output: Path, lang: str) -> None:
    """Write the QR posters of a wave: one A4 page per OPD (PDF)."""
    with _database() as session:
        wave = _wave(session, wave_slug)
        count, size = write_posters(session, wave, output, lang=lang)
    click.echo(f"Wrote {count} QR posters of {wave_slug} to {output} ({size:,} bytes)")


def write_posters(session: Session, wave: Wave, output: Path, *, lang: str) -> tuple[int, int]:
    """Render and write the wave's QR posters; return (posters, bytes)."""
    from reports.posters import render_posters_pdf

    from .reportdata import posters

    items = posters(session, wave=wave, public_url=current_app.config["PUBLIC_URL"])
    pdf = render_posters_pdf(items, wave_title=wave.title, lang=lang)
    _write_atomically(output, pdf)
    return len(items), len(pdf)


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
    from .config import write_secret_file
    from .demo import DEMO_SEED, write_demo, write_demo_accounts

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
        counts = repo.response_counts(session, wave=wave)
    click.echo(
        f"Demo ready: wave {wave.slug} ({wave.status}, simulated) over {len(data.opds)} OPDs, "
        f"{counts.get('counted', 0)} counted and {counts.get('flagged', 0)} flagged responses."
    )
    base = current_app.config["PUBLIC_URL"]
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


def init_app(app: Flask) -> None:
    """Register this module's commands on the app."""
    app.cli.add_command(opd_group)
    app.cli.add_command(wave_group)
    app.cli.add_command(import_command)
    app.cli.add_command(export_command)
    app.cli.add_command(score_command)
    app.cli.add_command(report_group)
    app.cli.add_command(demo_command)
    from . import backup, privacy

    for command in (*backup.COMMANDS, *privacy.COMMANDS):
        app.cli.add_command(command)


def _create_app() -> Flask:
    """Build the app for the console command (imported late: the factory imports this module)."""
    from . import create_app
    from .config import ConfigError

    try:
        return create_app()
    except ConfigError as exc:
        # A bad setting is the operator's to fix: one line and status 1, not a traceback.
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)


def main() -> None:
    """Entry point of the ``ikm`` console command."""
    from .security import guard_run_command

    group = FlaskGroup(create_app=_create_app, help="IKM survey and scoring service.")
    guard_run_command(group)  # production serves with gunicorn, never the debugger
    group()

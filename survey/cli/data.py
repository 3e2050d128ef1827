"""``ikm import`` and ``ikm export``: the canonical response file in and out."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.engine import Engine
from sqlmodel import Session

from survey.cli.common import (
    PROGRESS_STEP,
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
from survey.core import exports, queries
from survey.core import imports as import_service
from survey.core.models import Wave
from survey.core.responsefile import (
    COMMENT_MAX_LENGTH,
    PROFILE_CODES,
    CanonicalReader,
    ColumnMapping,
    FileFormatError,
    ImportContext,
    ImportRow,
    RowError,
    file_kind,
)

# --- Import and export ------------------------------------------------------------------------


def _import_context(session: Session, wave: Wave) -> ImportContext:
    """Gather what a file for this wave is checked against (settings of the app)."""
    from survey.core.imports import DataIOError, import_context

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


def _load_value_map(path: Path) -> ColumnMapping:
    """Return the readings of a --value-map file: CSV ``field,value,code`` rows or JSON.

    The JSON form is ``{"sex": {"Cowok": "L"}, "occupation": {"TNI/Polri": "TNI"}}``; an
    empty code stores the answer as empty (unknown).
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{path.name}: not readable ({exc})") from None
    table: dict[str, dict[str, str]] = {}
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise click.ClickException(f"{path.name}: not valid JSON ({exc})") from None
        if not isinstance(data, dict) or not all(
            isinstance(v, dict) and all(isinstance(c, str) for c in v.values())
            for v in data.values()
        ):
            raise click.ClickException(
                f'{path.name}: expected {{"FIELD": {{"VALUE": "CODE"}}}} (codes as text)'
            )
        table = {str(name): {str(k): v for k, v in values.items()} for name, values in data.items()}
    else:
        for number, cells in enumerate(csv.reader(text.splitlines()), start=1):
            if not cells or not any(cell.strip() for cell in cells):
                continue
            if len(cells) != 3:
                raise click.ClickException(
                    f"{path.name}: row {number}: expected 3 cells field,value,code"
                )
            name, value, code = (cell.strip() for cell in cells)
            if number == 1 and (name, value, code) == ("field", "value", "code"):
                continue
            table.setdefault(name, {})[value] = code
    for name, values in table.items():
        if name not in PROFILE_CODES:
            raise click.ClickException(
                f"{path.name}: {name!r} is not a profile field ({', '.join(PROFILE_CODES)})"
            )
        for value, code in values.items():
            if code and code not in PROFILE_CODES[name]:
                raise click.ClickException(
                    f"{path.name}: {name} {value!r} -> {code!r} is not one of "
                    f"{', '.join(PROFILE_CODES[name])} (or empty)"
                )
    return ColumnMapping(values=table)


def _unmapped_values(errors: list[RowError]) -> list[str]:
    """Return 'field 'value' (N rows)' for each profile answer no code or value map reads."""
    found: dict[tuple[str, str], int] = {}
    for error in errors:
        for item in error.problems:
            if item.code == "row-choice-invalid":
                key = (item.field, str(dict(item.params).get("value", "")))
                found[key] = found.get(key, 0) + 1
    return [f"{name} {value!r} ({rows} rows)" for (name, value), rows in sorted(found.items())]


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
@click.option(
    "--value-map",
    "value_map",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="How to read profile answers: CSV rows field,value,code (e.g. "
    "occupation,TNI/Polri,TNI; an empty code stores nothing) or JSON "
    '{"FIELD": {"VALUE": "CODE"}}; wins over the built-in spellings.',
)
@click.option(
    "--allow-empty-elements",
    is_flag=True,
    help="Import even if an element would get no answer at all for an OPD (or has no column).",
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
    value_map: Path | None,
    allow_empty_elements: bool,
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
    --ignore-extra; a column that resembles a question (a typo in its text) without clearly
    being it must be mapped (--column 'HEADER=U2', or 'HEADER=' to ignore it). Profile
    answers may be codes or common spellings (SLTA, Wiraswasta, Pelajar/Mahasiswa, Ibu
    Rumah Tangga ...); --value-map reads others; answers nothing reads are listed and the
    import refused. An import that would leave an element without any answer for an OPD,
    or a question without a column, is refused with the list (exit code 2, nothing written)
    unless --allow-empty-elements. --dry-run shows the mapping and the check without
    writing. Every import (not a dry run) is written to the audit log as import.run, with
    the file's SHA-256.
    """
    if file.suffix.lower() in (".xls", ".ods", ".xlsm"):
        raise click.ClickException(f"{file.name}: save it as .xlsx (Excel workbook) or CSV UTF-8")
    mapping = _load_mapping(map_file, column_options)
    if value_map is not None:
        readings = _load_value_map(value_map)
        mapping = readings if mapping is None else mapping.merged(readings)
    data = file.read_bytes()
    with _database() as session, import_service.gc_paused():
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
            unmapped = _unmapped_values(errors)
            if unmapped:
                click.echo(
                    "values not read (give them in --value-map): " + "; ".join(unmapped),
                    err=True,
                )
            total = len(rows) + len(errors)
            raise click.ClickException(
                f"{file.name}: {len(errors)} of {total} rows have errors; nothing was imported"
            )
        if not rows:
            raise click.ClickException(f"{file.name}: no data rows to import")
        empties = import_service.empty_elements_of_rows(
            context.question_codes, rows, mapped=reader.columns
        )
        if empties:
            warnings = import_service.empty_element_problems(session, wave=wave, empties=empties)
            for item in warnings:
                click.echo(f"empty element: {item.english()}", err=True)
            if not allow_empty_elements:
                click.echo(
                    f"{file.name}: {len(empties)} element(s) would be left empty; "
                    f"{'a real import would be refused' if dry_run else 'nothing was imported'}"
                    " (map the columns, or give --allow-empty-elements to import anyway)",
                    err=True,
                )
                sys.exit(2)
        acknowledged: dict[str, Any] = (
            {"empty_elements_acknowledged": [item.key for item in empties]} if empties else {}
        )

        if dry_run:
            fresh, already = import_service.new_import_rows(
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
                result = import_service.import_rows(
                    session,
                    wave=wave,
                    filename=file.name,
                    kind=file_kind(file.name),
                    digest=reader.digest,
                    rows=rows,
                    actor=None,
                    progress=bar.update,
                    **acknowledged,
                )
            except import_service.DataIOError as exc:
                raise click.ClickException(str(exc)) from None
        click.echo(
            f"{file.name}: {result.imported} imported, {result.already_present} already present "
            f"(wave {wave.slug})"
        )


@click.command("import-cleanup")
@with_appcontext
def import_cleanup_command() -> None:
    """Fail import jobs whose worker is gone and take back the rows failed imports left.

    A big SQLite import that died (or whose take-back failed) still records the rows it
    committed; they are deleted in parts, pausing between, so the survey stays answerable.
    The web does the same in a background thread; publishing the wave waits for it.
    """
    with _database() as session:
        stale = import_service.expire_stale_jobs(session)
        jobs = len(import_service.jobs_to_take_back(session))
        session.rollback()
        engine = session.get_bind()
    assert isinstance(engine, Engine)  # the command's session is bound to an engine
    deleted = import_service.take_back_failed(engine)
    click.echo(f"{stale} stopped jobs failed; {deleted} rows of {jobs} failed imports taken back")


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

    Flagged responses (duplicate device, bot suspect, burst, manual) are left out, and so
    are submission ids and anything secret. Columns: opd (slug), submitted_at (ISO 8601 UTC,
    +00:00), the question codes in questionnaire order, sex, age, education, occupation,
    service, comment, then each answer's evidence: channel, kiosk_device, verified, seconds,
    straightline, repeat_device, burst, off_hours (1/0; true/false in json) and network (the
    stored keyed hash of the sender's network, never an address). 'ikm import' ignores the
    evidence columns.

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
            codes = exports.question_codes(session, wave=wave)
            records = exports.staff_records(session, wave=wave)
            if output is None:
                count = exports.write_staff_csv(sys.stdout, codes, records, safe=safe)
            else:
                try:
                    with output.open("w", encoding="utf-8", newline="") as stream:
                        count = exports.write_staff_csv(stream, codes, records, safe=safe)
                except OSError as exc:
                    raise click.ClickException(f"cannot write {output}: {exc.strerror}") from None
        elif fmt == "xlsx":
            assert output is not None
            data, count = exports.export_xlsx(session, wave=wave)
            _write_atomically(output, data)
        elif fmt == "open-data":
            assert output is not None
            try:
                data = exports.open_data_zip(
                    session, wave=wave, timezone=current_app.config["TIMEZONE"]
                )
            except import_service.DataIOError as exc:
                raise click.ClickException(str(exc)) from None
            _write_atomically(output, data)
            count = queries.response_counts(session, wave=wave).get("counted", 0)
        else:
            data, count = exports.export_json(session, wave=wave)
            if output is None:
                click.echo(data.decode("utf-8"), nl=False)
            else:
                _write_atomically(output, data)
        flagged = queries.response_counts(session, wave=wave).get("flagged", 0)
        click.echo(
            f"Exported {count} counted responses of wave {wave.slug} "
            f"({flagged} flagged left out){f' to {output}' if output else ''}",
            err=True,
        )

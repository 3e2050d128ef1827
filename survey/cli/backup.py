"""``ikm backup`` and ``ikm restore``: a consistent copy of the database, and back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from survey.core.backup import BackupError, backup, restore


def _size(n: int) -> str:
    """Return a byte count for people: '1.4 MB'."""
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{n} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"


def _echo_counts(counts: dict[str, int]) -> None:
    """Print one line per table: name, tab, rows."""
    for name, n in counts.items():
        click.echo(f"  {name}\t{n}")


@contextmanager
def _errors() -> Iterator[None]:
    """Turn backup errors into one-line CLI errors."""
    try:
        yield
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None


def _engine() -> Any:
    """Return the app's engine."""
    from survey.web.database import get_engine

    return get_engine()


@click.command("backup")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=True, path_type=Path),
    help="The backup file (replaced atomically if it exists).",
)
@with_appcontext
def backup_command(output: Path) -> None:
    """Back up the database while the app serves: SQLite online backup, or pg_dump.

    The file is written next to OUTPUT first, checked, then renamed into place, readable by
    its owner only (it holds personal data: keep it encrypted at rest). Prints its size and
    the rows of each table (built-in questionnaire and schemes left out).
    """
    with _errors():
        result = backup(_engine(), output)
    click.echo(
        f"Backup written: {result.path} ({_size(result.size)}; {result.backend}, "
        f"schema revision {result.contents.revision})"
    )
    _echo_counts(result.contents.counts)


@click.command("restore")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--yes", is_flag=True, help="Replace a database that already holds data.")
@with_appcontext
def restore_command(file: Path, yes: bool) -> None:
    """Restore a backup made by 'ikm backup' into the database, then migrate it.

    Refuses, saying what it would replace, when the database holds data, unless --yes.
    An SQLite backup is copied into the live file in one transaction; a PostgreSQL backup is
    replayed with pg_restore --clean in one transaction. Stop the app servers first.
    """
    engine = _engine()
    with _errors():
        contents, revision = restore(engine, file, replace=yes)
    click.echo(
        f"Restored {file.name} into {engine.url.render_as_string(hide_password=True)} "
        f"(schema revision {revision})"
    )
    _echo_counts(contents.counts)
    if int(current_app.config.get("RETENTION_DAYS") or 0) > 0:
        # A backup is as old as it is: metadata stripped since it was made is back.
        click.echo(
            "The backup may hold respondent metadata stripped since: run 'ikm privacy apply'"
        )


COMMANDS: list[click.Command] = [backup_command, restore_command]

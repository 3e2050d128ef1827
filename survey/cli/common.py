"""What every command shares: its database session, wave lookup, atomic writes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import click
from sqlmodel import Session

from survey.core import waves
from survey.core.database import first_line
from survey.core.models import Wave
from survey.core.problems import ProblemError
from survey.web.database import session_scope

PROGRESS_STEP = 500  # rows between redraws of a progress bar (redrawing each row is slow)


def find_wave(session: Session, slug: str) -> Wave:
    """Return the wave with this slug or stop with a message naming the known ones."""
    try:
        return waves.find_wave(session, slug=slug)
    except ProblemError as exc:
        raise click.ClickException(str(exc)) from None


def stderr() -> TextIO:
    """Return the error stream, where progress and summaries go (stdout may carry data)."""
    return sys.stderr


LANGS = click.Choice(["id", "en"])


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, so no half-written PDF is left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(data)
        partial.replace(path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise click.ClickException(f"cannot write {path}: {exc.strerror}") from None


@contextmanager
def command_session() -> Iterator[Session]:
    """A session for a CLI command: coded problems and database errors become one English line."""
    from sqlalchemy.exc import DBAPIError

    try:
        with session_scope() as session:
            yield session
    except ProblemError as exc:
        raise click.ClickException(str(exc)) from None
    except DBAPIError as exc:
        message = first_line(exc.orig or exc)
        # A missing table means the schema is older than the code; say how to bring it up.
        if any(text in message for text in ("no such table", "no such column", "does not exist")):
            message += "; run 'ikm init-db' first"
        raise click.ClickException(f"database error: {message}") from None

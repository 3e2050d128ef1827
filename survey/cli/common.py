"""What every command shares: its database session, wave lookup, checks, atomic writes."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import click
from sqlmodel import Session

from survey.core import queries as repo
from survey.core.database import first_line
from survey.core.models import Wave
from survey.web.database import session_scope

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SLUG_MAX_LENGTH = 64
NAME_MAX_LENGTH = 200
SHORT_NAME_MAX_LENGTH = 64
TITLE_MAX_LENGTH = 200
PROGRESS_STEP = 500  # rows between redraws of a progress bar (redrawing each row is slow)


def check_slug(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """Accept a URL-safe slug: lower-case letters and digits joined by single hyphens."""
    if len(value) > SLUG_MAX_LENGTH or not SLUG_PATTERN.match(value):
        raise click.BadParameter(
            f"{value!r} is not a slug: use lower-case letters, digits and single hyphens "
            f"(at most {SLUG_MAX_LENGTH} characters), e.g. 'dinas-perhubungan'"
        )
    return value


def check_length(what: str, value: str | None, limit: int) -> None:
    """Refuse text longer than its column (PostgreSQL would fail mid-write)."""
    if value is not None and len(value) > limit:
        raise click.UsageError(f"{what} has {len(value)} characters (at most {limit})")


def find_wave(session: Session, slug: str) -> Wave:
    """Return the wave with this slug or stop with a message."""
    wave = repo.get_wave(session, slug=slug)
    if wave is None:
        known = ", ".join(w.slug for w in repo.list_waves(session)) or "none yet"
        raise click.ClickException(f"unknown wave {slug!r} (known: {known})")
    return wave


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
    """A session for a CLI command: data and database errors become one-line messages."""
    from sqlalchemy.exc import DBAPIError

    from survey.core.queries import RepoError

    try:
        with session_scope() as session:
            yield session
    except RepoError as exc:
        raise click.ClickException(str(exc)) from None
    except DBAPIError as exc:
        message = first_line(exc.orig or exc)
        # A missing table means the schema is older than the code; say how to bring it up.
        if any(text in message for text in ("no such table", "no such column", "does not exist")):
            message += "; run 'ikm init-db' first"
        raise click.ClickException(f"database error: {message}") from None

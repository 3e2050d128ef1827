"""The app's database: one engine per app, one session per request (closed at teardown).

The engine is made by :func:`survey.core.database.make_engine` from ``DATABASE_URL`` (or the
SQLite file in the instance folder) and kept in ``app.extensions``; a request opens its session
on first use and closes it, rolling back anything left uncommitted, when the request ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, g
from sqlalchemy.engine import Engine
from sqlmodel import Session

from survey.core.database import default_database_url, make_engine, normalise_url


def get_engine(app: Flask | None = None) -> Engine:
    """Return the app's engine."""
    app = app or current_app
    return app.extensions["ikm_engine"]


def get_session() -> Session:
    """Return the session of the current request (or app context), opening it on first use."""
    if "db_session" not in g:
        g.db_session = Session(get_engine(), expire_on_commit=False)
    return g.db_session


def close_session(_exc: BaseException | None = None) -> None:
    """Close the request's session, rolling back anything left uncommitted."""
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


@contextmanager
def session_scope(app: Flask | None = None) -> Iterator[Session]:
    """Open a session outside a request (CLI commands, tests)."""
    with Session(get_engine(app), expire_on_commit=False) as session:
        yield session


def init_app(app: Flask) -> None:
    """Create the engine and close sessions after each request."""
    url = app.config.get("DATABASE_URL") or default_database_url(app.instance_path)
    app.config["DATABASE_URL"] = normalise_url(url)
    app.extensions["ikm_engine"] = make_engine(
        app.config["DATABASE_URL"],
        pool_size=int(app.config["DB_POOL_SIZE"]),
        max_overflow=int(app.config["DB_MAX_OVERFLOW"]),
        pool_timeout=float(app.config["DB_POOL_TIMEOUT"]),
    )
    app.teardown_appcontext(close_session)

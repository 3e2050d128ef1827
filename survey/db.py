"""The database: one engine per app, one session per request, and migrations.

SQLite (a file under the instance folder) is the default; WAL mode lets citizens submit while
evaluators read, and foreign keys are switched on for every connection. PostgreSQL is used when
``IKM_DATABASE_URL`` points at one. The schema is owned by Alembic (``ikm init-db``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app, g
from flask.cli import with_appcontext
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlmodel import Session, create_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_FILENAME = "ikm.sqlite3"
PG_CONNECT_TIMEOUT = 5  # seconds to open a PostgreSQL connection (libpq's connect_timeout)
PING_IDLE_SECONDS = 5.0  # a pooled connection idle longer than this is checked before use


def default_database_url(instance_path: str | Path) -> str:
    """Return the URL of the SQLite file under the instance folder."""
    return f"sqlite:///{Path(instance_path) / SQLITE_FILENAME}"


def normalise_url(url: str) -> str:
    """Use the psycopg (v3) driver for plain ``postgresql://`` URLs."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    # NORMAL in WAL mode: a committed transaction survives a crash of the process (SIGKILL,
    # OOM; tests/test_crash.py), since it is in the WAL file in the OS's cache. It is not
    # synced to disk at each commit, so a power cut or kernel crash can lose the last commits
    # (never corrupting the file); FULL would keep them at one fsync per commit.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(
    url: str,
    *,
    pool_size: int | None = None,
    max_overflow: int | None = None,
    pool_timeout: float | None = None,
    **kwargs: Any,
) -> Engine:
    """Create an engine for ``url`` with this project's per-backend settings.

    The pool settings apply to PostgreSQL only (SQLite opens a file, not a server connection).
    """
    url = normalise_url(url)
    parsed = make_url(url)
    # Error messages and logs must never carry form values (comments, passwords' hashes).
    kwargs.setdefault("hide_parameters", True)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            # An unusable folder shows up on first use (and in /healthz), not at start-up.
            with suppress(OSError):
                Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 10}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    pool = {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": pool_timeout}
    kwargs.update({name: value for name, value in pool.items() if value is not None})
    if "connect_timeout" not in parsed.query:
        # Without it a server that drops packets hangs each connection for minutes.
        connect_args = {"connect_timeout": PG_CONNECT_TIMEOUT, **kwargs.get("connect_args", {})}
        kwargs["connect_args"] = connect_args
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled PostgreSQL connection before use only if it sat idle for a while.

    ``pool_pre_ping`` costs a round trip on every checkout, about a tenth of a survey
    request's time under load. A connection back in the pool less than
    ``PING_IDLE_SECONDS`` ago is handed out as it is; a longer-idle one (the server may have
    restarted meanwhile, or a firewall dropped it) is pinged first and replaced if dead. A
    connection that dies while busy fails that one request, and SQLAlchemy then discards the
    worker's whole pool, so a PostgreSQL restart under load costs each worker one request.
    """

    @event.listens_for(engine, "checkin")
    def stamp(_dbapi_connection: Any, record: Any) -> None:
        record.info["ikm_checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("ikm_checked_in")
        if since is None or time.monotonic() - since < PING_IDLE_SECONDS:
            return  # brand new, or back in the pool only a moment ago
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # any driver error: the pool opens a new connection
            raise DisconnectionError("idle connection failed its ping") from exc
        if not alive:
            raise DisconnectionError("idle connection failed its ping")


def get_engine(app: Flask | None = None) -> Engine:
    """Return the app's engine."""
    app = app or current_app
    return app.extensions["ikm_engine"]


def engine_of(session: Session) -> Engine:
    """Return the engine a session is bound to."""
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


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


def first_line(exc: BaseException) -> str:
    """Return the first line of an exception's message."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


@contextmanager
def command_session() -> Iterator[Session]:
    """A session for a CLI command: data and database errors become one-line messages."""
    from sqlalchemy.exc import DBAPIError

    from .repo import RepoError

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


def alembic_config(url: str) -> Any:
    """Return an Alembic config pointing at this package's migrations and ``url``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema up to the newest migration, then insert missing built-in data."""
    from alembic import command
    from sqlmodel import Session

    from .builtin import seed_builtins

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    with Session(engine) as session:
        seed_builtins(session)


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create or upgrade the database schema to the newest migration."""
    from .config import write_secret_file

    engine = get_engine()
    upgrade(engine)
    if engine.url.get_backend_name() == "sqlite":
        write_secret_file(current_app.instance_path)
    click.echo(f"Database ready: {engine.url.render_as_string(hide_password=True)}")


def init_app(app: Flask) -> None:
    """Create the engine, close sessions after each request and register ``init-db``."""
    url = app.config.get("DATABASE_URL") or default_database_url(app.instance_path)
    app.config["DATABASE_URL"] = normalise_url(url)
    app.extensions["ikm_engine"] = make_engine(
        app.config["DATABASE_URL"],
        pool_size=int(app.config["DB_POOL_SIZE"]),
        max_overflow=int(app.config["DB_MAX_OVERFLOW"]),
        pool_timeout=float(app.config["DB_POOL_TIMEOUT"]),
    )
    app.teardown_appcontext(close_session)
    app.cli.add_command(init_db_command)

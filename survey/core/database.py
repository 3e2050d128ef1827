"""The database: one engine per app, one session per request, and migrations.

SQLite (a file under the instance folder) is the default; WAL mode lets citizens submit while
evaluators read, and foreign keys are switched on for every connection. PostgreSQL is used when
``IKM_DATABASE_URL`` points at one. The schema is owned by Alembic (``ikm init-db``).
"""

from __future__ import annotations

import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlmodel import Session, create_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
SQLITE_FILENAME = "ikm.sqlite3"
PG_CONNECT_TIMEOUT = 5  # seconds to open a PostgreSQL connection (libpq's connect_timeout)
PING_IDLE_SECONDS = 5.0  # a pooled connection idle longer than this is checked before use
# SQLite's page cache per connection (KiB; memory is taken only as pages are read) and the WAL
# size (pages) past which a commit checkpoints. See _sqlite_pragmas.
SQLITE_CACHE_KIB = 32 * 1024
SQLITE_CHECKPOINT_PAGES = 10_000


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
    # An import part of 500 rows touches pages all over two indexes (the submission ids of an
    # import are hashes, its times are the file's): with SQLite's default 2 MiB cache a part
    # re-read them, and the default checkpoint (every 1,000 WAL pages) ran, with an fsync,
    # after nearly every part. At 150,000 imported rows this took the job from 67.9 s to
    # 51.0 s and its reads from 3.2 GB to 0.42 GB (a 64 MiB cache did no better).
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
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


def engine_of(session: Session) -> Engine:
    """Return the engine a session is bound to."""
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def first_line(exc: BaseException) -> str:
    """Return the first line of an exception's message."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


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

    from survey.core.builtin import seed_builtins

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    with Session(engine) as session:
        seed_builtins(session)

"""Shared fixtures: the app on each database backend, its client, CLI runner and session.

Every test that uses ``app`` runs twice, on SQLite and on PostgreSQL. The PostgreSQL half
runs in a schema of its own (``ikm_test_<pid>``, dropped afterwards) of the database named
by ``IKM_TEST_POSTGRES_URL`` (default: the local server's ``test`` database). Where that
server is not reachable the PostgreSQL half is skipped with a message, except in CI
(``CI=true``), where it fails.
"""

from __future__ import annotations

import functools
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import app_helpers
import pytest
import redis_helpers
import sqlalchemy as sa
import survey_helpers
from auth_helpers import PASSWORD
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlmodel import Session, SQLModel
from survey_helpers import IkmRunner, add_opd, create_wave
from zxcvbn import zxcvbn as estimate_strength

from survey.core import accounts, opds, queries
from survey.core.database import make_engine, upgrade
from survey.core.models import User
from survey.web import create_app
from survey.web.database import session_scope

PG_URL = os.environ.get(
    "IKM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# One schema per test run, so that concurrent runs on one machine do not collide.
PG_SCHEMA = f"ikm_test_{os.getpid()}"
PG_SEED_SCHEMA = f"{PG_SCHEMA}_seed"
_PG_RESET: dict[str, sa.Engine] = {}  # the engine that resets the test schema (session-wide)
TEST_SECRET = "test-secret-key-not-for-production-0123456789"
IN_CI = os.environ.get("CI", "").lower() == "true"


# The tests' sessions do not wait for the server to flush each commit to disk
# (synchronous_commit=off): what a session sees, and what others see once it commits, is the
# same; only a crash of the PostgreSQL server itself could lose the last commits, which no test
# does. About a quarter of a millisecond a commit.
PG_OPTIONS = f"-csearch_path={PG_SCHEMA} -csynchronous_commit=off"


def _pg_engine(url: str) -> sa.Engine:
    return make_engine(url, connect_args={"options": PG_OPTIONS})


def pg_url_with_schema() -> str:
    """Return the test PostgreSQL URL that selects the test schema."""
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options={quote(PG_OPTIONS)}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, seeded SQLite file that each test copies."""
    path = tmp_path_factory.mktemp("template") / "ikm.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_ready() -> Iterator[str]:
    """Create the test schema on PostgreSQL and migrate it; skip (or fail in CI) if absent.

    The built-in rows the migration seeds are copied once into a schema of their own
    (``<schema>_seed``), from which each test's reset puts them back.
    """
    admin = make_engine(PG_URL)
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        message = (
            f"PostgreSQL is not reachable at {PG_URL} ({exc.orig.__class__.__name__}); "
            "start it or set IKM_TEST_POSTGRES_URL to run the PostgreSQL half of the suite"
        )
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with admin.begin() as conn:
        for schema in (PG_SCHEMA, PG_SEED_SCHEMA):
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    engine = _pg_engine(PG_URL)
    upgrade(engine)
    with engine.begin() as conn:
        for table in SQLModel.metadata.sorted_tables:
            conn.execute(
                sa.text(f'CREATE TABLE {PG_SEED_SCHEMA}."{table.name}" AS TABLE "{table.name}"')
            )
        conn.execute(sa.text(_reset_function_sql()))
    _PG_RESET["engine"] = engine
    yield pg_url_with_schema()
    engine.dispose()
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        for schema in (PG_SCHEMA, PG_SEED_SCHEMA):
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    admin.dispose()


def _reset_function_sql() -> str:
    """The SQL that creates ``ikm_test_reset()`` in the test schema (see ``_reset_postgres``)."""
    tables = SQLModel.metadata.sorted_tables
    statements = [f'DELETE FROM "{table.name}"' for table in reversed(tables)]
    for table in tables:
        # Columns by name: a test may drop a column and add it back, changing the order.
        columns = ", ".join(f'"{column.name}"' for column in table.columns)
        statements.append(
            f'INSERT INTO "{table.name}" ({columns}) '
            f'SELECT {columns} FROM {PG_SEED_SCHEMA}."{table.name}"'
        )
    for table in tables:
        if "id" in table.columns:
            statements.append(
                f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                f'COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM "{table.name}"'
            )
    # EXECUTE: each statement planned afresh, so a test that altered a table leaves no stale plan.
    body = "\n".join(f"    EXECUTE {_pg_literal(statement)};" for statement in statements)
    return (
        f"CREATE FUNCTION {PG_SCHEMA}.ikm_test_reset() RETURNS void LANGUAGE plpgsql AS $reset$\n"
        f"BEGIN\n{body}\nEND\n$reset$"
    )


def _pg_literal(text: str) -> str:
    """Quote ``text`` as a PostgreSQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _reset_postgres() -> None:
    """Empty every table, put the built-in rows back and restart the id sequences.

    DELETE rather than TRUNCATE: on a dozen small tables TRUNCATE costs about a quarter of a
    second a test (it makes new files for each table), DELETE a few milliseconds; the result is
    the same fresh database, ids starting where a fresh migration's would. The statements run
    in one server-side function (``ikm_test_reset``, made once per run): one round trip instead
    of about seventy, which took some 35 ms of every PostgreSQL test.
    """
    with _PG_RESET["engine"].begin() as conn:
        conn.execute(sa.text(f"SELECT {PG_SCHEMA}.ikm_test_reset()"))


@pytest.fixture(scope="session", autouse=True)
def remembered_url_builders() -> Iterator[None]:
    """Compile werkzeug's URL builders once per worker (see ``app_helpers``)."""
    with pytest.MonkeyPatch.context() as patch:
        app_helpers.remember_url_builders(patch)
        yield


# scrypt at N = 16 (microseconds instead of tens of milliseconds a hash): the same code path, a
# hash that still records its own cost and checks the same way. Tests of hashing itself are
# marked ``real_hash`` and run at the production cost.
CHEAP_SCRYPT_COST = (16, 1, 1)


@pytest.fixture(autouse=True)
def cheap_password_hashes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash passwords cheaply, except in tests marked ``real_hash``."""
    if request.node.get_closest_marker("real_hash") is None:
        monkeypatch.setattr(accounts, "SCRYPT_COST", CHEAP_SCRYPT_COST)
        monkeypatch.setattr(accounts, "dummy_hash", _cheap_dummy_hash)


@pytest.fixture(autouse=True)
def remembered_password_strength(monkeypatch: pytest.MonkeyPatch) -> None:
    """Judge each (password, known words) once per worker: zxcvbn is a pure function of them,
    and the suite asks it about the same few passwords thousands of times (a few ms each)."""
    monkeypatch.setattr(accounts, "zxcvbn", _remembered_zxcvbn)


def _remembered_zxcvbn(password: str, user_inputs: list[str] | None = None) -> dict:
    """``zxcvbn`` through a cache (the result is only read, never changed)."""
    return _zxcvbn_cached(password, tuple(user_inputs or ()))


@functools.cache
def _zxcvbn_cached(password: str, user_inputs: tuple[str, ...]) -> dict:
    """The estimate of one password against one tuple of known words, made once."""
    return estimate_strength(password, user_inputs=list(user_inputs))


@functools.cache
def _cheap_dummy_hash() -> str:
    """The cheap stand-in for the hash checked when a username is unknown."""
    return accounts.hash_password("not-a-password-0")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend this test runs on."""
    return request.param


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database with only the built-in data, on the test's backend."""
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "instance" / "ikm.sqlite3"
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_ready")
    _reset_postgres()
    return url


@pytest.fixture
def app_config(database_url: str, tmp_path: Path) -> dict:
    """The test configuration; tests may change it before asking for ``app``."""
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET,
        "PUBLIC_URL": "https://skm.example.go.id",
        "MIN_SUBMIT_SECONDS": 3.0,
        # The test client and the browser tests speak plain HTTP to a local server.
        "SESSION_COOKIE_SECURE": False,
        "PUBLICATION_INLINE": True,  # the web publish builds its snapshot before answering
    }


@pytest.fixture
def app(app_config: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """The application on a fresh database."""
    for name in list(os.environ):
        if name.startswith("IKM_") and not name.startswith("IKM_TEST_"):
            monkeypatch.delenv(name)
    application = create_app(app_config, instance_path=str(tmp_path / "instance"))
    app_helpers.share_template_code(application)
    survey_helpers.CURRENT_APP[:] = [application]
    yield application
    survey_helpers.CURRENT_APP.clear()
    application.extensions["ikm_engine"].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the app."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """A CLI runner of the ``ikm`` commands on the test app."""
    return IkmRunner(app)


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """A database session on the app's database, for arranging and checking data.

    No app context is held open: Flask's test client would reuse it, so every request of the
    test would share ``g`` (its language, CSRF token and database session).
    """
    with session_scope(app) as db_session:
        yield db_session


SAMPLE_OPDS = (
    ("bpbd", "Badan Penanggulangan Bencana Daerah", "BPBD", ("KTP",)),
    ("rsud", "Rumah Sakit Umum Daerah", "RSUD", ("Poli umum",)),
    ("dishub", "Dinas Perhubungan", "Dishub", ("Uji KIR",)),
)


def add_sample_opds(session: Session, *slugs: str) -> None:
    """Add those of the sample OPDs named by ``slugs`` that do not exist yet, each with the
    service the tests' files name on its list."""
    for slug, name, short, services in SAMPLE_OPDS:
        if slug in slugs and queries.get_opd(session, slug=slug) is None:
            opd = add_opd(session, slug=slug, name=name, short_name=short)
            for service in services:
                opds.add_service(session, opd=opd, name=service, actor=None)


@pytest.fixture
def open_wave(session: Session):
    """An open wave 'uji-2026' over three OPDs (bpbd, rsud, dishub) with the default setup."""
    # Whichever of open_wave and users comes first adds the OPDs; the other finds them.
    add_sample_opds(session, "bpbd", "rsud", "dishub")
    return create_wave(session, slug="uji-2026", title="Uji Coba 2026", status="open", target_n=30)


@pytest.fixture
def users(session: Session) -> dict[str, User]:
    """The workspace accounts, by username, all with ``PASSWORD``.

    ``admin`` (admin), ``eva`` (evaluator), ``kepala-bpbd`` and ``kepala-rsud`` (the heads of
    BPBD and RSUD, OPDs added here unless ``open_wave`` added them first).
    """
    add_sample_opds(session, "bpbd", "rsud")
    specs = [
        ("admin", "admin", None),
        ("eva", "evaluator", None),
        ("kepala-bpbd", "opd-head", "bpbd"),
        ("kepala-rsud", "opd-head", "rsud"),
    ]
    return {
        username: accounts.create_user(
            session, username=username, password=PASSWORD, role=role, opd_slug=opd_slug
        )
        for username, role, opd_slug in specs
    }


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A Redis key prefix of this test's own, deleted afterwards."""
    prefix = f"ikm-test:{uuid.uuid4().hex}:"
    yield prefix
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(redis_helpers.REDIS_URL, socket_connect_timeout=1.0)
    try:
        for name in client.scan_iter(f"{prefix}*"):
            client.delete(name)
    except redis.RedisError:
        pass  # nothing was written
    finally:
        client.close()

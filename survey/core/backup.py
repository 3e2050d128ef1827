"""Backups: ikm backup and ikm restore (SQLite online backup API, pg_dump for PostgreSQL).

SQLite. ``ikm backup -o FILE`` copies the live database with the online backup API in one
step, so the copy is one consistent snapshot (WAL content included) while the app goes on
serving, into a temporary file next to FILE (mode 0600: it holds personal data), checks the
copy with ``PRAGMA integrity_check``, turns it into a single self-contained file (journal mode
DELETE) and renames it over FILE. ``ikm restore FILE`` checks that FILE is an SQLite database
with this app's schema at a revision this code knows and that it passes its integrity check,
then copies it *into* the live database with the backup API. That is one write transaction
on the live file: app processes that have it open see the old database or the new one, never
a mix. Renaming a file over the live one was rejected: open connections would go on using the
old, deleted file (their writes lost) and its ``-wal`` file would no longer match.

PostgreSQL. ``ikm backup`` runs ``pg_dump --format=custom`` of the schema the app uses (its
``current_schema()``: the one a URL selects with ``options=-csearch_path=...``, else
``public``) inside a REPEATABLE READ transaction whose snapshot it hands to pg_dump, so the
row counts it prints are exactly those of the dump. ``ikm restore`` checks the archive with
``pg_restore --list``, turns it into SQL with ``pg_restore --clean --if-exists`` and runs that
with ``psql --single-transaction`` and ``ON_ERROR_STOP`` (all or nothing), after dropping the
tables of newer migrations (they come back empty with the migrations), leaving out the
archive's CREATE SCHEMA so the schema itself, and its grants, stay. Owners and grants of the
archive are not restored (``--no-owner --no-privileges``): the tables belong to the user that
restores. The password goes to the client tools through ``PGPASSWORD`` (or a libpq service or
password file), never on their command line, and it never appears in what is printed.

After a restore the migrations run (``survey.core.database.upgrade``), so an older backup comes
up to the current schema. Stop the app servers (or accept that answers given between the backup and
the restore are gone, which is what restoring means) before restoring.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import sqlite3
import subprocess
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
VERSION_TABLE = "alembic_version"
VERSION_QUERY = "SELECT version_num FROM alembic_version"
# Tables every revision of the schema has: a file without them is not one of our databases.
CORE_TABLES = frozenset({"opd", "wave", "response"})
# Tables seeded by init-db with built-in rows: only rows an operator added count as data.
BUILTIN_FLAGGED = frozenset({"questionnaire", "categoryscheme"})
PG_LOCK_WAIT_MS = 60_000  # pg_dump gives up rather than queue behind a long schema change


class BackupError(Exception):
    """A backup or restore cannot be done; the message says why in one line."""


@dataclass(frozen=True)
class Contents:
    """What a database or a backup holds: the schema revision and the rows per table."""

    revision: str | None
    counts: dict[str, int] = field(default_factory=dict)

    def data_rows(self) -> dict[str, int]:
        """Return the tables that hold rows, with their row counts."""
        return {name: n for name, n in self.counts.items() if n}


@dataclass(frozen=True)
class BackupResult:
    """A written backup: where, how big, which backend, and what it holds."""

    path: Path
    size: int
    backend: str
    contents: Contents


def table_names() -> list[str]:
    """Return the app's tables in dependency order (every model, so none can be missed)."""
    from survey.core import models  # noqa: F401  (registers the tables)

    return [table.name for table in SQLModel.metadata.sorted_tables]


def known_revisions() -> set[str]:
    """Return the schema revisions of this code's migrations."""
    from alembic.script import ScriptDirectory

    from survey.core.database import alembic_config

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return {revision.revision for revision in script.walk_revisions()}


def head_revision() -> str:
    """Return the newest schema revision of this code."""
    from alembic.script import ScriptDirectory

    from survey.core.database import alembic_config

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def backup_kind(path: Path) -> str:
    """Return 'sqlite' or 'postgresql' from the file's first bytes; refuse anything else."""
    if not path.exists():
        raise BackupError(f"{path}: no such file")
    if not path.is_file():
        raise BackupError(f"{path}: not a file")
    try:
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise BackupError(f"{path}: cannot read it ({exc.strerror})") from None
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "postgresql"
    raise BackupError(
        f"{path.name}: not a backup made by 'ikm backup' "
        "(neither an SQLite database nor a pg_dump custom-format archive)"
    )


def _backend(engine: Engine) -> str:
    """Return 'sqlite' or 'postgresql'."""
    name = engine.url.get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise BackupError(f"backups of {name} databases are not supported")
    return name


def _count_queries(tables: set[str], *, operator_only: bool) -> dict[str, sa.Select[Any]]:
    """Return a row-count query per existing app table (dependency order).

    With ``operator_only`` the built-in questionnaire, its elements and the built-in schemes
    (which ``ikm init-db`` inserts) are left out, so a fresh database holds no rows.
    """
    queries: dict[str, sa.Select[Any]] = {}
    for table in SQLModel.metadata.sorted_tables:
        if table.name not in tables:
            continue
        query = sa.select(sa.func.count()).select_from(table)
        if operator_only and table.name in BUILTIN_FLAGGED:
            query = query.where(table.c.builtin == sa.false())
        elif operator_only and table.name == "element":
            parent = SQLModel.metadata.tables["questionnaire"]
            query = query.where(
                table.c.questionnaire_id.in_(
                    sa.select(parent.c.id).where(parent.c.builtin == sa.false())
                )
            )
        queries[table.name] = query
    return queries


def database_contents(conn: Connection, *, operator_only: bool = False) -> Contents:
    """Return the revision and the row count of each app table of a connection's database."""
    tables = set(sa.inspect(conn).get_table_names())
    revision = None
    if VERSION_TABLE in tables:
        revision = conn.execute(sa.text(VERSION_QUERY)).scalar()
    queries = _count_queries(tables, operator_only=operator_only)
    counts = {name: int(conn.execute(query).scalar_one()) for name, query in queries.items()}
    return Contents(revision=revision, counts=counts)


def describe_rows(counts: dict[str, int]) -> str:
    """Return 'opd 3, wave 2, response 540' for the tables that hold rows."""
    return ", ".join(f"{name} {n}" for name, n in counts.items() if n) or "no rows"


def _partial_path(output: Path) -> Path:
    """Return a fresh temporary path next to ``output`` (same file system: rename is atomic)."""
    return output.with_name(f".{output.name}.{secrets.token_hex(4)}.partial")


def _check_output(output: Path) -> None:
    """Refuse an output path that cannot take a file."""
    if output.is_dir():
        raise BackupError(f"{output} is a folder; give a file name with -o")
    if not output.parent.is_dir():
        raise BackupError(f"folder {output.parent} does not exist")


def _create_private(path: Path) -> None:
    """Create an empty file readable by its owner only (a backup holds personal data)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)


def _fsync(path: Path) -> None:
    """Flush a file (or folder) to disk, so a crash cannot leave a renamed but empty backup."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(partial: Path, output: Path) -> None:
    """Flush ``partial`` and rename it over ``output`` atomically."""
    _fsync(partial)
    os.replace(partial, output)
    _fsync(output.parent)


# --- SQLite ----------------------------------------------------------------------------------


def _sqlite_path(engine: Engine) -> Path:
    """Return the database file of a SQLite engine."""
    database = engine.url.database
    if not database or database == ":memory:" or engine.url.query.get("mode") == "memory":
        raise BackupError("the database is in memory; there is no file to back up or restore")
    return Path(database)


def _sqlite_check(conn: sqlite3.Connection, what: str) -> None:
    """Raise unless the database passes SQLite's integrity check."""
    rows = conn.execute("PRAGMA integrity_check").fetchall()
    if [tuple(row) for row in rows] != [("ok",)]:
        raise BackupError(f"{what} fails its integrity check: {rows[0][0]}")


def _sqlite_contents(conn: sqlite3.Connection, what: str) -> Contents:
    """Return what an SQLite file holds; refuse a file that is not one of our databases."""
    from sqlalchemy.dialects import sqlite

    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if VERSION_TABLE not in tables or not tables >= CORE_TABLES:
        raise BackupError(f"{what} is an SQLite database but not an IKM database")
    revision = conn.execute(VERSION_QUERY).fetchone()
    counts: dict[str, int] = {}
    for name, query in _count_queries(tables, operator_only=False).items():
        compiled = query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
        counts[name] = int(conn.execute(str(compiled)).fetchone()[0])
    return Contents(revision=revision[0] if revision else None, counts=counts)


def backup_sqlite(engine: Engine, output: Path) -> BackupResult:
    """Copy the live SQLite database to ``output`` (online backup API, checked, atomic)."""
    source = _sqlite_path(engine)
    if not source.is_file():
        raise BackupError(f"no database at {source}; run 'ikm init-db' first")
    _check_output(output)
    if output.resolve() == source.resolve():
        raise BackupError(f"{output} is the live database itself; write the backup elsewhere")
    partial = _partial_path(output)
    _create_private(partial)
    try:
        with (
            closing(sqlite3.connect(source, timeout=30)) as src,
            closing(sqlite3.connect(partial)) as dst,
        ):
            # pages=-1 (the default): one step, hence one consistent snapshot.
            src.backup(dst)
            _sqlite_check(dst, "the copy")
            dst.execute("PRAGMA journal_mode=DELETE")
            contents = _sqlite_contents(dst, "the database")
        _publish(partial, output)
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"backup failed: {exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return BackupResult(output, output.stat().st_size, "sqlite", contents)


def _read_sqlite_backup(path: Path) -> sqlite3.Connection:
    """Open a backup file read-only after checking it is one of ours and intact."""
    uri = "file:" + _uri_quote(str(path.resolve())) + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True)
        _sqlite_check(conn, path.name)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path.name}: not a readable SQLite database ({exc})") from None
    return conn


def _uri_quote(text: str) -> str:
    """Quote a path for an SQLite file: URI."""
    from urllib.parse import quote

    return quote(text, safe="/")


def restore_sqlite(engine: Engine, path: Path, *, replace: bool) -> Contents:
    """Copy a checked SQLite backup into the live database; return what the backup held."""
    target = _sqlite_path(engine)
    if target.exists() and path.resolve() == target.resolve():
        raise BackupError(f"{path} is the live database itself, not a backup")
    with closing(_read_sqlite_backup(path)) as src:
        contents = _sqlite_contents(src, path.name)
        _check_revision(contents, path)
        if target.exists():
            _refuse_if_data(engine, path, replace=replace)
        target.parent.mkdir(parents=True, exist_ok=True)
        engine.dispose()
        try:
            with closing(sqlite3.connect(target, timeout=30)) as dst:
                src.backup(dst)
        except sqlite3.Error as exc:
            raise BackupError(f"restore failed, the database is unchanged: {exc}") from None
    engine.dispose()
    return contents


# --- PostgreSQL ------------------------------------------------------------------------------


def _conninfo_value(value: str) -> str:
    """Quote a value for a libpq connection string."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def pg_connection(engine: Engine) -> tuple[str, dict[str, str]]:
    """Return the libpq connection string (no password) and the environment for the tools."""
    url = engine.url
    parts: dict[str, str] = {}
    if url.host:
        parts["host"] = url.host
    if url.port:
        parts["port"] = str(url.port)
    if url.username:
        parts["user"] = url.username
    if url.database:
        parts["dbname"] = url.database
    for key, value in url.query.items():
        # sslmode, service, options ...: libpq reads them as the driver did.
        if isinstance(value, str):
            parts[key] = value
    conninfo = " ".join(f"{key}={_conninfo_value(value)}" for key, value in parts.items())
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return conninfo, env


def _tool(name: str) -> str:
    """Return the path of a PostgreSQL client tool or stop with how to install it."""
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            f"{name} not found: install the PostgreSQL client tools "
            "(Debian: apt-get install postgresql-client, the same major version as the server)"
        )
    return path


def _run(args: list[str], env: dict[str, str], secret: str | None) -> str:
    """Run a client tool; return its standard output or raise with its first error line."""
    try:
        # No shell; args[0] is the tool's path from shutil.which, the rest our own options
        # and paths, each one argument.
        done = subprocess.run(  # nosec B603
            args, env=env, capture_output=True, text=True, check=False
        )
    except OSError as exc:
        raise BackupError(f"cannot run {Path(args[0]).name}: {exc.strerror}") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if "error" in line.lower() or "fatal" in line.lower()]
        message = (errors or lines or [f"exit status {done.returncode}"])[0]
        if secret:
            message = message.replace(secret, "***")
        raise BackupError(f"{Path(args[0]).name} failed: {message}")
    return done.stdout


def backup_postgres(engine: Engine, output: Path) -> BackupResult:
    """Dump the app's schema with pg_dump (custom format) in the snapshot it counts rows in."""
    pg_dump = _tool("pg_dump")
    _check_output(output)
    conninfo, env = pg_connection(engine)
    partial = _partial_path(output)
    _create_private(partial)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                snapshot = conn.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()
                schema = conn.execute(sa.text("SELECT current_schema()")).scalar()
                if schema is None:
                    raise BackupError("the database URL's search_path names no existing schema")
                contents = database_contents(conn)
                if contents.revision is None:
                    raise BackupError(
                        f"schema {schema!r} holds no IKM database; nothing to back up"
                    )
                # The transaction stays open while pg_dump reads in its exported snapshot.
                _run(
                    [
                        pg_dump,
                        "--format=custom",
                        f"--file={partial}",
                        f"--schema={schema}",
                        f"--snapshot={snapshot}",
                        f"--lock-wait-timeout={PG_LOCK_WAIT_MS}",
                        f"--dbname={conninfo}",
                    ],
                    env,
                    engine.url.password,
                )
        _publish(partial, output)
    except sa.exc.DBAPIError as exc:
        partial.unlink(missing_ok=True)
        from survey.core.database import first_line

        raise BackupError(f"database error: {first_line(exc.orig or exc)}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return BackupResult(output, output.stat().st_size, "postgresql", contents)


# One line of `pg_restore --list`: "215; 1259 16390 TABLE schema name owner".
_TOC_LINE = re.compile(r"^(\d+); \d+ \d+ (.+?) (\S+) (\S+) (\S+)$")


@dataclass(frozen=True)
class Archive:
    """The parts of a pg_dump archive's table of contents a restore needs."""

    lines: list[str]
    tables: set[str]
    schemas: set[str]


def read_archive(path: Path, env: dict[str, str]) -> Archive:
    """Read a pg_dump archive's table of contents; refuse one that is not an IKM schema."""
    listing = _run([_tool("pg_restore"), "--list", str(path)], env, None)
    lines = listing.splitlines()
    tables: set[str] = set()
    schemas: set[str] = set()
    for line in lines:
        match = _TOC_LINE.match(line)
        if match and match.group(2) == "TABLE":
            schemas.add(match.group(3))
            tables.add(match.group(4))
    if VERSION_TABLE not in tables or not tables >= CORE_TABLES:
        raise BackupError(f"{path.name} is a pg_dump archive but not of an IKM database")
    if len(schemas) != 1:
        raise BackupError(f"{path.name} holds several schemas ({', '.join(sorted(schemas))})")
    return Archive(lines=lines, tables=tables, schemas=schemas)


def archive_revision(path: Path, env: dict[str, str]) -> str | None:
    """Return the schema revision stored in a pg_dump archive (its alembic_version row)."""
    script = _run(
        [_tool("pg_restore"), "--data-only", f"--table={VERSION_TABLE}", "--file=-", str(path)],
        env,
        None,
    )
    lines = script.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("COPY ") and index + 1 < len(lines):
            value = lines[index + 1].strip()
            return None if value == "\\." else value
    return None


def restore_postgres(engine: Engine, path: Path, *, replace: bool, workdir: Path) -> Contents:
    """Replay a checked pg_dump archive into the app's schema, all or nothing."""
    pg_restore = _tool("pg_restore")
    conninfo, env = pg_connection(engine)
    archive = read_archive(path, env)
    revision = archive_revision(path, env)
    contents = Contents(revision=revision)
    _check_revision(contents, path)
    with engine.connect() as conn:
        schema = conn.execute(sa.text("SELECT current_schema()")).scalar()
    if schema is None:
        raise BackupError("the database URL's search_path names no existing schema; create it")
    (source_schema,) = archive.schemas
    if source_schema != schema:
        raise BackupError(
            f"{path.name} holds schema {source_schema!r} but the database URL uses {schema!r}"
        )
    _refuse_if_data(engine, path, replace=replace)
    # Keep the schema (and its grants): leave the archive's CREATE SCHEMA out.
    listing = workdir / f".ikm-restore-{secrets.token_hex(4)}.list"
    kept = [
        f";{line}" if (m := _TOC_LINE.match(line)) and m.group(2) == "SCHEMA" else line
        for line in archive.lines
    ]
    listing.write_text("\n".join(kept) + "\n", encoding="utf-8")
    # Tables and foreign keys of newer migrations than the archive's would block the archive's
    # DROPs (they point at its tables): every app table goes first, in the same transaction as
    # the replay, and newer tables come back empty with the migrations run after the restore.
    present = sorted(_app_tables(engine))
    prelude = "".join(f'DROP TABLE IF EXISTS "{name}" CASCADE;\n' for name in present)
    engine.dispose()
    # The archive as SQL first (a broken archive stops here, before anything changed), then
    # psql runs the DROPs above and that SQL in one transaction: all or nothing.
    script = workdir / f".ikm-restore-{secrets.token_hex(4)}.sql"
    try:
        script.touch(mode=0o600)  # it holds the respondents' answers
        _run(
            [
                pg_restore,
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                f"--use-list={listing}",
                f"--file={script}",
                str(path),
            ],
            env,
            engine.url.password,
        )
        _run(
            [
                _tool("psql"),
                "--no-psqlrc",
                "--quiet",
                "--single-transaction",
                "--set=ON_ERROR_STOP=1",
                f"--dbname={conninfo}",
                f"--command={prelude or 'SELECT 1;'}",
                f"--file={script}",
            ],
            env,
            engine.url.password,
        )
    finally:
        listing.unlink(missing_ok=True)
        script.unlink(missing_ok=True)
    _drop_newer_tables(engine, archive.tables)
    with engine.connect() as conn:
        return database_contents(conn)


def _app_tables(engine: Engine) -> set[str]:
    """Return the app's tables that exist in the database."""
    with engine.connect() as conn:
        present = set(sa.inspect(conn).get_table_names())
    return present & set(table_names())


def _drop_newer_tables(engine: Engine, restored: set[str]) -> None:
    """Drop app tables the archive did not have (made by newer migrations; they come back)."""
    with engine.begin() as conn:
        present = set(sa.inspect(conn).get_table_names())
        for name in reversed(table_names()):
            if name in present and name not in restored:
                quoted = conn.dialect.identifier_preparer.quote(name)  # a name of our models
                conn.execute(sa.text(f"DROP TABLE {quoted} CASCADE"))  # nosec B608


# --- Both ------------------------------------------------------------------------------------


def _check_revision(contents: Contents, path: Path) -> None:
    """Refuse a backup from a newer version of the app (its schema is unknown here)."""
    if contents.revision is None:
        raise BackupError(f"{path.name} has no schema revision; not a backup of an IKM database")
    if contents.revision not in known_revisions():
        raise BackupError(
            f"{path.name} has schema revision {contents.revision}, unknown to this version of "
            "the app (made by a newer one?); upgrade the app first"
        )


def _refuse_if_data(engine: Engine, path: Path, *, replace: bool) -> None:
    """Stop unless the target is empty (built-in rows aside) or the user said --yes."""
    if replace:
        return
    try:
        with engine.connect() as conn:
            held = database_contents(conn, operator_only=True).data_rows()
    except sa.exc.DBAPIError:
        return  # nothing readable to lose
    if held:
        raise BackupError(
            f"the database holds data ({describe_rows(held)}); restoring {path.name} replaces "
            "all of it: run again with --yes"
        )


def backup(engine: Engine, output: Path) -> BackupResult:
    """Back up the app's database to ``output``."""
    if _backend(engine) == "sqlite":
        return backup_sqlite(engine, output)
    return backup_postgres(engine, output)


def restore(engine: Engine, path: Path, *, replace: bool) -> tuple[Contents, str]:
    """Restore ``path`` into the app's database and migrate it; return contents and revision."""
    from survey.core.database import upgrade

    backend = _backend(engine)
    kind = backup_kind(path)
    if kind != backend:
        names = {"sqlite": "an SQLite", "postgresql": "a PostgreSQL (pg_dump)"}
        raise BackupError(
            f"{path.name} is {names[kind]} backup; it cannot be restored into "
            f"{names[backend].replace(' (pg_dump)', '')} database"
        )
    if backend == "sqlite":
        restore_sqlite(engine, path, replace=replace)
    else:
        restore_postgres(engine, path, replace=replace, workdir=path.resolve().parent)
    upgrade(engine)
    with engine.connect() as conn:
        after = database_contents(conn)
    return after, after.revision or "?"

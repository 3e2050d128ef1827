"""``/healthz``: whether this app server can reach its database (for load balancers).

The check runs ``SELECT 1`` and reads the Alembic revision of the schema. It answers 200 with
``{"status": "ok", "database": "ok", "schema": REV}``, or 503 with ``{"status": "error",
"database": REASON}`` where REASON is a short fixed phrase (the details, never a password, go
to the log). The schema counts as ready when it is at this release's newest revision, or at a
revision this release does not know (a newer release has migrated: migrations only add, so the
old code keeps serving during a rolling upgrade); it is not ready when it is missing or older.

The database work runs in a helper thread and the request waits at most ``HEALTH_TIMEOUT``
seconds for it, so a hung database makes the check answer 503 quickly instead of hanging the
load balancer's probe. At most one check runs at a time per process: probes arriving while
one is in flight share its result rather than piling up threads on a dead server.
"""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, current_app
from sqlalchemy import text
from sqlalchemy.engine import Engine

from survey.core.database import MIGRATIONS_DIR, first_line
from survey.web.database import get_engine

bp = Blueprint("health", __name__)

_PROBE_KEY = "ikm_health_probe"
DETAIL_MAX = 300  # characters of an error message kept for the log


@dataclass(frozen=True)
class Outcome:
    """The result of one check: ``reason`` is "ok" or a short public phrase."""

    reason: str
    schema: str | None = None
    detail: str | None = None  # for the log only, never for the response

    @property
    def ok(self) -> bool:
        """Return True if the database answered and the schema is ready."""
        return self.reason == "ok"


@functools.cache
def known_revisions() -> tuple[frozenset[str], frozenset[str]]:
    """Return this release's newest revisions (heads) and all its revisions."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS_DIR))
    every = frozenset(rev.revision for rev in script.walk_revisions())
    return frozenset(script.get_heads()), every


def _scrubbed(message: str, engine: Engine) -> str:
    """Return ``message`` without the database password, cut to ``DETAIL_MAX`` characters."""
    password = engine.url.password
    if password:
        message = message.replace(str(password), "***")
    return message[:DETAIL_MAX]


def schema_verdict(revisions: frozenset[str]) -> Outcome:
    """Judge the revisions found in ``alembic_version`` against this release's migrations."""
    heads, every = known_revisions()
    shown = ",".join(sorted(revisions)) or None
    if not revisions:
        return Outcome("schema missing", detail="no row in alembic_version: run 'ikm init-db'")
    if revisions == heads or not revisions <= every:
        return Outcome("ok", schema=shown)
    return Outcome(
        "schema out of date",
        schema=shown,
        detail=f"schema {shown} is older than {','.join(sorted(heads))}: run 'ikm init-db'",
    )


def check_database(engine: Engine, timeout: float) -> Outcome:
    """Run ``SELECT 1`` and read the schema revision; never raises."""
    try:
        with engine.connect() as connection:
            if engine.url.get_backend_name() == "postgresql":
                # The server gives up on its own too, so a stuck query frees the connection.
                milliseconds = max(1, int(timeout * 1000))
                connection.execute(text(f"SET LOCAL statement_timeout = {milliseconds}"))
            connection.execute(text("SELECT 1"))
            try:
                rows = connection.execute(text("SELECT version_num FROM alembic_version"))
                revisions = frozenset(str(row[0]) for row in rows)
            except Exception as exc:  # a missing table: the database is empty
                detail = _scrubbed(first_line(getattr(exc, "orig", None) or exc), engine)
                return Outcome("schema missing", detail=detail)
    except Exception as exc:  # anything at all: the probe must answer, not crash
        detail = f"{type(exc).__name__}: {first_line(getattr(exc, 'orig', None) or exc)}"
        return Outcome("unreachable", detail=_scrubbed(detail, engine))
    return schema_verdict(revisions)


class _Run:
    """One check in a helper thread: its outcome once ``done`` is set."""

    def __init__(self, engine: Engine, timeout: float) -> None:
        """Start checking ``engine`` at once."""
        self.done = threading.Event()
        self.outcome = Outcome("unreachable")
        thread = threading.Thread(
            target=self._work, args=(engine, timeout), daemon=True, name="healthz"
        )
        thread.start()

    def _work(self, engine: Engine, timeout: float) -> None:
        """Check the database, keep the outcome and wake the waiting requests."""
        try:
            self.outcome = check_database(engine, timeout)
        finally:
            self.done.set()


class Probe:
    """Runs checks in a helper thread, one at a time, with a deadline for the caller."""

    def __init__(self) -> None:
        """Start with no check in flight."""
        self._lock = threading.Lock()
        self._current: _Run | None = None

    def run(self, engine: Engine, timeout: float) -> Outcome:
        """Return a fresh check's outcome, or "timeout" if it takes longer than ``timeout``."""
        with self._lock:
            current = self._current
            if current is None or current.done.is_set():
                current = self._current = _Run(engine, timeout)
        if not current.done.wait(timeout):
            return Outcome("timeout", detail=f"no answer from the database in {timeout:g} s")
        return current.outcome


def probe(app: Flask) -> Probe:
    """Return the app's probe, creating it on first use."""
    return app.extensions.setdefault(_PROBE_KEY, Probe())


@bp.route("/healthz")
def healthz() -> Response:
    """Answer 200 when the database answers and its schema is ready, else 503."""
    # Type error ignored below: Flask's proxy hides _get_current_object from the type checker.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    outcome = probe(app).run(get_engine(app), float(app.config["HEALTH_TIMEOUT"]))
    if outcome.ok:
        body = {"status": "ok", "database": "ok", "schema": outcome.schema}
        status = 200
    else:
        body = {"status": "error", "database": outcome.reason}
        status = 503
        app.logger.warning("health check failed: %s (%s)", outcome.reason, outcome.detail)
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response

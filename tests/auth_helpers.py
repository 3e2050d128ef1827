"""Helpers for the tests of the workspace: the test password, CSRF tokens and signing in.

``AuthActions`` is the small helper class flaskr's tests use for repeated actions: a browser
that reads the form's CSRF token and posts the sign-in form. The accounts it signs in as are
made by the ``users`` fixture in ``conftest.py``, all with ``PASSWORD``.
"""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlmodel import Session, select
from werkzeug.test import TestResponse

from survey.core.models import AuditLog, Opd, User

PASSWORD = "kata-sandi-rahasia-1"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


class AuthActions:
    """A browser that signs in and out with the form's CSRF token, one app context a request."""

    def __init__(self, client: FlaskClient) -> None:
        """Drive ``client``."""
        self.client = client

    def token(self, path: str = "/masuk") -> str:
        """Return the CSRF token of the form on ``path``."""
        page = self.client.get(path)
        match = CSRF_RE.search(page.get_data(as_text=True))
        assert match, page.get_data(as_text=True)
        return match.group(1)

    def login(
        self,
        username: str,
        password: str = PASSWORD,
        *,
        next_url: str | None = None,
        addr: str = "198.51.100.7",
    ) -> TestResponse:
        """Post the sign-in form."""
        query = {"next": next_url} if next_url is not None else {}
        return self.client.post(
            "/masuk",
            query_string=query,
            data={"csrf_token": self.token(), "username": username, "password": password},
            environ_overrides={"REMOTE_ADDR": addr},
        )

    def logout(self) -> TestResponse:
        """Post the sign-out form of the workspace page."""
        return self.client.post("/keluar", data={"csrf_token": self.token("/kerja")})


def login(client: FlaskClient, username: str = "eva", password: str = PASSWORD) -> FlaskClient:
    """Sign ``client`` in as ``username`` (the ``users`` fixture's evaluator by default)."""
    assert AuthActions(client).login(username, password).status_code == 302
    return client


def csrf_token(client: FlaskClient, path: str = "/kerja") -> str:
    """Return the CSRF token of a form on ``path``."""
    match = CSRF_RE.search(client.get(path).get_data(as_text=True))
    assert match
    return match.group(1)


def admin_snapshot(session: Session) -> dict[str, list[tuple]]:
    """Return the users, the OPDs and the audit entries as plain tuples."""
    session.expire_all()
    users = session.exec(select(User).order_by(User.username)).all()
    opds = session.exec(select(Opd).order_by(Opd.slug)).all()
    entries = session.exec(select(AuditLog).order_by(AuditLog.id)).all()
    return {
        "users": [
            (u.username, u.role, u.opd_id, u.active, u.session_version, u.password_hash)
            for u in users
        ],
        "opds": [(o.slug, o.name, o.short_name, o.service_population, o.active) for o in opds],
        "audit": [(e.action, e.actor) for e in entries],
    }

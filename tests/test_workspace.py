"""The workspace landing page: each role sees the links to exactly the pages it may open."""

from __future__ import annotations

import pytest
from auth_helpers import AuthActions
from flask import Flask

LINKS = {
    "/kerja/gelombang": {"admin", "evaluator"},
    "/kerja/opd": {"admin", "evaluator"},
    "/kerja/kuesioner": {"admin", "evaluator"},
    "/kerja/pengguna": {"admin"},
    "/kerja/audit": {"admin"},
    "/kerja/hasil-opd/bpbd": {"opd-head"},
    "/hasil": {"admin", "evaluator", "opd-head"},
}


@pytest.mark.parametrize(
    ("username", "role"), [("admin", "admin"), ("eva", "evaluator"), ("kepala-bpbd", "opd-head")]
)
def test_menu_follows_the_role(app: Flask, users, username: str, role: str) -> None:
    """Each link is shown to the roles that may open it, and each shown link opens."""
    client = app.test_client()
    assert AuthActions(client).login(username).status_code == 302
    html = client.get("/kerja").get_data(as_text=True)
    for path, roles in LINKS.items():
        shown = f'href="{path}"' in html
        assert shown == (role in roles), path
        if shown:
            assert client.get(path).status_code == 200, path


def test_signed_in_pages_link_back_to_the_workspace(app: Flask, users) -> None:
    """Every page of a signed-in user links to the workspace; a citizen's page does not."""
    client = app.test_client()
    assert 'href="/kerja"' not in client.get("/hasil").get_data(as_text=True)
    assert AuthActions(client).login("eva").status_code == 302
    for path in ("/hasil", "/kerja/gelombang", "/kerja/opd"):
        assert 'href="/kerja"' in client.get(path).get_data(as_text=True), path

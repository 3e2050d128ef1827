"""Forwarded headers are believed only from the proxies in ``FORWARDED_ALLOW_IPS``."""

from __future__ import annotations

import pytest
from flask import Flask, request

from survey.core.settings import ConfigError
from survey.web import create_app
from survey.web.proxies import parse_allowed, peer_allowed

FORGED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


def seen(app: Flask, peer: str, headers: dict[str, str] | None = None) -> tuple[str, str]:
    """Return the client address and scheme the app sees for a request from ``peer``."""
    if "echo" not in app.view_functions:
        app.add_url_rule("/_echo", "echo", lambda: f"{request.remote_addr} {request.scheme}")
    response = app.test_client().get(
        "/_echo", headers=headers or FORGED, environ_base={"REMOTE_ADDR": peer}
    )
    address, scheme = response.get_data(as_text=True).split()
    return address, scheme


@pytest.fixture
def proxied_app(app_config: dict, request: pytest.FixtureRequest):
    """Build the app (on the test's backend) with one proxy trusted from the given peers."""

    def make(allowed: str) -> Flask:
        app_config.update(PROXY_COUNT=1, FORWARDED_ALLOW_IPS=allowed)
        return request.getfixturevalue("app")

    return make


def test_a_client_connecting_directly_keeps_its_own_address(proxied_app):
    """PROXY_COUNT=1 and the default allow list: X-Forwarded-For from a stranger is ignored."""
    app = proxied_app("127.0.0.1,::1")
    assert seen(app, "198.51.100.23") == ("198.51.100.23", "http")
    assert seen(app, "2001:db8::5") == ("2001:db8::5", "http")


def test_the_allowed_proxy_is_believed(proxied_app):
    """From an address or a network of the allow list the forwarded client counts."""
    app = proxied_app("127.0.0.1, 10.1.0.0/16, ::1")
    assert seen(app, "127.0.0.1") == ("203.0.113.7", "https")
    assert seen(app, "10.1.200.3") == ("203.0.113.7", "https")
    assert seen(app, "::ffff:10.1.0.9") == ("203.0.113.7", "https")
    assert seen(app, "10.2.0.1") == ("10.2.0.1", "http")


def test_allow_list_parsing():
    """Addresses, networks and '*' parse; anything else refuses to start, naming the entry."""
    networks = parse_allowed("127.0.0.1, 10.0.0.0/8 ,::1,")
    assert networks is not None and [str(n) for n in networks] == [
        "127.0.0.1/32",
        "10.0.0.0/8",
        "::1/128",
    ]
    assert parse_allowed("*") is None and peer_allowed("192.0.2.1", None)
    assert not peer_allowed("192.0.2.1", parse_allowed(""))
    assert not peer_allowed("unix-socket", networks) and not peer_allowed(None, networks)
    with pytest.raises(ConfigError, match=r"'proxy\.example'"):
        parse_allowed("127.0.0.1,proxy.example")


def test_a_bad_allow_list_stops_the_app(tmp_path):
    """The factory refuses a malformed IKM_FORWARDED_ALLOW_IPS rather than trusting anyone."""
    config = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
        "PROXY_COUNT": 1,
        "FORWARDED_ALLOW_IPS": "10.0.0.0/33",
    }
    with pytest.raises(ConfigError, match=r"10\.0\.0\.0/33"):
        create_app(config, str(tmp_path))

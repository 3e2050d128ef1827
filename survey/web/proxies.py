"""Forwarded headers, believed only from the reverse proxies named in ``FORWARDED_ALLOW_IPS``.

Behind a reverse proxy every request arrives from the proxy's address, so the app reads the
client's address, scheme and host from ``X-Forwarded-For``/``-Proto``/``-Host``/``-Prefix``
(``PROXY_COUNT`` proxies deep, Werkzeug's ``ProxyFix``). Anyone can send those headers, though:
an app server reachable directly would otherwise believe a client that names a new address on
every request, and every per-address limit would count nothing. So the headers are applied only
when the direct peer (``REMOTE_ADDR``) is inside one of the addresses or CIDR networks of
``FORWARDED_ALLOW_IPS`` (``*``: any peer, for a network where nothing else can reach the app);
from any other peer they are ignored and the peer's own address is the client's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.middleware.proxy_fix import ProxyFix

from survey.core.settings import ConfigError

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_allowed(raw: str | Iterable[str] | None) -> tuple[Network, ...] | None:
    """Return the networks of a comma-separated ``FORWARDED_ALLOW_IPS`` (None: ``*``, any peer).

    An address is a network of one; a malformed entry is a :class:`ConfigError` naming it.
    """
    if raw is None:
        return ()
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    entries = [item.strip() for item in items if item.strip()]
    if "*" in entries:
        return None
    networks: list[Network] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as exc:
            raise ConfigError(
                f"IKM_FORWARDED_ALLOW_IPS: {entry!r} is not an address or a network"
            ) from exc
    return tuple(networks)


def peer_allowed(peer: str | None, allowed: tuple[Network, ...] | None) -> bool:
    """Return True if forwarded headers from ``peer`` may be believed."""
    if allowed is None:
        return True
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address.version == net.version and address in net for net in allowed)


class TrustedProxyFix:
    """``ProxyFix`` for requests whose direct peer is an allowed proxy; the rest pass as sent."""

    def __init__(
        self, app: WSGIApplication, *, count: int, allowed: tuple[Network, ...] | None
    ) -> None:
        """Wrap ``app``, trusting ``count`` proxies' headers from the ``allowed`` peers."""
        self.app = app
        self.allowed = allowed
        self.fixed = ProxyFix(app, x_for=count, x_proto=count, x_host=count, x_prefix=count)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Apply the forwarded headers only if the peer is an allowed proxy."""
        if peer_allowed(environ.get("REMOTE_ADDR"), self.allowed):
            return self.fixed(environ, start_response)
        return self.app(environ, start_response)


def wrap(app: Any, *, count: int, allowed: str | Iterable[str] | None) -> Any:
    """Return ``app`` wrapped to trust ``count`` proxies from ``allowed`` (unwrapped for 0)."""
    if count <= 0:
        return app
    return TrustedProxyFix(app, count=count, allowed=parse_allowed(allowed))

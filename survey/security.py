"""Security headers on every response, and no development server in production.

Every response (pages, redirects, errors, static files, the QR SVGs and the PDFs) carries:

- ``Content-Security-Policy``: the pages use no script at all and no inline style (the inline
  SVG charts of ``/hasil`` carry presentation attributes instead of ``style``), so the policy
  allows no script, styles and images from this site only, forms posting to this site only,
  and no framing. PDFs get a smaller policy (see :data:`PDF_POLICY`);
- ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` (for browsers without
  ``frame-ancestors``), ``Cross-Origin-Opener-Policy: same-origin`` and a
  ``Permissions-Policy`` that denies the powerful features no page uses;
- ``Referrer-Policy: same-origin``: stricter than ``strict-origin-when-cross-origin``, since no
  other site needs to learn which page a visitor came from; the referrer stays on this site
  because Flask-WTF checks it on every HTTPS form post (``WTF_CSRF_SSL_STRICT``);
- ``Strict-Transport-Security`` only when the public URL is ``https://``: behind a TLS proxy
  the app itself sees plain HTTP, so the public URL, not the request, decides.

The cookies (session, ``lang``, ``ikm_seen``) are HttpOnly and SameSite=Lax, and Secure when
the public URL is HTTPS; they are set where they are made (``configure_settings``,
:mod:`survey.i18n`, :mod:`survey.antiabuse`).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import click
from flask import Flask, Response
from flask.cli import ScriptInfo

PAGE_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'none'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    )
)
# A browser shows a PDF in a viewer page of its own that the PDF response's policy also
# governs: Chromium's viewer embeds the file with <embed> and styles itself inline, so
# default-src, style-src or object-src would leave it blank. A PDF runs no script of this
# site; what matters is that no other site can frame it.
PDF_POLICY = "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
    )
)
STATIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": PERMISSIONS_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
}


def hsts_value(config: dict[str, Any]) -> str | None:
    """Return the Strict-Transport-Security value, or None unless the public URL is HTTPS."""
    seconds = int(config.get("HSTS_SECONDS") or 0)
    if seconds <= 0 or not str(config.get("PUBLIC_URL", "")).startswith("https://"):
        return None
    return f"max-age={seconds}; includeSubDomains"


def add_headers(response: Response, *, hsts: str | None) -> Response:
    """Set the security headers on one response."""
    policy = PDF_POLICY if response.mimetype == "application/pdf" else PAGE_POLICY
    response.headers["Content-Security-Policy"] = policy
    for name, value in STATIC_HEADERS.items():
        response.headers[name] = value
    if hsts:
        response.headers["Strict-Transport-Security"] = hsts
    return response


def init_app(app: Flask) -> None:
    """Install the security headers on every response of ``app``."""
    # Decided once: the public URL does not change while the app runs.
    hsts = hsts_value(app.config)
    app.after_request(functools.partial(add_headers, hsts=hsts))


PRODUCTION_RUN_MESSAGE = (
    "'ikm run' is the development server and refuses to serve IKM_ENV=production "
    "(with FLASK_DEBUG it would open the interactive debugger); serve with "
    "'gunicorn -c gunicorn.conf.py survey:create_app()' instead (see docs/deploy.md)"
)


def guard_run_command(group: click.Group) -> None:
    """Replace the group's ``run`` command with one that refuses a production app."""
    original = group.commands.get("run")
    if original is None or original.callback is None:
        return
    inner = original.callback

    @functools.wraps(inner)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        """Load the app; stop if it is configured for production, else run as Flask does."""
        info = click.get_current_context().ensure_object(ScriptInfo)
        app = info.load_app()  # cached: the wrapped command reuses this app
        if app.config.get("ENV") == "production":
            raise click.ClickException(PRODUCTION_RUN_MESSAGE)
        return inner(*args, **kwargs)

    # A copy, so that Flask's own module-level command is left as it was.
    command = copy.copy(original)
    command.callback = guarded
    group.add_command(command, "run")

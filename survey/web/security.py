"""Security headers on every response, and no development server in production.

Every response (pages, redirects, errors, static files, the QR SVGs and the PDFs) carries:

- ``Content-Security-Policy``: the pages use no script at all and no inline style (the inline
  SVG charts of ``/hasil`` carry presentation attributes instead of ``style``), so the policy
  allows no script, styles and images from this site only, forms posting to this site only,
  and no framing. PDFs get a smaller policy (see :data:`PDF_POLICY`); the two field pages
  (interview and kiosk, which work offline) and their service worker may run this site's own
  script (see :data:`FIELD_POLICY`), never inline or another site's;
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
:mod:`survey.web.i18n`, :mod:`survey.web.antiabuse`).
"""

from __future__ import annotations

import functools
import re
from typing import Any

from flask import Flask, Response, has_request_context, request

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
# The enumerator's and the kiosk's survey pages run this site's one script (survey/static/
# field.js: it keeps answers on the device while offline and sends them later) and register
# its service worker, which fetches this site's pages and the answer endpoint. Only they, and
# the worker's own script, get this policy; every other page keeps ``script-src 'none'``.
FIELD_POLICY = PAGE_POLICY.replace("script-src 'none'", "script-src 'self'") + (
    "; worker-src 'self'; connect-src 'self'"
)
FIELD_PATH = re.compile(r"/lapangan/(?:(?:wawancara|kios)/[^/]+/[^/]+|sw\.js)")
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
    if has_request_context() and FIELD_PATH.fullmatch(request.path):
        policy = FIELD_POLICY
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

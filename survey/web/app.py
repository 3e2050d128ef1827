"""The Flask application: the citizen survey, QR codes, accounts and (later) the workspaces.

``create_app`` builds the app from defaults, then the instance folder's ``config.py``, then
``IKM_*`` environment variables, then the test config. It has no side effects: it neither
migrates nor writes files (``ikm init-db`` and ``ikm demo`` do).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.routing import BaseConverter

from survey.core import settings
from survey.web import database, logs, proxies

# The views, forms, sign-in and translations are imported by the functions that register them:
# an app built for a command that shows no page (``ikm score``) does without them, about half a
# second of imports.


class TextConverter(BaseConverter):
    """The default URL part, minus control characters: ``/s/a%00b/x`` matches no route.

    PostgreSQL refuses NUL in text parameters, so a slug holding one would fail the lookup
    with a server error instead of the 404 every other unknown slug gets.
    """

    regex = r"[^/\x00-\x1f\x7f]+"


PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
SURVEY_DIR = PROJECT_ROOT / "survey"
TEMPLATES_DIR = PROJECT_ROOT / "templates"


def create_app(
    test_config: dict[str, Any] | None = None,
    instance_path: str | None = None,
    *,
    views: bool = True,
) -> Flask:
    """Build and return the application (instance folder: argument, ``IKM_INSTANCE_PATH``).

    With ``views=False`` the app has its settings (checked as always), logging and database but
    no pages, forms, translations or sign-in: for commands that only read and print data.
    """
    app = Flask(
        __name__,
        instance_path=instance_path or os.environ.get("IKM_INSTANCE_PATH") or None,
        instance_relative_config=True,
        template_folder=str(TEMPLATES_DIR),
        static_folder=str(SURVEY_DIR / "static"),
        root_path=str(SURVEY_DIR),
    )
    configure_settings(app, test_config)
    configure_logging(app)
    configure_proxy(app)
    if not views:
        database.init_app(app)
        return app
    configure_extensions(app)
    configure_blueprints(app)
    configure_errors(app)
    configure_security(app)
    return app


def configure_settings(app: Flask, test_config: dict[str, Any] | None) -> None:
    """Load settings in order and resolve the secret key."""
    app.config.update(settings.DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(settings.from_environment())
    if test_config:
        app.config.update(test_config)
    resolved = {**app.config, "SECRET_KEY": app.config.get("SECRET_KEY")}
    app.config["SECRET_KEY"] = settings.resolve_secret_key(resolved, app.instance_path)
    app.config["DEBUG"] = bool(app.config.get("DEBUG")) and app.config["ENV"] != "production"
    # A CSRF token lives no longer than the survey form's render token.
    render_max_age = int(app.config["RENDER_TOKEN_MAX_AGE"])
    csrf_limit = app.config.get("WTF_CSRF_TIME_LIMIT") or render_max_age
    app.config["WTF_CSRF_TIME_LIMIT"] = min(int(csrf_limit), render_max_age)
    app.config["PUBLIC_URL"] = str(app.config["PUBLIC_URL"]).rstrip("/")
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    if "SESSION_COOKIE_SECURE" not in (test_config or {}):
        # Secure cookies whenever the public address is HTTPS (behind a TLS proxy too).
        app.config["SESSION_COOKIE_SECURE"] = app.config["PUBLIC_URL"].startswith("https://")


def configure_logging(app: Flask) -> None:
    """Structured logs (see :mod:`survey.web.logs`)."""
    logs.init_app(app)


def configure_security(app: Flask) -> None:
    """Security headers on every response (see :mod:`survey.web.security`)."""
    from survey.web import security

    security.init_app(app)


def configure_proxy(app: Flask) -> None:
    """Trust X-Forwarded-* from ``PROXY_COUNT`` proxies, only from ``FORWARDED_ALLOW_IPS``.

    Behind a proxy every request would otherwise come from the proxy's address, so all
    citizens would share one rate-limit bucket and URLs would use the wrong scheme; a client
    that connects directly keeps its own address whatever it sends (see
    :mod:`survey.web.proxies`).
    """
    # Type error ignored below: wrapping wsgi_app is Flask's documented way to add middleware.
    app.wsgi_app = proxies.wrap(  # type: ignore[method-assign]
        app.wsgi_app,
        count=int(app.config.get("PROXY_COUNT") or 0),
        allowed=app.config.get("FORWARDED_ALLOW_IPS"),
    )


def configure_extensions(app: Flask) -> None:
    """Initialise the database, CSRF protection and translations."""
    from survey.web import i18n
    from survey.web.extensions import csrf

    database.init_app(app)
    csrf.init_app(app)
    i18n.init_app(app)


def configure_blueprints(app: Flask) -> None:
    """Register the views (one blueprint per module) and the sign-in settings."""
    from survey.web import (
        admin,
        citizen,
        counter,
        dashboard,
        enumerators,
        field,
        flags,
        health,
        imports_exports,
        kiosks,
        logos,
        onelink,
        opdhead,
        pdfs,
        qr,
        results,
        signin,
        waves,
    )

    # Before any rule is added: rules take their converters when they are registered.
    app.url_map.converters["default"] = app.url_map.converters["string"] = TextConverter
    views = (
        citizen,
        qr,
        pdfs,
        dashboard,
        flags,
        admin,
        waves,
        imports_exports,
        results,
        opdhead,
        health,
        kiosks,
        counter,
        logos,
        field,
        onelink,
        enumerators,
    )
    for module in views:
        app.register_blueprint(module.bp)
    signin.init_app(app)


def configure_errors(app: Flask) -> None:
    """Friendly pages for 404, 405, 413, 429 and 500 in the user's language."""
    from survey.web import errors

    errors.init_app(app)

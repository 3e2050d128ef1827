"""The ``ikm`` command: a Flask CLI group over the web app's factory.

Besides Flask's ``run`` (refused in production: gunicorn serves there) each command group lives
in its own module: the database (``init-db``), OPDs, waves, questionnaires, users, the response
file (``import``, ``export``), scores, reports, the demo, backups, privacy and visit codes.
Every command runs in the app context on the app's database. Problems end a command with a
one-line English message and exit status 1, never a traceback; listings print one item per
line, slug first, then tab-separated fields, so that scripts can cut them.
"""

from __future__ import annotations

import copy
import functools
import importlib
import sys
from typing import Any
from urllib.parse import urlsplit

import click
from flask import Flask
from flask.cli import FlaskGroup, ScriptInfo

from survey.core.settings import ConfigError
from survey.web import create_app

PRODUCTION_RUN_MESSAGE = (
    "'ikm run' is the development server and refuses to serve IKM_ENV=production "
    "(with FLASK_DEBUG it would open the interactive debugger); serve with "
    "'gunicorn -c gunicorn.conf.py survey.web:create_app()' instead (see docs/deploy.md)"
)
# The project's commands: name -> (module of survey.cli, attribute). A module is imported
# only when its command runs (or for the list in --help): ``ikm score`` does not pay for
# YAML, the demo or the reports (0.12 s of imports).
COMMANDS: dict[str, tuple[str, str]] = {
    "init-db": ("database", "init_db_command"),
    "opd": ("opd", "opd_group"),
    "wave": ("wave", "wave_group"),
    "questionnaire": ("questionnaire", "questionnaire_group"),
    "user": ("user", "user_group"),
    "import": ("data", "import_command"),
    "import-cleanup": ("data", "import_cleanup_command"),
    "export": ("data", "export_command"),
    "score": ("score", "score_command"),
    "aggregates": ("aggregates", "aggregates_group"),
    "compare": ("compare", "compare_command"),
    "report": ("report", "report_group"),
    "demo": ("demo", "demo_command"),
    "backup": ("backup", "backup_command"),
    "restore": ("backup", "restore_command"),
    "privacy": ("privacy", "privacy_group"),
    "codes": ("codes", "codes_command"),
    "enumerator": ("enumerator", "enumerator_group"),
}


def load_command(name: str) -> click.Command:
    """Import the module of the project's command `name` and return the command."""
    module, attribute = COMMANDS[name]
    command = getattr(importlib.import_module(f"survey.cli.{module}"), attribute)
    assert isinstance(command, click.Command) and command.name == name, (name, command)
    return command


class IkmGroup(FlaskGroup):
    """Flask's group, with the project's commands loaded when first asked for."""

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS and name not in self.commands:
            self.add_command(load_command(name))
        return super().get_command(ctx, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))


# Commands that print data and never a page or a link: their app is built without views
# (``create_app(views=False)``), half a second less for ``ikm score``.
COMMANDS_WITHOUT_VIEWS = frozenset({"score"})


def load_app() -> Flask:
    """Build the app for the command; a bad setting is one line and status 1."""
    context = click.get_current_context(silent=True)
    views = context is None or context.info_name not in COMMANDS_WITHOUT_VIEWS
    try:
        return create_app(views=views)
    except ConfigError as exc:
        # A bad setting is the operator's to fix: one line and status 1, not a traceback.
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)


def public_url_note(public_url: str, host: str | None, port: int | None) -> str | None:
    """Return a warning when IKM_PUBLIC_URL names this machine on another port than served.

    Survey links and QR posters are built from IKM_PUBLIC_URL, never from the request; a
    public URL of another host (a proxy, the real domain) is the operator's choice and passes.
    """
    parts = urlsplit(public_url)
    if port is None or parts.hostname is None:
        return None
    local = {"127.0.0.1", "localhost", "::1", "0.0.0.0", host or "127.0.0.1"}  # nosec B104
    try:
        url_port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:  # a port that is not a number: the settings check reports it
        return None
    if parts.hostname not in local or url_port == port:
        return None
    name = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return (
        f"Note: IKM_PUBLIC_URL is {public_url}, but this server listens on port {port}; "
        f"survey links and QR posters point at port {url_port}. "
        f"Set IKM_PUBLIC_URL={parts.scheme}://{name}:{port} to match."
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
        note = public_url_note(
            str(app.config.get("PUBLIC_URL") or ""), kwargs.get("host"), kwargs.get("port")
        )
        if note:
            click.echo(note, err=True)
        return inner(*args, **kwargs)

    # A copy, so that Flask's own module-level command is left as it was.
    command = copy.copy(original)
    command.callback = guarded
    group.add_command(command, "run")


def build_group() -> FlaskGroup:
    """Return the ``ikm`` group: Flask's commands (``run`` guarded) and the project's."""
    group = IkmGroup(create_app=load_app, help="IKM survey and scoring service.")
    guard_run_command(group)  # production serves with gunicorn, never the debugger
    return group


ikm = build_group()


def main() -> None:
    """Entry point of the ``ikm`` console command."""
    ikm()

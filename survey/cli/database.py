"""``ikm init-db``: create or upgrade the schema and insert the built-in data."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from survey.core.database import upgrade
from survey.core.settings import write_secret_file
from survey.web.database import get_engine


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create or upgrade the database schema to the newest migration."""
    engine = get_engine()
    upgrade(engine)
    if engine.url.get_backend_name() == "sqlite":
        write_secret_file(current_app.instance_path)
    click.echo(f"Database ready: {engine.url.render_as_string(hide_password=True)}")

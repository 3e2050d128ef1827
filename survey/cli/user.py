"""``ikm user``: add users, change their role, list them."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from survey.cli.common import command_session
from survey.core.accounts import AccountError, check_new_user, create_user, list_users, set_role
from survey.core.models import USER_ROLES


def _check_opd_option(role: str, opd_slug: str | None) -> None:
    """Refuse --opd without the opd-head role and the opd-head role without --opd.

    The service says the same in terms of fields; here the user typed options, so the
    message names the option.
    """
    if role == "opd-head" and not opd_slug:
        raise click.ClickException("the opd-head role needs --opd SLUG (the OPD this user heads)")
    if role != "opd-head" and opd_slug:
        raise click.ClickException(f"--opd is only for the opd-head role, not for {role!r}")


user_group = AppGroup("user", help="Manage the accounts of administrators, evaluators, OPD heads.")


@user_group.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(USER_ROLES), help="The user's role.")
@click.option("--opd", "opd_slug", default=None, help="The OPD an opd-head user heads (slug).")
@click.option("--password", default=None, help="The password; asked for when left out.")
def user_add_command(name: str, role: str, opd_slug: str | None, password: str | None) -> None:
    """Create a user; prompts for the password (twice) unless --password is given."""
    _check_opd_option(role, opd_slug)
    with command_session() as db:
        # Check everything that needs no password first, so no one types one for nothing.
        try:
            check_new_user(db, username=name, role=role, opd_slug=opd_slug)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from None
        if password is None:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        try:
            user = create_user(db, username=name, password=password, role=role, opd_slug=opd_slug)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"User {user.username!r} created with role {role}.")


@user_group.command("role")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(USER_ROLES), help="The new role.")
@click.option("--opd", "opd_slug", default=None, help="The OPD an opd-head user heads (slug).")
def user_role_command(name: str, role: str, opd_slug: str | None) -> None:
    """Change a user's role (signs them out everywhere; written to the audit log)."""
    _check_opd_option(role, opd_slug)
    with command_session() as db:
        try:
            user = set_role(db, username=name, role=role, opd_slug=opd_slug)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"User {user.username!r} now has role {role}.")


@user_group.command("list")
def user_list_command() -> None:
    """List users: username, then tab-separated role, OPD slug (or '-') and active."""
    with command_session() as db:
        for user, opd in list_users(db):
            active = "active" if user.active else "inactive"
            click.echo(f"{user.username}\t{user.role}\t{opd.slug if opd else '-'}\t{active}")

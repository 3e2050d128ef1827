"""``ikm questionnaire``: add a questionnaire from a YAML or JSON file, list them."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from survey.core.questionnaires import (
    MAX_FILE_BYTES,
    QuestionnaireError,
    add_questionnaire,
    list_questionnaires,
    load_questionnaire_file,
)

questionnaire_group = AppGroup("questionnaire", help="Add and list questionnaires.")


@questionnaire_group.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def questionnaire_add_command(file: Path) -> None:
    """Add a questionnaire from a YAML or JSON file (see docs/questionnaire-format.md)."""
    from survey.cli.common import command_session

    if file.stat().st_size > MAX_FILE_BYTES:
        raise click.ClickException(f"{file.name}: larger than {MAX_FILE_BYTES} bytes")
    try:
        spec = load_questionnaire_file(file.read_bytes(), file.name)
    except QuestionnaireError as exc:
        raise click.ClickException(f"{file.name} is not a usable questionnaire: {exc}") from None
    with command_session() as session:
        try:
            questionnaire, created = add_questionnaire(session, spec=spec, actor=None)
        except QuestionnaireError as exc:
            raise click.ClickException(str(exc)) from None
        ikm, perception = spec.counts()
        if created:
            click.echo(
                f"Added questionnaire {questionnaire.slug} version {questionnaire.version}: "
                f"{ikm} IKM elements, {perception} perception items, "
                f"{questionnaire.scale_points}-point scale"
            )
        else:
            click.echo(
                f"Questionnaire {questionnaire.slug} is already stored with this content "
                f"(version {questionnaire.version}); nothing added"
            )


@questionnaire_group.command("list")
def questionnaire_list_command() -> None:
    """List questionnaires: slug, version, scale, IKM elements, perception items, title."""
    from survey.cli.common import command_session

    with command_session() as session:
        for row in list_questionnaires(session):
            q = row.questionnaire
            click.echo(
                f"{q.slug}\t{q.version}\t{q.scale_points}\t{row.ikm}\t{row.perception}\t"
                f"{q.title_id}"
            )


@questionnaire_group.command("show")
@click.argument("slug")
@click.option("--version", "version", type=int, default=None, help="Default: the newest.")
@click.option(
    "--lang",
    "lang",
    default="id",
    show_default=True,
    help="id, en or a further language of the questionnaire file (e.g. su).",
)
def questionnaire_show_command(slug: str, version: int | None, lang: str) -> None:
    """Print a questionnaire's questions and answer labels in one of its languages."""
    from survey.cli.common import command_session
    from survey.core import locales, notapplicable
    from survey.core.questionnaires import find_questionnaire, stored_elements

    with command_session() as session:
        questionnaire = find_questionnaire(session, slug=slug, version=version)
        if questionnaire is None:
            which = slug if version is None else f"{slug} version {version}"
            raise click.ClickException(f"no questionnaire {which}")
        offered = locales.offered_locales(questionnaire)
        if lang not in offered:
            raise click.ClickException(
                f"{questionnaire.slug} version {questionnaire.version} is in "
                f"{', '.join(offered)}, not {lang!r}"
            )
        assert questionnaire.id is not None
        items = stored_elements(session, questionnaire_id=questionnaire.id)
        extra = notapplicable.by_code(items, questionnaire)
        click.echo(
            f"{locales.title_in(questionnaire, lang)} "
            f"({questionnaire.slug} version {questionnaire.version}, {lang})"
        )
        for question in locales.questions(
            items, scale_points=questionnaire.scale_points, lang=lang, not_applicable=extra
        ):
            click.echo(f"{question.number}. [{question.code}] {question.name}: {question.text}")
            answers = [f"{i}={label}" for i, label in enumerate(question.labels, start=1)]
            if question.not_applicable is not None:
                answers.append(f"NA={question.not_applicable}")
            click.echo("   " + "; ".join(answers))

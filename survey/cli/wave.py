"""``ikm wave``: create, open, close, publish and list survey waves."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import click
from flask.cli import AppGroup

from survey.cli.common import TITLE_MAX_LENGTH
from survey.cli.common import (
    check_length as _check_length,
)
from survey.cli.common import (
    check_slug as _check_slug,
)
from survey.cli.common import (
    command_session as _database,
)
from survey.cli.common import (
    find_wave as _wave,
)
from survey.core import queries as repo
from survey.core.builtin import DEFAULT_SCHEME_SLUG

# --- Waves ------------------------------------------------------------------------------------

wave_group = AppGroup("wave", help="Create, open, close and list survey waves.")


@wave_group.command("create")
@click.option("--slug", required=True, callback=_check_slug, help="Used in survey URLs.")
@click.option("--title", required=True, help="e.g. 'Evaluasi 100 Hari Kerja'.")
@click.option("--evaluator", help="Who runs the survey, e.g. 'DPD KNPI Kota Serang'.")
@click.option(
    "--opds",
    default="all",
    show_default=True,
    help="'all' (every active OPD) or a comma-separated list of OPD slugs.",
)
@click.option(
    "--scheme",
    default=DEFAULT_SCHEME_SLUG,
    show_default=True,
    help="Category scheme slug, e.g. kepmenpan-25-2004.",
)
@click.option("--target", type=click.IntRange(min=1), help="Target sample size per OPD.")
@click.option("--start", type=click.DateTime(formats=["%Y-%m-%d"]), help="First day, YYYY-MM-DD.")
@click.option("--end", type=click.DateTime(formats=["%Y-%m-%d"]), help="Last day, YYYY-MM-DD.")
def wave_create_command(
    slug: str,
    title: str,
    evaluator: str | None,
    opds: str,
    scheme: str,
    target: int | None,
    start: datetime | None,
    end: datetime | None,
) -> None:
    """Create a wave (as a draft) over some or all OPDs with the default questionnaire."""
    from survey.core.audit import audit
    from survey.core.waves import RESERVED_SLUGS

    if slug in RESERVED_SLUGS:
        raise click.BadParameter(f"{slug!r} is used by the app's own pages", param_hint="--slug")
    title = title.strip()
    if not title:
        raise click.UsageError("--title must not be empty")
    _check_length("--title", title, TITLE_MAX_LENGTH)
    evaluator = (evaluator or "").strip() or None
    _check_length("--evaluator", evaluator, TITLE_MAX_LENGTH)
    period_start: date | None = start.date() if start else None
    period_end: date | None = end.date() if end else None
    if period_start and period_end and period_end < period_start:
        raise click.UsageError(f"--end {period_end} is before --start {period_start}")
    opd_slugs: list[str] | None = None
    if opds.strip().lower() != "all":
        # dict.fromkeys drops repeats and keeps the order given.
        opd_slugs = list(dict.fromkeys(s.strip() for s in opds.split(",") if s.strip()))
        if not opd_slugs:
            raise click.UsageError("--opds names no OPD; give 'all' or slugs like 'bpbd,rsud'")
    with _database() as session:
        wave = repo.create_wave(
            session,
            slug=slug,
            title=title,
            opd_slugs=opd_slugs,
            scheme_slug=scheme,
            target_n=target,
            period_start=period_start,
            period_end=period_end,
            evaluator=evaluator,
        )
        covered = len(repo.wave_opds(session, wave=wave))
        audit(
            session,
            actor=None,
            action="wave.create",
            wave=wave.slug,
            title=wave.title,
            opds=covered,
            scheme=scheme,
        )
        session.commit()
        click.echo(
            f"Created wave {wave.slug} ({wave.status}) over {covered} OPDs; "
            f"open it with: ikm wave open {wave.slug}"
        )


STATUS_ACTIONS = {"open": "wave.open", "closed": "wave.close", "published": "wave.publish"}


def _set_status(slug: str, status: str) -> None:
    """Move a wave to ``status``, with its audit entry in the same commit, and say so."""
    from survey.core.audit import audit

    with _database() as session:
        wave = _wave(session, slug)
        if wave.status == status:
            click.echo(f"Wave {slug} is already {status}")
            return
        previous = wave.status
        wave = repo.set_wave_status(session, slug=slug, status=status, commit=False)
        detail: dict[str, Any] = {"wave": wave.slug, "from": previous, "to": status}
        if wave.published_at is not None and status == "published":
            detail["published_at"] = wave.published_at.isoformat()
        audit(session, actor=None, action=STATUS_ACTIONS[status], **detail)
        session.commit()
        click.echo(f"Wave {slug} is now {status}")


@wave_group.command("open")
@click.argument("slug")
def wave_open_command(slug: str) -> None:
    """Open a wave (from draft, or reopen a closed one) so citizens can answer."""
    _set_status(slug, "open")


@wave_group.command("close")
@click.argument("slug")
def wave_close_command(slug: str) -> None:
    """Close an open wave: the survey pages stop taking answers."""
    _set_status(slug, "closed")


@wave_group.command("publish")
@click.argument("slug")
def wave_publish_command(slug: str) -> None:
    """Publish a closed wave: its results become public and can no longer change."""
    _set_status(slug, "published")


@wave_group.command("list")
def wave_list_command() -> None:
    """List waves, newest first: slug, status, title, OPDs, counted responses (tab-separated)."""
    with _database() as session:
        for wave, n_opds, n_counted in repo.wave_summaries(session):
            click.echo(f"{wave.slug}\t{wave.status}\t{wave.title}\t{n_opds}\t{n_counted}")

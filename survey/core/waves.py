"""Waves: create and edit, targets, custom schemes, and the one life cycle (``ALLOWED_STATUS``).

The workspace's forms and ``ikm wave`` both hand over a :class:`WaveSettings` (the demo too),
and both move a wave with :func:`change_status`; the functions here apply the rules
that need the database (a removed OPD must have no responses, the questionnaire may change
only while the wave is a draft without responses, a published wave is frozen) and write
every change of one request in one transaction with its audit entries (``wave.create``,
``wave.update`` with the changed fields before and after, ``scheme.create`` for a custom
category scheme, ``wave.open`` / ``wave.close`` / ``wave.publish``). A refused request raises
:class:`WaveSetupError` with a message per form field and writes nothing.

Targets: a number per OPD by hand, or Krejcie & Morgan from the OPD's service population for
OPDs that have one; beside each target the pages show the margin of error of a mean converted
score it gives, with a typical standard deviation of 12 points (see the IKM standard).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from scoring.schemes import converted
from survey.core import queries, rules, shortlinks, tallies
from survey.core.audit import audit
from survey.core.builtin import DEFAULT_SCHEME_SLUG
from survey.core.models import (
    VERIFICATION_MODES,
    Alarm,
    CategoryScheme,
    EnumeratorScope,
    ImportJob,
    KioskDevice,
    Opd,
    Questionnaire,
    Response,
    VisitCode,
    Wave,
    WaveLogo,
    WaveOpd,
    WaveUnit,
    utcnow,
)
from survey.core.problems import Problem, ProblemError, define, problem

define(
    {
        "scheme-name-required": "the category scheme needs a name",
        "scheme-name-too-long": "the category scheme's name has more than {limit} characters",
        "category-code": "a category needs a code of at most 8 characters",
        "category-code-twice": "category code {category!r} is used twice",
        "category-labels": "a category needs labels in both languages (at most 100 characters)",
        "category-bound": "a category's lower bound must be a number from 1 to {scale}",
        "category-order": "each category's lower bound must be below the one above it",
        "categories-too-few": "a category scheme needs at least two categories",
        "category-lowest-bound": "the lowest category must start at 1.00 so every score has one",
        "wave-opd-unknown": "OPD {slug!r} is unknown or inactive",
        "wave-opds-none": "choose at least one OPD",
        "questionnaire-unknown": "unknown questionnaire",
        "scheme-unknown": "unknown category scheme",
        "wave-slug-required": "the wave needs a slug",
        "wave-slug-invalid": (
            "{value!r} is not a slug: use lower-case letters, digits and single hyphens "
            "(at most {limit} characters), e.g. 'evaluasi-2026'"
        ),
        "wave-slug-reserved": "the slug {value!r} is used by the app's own pages",
        "wave-slug-taken": "wave slug {value!r} already exists",
        "wave-published": "a published wave cannot be changed",
        "questionnaire-locked": (
            "the questionnaire can only change while the wave is a draft without responses"
        ),
        "wave-opds-answered": "these OPDs already have responses in this wave: {names}",
        "wave-action-unknown": "unknown action {action!r}",
        "wave-action-refused": "a {status} wave cannot be moved that way ({action})",
        "wave-title-required": "the wave needs a title",
        "wave-title-too-long": "the title has {length} characters (at most {limit})",
        "wave-evaluator-too-long": "the evaluator has {length} characters (at most {limit})",
        "wave-period-order": "the period ends ({end}) before it starts ({start})",
        "wave-unknown": "unknown wave {value!r} (known: {known})",
        "wave-verification-unknown": (
            "verification must be one of {modes} (visit codes), not {value!r}"
        ),
        "wave-min-rank-n": (
            "the minimum n for ranking must be a whole number from {low} to {high}, not {value!r}"
        ),
    }
)

RESERVED_SLUGS = ("baru",)  # /kerja/gelombang/baru is the create form
TYPICAL_SD = 12.0  # points on the converted 25..100 scale, for the margin of error shown
MIN_IKM, MAX_IKM = 1.0, 4.0
# Wave.min_rank_n: OPDs with fewer counted responses are scored but not ranked.
MIN_RANK_N_DEFAULT = 15
MIN_RANK_N_LOW, MIN_RANK_N_HIGH = 2, 100_000
STATUS_ACTIONS = {
    "open": ("open", "wave.open"),
    "close": ("closed", "wave.close"),
    "publish": ("published", "wave.publish"),
    "revise": ("closed", "wave.revise"),  # a correction: back to closed, its version stays public
}
# The life cycle, the only copy: draft -> open -> closed -> published, and a closed wave may
# reopen. A published wave is corrected by "revise" (back to closed, its published version
# still public) and published again as the next version (survey.core.publications).
ALLOWED_STATUS = {
    "draft": ("open",),
    "open": ("closed",),
    "closed": ("open", "published"),
    "published": ("closed",),
}


class WaveSetupError(ProblemError):
    """A request that the rules refuse; each problem names the form field it concerns."""


@dataclass(frozen=True)
class CategoryInput:
    """One category of a custom scheme: its code, labels and lower bound on 1..m."""

    code: str
    label_id: str
    label_en: str
    min_ikm: float


@dataclass(frozen=True)
class CustomScheme:
    """A category scheme defined in the wave form, highest category first."""

    name: str
    categories: tuple[CategoryInput, ...]
    scale_points: int = 4  # the scale the bounds are typed on (the questionnaire's)

    def as_dicts(self) -> list[dict[str, Any]]:
        """Return the categories as stored (min_converted by scoring.schemes.converted)."""
        extra = {} if self.scale_points == 4 else {"scale_points": self.scale_points}
        return [
            {
                "code": c.code,
                "label_id": c.label_id,
                "label_en": c.label_en,
                "min_ikm": c.min_ikm,
                "min_converted": round(converted(c.min_ikm, self.scale_points), 4),
            }
            | extra
            for c in self.categories
        ]


@dataclass(frozen=True, kw_only=True)
class WaveSettings:
    """What the wave form or ``ikm wave create`` sets, checked for form and range.

    The database checks (OPDs, questionnaire, scheme, slug) are the service's.
    """

    title: str
    opd_slugs: tuple[str, ...]
    evaluator: str | None = None
    period_start: date | None = None
    period_end: date | None = None
    questionnaire_id: int | None = None  # None: keep the wave's (or the default for a new wave)
    # An existing scheme; None when ``custom_scheme`` is given.
    scheme_slug: str | None = DEFAULT_SCHEME_SLUG
    custom_scheme: CustomScheme | None = None
    targets: Mapping[str, int | None] = field(default_factory=dict)  # by hand, per OPD slug
    compute_targets: bool = False  # Krejcie & Morgan where the OPD has a population
    simulated: bool = False  # demo data (only a new wave takes it; every page says so)
    # Visit codes: "off", "optional" or "required"; None keeps the wave's ("off" when new).
    verification: str | None = None
    # Minimum counted responses for an OPD to be ranked; None keeps the wave's (15 when new).
    min_rank_n: int | None = None
    # Whether a citizen may rate several OPDs in one sitting from the wave's link; None keeps
    # the wave's (off when new).
    multi_opd: bool | None = None


def valid_min_rank_n(value: object) -> bool:
    """Whether a minimum n for ranking is a whole number in the allowed range."""
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and MIN_RANK_N_LOW <= value <= MIN_RANK_N_HIGH
    )


def check_settings(settings: WaveSettings) -> dict[str, Problem]:
    """Return the problems of the settings' texts and period, by field (the model's limits)."""
    errors: dict[str, Problem] = {}
    title = settings.title.strip()
    if not title:
        errors["title"] = problem("wave-title-required", "title")
    elif len(title) > rules.WAVE_TITLE_MAX_LENGTH:
        errors["title"] = problem(
            "wave-title-too-long", "title", length=len(title), limit=rules.WAVE_TITLE_MAX_LENGTH
        )
    evaluator = settings.evaluator or ""
    if len(evaluator) > rules.WAVE_EVALUATOR_MAX_LENGTH:
        errors["evaluator"] = problem(
            "wave-evaluator-too-long",
            "evaluator",
            length=len(evaluator),
            limit=rules.WAVE_EVALUATOR_MAX_LENGTH,
        )
    mode = settings.verification
    if mode is not None and mode not in VERIFICATION_MODES:
        errors["verification"] = problem(
            "wave-verification-unknown",
            "verification",
            modes=", ".join(VERIFICATION_MODES),
            value=mode,
        )
    if settings.min_rank_n is not None and not valid_min_rank_n(settings.min_rank_n):
        errors["min_rank_n"] = problem(
            "wave-min-rank-n",
            "min_rank_n",
            low=MIN_RANK_N_LOW,
            high=MIN_RANK_N_HIGH,
            value=settings.min_rank_n,
        )
    start, end = settings.period_start, settings.period_end
    if start is not None and end is not None and end < start:
        errors["period_end"] = problem(
            "wave-period-order", "period_end", start=start.isoformat(), end=end.isoformat()
        )
    return errors


def check_custom_scheme(
    name: str, rows: Sequence[tuple[str, str, str, str]], scale_points: int = 4
) -> CustomScheme:
    """Check a custom scheme's name and rows (code, label_id, label_en, min_ikm as typed).

    The bounds are IKMs on the questionnaire's scale 1..`scale_points` (above 4 is allowed on
    5 or more points); the stored converted bounds follow :func:`scoring.schemes.converted`.

    Blank rows are skipped. Raises WaveSetupError with problems for the fields ``scheme_name``
    and ``category-<i>``.
    """
    errors: dict[str, Problem] = {}
    name = name.strip()
    if not name:
        errors["scheme_name"] = problem("scheme-name-required", "scheme_name")
    elif len(name) > 200:
        errors["scheme_name"] = problem("scheme-name-too-long", "scheme_name", limit=200)
    categories: list[CategoryInput] = []
    seen: set[str] = set()
    for i, (code, label_id, label_en, minimum) in enumerate(rows):
        code, label_id, label_en, minimum = (
            code.strip(),
            label_id.strip(),
            label_en.strip(),
            minimum.strip(),
        )
        if not (code or label_id or label_en or minimum):
            continue
        key = f"category-{i}"
        try:
            value = float(minimum.replace(",", "."))
        except ValueError:
            value = float("nan")
        if not code or len(code) > 8:
            errors[key] = problem("category-code", key)
        elif code in seen:
            errors[key] = problem("category-code-twice", key, category=code)
        elif not label_id or not label_en or len(label_id) > 100 or len(label_en) > 100:
            errors[key] = problem("category-labels", key)
        elif not MIN_IKM <= value <= float(scale_points):
            errors[key] = problem("category-bound", key, scale=int(scale_points))
        elif categories and value >= categories[-1].min_ikm:
            errors[key] = problem("category-order", key)
        seen.add(code)
        if key not in errors:
            categories.append(CategoryInput(code, label_id, label_en, round(value, 4)))
    if not errors:
        if len(categories) < 2:
            errors["category-0"] = problem("categories-too-few", "category-0")
        elif categories[-1].min_ikm != MIN_IKM:
            last = f"category-{len(categories) - 1}"
            errors[last] = problem("category-lowest-bound", last)
    if errors:
        raise WaveSetupError(errors.values())
    return CustomScheme(name=name, categories=tuple(categories), scale_points=int(scale_points))


def _scheme_slug(session: Session, name: str) -> str:
    """Return a free scheme slug made from the name (skema-<name>, -2, -3 ... if taken)."""
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:48].strip("-") or "kustom"
    base = f"skema-{base}"
    taken = set(session.exec(select(CategoryScheme.slug)).all())
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


def margin_for(target: int | None, population: int | None) -> float | None:
    """Return the margin of error (converted points) a target gives, or None if it has none."""
    from scoring.planning import margin_of_error

    if target is None or target < 2:
        return None
    if population is not None and (population < 2 or target > population):
        return None
    return margin_of_error(target, TYPICAL_SD, population=population)


def km_target(population: int | None) -> int | None:
    """Return the Krejcie & Morgan sample for a service population, None without one."""
    from scoring.planning import krejcie_morgan

    if population is None or population < 1:
        return None
    return krejcie_morgan(population)


def response_counts_by_opd(
    session: Session, *, wave: Wave, status: str | None = None
) -> dict[int, int]:
    """Return the number of the wave's responses per OPD id (of one status, or all)."""
    query = select(Response.opd_id, sa.func.count()).where(Response.wave_id == wave.id)
    if status is not None:
        query = query.where(Response.status == status)
    query = query.group_by(col(Response.opd_id))
    return {int(opd_id): int(n) for opd_id, n in session.exec(query).all()}


def snapshot(session: Session, *, wave: Wave) -> dict[str, Any]:
    """Return the wave's settings as plain JSON values (for audit entries)."""
    scheme = session.get(CategoryScheme, wave.scheme_id)
    links = queries.wave_opds(session, wave=wave)
    return {
        "title": wave.title,
        "evaluator": wave.evaluator,
        "period_start": wave.period_start.isoformat() if wave.period_start else None,
        "period_end": wave.period_end.isoformat() if wave.period_end else None,
        "questionnaire_id": wave.questionnaire_id,
        "scheme": scheme.slug if scheme else None,
        "opds": sorted(opd.slug for opd, _link in links),
        "targets": {opd.slug: link.target_n for opd, link in sorted(links, key=_by_slug)},
        "verification": wave.verification,
        "min_rank_n": wave.min_rank_n,
        "multi_opd": wave.multi_opd,
    }


def current_settings(session: Session, *, wave: Wave) -> WaveSettings:
    """Return a wave's settings as they stand (``ikm wave edit`` changes some of them)."""
    scheme = session.get(CategoryScheme, wave.scheme_id)
    links = queries.wave_opds(session, wave=wave)
    return WaveSettings(
        title=wave.title,
        evaluator=wave.evaluator,
        period_start=wave.period_start,
        period_end=wave.period_end,
        opd_slugs=tuple(opd.slug for opd, _link in links),
        scheme_slug=scheme.slug if scheme else None,
        targets={opd.slug: link.target_n for opd, link in links},
        verification=wave.verification,
        min_rank_n=wave.min_rank_n,
        multi_opd=wave.multi_opd,
    )


def _by_slug(pair: tuple[Opd, WaveOpd]) -> str:
    """Sort key: the OPD's slug."""
    return pair[0].slug


def _locked_wave(session: Session, wave_id: int | None) -> Wave:
    """Return the wave row locked for update (PostgreSQL), so two edits do not interleave."""
    query = (
        select(Wave)
        .where(Wave.id == wave_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.exec(query).one()


def _link(wave: Wave, opd: Opd, target: int | None) -> WaveOpd:
    """Return the row that puts ``opd`` in ``wave`` with its target (both rows are stored)."""
    assert wave.id is not None and opd.id is not None
    return WaveOpd(wave_id=wave.id, opd_id=opd.id, target_n=target)


def _resolve(
    session: Session,
    *,
    settings: WaveSettings,
    wave: Wave | None,
    errors: dict[str, Problem],
) -> tuple[list[Opd], dict[str, int | None], Questionnaire | None, CategoryScheme | None]:
    """Check the settings against the database; collect messages in ``errors``."""
    current = {opd.slug for opd, _link in queries.wave_opds(session, wave=wave)} if wave else set()
    opds: list[Opd] = []
    for slug in settings.opd_slugs:
        opd = queries.get_opd(session, slug=slug)
        if opd is None or (not opd.active and slug not in current):
            errors["opds"] = problem("wave-opd-unknown", "opds", slug=slug)
            continue
        opds.append(opd)
    if not settings.opd_slugs:
        errors["opds"] = problem("wave-opds-none", "opds")
    targets: dict[str, int | None] = {}
    for opd in opds:
        target = settings.targets.get(opd.slug)
        computed = km_target(opd.service_population) if settings.compute_targets else None
        targets[opd.slug] = computed if computed is not None else target
    questionnaire = None
    if settings.questionnaire_id is not None:
        questionnaire = queries.get_questionnaire(
            session, questionnaire_id=settings.questionnaire_id
        )
        if questionnaire is None:
            errors["questionnaire"] = problem("questionnaire-unknown", "questionnaire")
    scheme = None
    if settings.custom_scheme is None:
        scheme = queries.get_scheme(session, slug=settings.scheme_slug or "")
        if scheme is None:
            errors["scheme"] = problem("scheme-unknown", "scheme")
    return opds, targets, questionnaire, scheme


def _add_custom_scheme(session: Session, *, custom: CustomScheme, actor: str | None) -> str:
    """Add a custom scheme (no commit) with its scheme.create audit entry; return its slug."""
    slug = _scheme_slug(session, custom.name)
    scheme = CategoryScheme(
        slug=slug, name=custom.name, builtin=False, categories=custom.as_dicts()
    )
    session.add(scheme)
    session.flush()
    audit(
        session,
        actor=actor,
        action="scheme.create",
        slug=slug,
        name=custom.name,
        categories=custom.as_dicts(),
    )
    return slug


def check_new_slug(session: Session, *, slug: str) -> Problem | None:
    """Return why a new wave's slug is refused, or None when it is free and well-formed."""
    if not slug:
        return problem("wave-slug-required", "slug")
    if not rules.is_slug(slug):
        return problem("wave-slug-invalid", "slug", value=slug, limit=rules.SLUG_MAX_LENGTH)
    if slug in RESERVED_SLUGS:
        return problem("wave-slug-reserved", "slug", value=slug)
    if queries.get_wave(session, slug=slug) is not None:
        return problem("wave-slug-taken", "slug", value=slug)
    return None


def create_wave(session: Session, *, slug: str, settings: WaveSettings, actor: str | None) -> Wave:
    """Create a draft wave with per-OPD targets; audit wave.create (and scheme.create); commit."""
    errors: dict[str, Problem] = {}
    refused = check_new_slug(session, slug=slug)
    if refused:
        errors["slug"] = refused
    errors.update(check_settings(settings))
    opds, targets, questionnaire, scheme = _resolve(
        session, settings=settings, wave=None, errors=errors
    )
    if errors:
        session.rollback()
        raise WaveSetupError(errors.values())
    if questionnaire is None:
        questionnaire = queries.default_questionnaire(session)
    if settings.custom_scheme is not None:
        scheme_slug = _add_custom_scheme(session, custom=settings.custom_scheme, actor=actor)
        scheme = queries.get_scheme(session, slug=scheme_slug)
    assert scheme is not None
    wave = Wave(
        slug=slug,
        title=settings.title,
        evaluator=settings.evaluator,
        period_start=settings.period_start,
        period_end=settings.period_end,
        status="draft",
        questionnaire_id=int(questionnaire.id or 0),
        scheme_id=int(scheme.id or 0),
        simulated=settings.simulated,
        verification=settings.verification or "off",
        min_rank_n=(
            MIN_RANK_N_DEFAULT if settings.min_rank_n is None else int(settings.min_rank_n)
        ),
        multi_opd=bool(settings.multi_opd),
    )
    session.add(wave)
    session.flush()
    for opd in opds:
        session.add(_link(wave, opd, targets[opd.slug]))
    session.flush()
    audit(session, actor=actor, action="wave.create", wave=slug, **snapshot(session, wave=wave))
    try:
        session.commit()
    except sa.exc.IntegrityError:
        # Another request took the slug between the check and the commit.
        session.rollback()
        raise WaveSetupError([problem("wave-slug-taken", "slug", value=slug)]) from None
    return wave


def update_wave(session: Session, *, wave: Wave, settings: WaveSettings, actor: str | None) -> bool:
    """Apply the settings to a wave; audit wave.update (before/after); commit. False: no change."""
    wave = _locked_wave(session, wave.id)
    if wave.status == "published":
        session.rollback()
        raise WaveSetupError([problem("wave-published", "wave")])
    errors = check_settings(settings)
    opds, targets, questionnaire, scheme = _resolve(
        session, settings=settings, wave=wave, errors=errors
    )
    any_responses = response_counts_by_opd(session, wave=wave)
    changing = questionnaire is not None and questionnaire.id != wave.questionnaire_id
    if changing and (wave.status != "draft" or any_responses):
        errors["questionnaire"] = problem("questionnaire-locked", "questionnaire")
    chosen = {opd.slug for opd in opds}
    removed = [
        opd for opd, _link in queries.wave_opds(session, wave=wave) if opd.slug not in chosen
    ]
    kept_back = [opd.name for opd in removed if any_responses.get(int(opd.id or 0))]
    if kept_back and "opds" not in errors:
        errors["opds"] = problem("wave-opds-answered", "opds", names=", ".join(kept_back))
    if removed and "opds" not in errors:
        from survey.core import imports

        # An import checked its rows against the wave's OPDs and writes them later (on
        # SQLite in parts, for minutes): none of its OPDs may leave the wave meanwhile.
        try:
            imports.check_no_running_import(session, wave=wave)
        except imports.DataIOError:
            errors["opds"] = problem("import-running", "opds", wave=wave.slug)
    if errors:
        session.rollback()
        raise WaveSetupError(errors.values())
    before = snapshot(session, wave=wave)
    if settings.custom_scheme is not None:
        scheme_slug = _add_custom_scheme(session, custom=settings.custom_scheme, actor=actor)
        scheme = queries.get_scheme(session, slug=scheme_slug)
    assert scheme is not None
    wave.title = settings.title
    wave.evaluator = settings.evaluator
    wave.period_start = settings.period_start
    wave.period_end = settings.period_end
    if questionnaire is not None:
        wave.questionnaire_id = int(questionnaire.id or 0)
    wave.scheme_id = int(scheme.id or 0)
    if settings.verification is not None:
        wave.verification = settings.verification
    if settings.min_rank_n is not None:
        wave.min_rank_n = int(settings.min_rank_n)
    if settings.multi_opd is not None:
        wave.multi_opd = bool(settings.multi_opd)
    session.add(wave)
    links = {opd.slug: link for opd, link in queries.wave_opds(session, wave=wave)}
    for opd in removed:
        session.delete(links[opd.slug])
    for opd in opds:
        link = links.get(opd.slug)
        if link is None:
            session.add(_link(wave, opd, targets[opd.slug]))
        elif link.target_n != targets[opd.slug]:
            link.target_n = targets[opd.slug]
            session.add(link)
    session.flush()
    after = snapshot(session, wave=wave)
    changed = [key for key in after if after[key] != before[key]]
    if not changed:
        session.rollback()
        return False
    audit(
        session,
        actor=actor,
        action="wave.update",
        wave=wave.slug,
        before={key: before[key] for key in changed},
        after={key: after[key] for key in changed},
    )
    session.commit()
    return True


def find_wave(session: Session, *, slug: str) -> Wave:
    """Return the wave with this slug; an unknown one is a ``WaveSetupError`` naming the known."""
    wave = queries.get_wave(session, slug=slug)
    if wave is None:
        known = ", ".join(w.slug for w in queries.list_waves(session)) or "none yet"
        raise WaveSetupError([problem("wave-unknown", "wave", value=slug, known=known)])
    return wave


def action_for(status: str) -> str:
    """Return the action (open, close, publish) that moves a wave to ``status``."""
    for action, (target, _audit_action) in STATUS_ACTIONS.items():
        if target == status and action != "revise":
            return action
    raise WaveSetupError([problem("wave-action-unknown", "action", action=status)])


def change_status(
    session: Session,
    *,
    wave: Wave,
    action: str,
    actor: str | None,
    acknowledged: Collection[str] = (),
    timezone: str = "Asia/Jakarta",
    note: str | None = None,
    reason: str | None = None,
) -> Wave:
    """Open, close, publish or revise a wave with its audit entry, in one commit.

    Publishing recomputes the wave's checklist (:mod:`survey.core.checklist`, the local day
    in ``timezone``) in this transaction: refused while an item blocks or while an item's code
    is not in ``acknowledged``; the audit entry lists the items acknowledged and by whom. It
    adds the wave's next publication, to be built (:mod:`survey.core.publications`); from the
    second version on it needs a public change ``note``. Revising (a published wave back to
    closed, for a correction) needs a ``reason``; the published version stays public.
    """
    from survey.core import publications

    if action not in STATUS_ACTIONS:
        raise WaveSetupError([problem("wave-action-unknown", "action", action=action)])
    status, audit_action = STATUS_ACTIONS[action]
    if action == "publish":
        from survey.core import imports

        # A job whose worker died is failed (its rows taken back) before the check below.
        imports.expire_stale_jobs(session)
    wave = _locked_wave(session, wave.id)
    if (action == "revise") != (wave.status == "published" and status == "closed"):
        session.rollback()
        raise WaveSetupError(
            [problem("wave-action-refused", "action", action=action, status=wave.status)]
        )
    if status not in ALLOWED_STATUS.get(wave.status, ()):
        session.rollback()
        raise WaveSetupError(
            [problem("wave-action-refused", "action", action=action, status=wave.status)]
        )
    checked: dict[str, Any] = {}
    if action == "publish":
        from survey.core import checklist

        _refuse_beside_an_import(session, wave)
        items, refused = checklist.check_publication(
            session, wave=wave, acknowledged=acknowledged, timezone=timezone
        )
        if refused:
            session.rollback()
            raise WaveSetupError(refused)
        checked = checklist.audit_detail(items, actor=actor)
    if action == "revise":
        try:
            reason = publications.check_reason(reason)
        except WaveSetupError:
            session.rollback()
            raise
    previous = wave.status
    wave.status = status
    now = utcnow()
    if status == "closed":
        wave.closed_at = now  # retention counts from the last closing
    if status == "published" and wave.published_at is None:
        wave.published_at = now
    session.add(wave)
    session.flush()
    if action == "publish":
        # Again, now that the UPDATE holds SQLite's write lock (the check above was a read
        # outside any transaction there): an import that began writing its parts meanwhile
        # refuses the publication, and one that begins later finds the wave published.
        _refuse_beside_an_import(session, wave)
    detail: dict[str, Any] = {"wave": wave.slug, "from": previous, "to": status}
    if status == "published" and wave.published_at is not None:
        detail["published_at"] = wave.published_at.isoformat()
        detail.update(checked)
        try:
            publication = publications.begin(session, wave=wave, actor=actor, note=note, at=now)
        except WaveSetupError:
            session.rollback()
            raise
        detail["version"] = publication.version
        detail["note"] = publication.note
    if action == "revise":
        current = publications.latest_ready(session, wave=wave)
        detail["version"] = current.version if current is not None else None
        detail["reason"] = reason
    audit(session, actor=actor, action=audit_action, **detail)
    session.commit()
    return wave


def _refuse_beside_an_import(session: Session, wave: Wave) -> None:
    """Roll back and refuse (WaveSetupError) while an import into the wave is queued or
    running (``imports.check_no_running_import``)."""
    from survey.core import imports

    try:
        imports.check_no_running_import(session, wave=wave)
    except imports.DataIOError as exc:
        session.rollback()
        raise WaveSetupError(exc.problems) from None


@dataclass(frozen=True)
class TargetRow:
    """An OPD of a wave on the wave's page: target, margin it gives, responses so far."""

    slug: str
    name: str
    population: int | None
    target: int | None
    margin: float | None
    counted: int
    flagged: int


def target_rows(session: Session, *, wave: Wave) -> list[TargetRow]:
    """Return the wave's OPDs by name with their targets, margins and response counts."""
    counted = response_counts_by_opd(session, wave=wave, status="counted")
    flagged = response_counts_by_opd(session, wave=wave, status="flagged")
    rows = []
    for opd, link in queries.wave_opds(session, wave=wave):
        opd_id = int(opd.id or 0)
        rows.append(
            TargetRow(
                slug=opd.slug,
                name=opd.name,
                population=opd.service_population,
                target=link.target_n,
                margin=margin_for(link.target_n, opd.service_population),
                counted=counted.get(opd_id, 0),
                flagged=flagged.get(opd_id, 0),
            )
        )
    return rows


def form_opds(session: Session, *, wave: Wave | None) -> list[Opd]:
    """Return the OPDs a wave form offers: the active ones and those the wave covers, by name."""
    covered = {opd.id for opd, _link in queries.wave_opds(session, wave=wave)} if wave else set()
    return sorted(
        (opd for opd in queries.list_opds(session) if opd.active or opd.id in covered),
        key=lambda opd: opd.name,
    )


def schemes(session: Session) -> list[CategoryScheme]:
    """Return the category schemes, built-in ones first, then by name."""
    found = session.exec(select(CategoryScheme)).all()
    return sorted(found, key=lambda s: (not s.builtin, s.name.lower(), s.slug))


def questionnaires(session: Session) -> list[Questionnaire]:
    """Return the questionnaires by slug and version."""
    query = select(Questionnaire).order_by(col(Questionnaire.slug), col(Questionnaire.version))
    return list(session.exec(query).all())


def questionnaire_changeable(session: Session, *, wave: Wave) -> bool:
    """Return True while the wave's questionnaire may still change (draft, no responses)."""
    return wave.status == "draft" and not response_counts_by_opd(session, wave=wave)


def delete_wave(session: Session, *, wave: Wave) -> None:
    """Delete a wave with its responses, import jobs, visit codes, kiosks, enumerators' scopes,
    alarms and OPD and unit links; no commit (the demo's)."""
    session.exec(sa.delete(Response).where(col(Response.wave_id) == wave.id))
    tallies.forget_wave(session, wave_id=int(wave.id or 0))
    session.exec(sa.delete(EnumeratorScope).where(col(EnumeratorScope.wave_id) == wave.id))
    session.exec(sa.delete(Alarm).where(col(Alarm.wave_id) == wave.id))
    session.exec(sa.delete(WaveUnit).where(col(WaveUnit.wave_id) == wave.id))
    session.exec(sa.delete(ImportJob).where(col(ImportJob.wave_id) == wave.id))
    # After the responses, which name their kiosk.
    session.exec(sa.delete(VisitCode).where(col(VisitCode.wave_id) == wave.id))
    session.exec(sa.delete(KioskDevice).where(col(KioskDevice.wave_id) == wave.id))
    session.exec(sa.delete(WaveOpd).where(col(WaveOpd.wave_id) == wave.id))
    session.exec(sa.delete(WaveLogo).where(col(WaveLogo.wave_id) == wave.id))
    shortlinks.delete_for_wave(session, wave_id=int(wave.id or 0))
    from survey.core.publications import delete_for_wave

    delete_for_wave(session, wave=wave)
    session.delete(wave)
    session.flush()

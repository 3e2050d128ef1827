"""Service units of an OPD: add, rename, deactivate and list them; their targets and counts.

An OPD may serve citizens at several places (a Puskesmas, a kecamatan office, a counter): each
is a ``ServiceUnit`` with a slug unique within its OPD, which is the last part of its survey
URL (``/s/<wave>/<opd>/<unit>``). A response given on a unit's page carries the unit's id and
still belongs to the OPD: the OPD's figures are all its responses, the unit's are its own.
A unit is deactivated, never deleted, so the answers given at it keep their place. A unit's
target in a wave is a ``WaveUnit`` row (the OPD's own target stays on ``WaveOpd``).

Problems are ``Problem`` codes, as the OPD service raises them: the command line prints them in
English, the web pages in the user's language. Every change writes an audit entry in the same
transaction. No Flask here: the views and the CLI call these functions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col, select

from survey.core import opds, rules
from survey.core.audit import audit
from survey.core.models import Opd, ServiceUnit, Tally, Wave, WaveOpd, WaveUnit
from survey.core.problems import Problem, ProblemError, define, problem

define(
    {
        "unit-slug-taken": "the OPD already has a unit with the slug {value!r}",
        "unit-name-taken": "the OPD already has a unit named {value!r}",
        "unit-unknown": "the OPD has no unit {value!r}",
        "unit-target": "target {value!r} is not a whole number from 1 to {limit}",
        "unit-wave-opd": "the wave does not cover this unit's OPD",
    }
)

NAME_MAX_LENGTH = 200  # ServiceUnit.name
TARGET_MAX = rules.POPULATION_MAX
# Path segments after /s/<wave>/<opd>/ that are pages, so no unit may take them as its slug.
RESERVED_SLUGS = frozenset({"terima-kasih"})


class UnitError(ProblemError):
    """A unit cannot be added or changed as asked; ``problems`` say why, field by field."""


def list_units(session: Session, *, opd_id: int, active_only: bool = False) -> list[ServiceUnit]:
    """Return an OPD's units in their order (``active_only``: the active ones only)."""
    query = select(ServiceUnit).where(ServiceUnit.opd_id == opd_id)
    if active_only:
        query = query.where(ServiceUnit.active == True)  # noqa: E712
    order = (col(ServiceUnit.position), col(ServiceUnit.id))
    return list(session.exec(query.order_by(*order)).all())


def units_by_opd(
    session: Session, *, opd_ids: Sequence[int], active_only: bool = False
) -> dict[int, list[ServiceUnit]]:
    """Return each OPD's units in their order (OPDs without units map to an empty list)."""
    found: dict[int, list[ServiceUnit]] = {opd_id: [] for opd_id in opd_ids}
    if not opd_ids:
        return found
    query = select(ServiceUnit).where(col(ServiceUnit.opd_id).in_(list(opd_ids)))
    if active_only:
        query = query.where(ServiceUnit.active == True)  # noqa: E712
    order = (col(ServiceUnit.position), col(ServiceUnit.id))
    for unit in session.exec(query.order_by(*order)).all():
        found[unit.opd_id].append(unit)
    return found


def get_unit(session: Session, *, opd_id: int, slug: str) -> ServiceUnit | None:
    """Return the OPD's unit with this slug (active or not), or None."""
    query = select(ServiceUnit).where(ServiceUnit.opd_id == opd_id, ServiceUnit.slug == slug)
    return session.exec(query).first()


def _name(name: str | None, problems: list[Problem]) -> str:
    """Return a unit's name as stored (stripped), noting its problems (field ``name``)."""
    text = opds._text("name", name, NAME_MAX_LENGTH, problems)
    if not text and not any(p.field == "name" for p in problems):
        problems.append(problem("required", "name"))
    return text


def _name_taken(
    session: Session, *, opd_id: int, name: str, except_id: int | None = None
) -> Problem | None:
    """Return the problem of another unit of the OPD already having this name (any case)."""
    for unit in list_units(session, opd_id=opd_id):
        if unit.id != except_id and unit.name.casefold() == name.casefold():
            return problem("unit-name-taken", "name", value=unit.name)
    return None


def add_unit(
    session: Session, *, opd: Opd, slug: str, name: str | None, actor: str | None
) -> ServiceUnit:
    """Add a unit at the end of the OPD's list after checking its slug and name; audit; commit."""
    assert opd.id is not None
    slug = (slug or "").strip()
    problems: list[Problem] = list(opds.check_slug(slug))
    if not problems and slug in RESERVED_SLUGS:
        problems.append(problem("slug-reserved", "slug", value=slug))
    text = _name(name, problems)
    if not problems and get_unit(session, opd_id=opd.id, slug=slug) is not None:
        problems.append(problem("unit-slug-taken", "slug", value=slug))
    if text and not any(p.field == "name" for p in problems):
        taken = _name_taken(session, opd_id=opd.id, name=text)
        if taken is not None:
            problems.append(taken)
    if problems:
        raise UnitError(problems)
    position = max((u.position for u in list_units(session, opd_id=opd.id)), default=0) + 1
    unit = ServiceUnit(opd_id=opd.id, slug=slug, name=text, position=position)
    session.add(unit)
    audit(session, actor=actor, action="opd.unit.add", opd=opd.slug, unit=slug, name=text)
    _commit(session)
    return unit


def unit_or_error(session: Session, *, opd: Opd, slug: str) -> ServiceUnit:
    """Return the OPD's unit with this slug, or raise ``UnitError`` (``unit-unknown``)."""
    assert opd.id is not None
    unit = get_unit(session, opd_id=opd.id, slug=(slug or "").strip())
    if unit is None:
        raise UnitError([problem("unit-unknown", "unit", value=slug)])
    return unit


def rename_unit(
    session: Session, *, opd: Opd, unit: ServiceUnit, name: str | None, actor: str | None
) -> bool:
    """Give a unit a new name; audit; commit. False (nothing written) if the name is the same."""
    problems: list[Problem] = []
    text = _name(name, problems)
    if not problems and text != unit.name:
        taken = _name_taken(session, opd_id=unit.opd_id, name=text, except_id=unit.id)
        if taken is not None:
            problems.append(taken)
    if problems:
        raise UnitError(problems)
    if text == unit.name:
        return False
    before = unit.name
    unit.name = text
    session.add(unit)
    audit(
        session,
        actor=actor,
        action="opd.unit.rename",
        opd=opd.slug,
        unit=unit.slug,
        before=before,
        after=text,
    )
    _commit(session)
    return True


def set_unit_active(
    session: Session, *, opd: Opd, unit: ServiceUnit, active: bool, actor: str | None
) -> bool:
    """Deactivate or reactivate a unit (its answers stay); audit; commit.

    Returns False, writing nothing, when the unit already is in that state. An inactive unit's
    survey page is gone (404) and it gets no poster.
    """
    if unit.active == active:
        return False
    unit.active = active
    session.add(unit)
    action = "opd.unit.activate" if active else "opd.unit.deactivate"
    audit(session, actor=actor, action=action, opd=opd.slug, unit=unit.slug)
    _commit(session)
    return True


def parse_target(text: str | None) -> int | Problem | None:
    """Read a unit's target as typed: empty is None (no target), else 1..TARGET_MAX."""
    text = (text or "").strip()
    if not text:
        return None
    if text.isascii() and text.isdigit() and 1 <= int(text) <= TARGET_MAX:
        return int(text)
    return problem("unit-target", "target", value=text, limit=TARGET_MAX)


def unit_targets(session: Session, *, wave: Wave) -> dict[int, int | None]:
    """Return unit id -> its target in the wave (only units with a row)."""
    query = select(WaveUnit).where(WaveUnit.wave_id == wave.id)
    return {row.unit_id: row.target_n for row in session.exec(query).all()}


def set_unit_target(
    session: Session,
    *,
    wave: Wave,
    opd: Opd,
    unit: ServiceUnit,
    target: str | int | None,
    actor: str | None,
) -> bool:
    """Set (or, with None or '', clear) a unit's target in a wave; audit; commit.

    The wave must cover the unit's OPD. Returns False, writing nothing, when the target is
    already that.
    """
    value = parse_target(None if target is None else str(target))
    if isinstance(value, Problem):
        raise UnitError([value])
    covered = session.exec(
        select(WaveOpd).where(WaveOpd.wave_id == wave.id, WaveOpd.opd_id == opd.id)
    ).first()
    if covered is None or unit.opd_id != opd.id:
        raise UnitError([problem("unit-wave-opd", "wave")])
    assert wave.id is not None and unit.id is not None
    row = session.get(WaveUnit, (wave.id, unit.id))
    before = None if row is None else row.target_n
    if before == value:
        return False
    if value is None:
        assert row is not None
        session.delete(row)
    elif row is None:
        session.add(WaveUnit(wave_id=wave.id, unit_id=unit.id, target_n=value))
    else:
        row.target_n = value
        session.add(row)
    audit(
        session,
        actor=actor,
        action="opd.unit.target",
        wave=wave.slug,
        opd=opd.slug,
        unit=unit.slug,
        before=before,
        after=value,
    )
    _commit(session)
    return True


@dataclass(frozen=True)
class UnitCount:
    """A unit's figures in a wave: its target and its counted and flagged responses."""

    unit_id: int
    slug: str
    name: str
    active: bool
    target: int | None
    counted: int
    flagged: int

    @property
    def bar_value(self) -> int:
        """Return a progress bar's value: the counted responses, the target at most."""
        return min(self.counted, self.target or 0)


def unit_counts(session: Session, *, wave: Wave, opd: Opd) -> list[UnitCount]:
    """Return the wave's figures for each of the OPD's units (inactive ones too), in order."""
    assert opd.id is not None
    return wave_unit_counts(session, wave=wave, opd_ids=[opd.id])[opd.id]


def wave_unit_counts(
    session: Session, *, wave: Wave, opd_ids: Sequence[int]
) -> dict[int, list[UnitCount]]:
    """Return, for each OPD id given, the wave's figures of each of its units (inactive ones
    too), in the units' order: one query for the units and one of the kept statistics
    (:class:`~survey.core.models.Tally`, a few rows per OPD), whatever the responses."""
    counts: Counter[tuple[int, str]] = Counter()
    query = select(Tally.unit_id, Tally.counted, Tally.flagged).where(
        Tally.wave_id == wave.id, Tally.unit_id != 0
    )
    for unit_id, counted, flagged in session.exec(query).all():
        counts[(int(unit_id), "counted")] += int(counted)
        counts[(int(unit_id), "flagged")] += sum(int(n) for n in (flagged or {}).values())
    targets = unit_targets(session, wave=wave)
    found: dict[int, list[UnitCount]] = {}
    for opd_id, listed in units_by_opd(session, opd_ids=opd_ids).items():
        found[opd_id] = [
            UnitCount(
                unit_id=int(unit.id or 0),
                slug=unit.slug,
                name=unit.name,
                active=unit.active,
                target=targets.get(int(unit.id or 0)),
                counted=counts[(int(unit.id or 0), "counted")],
                flagged=counts[(int(unit.id or 0), "flagged")],
            )
            for unit in listed
        ]
    return found


def _commit(session: Session) -> None:
    """Commit; a unique constraint broken by a concurrent change becomes a ``UnitError``."""
    try:
        session.commit()
    except sa.exc.IntegrityError:
        session.rollback()
        raise UnitError([problem("changed-meanwhile")]) from None

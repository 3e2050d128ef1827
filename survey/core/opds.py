"""OPDs: add, edit, deactivate and import them, one service for the workspace, ``ikm`` and the demo.

Adding, editing, deactivating and importing OPDs all check their fields with one set of rules
(``check_fields``): a slug of lower-case letters and digits joined by single hyphens, a
non-empty unique name, an optional short name, and an optional service population that is a
positive whole number. A problem is a ``Problem`` (a code, the field and its parameters), not a
sentence, so that the command line says it in English and the web pages in the user's
language. Every change writes an audit entry in the same transaction; the import is all or
nothing: a file with any bad row writes nothing and lists every bad row with its number (the
header is row 1); the file is read by ``survey.core.csvfiles``, like a response file. No Flask
here: the views, the CLI and the demo all call these functions.

Each OPD also keeps its own list of services (``OpdService``: "KTP-el", "Akta kelahiran"),
which staff manage: the citizen's form offers the active ones as a choice, the importer
accepts only listed names, and reports count only listed names, so no text a citizen typed
ever reaches a report or a public page as a service. A removed service is deactivated, not
deleted: answers that named it keep a name staff once chose.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from survey.core import csvfiles, evidence, rules
from survey.core.audit import audit
from survey.core.models import Opd, OpdService
from survey.core.problems import Problem, ProblemError, define, problem

# English sentences of the problems, for the command line (the web pages translate the codes).
define(
    {
        "slug-invalid": (
            "{value!r} is not a slug: use lower-case letters, digits and single hyphens "
            "(at most {limit} characters), e.g. 'dinas-perhubungan'"
        ),
        "slug-reserved": "the slug {value!r} is reserved for a page; choose another",
        "slug-taken": "OPD slug {value!r} already exists",
        "required": "{field} is empty",
        "too-long": "{field} has {length} characters (at most {limit})",
        "nul": "{field} contains a NUL character",
        "hidden-character": (
            "{field} contains the invisible or control character {character}; type the name "
            "again without it"
        ),
        "population": "service_population {value!r} is not a whole number from 1 to {limit}",
        "service-hours": (
            "service_hours {value!r} are not opening and closing times HH:MM-HH:MM, "
            "e.g. 08:00-15:30"
        ),
        "name-taken": "name {value!r} is already used by OPD {other!r}",
        "duplicate-slug": "slug {value!r} is also on row {other}",
        "duplicate-name": "name {value!r} is also on row {other}",
        "extra-cells": "the row has {count} cells but the header only {columns}",
        "not-utf8": "the file is not UTF-8 text (save it as 'CSV UTF-8')",
        "not-csv": "the file cannot be read as CSV: {detail}",
        "empty-file": "the file is empty",
        "missing-column": "missing required column {value!r} (columns: {columns})",
        "unknown-column": "unknown column {value!r} (use: {columns})",
        "duplicate-column": "column {value!r} appears twice",
        "no-rows": "the file has a header but no OPD rows",
        "too-large": "the file has {size} bytes (at most {limit})",
        "changed-meanwhile": "the OPDs were changed by someone else meanwhile; try again",
        "service-taken": "{value!r} is already in the list of services",
        "service-unknown": "{value!r} is not in the list of services",
    }
)

SERVICE_NAME_MAX_LENGTH = rules.SERVICE_MAX_LENGTH  # the answers' column holds the name
SLUG_MAX_LENGTH = rules.SLUG_MAX_LENGTH
NAME_MAX_LENGTH = rules.OPD_NAME_MAX_LENGTH
SHORT_NAME_MAX_LENGTH = rules.OPD_SHORT_NAME_MAX_LENGTH
POPULATION_MAX = rules.POPULATION_MAX
# Path segments under /kerja/opd/ that are pages, so no OPD may take them as its slug.
RESERVED_SLUGS = frozenset({"impor"})
IMPORT_MAX_BYTES = 2 * 1024 * 1024
REQUIRED_COLUMNS = ("slug", "name")
OPTIONAL_COLUMNS = ("short_name", "service_population", "service_hours")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
EDITABLE = ("name", "short_name", "service_population", "service_hours")


class OpdError(ProblemError):
    """An OPD cannot be added or changed as asked; ``problems`` say why, field by field."""


@dataclass(frozen=True)
class OpdFields:
    """The checked values of an OPD's fields."""

    slug: str
    name: str
    short_name: str | None
    service_population: int | None
    service_hours: str | None = None


def _text(field_name: str, value: str | None, limit: int, problems: list[Problem]) -> str:
    """Return the stripped text of a field, noting a hidden character or too many characters."""
    text = (value or "").strip()
    hidden = rules.hidden_character(text)
    if hidden == "\x00":
        problems.append(problem("nul", field_name))
    elif hidden is not None:
        character = rules.describe_character(hidden)
        problems.append(problem("hidden-character", field_name, character=character))
    elif len(text) > limit:
        problems.append(problem("too-long", field_name, length=len(text), limit=limit))
    return text


def check_slug(slug: str) -> list[Problem]:
    """Return the problems of an OPD's slug: the one slug rule, and not a page's name."""
    if not rules.is_slug(slug):
        return [problem("slug-invalid", "slug", value=slug, limit=SLUG_MAX_LENGTH)]
    if slug in RESERVED_SLUGS:
        return [problem("slug-reserved", "slug", value=slug)]
    return []


def parse_population(text: str) -> int | Problem | None:
    """Read a service population: empty is None, else a whole number from 1 to the maximum."""
    text = text.strip()
    if not text:
        return None
    # Digits only (no sign, no thousands separator, no decimals): int() alone would take
    # '+5', ' 5 ' and '5_000'.
    if text.isascii() and text.isdigit():
        number = int(text)
        if 1 <= number <= POPULATION_MAX:
            return number
    return problem("population", "service_population", value=text, limit=POPULATION_MAX)


def parse_hours(text: str) -> str | Problem | None:
    """Read an OPD's service hours: empty is None, else ``HH:MM-HH:MM`` as stored.

    Answers given outside them are marked ``off_hours`` in their evidence
    (``survey.core.evidence``); a closing time before the opening one runs past midnight.
    """
    text = text.strip()
    if not text:
        return None
    try:
        opening, closing = evidence.parse_service_hours(text)
    except ValueError:
        return problem("service-hours", "service_hours", value=text)
    if opening == closing:
        return problem("service-hours", "service_hours", value=text)
    # The canonical spelling: "08:00 - 15:30" is stored as "08:00-15:30".
    return "-".join(part.strip() for part in text.split("-"))


def check_fields(
    *,
    slug: str,
    name: str | None,
    short_name: str | None,
    service_population: str | None,
    service_hours: str | None = None,
) -> tuple[OpdFields, list[Problem]]:
    """Check an OPD's fields as typed (text); return the values and the problems found."""
    problems: list[Problem] = []
    slug = (slug or "").strip()
    problems.extend(check_slug(slug))
    name_text = _text("name", name, NAME_MAX_LENGTH, problems)
    if not name_text:
        problems.append(problem("required", "name"))
    short_text = _text("short_name", short_name, SHORT_NAME_MAX_LENGTH, problems)
    population = parse_population(service_population or "")
    if isinstance(population, Problem):
        problems.append(population)
        population = None
    hours = parse_hours(service_hours or "")
    if isinstance(hours, Problem):
        problems.append(hours)
        hours = None
    fields = OpdFields(
        slug=slug,
        name=name_text,
        short_name=short_text or None,
        service_population=population,
        service_hours=hours,
    )
    return fields, problems


def name_holder(session: Session, *, name: str, except_slug: str | None = None) -> Opd | None:
    """Return the OPD (other than ``except_slug``) that holds this exact name, if any."""
    query = select(Opd).where(Opd.name == name)
    if except_slug is not None:
        query = query.where(Opd.slug != except_slug)
    return session.exec(query).first()


def get_opd(session: Session, *, slug: str) -> Opd | None:
    """Return the OPD with this slug, or None."""
    return session.exec(select(Opd).where(Opd.slug == slug)).first()


def list_opds(session: Session) -> list[Opd]:
    """Return every OPD, active and inactive, ordered by slug."""
    return list(session.exec(select(Opd).order_by(Opd.slug)).all())


def create_opd(
    session: Session,
    *,
    slug: str,
    name: str | None,
    short_name: str | None = None,
    service_population: str | None = None,
    service_hours: str | None = None,
    actor: str | None,
) -> Opd:
    """Add an OPD after checking every rule; write an ``opd.create`` entry; commit."""
    fields, problems = check_fields(
        slug=slug,
        name=name,
        short_name=short_name,
        service_population=service_population,
        service_hours=service_hours,
    )
    if not problems and get_opd(session, slug=fields.slug) is not None:
        problems.append(problem("slug-taken", "slug", value=fields.slug))
    if fields.name and not any(p.field == "name" for p in problems):
        holder = name_holder(session, name=fields.name)
        if holder is not None:
            problems.append(problem("name-taken", "name", value=fields.name, other=holder.slug))
    if problems:
        raise OpdError(problems)
    opd = Opd(
        slug=fields.slug,
        name=fields.name,
        short_name=fields.short_name,
        service_population=fields.service_population,
        service_hours=fields.service_hours,
    )
    session.add(opd)
    audit(
        session,
        actor=actor,
        action="opd.create",
        slug=opd.slug,
        name=opd.name,
        short_name=opd.short_name,
        service_population=opd.service_population,
        service_hours=opd.service_hours,
    )
    _commit(session)
    return opd


def _changes(opd: Opd, fields: OpdFields, present: tuple[str, ...]) -> dict[str, tuple[Any, Any]]:
    """Return field -> (before, after) for the fields in ``present`` that differ."""
    changes = {}
    for name in present:
        before, after = getattr(opd, name), getattr(fields, name)
        if before != after:
            changes[name] = (before, after)
    return changes


def _apply(session: Session, opd: Opd, changes: dict[str, tuple[Any, Any]]) -> None:
    """Write the new values of ``changes`` into ``opd`` (not committed)."""
    for key, (_before, after) in changes.items():
        setattr(opd, key, after)
    session.add(opd)


def update_opd(
    session: Session,
    *,
    opd: Opd,
    name: str | None,
    short_name: str | None,
    service_population: str | None,
    service_hours: str | None,
    actor: str | None,
) -> dict[str, tuple[Any, Any]]:
    """Change an OPD's name, short name, population and service hours; audit what changed;
    commit.

    Returns the changed fields with their values before and after (empty: nothing changed,
    nothing written).
    """
    fields, problems = check_fields(
        slug=opd.slug,
        name=name,
        short_name=short_name,
        service_population=service_population,
        service_hours=service_hours,
    )
    problems = [p for p in problems if p.field != "slug"]  # an existing slug is not re-judged
    if fields.name and not any(p.field == "name" for p in problems):
        holder = name_holder(session, name=fields.name, except_slug=opd.slug)
        if holder is not None:
            problems.append(problem("name-taken", "name", value=fields.name, other=holder.slug))
    if problems:
        raise OpdError(problems)
    changes = _changes(opd, fields, EDITABLE)
    if not changes:
        return changes
    _apply(session, opd, changes)
    audit(
        session,
        actor=actor,
        action="opd.update",
        slug=opd.slug,
        before={key: before for key, (before, _after) in changes.items()},
        after={key: after for key, (_before, after) in changes.items()},
    )
    _commit(session)
    return changes


def set_opd_active(session: Session, *, opd: Opd, active: bool, actor: str | None) -> bool:
    """Deactivate or reactivate an OPD (its waves and responses stay); audit; commit.

    Returns False, writing nothing, when the OPD already is in that state. An inactive OPD is
    left out of new waves that cover "all active OPDs".
    """
    if opd.active == active:
        return False
    opd.active = active
    session.add(opd)
    audit(
        session, actor=actor, action="opd.activate" if active else "opd.deactivate", slug=opd.slug
    )
    _commit(session)
    return True


# ---------------------------------------------------------------------------------------------
# The OPD's services


def list_services(session: Session, *, opd_id: int, active_only: bool = True) -> list[OpdService]:
    """Return an OPD's services in their order (``active_only=False``: removed ones too)."""
    query = select(OpdService).where(OpdService.opd_id == opd_id)
    if active_only:
        query = query.where(OpdService.active == True)  # noqa: E712
    return list(session.exec(query.order_by(col(OpdService.position), col(OpdService.id))).all())


def service_names(session: Session, *, opd_id: int, active_only: bool = True) -> tuple[str, ...]:
    """Return the names of an OPD's services in their order."""
    return tuple(s.name for s in list_services(session, opd_id=opd_id, active_only=active_only))


def listed_services(session: Session, *, opd_ids: list[int]) -> dict[int, frozenset[str]]:
    """Return every name each OPD ever listed (removed ones too): what reports may show."""
    found: dict[int, set[str]] = {opd_id: set() for opd_id in opd_ids}
    if opd_ids:
        query = select(OpdService.opd_id, OpdService.name).where(
            col(OpdService.opd_id).in_(opd_ids)
        )
        rows = session.exec(query).all()
        for opd_id, name in rows:
            found[opd_id].add(name)
    return {opd_id: frozenset(names) for opd_id, names in found.items()}


def check_service_name(name: str | None) -> tuple[str, list[Problem]]:
    """Return a service name as stored (stripped) and its problems (field ``service``)."""
    problems: list[Problem] = []
    text = _text("service", name, SERVICE_NAME_MAX_LENGTH, problems)
    if not text and not problems:
        problems.append(problem("required", "service"))
    return text, problems


def add_service(session: Session, *, opd: Opd, name: str, actor: str | None) -> OpdService:
    """Add a service to the end of an OPD's list (or bring a removed one back); audit; commit.

    Names are compared without regard to case: "KTP" and "ktp" are one service.
    """
    text, problems = check_service_name(name)
    if problems:
        raise OpdError(problems)
    assert opd.id is not None
    every = list_services(session, opd_id=opd.id, active_only=False)
    same = next((s for s in every if s.name.casefold() == text.casefold()), None)
    if same is not None and same.active:
        raise OpdError([problem("service-taken", "service", value=same.name)])
    if same is not None:
        same.active, same.name = True, text
        same.position = max((s.position for s in every), default=0) + 1
        service = same
    else:
        position = max((s.position for s in every), default=0) + 1
        service = OpdService(opd_id=opd.id, name=text, position=position)
    session.add(service)
    audit(session, actor=actor, action="opd.service.add", slug=opd.slug, service=text)
    _commit(session)
    return service


def remove_service(session: Session, *, opd: Opd, name: str, actor: str | None) -> None:
    """Take a service off an OPD's form (kept for the answers that named it); audit; commit."""
    assert opd.id is not None
    text = (name or "").strip()
    service = next(
        (s for s in list_services(session, opd_id=opd.id) if s.name.casefold() == text.casefold()),
        None,
    )
    if service is None:
        raise OpdError([problem("service-unknown", "service", value=text)])
    service.active = False
    session.add(service)
    audit(session, actor=actor, action="opd.service.remove", slug=opd.slug, service=service.name)
    _commit(session)


def _commit(session: Session) -> None:
    """Commit; a unique constraint broken by a concurrent change becomes an ``OpdError``."""
    try:
        session.commit()
    except sa.exc.IntegrityError:
        session.rollback()
        raise OpdError([problem("changed-meanwhile")]) from None


# ---------------------------------------------------------------------------------------------
# The CSV import


@dataclass(frozen=True)
class RowProblems:
    """The problems of one row of an import file (the header is row 1)."""

    row: int
    problems: tuple[Problem, ...]

    def english(self) -> str:
        """Return 'row N: reason; reason'."""
        return f"row {self.row}: {'; '.join(p.english() for p in self.problems)}"


@dataclass(frozen=True)
class ImportRow:
    """One good row of an import file: its number and its checked values."""

    row: int
    fields: OpdFields


@dataclass
class ImportReport:
    """What an import found and did (or, for a dry run or a bad file, would do)."""

    filename: str
    digest: str  # SHA-256 of the file, hex
    file_problem: Problem | None = None
    row_problems: list[RowProblems] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # slugs
    updated: dict[str, dict[str, tuple[Any, Any]]] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    applied: bool = False

    @property
    def ok(self) -> bool:
        """Return True if the file has no problem (so it was, or can be, applied)."""
        return self.file_problem is None and not self.row_problems

    def summary(self) -> str:
        """Return 'N added, M updated, K unchanged'."""
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged"
        )


def _decode(data: bytes) -> str | Problem:
    """Return the file's text (UTF-8, with or without a BOM), or the problem."""
    try:
        return csvfiles.decode(data)
    except UnicodeDecodeError:
        return problem("not-utf8")


def _header(cells: list[str]) -> tuple[dict[str, int], Problem | None]:
    """Return column name -> position for the header row, or the problem with it."""
    columns: dict[str, int] = {}
    for position, cell in enumerate(cells):
        name = cell.strip().lower()
        if not name:
            continue
        if name not in COLUMNS:
            return columns, problem("unknown-column", value=name, columns=", ".join(COLUMNS))
        if name in columns:
            return columns, problem("duplicate-column", value=name)
        columns[name] = position
    for name in REQUIRED_COLUMNS:
        if name not in columns:
            return columns, problem("missing-column", value=name, columns=", ".join(COLUMNS))
    return columns, None


def read_rows(
    data: bytes,
) -> tuple[list[ImportRow], list[RowProblems], tuple[str, ...], Problem | None]:
    """Parse and check an OPD file on its own; return good rows, bad rows, columns, file problem.

    The checks here need no database: field rules and repeats inside the file.
    """
    text = _decode(data)
    if isinstance(text, Problem):
        return [], [], (), text
    if not text.strip():
        return [], [], (), problem("empty-file")
    try:
        records = list(csvfiles.records(text))
    except csv.Error as exc:
        return [], [], (), problem("not-csv", detail=str(exc))
    columns, header_problem = _header(records[0])
    if header_problem is not None:
        return [], [], (), header_problem
    good: list[ImportRow] = []
    bad: list[RowProblems] = []
    seen_slugs: dict[str, int] = {}
    seen_names: dict[str, int] = {}
    width = max(columns.values()) + 1
    for row_number, cells in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue  # a blank line (often the last one) is not an OPD
        problems: list[Problem] = []
        if any(cell.strip() for cell in cells[width:]):
            problems.append(problem("extra-cells", count=len(cells), columns=width))

        def cell(name: str, cells: list[str] = cells) -> str:
            """Return the row's cell in column ``name`` ('' when the row is short)."""
            position = columns.get(name)
            return cells[position] if position is not None and position < len(cells) else ""

        fields, field_problems = check_fields(
            slug=cell("slug"),
            name=cell("name"),
            short_name=cell("short_name"),
            service_population=cell("service_population"),
            service_hours=cell("service_hours"),
        )
        problems.extend(field_problems)
        if fields.slug in seen_slugs:
            problems.append(
                problem("duplicate-slug", "slug", value=fields.slug, other=seen_slugs[fields.slug])
            )
        elif fields.slug:
            seen_slugs[fields.slug] = row_number
        if fields.name in seen_names:
            problems.append(
                problem("duplicate-name", "name", value=fields.name, other=seen_names[fields.name])
            )
        elif fields.name:
            seen_names[fields.name] = row_number
        if problems:
            bad.append(RowProblems(row=row_number, problems=tuple(problems)))
        else:
            good.append(ImportRow(row=row_number, fields=fields))
    if not good and not bad:
        return [], [], (), problem("no-rows")
    return good, bad, tuple(columns), None


def import_opds(
    session: Session,
    *,
    data: bytes,
    filename: str,
    actor: str | None,
    dry_run: bool = False,
) -> ImportReport:
    """Check an OPD file and, unless it has a problem or this is a dry run, apply it; commit.

    New slugs are added; existing ones are updated where a field of a column the file has
    differs (a column the file lacks is left alone; an empty cell clears the short name,
    the population or the service hours); identical rows are left alone. Writes one
    ``opd.import`` audit entry with the counts, the file's name and its SHA-256. A file with
    any problem writes nothing.
    """
    report = ImportReport(filename=filename, digest=hashlib.sha256(data).hexdigest())
    if len(data) > IMPORT_MAX_BYTES:
        report.file_problem = problem("too-large", size=len(data), limit=IMPORT_MAX_BYTES)
        return report
    rows, bad, columns, file_problem = read_rows(data)
    report.file_problem = file_problem
    report.row_problems = bad
    if file_problem is not None:
        return report
    present = tuple(name for name in EDITABLE if name in columns)
    existing = {opd.slug: opd for opd in list_opds(session)}
    holders = {opd.name: opd.slug for opd in existing.values()}
    planned: list[tuple[ImportRow, Opd | None, dict[str, tuple[Any, Any]]]] = []
    for row in rows:
        fields = row.fields
        holder = holders.get(fields.name)
        if holder is not None and holder != fields.slug:
            problems = (problem("name-taken", "name", value=fields.name, other=holder),)
            report.row_problems.append(RowProblems(row=row.row, problems=problems))
            continue
        opd = existing.get(fields.slug)
        if opd is None:
            report.added.append(fields.slug)
            planned.append((row, None, {}))
            continue
        changes = _changes(opd, fields, present)
        if changes:
            report.updated[fields.slug] = changes
            planned.append((row, opd, changes))
        else:
            report.unchanged.append(fields.slug)
    report.row_problems.sort(key=lambda item: item.row)
    if report.row_problems or dry_run:
        return report
    for row, opd, changes in planned:
        if opd is None:
            fields = row.fields
            session.add(
                Opd(
                    slug=fields.slug,
                    name=fields.name,
                    short_name=fields.short_name,
                    service_population=fields.service_population,
                    service_hours=fields.service_hours,
                )
            )
        else:
            _apply(session, opd, changes)
    audit(
        session,
        actor=actor,
        action="opd.import",
        filename=filename,
        sha256=report.digest,
        added=len(report.added),
        updated=len(report.updated),
        unchanged=len(report.unchanged),
    )
    try:
        session.commit()
    except sa.exc.IntegrityError:
        session.rollback()
        report.file_problem = problem("changed-meanwhile")
        return report
    report.applied = True
    return report

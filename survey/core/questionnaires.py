"""Custom Likert questionnaires from YAML or JSON files, and the ``ikm questionnaire`` commands.

An evaluator who asks more than the nine elements of PermenPANRB 14/2017 (KNPI added a
satisfaction and an agreement question) describes its questionnaire in a file (the format is
in ``docs/questionnaire-format.md``). :func:`load_questionnaire_file` checks the whole file and
either returns a frozen :class:`QuestionnaireSpec` or raises a :class:`QuestionnaireError`
that lists every problem with its place in the file, so one round of corrections is enough.
:func:`add_questionnaire` stores a spec: the same content under a slug already stored adds
nothing, different content becomes the slug's next version (a wave keeps the version it was
set up with). Files are parsed with ``yaml.safe_load`` (never ``yaml.load``) or ``json``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from sqlmodel import Session, col, select

from survey.core import rules
from survey.core.audit import audit
from survey.core.models import ELEMENT_KINDS, MAX_ITEMS, Element, Questionnaire

MAX_FILE_BYTES = 256 * 1024
SLUG_PATTERN, SLUG_MAX_LENGTH = rules.SLUG_PATTERN, rules.SLUG_MAX_LENGTH  # one slug rule
CODE_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,15}$")
SCALES = (4, 5)
TITLE_MAX_LENGTH = 200
NAME_MAX_LENGTH = 200
QUESTION_MAX_LENGTH = 500
LABEL_MAX_LENGTH = 120
SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}
TOP_KEYS = ("slug", "version", "title_id", "title_en", "scale_points", "elements")
ELEMENT_KEYS = (
    "code",
    "kind",
    "name_id",
    "name_en",
    "question_id",
    "question_en",
    "labels_id",
    "labels_en",
)


class QuestionnaireError(ValueError):
    """A questionnaire file that cannot be used; ``problems`` lists each with its path."""

    def __init__(self, problems: Sequence[str]) -> None:
        """Keep the problems; the message joins them, one a line."""
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class ElementSpec:
    """One question of a questionnaire file."""

    code: str
    kind: str
    name_id: str
    name_en: str
    question_id: str
    question_en: str
    labels_id: tuple[str, ...]
    labels_en: tuple[str, ...]


@dataclass(frozen=True)
class QuestionnaireSpec:
    """A checked questionnaire file; elements in question order (positions 1, 2, ...)."""

    slug: str
    version: int | None
    title_id: str
    title_en: str
    scale_points: int
    elements: tuple[ElementSpec, ...]

    def counts(self) -> tuple[int, int]:
        """Return the number of IKM elements and of perception items."""
        ikm = sum(1 for e in self.elements if e.kind == "ikm")
        return ikm, len(self.elements) - ikm


def _parse(data: bytes, filename: str) -> Any:
    """Decode and parse the file by its suffix; raise QuestionnaireError when unreadable."""
    kind = SUFFIXES.get(Path(filename).suffix.lower())
    if kind is None:
        raise QuestionnaireError([f"{filename}: unknown file type; use .yaml, .yml or .json"])
    if len(data) > MAX_FILE_BYTES:
        raise QuestionnaireError(
            [f"{filename}: {len(data)} bytes; at most {MAX_FILE_BYTES} bytes are accepted"]
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise QuestionnaireError([f"{filename}: not UTF-8 text (byte {exc.start})"]) from None
    try:
        if kind == "json":
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise QuestionnaireError(
            [f"{filename}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"]
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise QuestionnaireError([f"{filename}: not valid YAML{where}"]) from None


def _text(problems: list[str], path: str, value: Any, limit: int) -> str:
    """Return a non-empty string of at most ``limit`` characters, or note the problem."""
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{path}: must be non-empty text")
        return ""
    value = value.strip()
    if len(value) > limit:
        problems.append(f"{path}: {len(value)} characters; at most {limit}")
    return value


def _whole(value: Any) -> bool:
    """Return True for an int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def _labels(problems: list[str], path: str, value: Any, scale: int | None) -> tuple[str, ...]:
    """Return the answer labels of an element, noting a wrong count or bad label."""
    if not isinstance(value, list):
        problems.append(f"{path}: must be a list of labels")
        return ()
    labels = tuple(
        _text(problems, f"{path}[{i}]", label, LABEL_MAX_LENGTH) for i, label in enumerate(value)
    )
    if scale is not None and len(labels) != scale:
        problems.append(f"{path}: {len(labels)} labels, scale_points is {scale}")
    return labels


def _element(problems: list[str], path: str, raw: Any, scale: int | None) -> ElementSpec | None:
    """Check one element of the file; None if it is not even a mapping."""
    if not isinstance(raw, dict):
        problems.append(f"{path}: must be a mapping with the keys {', '.join(ELEMENT_KEYS)}")
        return None
    for key in raw:
        if key not in ELEMENT_KEYS:
            problems.append(f"{path}.{key}: unknown key")
    code = raw.get("code")
    if not isinstance(code, str) or not CODE_PATTERN.fullmatch(code):
        problems.append(
            f"{path}.code: {code!r} is not a code: a letter, then up to 15 letters, digits or _"
        )
        code = str(code)
    kind = raw.get("kind")
    if kind not in ELEMENT_KINDS:
        problems.append(f"{path}.kind: {kind!r}; use one of {', '.join(ELEMENT_KINDS)}")
    return ElementSpec(
        code=code,
        kind=str(kind),
        name_id=_text(problems, f"{path}.name_id", raw.get("name_id"), NAME_MAX_LENGTH),
        name_en=_text(problems, f"{path}.name_en", raw.get("name_en"), NAME_MAX_LENGTH),
        question_id=_text(
            problems, f"{path}.question_id", raw.get("question_id"), QUESTION_MAX_LENGTH
        ),
        question_en=_text(
            problems, f"{path}.question_en", raw.get("question_en"), QUESTION_MAX_LENGTH
        ),
        labels_id=_labels(problems, f"{path}.labels_id", raw.get("labels_id"), scale),
        labels_en=_labels(problems, f"{path}.labels_en", raw.get("labels_en"), scale),
    )


def check_questionnaire(raw: Any) -> QuestionnaireSpec:
    """Check parsed file content; return the spec or raise QuestionnaireError with every problem."""
    if not isinstance(raw, dict):
        raise QuestionnaireError(["file: must hold a mapping with slug, title_id, ... elements"])
    problems: list[str] = []
    for key in raw:
        if key not in TOP_KEYS:
            problems.append(f"{key}: unknown key")
    slug = raw.get("slug")
    if not isinstance(slug, str) or len(slug) > SLUG_MAX_LENGTH or not SLUG_PATTERN.match(slug):
        problems.append(
            f"slug: {slug!r} is not a slug: lower-case letters, digits and single hyphens, "
            f"at most {SLUG_MAX_LENGTH} characters"
        )
        slug = str(slug)
    version = raw.get("version")
    if version is not None and (not _whole(version) or version < 1):
        problems.append(f"version: {version!r}; leave it out or give a whole number >= 1")
        version = None
    title_id = _text(problems, "title_id", raw.get("title_id"), TITLE_MAX_LENGTH)
    title_en = _text(problems, "title_en", raw.get("title_en"), TITLE_MAX_LENGTH)
    scale = raw.get("scale_points")
    if not _whole(scale) or scale not in SCALES:
        problems.append(f"scale_points: {scale!r}; use 4 or 5")
        scale = None
    items = raw.get("elements")
    elements: list[ElementSpec] = []
    if not isinstance(items, list) or not items:
        problems.append("elements: must be a non-empty list")
    else:
        if len(items) > MAX_ITEMS:
            problems.append(f"elements: {len(items)} elements; at most {MAX_ITEMS}")
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            element = _element(problems, f"elements[{i}]", item, scale)
            if element is None:
                continue
            if element.code in seen:
                problems.append(
                    f"elements[{i}].code: {element.code!r} repeats elements[{seen[element.code]}]"
                )
            seen.setdefault(element.code, i)
            elements.append(element)
        if elements and not any(e.kind == "ikm" for e in elements):
            problems.append("elements: at least one element must be of kind ikm")
    if problems:
        raise QuestionnaireError(problems)
    assert scale is not None
    return QuestionnaireSpec(
        slug=slug,
        version=version,
        title_id=title_id,
        title_en=title_en,
        scale_points=scale,
        elements=tuple(elements),
    )


def load_questionnaire_file(data: bytes, filename: str) -> QuestionnaireSpec:
    """Read a questionnaire file (YAML or JSON by its suffix) and check all of it."""
    return check_questionnaire(_parse(data, filename))


# --- Storage ---------------------------------------------------------------------------------


def _content(title_id: str, title_en: str, scale: int, elements: Sequence[Any]) -> tuple:
    """The comparable content of a questionnaire (stored or from a file)."""
    return (
        title_id,
        title_en,
        scale,
        tuple(
            (
                e.code,
                e.kind,
                e.name_id,
                e.name_en,
                e.question_id,
                e.question_en,
                tuple(e.labels_id),
                tuple(e.labels_en),
            )
            for e in elements
        ),
    )


def stored_elements(session: Session, *, questionnaire_id: int) -> list[Element]:
    """Return a stored questionnaire's elements in question order."""
    query = (
        select(Element)
        .where(Element.questionnaire_id == questionnaire_id)
        .order_by(col(Element.position))
    )
    return list(session.exec(query).all())


def add_questionnaire(
    session: Session, *, spec: QuestionnaireSpec, actor: str | None
) -> tuple[Questionnaire, bool]:
    """Store a questionnaire; return it and whether it is new. Commits when new.

    The same content as a stored version of the slug adds nothing; different content becomes
    the next version (or the file's version, when that is higher). The slug of a built-in
    questionnaire is refused: new waves take its newest version by default.
    """
    versions = list(
        session.exec(
            select(Questionnaire)
            .where(Questionnaire.slug == spec.slug)
            .order_by(col(Questionnaire.version))
        ).all()
    )
    if any(q.builtin for q in versions):
        raise QuestionnaireError(
            [f"slug: {spec.slug!r} is a built-in questionnaire; choose another"]
        )
    wanted = _content(spec.title_id, spec.title_en, spec.scale_points, spec.elements)
    for stored in versions:
        assert stored.id is not None
        items = stored_elements(session, questionnaire_id=stored.id)
        if _content(stored.title_id, stored.title_en, stored.scale_points, items) == wanted:
            return stored, False
    version = max([q.version + 1 for q in versions] + [spec.version or 1])
    questionnaire = Questionnaire(
        slug=spec.slug,
        version=version,
        title_id=spec.title_id,
        title_en=spec.title_en,
        scale_points=spec.scale_points,
        builtin=False,
    )
    session.add(questionnaire)
    session.flush()
    for position, element in enumerate(spec.elements, start=1):
        session.add(
            Element(
                questionnaire_id=questionnaire.id,
                position=position,
                code=element.code,
                kind=element.kind,
                name_id=element.name_id,
                name_en=element.name_en,
                question_id=element.question_id,
                question_en=element.question_en,
                labels_id=list(element.labels_id),
                labels_en=list(element.labels_en),
            )
        )
    ikm, perception = spec.counts()
    audit(
        session,
        actor=actor,
        action="questionnaire.create",
        questionnaire_id=questionnaire.id,
        slug=spec.slug,
        version=version,
        scale_points=spec.scale_points,
        ikm_elements=ikm,
        perception_items=perception,
    )
    session.commit()
    return questionnaire, True


@dataclass(frozen=True)
class QuestionnaireRow:
    """A stored questionnaire with its element counts, as lists show it."""

    questionnaire: Questionnaire
    ikm: int
    perception: int


def list_questionnaires(session: Session) -> list[QuestionnaireRow]:
    """Return every questionnaire (by slug, then version) with its element counts."""
    counts: dict[tuple[int, str], int] = {
        (int(qid), str(kind)): int(n)
        for qid, kind, n in session.exec(
            select(Element.questionnaire_id, Element.kind, sa.func.count()).group_by(
                col(Element.questionnaire_id), col(Element.kind)
            )
        ).all()
    }
    query = select(Questionnaire).order_by(col(Questionnaire.slug), col(Questionnaire.version))
    rows = []
    for questionnaire in session.exec(query).all():
        qid = int(questionnaire.id or 0)
        rows.append(
            QuestionnaireRow(
                questionnaire=questionnaire,
                ikm=counts.get((qid, "ikm"), 0),
                perception=counts.get((qid, "perception"), 0),
            )
        )
    return rows


# --- Commands --------------------------------------------------------------------------------

"""Custom Likert questionnaires from YAML or JSON files, and the ``ikm questionnaire`` commands.

An evaluator who asks more than the nine elements of PermenPANRB 14/2017 (KNPI added a
satisfaction and an agreement question) describes its questionnaire in a file (the format is
in ``docs/questionnaire-format.md``). :func:`load_questionnaire_file` checks the whole file and
either returns a frozen :class:`QuestionnaireSpec` or raises a :class:`QuestionnaireError`
that lists every problem with its place in the file, so one round of corrections is enough.
:func:`add_questionnaire` stores a spec: the same content under a slug already stored adds
nothing, different content becomes the slug's next version (a wave keeps the version it was
set up with). Files are parsed with ``json`` or PyYAML's safe loader (never ``yaml.load``) with
anchors and aliases refused: a questionnaire needs neither, and an alias repeated inside aliases
("billion laughs") makes a few hundred bytes expand to gigabytes when the result is walked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from sqlmodel import Session, col, select

from survey.core import locales, rules
from survey.core.audit import audit
from survey.core.models import ELEMENT_KINDS, MAX_ITEMS, Element, Questionnaire
from survey.core.problems import Problem, ProblemError, define, problem

MAX_FILE_BYTES = 256 * 1024
SLUG_PATTERN, SLUG_MAX_LENGTH = rules.SLUG_PATTERN, rules.SLUG_MAX_LENGTH  # one slug rule
CODE_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,15}$")
SCALES = (4, 5)
TITLE_MAX_LENGTH = 200
NAME_MAX_LENGTH = 200
QUESTION_MAX_LENGTH = 500
LABEL_MAX_LENGTH = 120
SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}
TOP_KEYS = ("slug", "version", "title_id", "title_en", "scale_points", "elements", "texts")
ELEMENT_KEYS = (
    "code",
    "kind",
    "name_id",
    "name_en",
    "question_id",
    "question_en",
    "labels_id",
    "labels_en",
    "not_applicable_id",
    "not_applicable_en",
    "texts",
)
# The keys of an element's texts in a further language (``texts: {su: {...}}``); each falls
# back to the Indonesian when left out, but one of them must be there.
LOCALE_ELEMENT_KEYS = ("name", "question", "labels", "not_applicable")
LOCALE_TITLE_KEYS = ("title",)


# The field of each problem is its place in the file ("elements[2].labels_id", or the file's
# name for a file that cannot be read at all): keys of the file format, the same in every
# language.
define(
    {
        "questionnaire-file-type": "{field}: unknown file type; use .yaml, .yml or .json",
        "questionnaire-file-size": "{field}: {size} bytes; at most {limit} bytes are accepted",
        "questionnaire-not-utf8": "{field}: not UTF-8 text (byte {offset})",
        "questionnaire-bad-json": (
            "{field}: not valid JSON (line {line}, column {column}: {detail})"
        ),
        "questionnaire-bad-yaml": "{field}: not valid YAML",
        "questionnaire-bad-yaml-at": "{field}: not valid YAML (line {line}, column {column})",
        "questionnaire-yaml-alias": (
            "{field}: YAML anchors and aliases (& and *) are not accepted "
            "(line {line}, column {column}); write each value out"
        ),
        "questionnaire-not-mapping": (
            "{field}: must hold a mapping with slug, title_id, ... elements"
        ),
        "questionnaire-unknown-key": "{field}: unknown key",
        "questionnaire-slug": (
            "{field}: {value!r} is not a slug: lower-case letters, digits and single hyphens, "
            "at most {limit} characters"
        ),
        "questionnaire-version": "{field}: {value!r}; leave it out or give a whole number >= 1",
        "questionnaire-text-required": "{field}: must be non-empty text",
        "questionnaire-text-too-long": "{field}: {length} characters; at most {limit}",
        "questionnaire-scale": "{field}: {value!r}; use 4 or 5",
        "questionnaire-elements-required": "{field}: must be a non-empty list",
        "questionnaire-elements-too-many": "{field}: {count} elements; at most {limit}",
        "questionnaire-no-ikm": "{field}: at least one element must be of kind ikm",
        "questionnaire-element-mapping": "{field}: must be a mapping with the keys {keys}",
        "questionnaire-code-invalid": (
            "{field}: {value!r} is not a code: a letter, then up to 15 letters, digits or _"
        ),
        "questionnaire-code-repeated": "{field}: {value!r} repeats {first}",
        "questionnaire-kind": "{field}: {value!r}; use one of {kinds}",
        "questionnaire-labels-list": "{field}: must be a list of labels",
        "questionnaire-labels-count": "{field}: {count} labels, scale_points is {scale}",
        "questionnaire-builtin": "{field}: {value!r} is a built-in questionnaire; choose another",
        "questionnaire-texts-mapping": (
            "{field}: must be a mapping from a language code (such as su) to its texts"
        ),
        "questionnaire-locale-unknown": (
            "{field}: {value!r} is not a language code Babel knows (such as su or jv)"
        ),
        "questionnaire-locale-builtin": (
            "{field}: Indonesian and English have their own keys ({keys}); "
            "texts are for further languages"
        ),
        "questionnaire-locale-too-many": "{field}: {count} languages; at most {limit}",
        "questionnaire-locale-texts": "{field}: must be a mapping with some of the keys {keys}",
        "questionnaire-locale-missing": (
            "{field}: no texts in {locale}; every element needs them, as {first} has"
        ),
        "questionnaire-locale-not-applicable": (
            "{field}: the element offers no not_applicable_id to translate"
        ),
    }
)


class QuestionnaireError(ProblemError):
    """A questionnaire file that cannot be used; ``problems`` lists each with its path."""


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
    # Further languages: {"su": {"name": ..., "question": ..., "labels": [...]}}
    # (survey.core.locales); the keys a file leaves out are not there.
    texts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class QuestionnaireSpec:
    """A checked questionnaire file; elements in question order (positions 1, 2, ...)."""

    slug: str
    version: int | None
    title_id: str
    title_en: str
    scale_points: int
    elements: tuple[ElementSpec, ...]
    # The title in further languages: {"su": {"title": ...}} (survey.core.locales).
    texts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def counts(self) -> tuple[int, int]:
        """Return the number of IKM elements and of perception items."""
        ikm = sum(1 for e in self.elements if e.kind == "ikm")
        return ikm, len(self.elements) - ikm


class _AliasFound(yaml.YAMLError):
    """The YAML stream holds an anchor or an alias (at ``mark``)."""

    def __init__(self, mark: yaml.Mark) -> None:
        """Remember where the anchor or alias starts."""
        super().__init__("anchors and aliases are not accepted")
        self.mark = mark


class NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing every anchor (``&a``) and alias (``*a``).

    Checked on the events before a node is built, so an expanding file is refused after reading
    its first anchor, whatever it would have grown to. Only ``true`` and ``false`` are booleans
    (as in YAML 1.2): YAML 1.1 also reads ``yes``, ``no``, ``on`` and ``off`` so, and ``no`` is
    Norwegian's language code; no key or value of a questionnaire file is a boolean.
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        """Refuse an alias or an anchored node; otherwise compose as PyYAML does."""
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _AliasFound(event.start_mark)
        return super().compose_node(parent, index)


NoAliasLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
NoAliasLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def safe_yaml(text: str) -> Any:
    """Parse YAML text with :class:`NoAliasLoader` (anchors and aliases raise YAMLError)."""
    # Loading with a loader that only builds plain data (SafeLoader's constructors).
    return yaml.load(text, Loader=NoAliasLoader)  # nosec B506


def _refuse(code: str, where: str, **params: Any) -> QuestionnaireError:
    """Return the error of a file refused as a whole, for one problem."""
    return QuestionnaireError([problem(code, where, **params)])


def _parse(data: bytes, filename: str) -> Any:
    """Decode and parse the file by its suffix; raise QuestionnaireError when unreadable."""
    kind = SUFFIXES.get(Path(filename).suffix.lower())
    if kind is None:
        raise _refuse("questionnaire-file-type", filename)
    if len(data) > MAX_FILE_BYTES:
        raise _refuse("questionnaire-file-size", filename, size=len(data), limit=MAX_FILE_BYTES)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _refuse("questionnaire-not-utf8", filename, offset=exc.start) from None
    try:
        if kind == "json":
            return json.loads(text)
        return safe_yaml(text)
    except json.JSONDecodeError as exc:
        raise _refuse(
            "questionnaire-bad-json", filename, line=exc.lineno, column=exc.colno, detail=exc.msg
        ) from None
    except _AliasFound as exc:
        line, column = exc.mark.line + 1, exc.mark.column + 1
        raise _refuse("questionnaire-yaml-alias", filename, line=line, column=column) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if mark is None:
            raise _refuse("questionnaire-bad-yaml", filename) from None
        raise _refuse(
            "questionnaire-bad-yaml-at", filename, line=mark.line + 1, column=mark.column + 1
        ) from None


def _text(problems: list[Problem], path: str, value: Any, limit: int) -> str:
    """Return a non-empty string of at most ``limit`` characters, or note the problem."""
    if not isinstance(value, str) or not value.strip():
        problems.append(problem("questionnaire-text-required", path))
        return ""
    value = value.strip()
    if len(value) > limit:
        problems.append(
            problem("questionnaire-text-too-long", path, length=len(value), limit=limit)
        )
    return value


def _whole(value: Any) -> bool:
    """Return True for an int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def _shown(value: Any) -> Any:
    """Return a file's value as a problem parameter: text and numbers as they are, else text."""
    return value if isinstance(value, str | int | float | None) else repr(value)


def _labels(problems: list[Problem], path: str, value: Any, scale: int | None) -> tuple[str, ...]:
    """Return the answer labels of an element, noting a wrong count or bad label."""
    if not isinstance(value, list):
        problems.append(problem("questionnaire-labels-list", path))
        return ()
    labels = tuple(
        _text(problems, f"{path}[{i}]", label, LABEL_MAX_LENGTH) for i, label in enumerate(value)
    )
    if scale is not None and len(labels) != scale:
        problems.append(problem("questionnaire-labels-count", path, count=len(labels), scale=scale))
    return labels


def _locale_entries(problems: list[Problem], path: str, raw: Any) -> list[tuple[str, Any]]:
    """Return the (language code, texts) pairs of a ``texts`` mapping, noting bad codes."""
    if not isinstance(raw, dict):
        problems.append(problem("questionnaire-texts-mapping", path))
        return []
    entries = []
    for code, texts in raw.items():
        where = f"{path}.{code}"
        parsed = locales.parse_locale(code)
        if parsed is None:
            problems.append(problem("questionnaire-locale-unknown", where, value=_shown(code)))
        elif parsed.language in locales.BUILTIN_LOCALES:
            keys = "title_id, title_en, name_id, question_id, labels_id, ..."
            problems.append(problem("questionnaire-locale-builtin", where, keys=keys))
        else:
            entries.append((str(code), texts))
    if len(entries) > locales.MAX_EXTRA_LOCALES:
        problems.append(
            problem(
                "questionnaire-locale-too-many",
                path,
                count=len(entries),
                limit=locales.MAX_EXTRA_LOCALES,
            )
        )
    return entries


def _locale_texts(
    problems: list[Problem],
    path: str,
    raw: Any,
    *,
    scale: int | None,
    not_applicable: bool,
) -> dict[str, dict[str, Any]]:
    """Check an element's ``texts`` (further languages); return them as stored."""
    found: dict[str, dict[str, Any]] = {}
    for code, texts in _locale_entries(problems, path, raw):
        where = f"{path}.{code}"
        if not isinstance(texts, dict) or not texts:
            keys = ", ".join(LOCALE_ELEMENT_KEYS)
            problems.append(problem("questionnaire-locale-texts", where, keys=keys))
            continue
        entry: dict[str, Any] = {}
        for key, value in texts.items():
            at = f"{where}.{key}"
            if key == "name":
                entry[key] = _text(problems, at, value, NAME_MAX_LENGTH)
            elif key == "question":
                entry[key] = _text(problems, at, value, QUESTION_MAX_LENGTH)
            elif key == "labels":
                entry[key] = list(_labels(problems, at, value, scale))
            elif key == "not_applicable":
                if not not_applicable:
                    problems.append(problem("questionnaire-locale-not-applicable", at))
                entry[key] = _text(problems, at, value, LABEL_MAX_LENGTH)
            else:
                problems.append(problem("questionnaire-unknown-key", at))
        found[code] = entry
    return found


def _title_texts(problems: list[Problem], raw: Any) -> dict[str, dict[str, Any]]:
    """Check the top level's ``texts`` (the title in further languages)."""
    found: dict[str, dict[str, Any]] = {}
    for code, texts in _locale_entries(problems, "texts", raw):
        where = f"texts.{code}"
        if not isinstance(texts, dict) or not texts:
            keys = ", ".join(LOCALE_TITLE_KEYS)
            problems.append(problem("questionnaire-locale-texts", where, keys=keys))
            continue
        entry: dict[str, Any] = {}
        for key, value in texts.items():
            if key == "title":
                entry[key] = _text(problems, f"{where}.title", value, TITLE_MAX_LENGTH)
            else:
                problems.append(problem("questionnaire-unknown-key", f"{where}.{key}"))
        found[code] = entry
    return found


def _check_coverage(
    problems: list[Problem], elements: Sequence[ElementSpec], title: Mapping[str, Any]
) -> None:
    """Note each element lacking a language another element (or the title) has."""
    first: dict[str, str] = {code: "texts" for code in title}
    for i, element in enumerate(elements):
        for code in element.texts:
            first.setdefault(code, f"elements[{i}]")
    for code, where in first.items():
        for i, element in enumerate(elements):
            if code not in element.texts:
                problems.append(
                    problem(
                        "questionnaire-locale-missing",
                        f"elements[{i}].texts",
                        locale=code,
                        first=where,
                    )
                )


def _element(problems: list[Problem], path: str, raw: Any, scale: int | None) -> ElementSpec | None:
    """Check one element of the file; None if it is not even a mapping."""
    if not isinstance(raw, dict):
        problems.append(
            problem("questionnaire-element-mapping", path, keys=", ".join(ELEMENT_KEYS))
        )
        return None
    for key in raw:
        if key not in ELEMENT_KEYS:
            problems.append(problem("questionnaire-unknown-key", f"{path}.{key}"))
    code = raw.get("code")
    if not isinstance(code, str) or not CODE_PATTERN.fullmatch(code):
        problems.append(problem("questionnaire-code-invalid", f"{path}.code", value=_shown(code)))
        code = str(code)
    kind = raw.get("kind")
    if kind not in ELEMENT_KINDS:
        problems.append(
            problem(
                "questionnaire-kind",
                f"{path}.kind",
                value=_shown(kind),
                kinds=", ".join(ELEMENT_KINDS),
            )
        )
    # An extra answer "does not apply to me" (stored 0, not scored): kept as one label past
    # the scale (survey.core.notapplicable), so a file without it stores what it always did.
    not_applicable: tuple[str, ...] = ()
    if "not_applicable_id" in raw or "not_applicable_en" in raw:
        na_id = _text(
            problems, f"{path}.not_applicable_id", raw.get("not_applicable_id"), LABEL_MAX_LENGTH
        )
        na_en = na_id
        if raw.get("not_applicable_en") is not None:
            na_en = _text(
                problems,
                f"{path}.not_applicable_en",
                raw.get("not_applicable_en"),
                LABEL_MAX_LENGTH,
            )
        not_applicable = (na_id, na_en)
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
        labels_id=_labels(problems, f"{path}.labels_id", raw.get("labels_id"), scale)
        + not_applicable[:1],
        labels_en=_labels(problems, f"{path}.labels_en", raw.get("labels_en"), scale)
        + not_applicable[1:],
        texts=(
            {}
            if "texts" not in raw
            else _locale_texts(
                problems,
                f"{path}.texts",
                raw["texts"],
                scale=scale,
                not_applicable=bool(not_applicable),
            )
        ),
    )


def check_questionnaire(raw: Any) -> QuestionnaireSpec:
    """Check parsed file content; return the spec or raise QuestionnaireError with every problem."""
    if not isinstance(raw, dict):
        raise _refuse("questionnaire-not-mapping", "file")
    problems: list[Problem] = []
    for key in raw:
        if key not in TOP_KEYS:
            problems.append(problem("questionnaire-unknown-key", str(key)))
    slug = raw.get("slug")
    if not isinstance(slug, str) or len(slug) > SLUG_MAX_LENGTH or not SLUG_PATTERN.match(slug):
        problems.append(
            problem("questionnaire-slug", "slug", value=_shown(slug), limit=SLUG_MAX_LENGTH)
        )
        slug = str(slug)
    version = raw.get("version")
    if version is not None and (not _whole(version) or version < 1):
        problems.append(problem("questionnaire-version", "version", value=_shown(version)))
        version = None
    title_id = _text(problems, "title_id", raw.get("title_id"), TITLE_MAX_LENGTH)
    title_en = _text(problems, "title_en", raw.get("title_en"), TITLE_MAX_LENGTH)
    scale = raw.get("scale_points")
    if not _whole(scale) or scale not in SCALES:
        problems.append(problem("questionnaire-scale", "scale_points", value=_shown(scale)))
        scale = None
    items = raw.get("elements")
    elements: list[ElementSpec] = []
    if not isinstance(items, list) or not items:
        problems.append(problem("questionnaire-elements-required", "elements"))
    else:
        if len(items) > MAX_ITEMS:
            problems.append(
                problem(
                    "questionnaire-elements-too-many", "elements", count=len(items), limit=MAX_ITEMS
                )
            )
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            element = _element(problems, f"elements[{i}]", item, scale)
            if element is None:
                continue
            if element.code in seen:
                problems.append(
                    problem(
                        "questionnaire-code-repeated",
                        f"elements[{i}].code",
                        value=element.code,
                        first=f"elements[{seen[element.code]}]",
                    )
                )
            seen.setdefault(element.code, i)
            elements.append(element)
        if elements and not any(e.kind == "ikm" for e in elements):
            problems.append(problem("questionnaire-no-ikm", "elements"))
    title_texts = _title_texts(problems, raw["texts"]) if "texts" in raw else {}
    _check_coverage(problems, elements, title_texts)
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
        texts=title_texts,
    )


def load_questionnaire_file(data: bytes, filename: str) -> QuestionnaireSpec:
    """Read a questionnaire file (YAML or JSON by its suffix) and check all of it."""
    return check_questionnaire(_parse(data, filename))


# --- Storage ---------------------------------------------------------------------------------


def _canonical(texts: Mapping[str, Any] | None) -> str:
    """Return further-language texts as comparable text (key order does not matter)."""
    return json.dumps(texts or {}, sort_keys=True, ensure_ascii=False)


def _content(
    title_id: str, title_en: str, scale: int, elements: Sequence[Any], texts: Mapping[str, Any]
) -> tuple:
    """The comparable content of a questionnaire (stored or from a file).

    The further languages count: a file that only adds or corrects a translation is a new
    version, so a wave keeps the very texts its citizens answered.
    """
    return (
        title_id,
        title_en,
        scale,
        _canonical(texts),
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
                _canonical(e.texts),
            )
            for e in elements
        ),
    )


def _languages(spec: QuestionnaireSpec) -> tuple[str, ...]:
    """Return the further languages of a checked file (every element has each)."""
    found = set(spec.texts)
    for element in spec.elements:
        found.update(element.texts)
    return tuple(sorted(found))


def stored_elements(session: Session, *, questionnaire_id: int) -> list[Element]:
    """Return a stored questionnaire's elements in question order."""
    query = (
        select(Element)
        .where(Element.questionnaire_id == questionnaire_id)
        .order_by(col(Element.position))
    )
    return list(session.exec(query).all())


def find_questionnaire(
    session: Session, *, slug: str, version: int | None = None
) -> Questionnaire | None:
    """Return the questionnaire ``slug`` in ``version`` (default: its newest), or None."""
    query = select(Questionnaire).where(Questionnaire.slug == slug)
    if version is not None:
        query = query.where(Questionnaire.version == version)
    return session.exec(query.order_by(col(Questionnaire.version).desc())).first()


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
        raise QuestionnaireError([problem("questionnaire-builtin", "slug", value=spec.slug)])
    wanted = _content(spec.title_id, spec.title_en, spec.scale_points, spec.elements, spec.texts)
    for stored in versions:
        assert stored.id is not None
        items = stored_elements(session, questionnaire_id=stored.id)
        content = _content(
            stored.title_id, stored.title_en, stored.scale_points, items, stored.texts
        )
        if content == wanted:
            return stored, False
    version = max([q.version + 1 for q in versions] + [spec.version or 1])
    questionnaire = Questionnaire(
        slug=spec.slug,
        version=version,
        title_id=spec.title_id,
        title_en=spec.title_en,
        scale_points=spec.scale_points,
        builtin=False,
        texts={code: dict(entry) for code, entry in spec.texts.items()},
    )
    session.add(questionnaire)
    session.flush()
    assert questionnaire.id is not None  # the flush gave it one
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
                texts={code: dict(entry) for code, entry in element.texts.items()},
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
        languages=list(_languages(spec)),
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

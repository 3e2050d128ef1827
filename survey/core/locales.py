"""Questionnaire languages beyond Bahasa Indonesia and English.

Every questionnaire carries its texts in Indonesian (the regulation's, the reference of every
report and export) and English, in their own columns. An evaluator may add further languages
in the questionnaire file (``texts: {su: {...}}``, see ``docs/questionnaire-format.md``); they
are stored in the JSON ``texts`` columns:

- ``Questionnaire.texts``: ``{"su": {"title": "..."}}`` (the title is optional);
- ``Element.texts``: ``{"su": {"name": ..., "question": ..., "labels": [...],
  "not_applicable": ...}}``; every key optional, a missing one falls back to Indonesian.

Only the citizen's questions use them; the user interface around them stays in the Babel
catalogs' languages (Indonesian when a questionnaire's language has none), and reports,
exports and scores only ever read the Indonesian (and English) columns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from babel import Locale, UnknownLocaleError
from sqlmodel import Session, col, select

from survey.core.models import Element, Questionnaire

BUILTIN_LOCALES = ("id", "en")
# A language code as a URL and a cookie carry it: "su", "jv", "ban", "su_ID".
LOCALE_PATTERN = re.compile(r"^[a-z]{2,3}(?:_[A-Z]{2})?$")
MAX_EXTRA_LOCALES = 10


def parse_locale(code: Any) -> Locale | None:
    """Return the Babel locale of a well-formed code Babel knows, else None."""
    if not isinstance(code, str) or not LOCALE_PATTERN.fullmatch(code):
        return None
    try:
        locale = Locale.parse(code)
    except (UnknownLocaleError, ValueError):
        return None
    return locale if str(locale) == code else None


def locale_name(code: str) -> str:
    """Return the language's name in itself ("Basa Sunda" for su), or the code."""
    locale = parse_locale(code)
    name = locale.get_display_name(locale) if locale is not None else None
    if not name:
        return code
    return name[:1].upper() + name[1:]


def extra_locales(texts: Mapping[str, Any] | None) -> tuple[str, ...]:
    """Return the further languages of a stored ``texts`` column, sorted."""
    return tuple(sorted(code for code in (texts or {}) if code not in BUILTIN_LOCALES))


def offered_locales(questionnaire: Questionnaire) -> tuple[str, ...]:
    """Return the languages a questionnaire's questions can be shown in: id, en, then others."""
    return BUILTIN_LOCALES + extra_locales(questionnaire.texts)


def stored_locales(session: Session) -> frozenset[str]:
    """Return every further language any stored questionnaire offers."""
    found: set[str] = set()
    for texts in session.exec(select(col(Questionnaire.texts))).all():
        found.update(extra_locales(texts))
    return frozenset(found)


def title_in(questionnaire: Questionnaire, locale: str) -> str:
    """Return the questionnaire's title in ``locale``, falling back to Indonesian."""
    if locale == "en":
        return questionnaire.title_en or questionnaire.title_id
    text = (questionnaire.texts or {}).get(locale, {}).get("title")
    return str(text) if text else questionnaire.title_id


def element_text(
    texts: Mapping[str, Any] | None, locale: str, key: str, fallback: Any
) -> tuple[Any, bool]:
    """Return an element's ``key`` in ``locale`` and True, or ``fallback`` and False."""
    value = ((texts or {}).get(locale) or {}).get(key)
    return (value, True) if value else (fallback, False)


def names(codes: Iterable[str]) -> list[tuple[str, str]]:
    """Return (code, name in itself) for each language code."""
    fixed = {"id": "Bahasa Indonesia", "en": "English"}
    return [(code, fixed.get(code) or locale_name(code)) for code in codes]


@dataclass(frozen=True)
class Question:
    """One element as the citizen sees it: number, code, text and answer labels."""

    position: int
    code: str
    number: int
    text: str
    labels: tuple[str, ...]
    not_applicable: str | None = None  # the extra answer "does not apply to me", if offered
    # The language each text is in (a further language falls back to Indonesian per text),
    # for the page's lang attributes: screen readers read each in its own language.
    name: str = ""
    lang: str = "id"
    labels_lang: str = "id"
    not_applicable_lang: str = "id"
    name_lang: str = "id"

    @property
    def field_name(self) -> str:
        """Return the form attribute that holds this question's answer."""
        return f"q{self.position}"


def _builtin_texts(
    element: Element, english: bool, offered: Mapping[str, tuple[str, str]]
) -> dict[str, tuple[Any, str]]:
    """Return each text of an element in id or en (English falls back to Indonesian)."""
    texts: dict[str, tuple[Any, str]] = {}
    for key, id_value, en_value in (
        ("name", element.name_id, element.name_en),
        ("question", element.question_id, element.question_en),
        ("labels", element.labels_id, element.labels_en),
    ):
        texts[key] = (en_value, "en") if english and en_value else (id_value, "id")
    if element.code in offered:
        texts["not_applicable"] = (
            offered[element.code][1 if english else 0],
            ("en" if english else "id"),
        )
    return texts


def _further_texts(
    element: Element, lang: str, offered: Mapping[str, tuple[str, str]]
) -> dict[str, tuple[Any, str]]:
    """Return each text of an element in a further language, or the Indonesian it lacks."""
    fallback: dict[str, Any] = {
        "name": element.name_id,
        "question": element.question_id,
        "labels": element.labels_id,
    }
    if element.code in offered:
        fallback["not_applicable"] = offered[element.code][0]
    texts: dict[str, tuple[Any, str]] = {}
    for key, indonesian in fallback.items():
        value, found = element_text(element.texts, lang, key, indonesian)
        texts[key] = (value, lang if found else "id")
    return texts


def questions(
    elements: Sequence[Element],
    *,
    scale_points: int,
    lang: str,
    not_applicable: Mapping[str, tuple[str, str]] | None = None,
) -> list[Question]:
    """Return the questions of a questionnaire in order, texts in ``lang``.

    ``lang`` is ``id``, ``en`` or a further language of the questionnaire file (the elements'
    ``texts``); each text it lacks is the Indonesian one, and each question says which
    language each of its texts is in. ``not_applicable`` gives, by code, the extra answer of
    the elements that offer one (:func:`survey.core.notapplicable.by_code`).
    """
    found = []
    offered = not_applicable or {}
    for number, element in enumerate(elements, start=1):
        if lang in BUILTIN_LOCALES:
            texts = _builtin_texts(element, lang == "en", offered)
        else:
            texts = _further_texts(element, lang, offered)
        labels = [str(label) for label in texts["labels"][0]]
        # A questionnaire with fewer labels than points still offers every point, as a number.
        labels += [str(i) for i in range(len(labels) + 1, scale_points + 1)]
        na, na_lang = texts.get("not_applicable", (None, "id"))
        found.append(
            Question(
                position=element.position,
                code=element.code,
                number=number,
                text=str(texts["question"][0]),
                labels=tuple(labels[:scale_points]),
                not_applicable=None if na is None else str(na),
                name=str(texts["name"][0]),
                lang=texts["question"][1],
                labels_lang=texts["labels"][1],
                not_applicable_lang=na_lang,
                name_lang=texts["name"][1],
            )
        )
    return found

"""The field rules every path shares: the slug rule, text limits and the respondent ranges.

The web forms, the command line, the importers and the demo all check slugs, names and
respondent fields against these values, so that a value one path accepts is never refused by
another (or by the database). Text limits are read from the models, where the column widths
are declared; nothing here repeats a number the models already say.
"""

from __future__ import annotations

import re
import unicodedata

from sqlmodel import SQLModel

from survey.core.models import Opd, Response, Wave

# Lower-case letters and digits joined by single hyphens: safe in a URL path without escaping.
# Anchored with \Z (not $, which allows a final line break), so ``match`` judges the whole value.
SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*\Z")


def column_width(model: type[SQLModel], name: str) -> int:
    """Return the declared width (``max_length``) of a text column of a table model."""
    # SQLModel adds ``__table__`` when the class is made, so the type checker cannot see it.
    length = model.__table__.c[name].type.length  # type: ignore[attr-defined]
    if not isinstance(length, int):
        raise TypeError(f"{model.__name__}.{name} has no declared width")
    return length


SLUG_MAX_LENGTH = column_width(Opd, "slug")  # waves, questionnaires and schemes share it
OPD_NAME_MAX_LENGTH = column_width(Opd, "name")
OPD_SHORT_NAME_MAX_LENGTH = column_width(Opd, "short_name")
WAVE_TITLE_MAX_LENGTH = column_width(Wave, "title")
WAVE_EVALUATOR_MAX_LENGTH = column_width(Wave, "evaluator")
SERVICE_MAX_LENGTH = column_width(Response, "service")
# The COMMENT_MAX_LENGTH setting may lower the comment limit, never raise it.
COMMENT_MAX_LENGTH = column_width(Response, "comment")
# The column is a 32-bit integer on PostgreSQL; SQLite would store anything.
POPULATION_MAX = 2_147_483_647
# Respondents' age in whole years: the survey form's range, which imports use too (a citizen
# under 15 is not asked; an age over 100 in a file is far more often a typo than a centenarian).
AGE_MIN, AGE_MAX = 15, 100


def is_slug(value: str) -> bool:
    """Return True if ``value`` is a slug: the pattern, and at most ``SLUG_MAX_LENGTH`` long."""
    return len(value) <= SLUG_MAX_LENGTH and SLUG_PATTERN.fullmatch(value) is not None


# Unicode categories a name shown on pages, in PDFs and in charts never holds: control
# characters (Cc), format characters (Cf: zero-width spaces and joiners, the bidi embeddings,
# overrides and isolates that reorder what a reader sees, the byte-order mark, the soft
# hyphen) and line or paragraph separators (Zl, Zp).
HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def hidden_character(text: str) -> str | None:
    """Return the first control, format (zero-width, bidi) or separator character, if any.

    >>> hidden_character("Dinas Perhubungan") is None
    True
    >>> hidden_character("Dinas\u202eKesehatan")
    '\u202e'
    """
    for char in text:
        if unicodedata.category(char) in HIDDEN_CATEGORIES:
            return char
    return None


def describe_character(char: str) -> str:
    """Return a character as ``U+XXXX NAME`` (for a problem's message)."""
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X} {name}".strip()

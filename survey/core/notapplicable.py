"""The "not applicable" answer: a question a respondent cannot rate ("never complained").

PermenPANRB 14/2017's U9 asks how complaints are handled; a citizen who never complained can
only guess. An element may therefore offer one more answer besides its scale, meaning "this
does not apply to me". It is stored as :data:`NOT_APPLICABLE` (0) in the answer column, which
every reader of answers already takes as "no score": the IKM counts the element's NRR over
those who rated it (the regulation's "n menjawab"), and the scoring read
(:mod:`survey.core.answers`) maps 0 to "no answer" as it does an empty cell. Kept apart from an
empty cell, so exports can say which respondents chose it.

Where an element offers it:

- the built-in regulation questionnaire's U9, with :data:`BUILTIN_NOT_APPLICABLE` (in code, so
  the stored built-in rows, and every database seeded before, stay as they are);
- a custom questionnaire's element whose file gives ``not_applicable_id`` (and
  ``not_applicable_en``): stored as one label past the scale in ``labels_id``/``labels_en``,
  so the questionnaires without it keep their stored content (and versions) unchanged.

Files say it as ``NA`` (exports and open data write that), and imports also read ``N/A``,
``TB`` (*tidak berlaku*), ``tidak berlaku`` and the answer's own label in either language.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

NOT_APPLICABLE = 0  # the stored value
EXPORT_VALUE = "NA"  # what files say for it
IMPORT_TOKENS = frozenset({"na", "n/a", "tb", "tidak berlaku", "not applicable"})

DEFAULT_QUESTIONNAIRE_SLUG = "permenpanrb-14-2017"  # survey.core.builtin's (no import cycle)
BUILTIN_NOT_APPLICABLE: dict[str, tuple[str, str]] = {
    "U9": ("Belum pernah menyampaikan pengaduan", "I have never made a complaint"),
}


class _Element(Protocol):
    code: str
    kind: str
    labels_id: list[str]
    labels_en: list[str]


class _Questionnaire(Protocol):
    slug: str
    builtin: bool
    scale_points: int


def is_builtin_regulation(questionnaire: _Questionnaire) -> bool:
    """Return True for the built-in PermenPANRB 14/2017 questionnaire."""
    return bool(questionnaire.builtin) and questionnaire.slug == DEFAULT_QUESTIONNAIRE_SLUG


def labels_of(element: _Element, questionnaire: _Questionnaire) -> tuple[str, str] | None:
    """Return the element's "not applicable" answer (Indonesian, English), or None."""
    points = int(questionnaire.scale_points)
    if len(element.labels_id) > points:
        label_id = str(element.labels_id[points])
        english = element.labels_en[points] if len(element.labels_en) > points else ""
        return label_id, str(english or label_id)
    if element.kind == "ikm" and is_builtin_regulation(questionnaire):
        return BUILTIN_NOT_APPLICABLE.get(element.code)
    return None


def by_code(
    elements: Sequence[_Element], questionnaire: _Questionnaire
) -> dict[str, tuple[str, str]]:
    """Return code -> the "not applicable" answer of the elements that offer one."""
    found = {}
    for element in elements:
        labels = labels_of(element, questionnaire)
        if labels is not None:
            found[element.code] = labels
    return found


def import_texts(offered: Mapping[str, tuple[str, str]]) -> dict[str, frozenset[str]]:
    """Return code -> the case-folded texts an import reads as "not applicable"."""
    return {
        code: IMPORT_TOKENS | {" ".join(label.split()).casefold() for label in labels}
        for code, labels in offered.items()
    }


def export_value(answer: int | None) -> int | str | None:
    """Return an answer as files write it: the score, ``NA`` for not applicable, or None."""
    return EXPORT_VALUE if answer == NOT_APPLICABLE else answer

"""The built-in reference data: the PermenPANRB 14/2017 questionnaire and the category schemes.

The element names and answer labels are the regulation's (:mod:`scoring.regulation`, the one
copy), as are the category bounds (:mod:`scoring.schemes`); the question sentences are ours.
``seed_builtins`` inserts whatever is missing and never overwrites rows an operator may have
changed.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from scoring.regulation import PERMENPANRB_2017_ELEMENTS
from scoring.schemes import SCHEMES
from survey.core.models import CategoryScheme, Element, Questionnaire

DEFAULT_QUESTIONNAIRE_SLUG = "permenpanrb-14-2017"
DEFAULT_SCHEME_SLUG = "permenpanrb-14-2017"
LEGACY_SCHEME_SLUG = "kepmenpan-25-2004"

# Our question sentences, one per element of the regulation (which gives only the element
# names and the answer labels, in :mod:`scoring.regulation`).
QUESTIONS: dict[str, tuple[str, str]] = {
    "U1": (
        "Bagaimana pendapat Saudara tentang kesesuaian persyaratan pelayanan dengan "
        "jenis pelayanannya?",
        "How well did the requirements fit the service you received?",
    ),
    "U2": (
        "Bagaimana pendapat Saudara tentang kemudahan prosedur pelayanan di unit ini?",
        "How easy was the service procedure at this unit?",
    ),
    "U3": (
        "Bagaimana pendapat Saudara tentang kecepatan waktu dalam memberikan pelayanan?",
        "How fast was the service delivered?",
    ),
    "U4": (
        "Bagaimana pendapat Saudara tentang kewajaran biaya/tarif dalam pelayanan?",
        "How fair was the cost or fee of the service?",
    ),
    "U5": (
        "Bagaimana pendapat Saudara tentang kesesuaian produk pelayanan antara yang "
        "tercantum dalam standar pelayanan dengan hasil yang diberikan?",
        "How well did the product you received match what the service standard promises?",
    ),
    "U6": (
        "Bagaimana pendapat Saudara tentang kompetensi/kemampuan petugas dalam pelayanan?",
        "How competent were the staff who served you?",
    ),
    "U7": (
        "Bagaimana pendapat Saudara tentang perilaku petugas dalam pelayanan terkait "
        "kesopanan dan keramahan?",
        "How courteous and friendly were the staff?",
    ),
    "U8": (
        "Bagaimana pendapat Saudara tentang kualitas sarana dan prasarana?",
        "How good were the facilities?",
    ),
    "U9": (
        "Bagaimana pendapat Saudara tentang penanganan pengaduan pengguna layanan?",
        "How are complaints from service users handled?",
    ),
}

# (code, name_id, name_en, question_id, question_en, labels_id, labels_en)
DEFAULT_ELEMENTS: tuple[tuple[str, str, str, str, str, list[str], list[str]], ...] = tuple(
    (
        e.code,
        e.name_id,
        e.name_en,
        *QUESTIONS[e.code],
        list(e.labels_id),
        list(e.labels_en),
    )
    for e in PERMENPANRB_2017_ELEMENTS
)

# The category tables as the database stores them: one copy, in :mod:`scoring.schemes`.
PERMENPANRB_2017: list[dict[str, Any]] = SCHEMES[DEFAULT_SCHEME_SLUG].as_dicts()
KEPMENPAN_2004: list[dict[str, Any]] = SCHEMES[LEGACY_SCHEME_SLUG].as_dicts()

BUILTIN_SCHEMES = (
    (DEFAULT_SCHEME_SLUG, "PermenPANRB 14/2017", PERMENPANRB_2017),
    (LEGACY_SCHEME_SLUG, "KepmenPAN 25/2004", KEPMENPAN_2004),
)


def seed_builtins(session: Session) -> None:
    """Insert the built-in questionnaire and schemes that are missing (idempotent)."""
    for slug, name, categories in BUILTIN_SCHEMES:
        if session.exec(select(CategoryScheme).where(CategoryScheme.slug == slug)).first():
            continue
        session.add(CategoryScheme(slug=slug, name=name, builtin=True, categories=categories))
    existing = session.exec(
        select(Questionnaire).where(
            Questionnaire.slug == DEFAULT_QUESTIONNAIRE_SLUG, Questionnaire.version == 1
        )
    ).first()
    if existing is None:
        questionnaire = Questionnaire(
            slug=DEFAULT_QUESTIONNAIRE_SLUG,
            version=1,
            title_id="Survei Kepuasan Masyarakat (PermenPANRB 14/2017)",
            title_en="Public Satisfaction Survey (PermenPANRB 14/2017)",
            scale_points=4,
            builtin=True,
        )
        session.add(questionnaire)
        session.flush()
        for position, (code, name_id, name_en, q_id, q_en, l_id, l_en) in enumerate(
            DEFAULT_ELEMENTS, start=1
        ):
            session.add(
                Element(
                    questionnaire_id=int(questionnaire.id or 0),
                    position=position,
                    code=code,
                    kind="ikm",
                    name_id=name_id,
                    name_en=name_en,
                    question_id=q_id,
                    question_en=q_en,
                    labels_id=list(l_id),
                    labels_en=list(l_en),
                )
            )
    session.commit()

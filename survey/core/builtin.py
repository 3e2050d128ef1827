"""The built-in reference data: the PermenPANRB 14/2017 questionnaire and the category schemes.

The answer labels are those of the regulation (see shared/spec/ikm-standard.md) and must not
be reworded; the question sentences are ours. ``seed_builtins`` inserts whatever is missing
and never overwrites rows an operator may have changed.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from survey.core.models import CategoryScheme, Element, Questionnaire

DEFAULT_QUESTIONNAIRE_SLUG = "permenpanrb-14-2017"
DEFAULT_SCHEME_SLUG = "permenpanrb-14-2017"
LEGACY_SCHEME_SLUG = "kepmenpan-25-2004"

# (code, name_id, name_en, question_id, question_en, labels_id, labels_en)
DEFAULT_ELEMENTS: tuple[tuple[str, str, str, str, str, list[str], list[str]], ...] = (
    (
        "U1",
        "Persyaratan",
        "Requirements",
        "Bagaimana pendapat Saudara tentang kesesuaian persyaratan pelayanan dengan "
        "jenis pelayanannya?",
        "How well did the requirements fit the service you received?",
        ["Tidak sesuai", "Kurang sesuai", "Sesuai", "Sangat sesuai"],
        ["Not suitable", "Less suitable", "Suitable", "Very suitable"],
    ),
    (
        "U2",
        "Sistem, Mekanisme, dan Prosedur",
        "Systems, mechanisms and procedures",
        "Bagaimana pendapat Saudara tentang kemudahan prosedur pelayanan di unit ini?",
        "How easy was the service procedure at this unit?",
        ["Tidak mudah", "Kurang mudah", "Mudah", "Sangat mudah"],
        ["Not easy", "Less easy", "Easy", "Very easy"],
    ),
    (
        "U3",
        "Waktu Penyelesaian",
        "Completion time",
        "Bagaimana pendapat Saudara tentang kecepatan waktu dalam memberikan pelayanan?",
        "How fast was the service delivered?",
        ["Tidak cepat", "Kurang cepat", "Cepat", "Sangat cepat"],
        ["Not fast", "Less fast", "Fast", "Very fast"],
    ),
    (
        "U4",
        "Biaya/Tarif",
        "Cost/fee",
        "Bagaimana pendapat Saudara tentang kewajaran biaya/tarif dalam pelayanan?",
        "How fair was the cost or fee of the service?",
        ["Sangat mahal", "Cukup mahal", "Murah", "Gratis"],
        ["Very expensive", "Quite expensive", "Cheap", "Free"],
    ),
    (
        "U5",
        "Produk Spesifikasi Jenis Pelayanan",
        "Service product specification",
        "Bagaimana pendapat Saudara tentang kesesuaian produk pelayanan antara yang "
        "tercantum dalam standar pelayanan dengan hasil yang diberikan?",
        "How well did the product you received match what the service standard promises?",
        ["Tidak sesuai", "Kurang sesuai", "Sesuai", "Sangat sesuai"],
        ["Not suitable", "Less suitable", "Suitable", "Very suitable"],
    ),
    (
        "U6",
        "Kompetensi Pelaksana",
        "Staff competence",
        "Bagaimana pendapat Saudara tentang kompetensi/kemampuan petugas dalam pelayanan?",
        "How competent were the staff who served you?",
        ["Tidak kompeten", "Kurang kompeten", "Kompeten", "Sangat kompeten"],
        ["Not competent", "Less competent", "Competent", "Very competent"],
    ),
    (
        "U7",
        "Perilaku Pelaksana",
        "Staff behaviour",
        "Bagaimana pendapat Saudara tentang perilaku petugas dalam pelayanan terkait "
        "kesopanan dan keramahan?",
        "How courteous and friendly were the staff?",
        [
            "Tidak sopan dan ramah",
            "Kurang sopan dan ramah",
            "Sopan dan ramah",
            "Sangat sopan dan ramah",
        ],
        [
            "Not courteous and friendly",
            "Less courteous and friendly",
            "Courteous and friendly",
            "Very courteous and friendly",
        ],
    ),
    (
        "U8",
        "Sarana dan Prasarana",
        "Facilities and infrastructure",
        "Bagaimana pendapat Saudara tentang kualitas sarana dan prasarana?",
        "How good were the facilities?",
        ["Buruk", "Cukup", "Baik", "Sangat baik"],
        ["Poor", "Fair", "Good", "Very good"],
    ),
    (
        "U9",
        "Penanganan Pengaduan, Saran dan Masukan",
        "Handling of complaints, suggestions and feedback",
        "Bagaimana pendapat Saudara tentang penanganan pengaduan pengguna layanan?",
        "How are complaints from service users handled?",
        [
            "Tidak ada",
            "Ada tetapi tidak berfungsi",
            "Berfungsi kurang maksimal",
            "Dikelola dengan baik",
        ],
        [
            "None",
            "Exists but does not work",
            "Works, but not fully",
            "Well managed",
        ],
    ),
)


def _category(code: str, label_id: str, label_en: str, min_ikm: float, min_conv: float) -> dict:
    return {
        "code": code,
        "label_id": label_id,
        "label_en": label_en,
        "min_ikm": min_ikm,
        "min_converted": min_conv,
    }


# Lower bounds per PermenPANRB 14/2017 (compare with >=; the printed table has gaps).
PERMENPANRB_2017: list[dict[str, Any]] = [
    _category("A", "Sangat baik", "Very good", 3.5324, 88.31),
    _category("B", "Baik", "Good", 3.0644, 76.61),
    _category("C", "Kurang baik", "Poor", 2.60, 65.00),
    _category("D", "Tidak baik", "Very poor", 1.00, 25.00),
]
# KepmenPAN 25/2004 (legacy, 14 elements). Its printed 1..4 and converted bounds are not
# each other's multiples of 25; both are kept as printed.
KEPMENPAN_2004: list[dict[str, Any]] = [
    _category("A", "Sangat baik", "Very good", 3.26, 81.26),
    _category("B", "Baik", "Good", 2.51, 62.51),
    _category("C", "Kurang baik", "Poor", 1.76, 43.76),
    _category("D", "Tidak baik", "Very poor", 1.00, 25.00),
]

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
                    questionnaire_id=questionnaire.id,
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

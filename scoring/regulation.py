"""The nine service elements (*unsur*) of PermenPANRB 14/2017 and their answer labels.

This is the one copy of the regulation's element names and answer labels: the database's
built-in questionnaire (``survey``) and the simulated report inputs (``reports``) both read
it. The Indonesian names and labels are the regulation's and must not be reworded; the English
ones are ours. The category bounds of the regulation live in :mod:`scoring.schemes`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PERMENPANRB_2017_ELEMENTS", "RegulationElement"]


@dataclass(frozen=True)
class RegulationElement:
    """One element of the regulation's questionnaire.

    Attributes
    ----------
    code : str
        ``"U1"`` .. ``"U9"``.
    name_id, name_en : str
        Element name in Bahasa Indonesia (the regulation's) and in English.
    labels_id, labels_en : tuple of str
        Answer labels for the values 1..4, worst first.

    Examples
    --------
    >>> first = PERMENPANRB_2017_ELEMENTS[0]
    >>> first.code, first.name_id, first.labels_id[-1]
    ('U1', 'Persyaratan', 'Sangat sesuai')
    """

    code: str
    name_id: str
    name_en: str
    labels_id: tuple[str, str, str, str]
    labels_en: tuple[str, str, str, str]


PERMENPANRB_2017_ELEMENTS: tuple[RegulationElement, ...] = (
    RegulationElement(
        "U1",
        "Persyaratan",
        "Requirements",
        ("Tidak sesuai", "Kurang sesuai", "Sesuai", "Sangat sesuai"),
        ("Not suitable", "Less suitable", "Suitable", "Very suitable"),
    ),
    RegulationElement(
        "U2",
        "Sistem, Mekanisme, dan Prosedur",
        "Systems, mechanisms and procedures",
        ("Tidak mudah", "Kurang mudah", "Mudah", "Sangat mudah"),
        ("Not easy", "Less easy", "Easy", "Very easy"),
    ),
    RegulationElement(
        "U3",
        "Waktu Penyelesaian",
        "Completion time",
        ("Tidak cepat", "Kurang cepat", "Cepat", "Sangat cepat"),
        ("Not fast", "Less fast", "Fast", "Very fast"),
    ),
    RegulationElement(
        "U4",
        "Biaya/Tarif",
        "Cost/fee",
        ("Sangat mahal", "Cukup mahal", "Murah", "Gratis"),
        ("Very expensive", "Quite expensive", "Cheap", "Free"),
    ),
    RegulationElement(
        "U5",
        "Produk Spesifikasi Jenis Pelayanan",
        "Service product specification",
        ("Tidak sesuai", "Kurang sesuai", "Sesuai", "Sangat sesuai"),
        ("Not suitable", "Less suitable", "Suitable", "Very suitable"),
    ),
    RegulationElement(
        "U6",
        "Kompetensi Pelaksana",
        "Staff competence",
        ("Tidak kompeten", "Kurang kompeten", "Kompeten", "Sangat kompeten"),
        ("Not competent", "Less competent", "Competent", "Very competent"),
    ),
    RegulationElement(
        "U7",
        "Perilaku Pelaksana",
        "Staff behaviour",
        (
            "Tidak sopan dan ramah",
            "Kurang sopan dan ramah",
            "Sopan dan ramah",
            "Sangat sopan dan ramah",
        ),
        (
            "Not courteous and friendly",
            "Less courteous and friendly",
            "Courteous and friendly",
            "Very courteous and friendly",
        ),
    ),
    RegulationElement(
        "U8",
        "Sarana dan Prasarana",
        "Facilities and infrastructure",
        ("Buruk", "Cukup", "Baik", "Sangat baik"),
        ("Poor", "Fair", "Good", "Very good"),
    ),
    RegulationElement(
        "U9",
        "Penanganan Pengaduan, Saran dan Masukan",
        "Handling of complaints, suggestions and feedback",
        (
            "Tidak ada",
            "Ada tetapi tidak berfungsi",
            "Berfungsi kurang maksimal",
            "Dikelola dengan baik",
        ),
        ("None", "Exists but does not work", "Works, but not fully", "Well managed"),
    ),
)
"""The nine elements of PermenPANRB 14/2017, in the regulation's order."""

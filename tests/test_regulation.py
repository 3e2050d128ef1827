"""The regulation's nine elements and labels are written out once, in ``scoring.regulation``.

The database's built-in questionnaire and the simulated report inputs both read that copy; a
second copy anywhere under ``survey/``, ``reports/`` or ``templates/`` would drift.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reports.sample import DEFAULT_ELEMENTS as SAMPLE_ELEMENTS
from scoring.regulation import PERMENPANRB_2017_ELEMENTS, RegulationElement
from scoring.schemes import SCHEMES
from survey.core import builtin

ROOT = Path(__file__).resolve().parent.parent
SOURCE_SUFFIXES = {".py", ".html", ".yaml", ".yml", ".json", ".txt"}


def source_files() -> list[Path]:
    """Every source or template file of ``survey/``, ``reports/`` and ``templates/``."""
    return [
        path
        for folder in ("survey", "reports", "templates")
        for path in sorted((ROOT / folder).rglob("*"))
        if path.suffix in SOURCE_SUFFIXES
    ]


def test_the_regulation_lists_nine_elements_with_four_labels_each() -> None:
    """U1..U9 in order, each with four Indonesian and four English labels."""
    assert [e.code for e in PERMENPANRB_2017_ELEMENTS] == [f"U{i}" for i in range(1, 10)]
    assert PERMENPANRB_2017_ELEMENTS[0].name_id == "Persyaratan"
    assert PERMENPANRB_2017_ELEMENTS[8].labels_id == (
        "Tidak ada",
        "Ada tetapi tidak berfungsi",
        "Berfungsi kurang maksimal",
        "Dikelola dengan baik",
    )
    assert all(len(e.labels_id) == len(e.labels_en) == 4 for e in PERMENPANRB_2017_ELEMENTS)


@pytest.mark.parametrize("element", PERMENPANRB_2017_ELEMENTS, ids=lambda e: e.code)
def test_no_second_copy_of_an_element_name(element: RegulationElement) -> None:
    """No file of the app or the reports spells out an element's Indonesian name."""
    name = element.name_id
    holders = [
        str(path.relative_to(ROOT))
        for path in source_files()
        if name in path.read_text(encoding="utf-8", errors="replace")
    ]
    assert holders == []


def test_builtin_questionnaire_and_sample_read_the_one_copy() -> None:
    """The database's built-in elements and the sample report's elements are the regulation's."""
    regulation = [
        (e.code, e.name_id, e.name_en, list(e.labels_id), list(e.labels_en))
        for e in PERMENPANRB_2017_ELEMENTS
    ]
    stored = [
        (c, n_id, n_en, l_id, l_en)
        for c, n_id, n_en, _q, _qe, l_id, l_en in builtin.DEFAULT_ELEMENTS
    ]
    sample = [
        (e.code, e.name_id, e.name_en, list(e.labels_id), list(e.labels_en))
        for e in SAMPLE_ELEMENTS
    ]
    assert stored == regulation
    assert sample == regulation
    assert SCHEMES["permenpanrb-14-2017"].as_dicts() == builtin.PERMENPANRB_2017
    assert builtin.PERMENPANRB_2017[0] == {
        "code": "A",
        "label_id": "Sangat baik",
        "label_en": "Very good",
        "min_ikm": 3.5324,
        "min_converted": 88.31,
    }

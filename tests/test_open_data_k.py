"""k-anonymity of the open data's respondent rows (survey.core.kanon and the ZIP that uses it)."""

from __future__ import annotations

import csv
import io
import random
import zipfile
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlmodel import Session
from survey_helpers import add_responses, set_wave_status

from scoring.ikm import ikm
from survey.core import exports, queries
from survey.core.kanon import (
    HIDDEN,
    K_ANONYMITY,
    PERIOD,
    Profile,
    anonymise,
    smallest_group,
)
from survey.core.models import EDUCATIONS, OCCUPATIONS

QUASI = ("opd", "submitted_at", "sex", "age_band", "education", "occupation")
TOP = (PERIOD, HIDDEN, HIDDEN, HIDDEN, HIDDEN)


def test_k_is_five() -> None:
    assert K_ANONYMITY == 5


def test_hand_made_case_is_generalised_exactly() -> None:
    """Five men of one OPD, answering on five days of January, in two age bands, three
    educations and three occupations: the only way to one group of five at least cost is
    the month, the wider band "< 35" and the coarse classes; sex stays."""
    rows = [
        Profile("a", "2026-01-05", "L", "< 25", "S1", "PNS"),
        Profile("a", "2026-01-06", "L", "25–34", "S2", "PNS"),
        Profile("a", "2026-01-07", "L", "< 25", "D1-D3", "TNI"),
        Profile("a", "2026-01-20", "L", "25–34", "S1", "PNS"),
        Profile("a", "2026-01-21", "L", "25–34", "S3", "POLRI"),
    ]
    out = anonymise(rows)
    expected = Profile("a", "2026-01", "L", "< 35", "D1–S3", "PNS/TNI/POLRI")
    assert out.rows == [expected] * 5
    assert out.levels == {"a": (1, 0, 1, 1, 1)}
    assert dict(out.generalised) == {"date": 5, "age_band": 5, "education": 5, "occupation": 5}
    assert not out.hidden and out.suppressed == 0 and out.pooled == 0 and out.dropped == 0
    assert out.share_changed() == pytest.approx(20 / 25) and out.share_hidden() == 0.0


def test_an_outlier_is_joined_at_the_coarsest_classes() -> None:
    """Five alike and one unlike: the two halves of age, education and occupation join them,
    sex and the date are hidden; the answers are not part of the profile and stay."""
    rows = [Profile("b", "2026-02-01", "P", "35–44", "SMA", "Swasta")] * 5
    rows.append(Profile("b", "2026-03-01", "L", "≥ 55", "SD", "Lainnya"))
    out = anonymise(rows)
    joined = Profile("b", PERIOD, HIDDEN, "≥ 35", "SD–SMA", "bukan PNS/TNI/POLRI")
    assert out.rows == [joined] * 6
    assert out.levels == {"b": (2, 1, 2, 2, 2)}
    assert out.share_changed() == 1.0 and out.suppressed == 0
    assert smallest_group(out.rows) == 6


def test_rows_that_cannot_join_lose_their_whole_profile() -> None:
    """Five alike and one with no profile at all, a month later: nothing short of hiding every
    field joins them (a missing value stays missing until hidden), so all six are hidden."""
    rows = [Profile("b", "2026-02-01", "P", "35–44", "SMA", "Swasta")] * 5
    rows.append(Profile("b", "2026-03-01", None, None, None, None))
    out = anonymise(rows)
    assert out.rows == [Profile("b", *TOP)] * 6
    assert out.suppressed == 6 and out.share_changed() == 1.0
    assert dict(out.hidden) == {"date": 6, "sex": 6, "age_band": 6, "education": 6, "occupation": 6}


def test_a_group_already_of_five_is_left_alone() -> None:
    rows = [Profile("c", "2026-02-01", "P", "35–44", "SMA", "Swasta")] * 5
    out = anonymise(rows)
    assert out.rows == rows and out.share_changed() == 0.0 and out.levels == {"c": (0,) * 5}


def test_small_opds_are_pooled_or_left_out() -> None:
    """OPDs under k: pooled under opd = disembunyikan when the pool reaches k, else left out."""
    row = ("2026-02-01", "P", "35–44", "SMA", "Swasta")
    pooled = anonymise([Profile("x", *row)] * 3 + [Profile("y", *row)] * 3)
    assert pooled.rows == [Profile(HIDDEN, *TOP)] * 6
    assert (pooled.pooled, pooled.dropped, pooled.kept) == (6, 0, 6)
    alone = anonymise([Profile("x", *row)] * 4 + [Profile("z", *row)] * 5)
    assert alone.rows == [None] * 4 + [Profile("z", *row)] * 5
    assert (alone.pooled, alone.dropped, alone.kept) == (0, 4, 5)
    with pytest.raises(ValueError, match="k must be"):
        anonymise([], k=0)


def _random_profiles(rng: random.Random, n: int) -> list[dict]:
    """n random respondent profiles (some fields missing) and submission times in 40 days."""
    start = datetime(2026, 1, 5, 2, tzinfo=UTC)
    people = []
    for _ in range(n):
        people.append(
            {
                "submitted_at": start + timedelta(days=rng.randrange(40), hours=rng.randrange(8)),
                "sex": rng.choice(["L", "P", None]),
                "age": rng.choice([None, *range(17, 80)]),
                "education": rng.choice([None, *EDUCATIONS]),
                "occupation": rng.choice([None, *OCCUPATIONS]),
            }
        )
    return people


@pytest.fixture
def generated(session: Session, open_wave):
    """BPBD 4, RSUD 9 and DISHUB 60 counted responses, random profiles and answers (seed 13),
    then published."""
    rng = random.Random(13)
    for slug, n in (("bpbd", 4), ("rsud", 9), ("dishub", 60)):
        for person in _random_profiles(rng, n):
            answers = [rng.choice([1, 2, 3, 4, 4, 3, None]) for _ in range(9)]
            add_responses(session, open_wave, slug, [answers], **person)
    set_wave_status(session, slug="uji-2026", status="closed")
    set_wave_status(session, slug="uji-2026", status="published")
    return queries.get_wave(session, slug="uji-2026")


def _files(data: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {
            i.filename.split("/")[-1]: archive.read(i).decode("utf-8") for i in archive.infolist()
        }


def test_generated_small_opds_are_k_anonymous(client, session, generated) -> None:
    """Every quasi-identifier combination of responses.csv is in a group of >= 5 rows; the
    answers give back the published scores; the README says what was done."""
    page = client.get("/hasil/uji-2026/data-terbuka.zip")
    assert page.status_code == 200
    files = _files(page.data)
    table = list(csv.DictReader(io.StringIO(files["responses.csv"])))
    groups = Counter(tuple(row[q] for q in QUASI) for row in table)
    assert min(groups.values()) >= K_ANONYMITY
    assert smallest_group([[row[q] for q in QUASI] for row in table]) == min(groups.values())
    # BPBD's 4 rows are under k and alone in the pool: left out; RSUD's 9 and DISHUB's 60 stay.
    assert Counter(row["opd"] for row in table) == {"rsud": 9, "dishub": 60}
    # The dates, at least, had to be coarsened: no OPD keeps 5 people on one day here.
    assert all(len(row["submitted_at"]) < 10 for row in table)
    scores = {row["opd"]: row for row in csv.DictReader(io.StringIO(files["scores.csv"]))}
    assert scores["bpbd"]["n"] == "4"  # the left-out OPD is still scored
    codes = [f"U{i}" for i in range(1, 10)]
    for slug in ("rsud", "dishub"):
        answers = np.array(
            [
                [float(row[c]) if row[c] else np.nan for c in codes]
                for row in table
                if row["opd"] == slug
            ]
        )
        result = ikm(answers)
        assert int(scores[slug]["n"]) == len(answers)
        assert float(scores[slug]["ikm"]) == pytest.approx(result.ikm, abs=1e-9)
        for j, code in enumerate(codes):
            assert float(scores[slug][f"{code}_nrr"]) == pytest.approx(result.nrr[j], abs=1e-9)
    readme = files["README.md"]
    assert "(k-anonymity, k = 5)" in readme
    assert "Rows in the file: 69" in readme
    assert "Respons dihitung / Counted responses: 73" in readme
    assert "those OPDs' scores are still in scores.csv): 4" in readme
    assert "Profile fields made coarser or hidden: " in readme


def test_generated_zip_is_reproducible(session, generated) -> None:
    first = exports.open_data_zip(session, wave=generated)
    assert exports.open_data_zip(session, wave=generated) == first


def test_module_examples() -> None:
    """The docstring examples of survey.core.kanon run and pass."""
    import doctest

    from survey.core import kanon

    result = doctest.testmod(kanon)
    assert result.attempted >= 3 and result.failed == 0

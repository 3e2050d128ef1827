"""Robustness to stuffed ballots where evaluators read it: the wave page and the ranking PDF.

The counts themselves are proved in test_scoring_robustness.py; here the page shows them
(hand-computed for constant answers) at the publish step, in both languages, most fragile
first, and the ranking report's methods section prints the paragraph and the table.
"""

from __future__ import annotations

import html
import io
import re

import pypdf
import pytest
from auth_helpers import login
from flask.testing import FlaskClient
from sqlmodel import Session
from survey_helpers import add_opd, add_responses, create_wave, set_wave_status

from reports import ScoredWave, render_ranking_pdf
from reports.formatting import Formatter
from reports.ranking import robustness_rows
from reports.sample import sample_ranking
from reports.texts import Texts

PAGE = "/kerja/gelombang/uji-2026"


def _text(response) -> str:
    """The page's text without tags, entities decoded, whitespace collapsed."""
    body = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return " ".join(html.unescape(body).split())


def _row(page: str, slug: str) -> str:
    """The text of one OPD's row of the robustness table."""
    match = re.search(rf'<tr id="robust-{slug}">(.*?)</tr>', page, re.S)
    assert match, slug
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).split())


@pytest.fixture
def closed_wave(session: Session, users) -> None:
    """Wave uji-2026 over BPBD, RSUD and Dishub with constant answers, closed.

    BPBD: 10 respondents answering 3 everywhere (IKM 3.00, C). Up: one all-4 ballot gives
    34 / 11 = 3.0909 >= 3.0644 (B). Down: (30 + k) / (10 + k) < 2.60 first at k = 3
    (33 / 13 = 2.538). RSUD: 12 answering 4 (IKM 4.00, A, cannot go up). Down: (48 + k) /
    (12 + k) < 3.5324 first at k = 3 (51 / 15 = 3.40). Dishub: 12 answering 1 (D, cannot go
    down). Up: (12 + 4k) / (12 + k) >= 2.60 first at k = 14 (68 / 26 = 2.615).
    With three OPDs, K = 3: every OPD is in both sets whatever the scores (> 500).
    """
    add_opd(session, slug="dishub", name="Dinas Perhubungan", short_name="Dishub")
    wave = create_wave(
        session,
        slug="uji-2026",
        title="Uji Coba 2026",
        opd_slugs=["bpbd", "rsud", "dishub"],
        status="open",
    )
    add_responses(session, wave, "bpbd", [[3] * 9] * 10)
    add_responses(session, wave, "rsud", [[4] * 9] * 12)
    add_responses(session, wave, "dishub", [[1] * 9] * 12)
    set_wave_status(session, slug="uji-2026", status="closed")


def test_the_publish_step_shows_the_ballots_that_change_each_result(
    client: FlaskClient, closed_wave
) -> None:
    login(client)
    response = client.get(PAGE)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    text = _text(response)
    assert "Ketahanan hasil terhadap penggelembungan suara" in text
    assert _row(page, "bpbd") == (
        "Badan Penanggulangan Bencana Daerah 10 C +1 naik / +3 turun "
        "di dalam; keluar: > 500 di dalam; keluar: > 500"
    )
    assert _row(page, "rsud") == (
        "Rumah Sakit Umum Daerah 12 A – naik / +3 turun "
        "di dalam; keluar: > 500 di dalam; keluar: > 500"
    )
    assert _row(page, "dishub").startswith("Dinas Perhubungan 12 D +14 naik / – turun ")
    # Most fragile first: BPBD (1 ballot), RSUD (3), Dishub (14).
    assert page.index('id="robust-bpbd"') < page.index('id="robust-rsud"')
    assert page.index('id="robust-rsud"') < page.index('id="robust-dishub"')
    assert "3 terbaik" in text and "3 terendah" in text


def test_the_table_in_english(client: FlaskClient, closed_wave) -> None:
    login(client)
    response = client.get(PAGE + "?lang=en")
    page = response.get_data(as_text=True)
    text = _text(response)
    assert "How robust the results are to stuffed ballots" in text
    assert _row(page, "bpbd") == (
        "Badan Penanggulangan Bencana Daerah 10 C +1 up / +3 down in; leave: > 500 in; leave: > 500"
    )
    assert _row(page, "dishub").startswith("Dinas Perhubungan 12 D +14 up / – down ")
    assert "Ketahanan" not in text


def test_too_many_opds_for_the_set_counts_still_shows_categories(
    client: FlaskClient, closed_wave, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond the work limit the set columns show membership only, and the page says why."""
    monkeypatch.setattr("scoring.robustness.SET_WORK_LIMIT", 0)
    monkeypatch.setattr("survey.web.waves.TOP_K", 2)
    login(client)
    response = client.get(PAGE)
    page = response.get_data(as_text=True)
    assert "Dengan 3 OPD, jumlah suara yang mengubah himpunan terbaik" in _text(response)
    assert _row(page, "bpbd").startswith(
        "Badan Penanggulangan Bencana Daerah 10 C +1 naik / +3 turun di "
    )
    assert "keluar" not in _row(page, "bpbd") and "masuk" not in _row(page, "bpbd")


def test_an_open_wave_shows_no_robustness_yet(client: FlaskClient, closed_wave, session) -> None:
    set_wave_status(session, slug="uji-2026", status="open")
    login(client)
    response = client.get(PAGE)
    assert response.status_code == 200
    assert "robust-bpbd" not in response.get_data(as_text=True)
    assert "Ketahanan hasil" not in _text(response)


def test_a_closed_wave_without_counted_answers_shows_no_table(
    client: FlaskClient, session, users
) -> None:
    create_wave(session, slug="kosong", title="Kosong", opd_slugs=["bpbd"], status="closed")
    login(client)
    response = client.get("/kerja/gelombang/kosong")
    assert response.status_code == 200
    assert "Ketahanan hasil" not in _text(response)


# --- the ranking report ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def wave() -> ScoredWave:
    """Eight simulated OPDs (KNPI-like means, 20..80 respondents)."""
    return sample_ranking(8, seed=7)


@pytest.fixture(scope="module")
def pdf_texts(wave: ScoredWave) -> dict[str, str]:
    """The ranking report's text in each language, whitespace collapsed."""
    out = {}
    for lang in ("id", "en"):
        pdf = render_ranking_pdf(wave, lang=lang)  # type: ignore[arg-type]
        reader = pypdf.PdfReader(io.BytesIO(pdf))
        out[lang] = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    return out


@pytest.mark.parametrize("lang", ["id", "en"])
def test_ranking_report_prints_the_measure_and_every_opd_most_fragile_first(
    wave: ScoredWave, pdf_texts: dict[str, str], lang: str
) -> None:
    text = pdf_texts[lang]
    t, f = Texts(lang), Formatter(lang)  # type: ignore[arg-type]
    result = wave.robustness(5)
    assert t("methods.robust_title") in text
    paragraph = t("methods.robust", best=4, worst=1, k=5, limit=f.int(500))
    assert " ".join(paragraph.split()) in text
    rows = robustness_rows(wave, 5, t, f)
    assert [r["name"] for r in rows] == [wave.opd(u.unit).name for u in result.most_fragile()]
    positions = []
    for row, u in zip(rows, result.most_fragile(), strict=True):
        cells = ("name", "n", "category", "up", "down", "top", "bottom")
        line = " ".join(row[c] for c in cells)
        assert line in text, line
        positions.append(text.index(line))
        # The cells are the counts themselves: "+k", or "> 500" beyond the limit.
        expected = "—" if not u.up_possible() else "> 500" if u.category_up is None else ""
        assert row["up"] == (expected or f"+{u.category_up}")
        leave = u.in_top_set
        word = t("robust.leave" if leave else "robust.enter", n="").strip()
        assert word in row["top"]
    assert positions == sorted(positions)
    # At least one OPD's set membership changes within the limit (the sample is ordinary).
    assert any(u.top_change is not None or u.bottom_change is not None for u in result.units)


def test_robustness_rows_mark_impossible_and_out_of_reach_changes() -> None:
    """A hand-made wave: one OPD in A (cannot go up), a limit too small for another."""
    import numpy as np

    from reports.model import OpdInfo
    from scoring import aggregate, score_units

    aggs = {"a": aggregate(np.full((12, 9), 4)), "b": aggregate(np.full((40, 9), 3))}
    base = sample_ranking(2, seed=1)
    data = ScoredWave(
        **{
            **{
                name: getattr(base, name)
                for name in base.__dataclass_fields__
                if name not in ("_robustness",)
            },
            "opds": (OpdInfo("a", "OPD A"), OpdInfo("b", "OPD B")),
            "score": score_units(aggs, seed=0, top_k=1),
            "aggregates": aggs,
        }
    )
    rows = {r["name"]: r for r in robustness_rows(data, 1, Texts("id"), Formatter("id"))}
    # A: IKM 4.00 (A): up impossible; down: (48 + k) / (12 + k) < 3.5324 first at k = 3.
    assert (rows["OPD A"]["up"], rows["OPD A"]["down"]) == ("—", "+3")
    # B: n = 40 answering 3: up at k = 3 (0.9356 k >= 2.576), down at k = 11 (k > 10).
    assert (rows["OPD B"]["up"], rows["OPD B"]["down"]) == ("+3", "+11")
    assert rows["OPD A"]["top"].startswith("▲ keluar +")
    # B can never leave the lowest 1: however many all-4 ballots, its IKM stays below A's 4.00.
    assert rows["OPD B"]["bottom"] == "▼ keluar > 500"
    # but enough of them make A no longer surely better: B can enter the best 1.
    assert rows["OPD B"]["top"].startswith("masuk +")


def test_robustness_rows_without_set_counts() -> None:
    """61 OPDs exceed the work limit: the set cells say "not computed", categories stay."""
    data = sample_ranking(61, seed=2)
    rows = robustness_rows(data, 5, Texts("en"), Formatter("en"))
    assert len(rows) == 61
    assert {r["top"].lstrip("▲ ") for r in rows} == {"not computed"}
    assert {r["bottom"].lstrip("▼ ") for r in rows} == {"not computed"}
    assert all(r["up"].startswith(("+", ">")) or r["up"] == "—" for r in rows)

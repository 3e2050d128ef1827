"""Empirical Bayes and representativeness on the pages people read (issue 12, items 5 and 7).

One published wave built so every figure can be worked out by hand: BPBD has 20 respondents
over two survey days (day 1: five answer 4 to everything, five answer 3; day 2: five answer 2,
five answer 3), RSUD 10 on one day (five 2s, five 3s) and Dishub 12 on one day (six 4s, six 3s).
Each respondent answers every element alike, so the IKMs are 3.0, 2.5 and 3.5 and each se is
the sd of the respondents' means over sqrt(n): sqrt(1/38), 1/6 and sqrt(1/44).

BPBD's design effect by hand: day means 3.5 and 2.5, grand mean 3.0; MSB = 10 * 0.25 * 2 = 5,
MSW = 20 * 0.25 / 18 = 5/18, n0 = (20 - 200/20) / 1 = 10, ICC = (5 - 5/18) / (5 + 9 * 5/18)
= 17/27 = 0.63; m = 200/20 = 10; deff = 1 + 9 * 17/27 = 20/3 = 6.67 > 1.1, so its interval is
widened by sqrt(20/3). BPBD serves 400 people: response rate 20/400 = 5.0%.
"""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime
from html import unescape

import numpy as np
import pypdf
import pytest
from auth_helpers import login
from sqlmodel import Session, select
from survey_helpers import add_responses, set_wave_status

from reports.formatting import format_number
from reports.posterior import posterior_of, posterior_section, to_converted, unit_posterior_view
from reports.sample import sample_ranking
from scoring.bayes import posterior
from scoring.schemes import PERMENPANRB_2017
from scoring.units import VARIANCE_PRIOR_DF, stabilised_variances
from survey.core.models import Opd, Wave
from survey.core.representation import wave_design

DAY1 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 09:00 in Jakarta
DAY2 = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)
ESTIMATES = {"bpbd": 3.0, "rsud": 2.5, "dishub": 3.5}
SE = {"bpbd": math.sqrt(1 / 38), "rsud": 1 / 6, "dishub": math.sqrt(1 / 44)}
N = {"bpbd": 20, "rsud": 10, "dishub": 12}


@pytest.fixture
def published(session: Session, open_wave, users) -> Wave:
    bpbd = session.exec(select(Opd).where(Opd.slug == "bpbd")).one()
    bpbd.service_population = 400
    session.add(bpbd)
    session.commit()
    add_responses(session, open_wave, "bpbd", [[4] * 9] * 5 + [[3] * 9] * 5,
                  submitted_at=DAY1, channel="kiosk")  # fmt: skip
    add_responses(session, open_wave, "bpbd", [[2] * 9] * 5 + [[3] * 9] * 5,
                  submitted_at=DAY2, channel="qr")  # fmt: skip
    add_responses(session, open_wave, "rsud", [[2] * 9] * 5 + [[3] * 9] * 5, submitted_at=DAY1)
    add_responses(session, open_wave, "dishub", [[4] * 9] * 6 + [[3] * 9] * 6, submitted_at=DAY1)
    set_wave_status(session, slug="uji-2026", status="closed")
    return set_wave_status(session, slug="uji-2026", status="published")


def num(value: float, digits: int = 1) -> str:
    return format_number(value, "id", digits)


def expected_posterior():
    """The model's figures from the hand-computed IKMs and standard errors (3 OPDs, K = 3).

    The wave's standard errors are stabilised toward the pool before the model sees them
    (``stabilised_variances``, checked by hand in test_small_n.py).
    """
    slugs = list(ESTIMATES)
    se, _df = stabilised_variances(
        np.array([SE[s] for s in slugs]), np.array([N[s] for s in slugs]), VARIANCE_PRIOR_DF
    )
    return posterior(
        slugs,
        [ESTIMATES[s] for s in slugs],
        list(se),
        scheme=PERMENPANRB_2017,
        top_k=3,
        seed=0,
    )


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def scores(runner) -> dict[str, dict]:
    result = runner.invoke(args=["score", "--wave", "uji-2026", "--format", "json"])
    assert result.exit_code == 0, result.output
    return {row["opd"]: row for row in json.loads(result.stdout)}


def widened_bpbd(runner) -> str:
    row = scores(runner)["bpbd"]
    assert row["ikm"] == 3.0
    factor = math.sqrt(20 / 3)
    low = max(25.0, 75 - (75 - row["ci_low"]) * factor)
    high = min(100.0, 75 + (row["ci_high"] - 75) * factor)
    return f"{num(low)}–{num(high)}"


def test_the_hand_computed_model_matches_the_scores(runner, published) -> None:
    rows = scores(runner)
    for slug, value in ESTIMATES.items():
        assert rows[slug]["ikm"] == pytest.approx(value, abs=1e-12)
        # The wave's published EB score is the posterior mean of the model.
        assert rows[slug]["shrunken"] == pytest.approx(expected_posterior().unit(slug).mean)


def test_public_wave_page_shows_adjusted_scores_and_counts(client, published) -> None:
    page = unescape(client.get("/hasil/uji-2026").get_data(as_text=True))
    result = expected_posterior()
    assert "Skor yang disesuaikan (Bayes empiris)" in page
    assert "ditarik lebih kuat ke arah rata-rata" in page
    assert "menurut model" in page
    for u in result.units:
        row = page.split(f'<tr data-opd="{u.unit}">', 1)[1].split("</tr>", 1)[0]
        assert f'<td class="num adjusted">{num(to_converted(u.mean))}</td>' in row
        assert f'<td class="num expected-rank">{num(u.expected_rank)}</td>' in row
        good = round(100 * u.p_good)
        shown = "> 99%" if u.p_good > 0.995 else "< 1%" if u.p_good < 0.005 else f"{good}%"
        assert f'<td class="num good">{shown}</td>' in row
        # K = 3 of 3 OPDs: everyone is among the best 3, so the column is left out.
        assert 'class="num top"' not in row
    b = result.counts[1]
    assert b.category.code == "B"
    assert f"B (Baik): {num(b.expected)} OPD (95%: {b.low}–{b.high})" in page
    assert f"τ² = {num(result.tau2, 4)}" in page


def test_category_counts_carry_their_uncertainty(client, published) -> None:
    """Each observed count in the summary ("n OPD kategori ...") is followed by the model's
    count of OPDs truly in that category with its 95% range, on the page and in the PDF."""
    page = " ".join(unescape(client.get("/hasil/uji-2026").get_data(as_text=True)).split())
    document = pdf_text(client.get("/r/uji-2026/ranking.pdf").data)
    result = expected_posterior()
    # Observed: rsud 2.5 (62.5) is D, bpbd 3.0 (75.0) C, dishub 3.5 (87.5) B.
    observed = {"A": 0, "B": 1, "C": 1, "D": 1}
    for c in result.counts:
        code = c.category.code
        clause = (
            f"; yang sebenarnya di kategori ini menurut model: {num(c.expected)} OPD "
            f"(95%: {c.low}–{c.high})"
        )
        assert f"({code}){clause}" in page
        assert f"({code}){clause}" in document.replace("– ", "–")  # a line may break after –
        assert f"{observed[code]} OPD (" in page
    assert sum(c.expected for c in result.counts) == pytest.approx(3)


def test_opd_head_page_explains_the_model_and_the_sample(client, runner, published) -> None:
    login(client, "kepala-bpbd")
    response = client.get("/kerja/hasil-opd/bpbd/uji-2026")
    assert response.status_code == 200
    page = unescape(response.get_data(as_text=True))
    u = expected_posterior().unit("bpbd")
    assert f"skor yang disesuaikan OPD ini {num(to_converted(u.mean))}" in page
    assert f"skor OPD sendiri {num(75.0)} dari 20 responden" in page
    assert f"ditarik {round(100 * u.shrinkage)}%" in page
    assert "kategori B (Baik) atau lebih baik" in page
    # Representativeness, by hand (module docstring).
    assert "20 responden dari 400 orang yang dilayani (tingkat respons 5,0%)" in page
    assert "Jalur pengisian: kios 50%, web/QR 50%." in page
    assert "Jawaban dikumpulkan pada 2 hari; efek desain 6,67 (ICC 0,63)." in page
    assert f"menjadi {widened_bpbd(runner)}" in page


def test_opd_head_page_of_a_one_day_opd_keeps_its_interval(client, published) -> None:
    login(client, "kepala-rsud")
    page = unescape(client.get("/kerja/hasil-opd/rsud/uji-2026").get_data(as_text=True))
    assert "jumlah orang yang dilayani belum diisi" in page
    assert "Jawaban dikumpulkan pada 1 hari; efek desain 1,00 (ICC —)." in page
    assert "interval skor tidak diubah" in page


def test_ranking_pdf_prints_both_sections(client, runner, published) -> None:
    response = client.get("/r/uji-2026/ranking.pdf")
    assert response.status_code == 200
    document = pdf_text(response.data)
    result = expected_posterior()
    assert "Skor yang disesuaikan (Bayes empiris)" in document
    for u in result.units:
        assert f"{num(to_converted(u.estimate))} {num(to_converted(u.mean))}" in document
    assert "Keterwakilan responden" in document
    assert f"6,67 {widened_bpbd(runner)} diperlebar" in document
    assert "kios 50%, web/QR 50%" in document
    assert "5,0%" in document


def test_english_wave_page(client, published) -> None:
    page = unescape(client.get("/hasil/uji-2026?lang=en").get_data(as_text=True))
    assert "Adjusted scores (empirical Bayes)" in page
    assert "pulled more strongly toward the average" in page
    u = expected_posterior().unit("dishub")
    assert f'<td class="num adjusted">{format_number(to_converted(u.mean), "en", 1)}</td>' in page


def test_section_with_sets_and_left_out_opds() -> None:
    data = sample_ranking(8, seed=3)
    slugs = [u.unit for u in data.units()]
    section = posterior_section(data, leave_out={slugs[0]})
    assert section is not None and section["show_sets"]
    ranks = [r["sort"] for r in section["rows"]]
    assert ranks == sorted(ranks)  # by expected rank
    assert slugs[0] not in {r["slug"] for r in section["rows"]}
    name = data.opd(slugs[0]).short_name or data.opd(slugs[0]).name
    assert section["left_out"] == f"Tidak dimodelkan (belum cukup data untuk diperingkat): {name}."
    result = posterior_of(data, {slugs[0]})
    assert result is not None and result.top_k == 5
    for row in section["rows"]:
        u = result.unit(row["slug"])
        shown = round(100 * u.p_top)
        assert row["top"] in (f"{shown}%", "> 99%", "< 1%")
    view = unit_posterior_view(data, slugs[0], leave_out={slugs[0]})
    assert view is not None
    assert view["sentences"] == ["OPD ini belum cukup data untuk dimodelkan dan diperingkat."]


def test_survey_days_are_jakarta_days(session: Session, open_wave) -> None:
    # 16:30 UTC is 23:30 in Jakarta on 2 March; 17:30 UTC is 00:30 on 3 March: two survey
    # days (one in UTC). Day means 4 and 2, no spread within: ICC = 1, deff = m = 2.
    late, after_midnight = (datetime(2026, 3, 2, h, 30, tzinfo=UTC) for h in (16, 17))
    add_responses(session, open_wave, "rsud", [[4] * 9] * 2, submitted_at=late)
    add_responses(session, open_wave, "rsud", [[2] * 9] * 2, submitted_at=after_midnight,
                  channel="kiosk")  # fmt: skip
    add_responses(session, open_wave, "rsud", [[None] * 9], submitted_at=DAY1)  # no IKM answer
    design = wave_design(session, wave=open_wave)
    assert list(design) == ["rsud"]
    rsud = design["rsud"]
    assert (rsud.n, rsud.effect.days) == (4, 2)
    assert rsud.effect.icc == 1.0 and rsud.effect.deff == 2.0
    assert rsud.population is None and rsud.rate is None
    assert [(c.channel, c.count) for c in rsud.channels] == [("kiosk", 2), ("qr", 2)]

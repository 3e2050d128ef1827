"""Issue 12, items 2-4: any Likert scale, intervals that never lie, the display rule.

Hand-computed values throughout: converted = 25 + 75 (IKM - 1) / (m - 1); a 5-point mean of
3.55 converts to 25 + 75 x 2.55 / 4 = 72.8125 (C, not A).
"""

from __future__ import annotations

import io
import json
import math
import re
import zipfile
from fractions import Fraction
from html import unescape

import numpy as np
import pytest
from code_helpers import pdf_text
from sqlmodel import Session
from survey_helpers import add_responses, create_wave, questionnaire_of_scale, set_wave_status

from reports.formatting import Formatter, category_decimal
from scoring import aggregate, bootstrap_ikm, ikm, score_units
from scoring.ikm import PSEUDO
from scoring.schemes import KEPMENPAN_2004, PERMENPANRB_2017, Scheme, converted, from_converted

# --- one conversion ---------------------------------------------------------------------


@pytest.mark.parametrize("value", [1.0, 2.6, 3.0644, 3.5323999999999995, 3.7777777777777777, 4.0])
def test_four_point_conversion_is_25_times_ikm_to_the_last_bit(value):
    assert converted(value, 4) == value * 25
    assert converted(Fraction(value), 4) == Fraction(value) * 25


def test_conversion_on_five_and_seven_points_by_hand():
    assert converted(3.55, 5) == 72.8125  # 25 + 75 * 2.55 / 4
    assert converted(Fraction(71, 20), 5) == Fraction(1165, 16)  # 72.8125 exactly
    assert converted(1.0, 7) == 25.0 and converted(7.0, 7) == 100.0
    assert converted(Fraction(91, 20), 7) == Fraction(555, 8)  # 4.55 on 7: 69.375
    assert from_converted(Fraction(555, 8), 7) == Fraction(91, 20)
    with pytest.raises(ValueError, match="scale_points"):
        converted(3.0, 1)


def test_categories_of_other_scales_are_on_the_converted_score():
    # 3.55 on 5 points is 72.8125: C (the 4-point table would say A).
    assert PERMENPANRB_2017.categorize(3.55, 5).code == "C"
    assert PERMENPANRB_2017.categorize(3.55).code == "A"
    # Above 4 is allowed on 5 points: 4.6 -> 92.5 (A); 4.0 -> 81.25 (B).
    assert PERMENPANRB_2017.categorize(4.6, 5).code == "A"
    assert PERMENPANRB_2017.categorize(4.0, 5).code == "B"
    # Exact at the converted bound 88.31 on 5 points: IKM = 1 + 63.31 * 4 / 75.
    bound = from_converted(Fraction(8831, 100), 5)
    assert PERMENPANRB_2017.categorize(bound, 5).code == "A"
    assert PERMENPANRB_2017.categorize(bound - Fraction(1, 10**9), 5).code == "B"
    with pytest.raises(ValueError, match=r"outside the scale 1\.\.5"):
        PERMENPANRB_2017.categorize(5.01, 5)
    # 4-point results are unchanged, exactly at the regulation's bounds.
    assert PERMENPANRB_2017.categorize(3.5324).code == "A"
    assert PERMENPANRB_2017.categorize(3.5323).code == "B"
    assert KEPMENPAN_2004.categorize(3.26).code == "A"


def test_custom_scheme_with_bounds_above_four_on_a_five_point_scale():
    scheme = Scheme.from_dicts(
        [
            {"code": "P", "label_id": "Puas", "min_ikm": 4.2},
            {"code": "T", "label_id": "Tidak puas", "min_ikm": 1},
        ],
        name="lima",
        scale_points=5,
    )
    assert scheme.categories[0].min_converted == 85.0  # 25 + 75 * 3.2 / 4
    assert scheme.categorize(4.2, 5).code == "P" and scheme.categorize(4.19, 5).code == "T"
    # The stored dicts carry the scale, so the database round trip keeps it.
    again = Scheme.from_dicts(scheme.as_dicts(), name="lima")
    assert again.scale_points == 5 and again.categorize(4.2, 5).code == "P"
    # On a 4-point questionnaire the same scheme compares converted scores: 3.4 -> 85.
    assert scheme.categorize(3.4, 4).code == "P"
    with pytest.raises(ValueError, match=r"outside 1\.\.4"):
        Scheme.from_dicts([{"code": "P", "label_id": "x", "min_ikm": 4.2}, {
            "code": "T", "label_id": "y", "min_ikm": 1}])  # fmt: skip


def test_five_point_mean_above_four_scores_with_intervals_on_one_to_five():
    rows = np.array([[5] * 9] * 10 + [[4] * 9] * 10, dtype=float)
    res = ikm(rows, scale_points=5)
    assert res.ikm == 4.5 and res.converted() == 90.625 and res.category().code == "A"
    ci = res.confidence_interval()
    assert 4.0 < ci.low < 4.5 < ci.high < 5.0 and ci.scale_points == 5
    low, high = ci.converted()
    assert low == pytest.approx(25 + 75 * (ci.low - 1) / 4) and high < 100
    agg = aggregate(rows, scale_points=5)
    assert ikm(agg).converted() == 90.625  # Aggregates carry their scale


def test_seven_point_wave_scores_by_hand():
    # bpbd: half 7, half 6 -> 6.5 -> 93.75 (A); rsud: 11 x 5, 9 x 4 -> 4.55 -> 69.375 (C).
    aggs = {
        "bpbd": aggregate(np.array([[7] * 9] * 10 + [[6] * 9] * 10), scale_points=7),
        "rsud": aggregate(np.array([[5] * 9] * 11 + [[4] * 9] * 9), scale_points=7),
    }
    wave = score_units(aggs, seed=1)
    bpbd, rsud = wave.unit("bpbd"), wave.unit("rsud")
    assert (bpbd.converted(), bpbd.category().code) == (93.75, "A")
    assert rsud.converted() == pytest.approx(69.375, abs=1e-12) and rsud.category().code == "C"
    assert 1 < rsud.interval.low < 4.55 < rsud.interval.high < 7
    assert rsud.as_dict()["ci_high"] < 100


# --- intervals that never lie -------------------------------------------------------------


def _logit_by_hand(p: float, s2: float, n: int, m: int) -> tuple[float, float]:
    """The documented formula written out once more, from p and the respondent variance."""
    w = PSEUDO
    pt = (n * p + w) / (n + 2 * w)
    var = ((n - 1) * s2 + n * (p - pt) ** 2 + w * (pt**2 + (1 - pt) ** 2)) / (n + 2 * w - 1)
    half = 1.959963984540054 * math.sqrt(var / (n + 2 * w)) / (pt * (1 - pt))
    centre = math.log(pt / (1 - pt))
    low, high = (1 + (m - 1) / (1 + math.exp(-(centre + d))) for d in (-half, half))
    estimate = 1 + (m - 1) * p
    return min(low, estimate), max(high, estimate)


def test_all_answers_four_at_n20_has_positive_width_inside_the_scale():
    ci = ikm(np.full((20, 9), 4.0)).confidence_interval()
    # p = 1, s^2 = 0: p~ = 20.1 / 20.2.
    low, high = _logit_by_hand(1.0, 0.0, 20, 4)
    assert (ci.low, ci.high) == pytest.approx((low, high), rel=1e-12)
    assert round(ci.low, 4) == 1.7663 and ci.high == 4.0 and ci.width() > 0
    assert ci.degenerate and ci.method == "analytic-logit"


def test_all_one_and_all_four_at_n2_give_distinct_intervals_inside_the_scale():
    ones = ikm(np.full((2, 9), 1.0)).confidence_interval()
    fours = ikm(np.full((2, 9), 4.0)).confidence_interval()
    assert (ones.low, ones.high) == pytest.approx(_logit_by_hand(0.0, 0.0, 2, 4), rel=1e-12)
    assert (fours.low, fours.high) == pytest.approx(_logit_by_hand(1.0, 0.0, 2, 4), rel=1e-12)
    for ci in (ones, fours):
        assert 1 <= ci.low < ci.high <= 4 and ci.unreliable and ci.degenerate
    # Mirror images: all 1 sits low, all 4 sits high.
    assert ones.low < fours.low and ones.high < fours.high
    assert (ones.low, fours.high) == (1.0, 4.0)
    assert fours.low - 1 == pytest.approx(4 - ones.high, abs=1e-12)


def test_one_element_answered_once_keeps_the_interval_at_n25():
    rows = np.array([[4, 3, 3, 4, 3, 3, 4, 3, 2]] * 12 + [[3, 2, 3, 3, 2, 3, 3, 3, 3]] * 13, float)
    rows[1:, 8] = np.nan  # only the first respondent answered U9 (with 2)
    res = ikm(rows)
    assert res.n_answers[8] == 1 and math.isnan(res.nrr_se()[8])
    ci = res.confidence_interval()
    assert math.isfinite(ci.low) and ci.low < res.ikm < ci.high
    # By hand: U1..U8 each move together (rows of two kinds), U9 gets the largest respondent
    # variance of the others and perfect correlation. Respondent variance of U1 (12 x 4,
    # 13 x 3): 12 * 13 / 25 / 24 = 0.26 -> every element of U1..U8 has either 0.26 or 0.
    # The deviations of U2 and U9-free columns: U1, U2, U4, U5, U7 vary (+1 step), U3, U6,
    # U8 are constant except U8 (3 vs 3) = 0; so the IKM se is sqrt(w' C w) with w = 1/9.
    sd = math.sqrt(0.26 / 25)  # se of a varying element's mean
    varying = [0, 1, 3, 4, 6]  # columns whose two row kinds differ (each by exactly 1)
    se_u9 = math.sqrt(0.26 / 1)
    se = (len(varying) * sd + se_u9) / 9  # all perfectly correlated: the se's add up
    assert res.se() == pytest.approx(se, rel=1e-12)
    p = (res.ikm - 1) / 3
    low, high = _logit_by_hand(p, 25 * (se / 3) ** 2, 25, 4)
    assert (ci.low, ci.high) == pytest.approx((low, high), rel=1e-12)
    # The element itself has no interval of its own (one answer), the others do.
    elements = res.element_intervals()
    assert math.isnan(elements[8].low) and all(math.isfinite(e.low) for e in elements[:8])


def test_bootstrap_never_collapses():
    res = bootstrap_ikm(np.full((25, 9), 3.0), n_resamples=200, rng=1)
    assert res.interval.width() > 0 and res.interval.degenerate
    assert 1 <= res.interval.low < 3.0 < res.interval.high <= 4


def test_a_unit_with_all_answers_equal_is_not_called_certain():
    aggs = {
        "flat": aggregate(np.full((20, 9), 4.0)),
        "other": aggregate(np.array([[3, 2, 3, 3, 4, 3, 3, 2, 3]] * 10 + [[2] * 9] * 10)),
    }
    wave = score_units(aggs, seed=0)
    flat = wave.unit("flat")
    assert flat.interval.degenerate and flat.interval.width() > 0
    assert flat.crosses_boundary()  # 1.77..4: the category is not known from 20 equal answers


# --- the display rule ----------------------------------------------------------------------


def test_display_rule_never_contradicts_the_category():
    f = Formatter("id")
    ikm_bounds = PERMENPANRB_2017.shown_bounds(converted=False)
    conv_bounds = PERMENPANRB_2017.shown_bounds(converted=True)
    assert ikm_bounds == (3.5324, 3.0644, 2.6, 1.0)
    # 2.5996 is D: never "2,60" (the lower bound of C).
    assert PERMENPANRB_2017.categorize(2.5996).code == "D"
    assert f.num(2.5996) == "2,60" and f.beside(2.5996, ikm_bounds) == "2,5996"
    # A converted 88.306 is B: never "88,31" (the lower bound of A) beside a real 88.31 in A.
    assert PERMENPANRB_2017.categorize(88.306 / 25).code == "B"
    assert f.beside(88.306, conv_bounds) == "88,306" and f.beside(88.31, conv_bounds) == "88,31"
    # Away from the bounds nothing changes; an A exactly at its bound shows all its decimals.
    assert f.beside(3.0744, ikm_bounds) == "3,07" and f.beside(3.5324, ikm_bounds) == "3,5324"
    assert f.beside(3.5329, ikm_bounds) == "3,533"  # "3,53" would fall below A's 3,5324
    # Beyond two extra decimals the value is cut toward its own side.
    assert str(category_decimal(2.5999999, ikm_bounds)) == "2.5999"


def test_display_rule_on_a_unit_of_a_wave():
    # IKM 3.5322 (B) converts to 88.305, which rounds half up to 88.31 (A's bound).
    rows = np.array([[4] * 9] * 5322 + [[3] * 9] * 4678, float)
    res = ikm(aggregate(rows))
    assert res.exact == Fraction(35322, 10000) and res.category().code == "B"
    f = Formatter("en")
    assert f.unit_conv(res) == "88.305" and f.unit_score(res) == "3.53"


# --- 5- and 7-point waves through the CLI, the public pages, the ZIP and the PDFs -------


# points: (high value, high-1) for bpbd, (mid, mid-1) x (11, 9) for rsud, and the expected
# IKMs and converted scores, by hand.
CASES = {
    5: (5, 3.55, 90.625, 72.8125),  # bpbd 4.5 -> 25 + 75 * 3.5 / 4; rsud 3.55 -> 72.8125
    7: (7, 4.55, 93.75, 69.375),  # bpbd 6.5 -> 25 + 75 * 5.5 / 6; rsud 4.55 -> 69.375
}


@pytest.fixture(params=[5, 7])
def scaled_wave(request, session: Session, open_wave):
    points = request.param
    top, _rsud_ikm, _b, _r = CASES[points]
    questionnaire = questionnaire_of_scale(session, points)
    wave = create_wave(
        session,
        slug=f"skala-{points}-2026",
        title=f"Skala {points} 2026",
        opd_slugs=["bpbd", "rsud", "dishub"],
        questionnaire_id=questionnaire.id,
        status="open",
    )
    mid = {5: 4, 7: 5}[points]
    add_responses(session, wave, "bpbd", [[top] * 9] * 10 + [[top - 1] * 9] * 10)
    add_responses(session, wave, "rsud", [[mid] * 9] * 11 + [[mid - 1] * 9] * 9)
    add_responses(session, wave, "dishub", [[top] * 9] * 3)  # mean above 4 at n = 3
    set_wave_status(session, slug=wave.slug, status="closed")
    set_wave_status(session, slug=wave.slug, status="published")
    return points, wave.slug


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def test_scaled_wave_through_the_cli(runner, scaled_wave):
    points, slug = scaled_wave
    _top, rsud_ikm, bpbd_conv, rsud_conv = CASES[points]
    result = runner.invoke(args=["score", "--wave", slug, "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {row["opd"]: row for row in json.loads(result.stdout)}
    bpbd, rsud, dishub = rows["bpbd"], rows["rsud"], rows["dishub"]
    assert bpbd["ikm"] == points - 0.5 and bpbd["ikm_converted"] == bpbd_conv
    assert bpbd["category"] == "A"
    assert rsud["ikm"] == pytest.approx(rsud_ikm, abs=1e-12)
    assert rsud["ikm_converted"] == pytest.approx(rsud_conv, abs=1e-10)
    assert rsud["category"] == "C"  # not the 4-point table's A
    assert dishub["ikm_converted"] == 100.0 and dishub["category"] == "A"
    for row in rows.values():
        assert 25 <= row["ci_low"] < row["ikm_converted"] <= row["ci_high"] <= 100
        assert row["ci_high"] > row["ci_low"]
        for element in row["elements"].values():
            assert 1 <= element["ci_low"] < element["ci_high"] <= points
    table = runner.invoke(args=["score", "--wave", slug])
    assert table.exit_code == 0, table.output


def test_scaled_wave_public_page_and_open_data(client, scaled_wave):
    points, slug = scaled_wave
    page = client.get(f"/hasil/{slug}")
    assert page.status_code == 200
    body = _text(page.get_data(as_text=True))
    conv = {5: "72,81", 7: "69,38"}[points]
    assert conv in body and f"IKM (1–{points})" in body
    opd_page = client.get(f"/hasil/{slug}/rsud")
    assert opd_page.status_code == 200
    assert f"skala 1–{points}" in _text(opd_page.get_data(as_text=True))
    archive = client.get(f"/hasil/{slug}/data-terbuka.zip")
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(archive.data)) as z:
        readme = z.read(f"{slug}/README.md").decode()
        scores = json.loads(z.read(f"{slug}/scores.json"))
    assert f"Answers on a 1–{points} scale" in readme and "1–4" not in readme
    rsud = next(row for row in scores if row["opd"] == "rsud")
    assert rsud["category"] == "C" and rsud["ikm_converted"] == pytest.approx(
        {5: 72.8125, 7: 69.375}[points], abs=1e-10
    )


def test_scaled_wave_reports(runner, client, scaled_wave, tmp_path):
    points, slug = scaled_wave
    pdf = client.get(f"/r/{slug}/ranking.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    target = tmp_path / "ranking.pdf"
    result = runner.invoke(args=["report", "ranking", "--wave", slug, "-o", str(target)])
    assert result.exit_code == 0, result.output
    ranking = pdf_text(target.read_bytes())
    conv = {5: "72,81", 7: "69,38"}[points]
    assert conv in ranking and f"(m − 1), dengan m = {points}" in " ".join(ranking.split())
    result = runner.invoke(
        args=["report", "opd", "--wave", slug, "--opd", "rsud", "-o", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    opd = pdf_text((tmp_path / f"{slug}-rsud.pdf").read_bytes())
    assert conv in opd and f"(1–{points})" in opd

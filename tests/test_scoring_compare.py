"""Funnel plots, shrinkage, Kruskal-Wallis, sample sizes and alpha (compare, planning)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from scoring import (
    AlphaResult,
    cronbach_alpha,
    funnel,
    krejcie_morgan,
    kruskal_units,
    margin_of_error,
    respondent_means,
    sample_size_for_margin,
    shrink,
)
from scoring.bayes import reml_tau2

# --- funnel plot ----------------------------------------------------------------------------

Y = [3.0, 3.2, 2.8, 3.1, 3.05]
SE = [0.1, 0.1, 0.1, 0.05, 0.05]


def hand_funnel():
    """Spiegelhalter's steps done by hand for the five units above."""
    w = [1 / s**2 for s in SE]  # 100, 100, 100, 400, 400
    target = sum(wi * yi for wi, yi in zip(w, Y, strict=True)) / sum(w)  # 3360 / 1100
    z = [(yi - target) / si for yi, si in zip(Y, SE, strict=True)]
    ordered = sorted(z)
    # 10% and 90% quantiles of 5 values, linear rule: positions 0.4 and 3.6.
    q10 = ordered[0] + 0.4 * (ordered[1] - ordered[0])
    q90 = ordered[3] + 0.6 * (ordered[4] - ordered[3])
    phi = sum(min(max(v, q10), q90) ** 2 for v in z) / 5
    # The additive limits use the project's one tau^2 (REML, scoring.bayes.reml_tau2), not
    # Spiegelhalter's moment estimate from phi: checked below against the restricted likelihood.
    tau2 = reml_tau2(Y, [s * s for s in SE])
    return target, phi, tau2


def test_funnel_additive_by_hand():
    target, phi, tau2 = hand_funnel()
    assert target == pytest.approx(3360 / 1100, rel=1e-15)
    res = funnel(Y, SE)
    assert res.target == pytest.approx(target, rel=1e-14)
    assert res.phi == pytest.approx(phi, rel=1e-12)
    assert res.tau2 == pytest.approx(tau2, rel=1e-12)
    assert phi == pytest.approx(1.14149, abs=1e-5)
    # REML tau^2 of these five units; the same number the shrinkage uses (one tau^2).
    assert tau2 == pytest.approx(0.0091746, abs=1e-7)
    assert res.tau2 == shrink(Y, SE).tau2
    low, high = res.limits(0.95)
    half = 1.959963984540054 * math.sqrt(0.01 + tau2)
    assert low[2] == pytest.approx(target - half, rel=1e-12)
    assert high[2] == pytest.approx(target + half, rel=1e-12)
    # 2.8 is 0.2545 below the target, inside the half-width 0.2710 once tau^2 is added.
    assert res.position(0.95).tolist() == ["inside"] * 5
    assert funnel(Y, SE, tau2=0.0021839).position(0.95).tolist() == [
        "inside", "inside", "below", "inside", "inside"]  # fmt: skip
    assert res.position(0.998).tolist() == ["inside"] * 5
    np.testing.assert_allclose(res.z_scores(), (np.array(Y) - target) / np.array(SE))


def test_funnel_multiplicative_and_none():
    target, phi, _ = hand_funnel()
    mult = funnel(Y, SE, overdispersion="multiplicative")
    low, high = mult.limits(0.998)
    assert high[0] - target == pytest.approx(3.090232306167813 * math.sqrt(phi) * 0.1)
    assert mult.tau2 == 0.0
    plain = funnel(Y, SE, overdispersion="none")
    low, _ = plain.limits(0.95)
    assert low[3] == pytest.approx(target - 1.959963984540054 * 0.05)
    assert plain.position(0.95).tolist() == ["inside", "inside", "below", "inside", "inside"]
    assert plain.position(0.998).tolist() == ["inside"] * 5


def test_funnel_limits_on_a_grid_and_a_stated_target():
    res = funnel(Y, SE, target=3.0, overdispersion="none")
    low, high = res.limits(0.95, se=[0.2, 0.1, 0.05])
    np.testing.assert_allclose(high - 3.0, 1.959963984540054 * np.array([0.2, 0.1, 0.05]))
    np.testing.assert_allclose(low + high, 6.0)


def test_funnel_under_dispersion_never_narrows_the_limits():
    res = funnel([3.0, 3.01, 2.99, 3.0], [0.1] * 4, overdispersion="multiplicative")
    assert res.phi < 1
    _, high = res.limits(0.95)
    assert high[0] - res.target == pytest.approx(1.959963984540054 * 0.1)
    assert funnel([3.0, 3.01, 2.99, 3.0], [0.1] * 4).tau2 == 0.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(estimates=[3.0], se=[0.1]), "at least 2 units"),
        (dict(estimates=[3.0, 3.1], se=[0.1, 0.0]), r"se\[1\] = 0.0"),
        (dict(estimates=[3.0, 3.1], se=[0.1, 0.1], overdispersion="extra"), "overdispersion"),
        (dict(estimates=[3.0, 3.1], se=[0.1, 0.1], winsor=0.5), "winsor"),
    ],
)
def test_funnel_inputs_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        funnel(**kwargs)


# --- shrinkage ------------------------------------------------------------------------------


def test_dersimonian_laird_by_hand():
    # w = 100, 25, 25; weighted mean 0.3; Q = 4 + 1 + 9 = 14; C = 150 - 11250/150 = 75;
    # tau^2 = (14 - 2) / 75 = 0.16.
    res = shrink([0.1, 0.5, 0.9], [0.1, 0.2, 0.2], method="dl")
    assert res.tau2 == pytest.approx(0.16, rel=1e-14)
    # Random-effects weights 1/0.17, 1/0.2, 1/0.2 give the mean 129/270.
    assert res.mean == pytest.approx(129 / 270, rel=1e-14)
    np.testing.assert_allclose(res.factor(), [0.01 / 0.17, 0.2, 0.2], rtol=1e-14)
    expected = [(1 / 17) * 129 / 270 + (16 / 17) * 0.1, 0.2 * 129 / 270 + 0.8 * 0.5,
                0.2 * 129 / 270 + 0.8 * 0.9]  # fmt: skip
    np.testing.assert_allclose(res.shrunken(), expected, rtol=1e-14)
    np.testing.assert_allclose(res.posterior_se(), np.sqrt([0.16 / 0.17 * 0.01, 0.8 * 0.04,
                                                            0.8 * 0.04]))  # fmt: skip


# BCG vaccine trials (Colditz et al. 1994), the standard example of R's metafor: log risk ratios
# give REML tau^2 = 0.3132 (estimate -0.7145), DL tau^2 = 0.3088 (estimate -0.7141).
BCG = np.array(
    [[4, 119, 11, 128], [6, 300, 29, 274], [3, 228, 11, 209], [62, 13536, 248, 12619],
     [33, 5036, 47, 5761], [180, 1361, 372, 1079], [8, 2537, 10, 619], [505, 87886, 499, 87892],
     [29, 7470, 45, 7232], [17, 1699, 65, 1600], [186, 50448, 141, 27197], [5, 2493, 3, 2338],
     [27, 16886, 29, 17825]], dtype=np.float64,
)  # fmt: skip


@pytest.mark.parametrize("method, tau2, mean", [("reml", 0.3132, -0.7145), ("dl", 0.3088, -0.7141)])
def test_published_meta_analysis(method, tau2, mean):
    tpos, tneg, cpos, cneg = BCG.T
    y = np.log(tpos / (tpos + tneg)) - np.log(cpos / (cpos + cneg))
    v = 1 / tpos - 1 / (tpos + tneg) + 1 / cpos - 1 / (cpos + cneg)
    res = shrink(y, np.sqrt(v), method=method)
    assert round(res.tau2, 4) == tau2
    assert round(res.mean, 4) == mean


def test_reml_is_the_maximum_of_the_restricted_likelihood():
    rng = np.random.default_rng(3)
    se = rng.uniform(0.05, 0.2, 20)
    y = rng.normal(3.0, 0.15, 20) + rng.normal(0, se)
    res = shrink(y, se)

    def loglik(t2):
        v = se**2 + t2
        w = 1 / v
        mu = np.sum(w * y) / np.sum(w)
        return -0.5 * (np.sum(np.log(v)) + np.log(np.sum(w)) + np.sum(w * (y - mu) ** 2))

    assert res.tau2 > 0
    grid = np.linspace(0, 0.1, 2001)
    assert loglik(res.tau2) >= max(loglik(t) for t in grid) - 1e-12


def test_homogeneous_units_are_shrunk_all_the_way():
    for method in ("reml", "dl"):
        res = shrink([3.0, 3.0, 3.0, 3.0], [0.1, 0.2, 0.1, 0.3], method=method)
        assert res.tau2 == 0.0
        np.testing.assert_allclose(res.shrunken(), 3.0)
    with pytest.raises(ValueError, match="method must be 'reml' or 'dl'"):
        shrink([3.0, 3.1], [0.1, 0.1], method="ml")


# --- Kruskal-Wallis -------------------------------------------------------------------------


def test_kruskal_by_hand_and_against_scipy():
    res = kruskal_units([[1, 2, 3], [4, 5, 6]], pairwise=True)
    # Mean ranks 2 and 5: H = 12 / 42 * (3 * 1.5^2 + 3 * 1.5^2) = 27/7.
    assert res.statistic == pytest.approx(27 / 7, rel=1e-12)
    assert res.df == 1
    # Dunn: z = 3 / sqrt(6 * 7 / 12 * (1/3 + 1/3)); one pair, so Holm changes nothing.
    z = 3 / math.sqrt(3.5 * 2 / 3)
    assert res.pairwise_pvalues[0, 1] == pytest.approx(2 * stats.norm.sf(z), rel=1e-12)
    groups = [[3.1, 3.4, 3.3, 3.6, 3.3], [2.1, 2.4, 2.2, 2.5], [3.2, 3.0, 3.5, 3.3]]
    ours = kruskal_units(groups)
    ref = stats.kruskal(*groups)
    assert ours.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert ours.pvalue == pytest.approx(ref.pvalue, rel=1e-12)
    assert ours.pairwise_pvalues is None and ours.differs()


def test_dunn_with_holm_on_three_groups():
    groups = [[1, 2, 3, 4], [5, 6, 7, 8], [2.5, 4.5, 6.5, 8.5]]
    res = kruskal_units(groups, pairwise=True)
    pooled = np.concatenate(groups)
    ranks = stats.rankdata(pooled)
    mean = [ranks[:4].mean(), ranks[4:8].mean(), ranks[8:].mean()]
    spread = 12 * 13 / 12  # no ties
    raw = {}
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        z = (mean[i] - mean[j]) / math.sqrt(spread * (1 / 4 + 1 / 4))
        raw[i, j] = 2 * stats.norm.sf(abs(z))
    order = sorted(raw, key=raw.get)
    holm, running = {}, 0.0
    for step, pair in enumerate(order):
        running = max(running, min(1.0, (3 - step) * raw[pair]))
        holm[pair] = running
    for (i, j), value in holm.items():
        assert res.pairwise_pvalues[i, j] == pytest.approx(value, rel=1e-12)
        assert res.pairwise_pvalues[j, i] == res.pairwise_pvalues[i, j]
    assert np.all(np.diag(res.pairwise_pvalues) == 1)


def test_kruskal_all_equal_is_undefined_not_an_error():
    res = kruskal_units([[3, 3], [3, 3, 3]], pairwise=True)
    assert math.isnan(res.statistic) and math.isnan(res.pvalue) and not res.differs()
    with pytest.raises(ValueError, match="group 1 is empty"):
        kruskal_units([[1.0], []])


def test_respondent_means_skip_missing_answers():
    rows = np.array([[4, 3, np.nan], [2, 2, 2], [np.nan] * 3])
    assert respondent_means(rows).tolist() == [3.5, 2.0]


# --- sample size and margin of error --------------------------------------------------------


@pytest.mark.parametrize(
    "population, size",
    [(10, 10), (50, 44), (100, 80), (200, 132), (300, 169), (500, 217), (1000, 278),
     (2000, 322), (5000, 357), (10000, 370), (10**9, 384)],
)  # fmt: skip
def test_krejcie_morgan_table(population, size):
    assert krejcie_morgan(population) == size


def test_krejcie_morgan_rounds_to_nearest_as_printed():
    # N = 500 gives 217.47 (217.49 with X2 = 3.8415): printed 217, so rounding is to the
    # nearest, not up.
    exact = 3.841 * 500 * 0.25 / (0.0025 * 499 + 3.841 * 0.25)
    assert 217 < exact < 217.5
    assert krejcie_morgan(500) == 217
    with pytest.raises(ValueError, match="population must be a whole number >= 1, got 0"):
        krejcie_morgan(0)


def test_margin_of_error_as_in_the_standard():
    # s = 12 points on 25..100 and n = 30 give about +-4.5.
    e = margin_of_error(30, 12)
    assert e == pytest.approx(stats.t.ppf(0.975, 29) * 12 / math.sqrt(30), rel=1e-14)
    assert round(e, 1) == 4.5
    fpc = margin_of_error(30, 12, population=100)
    assert fpc == pytest.approx(e * math.sqrt(70 / 99), rel=1e-14)
    assert margin_of_error(100, 12, population=100) == 0.0
    with pytest.raises(ValueError, match="n = 101 exceeds the population 100"):
        margin_of_error(101, 12, population=100)


@pytest.mark.parametrize("margin, sd, population", [(3, 12, None), (3, 12, 200), (1, 12, 500),
                                                    (5, 12, None), (0.5, 10, 50)])  # fmt: skip
def test_sample_size_for_margin_is_the_smallest_that_works(margin, sd, population):
    n = sample_size_for_margin(margin, sd, population=population)
    assert margin_of_error(n, sd, population=population) <= margin
    if n > 2:
        assert margin_of_error(n - 1, sd, population=population) > margin
    if population is not None:
        assert n <= population


# --- Cronbach's alpha -----------------------------------------------------------------------


def test_cronbach_alpha_by_hand_with_feldt_interval_from_f_tables():
    rows = np.array([[4, 4, 3], [3, 3, 3], [2, 2, 1], [4, 3, 4], [1, 2, 2]])
    # Item variances 1.7, 0.7, 1.3 (sum 3.7); totals 11, 9, 5, 11, 5 have variance 9.2.
    res = cronbach_alpha(rows)
    assert res.alpha == pytest.approx(1.5 * (1 - 3.7 / 9.2), rel=1e-14)
    assert (res.n, res.k) == (5, 3)
    # Printed F tables: F_0.975(4, 8) = 5.05 and F_0.975(8, 4) = 8.98, so F_0.025(4, 8) = 1/8.98.
    low, high = res.confidence_interval(0.95)
    assert low == pytest.approx(1 - (1 - res.alpha) * 5.05, abs=1e-3)
    assert high == pytest.approx(1 - (1 - res.alpha) / 8.98, abs=1e-3)


def test_cronbach_alpha_uses_complete_cases_and_equals_the_anova_form():
    rng = np.random.default_rng(4)
    rows = np.clip(np.round(rng.normal(size=(60, 1)) + rng.normal(size=(60, 5)) + 2.5), 1, 4)
    res = cronbach_alpha(rows)
    # Hoyt's ANOVA: alpha = 1 - MS_residual / MS_respondents.
    n, k = rows.shape
    grand = rows.mean()
    ss_resp = k * np.sum((rows.mean(axis=1) - grand) ** 2)
    ss_item = n * np.sum((rows.mean(axis=0) - grand) ** 2)
    ss_res = np.sum((rows - grand) ** 2) - ss_resp - ss_item
    hoyt = 1 - (ss_res / ((n - 1) * (k - 1))) / (ss_resp / (n - 1))
    assert res.alpha == pytest.approx(hoyt, rel=1e-12)
    with_gaps = np.vstack([rows, [[np.nan, 1, 2, 3, 4]]])
    assert cronbach_alpha(with_gaps).alpha == pytest.approx(res.alpha, rel=1e-14)
    assert cronbach_alpha(with_gaps).n == 60


def test_cronbach_alpha_undefined_cases():
    assert math.isnan(cronbach_alpha(np.full((10, 3), 2.0)).alpha)
    assert AlphaResult(float("nan"), 10, 3).confidence_interval() == (
        pytest.approx(float("nan"), nan_ok=True),
        pytest.approx(float("nan"), nan_ok=True),
    )
    with pytest.raises(ValueError, match="at least 2 elements"):
        cronbach_alpha(np.ones((5, 1)))

"""Empirical Bayes (scoring.bayes): hand-computed REML tau^2, posterior means, expected ranks."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from scoring import aggregate, score_units
from scoring.bayes import category_bounds, posterior, reml_tau2, wave_posterior
from scoring.schemes import KEPMENPAN_2004, PERMENPANRB_2017, Scheme

Z95 = 1.959963984540054


def test_two_units_by_hand():
    # Equal variances v = 0.01: the difference y2 - y1 ~ N(0, 2 (v + tau^2)), whose REML
    # estimate is tau^2 = d^2 / 2 - v = 0.08 - 0.01 = 0.07.
    res = posterior(["a", "b"], [3.0, 3.4], [0.1, 0.1], scheme=PERMENPANRB_2017, top_k=1)
    assert res.tau2 == pytest.approx(0.07, abs=1e-12)
    # w = 1 / 0.08 each: mu = 3.2, Var(mu) = 0.04; B = 0.01 / 0.08 = 0.125.
    assert res.mu == pytest.approx(3.2, abs=1e-12)
    assert res.mu_se == pytest.approx(0.2, abs=1e-12)
    a, b = res.units
    assert a.shrinkage == pytest.approx(0.125, abs=1e-12)
    assert a.mean == pytest.approx(0.125 * 3.2 + 0.875 * 3.0, abs=1e-12)  # 3.025
    assert b.mean == pytest.approx(3.375, abs=1e-12)
    # Var theta = (1 - B) v + B^2 Var(mu) = 0.00875 + 0.000625 = 0.009375.
    assert a.sd == pytest.approx(math.sqrt(0.009375), abs=1e-12)
    assert (a.low, a.high) == pytest.approx(
        (3.025 - Z95 * math.sqrt(0.009375), 3.025 + Z95 * math.sqrt(0.009375)), abs=1e-12
    )
    # theta_b - theta_a: mean 0.35, variance 2 (1 - B) v = 0.0175 (the shared mu cancels).
    p_b_above = stats.norm.cdf(0.35 / math.sqrt(0.0175))
    assert a.expected_rank == pytest.approx(1 + p_b_above, abs=1e-12)
    assert b.expected_rank == pytest.approx(2 - p_b_above, abs=1e-12)
    assert p_b_above == pytest.approx(0.99592, abs=1e-5)
    # P(B or better) = P(theta >= 3.0644), the scheme's bound.
    assert a.p_good == pytest.approx(stats.norm.sf((3.0644 - 3.025) / a.sd), abs=1e-12)
    # With K = 1, P(best) of b is P(theta_b > theta_a), up to Monte Carlo error (10,000 draws).
    assert b.p_top == pytest.approx(p_b_above, abs=0.004)
    assert a.p_top + b.p_top == pytest.approx(1.0)
    assert a.p_bottom == pytest.approx(b.p_top)


def test_three_units_equal_variances_by_hand():
    # REML with equal v: tau^2 = sample variance - v = (0.18667 / 2) - 0.01 = 0.083333.
    y = [2.8, 3.0, 3.4]
    res = posterior(["x", "y", "z"], y, [0.1] * 3, scheme=PERMENPANRB_2017, top_k=1, seed=4)
    assert res.tau2 == pytest.approx(0.28 / 3 - 0.01, abs=1e-12)
    ybar = sum(y) / 3
    b = 0.01 / (0.28 / 3)
    for u, yi in zip(res.units, y, strict=True):
        assert u.mean == pytest.approx(b * ybar + (1 - b) * yi, abs=1e-12)
    # Expected rank of x: 1 + P(theta_y > theta_x) + P(theta_z > theta_x); the differences have
    # variance 2 (1 - B) v.
    sd = math.sqrt(2 * (1 - b) * 0.01)
    x = res.unit("x")
    expected = 1 + stats.norm.cdf((1 - b) * 0.2 / sd) + stats.norm.cdf((1 - b) * 0.6 / sd)
    assert x.expected_rank == pytest.approx(expected, abs=1e-12)
    assert sum(u.expected_rank for u in res.units) == pytest.approx(6.0)  # 1 + 2 + 3
    assert sum(u.p_top for u in res.units) == pytest.approx(1.0)


def test_tau2_zero_pools_everyone_to_the_mean():
    # Spread smaller than chance: REML tau^2 = 0, every unit is shrunk all the way.
    res = posterior(
        ["a", "b", "c"], [3.0, 3.02, 2.98], [0.1, 0.1, 0.2], scheme=PERMENPANRB_2017, top_k=1
    )
    assert reml_tau2([3.0, 3.02, 2.98], [0.01, 0.01, 0.04]) == 0.0
    assert res.tau2 == 0.0
    w = np.array([100, 100, 25])
    mu = float(np.sum(w * [3.0, 3.02, 2.98]) / w.sum())
    for u in res.units:
        assert u.shrinkage == 1.0
        assert u.mean == pytest.approx(mu, abs=1e-12)
        assert u.sd == pytest.approx(math.sqrt(1 / 225), abs=1e-12)
        # The model cannot tell them apart: ties count half, so every expected rank is 2.
        assert u.expected_rank == pytest.approx(2.0, abs=1e-12)
        assert u.p_top == pytest.approx(1 / 3, abs=0.015)


def test_one_unit_keeps_its_own_score():
    res = posterior(["only"], [3.3], [0.1], scheme=PERMENPANRB_2017, top_k=5)
    (u,) = res.units
    assert res.tau2 == 0.0 and res.top_k == 1
    assert u.mean == pytest.approx(3.3) and u.sd == pytest.approx(0.1)
    assert (u.low, u.high) == pytest.approx((3.3 - Z95 * 0.1, 3.3 + Z95 * 0.1))
    assert u.expected_rank == 1.0 and u.p_top == 1.0 and u.p_bottom == 1.0


def test_all_equal_estimates():
    res = posterior(list("abcd"), [3.1] * 4, [0.1, 0.2, 0.1, 0.3], scheme=PERMENPANRB_2017)
    assert res.tau2 == 0.0
    assert {round(u.mean, 12) for u in res.units} == {3.1}
    assert [u.expected_rank for u in res.units] == pytest.approx([2.5] * 4)


def test_category_counts_and_their_range():
    res = posterior(
        list("abcde"), [3.7, 3.6, 3.2, 3.1, 2.4], [0.05] * 5, scheme=PERMENPANRB_2017, seed=1
    )
    counts = {c.category.code: c for c in res.counts}
    # The expected count is the sum of the units' category probabilities.
    for code in "ABCD":
        total = sum(dict(u.category_probs)[code] for u in res.units)
        assert counts[code].expected == pytest.approx(total, abs=1e-12)
        assert counts[code].low <= round(counts[code].expected) <= counts[code].high
    assert sum(c.expected for c in res.counts) == pytest.approx(5.0)
    for u in res.units:
        assert u.p_good == pytest.approx(sum(p for c, p in u.category_probs if c in "AB"))


def test_seeded_and_left_out_units():
    args = (list("abcd"), [3.0, 3.4, 3.2, 1.5], [0.1, 0.1, 0.2, 1.0])
    one = posterior(*args, scheme=PERMENPANRB_2017, seed=3, top_k=2)
    two = posterior(*args, scheme=PERMENPANRB_2017, seed=3, top_k=2)
    assert [u.p_top for u in one.units] == [u.p_top for u in two.units]
    small = posterior(*args, scheme=PERMENPANRB_2017, leave_out={"d"})
    assert [u.unit for u in small.units] == ["a", "b", "c"]
    assert small.left_out == ("d",)
    three = posterior(*(a[:3] for a in args), scheme=PERMENPANRB_2017)
    assert small.tau2 == three.tau2
    with pytest.raises(ValueError, match="draws"):
        posterior(*args, scheme=PERMENPANRB_2017, draws=999)
    with pytest.raises(ValueError, match="no unit"):
        posterior(["a"], [3.0], [0.1], scheme=PERMENPANRB_2017, leave_out={"a"})


def test_category_bounds_come_from_the_scheme():
    assert [b for _, b in category_bounds(PERMENPANRB_2017)] == [3.5324, 3.0644, 2.6, 1.0]
    assert [b for _, b in category_bounds(KEPMENPAN_2004)] == [3.26, 2.51, 1.76, 1.0]
    converted = Scheme.from_dicts(
        [{"code": "B", "label_id": "Baik", "min_converted": 80.0},
         {"code": "C", "label_id": "Kurang", "min_converted": 25.0}],
        basis="converted",
    )  # fmt: skip
    assert [b for _, b in category_bounds(converted)] == [3.2, 1.0]
    res = posterior(["a", "b"], [3.0, 3.4], [0.1, 0.1], scheme=converted)
    assert res.good.code == "B" and res.good_bound == 3.2


def test_a_five_point_scale_never_fails():
    # The 1..4 scheme refuses IKMs above 4; they lie above its top bound (category A).
    bounds = category_bounds(PERMENPANRB_2017, low=1.0, high=5.0)
    assert [b for _, b in bounds] == [3.5324, 3.0644, 2.6, 1.0]
    res = posterior(["a", "b", "c"], [4.6, 3.9, 2.2], [0.1, 0.1, 0.2], scheme=PERMENPANRB_2017,
                    scale=(1.0, 5.0), top_k=1)  # fmt: skip
    assert dict(res.unit("a").category_probs)["A"] == pytest.approx(1.0)
    assert res.unit("a").expected_rank < res.unit("c").expected_rank


def test_wave_posterior_uses_the_waves_one_tau2():
    rng = np.random.default_rng(0)
    aggs = {f"opd-{i}": aggregate(rng.integers(1 + (i > 1), 5, size=(30, 9))) for i in range(4)}
    wave = score_units(aggs, seed=2, top_k=2)
    res = wave_posterior(wave)
    assert res.tau2 == pytest.approx(wave.tau2(), abs=1e-15)
    assert wave.funnel is not None and wave.funnel.tau2 == wave.tau2()
    for u, s in zip(res.units, wave.units, strict=True):
        assert u.mean == pytest.approx(s.shrunken, abs=1e-12)
    assert res.top_k == 2 and res.seed == 2


def test_scoring_a_wave_imports_neither_scipy_stats_nor_optimize():
    """score_units (REML of the funnel and shrinkage included) runs without scipy.optimize or
    scipy.stats, whose imports cost ``ikm score`` 0.5 to 1.3 s."""
    script = (
        "import sys, numpy as np\n"
        "from scoring import aggregate, score_units\n"
        "rng = np.random.default_rng(0)\n"
        "aggs = {f'u{i}': aggregate(rng.integers(1 + i % 3, 5, size=(30, 9))) for i in range(8)}\n"
        "wave = score_units(aggs, seed=1)\n"
        "assert wave.units[0].shrunken == wave.units[0].shrunken  # computed, not NaN\n"
        "print(sorted(m for m in ('scipy.optimize', 'scipy.stats') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "y, v, expected",
    [
        # Two units: the REML estimate is (y1 - y2)^2 / 2 - v when positive.
        ([1.0, 3.0], [1.0, 1.0], 1.0),
        ([0.0, 10.0], [0.5, 0.5], 49.5),
        # Equal variances v: the REML estimate is the sample variance (ddof 1) minus v.
        ([2.0, 3.0, 4.0, 7.0], [0.25] * 4, 14.0 / 3 - 0.25),
    ],
)
def test_reml_tau2_hits_closed_forms_to_the_last_digits(y, v, expected):
    assert reml_tau2(y, v) == pytest.approx(expected, rel=1e-13)

"""The IKM, its categories and its intervals (scoring.schemes, scoring.ikm)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from scipy import stats

from scoring import (
    KEPMENPAN_2004,
    PERMENPANRB_2017,
    SCHEMES,
    Scheme,
    aggregate,
    bootstrap_ikm,
    ikm,
)
from scoring.schemes import exact_value

NAN = np.nan


def rows_from_sums(n_answers: list[int], sums: list[int]) -> np.ndarray:
    """Rows in which element j has n_answers[j] answers adding up to sums[j] (rest missing)."""
    rows = np.full((max(n_answers), len(n_answers)), np.nan)
    for j, (n, s) in enumerate(zip(n_answers, sums, strict=True)):
        q, r = divmod(s, n)
        assert 1 <= q <= 4 and (q < 4 or r == 0)
        rows[:n, j] = q
        rows[:r, j] = q + 1
    return rows


def exact_ikm(n_answers: list[int], sums: list[int]) -> Fraction:
    return sum(Fraction(s, n) for s, n in zip(sums, n_answers, strict=True)) / len(sums)


# --- the formula, by hand -----------------------------------------------------------------


def test_hand_computed_ikm_with_a_missing_answer():
    rows = np.array(
        [
            [4, 4, 3, 3, 4, 4, 4, 3, 3],
            [3, 3, 3, 2, 3, 4, 4, 3, 2],
            [4, 3, NAN, 3, 3, 4, 3, 3, 3],
        ]
    )
    res = ikm(rows)
    # NRR = sum / respondents who answered: U3 is (3 + 3) / 2, the others over 3.
    expected_nrr = [11 / 3, 10 / 3, 3, 8 / 3, 10 / 3, 4, 11 / 3, 3, 8 / 3]
    np.testing.assert_allclose(res.nrr, expected_nrr, rtol=1e-15)
    assert res.n == 3
    assert res.n_answers.tolist() == [3, 3, 2, 3, 3, 3, 3, 3, 3]
    # IKM = mean of the NRRs = (88/3) / 9; the regulation's 0.111 would give 3.256.
    assert res.exact == Fraction(88, 27)
    assert res.ikm == 88 / 27
    assert res.converted() == pytest.approx(2200 / 27, rel=1e-15)
    assert res.category().code == "B"
    assert res.category().label_id == "Baik"


def test_all_fours_is_exactly_100_and_a():
    res = ikm(np.full((5, 9), 4.0))
    assert res.ikm == 4.0 and res.converted() == 100.0
    assert res.category().code == "A"
    # 0.111 weights would cap the score at 99.9: exact weights do not.
    assert np.sum(res.weights()) == pytest.approx(1.0, abs=1e-15)


def test_all_ones_is_d_at_the_bottom_of_the_scale():
    res = ikm(np.ones((3, 9)))
    assert res.ikm == 1.0 and res.converted() == 25.0 and res.category().code == "D"


def test_rows_without_any_answer_are_not_respondents():
    rows = np.array([[4, 3], [NAN, NAN], [2, 3]])
    assert ikm(rows).n == 2
    assert aggregate(rows).n == 2


def test_unanswered_element_is_left_out_of_the_mean():
    rows = np.array([[4, NAN, 2], [2, NAN, 2]])
    res = ikm(rows)
    assert np.isnan(res.nrr[1])
    assert res.exact == Fraction(5, 2)  # (3 + 2) / 2
    assert res.weights().tolist() == [0.5, 0.0, 0.5]


@pytest.mark.parametrize(
    "answers, message",
    [
        (np.array([[5.0, 3.0]]), r"answers\[0, 0\] = 5 is not a whole number in 1..4"),
        (np.array([[4.0, 2.5]]), r"answers\[0, 1\] = 2.5"),
        (np.array([[0, 2]]), r"answers\[0, 0\] = 0"),
        (np.array([4.0, 3.0]), "must be 2-D"),
        (np.array([[NAN, NAN]]), "no respondent answered"),
    ],
)
def test_bad_answers_are_refused_naming_the_value(answers, message):
    with pytest.raises(ValueError, match=message):
        ikm(answers)


# --- categories at their boundaries ----------------------------------------------------------

# (scheme, boundary, code at the boundary, code just below): element answer counts and sums
# whose NRRs average exactly to the boundary. Several were chosen so that adding the floating
# NRRs and dividing by 9 gives a value just below the boundary (checked in the test).
BOUNDARY_CASES = [
    (PERMENPANRB_2017, "3.5324", "A", "B", [2500] * 9, [8831] * 9),
    (PERMENPANRB_2017, "3.5324", "A", "B",
     [30, 27, 3, 27, 9, 3, 30, 27, 2500], [105, 95, 11, 96, 31, 10, 105, 94, 9479]),
    (PERMENPANRB_2017, "3.0644", "B", "C",
     [9, 21, 3, 21, 21, 7, 27, 3, 2500], [29, 64, 10, 64, 64, 20, 84, 10, 6449]),
    (PERMENPANRB_2017, "2.60", "C", "D",
     [30, 30, 30, 11, 13, 30, 11, 11, 13], [78, 77, 78, 28, 35, 79, 30, 30, 30]),
    (KEPMENPAN_2004, "3.26", "A", "B",
     [13, 21, 30, 39, 9, 39, 7, 13, 7500], [43, 68, 97, 126, 30, 126, 24, 42, 23300]),
    (KEPMENPAN_2004, "2.51", "B", "C", [100] * 9, [251] * 9),
    (KEPMENPAN_2004, "1.76", "C", "D",
     [33, 30, 30, 30, 11, 3, 33, 33, 7500], [59, 53, 53, 54, 18, 6, 59, 59, 11300]),
]  # fmt: skip


@pytest.mark.parametrize("scheme, bound, at, below, n_answers, sums", BOUNDARY_CASES)
def test_every_boundary_is_decided_exactly(scheme, bound, at, below, n_answers, sums):
    assert exact_ikm(n_answers, sums) == Fraction(bound)
    rows = rows_from_sums(n_answers, sums)
    for data in (rows, aggregate(rows)):
        res = ikm(data, scheme=scheme)
        assert res.exact == Fraction(bound)
        assert res.category().code == at
    # Taking one point off the largest element puts the IKM just below the bound.
    j = int(np.argmax(n_answers))
    lowered = list(sums)
    lowered[j] -= 1
    assert exact_ikm(n_answers, lowered) < Fraction(bound)
    assert ikm(rows_from_sums(n_answers, lowered), scheme=scheme).category().code == below


def test_naive_float_sum_would_misclassify_these_boundaries():
    # Guards the cases above: they really are ones where floating point goes wrong.
    fooled = 0
    for _, bound, *_rest, n_answers, sums in BOUNDARY_CASES:
        naive = sum(s / n for s, n in zip(sums, n_answers, strict=True)) / 9
        fooled += naive < float(bound)
    assert fooled >= 4


@pytest.mark.parametrize(
    "value, code",
    [
        (4.0, "A"), (3.5324, "A"), (3.5323999999999995, "A"), (3.53239, "B"),
        (3.0644, "B"), (3.0643, "C"), (2.6, "C"), (2.5999, "D"), (2.5996, "D"), (1.0, "D"),
        (Fraction(8831, 2500), "A"), (Fraction(8831, 2500) - Fraction(1, 10**12), "B"),
    ],
)  # fmt: skip
def test_permenpanrb_categories(value, code):
    assert PERMENPANRB_2017.categorize(value).code == code


def test_permenpanrb_bounds_agree_on_both_scales():
    converted = Scheme(PERMENPANRB_2017.name, PERMENPANRB_2017.categories, basis="converted")
    grid = [Fraction(i, 10000) for i in range(10000, 40001)]
    assert all(PERMENPANRB_2017.categorize(v) == converted.categorize(v) for v in grid)


def test_kepmenpan_basis_matters_between_the_printed_bounds():
    # 3.255 is below the printed 3.26 (so B on the 1..4 basis) but 81.375 >= 81.26.
    converted = Scheme(KEPMENPAN_2004.name, KEPMENPAN_2004.categories, basis="converted")
    assert KEPMENPAN_2004.categorize(3.255).code == "B"
    assert converted.categorize(3.255).code == "A"
    assert KEPMENPAN_2004.categorize(3.26).code == "A"
    assert converted.categorize(Fraction(8126, 2500)).code == "A"  # 25 x = 81.26 exactly
    assert converted.categorize(Fraction(8125, 2500)).code == "B"


def test_knpi_threshold_as_a_custom_scheme():
    knpi = Scheme.from_dicts(
        [
            {"code": "B", "label_id": "Baik", "label_en": "Good", "min_ikm": 3.00},
            {"code": "C", "label_id": "Kurang baik", "min_ikm": 1.00},
        ],
        name="KNPI Kota Serang 2025",
    )
    best_five = [3.07, 3.03, 3.01, 2.98, 2.93]
    assert [knpi.categorize(v).code for v in best_five] == ["B", "B", "B", "C", "C"]
    # Under the regulation only the first reaches "baik".
    assert [PERMENPANRB_2017.categorize(v).code for v in best_five] == ["B", "C", "C", "C", "C"]
    assert knpi.categories[0].min_converted == 75.0
    assert knpi.categories[1].label_en == "Kurang baik"


def test_builtin_schemes_match_the_stored_dicts():
    assert SCHEMES["permenpanrb-14-2017"] is PERMENPANRB_2017
    rebuilt = Scheme.from_dicts(KEPMENPAN_2004.as_dicts(), name=KEPMENPAN_2004.name)
    assert rebuilt == KEPMENPAN_2004


def _cat(code, min_ikm, min_conv=None):
    item = {"code": code, "label_id": code, "min_ikm": min_ikm}
    if min_conv is not None:
        item["min_converted"] = min_conv
    return item


@pytest.mark.parametrize(
    "items, message",
    [
        ([], "has no categories"),
        ([_cat("A", 2.0), _cat("B", 3.0), _cat("C", 1.0)], "must decrease"),
        ([_cat("A", 3.0), _cat("B", 1.5)], "must start at min_ikm = 1"),
        ([_cat("A", 4.5), _cat("B", 1.0)], "outside 1..4"),
        ([_cat("A", 3.0), _cat("A", 1.0)], "not unique"),
        ([_cat("A", 3.0, 70.0), _cat("B", 1.0, 30.0)], "must start at min_converted = 25"),
        ([{"code": "A", "label_id": "x"}], "needs min_ikm or min_converted"),
        ([{"code": "A", "min_ikm": 1.0}], "lacks label_id"),
        ([_cat("A", "tinggi")], "not a number"),
    ],
)
def test_bad_schemes_are_refused(items, message):
    with pytest.raises(ValueError, match=message):
        Scheme.from_dicts(items, name="bad")


def test_categorize_refuses_values_off_the_scale():
    with pytest.raises(ValueError, match="outside the scale"):
        PERMENPANRB_2017.categorize(88.31)  # a converted value passed by mistake
    with pytest.raises(ValueError, match="NaN"):
        PERMENPANRB_2017.categorize(float("nan"))


@pytest.mark.parametrize(
    "value",
    [0.0, -0.0, 1e-12, -1e-12, 5e-11, -5e-11, 4.99999999995e-11, 3.5323999999999995, 3.53245,
     -3.5323999999999995, 88.31, 1e20, -7.25, 1 / 3, 2 / 3, 0.1 + 0.2],
)  # fmt: skip
def test_exact_value_is_the_float_rounded_to_ten_decimals(value):
    assert exact_value(value) == Fraction(f"{value:.10f}")
    assert exact_value(np.float64(value)) == Fraction(f"{value:.10f}")


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_exact_value_refuses_what_is_not_a_number(value):
    with pytest.raises(ValueError, match="Invalid literal for Fraction"):
        exact_value(value)


def test_crossing_a_boundary():
    assert PERMENPANRB_2017.crosses_boundary(3.50, 3.5324)
    assert not PERMENPANRB_2017.crosses_boundary(3.0644, 3.5323)
    assert not PERMENPANRB_2017.crosses_boundary(3.7, 4.3)  # clipped to the scale
    rows = np.tile([[4.0] * 9, [3.0] * 9], (10, 1))  # IKM 3.5, interval spans 3.5324
    assert ikm(rows).crosses_boundary()
    assert not ikm(np.tile([[2.0] * 9, [2.0] * 8 + [3.0]], (20, 1))).crosses_boundary()


# --- analytic interval -----------------------------------------------------------------------


def correlated_rows(n: int, seed: int, k: int = 9) -> np.ndarray:
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 1)) * 0.8 + rng.normal(size=(n, k)) + 0.8
    return np.clip(np.round(latent + 2.5), 1, 4)


@pytest.mark.parametrize("n, level", [(30, 0.95), (12, 0.9), (200, 0.99)])
def test_no_missing_answers_gives_exactly_the_t_interval_on_respondent_means(n, level):
    rows = correlated_rows(n, seed=n)
    means = rows.mean(axis=1)
    low, high = stats.t.interval(level, n - 1, loc=means.mean(), scale=stats.sem(means))
    ci = ikm(rows).confidence_interval(level, method="t")
    assert ci.low == pytest.approx(low, rel=1e-12)
    assert ci.high == pytest.approx(high, rel=1e-12)
    assert ci.method == "analytic-t"
    assert ci.unreliable == (n < 15)
    assert ci.converted() == pytest.approx((25 * low, 25 * high), rel=1e-12)


def test_element_interval_is_the_t_interval_on_its_own_answers():
    rows = correlated_rows(40, seed=1)
    rows[np.random.default_rng(2).random(rows.shape) < 0.25] = np.nan
    res = ikm(rows)
    for j, ci in enumerate(res.element_intervals(method="t")):
        col = rows[:, j][~np.isnan(rows[:, j])]
        low, high = stats.t.interval(0.95, col.size - 1, loc=col.mean(), scale=stats.sem(col))
        assert (ci.low, ci.high) == pytest.approx((low, high), rel=1e-12)


def test_missing_answer_covariance_is_unbiased_by_simulation():
    # Under answers missing at random, the mean of the estimated Var(IKM) matches the
    # variance of the IKM over many surveys of 30.
    rng = np.random.default_rng(11)
    population = correlated_rows(5000, seed=3)
    estimates, variances = [], []
    for _ in range(3000):
        rows = population[rng.integers(0, 5000, 30)].copy()
        rows[rng.random(rows.shape) < 0.3] = np.nan
        res = ikm(rows)
        estimates.append(res.ikm)
        variances.append(res.se() ** 2)
    ratio = np.mean(variances) / np.var(estimates, ddof=1)
    assert 0.93 < ratio < 1.07  # Monte Carlo error of the ratio is about 0.026


def test_t_interval_is_clipped_to_the_scale_and_zero_width_when_constant():
    res = ikm(np.full((20, 9), 4.0))
    ci = res.confidence_interval(method="t")
    assert (ci.low, ci.high) == (4.0, 4.0) and ci.degenerate
    near_top = np.full((5, 9), 4.0)
    near_top[0, 0] = 1
    assert ikm(near_top).confidence_interval(method="t").high == 4.0
    # The published (logit) interval never collapses, and says the data are degenerate.
    logit = res.confidence_interval()
    assert logit.degenerate and 1 < logit.low < logit.high <= 4


def test_single_respondent_has_no_interval():
    ci = ikm(np.array([[4.0, 3.0]])).confidence_interval()
    assert np.isnan(ci.low) and np.isnan(ci.high) and ci.unreliable


def test_confidence_level_is_checked():
    with pytest.raises(ValueError, match="confidence_level must be between 0 and 1, got 95"):
        ikm(correlated_rows(10, 1)).confidence_interval(95)


def test_small_n_threshold_is_configurable():
    rows = correlated_rows(20, seed=4)
    assert not ikm(rows).unreliable()
    assert ikm(rows, small_n=30).unreliable()
    with pytest.raises(ValueError, match="small_n must be a whole number >= 2, got 1"):
        ikm(rows, small_n=1)


# --- bootstrap ----------------------------------------------------------------------------


def test_bootstrap_is_reproducible_with_a_seed():
    rows = correlated_rows(40, seed=5)
    rows[0, 3] = np.nan
    a = bootstrap_ikm(rows, n_resamples=999, rng=42)
    b = bootstrap_ikm(rows, n_resamples=999, rng=42)
    c = bootstrap_ikm(rows, n_resamples=999, rng=43)
    assert a == b
    assert a.interval != c.interval
    assert a.interval.method == "bootstrap-bca"
    assert len(a.element_intervals) == 9 and a.n == 40 and a.n_resamples == 999
    assert all(e.method == "bootstrap-bca" for e in a.element_intervals)


def test_bootstrap_agrees_with_scipy_on_respondent_means_and_with_the_analytic_interval():
    rows = correlated_rows(60, seed=6)
    res = bootstrap_ikm(rows, n_resamples=2000, rng=1)
    # With no missing answers the IKM of a resample is the mean of its respondents' means.
    ref = stats.bootstrap((rows.mean(axis=1),), np.mean, n_resamples=2000, rng=1)
    assert res.interval.low == pytest.approx(ref.confidence_interval.low, rel=1e-12)
    assert res.interval.high == pytest.approx(ref.confidence_interval.high, rel=1e-12)
    analytic = ikm(rows).confidence_interval()
    assert res.interval.low == pytest.approx(analytic.low, abs=0.03)
    assert res.interval.high == pytest.approx(analytic.high, abs=0.03)


def test_bootstrap_methods_are_named():
    rows = correlated_rows(30, seed=7)
    assert bootstrap_ikm(rows, n_resamples=500, rng=1, method="percentile").interval.method == (
        "bootstrap-percentile"
    )
    with pytest.raises(ValueError, match="method must be 'BCa', 'percentile' or 'basic'"):
        bootstrap_ikm(rows, method="studentized")


def test_bootstrap_all_answers_equal_never_gives_zero_width_and_says_so():
    res = bootstrap_ikm(np.full((25, 9), 3.0), n_resamples=500, rng=1)
    # A zero-width interval would claim certainty: the logit interval is given instead.
    assert res.interval.low < 3.0 < res.interval.high
    assert res.interval.method == "analytic-logit" and res.interval.degenerate
    assert all(e.degenerate and e.width() > 0 for e in res.element_intervals)


def test_bootstrap_constant_element_among_varying_ones():
    rows = correlated_rows(30, seed=8)
    rows[:, 2] = 4
    res = bootstrap_ikm(rows, n_resamples=500, rng=3)
    assert res.element_intervals[2].method == "analytic-logit"
    assert res.element_intervals[2].degenerate and res.element_intervals[2].width() > 0
    assert res.interval.method == "bootstrap-bca"


def test_bootstrap_falls_back_to_percentile_when_bca_is_undefined(monkeypatch):
    rows = correlated_rows(30, seed=7)
    real = stats.bootstrap

    def bca_undefined(*args, **kwargs):
        res = real(*args, **kwargs)
        nan = np.full_like(res.confidence_interval.low, np.nan)
        return stats._resampling.BootstrapResult(
            confidence_interval=stats._resampling.ConfidenceInterval(nan, nan),
            bootstrap_distribution=res.bootstrap_distribution,
            standard_error=res.standard_error,
        )

    monkeypatch.setattr(stats, "bootstrap", bca_undefined)
    res = bootstrap_ikm(rows, n_resamples=500, rng=1)
    monkeypatch.undo()
    ref = bootstrap_ikm(rows, n_resamples=500, rng=1, method="percentile")
    assert res.interval.method == "bootstrap-percentile"
    assert res == ref  # the same resamples, read with the percentile rule


def test_bootstrap_lumpy_data_never_gives_nan():
    rows = np.tile([[4.0, 3.0], [3.0, 3.0]], (10, 1))
    rows[0, 1] = 4.0
    res = bootstrap_ikm(rows, n_resamples=500, rng=1)
    for ci in (res.interval, *res.element_intervals):
        assert ci.method.startswith("bootstrap")
        assert not np.isnan(ci.low) and ci.low <= ci.high


def test_bootstrap_small_sample_shows_the_t_interval_marked_unreliable():
    rows = correlated_rows(10, seed=9)
    res = bootstrap_ikm(rows, n_resamples=500, rng=1)
    assert res.n_resamples == 0
    assert res.interval == ikm(rows).confidence_interval()
    assert res.interval.unreliable and res.interval.method == "analytic-logit"


def test_bootstrap_element_missing_in_some_resamples_uses_the_analytic_interval():
    rows = correlated_rows(30, seed=10)
    rows[1:, 4] = np.nan  # only one respondent answered element 5
    res = bootstrap_ikm(rows, n_resamples=300, rng=1)
    assert res.element_intervals[4].method == "analytic-logit"
    assert res.interval.method.startswith("bootstrap")

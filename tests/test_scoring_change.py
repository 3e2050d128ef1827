"""Change between waves (scoring.change): Welch df and interval, Holm, regression to the mean."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from scoring.change import ChangeInput, compare_waves, holm, welch

# Two OPDs, hand-computed. OPD "p": wave A IKM 3.0 (se 0.2, n 10 -> df 9), wave B 3.5 (se 0.1,
# n 20 -> df 19). OPD "q": wave A 3.3 (se 0.1, df 29), wave B 3.25 (se 0.1, df 29).
P_A, P_B = ChangeInput(3.0, 0.2, 9, 10), ChangeInput(3.5, 0.1, 19, 20)
Q_A, Q_B = ChangeInput(3.3, 0.1, 29, 30), ChangeInput(3.25, 0.1, 29, 30)


def test_welch_df_and_interval_by_hand() -> None:
    """df = (0.04 + 0.01)^2 / (0.04^2/9 + 0.01^2/19); interval 0.5 +/- t(0.975, df) sqrt(0.05)."""
    r = welch(P_A, P_B)
    # 0.0025 / ((0.0016 x 19 + 0.0001 x 9) / 171) = 0.4275 / 0.0313 = 4275 / 313 = 13.658...
    df = 4275 / 313
    assert r.df == pytest.approx(df, rel=1e-12)
    assert r.diff == pytest.approx(0.5, abs=1e-15)
    assert r.se == pytest.approx(math.sqrt(0.05), rel=1e-12)
    half = stats.t.ppf(0.975, df) * math.sqrt(0.05)  # t(0.975, 13.66) = 2.1498...
    assert half == pytest.approx(0.48072, abs=1e-5)
    assert (r.low, r.high) == (pytest.approx(0.5 - half), pytest.approx(0.5 + half))
    assert r.p_value == pytest.approx(2 * stats.t.sf(0.5 / math.sqrt(0.05), df))
    # Equal se and df: df = 2 x 29 = 58; the change -0.05 has se sqrt(0.02).
    q = welch(Q_A, Q_B)
    assert q.df == pytest.approx(58.0, rel=1e-12)
    assert q.se == pytest.approx(math.sqrt(0.02), rel=1e-12)


def test_two_opd_comparison_holm_and_verdicts() -> None:
    """p: t = 0.5 / sqrt(0.05) = 2.236 on 13.66 df, p 0.0426; x 2 after Holm = 0.085 > 5%."""
    res = compare_waves([("p", P_A, P_B), ("q", Q_A, Q_B)])
    p, q = res.units
    assert res.tested == 2
    # The unadjusted interval of p excludes 0 (0.019..0.981) ...
    assert p.low > 0
    assert p.p_value == pytest.approx(0.04259, abs=1e-5)
    # ... but Holm over two OPDs doubles the smallest p-value: 0.0852 > 0.05 -> unclear.
    assert p.p_holm == pytest.approx(2 * p.p_value)
    assert p.verdict == "unclear"
    assert q.p_holm == pytest.approx(max(2 * p.p_value, q.p_value))
    assert q.verdict == "unclear"
    # Converted: 25 points per IKM point.
    diff, low, high = p.converted()
    assert diff == pytest.approx(12.5) and low == pytest.approx(25 * p.low)
    assert high == pytest.approx(25 * p.high)
    # Alone, p is significant (Holm with m = 1 is no correction).
    alone = compare_waves([("p", P_A, P_B)]).units[0]
    assert alone.p_holm == pytest.approx(alone.p_value) and alone.verdict == "improved"
    down = compare_waves([("p", P_B, P_A)]).units[0]
    assert down.verdict == "declined" and down.diff == pytest.approx(-0.5)


def test_holm_order_by_hand() -> None:
    """Sorted 0.001, 0.01, 0.02, 0.04 times 4, 3, 2, 1, then running maximum."""
    adjusted = holm([0.04, 0.001, 0.02, 0.01])
    assert adjusted == pytest.approx([0.04, 0.004, 0.04, 0.03])
    # The step-down keeps order: 0.03 x 2 = 0.06 < 0.05 x 2, then max(0.06, 0.031) = 0.06.
    assert holm([0.031, 0.03]) == pytest.approx([0.06, 0.06])
    assert holm([0.9, 0.8]) == [1.0, 1.0]
    adjusted = holm([float("nan"), 0.02])
    assert math.isnan(adjusted[0]) and adjusted[1] == pytest.approx(0.02)


def test_holm_decides_which_opds_changed() -> None:
    """Four OPDs: only those whose Holm-adjusted p stays <= 0.05 get improved/declined."""
    big = [
        ("a", ChangeInput(3.0, 0.05, 40, 41), ChangeInput(3.3, 0.05, 40, 41)),  # z ~ 4.2
        ("b", ChangeInput(3.4, 0.05, 40, 41), ChangeInput(3.2, 0.05, 40, 41)),  # z ~ -2.8
        ("c", ChangeInput(3.2, 0.05, 40, 41), ChangeInput(3.35, 0.05, 40, 41)),  # z ~ 2.1
        ("d", ChangeInput(3.1, 0.05, 40, 41), ChangeInput(3.12, 0.05, 40, 41)),
    ]
    res = compare_waves(big)
    verdicts = {u.unit: u.verdict for u in res.units}
    raw = {u.unit: u.p_value for u in res.units}
    assert raw["c"] < 0.05  # significant alone ...
    assert verdicts == {"a": "improved", "b": "declined", "c": "unclear", "d": "unclear"}
    ordered = sorted(raw.values())
    assert {u.unit: u.p_holm for u in res.units}["a"] == pytest.approx(4 * ordered[0])
    assert {u.unit: u.p_holm for u in res.units}["b"] == pytest.approx(3 * ordered[1])


def test_regression_to_the_mean_rule() -> None:
    """Bottom quarter of wave A moving up, top quarter moving down: the RTM note."""
    # Wave-A IKMs 2.0, 2.5, 3.0, 3.5, 4.0 -> quartiles 2.5 and 3.5 (linear rule).
    rows = [
        ("low-up", 2.0, 2.4),  # bottom, up: note
        ("q1-down", 2.5, 2.3),  # bottom (= 25th percentile), down: away from the middle, none
        ("mid-up", 3.0, 3.6),  # middle: never
        ("q3-down", 3.5, 3.2),  # top (= 75th percentile), down: note
        ("high-up", 4.0, 4.0),  # top, no move: none
    ]
    pairs = [(n, ChangeInput(a, 0.1, 20, 21), ChangeInput(b, 0.1, 20, 21)) for n, a, b in rows]
    res = compare_waves(pairs)
    got = {u.unit: (u.extreme, u.rtm) for u in res.units}
    assert got == {
        "low-up": ("bottom", True),
        "q1-down": ("bottom", False),
        "mid-up": (None, False),
        "q3-down": ("top", True),
        "high-up": ("top", False),
    }
    # Every OPD alike in wave A: nobody was extreme.
    same = compare_waves([(n, ChangeInput(3.0, 0.1, 20, 21), b) for n, _a, b in pairs])
    assert all(u.extreme is None and not u.rtm for u in same.units)


def test_not_estimable_without_spread_or_df() -> None:
    """No standard error (both 0) or df < 1: no interval, not counted in Holm."""
    res = compare_waves(
        [
            ("zero", ChangeInput(4.0, 0.0, 20, 21), ChangeInput(4.0, 0.0, 20, 21)),
            ("one", ChangeInput(3.0, float("nan"), 0, 1), ChangeInput(3.5, 0.1, 20, 21)),
            ("ok", P_A, P_B),
        ]
    )
    zero, one, ok = res.units
    assert zero.verdict == one.verdict == "not-estimable"
    assert math.isnan(zero.low) and math.isnan(one.p_holm)
    assert res.tested == 1 and ok.verdict == "improved"
    assert zero.as_dict()["ci_low"] is None and ok.as_dict()["verdict"] == "improved"

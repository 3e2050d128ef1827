"""Design effect of clustering by survey day, response rates and channels (scoring.design)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scoring.design import (
    channel_shares,
    day_design_effect,
    response_rate,
    widen_interval,
)


def test_equal_days_by_hand():
    # Days (1, 2) and (3, 4): day means 1.5, 3.5, grand mean 2.5.
    # MSB = (2 * 1 + 2 * 1) / 1 = 4; MSW = 4 * 0.25 / 2 = 0.5; n0 = (4 - 8/4) / 1 = 2.
    # ICC = (4 - 0.5) / (4 + 1 * 0.5) = 7/9; m = 8/4 = 2; deff = 1 + 7/9 = 16/9.
    d = day_design_effect([1, 2, 3, 4], ["d1", "d1", "d2", "d2"])
    assert (d.n, d.days, d.mean_cluster) == (4, 2, 2.0)
    assert d.icc == pytest.approx(7 / 9, abs=1e-12)
    assert d.deff == pytest.approx(16 / 9, abs=1e-12)
    assert d.widens and d.factor == pytest.approx(4 / 3, abs=1e-12)


def test_unequal_days_by_hand():
    # Day A (2, 3, 4), day B (1, 2): means 3 and 1.5, grand 2.4.
    # MSB = 3 * 0.36 + 2 * 0.81 = 2.7; MSW = (1 + 0 + 1 + 0.25 + 0.25) / 3 = 5/6;
    # n0 = (5 - 13/5) / 1 = 2.4; ICC = (2.7 - 5/6) / (2.7 + 1.4 * 5/6) = 14/29;
    # m = (9 + 4) / 5 = 2.6; deff = 1 + 1.6 * 14/29.
    d = day_design_effect([2, 3, 4, 1, 2], ["A", "A", "A", "B", "B"])
    assert d.mean_cluster == pytest.approx(2.6, abs=1e-12)
    assert d.icc == pytest.approx(14 / 29, abs=1e-12)
    assert d.deff == pytest.approx(1 + 1.6 * 14 / 29, abs=1e-12)


def test_days_alike_give_no_design_effect():
    # Identical day means: MSB = 0 < MSW, the ICC is truncated at 0 and deff = 1.
    d = day_design_effect([1, 3, 1, 3, 1, 3], [1, 1, 2, 2, 3, 3])
    assert d.icc == 0.0 and d.deff == 1.0 and not d.widens and d.factor == 1.0


@pytest.mark.parametrize(
    "values, days",
    [([3.0, 3.5, 2.5], ["x", "x", "x"]), ([3.0, 2.0], ["x", "y"]), ([], [])],
)
def test_not_estimable_is_deff_one(values, days):
    d = day_design_effect(values, days)
    assert d.deff == 1.0 and math.isnan(d.icc)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="labels"):
        day_design_effect([1.0, 2.0], ["x"])
    with pytest.raises(ValueError, match="finite"):
        day_design_effect([1.0, np.nan], ["x", "y"])


def test_widening_only_when_it_matters():
    # deff 1.21: each half times 1.1 (0.2 -> 0.22).
    assert widen_interval(3.0, 3.4, 3.2, 1.21) == (2.98, 3.42)
    # deff 1.10 is not above the threshold: unchanged.
    assert widen_interval(3.0, 3.4, 3.2, 1.10) == (3.0, 3.4)
    # Asymmetric halves keep their shape; the ends stay on the scale.
    assert widen_interval(3.5, 3.9, 3.8, 4.0) == (3.2, 4.0)
    assert widen_interval(1.2, 1.5, 1.3, 9.0, scale=(1.0, 5.0)) == (1.0, 1.9)


def test_response_rate_and_channels():
    assert response_rate(45, 900) == 0.05
    assert response_rate(45, None) is None and response_rate(45, 0) is None
    shares = channel_shares(["kiosk", "qr", "qr", "import", "qr", "kiosk"])
    assert [(c.channel, c.count) for c in shares] == [("qr", 3), ("kiosk", 2), ("import", 1)]
    assert [c.share for c in shares] == [0.5, pytest.approx(1 / 3), pytest.approx(1 / 6)]
    assert channel_shares([]) == ()

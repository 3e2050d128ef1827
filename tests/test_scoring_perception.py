"""Perception items: means with t intervals, answer counts, positive shares with Wilson.

The expected figures are worked out by hand below (t and z quantiles from printed tables:
t(0.975; 3) = 3.182446, t(0.975; 4) = 2.776445, z(0.975) = 1.959964, z^2 = 3.841459).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import scoring
from scoring.perception import perception_scores, positive_threshold

NAN = float("nan")


def test_four_point_item_by_hand() -> None:
    # Answers 1, 2, 3, 4: mean 2.5; squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5, s^2 = 5/3,
    # s = 1.290994, half-width 3.182446 x 1.290994 / 2 = 2.054260.
    # Positive (3 or 4): 2 of 4 = 0.5. Wilson: centre (0.5 + 3.841459/8) / (1 + 3.841459/4)
    # = 0.5, half 1.959964 / 1.960365 x sqrt(0.0625 + 3.841459/64) = 0.349961.
    result = perception_scores(np.array([[1.0], [2.0], [3.0], [4.0]]), 4)
    (item,) = result.items
    assert item.n == 4
    assert item.mean == 2.5
    assert item.ci_low == pytest.approx(0.445740, abs=1e-6)
    assert item.ci_high == pytest.approx(4.554260, abs=1e-6)
    assert item.counts == (1, 1, 1, 1)
    assert item.positive == 2
    assert item.positive_share == 0.5
    assert item.positive_low == pytest.approx(0.150039, abs=1e-6)
    assert item.positive_high == pytest.approx(0.849961, abs=1e-6)
    assert result.respondents == 4
    assert result.scale_points == 4
    assert result.confidence_level == 0.95


def test_five_point_items_with_missing_answers() -> None:
    # Item 1: 5, 4, 3, 5, 2: mean 3.8; squared deviations 1.44 + 0.04 + 0.64 + 1.44 + 3.24 = 6.8,
    # s^2 = 1.7, half 2.776445 x sqrt(1.7 / 5) = 1.618932. Positive on 5 points is 4 or 5 (the
    # middle 3 is not): 3 of 5. Wilson for 3/5: centre (0.6 + 0.384146) / 1.768292 = 0.556551,
    # half 1.959964 / 1.768292 x sqrt(0.048 + 0.038415) = 0.325828.
    answers = np.array([[5, 1], [4, NAN], [3, 5], [5, 4], [2, NAN]], dtype=float)
    first, second = perception_scores(answers, 5).items
    assert first.n == 5
    assert first.mean == pytest.approx(3.8)
    assert first.ci_low == pytest.approx(2.181068, abs=1e-6)
    assert first.ci_high == pytest.approx(5.418932, abs=1e-6)
    assert first.counts == (0, 1, 1, 1, 2)
    assert first.positive == 3
    assert first.positive_share == pytest.approx(0.6)
    assert first.positive_low == pytest.approx(0.230724, abs=1e-6)
    assert first.positive_high == pytest.approx(0.882379, abs=1e-6)
    # Item 2 skips the respondents who did not answer it: 1, 5, 4.
    assert second.n == 3
    assert second.counts == (1, 0, 0, 1, 1)
    assert second.positive == 2
    assert second.mean == pytest.approx(10 / 3)


def test_all_positive_share_reaches_one_and_wilson_lower_end() -> None:
    # 5 of 5 positive: the Wilson interval is [n / (n + z^2), 1] = [5 / 8.841459, 1].
    result = perception_scores(np.full((5, 1), 4.0), 4)
    (item,) = result.items
    assert item.positive_share == 1.0
    assert item.positive_high == 1.0
    assert item.positive_low == pytest.approx(0.565518, abs=1e-6)
    # No spread: the t interval collapses on the mean.
    assert (item.ci_low, item.mean, item.ci_high) == (4.0, 4.0, 4.0)


def test_no_answers_and_one_answer() -> None:
    answers = np.array([[NAN, 2.0], [NAN, NAN]])
    empty, single = perception_scores(answers, 4).items
    assert empty.n == 0 and empty.counts == (0, 0, 0, 0) and empty.positive == 0
    assert math.isnan(empty.mean) and math.isnan(empty.positive_share)
    assert math.isnan(empty.positive_low) and math.isnan(empty.positive_high)
    assert single.n == 1 and single.mean == 2.0
    # One answer has no spread to estimate: no t interval, but a Wilson interval exists.
    assert math.isnan(single.ci_low) and math.isnan(single.ci_high)
    assert single.positive_low == 0.0 and 0 < single.positive_high < 1
    assert perception_scores(answers, 4).respondents == 1


def test_a_lower_level_gives_narrower_intervals() -> None:
    answers = np.array([[1.0], [2.0], [3.0], [4.0], [4.0]])
    wide = perception_scores(answers, 4).items[0]
    narrow = perception_scores(answers, 4, confidence_level=0.8).items[0]
    assert narrow.ci_high - narrow.ci_low < wide.ci_high - wide.ci_low
    assert narrow.positive_high - narrow.positive_low < wide.positive_high - wide.positive_low


def test_positive_threshold_is_the_top_half() -> None:
    assert [positive_threshold(s) for s in (2, 3, 4, 5, 7)] == [2, 3, 3, 4, 5]


@pytest.mark.parametrize(
    ("answers", "scale", "level", "message"),
    [
        ([[1.0], [5.0]], 4, 0.95, r"answers\[1, 0\] = 5 is not a whole number in 1..4"),
        ([[2.5]], 5, 0.95, r"answers\[0, 0\] = 2.5"),
        ([[0.0]], 4, 0.95, r"answers\[0, 0\] = 0"),
        ([1.0, 2.0], 4, 0.95, "must be 2-D"),
        ([["a"]], 4, 0.95, "must be numeric"),
        ([[1.0]], 1, 0.95, "scale_points must be a whole number >= 2, got 1"),
        ([[1.0]], True, 0.95, "scale_points must be a whole number >= 2, got True"),
        ([[1.0]], 4.0, 0.95, "scale_points must be a whole number >= 2, got 4.0"),
        ([[1.0]], 4, 1.5, "confidence_level must be between 0 and 1, got 1.5"),
        ([[1.0]], 4, 0.0, "confidence_level must be between 0 and 1, got 0.0"),
    ],
)
def test_bad_input_is_refused_naming_the_value(answers, scale, level, message) -> None:
    with pytest.raises(ValueError, match=message):
        perception_scores(answers, scale, confidence_level=level)


def test_results_are_frozen_and_exported() -> None:
    result = scoring.perception_scores(np.array([[3.0]]), 4)
    with pytest.raises(AttributeError):
        result.items[0].n = 2  # type: ignore[misc]
    assert scoring.PerceptionResult is type(result)

"""The enumerator-effect check against cases worked out by hand or by full enumeration."""

from __future__ import annotations

import doctest
import itertools
import math

import numpy as np
import pytest

from scoring import enumerators, respondent_means
from scoring.change import holm
from scoring.enumerators import enumerator_effects


def test_doctest() -> None:
    result = doctest.testmod(enumerators)
    assert result.attempted > 0 and result.failed == 0


def statistic(scores: list[float], labels: list[str], strata: list[str], who: str) -> float:
    """T for ``who``, straight from its definition (an independent implementation)."""
    numerator = weight = 0.0
    for s in sorted(set(strata)):
        mine = [y for y, e, t in zip(scores, labels, strata, strict=True) if t == s and e == who]
        rest = [y for y, e, t in zip(scores, labels, strata, strict=True) if t == s and e != who]
        if mine and rest:
            numerator += len(mine) * (sum(mine) / len(mine) - sum(rest) / len(rest))
            weight += len(mine)
    return numerator / weight


def test_small_case_matches_the_full_enumeration_of_permutations() -> None:
    """Every within-OPD shuffle of a tiny wave (6! x 4! orderings), against the sampled p."""
    labels = ["a", "a", "b", "b", "c", "c", "a", "a", "b", "b"]
    strata = ["x"] * 6 + ["y"] * 4
    scores = [3.5, 4.0, 3.0, 2.5, 3.0, 2.0, 3.0, 3.5, 2.0, 2.5]
    first, second = scores[:6], scores[6:]
    observed = statistic(scores, labels, strata, "a")
    assert observed == pytest.approx((2 * (3.75 - 2.625) + 2 * (3.25 - 2.25)) / 4)  # 1.0625
    extreme = total = 0
    for one in itertools.permutations(first):
        for two in itertools.permutations(second):
            value = statistic(list(one + two), labels, strata, "a")
            extreme += abs(value) >= abs(observed) - 1e-12
            total += 1
    exact = extreme / total
    draws = 20_000
    res = enumerator_effects(scores, labels, strata, permutations=draws, seed=7, min_n=1)
    a = res.effects[0]
    assert (a.enumerator, a.n, a.n_others, a.opds) == ("a", 4, 6, 2)
    assert a.effect == pytest.approx(observed)
    expected = (1 + exact * draws) / (1 + draws)
    assert abs(a.p_value - expected) < 4 * math.sqrt(exact * (1 - exact) / draws)
    assert 0.01 < exact < 0.5  # neither trivial nor impossible, so the comparison means something


def shifted_wave(shift: int, per_cell: int) -> tuple[np.ndarray, list[str], list[str]]:
    """Three enumerators in four OPDs, the same answers each, ``c``'s raised by ``shift``."""
    rng = np.random.default_rng(3)
    rows, labels, strata = [], [], []
    for opd in ("o1", "o2", "o3", "o4"):
        base = rng.integers(1, 4, size=(per_cell, 9))  # 1..3, so +1 stays on the scale
        for who in ("a", "b", "c"):
            rows.append(base + (shift if who == "c" else 0))
            labels += [who] * per_cell
            strata += [opd] * per_cell
    return respondent_means(np.vstack(rows).astype(float)), labels, strata


def test_an_enumerator_shifted_by_one_point_is_detected() -> None:
    scores, labels, strata = shifted_wave(1, 8)
    res = enumerator_effects(scores, labels, strata, seed=1)
    a, b, c = res.effects
    assert (c.enumerator, c.n, c.n_others, c.opds) == ("c", 32, 64, 4)
    assert c.effect == pytest.approx(1.0)
    assert c.converted_effect() == pytest.approx(25.0)
    assert c.verdict == "higher" and c.p_holm < 0.05
    # The others are compared with a pool that holds c: they sit half a point below it.
    assert a.effect == pytest.approx(-0.5) and b.effect == pytest.approx(-0.5)
    assert res.flagged()[-1] is c
    judged = [e.p_value for e in res.effects]
    assert [e.p_holm for e in res.effects] == pytest.approx(holm(judged))


def test_too_little_data_never_gets_a_verdict() -> None:
    """The same +1 shift with 2 respondents per enumerator and OPD: 8 each, below 10."""
    scores, labels, strata = shifted_wave(1, 2)
    res = enumerator_effects(scores, labels, strata, seed=1)
    c = res.effects[2]
    assert c.effect == pytest.approx(1.0) and c.n == 8
    assert c.p_value < 0.05
    assert [e.verdict for e in res.effects] == ["too-little-data"] * 3
    assert all(math.isnan(e.p_holm) for e in res.effects)
    assert res.flagged() == ()


def test_enumerators_in_different_opds_are_not_an_enumerator_effect() -> None:
    """a worked mostly in a good OPD, b in a poor one; within each OPD they are alike."""
    good, poor = [3.0, 3.5, 4.0, 3.5], [1.5, 2.0, 2.5, 2.0]
    scores = good * 5 + good + poor + poor * 5
    labels = ["a"] * 20 + ["b"] * 4 + ["a"] * 4 + ["b"] * 20
    strata = ["x"] * 24 + ["y"] * 24
    pooled_a = np.mean([y for y, e in zip(scores, labels, strict=True) if e == "a"])
    pooled_b = np.mean([y for y, e in zip(scores, labels, strict=True) if e == "b"])
    assert pooled_a - pooled_b == pytest.approx(1.0)  # what a comparison across OPDs would see
    res = enumerator_effects(scores, labels, strata, seed=2)
    for effect in res.effects:
        assert effect.effect == pytest.approx(0.0, abs=1e-12)
        assert effect.p_value == 1.0
        assert effect.verdict == "unclear"
    assert res.flagged() == ()


def test_all_equal_answers_give_p_one_and_no_verdict() -> None:
    res = enumerator_effects([3.0] * 30, ["a", "b", "c"] * 10, ["x"] * 30, permutations=999)
    assert [(e.effect, e.p_value, e.p_holm, e.verdict) for e in res.effects] == [
        (0.0, 1.0, 1.0, "unclear")
    ] * 3


def test_one_enumerator_has_nothing_to_compare() -> None:
    res = enumerator_effects([3.0, 2.0, 4.0, 1.0], ["a"] * 4, ["x", "x", "y", "y"])
    [a] = res.effects
    assert (a.n, a.n_others, a.opds, a.verdict) == (0, 0, 0, "nothing-to-compare")
    assert math.isnan(a.effect) and math.isnan(a.p_value) and math.isnan(a.p_holm)


def test_an_opd_one_enumerator_covered_alone_is_left_out() -> None:
    """OPD y holds only a's respondents: it enters neither a's nor b's comparison."""
    scores = [3.0, 4.0, 2.0, 2.0, 1.0, 1.0]
    res = enumerator_effects(scores, ["a", "a", "b", "b", "a", "a"], ["x"] * 4 + ["y"] * 2)
    a, b = res.effects
    assert (a.n, a.n_others, a.opds, a.effect) == (2, 2, 1, 1.5)
    assert (b.n, b.n_others, b.opds, b.effect) == (2, 2, 1, -1.5)


def test_the_seed_reproduces_the_result() -> None:
    scores = np.random.default_rng(5).integers(4, 17, size=60) / 4
    labels, strata = ["a", "b", "c"] * 20, ["x", "y"] * 30
    one = enumerator_effects(scores, labels, strata, seed=11, permutations=500)
    two = enumerator_effects(scores, labels, strata, seed=11, permutations=500)
    other = enumerator_effects(scores, labels, strata, seed=12, permutations=500)
    assert one == two
    assert [e.p_value for e in one.effects] != [e.p_value for e in other.effects]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scores": [3.0, 2.0], "enumerators": ["a"], "strata": ["x", "x"]}, "one entry"),
        ({"scores": [3.0, float("nan")], "enumerators": ["a", "b"], "strata": ["x", "x"]}, "nan"),
        ({"permutations": 10}, "permutations"),
        ({"min_n": 0}, "min_n"),
        ({"alpha": 1.5}, "alpha"),
        ({"scale_points": 1}, "scale_points"),
    ],
)
def test_bad_input_is_named(kwargs: dict, message: str) -> None:
    arguments = {"scores": [3.0, 2.0], "enumerators": ["a", "b"], "strata": ["x", "x"]}
    with pytest.raises(ValueError, match=message):
        enumerator_effects(**{**arguments, **kwargs})

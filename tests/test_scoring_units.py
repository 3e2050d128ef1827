"""Scoring a wave at once (scoring.units), the coverage proof, and the docstring examples."""

from __future__ import annotations

import doctest
import importlib
import json
import math

import numpy as np
import pytest

from scoring import (
    KEPMENPAN_2004,
    aggregate,
    funnel,
    ikm,
    rank_confidence_sets,
    score_units,
    shrink,
)


def population(size: int, shift: float, seed: int, k: int = 9) -> np.ndarray:
    """Correlated ordinal answers (average inter-item correlation about 0.4)."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(size, 1)) * 0.85 + rng.normal(size=(size, k)) * 0.95
    cut = latent + shift + rng.normal(0, 0.3, k) + 2.6
    return np.clip(np.round(cut), 1, 4)


def wave(units: int = 12, seed: int = 0, missing: float = 0.1):
    rng = np.random.default_rng(seed)
    rows = {}
    for u in range(units):
        pop = population(3000, shift=0.05 * (u - units / 2), seed=100 + u)
        sample = pop[rng.integers(0, 3000, rng.integers(20, 60))].copy()
        sample[rng.random(sample.shape) < missing] = np.nan
        rows[f"opd-{u:02d}"] = sample
    return rows


def test_score_units_agrees_with_the_individual_functions():
    rows = wave()
    aggs = {u: aggregate(r) for u, r in rows.items()}
    res = score_units(aggs, seed=7, top_k=3, variance_prior_df=0)
    assert [u.unit for u in res.units] == list(aggs)
    est = [ikm(a) for a in aggs.values()]
    values = [e.ikm for e in est]
    se = [e.se() for e in est]
    ranks = rank_confidence_sets(values, se, rng=7, df=[e.n - 1 for e in est])
    fun = funnel(values, se)
    shr = shrink(values, se)
    for i, unit in enumerate(res.units):
        assert unit.ikm == values[i] and unit.n == est[i].n and unit.se == se[i]
        assert unit.converted() == pytest.approx(25 * values[i])
        assert unit.category() == est[i].category()
        assert unit.interval == est[i].confidence_interval()
        assert (unit.rank, unit.rank_low, unit.rank_high) == (
            ranks.rank[i], ranks.low[i], ranks.high[i])  # fmt: skip
        assert (unit.rank_marginal_low, unit.rank_marginal_high) == (
            ranks.marginal_low[i], ranks.marginal_high[i])  # fmt: skip
        assert unit.in_top_set == ranks.tau_best(3)[i]
        assert unit.in_bottom_set == ranks.tau_worst(3)[i]
        assert unit.funnel_95 == fun.position(0.95)[i]
        assert unit.funnel_998 == fun.position(0.998)[i]
        assert unit.shrunken == pytest.approx(shr.shrunken()[i])
        assert [e.code for e in unit.elements] == [f"U{j}" for j in range(1, 10)]
        assert [e.n for e in unit.elements] == est[i].n_answers.tolist()
    assert res.tau2() == shr.tau2
    assert res.alpha is None  # answers are missing and no rows were given
    assert res.kruskal is None
    assert set(res.top_set()) == {u.unit for u in res.units if u.in_top_set}


def test_same_seed_same_output():
    aggs = {u: aggregate(r) for u, r in wave(seed=1).items()}
    a = [u.as_dict() for u in score_units(aggs, seed=3).units]
    b = [u.as_dict() for u in score_units(aggs, seed=3).units]
    assert json.dumps(a) == json.dumps(b)


def test_rows_add_bootstrap_kruskal_and_alpha():
    rows = wave(units=5, seed=2, missing=0.0)
    rows["opd-small"] = rows["opd-00"][:8]
    aggs = {u: aggregate(r) for u, r in rows.items()}
    res = score_units(aggs, rows=rows, bootstrap=999, seed=4, element_codes=[f"Q{j}" for j in
                                                                             range(9)])  # fmt: skip
    for unit in res.units:
        if unit.n >= 15:
            assert unit.interval.method == "bootstrap-bca"
            assert unit.elements[0].interval.method == "bootstrap-bca"
        else:
            assert unit.interval.method == "analytic-logit" and unit.interval.unreliable
            assert unit.unreliable()
    assert res.kruskal is not None and res.kruskal.df == 5
    assert res.alpha is not None and 0 < res.alpha.alpha < 1
    assert res.units[0].elements[0].code == "Q0"
    # Each unit's resamples are keyed by its id: dropping another unit changes nothing.
    first = list(aggs)[:3]
    fewer = score_units(
        {u: aggs[u] for u in first}, rows={u: rows[u] for u in first}, bootstrap=999, seed=4
    )
    assert fewer.units[1].interval == res.units[1].interval


def test_rows_must_match_the_aggregates():
    rows = wave(units=3, seed=5)
    aggs = {u: aggregate(r) for u, r in rows.items()}
    bad = dict(rows, **{"opd-01": rows["opd-01"][1:]})
    with pytest.raises(ValueError, match="rows of unit 'opd-01' do not match its aggregates"):
        score_units(aggs, rows=bad)
    with pytest.raises(ValueError, match="bootstrap needs rows"):
        score_units(aggs, bootstrap=100)


def test_units_without_respondents_and_a_single_unit():
    rows = wave(units=1, seed=6)
    aggs = {"opd-00": aggregate(rows["opd-00"]), "opd-empty": aggregate(np.empty((0, 9)))}
    res = score_units(aggs)
    assert res.unscored == ("opd-empty",)
    (only,) = res.units
    assert (only.rank, only.rank_low, only.rank_high) == (1, 1, 1)
    assert only.in_top_set and only.in_bottom_set
    assert only.funnel_95 is None and math.isnan(only.shrunken)
    assert math.isnan(res.tau2())
    with pytest.raises(KeyError):
        res.unit("opd-empty")


def test_unit_with_all_answers_equal_gets_a_plug_in_standard_error():
    rows = wave(units=4, seed=7)
    rows["opd-flat"] = np.full((20, 9), 4.0)
    aggs = {u: aggregate(r) for u, r in rows.items()}
    res = score_units(aggs)
    flat = res.unit("opd-flat")
    assert flat.interval.degenerate and flat.interval.width() > 0
    assert flat.se > 0  # pooled respondent sd / sqrt(20), not a false certainty
    assert flat.rank == 1 and flat.category().code == "A"


def test_json_fields_of_ikm_score():
    aggs = {u: aggregate(r) for u, r in wave(units=6, seed=8).items()}
    res = score_units(aggs, KEPMENPAN_2004)
    record = res.units[0].as_dict()
    for field in ("unit", "n", "ikm", "ikm_converted", "ci_low", "ci_high", "ci_method",
                  "category", "category_label", "rank", "rank_ci_low", "rank_ci_high",
                  "in_top_set", "in_bottom_set", "elements"):  # fmt: skip
        assert field in record
    assert set(record["elements"]["U1"]) == {"nrr", "ci_low", "ci_high", "n"}
    assert record["ci_low"] == pytest.approx(res.units[0].interval.low * 25)
    assert record["category"] == KEPMENPAN_2004.categorize(record["ikm"]).code
    json.dumps([u.as_dict() for u in res.units], allow_nan=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(aggregates={}), "non-empty mapping"),
        (dict(aggregates={"a": "x"}), "not Aggregates"),
        (dict(top_k=0), "top_k must be a whole number >= 1, got 0"),
        (dict(element_codes=["U1"]), "element_codes has 1 codes for 9 elements"),
        (dict(seed=-1), "seed must be a whole number >= 0"),
    ],
)
def test_score_units_checks_its_inputs(kwargs, message):
    aggs = {u: aggregate(r) for u, r in wave(units=2, seed=9).items()}
    kwargs.setdefault("aggregates", aggs)
    with pytest.raises((ValueError, TypeError), match=message):
        score_units(**kwargs)


def test_knpi_sized_league_is_honest_about_ranks():
    # 20 OPDs with 20..60 respondents and true IKMs within 0.5 of each other.
    rng = np.random.default_rng(10)
    aggs = {}
    for u in range(20):
        pop = population(3000, shift=-0.25 + 0.025 * u, seed=200 + u)
        aggs[f"opd-{u}"] = aggregate(pop[rng.integers(0, 3000, rng.integers(20, 61))])
    res = score_units(aggs, seed=1)
    widths = [u.rank_high - u.rank_low + 1 for u in res.units]
    assert np.median(widths) >= 5  # most ranks are uncertain
    assert len(res.top_set()) > 5  # the honest "top 5" has more than five members


# --- coverage: does the 95% interval cover the truth about 95% of the time? -------------------


@pytest.mark.parametrize("missing", [0.0, 0.2])
def test_ikm_interval_covers_the_truth(missing):
    rng = np.random.default_rng(123)
    pop = population(20000, shift=0.2, seed=1)
    truth = pop.mean()  # no missing answers in the population: the exact IKM
    covered = 0
    sims = 400
    for _ in range(sims):
        rows = pop[rng.integers(0, len(pop), 30)].copy()
        rows[rng.random(rows.shape) < missing] = np.nan
        ci = ikm(aggregate(rows)).confidence_interval()
        covered += ci.low <= truth <= ci.high
    assert 0.90 <= covered / sims <= 0.99, covered / sims


# --- the examples in the docstrings -------------------------------------------------------


@pytest.mark.parametrize(
    "module", ["schemes", "aggregates", "ikm", "ranks", "compare", "planning", "units"]
)
def test_docstring_examples(module):
    mod = importlib.import_module(f"scoring.{module}")
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_no_rank_draws_gives_whole_range_sets_and_everything_else_unchanged():
    """rank_draws=0 (the live dashboard): no rank inference; each set is 1..p (always true),
    so every unit is in the top and bottom sets; scores, intervals, point ranks, funnel and
    shrinkage are those of a run with draws."""
    aggs = {u: aggregate(r) for u, r in wave().items()}
    full = score_units(aggs, seed=3, top_k=3)
    bare = score_units(aggs, seed=3, top_k=3, rank_draws=0)
    p = len(full.units)
    assert bare.ranks.draws == 0
    for a, b in zip(full.units, bare.units, strict=True):
        assert (a.unit, a.ikm, a.interval, a.rank, a.funnel_95, a.shrunken) == (
            b.unit,
            b.ikm,
            b.interval,
            b.rank,
            b.funnel_95,
            b.shrunken,
        )
        assert (b.rank_low, b.rank_high, b.rank_marginal_low, b.rank_marginal_high) == (1, p, 1, p)
        assert b.in_top_set and b.in_bottom_set
    with pytest.raises(ValueError, match="rank_draws must be a whole number >= 0"):
        score_units(aggs, rank_draws=-1)


def test_without_elements_the_units_figures_are_the_same():
    """elements=False (the live dashboard) leaves every unit's element scores out and changes
    nothing else: IKM, interval, ranks, sets, funnel and shrinkage are the same, ranked or
    not; the JSON row has no element."""
    aggs = {u: aggregate(r) for u, r in wave().items()}
    full = score_units(aggs, seed=3, top_k=3, min_rank_n=40)
    bare = score_units(aggs, seed=3, top_k=3, min_rank_n=40, elements=False)
    assert full.unranked and full.units  # both kinds are compared
    for a, b in zip(full.units + full.unranked, bare.units + bare.unranked, strict=True):
        assert len(a.elements) == a.estimate.n_answers.size and b.elements == ()
        assert {**a.as_dict(), "elements": {}} == b.as_dict()
        assert b.as_dict()["elements"] == {}

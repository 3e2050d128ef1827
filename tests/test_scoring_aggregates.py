"""Sufficient statistics: the same numbers from aggregates as from rows (scoring.aggregates)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from scoring import (
    PERMENPANRB_2017,
    Aggregates,
    aggregate,
    aggregate_units,
    cronbach_alpha,
    ikm,
    merge_aggregates,
    stacked_aggregates,
)


def survey(n: int, seed: int, missing: float = 0.2, k: int = 9) -> np.ndarray:
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 1)) * 0.9 + rng.normal(size=(n, k)) + rng.normal(0, 0.5, k)
    rows = np.clip(np.round(latent + 2.6), 1, 4)
    rows[rng.random(rows.shape) < missing] = np.nan
    return rows


def test_aggregates_by_hand():
    rows = np.array([[4, 3, np.nan], [2, np.nan, 1], [3, 3, 4]])
    agg = aggregate(rows)
    assert agg.n == 3
    assert agg.n_answers.tolist() == [3, 2, 2]
    assert agg.sums.tolist() == [9, 6, 5]
    assert agg.n_both.tolist() == [[3, 2, 2], [2, 2, 1], [2, 1, 2]]
    # P_jk over respondents answering both: P_01 = 4*3 + 3*3, P_02 = 2*1 + 3*4, P_12 = 3*4.
    assert agg.products.tolist() == [[29, 21, 14], [21, 18, 12], [14, 12, 17]]
    # T_jk = sum of element j over respondents answering j and k.
    assert agg.pair_sums.tolist() == [[9, 7, 5], [6, 6, 3], [5, 4, 5]]
    assert agg.counts.tolist() == [[0, 1, 1, 1], [0, 0, 2, 0], [1, 0, 0, 1]]


@pytest.mark.parametrize("missing", [0.0, 0.15, 0.5])
def test_same_numbers_from_aggregates_as_from_rows(missing):
    rows = survey(57, seed=int(missing * 100), missing=missing)
    from_rows = ikm(rows)
    from_aggs = ikm(aggregate(rows))
    assert from_rows.n == from_aggs.n
    assert from_rows.exact == from_aggs.exact
    np.testing.assert_array_equal(from_rows.n_answers, from_aggs.n_answers)
    np.testing.assert_allclose(from_rows.nrr, from_aggs.nrr, rtol=1e-15)
    np.testing.assert_allclose(from_rows.cov, from_aggs.cov, rtol=1e-12, atol=1e-15)
    assert from_rows.se() == pytest.approx(from_aggs.se(), rel=1e-12)
    for a, b in zip(
        (from_rows.confidence_interval(), *from_rows.element_intervals(0.9)),
        (from_aggs.confidence_interval(), *from_aggs.element_intervals(0.9)),
        strict=True,
    ):
        assert (a.low, a.high) == pytest.approx((b.low, b.high), rel=1e-12)
        assert a.method == b.method
    assert from_rows.category() == from_aggs.category()
    assert from_rows.crosses_boundary() == from_aggs.crosses_boundary()


def test_covariance_matches_a_plain_loop_over_respondents():
    rows = survey(25, seed=3, missing=0.3)
    res = ikm(aggregate(rows))
    k = rows.shape[1]
    m = np.nanmean(rows, axis=0)
    given = ~np.isnan(rows)
    expected = np.zeros((k, k))
    for j in range(k):
        for h in range(k):
            both = given[:, j] & given[:, h]
            centred = sum((rows[i, j] - m[j]) * (rows[i, h] - m[h]) for i in np.flatnonzero(both))
            nj, nh, njh = given[:, j].sum(), given[:, h].sum(), both.sum()
            expected[j, h] = centred / ((nj - 1) * (nh - 1) + njh - 1)
    np.testing.assert_allclose(res.cov, expected, rtol=1e-12, atol=1e-16)


def test_merging_batches_equals_aggregating_everything():
    rows = survey(100, seed=4)
    parts = [aggregate(rows[:10]), aggregate(rows[10:55]), aggregate(rows[55:])]
    assert merge_aggregates(*parts) == aggregate(rows)
    assert merge_aggregates(Aggregates.empty(9), parts[0]) == parts[0]
    # Running totals: add one response at a time.
    running = Aggregates.empty(9)
    for row in rows[:20]:
        running = merge_aggregates(running, aggregate(row[None, :]))
    assert running == aggregate(rows[:20])


def test_aggregate_units_equals_aggregating_each_unit():
    rng = np.random.default_rng(5)
    rows = survey(3000, seed=6)
    units = rng.integers(0, 7, 3000)
    units[units == 5] = 4  # unit 5 has no rows
    parts = aggregate_units(units, rows, 7)
    assert len(parts) == 7
    for u in range(7):
        assert parts[u] == aggregate(rows[units == u]), u
    assert parts[5] == Aggregates.empty(9)
    # Already ordered input takes the no-sort path and gives the same result.
    order = np.argsort(units, kind="stable")
    assert aggregate_units(units[order], rows[order], 7) == parts


def test_aggregate_units_with_large_units_spanning_blocks():
    rows = survey(150_000, seed=7, missing=0.1)
    units = np.repeat([0, 1, 2], [100_000, 20, 49_980])
    parts = aggregate_units(units, rows, 3)
    assert parts[0] == aggregate(rows[:100_000])
    assert merge_aggregates(*parts) == aggregate(rows)


def test_aggregate_units_is_fast_for_a_million_rows():
    rng = np.random.default_rng(8)
    rows = rng.integers(1, 5, size=(1_000_000, 9)).astype(np.float64)
    rows[rng.random(rows.shape) < 0.05] = np.nan
    units = rng.integers(0, 500, 1_000_000)
    start = time.process_time()
    parts = aggregate_units(units, rows, 500)
    elapsed = time.process_time() - start
    assert sum(p.n for p in parts) == 1_000_000 - np.isnan(rows).all(axis=1).sum()
    assert elapsed < 3.0, f"aggregation took {elapsed:.2f} s of CPU"


def test_dict_round_trip_and_validation():
    agg = aggregate(survey(30, seed=9))
    data = agg.as_dict()
    assert isinstance(data["counts"][0][0], int)
    assert Aggregates.from_dict(data) == agg
    broken = dict(data, sums=[s + 1 for s in data["sums"]])
    with pytest.raises(ValueError, match="sums == counts weighted by the values"):
        Aggregates.from_dict(broken)
    with pytest.raises(ValueError, match="lacks pair_sums"):
        Aggregates.from_dict({k: v for k, v in data.items() if k != "pair_sums"})
    with pytest.raises(ValueError, match=r"n_answers .* exceeds n"):
        Aggregates.from_dict(dict(data, n=1))
    with pytest.raises(ValueError, match="must not be negative"):
        Aggregates.from_dict(dict(data, counts=[[-1, 0, 0, 0]] * 9))
    asym = np.array(data["n_both"])
    asym[0, 1] += 1
    with pytest.raises(ValueError, match="n_both is symmetric"):
        Aggregates.from_dict(dict(data, n_both=asym))


def _stack(parts: list[Aggregates]) -> dict[str, np.ndarray]:
    return {f: np.stack([np.asarray(p.as_dict()[f]) for p in parts]) for f in parts[0].as_dict()}


def test_stacked_aggregates_equal_one_by_one_and_check_the_same():
    """Stacked figures give the same Aggregates as one construction each, read-only; and a
    perturbed figure is refused by the stacked checks exactly when the constructor refuses it,
    with the constructor's message and the unit's index."""
    parts = [aggregate(survey(n, seed=n, k=5)) for n in (1, 2, 7, 40)]
    parts.append(Aggregates.empty(5))
    built = stacked_aggregates(_stack(parts))
    assert built == parts
    assert all(isinstance(b.n, int) for b in built)
    with pytest.raises(ValueError, match="read-only"):
        built[2].counts[0, 0] = 9
    assert stacked_aggregates({f: v[:0] for f, v in _stack(parts).items()}) == []
    rng = np.random.default_rng(15)
    refused = 0
    for trial in range(400):
        stacked = {f: v.copy() for f, v in _stack(parts).items()}
        field = ["n", "n_answers", "n_both", "sums", "products", "pair_sums", "counts"][trial % 7]
        unit = int(rng.integers(len(parts)))
        figure = stacked[field][unit : unit + 1].reshape(-1)
        figure[int(rng.integers(figure.size))] += int(rng.choice([-2, -1, 1, 2]))
        stacked[field][unit] = figure.reshape(stacked[field][unit].shape)
        try:
            Aggregates(**{f: v[unit] for f, v in stacked.items()})
        except ValueError as exc:
            refused += 1
            with pytest.raises(ValueError) as caught:
                stacked_aggregates(stacked)
            assert str(caught.value) == f"unit {unit}: {exc}"
        else:
            assert stacked_aggregates(stacked)[unit] == Aggregates(
                **{f: v[unit] for f, v in stacked.items()}
            )
    assert 300 < refused < 400  # most perturbations break a check; some (n up) do not


def test_arrays_are_read_only():
    agg = aggregate(survey(10, seed=10))
    with pytest.raises(ValueError, match="read-only"):
        agg.sums[0] = 0


def test_input_errors_name_the_bad_value():
    rows = survey(5, seed=11)
    with pytest.raises(ValueError, match=r"unit_index value 3 is outside 0\.\.2"):
        aggregate_units([0, 1, 2, 3, 0], rows, 3)
    with pytest.raises(ValueError, match=r"unit_index has shape \(2,\), expected \(5,\)"):
        aggregate_units([0, 1], rows, 3)
    with pytest.raises(ValueError, match="n_units must be a whole number >= 1, got 0"):
        aggregate_units([0] * 5, rows, 0)
    with pytest.raises(ValueError, match="part 1 has 2 elements"):
        merge_aggregates(aggregate(rows), aggregate(rows[:, :2]))


def test_other_scales_work_the_same():
    rows = np.array([[5, 1], [3, 2], [4, np.nan]])
    agg = aggregate(rows, scale_points=5)
    assert agg.scale_points == 5 and agg.counts.shape == (2, 5)
    with pytest.raises(ValueError, match=r"not a whole number in 1\.\.4"):
        aggregate(rows)


def test_alpha_from_aggregates_equals_alpha_from_rows():
    rows = survey(80, seed=12, missing=0.0)
    a, b = cronbach_alpha(rows), cronbach_alpha(aggregate(rows))
    assert a.alpha == pytest.approx(b.alpha, rel=1e-12)
    with pytest.raises(ValueError, match="include missing answers"):
        cronbach_alpha(aggregate(survey(80, seed=12, missing=0.1)))


def test_scheme_is_carried_through():
    res = ikm(aggregate(survey(20, seed=13)), scheme=PERMENPANRB_2017)
    assert res.scheme is PERMENPANRB_2017

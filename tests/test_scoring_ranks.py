"""Confidence sets for ranks (scoring.ranks) against a slow, literal csranks implementation."""

from __future__ import annotations

import time

import numpy as np
import pytest

from scoring import aggregate, ikm, rank_confidence_sets
from scoring import ranks as ranks_module

# --- a plain, slow transcription of csranks (csdiffmeans, csranks_simul, cstaubest, ...) ----


def ref_csdiffmeans(x, sigma, z, level, family, kind):
    """csranks' csdiffmeans with stepdown, reusing the draws z at every step.

    kind "lower": lower bounds L[i, j] of x_i - x_j, a pair is rejected when L > 0.
    kind "upper": upper bounds U[i, j], a pair is rejected when U < 0.
    """
    p = len(x)
    active = family.copy()
    lower = np.full((p, p), -np.inf)
    upper = np.full((p, p), np.inf)
    while True:
        stat = np.full(z.shape[0], -np.inf)
        for i in range(p):
            for j in range(p):
                if active[i, j]:
                    t = (z[:, i] - z[:, j]) / sigma[i, j]
                    stat = np.maximum(stat, t if kind == "lower" else -t)
        c = np.quantile(stat, level)
        for i in range(p):
            for j in range(p):
                if active[i, j]:
                    if kind == "lower":
                        lower[i, j] = (x[i] - x[j]) - sigma[i, j] * c
                    else:
                        upper[i, j] = (x[i] - x[j]) + sigma[i, j] * c
        still = active & ~((upper < 0) | (lower > 0))
        if still.sum() == active.sum() or still.sum() == 0:
            return lower, upper
        active = still


def ref_two_sided(x, sigma, z, level, indices):
    """csranks_simul, two-sided with stepdown: the family is every ordered pair touching an
    index, tested one-sidedly ("lower")."""
    p = len(x)
    family = np.zeros((p, p), dtype=bool)
    family[indices, :] = True
    family[:, indices] = True
    np.fill_diagonal(family, False)
    lower, _ = ref_csdiffmeans(x, sigma, z, level, family, "lower")
    n_plus = [(lower[i, :] > 0).sum() for i in indices]
    n_minus = [(lower[:, i] > 0).sum() for i in indices]
    return np.array(n_minus) + 1, p - np.array(n_plus)


def ref_taubest(x, sigma, z, level, tau):
    """cstaubest: one-sided lower rank bounds (csdiffmeans "upper"), then L <= tau."""
    p = len(x)
    family = ~np.eye(p, dtype=bool)
    _, upper = ref_csdiffmeans(x, sigma, z, level, family, "upper")
    low = (upper < 0).sum(axis=1) + 1
    return low <= tau


def ref_tauworst(x, sigma, z, level, tau):
    """cstauworst: one-sided upper rank bounds (csdiffmeans "lower"), then U >= p - tau + 1."""
    p = len(x)
    family = ~np.eye(p, dtype=bool)
    lower, _ = ref_csdiffmeans(x, sigma, z, level, family, "lower")
    high = p - (lower > 0).sum(axis=1)
    return high >= p - tau + 1


def draws_for(seed, draws, se=None, cov=None):
    z = np.random.default_rng(seed).standard_normal((draws, len(se if se is not None else cov)))
    if se is not None:
        return z * se
    vals, vecs = np.linalg.eigh(cov)
    return z @ (vecs * np.sqrt(np.clip(vals, 0, None))).T


def random_case(seed, p):
    rng = np.random.default_rng(seed)
    se = rng.uniform(0.02, 0.08, p)
    x = rng.normal(3.0, 0.25, p)
    if p > 4:
        x[1] = x[0]  # a tie
    return x, se


@pytest.mark.parametrize("seed, p, level", [(1, 5, 0.95), (2, 8, 0.95), (3, 10, 0.9),
                                            (4, 12, 0.95), (5, 7, 0.8)])  # fmt: skip
def test_matches_the_literal_procedure(seed, p, level):
    x, se = random_case(seed, p)
    draws = 500
    res = rank_confidence_sets(x, se, confidence_level=level, draws=draws, rng=seed)
    z = draws_for(seed, draws, se=se)
    sigma = np.sqrt(se[:, None] ** 2 + se[None, :] ** 2)
    low, high = ref_two_sided(x, sigma, z, level, list(range(p)))
    np.testing.assert_array_equal(res.low, low)
    np.testing.assert_array_equal(res.high, high)
    for i in range(p):
        m_low, m_high = ref_two_sided(x, sigma, z, level, [i])
        assert (res.marginal_low[i], res.marginal_high[i]) == (m_low[0], m_high[0]), i
    for tau in range(1, p + 1):
        np.testing.assert_array_equal(res.tau_best(tau), ref_taubest(x, sigma, z, level, tau))
        np.testing.assert_array_equal(res.tau_worst(tau), ref_tauworst(x, sigma, z, level, tau))
    assert res.rank.tolist() == [1 + int((x > v).sum()) for v in x]


def test_t_draws_match_the_literal_procedure_and_widen_the_sets():
    x, se = random_case(6, 10)
    df = np.arange(5, 15)
    res = rank_confidence_sets(x, se, draws=500, rng=3, df=df)
    z = np.random.default_rng(3).standard_t(df, size=(500, 10)) * se
    sigma = np.sqrt(se[:, None] ** 2 + se[None, :] ** 2)
    low, high = ref_two_sided(x, sigma, z, 0.95, list(range(10)))
    np.testing.assert_array_equal(res.low, low)
    np.testing.assert_array_equal(res.high, high)
    normal = rank_confidence_sets(x, se, draws=500, rng=3)
    assert np.all(res.low <= normal.low) and np.all(res.high >= normal.high)
    with pytest.raises(ValueError, match=r"df must be finite and > 0, got 0\.0"):
        rank_confidence_sets(x, se, df=np.arange(10))
    # A standard error whose pair variance overflows would give NaN sets: refused.
    with pytest.raises(ValueError, match=r"se is too large to rank with, got se\[1\] = 1e\+154"):
        rank_confidence_sets([1.0, 2.0], [0.1, 1e154])
    assert rank_confidence_sets([1.0, 2.0], [0.1, 1e150], draws=10, rng=0).low.tolist() == [1, 1]
    with pytest.raises(ValueError, match="df can only be given with se"):
        rank_confidence_sets(x, cov=np.diag(se**2), df=5)


def test_matches_the_literal_procedure_with_a_full_covariance():
    rng = np.random.default_rng(7)
    p = 6
    a = rng.normal(size=(p, p)) * 0.03
    cov = a @ a.T + np.diag(rng.uniform(0.001, 0.004, p))
    x = rng.normal(3.0, 0.1, p)
    res = rank_confidence_sets(x, cov=cov, draws=400, rng=9)
    z = draws_for(9, 400, cov=cov)
    var = np.diag(cov)
    sigma = np.sqrt(var[:, None] + var[None, :] - 2 * cov)
    np.fill_diagonal(sigma, 1.0)  # unused
    low, high = ref_two_sided(x, sigma, z, 0.95, list(range(p)))
    np.testing.assert_array_equal(res.low, low)
    np.testing.assert_array_equal(res.high, high)


def test_matches_the_literal_procedure_on_a_larger_league():
    # Enough units (60), with standard errors five times apart, for the bounds-based
    # shortcuts to skip most of the work.
    rng = np.random.default_rng(11)
    p = 60
    se = 0.45 / np.sqrt(rng.integers(10, 300, p))
    x = rng.normal(3.0, 0.2, p)
    res = rank_confidence_sets(x, se, draws=300, rng=12, marginal=False)
    z = draws_for(12, 300, se=se)
    sigma = np.sqrt(se[:, None] ** 2 + se[None, :] ** 2)
    low, high = ref_two_sided(x, sigma, z, 0.95, list(range(p)))
    np.testing.assert_array_equal(res.low, low)
    np.testing.assert_array_equal(res.high, high)
    assert res.marginal_low is None
    full = rank_confidence_sets(x, se, draws=300, rng=12)
    for i in (0, 17, 39, 59):
        m_low, m_high = ref_two_sided(x, sigma, z, 0.95, [i])
        assert (full.marginal_low[i], full.marginal_high[i]) == (m_low[0], m_high[0])


def plain_all_pairs(x, se, draws, seed, level, df=None):
    """The module's procedure with every pair evaluated in every draw (no bounds, no reuse).

    Same draws and arithmetic as rank_confidence_sets: T_rij = (Z_ri - Z_rj) * (1 / sigma_ij);
    pairs with sigma_ij = 0 are decided without error and left out of the maxima.
    """
    p = len(x)
    var = se * se
    rng = np.random.default_rng(seed)
    if df is None:
        z = rng.standard_normal((draws, p)) * np.sqrt(var)
    else:
        z = rng.standard_t(df, size=(draws, p)) * np.sqrt(var)
    return plain_from_draws(x, np.sqrt(var[:, None] + var[None, :]), z, level)


def plain_from_draws(x, sigma, z, level):
    """plain_all_pairs given the draws z and the standard errors sigma of the differences."""
    p = len(x)
    off = ~np.eye(p, dtype=bool)
    random = off & (sigma > 0)
    inv = np.divide(1.0, sigma, out=np.zeros((p, p)), where=random)
    t = (z[:, :, None] - z[:, None, :]) * inv  # t[r, i, j]
    diff = x[:, None] - x[None, :]
    better = off & (sigma == 0) & (diff > 0)
    active = random.copy()
    while active.any():
        c = np.quantile(np.where(active, t, -np.inf).max(axis=(1, 2)), level)
        new = active & (diff - sigma * c > 0)
        if not new.any():
            break
        better |= new
        active &= ~new
    m_low, m_high = np.ones(p, dtype=int), np.full(p, p)
    for i in range(p):
        row, col = random[i].copy(), random[i].copy()  # pairs (i, j) and (j, i) active
        above = int((off[i] & (sigma[i] == 0) & (diff[i] < 0)).sum())
        below = int((off[i] & (sigma[i] == 0) & (diff[i] > 0)).sum())
        while row.any() or col.any():
            stat = np.maximum(
                np.where(row, t[:, i, :], -np.inf).max(axis=1),
                np.where(col, -t[:, i, :], -np.inf).max(axis=1),
            )
            c = np.quantile(stat, level)
            new_row = row & (diff[i] - sigma[i] * c > 0)
            new_col = col & (-diff[i] - sigma[i] * c > 0)
            if not (new_row.any() or new_col.any()):
                break
            below += int(new_row.sum())
            above += int(new_col.sum())
            row &= ~new_row
            col &= ~new_col
        m_low[i], m_high[i] = 1 + above, p - below
    return better, m_low, m_high


@pytest.mark.parametrize("p", [1, 2, 3, 5, 9, 50, 150])
def test_bounds_and_shortcuts_change_nothing(p):
    # Random leagues (ties, zero standard errors, t draws with small df, few or many draws,
    # several levels): the sets equal those of the plain all-pairs procedure.
    cases = {50: 8, 150: 3}.get(p, 60)
    for case in range(cases):
        rng = np.random.default_rng(1000 * p + case)
        x = np.round(rng.normal(3.0, rng.choice([0.02, 0.1, 0.3]), p), 2)  # rounding: ties
        se = rng.uniform(0.01, 0.1, p) * rng.choice([0.3, 1.0, 3.0], p)
        se[rng.random(p) < 0.15] = 0.0
        df = rng.uniform(0.5, 30.0, p) if case % 2 else None
        draws = int(rng.choice([2, 3, 17, 120, 400]))
        level = float(rng.choice([0.5, 0.8, 0.95]))
        res = rank_confidence_sets(x, se, draws=draws, rng=case, df=df, confidence_level=level)
        better, m_low, m_high = plain_all_pairs(x, se, draws, case, level, df)
        where = f"p={p} case={case}"
        np.testing.assert_array_equal(res.surely_better, better, err_msg=where)
        np.testing.assert_array_equal(res.low, 1 + better.sum(axis=0), err_msg=where)
        np.testing.assert_array_equal(res.high, p - better.sum(axis=1), err_msg=where)
        np.testing.assert_array_equal(res.marginal_low, m_low, err_msg=where)
        np.testing.assert_array_equal(res.marginal_high, m_high, err_msg=where)


@pytest.mark.parametrize("p", [9, 50])
def test_work_in_small_blocks_changes_nothing(p, monkeypatch):
    # Draws made, and (p x p) and (draws x p) arrays gone through, a few rows at a time (the
    # last block short): the same sets as the plain all-pairs procedure.
    monkeypatch.setattr(ranks_module, "_CHUNK_ELEMENTS", 3 * p + 1)
    blocks = []
    reject = ranks_module._reject

    def counted(pairs, active, better, c):
        blocks.append(-(-pairs.p // ranks_module._rows_per_block(pairs.p)))
        return reject(pairs, active, better, c)

    monkeypatch.setattr(ranks_module, "_reject", counted)
    for case in range(6):
        rng = np.random.default_rng(7000 + 10 * p + case)
        x = np.round(rng.normal(3.0, rng.choice([0.02, 0.1]), p), 2)
        se = rng.uniform(0.01, 0.1, p)
        se[rng.random(p) < 0.1] = 0.0
        df = rng.uniform(0.5, 30.0, p) if case % 2 else None
        draws = int(rng.choice([17, 120, 401]))
        res = rank_confidence_sets(x, se, draws=draws, rng=case, df=df)
        better, m_low, m_high = plain_all_pairs(x, se, draws, case, 0.95, df)
        where = f"p={p} case={case}"
        np.testing.assert_array_equal(res.surely_better, better, err_msg=where)
        np.testing.assert_array_equal(res.marginal_low, m_low, err_msg=where)
        np.testing.assert_array_equal(res.marginal_high, m_high, err_msg=where)
    assert blocks and min(blocks) >= 3  # several blocks of rows each time


def test_marginal_sets_in_small_chunks_match_all_pairs(monkeypatch):
    # The marginal families are done a few units at a time, each unit's draws taken from
    # its bounds in several rounds (enough draws for that): the same sets as the plain
    # procedure, on awkward leagues (ties, zero standard errors, one unit, t draws, a
    # singular covariance with a zero-variance unit and a perfectly correlated pair).
    monkeypatch.setattr(ranks_module, "_MARGINAL_ELEMENTS", 5000)
    rounds = []
    take = ranks_module._take_highest

    def counted(rest, count):
        # Units of the chunk, and whether some draws were taken before (marked -inf).
        rounds.append((rest.shape[0], bool(np.isneginf(rest).any())))
        return take(rest, count)

    monkeypatch.setattr(ranks_module, "_take_highest", counted)
    rng = np.random.default_rng(21)
    p = 12
    a = rng.normal(size=(p, p - 3)) * 0.04
    cov = a @ a.T
    cov[0, :] = cov[:, 0] = 0.0  # unit 0 estimated without error
    cov[2, :] = cov[1, :]
    cov[:, 2] = cov[:, 1]  # units 1 and 2 move together: their difference has sigma 0
    x_cov = np.round(rng.normal(3.0, 0.08, p), 2)
    x_cov[3] = x_cov[4]
    leagues = [
        (x_cov, dict(cov=cov), 0.95, 3000),
        (np.round(rng.normal(3.0, 0.05, 25), 2), dict(se=rng.uniform(0.01, 0.05, 25)), 0.9,
         2500),
        ([3.2], dict(se=[0.05]), 0.95, 1000),
        ([3.0, 3.0, 2.9, 3.1], dict(se=[0.0, 0.05, 0.0, 0.02]), 0.99, 1200),
    ]  # fmt: skip
    for seed, (x, kw, level, draws) in enumerate(leagues):
        x = np.asarray(x, dtype=float)
        for df in (None, 4.0) if "se" in kw else (None,):
            res = rank_confidence_sets(
                x, **kw, draws=draws, rng=seed, df=df, confidence_level=level
            )
            rng_z = np.random.default_rng(seed)
            if "cov" in kw:
                var = np.diag(kw["cov"]).copy()
                z = draws_for(seed, draws, cov=kw["cov"])
                sigma = np.sqrt(np.clip(var[:, None] + var[None, :] - 2 * kw["cov"], 0, None))
            else:
                var = np.asarray(kw["se"]) ** 2
                z = (
                    rng_z.standard_normal((draws, x.size))
                    if df is None
                    else rng_z.standard_t(df, size=(draws, x.size))
                ) * np.sqrt(var)
                sigma = np.sqrt(var[:, None] + var[None, :])
            better, m_low, m_high = plain_from_draws(x, sigma, z, level)
            where = f"league {seed} df={df}"
            np.testing.assert_array_equal(res.surely_better, better, err_msg=where)
            np.testing.assert_array_equal(res.marginal_low, m_low, err_msg=where)
            np.testing.assert_array_equal(res.marginal_high, m_high, err_msg=where)
    # Chunks of at most 5000 // draws units, and some took their draws in several rounds.
    assert max(units for units, _ in rounds) <= 5000 // 1000
    assert any(again for _, again in rounds)


def plain_simultaneous(x, sigma, z, level):
    """surely_better of plain_from_draws, the draws taken 50 at a time (less memory)."""
    p = len(x)
    off = ~np.eye(p, dtype=bool)
    random = off & (sigma > 0)
    inv = np.divide(1.0, sigma, out=np.zeros((p, p)), where=random)
    diff = x[:, None] - x[None, :]
    better = off & (sigma == 0) & (diff > 0)
    active = random.copy()
    while active.any():
        stat = np.empty(z.shape[0])
        for a in range(0, z.shape[0], 50):
            t = (z[a : a + 50, :, None] - z[a : a + 50, None, :]) * inv
            t[:, ~active] = -np.inf
            stat[a : a + 50] = t.max(axis=(1, 2))
        c = np.quantile(stat, level)
        new = active & (diff - sigma * c > 0)
        if not new.any():
            break
        better |= new
        active &= ~new
    return better


def test_simultaneous_sets_of_larger_leagues_match_all_pairs():
    # 120 units, 2000 t draws: a draw's maximum is often not attained by the unit first
    # evaluated, so the groups and units whose bounds exceed it must all be looked at.
    for seed in range(4):
        rng = np.random.default_rng(seed)
        p, draws = 120, 2000
        x = np.round(rng.normal(3.0, 0.15, p), 2)
        se = rng.uniform(0.02, 0.08, p)
        df = rng.uniform(3.0, 60.0, p)
        res = rank_confidence_sets(x, se, draws=draws, rng=seed, df=df, marginal=False)
        z = np.random.default_rng(seed).standard_t(df, size=(draws, p)) * se
        better = plain_simultaneous(x, np.sqrt(se[:, None] ** 2 + se[None, :] ** 2), z, 0.95)
        np.testing.assert_array_equal(res.surely_better, better, err_msg=f"seed {seed}")


def test_quantile_from_two_order_statistics_is_numpys():
    rng = np.random.default_rng(3)
    for draws in (2, 3, 17, 100, 999, 1000, 10_000):
        for level in (0.5, 0.8, 0.9, 0.95, 0.975, 0.99, 1 - 1e-17, 0.3333333333333333):
            rows = np.round(rng.normal(size=(6, draws)), 1)  # ties
            rows[0] = 2.5
            lo = int(np.floor((draws - 1) * level))
            ordered = np.sort(rows, axis=1)
            got = ranks_module._quantile_of_order_stats(
                ordered[:, lo], ordered[:, min(lo + 1, draws - 1)], draws, level
            )
            want = np.quantile(rows, level, axis=1)
            np.testing.assert_array_equal(got, want, err_msg=f"{draws} {level}")


# --- cases whose answer is clear without any computation ----------------------------------


def test_widely_separated_units_get_exact_ranks():
    x = [2.0, 3.5, 2.5, 3.0]
    res = rank_confidence_sets(x, [0.01] * 4, rng=1)
    assert res.rank.tolist() == [4, 1, 3, 2]
    assert res.low.tolist() == res.high.tolist() == [4, 1, 3, 2]
    assert res.marginal_low.tolist() == res.marginal_high.tolist() == [4, 1, 3, 2]
    assert res.tau_best(2).tolist() == [False, True, False, True]
    assert res.tau_worst(1).tolist() == [True, False, False, False]
    assert res.surely_better[1, 3] and not res.surely_better[3, 1]


def test_identical_units_have_full_width_intervals():
    res = rank_confidence_sets([3.1] * 5, [0.05] * 5, rng=2)
    assert res.rank.tolist() == [1] * 5  # ties share the best rank
    assert res.low.tolist() == [1] * 5 and res.high.tolist() == [5] * 5
    assert res.marginal_low.tolist() == [1] * 5 and res.marginal_high.tolist() == [5] * 5
    assert res.tau_best(1).all() and res.tau_worst(1).all()


def test_two_clusters_are_ordered_but_not_within():
    x = [3.50, 3.49, 3.51, 2.50, 2.51]
    res = rank_confidence_sets(x, [0.05] * 5, rng=3)
    assert res.low.tolist() == [1, 1, 1, 4, 4]
    assert res.high.tolist() == [3, 3, 3, 5, 5]
    assert res.tau_best(3).tolist() == [True, True, True, False, False]
    assert res.tau_best(1).tolist() == [True, True, True, False, False]


def test_zero_standard_errors_are_decided_without_error():
    res = rank_confidence_sets([3.0, 3.0, 2.0], [0.0, 0.0, 0.0], rng=4)
    assert res.low.tolist() == [1, 1, 3] and res.high.tolist() == [2, 2, 3]
    assert res.marginal_low.tolist() == [1, 1, 3] and res.marginal_high.tolist() == [2, 2, 3]


def test_single_unit():
    res = rank_confidence_sets([3.0], [0.1], rng=1)
    assert (res.rank.tolist(), res.low.tolist(), res.high.tolist()) == ([1], [1], [1])


def test_same_seed_same_sets_and_results_are_frozen():
    x, se = random_case(20, 9)
    a = rank_confidence_sets(x, se, rng=5)
    b = rank_confidence_sets(x, se, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a.low, b.low)
    np.testing.assert_array_equal(a.marginal_high, b.marginal_high)
    with pytest.raises(ValueError, match="read-only"):
        a.low[0] = 3
    x[0] = 99.0  # the result keeps its own copy
    assert a.estimates[0] != 99.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(estimates=[1.0, np.nan], se=[0.1, 0.1]), "estimates must be finite"),
        (dict(estimates=[1.0, 2.0], se=[0.1, -0.1]), r"se\[1\] = -0.1"),
        (dict(estimates=[1.0, 2.0]), "give exactly one of se"),
        (dict(estimates=[1.0, 2.0], se=[0.1]), r"se has shape \(1,\)"),
        (dict(estimates=[1.0, 2.0], cov=[[1.0, 2.0], [2.0, 1.0]]), "positive semi-definite"),
        (dict(estimates=[1.0, 2.0], se=[0.1, 0.1], draws=1), "draws must be"),
        (dict(estimates=[1.0, 2.0], se=[0.1, 0.1], confidence_level=1.0), "confidence_level"),
    ],
)
def test_inputs_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        rank_confidence_sets(**kwargs)


def test_tau_is_checked():
    res = rank_confidence_sets([1.0, 2.0], [0.1, 0.1], rng=1)
    with pytest.raises(ValueError, match=r"tau must be a whole number in 1\.\.2, got 3"):
        res.tau_best(3)


def test_many_units_are_fast():
    rng = np.random.default_rng(13)
    p = 200
    se = 0.45 / np.sqrt(rng.integers(20, 100, p))
    x = rng.normal(3.0, 0.25, p)
    start = time.process_time()
    res = rank_confidence_sets(x, se, rng=1)
    assert time.process_time() - start < 5.0
    assert np.all(res.low <= res.rank) and np.all(res.rank <= res.high)
    # A marginal set never needs to be wider than the simultaneous one here.
    assert np.all(res.marginal_low >= res.low) and np.all(res.marginal_high <= res.high)


# --- coverage -------------------------------------------------------------------------------


def test_simultaneous_sets_cover_the_true_ranks():
    # A league of 8 units with known true IKMs; 100 surveys of 40 respondents per unit.
    rng = np.random.default_rng(2024)
    k, units, n = 9, 8, 40
    shifts = np.linspace(-0.45, 0.45, units)
    populations = []
    for s in shifts:
        latent = rng.normal(size=(4000, 1)) * 0.8 + rng.normal(size=(4000, k)) + s
        populations.append(np.clip(np.round(latent + 2.6), 1, 4))
    truth = np.array([pop.mean() for pop in populations])  # exact: no missing answers
    true_rank = np.array([1 + (truth > t).sum() for t in truth])
    covered = best_covered = 0
    reps = 100
    for rep in range(reps):
        est, se = [], []
        for pop in populations:
            res = ikm(aggregate(pop[rng.integers(0, len(pop), n)]))
            est.append(res.ikm)
            se.append(res.se())
        ranks = rank_confidence_sets(est, se, draws=500, rng=rep, marginal=False)
        covered += bool(np.all((ranks.low <= true_rank) & (true_rank <= ranks.high)))
        best_covered += bool(np.all(ranks.tau_best(3)[true_rank <= 3]))
    assert covered >= 93, covered
    assert best_covered >= 93, best_covered


# --- exact maxima from the draws' fronts ------------------------------------------------------


def all_partners_maxima(z, var):
    """Each unit's maximum over every other unit of |(Z_i - Z_j) * (1 / sigma_ij)| (draws x p),
    with the signs of the module (-T_ij is the negated product)."""
    p = z.shape[1]
    inv = 1.0 / np.sqrt(var[:, None] + var[None, :])
    t = (z[:, :, None] - z[:, None, :]) * inv  # t[r, i, j]
    both = np.maximum(t, -t)
    both[:, np.arange(p), np.arange(p)] = -np.inf
    return both.max(axis=2)


def test_front_maxima_are_those_of_all_partners():
    # Variances in order A, B, C, D with Z falling: all four on the lower front. For B the
    # largest statistic is with C, its neighbour on the front (0.15 / sqrt(0.06) = 0.612),
    # not with the lowest Z (D: 0.2 / sqrt(0.11) = 0.603) nor with A (0.1 / sqrt(0.03)).
    var = np.array([0.01, 0.02, 0.04, 0.09])
    z = np.array([[0.0, -0.1, -0.25, -0.3]])
    pairs = ranks_module._Pairs(np.zeros(4), var, None, z)
    value, code = pairs.front_entries(np.array([0]), np.array([1]))
    assert code.tolist() == [3] and value[0] == (z[0, 1] - z[0, 2]) * pairs.inv[1, 2]
    cases = [(z, var)]
    rng = np.random.default_rng(31)
    for p in (2, 3, 7, 40, 150):
        # Ties in Z (rounded draws) and in variance (rounded se); some draws all equal (a
        # maximum of 0); draws as t with few df (extreme values).
        se = np.round(rng.uniform(0.02, 0.08, p), 2)
        z = np.round(rng.standard_t(3.0, size=(300, p)) * se * 20) / 20
        z[:3] = 0.25
        cases.append((z, se * se))
    for z, var in cases:
        p = z.shape[1]
        pairs = ranks_module._Pairs(np.zeros(p), var, None, z)
        r, u = np.repeat(np.arange(z.shape[0]), p), np.tile(np.arange(p), z.shape[0])
        value, code = pairs.front_entries(r, u)
        np.testing.assert_array_equal(value, all_partners_maxima(z, var).ravel())
        partner = np.abs(code) - 1
        assert np.all((partner != u) & (partner >= 0))
        t = (z[r, u] - z[r, partner]) * pairs.inv[u, partner]
        np.testing.assert_array_equal(np.where(code > 0, t, -t), value)
        # The simultaneous family: every draw's maximum over all ordered pairs (0 if every
        # Z is equal).
        simultaneous = all_partners_maxima(z, var).max(axis=1)
        np.testing.assert_array_equal(pairs.front_draw_maxima(), simultaneous)


def test_fronts_only_for_independent_units_that_all_vary(monkeypatch):
    x, var = np.zeros(3), np.array([0.01, 0.02, 0.03])
    z = np.random.default_rng(0).standard_normal((5, 3))
    assert ranks_module._Pairs(x, var, None, z).fronts is not None
    assert ranks_module._Pairs(x, np.array([0.01, 0.0, 0.03]), None, z).fronts is None
    assert ranks_module._Pairs(x, var, np.diag(var), z).fronts is None
    # Nor when a front is long: standard errors each twice the previous put about half of
    # the units on each front (here with a limit of 12 units instead of 64).
    monkeypatch.setattr(ranks_module, "_LONGEST_FRONT", 12)
    p, draws = 40, 300
    x = np.round(np.random.default_rng(1).normal(3.0, 0.1, p), 2)
    for se, fronts in ((0.001 * 2.0 ** np.arange(p), False), (np.full(p, 0.05), True)):
        z = np.random.default_rng(2).standard_normal((draws, p)) * se
        assert (ranks_module._Pairs(x, se * se, None, z).fronts is not None) == fronts
        res = rank_confidence_sets(x, se, draws=draws, rng=2)
        better, m_low, m_high = plain_all_pairs(x, se, draws, 2, 0.95)
        np.testing.assert_array_equal(res.surely_better, better)
        np.testing.assert_array_equal(res.marginal_low, m_low)
        np.testing.assert_array_equal(res.marginal_high, m_high)


@pytest.mark.parametrize("p", [2, 3, 9, 60])
def test_marginal_sets_from_the_fronts_match_all_pairs(monkeypatch, p):
    # Every standard error positive (the fronts are used; test_bounds_and_shortcuts_change_
    # nothing mostly has zero ones), ties in estimates and standard errors, t and normal
    # draws, several levels, enough draws for several rounds of evaluations.
    calls = []
    front_entries = ranks_module._Pairs.front_entries

    def counted(self, r, u):
        calls.append(r.size)
        return front_entries(self, r, u)

    monkeypatch.setattr(ranks_module._Pairs, "front_entries", counted)
    for case in range(6):
        rng = np.random.default_rng(500 + 10 * p + case)
        x = np.round(rng.normal(3.0, rng.choice([0.02, 0.1, 0.3]), p), 2)
        se = np.round(rng.uniform(0.01, 0.1, p), 2 if case % 3 else 3)
        df = rng.uniform(0.5, 30.0, p) if case % 2 else None
        draws = int(rng.choice([50, 400, 1500]))
        level = float(rng.choice([0.5, 0.9, 0.95]))
        res = rank_confidence_sets(x, se, draws=draws, rng=case, df=df, confidence_level=level)
        better, m_low, m_high = plain_all_pairs(x, se, draws, case, level, df)
        where = f"p={p} case={case}"
        np.testing.assert_array_equal(res.surely_better, better, err_msg=where)
        np.testing.assert_array_equal(res.marginal_low, m_low, err_msg=where)
        np.testing.assert_array_equal(res.marginal_high, m_high, err_msg=where)
    assert sum(calls) > 0


def test_extreme_units_give_reduced_families_maxima_or_bounds():
    # Random families with both sides (some pairs of each unit left out, as rejections
    # leave them), ties in Z and variance, draws whose Z are all equal (a maximum of 0), a
    # full covariance: each value marked exact is the family's maximum, bit for bit, with a
    # partner in the family attaining it; every other value bounds it from above.
    rng = np.random.default_rng(41)
    checked = 0
    for p, with_cov in ((19, False), (40, False), (60, True), (150, False)):
        se = np.round(rng.uniform(0.02, 0.08, p), 2)
        cov = None
        if with_cov:
            a = rng.normal(size=(p, p)) * 0.02
            cov = a @ a.T + np.diag(se * se)
            var = np.diag(cov).copy()
            z = rng.standard_normal((300, p)) @ np.linalg.cholesky(cov).T
        else:
            var = se * se
            z = np.round(rng.standard_t(3.0, size=(300, p)) * se * 20) / 20
            z[:3] = 0.25
        pairs = ranks_module._Pairs(np.zeros(p), var, cov, z)
        assert pairs.extremes is not None
        pos = pairs.random & (rng.random((p, p)) < 0.7)
        neg = pairs.random & (rng.random((p, p)) < 0.7)
        r, u = np.repeat(np.arange(z.shape[0]), p), np.tile(np.arange(p), z.shape[0])
        t = (z[r, u][:, None] - z[r]) * pairs.inv[u]
        true = np.maximum(
            np.where(pos[u], t, -np.inf).max(axis=1), np.where(neg[u], -t, -np.inf).max(axis=1)
        )
        value, code, exact = pairs.extreme_bounds(r, u, pos, neg)
        assert np.all(value[~exact] >= true[~exact])
        np.testing.assert_array_equal(value[exact], true[exact])
        j = np.abs(code[exact]) - 1
        side = np.where(code[exact] > 0, pos[u[exact], j], neg[u[exact], j])
        assert side.all()
        tt = (z[r[exact], u[exact]] - z[r[exact], j]) * pairs.inv[u[exact], j]
        np.testing.assert_array_equal(np.where(code[exact] > 0, tt, -tt), value[exact])
        assert exact.mean() > 0.5  # most entries are settled by the extreme units
        checked += int(exact.sum())
    assert checked > 10_000
    # Too few units for extremes: none, and the sets are still those of all pairs.
    x, se = np.array([3.0, 3.1, 2.9]), np.array([0.05, 0.04, 0.06])
    z = np.random.default_rng(0).standard_normal((50, 3)) * se
    assert ranks_module._Pairs(x, se * se, None, z).extremes is None


@pytest.mark.parametrize("kind", ["t", "normal", "cov"])
def test_draws_made_in_blocks_by_a_thread_are_those_of_one_call(kind, monkeypatch):
    # Blocks of 7 rows for 5 units (35 elements): 100 draws end with a short block.
    monkeypatch.setattr(ranks_module, "_CHUNK_ELEMENTS", 35)
    rng = np.random.default_rng(4)
    var = rng.uniform(0.001, 0.01, 5)
    df = rng.uniform(2, 60, 5) if kind == "t" else None
    cov = np.diag(var) + 0.0005 if kind == "cov" else None
    one, blocks = np.random.default_rng(8), np.random.default_rng(8)
    expected = ranks_module._draw(one, 100, var, cov, df)
    made = ranks_module._Draws(blocks, 100, var, cov, df)
    made.ready(10)
    assert made.done >= 10
    made.finish()
    assert made.done == 100
    np.testing.assert_array_equal(made.z, expected)
    # The generator goes on from the same state.
    assert blocks.random() == one.random()


def test_a_failing_draw_stops_the_rank_sets_with_its_error(monkeypatch):
    # The drawing thread fails after its first block: the readers waiting for later rows
    # raise (nobody waits for ever) and the error says why.
    monkeypatch.setattr(ranks_module, "_CHUNK_ELEMENTS", 40)

    class Failing:
        def __init__(self) -> None:
            self.calls = 0
            self.rng = np.random.default_rng(0)

        def standard_t(self, df, size):
            self.calls += 1
            if self.calls > 1:
                raise MemoryError("no room for the draws")
            return self.rng.standard_t(df, size=size)

    failing = Failing()
    monkeypatch.setattr(ranks_module.np.random, "Generator", Failing)
    with pytest.raises(RuntimeError, match="rank draws failed") as info:
        rank_confidence_sets(
            np.linspace(3.0, 3.3, 20),
            np.full(20, 0.05),
            df=np.full(20, 30.0),
            draws=50,
            rng=failing,
        )
    assert isinstance(info.value.__cause__, MemoryError)
    assert failing.calls == 2

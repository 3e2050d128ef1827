"""Enumerator effects: do one enumerator's respondents answer differently, beyond chance?

When staff interview citizens, the interviewer can colour the answers (a leading tone, a
hurried reading, answers filled in for the respondent). This module asks, for each
enumerator, whether its respondents' scores differ from those of the *other* enumerators'
respondents of the *same* OPDs. Comparing within OPDs matters: an enumerator sent to a poorly
rated OPD is not an enumerator effect.

The unit is the respondent (its mean over the IKM elements it answered, as everywhere in
scoring). For enumerator e the statistic is

    T_e = sum_s n_es (mean_es - mean_os) / sum_s n_es

over the OPDs s where both e (n_es respondents, mean mean_es) and the other enumerators
(mean mean_os) have respondents: the average, over e's respondents, of how far they lie from
the others' respondents of their own OPD. Its null distribution comes from a stratified
permutation test: within each OPD the respondents' scores are shuffled among the
enumerators (who interviewed whom is then exchangeable, the OPD is kept), ``permutations``
times, seeded. The p-value is two-sided with the +1 correction (never 0), and Holm's
adjustment runs over the enumerators that have enough data to be judged. A verdict
(``"higher"`` or ``"lower"``) needs a Holm-adjusted p below 5% *and* at least
``min_n`` compared respondents on each side; otherwise the answer is ``"unclear"``,
``"too-little-data"`` or ``"nothing-to-compare"``.

A difference is a prompt to look, not proof: enumerators may meet different kinds of people
(the morning queue, another counter) even within one OPD.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .change import holm

__all__ = ["EnumeratorEffect", "EnumeratorEffects", "enumerator_effects"]

FloatArray = NDArray[np.float64]

DEFAULT_PERMUTATIONS = 4000
"""Permutations drawn by default: the p-value's Monte Carlo error is then at most 0.008."""

MIN_N = 10
"""Compared respondents each side (the enumerator's, the others') below which no verdict."""

ALPHA = 0.05
"""The family-wise error rate of the verdicts (Holm over the enumerators judged)."""

# Permutations drawn at once: bounds the memory to CHUNK x (respondents of one OPD) floats.
CHUNK = 500


@dataclass(frozen=True)
class EnumeratorEffect:
    """One enumerator compared with the others, within the OPDs both interviewed in.

    Attributes
    ----------
    enumerator : str
    n : int
        The enumerator's respondents in the compared OPDs.
    n_others : int
        The other enumerators' respondents in those OPDs.
    opds : int
        The OPDs compared (both sides have respondents there).
    effect : float
        T_e on the answer scale 1..m: how much higher (negative: lower) the enumerator's
        respondents score than the others' of the same OPD, weighted by the enumerator's
        respondents. NaN when nothing is compared.
    p_value : float
        Two-sided stratified permutation p-value, (1 + extreme draws) / (1 + draws); NaN when
        nothing is compared.
    p_holm : float
        Holm-adjusted over the enumerators with enough data; NaN for the others.
    verdict : {"higher", "lower", "unclear", "too-little-data", "nothing-to-compare"}
    scale_points : int
        m, the questionnaire's number of answer values.
    """

    enumerator: str
    n: int
    n_others: int
    opds: int
    effect: float
    p_value: float
    p_holm: float
    verdict: str
    scale_points: int = 4

    def converted_effect(self) -> float:
        """Return the effect on the converted 25..100 scale (75 / (m - 1) points per point)."""
        return self.effect * 75 / (self.scale_points - 1)

    def judged(self) -> bool:
        """Whether there was enough data for a verdict (``higher``, ``lower`` or ``unclear``)."""
        return self.verdict in ("higher", "lower", "unclear")


@dataclass(frozen=True)
class EnumeratorEffects:
    """The enumerator-effect check of a wave.

    Attributes
    ----------
    effects : tuple of EnumeratorEffect
        One per enumerator, sorted by name.
    permutations : int
    seed : int
    min_n : int
    alpha : float
    """

    effects: tuple[EnumeratorEffect, ...]
    permutations: int
    seed: int
    min_n: int = MIN_N
    alpha: float = ALPHA

    def flagged(self) -> tuple[EnumeratorEffect, ...]:
        """Return the enumerators whose respondents differ beyond chance."""
        return tuple(e for e in self.effects if e.verdict in ("higher", "lower"))


def _check(
    scores: ArrayLike, enumerators: Sequence[str], strata: Sequence[object]
) -> tuple[FloatArray, NDArray[np.int64], NDArray[np.int64], list[str]]:
    y = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {y.shape}")
    if len(enumerators) != y.size or len(strata) != y.size:
        raise ValueError(
            f"scores, enumerators and strata must have one entry per respondent, got "
            f"{y.size}, {len(enumerators)} and {len(strata)}"
        )
    if not np.all(np.isfinite(y)):
        raise ValueError(f"scores must be finite, got {float(y[~np.isfinite(y)][0])}")
    names = sorted({str(e) for e in enumerators})
    index = {name: i for i, name in enumerate(names)}
    labels = np.array([index[str(e)] for e in enumerators], dtype=np.int64)
    _, stratum = np.unique(np.array([str(s) for s in strata], dtype=object), return_inverse=True)
    return y, labels, stratum.astype(np.int64), names


def _contrast(sums: FloatArray, counts: NDArray[np.int64], total: float, size: int) -> FloatArray:
    """Return n_es (mean_es - mean_os) from the enumerators' sums of scores in one OPD."""
    return counts * (sums / counts - (total - sums) / (size - counts))


def enumerator_effects(
    scores: ArrayLike,
    enumerators: Sequence[str],
    strata: Sequence[object],
    *,
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
    min_n: int = MIN_N,
    alpha: float = ALPHA,
    scale_points: int = 4,
) -> EnumeratorEffects:
    """Test each enumerator's respondents against the others' of the same OPDs.

    Parameters
    ----------
    scores : array_like of float, shape (n,)
        Each respondent's mean score over the IKM elements it answered (1..m).
    enumerators : sequence of str, length n
        Who interviewed each respondent.
    strata : sequence, length n
        Each respondent's OPD (any labels); comparisons are made within them only.
    permutations : int, optional
        Permutations drawn (default 4,000; at least 99).
    seed : int, optional
        Seed of the permutations (numpy's default Generator), so a result can be reproduced.
    min_n : int, optional
        Compared respondents needed on each side for a verdict (default 10).
    alpha : float, optional
        Family-wise error rate of the verdicts (default 0.05).
    scale_points : int, optional
        m, for the converted effect (default 4).

    Returns
    -------
    EnumeratorEffects

    Examples
    --------
    Two OPDs; ``b``'s respondents score one point above ``a``'s in each:

    >>> res = enumerator_effects(
    ...     [3, 3, 4, 4, 2, 2, 3, 3] * 3, ["a", "a", "b", "b"] * 6, ["x"] * 12 + ["y"] * 12,
    ...     permutations=999, seed=1)
    >>> [(e.enumerator, e.n, e.opds, e.effect, e.converted_effect()) for e in res.effects]
    [('a', 12, 2, -1.0, -25.0), ('b', 12, 2, 1.0, 25.0)]
    >>> [e.verdict for e in res.effects], res.effects[0].p_value < 0.01
    (['lower', 'higher'], True)
    """
    if isinstance(permutations, bool) or int(permutations) != permutations or permutations < 99:
        raise ValueError(f"permutations must be a whole number >= 99, got {permutations!r}")
    if isinstance(min_n, bool) or int(min_n) != min_n or min_n < 1:
        raise ValueError(f"min_n must be a whole number >= 1, got {min_n!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    if isinstance(scale_points, bool) or int(scale_points) != scale_points or scale_points < 2:
        raise ValueError(f"scale_points must be a whole number >= 2, got {scale_points!r}")
    y, labels, stratum, names = _check(scores, enumerators, strata)
    draws = int(permutations)
    k = len(names)
    # Observed and permuted numerators sum_s n_es (mean_es - mean_os), per enumerator; the
    # weights n_es do not change under permutation within OPDs.
    observed = np.zeros(k)
    permuted = np.zeros((draws, k))
    weight = np.zeros(k)
    n_others = np.zeros(k, dtype=np.int64)
    opds = np.zeros(k, dtype=np.int64)
    rng = np.random.default_rng(seed)
    for s in range(int(stratum.max(initial=-1)) + 1):
        members = np.flatnonzero(stratum == s)
        order = members[np.argsort(labels[members], kind="stable")]
        group, starts, counts = np.unique(labels[order], return_index=True, return_counts=True)
        if group.size < 2:
            continue  # one enumerator only: nobody to compare with here
        values = y[order]
        total, size = values.sum(), values.size
        weight[group] += counts
        n_others[group] += size - counts
        opds[group] += 1
        observed[group] += _contrast(np.add.reduceat(values, starts), counts, total, size)
        for first in range(0, draws, CHUNK):
            rows = min(CHUNK, draws - first)
            shuffled = rng.permuted(np.broadcast_to(values, (rows, size)), axis=1)
            sums = np.add.reduceat(shuffled, starts, axis=1)
            permuted[first : first + rows, group] += _contrast(sums, counts, total, size)
    compared = weight > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        effect = np.where(compared, observed / np.where(compared, weight, 1), np.nan)
        null = permuted / np.where(compared, weight, 1)
    # Ties within rounding count as extreme (as scipy.stats.permutation_test does), so that
    # identical answers give p = 1 rather than an accident of the last bit.
    tolerance = 1e-9 * np.maximum(1.0, np.abs(np.nan_to_num(effect)))
    extreme = (np.abs(null) >= np.abs(np.nan_to_num(effect)) - tolerance).sum(axis=0)
    p = np.where(compared, (1 + extreme) / (1 + draws), np.nan)
    enough = compared & (weight >= min_n) & (n_others >= min_n)
    adjusted = holm([float(p[i]) if enough[i] else float("nan") for i in range(k)])
    effects = []
    for i, name in enumerate(names):
        if not compared[i]:
            verdict = "nothing-to-compare"
        elif not enough[i]:
            verdict = "too-little-data"
        elif adjusted[i] < alpha:
            verdict = "higher" if effect[i] > 0 else "lower"
        else:
            verdict = "unclear"
        effects.append(
            EnumeratorEffect(
                enumerator=name,
                n=int(weight[i]),
                n_others=int(n_others[i]),
                opds=int(opds[i]),
                effect=float(effect[i]),
                p_value=float(p[i]),
                p_holm=float(adjusted[i]),
                verdict=verdict,
                scale_points=int(scale_points),
            )
        )
    return EnumeratorEffects(tuple(effects), draws, int(seed), int(min_n), float(alpha))

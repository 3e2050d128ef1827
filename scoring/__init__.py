"""Pure statistics of the IKM: scores, intervals, ranks (issue 3).

Plain functions over arrays or sufficient statistics returning frozen result objects; imports
neither Flask, nor the database, nor ``survey`` or ``reports``.

Modules: :mod:`~scoring.schemes` (category tables), :mod:`~scoring.aggregates` (sufficient
statistics), :mod:`~scoring.ikm` (IKM, NRRs, analytic and bootstrap intervals),
:mod:`~scoring.ranks` (confidence sets for ranks), :mod:`~scoring.compare` (funnel plot,
shrinkage, Kruskal-Wallis), :mod:`~scoring.planning` (sample size, margin of error, Cronbach's
alpha), :mod:`~scoring.units` (:func:`score_units`, a whole wave at once),
:mod:`~scoring.perception` (extra perception questions, scored apart from the IKM),
:mod:`~scoring.regulation` (the regulation's nine elements and answer labels, the one copy),
:mod:`~scoring.robustness` (how many extreme ballots would change a category or a rank set),
:mod:`~scoring.bayes` (the one REML tau^2, empirical-Bayes posteriors, expected ranks) and
:mod:`~scoring.design` (response rates, channels, design effect of clustering by day).
"""

from .aggregates import (
    Aggregates,
    aggregate,
    aggregate_units,
    merge_aggregates,
    stacked_aggregates,
)
from .compare import (
    FunnelResult,
    KruskalResult,
    ShrinkageResult,
    funnel,
    kruskal_units,
    respondent_means,
    shrink,
)
from .ikm import SMALL_N, BootstrapIntervals, IKMResult, Interval, bootstrap_ikm, ikm
from .perception import PerceptionItem, PerceptionResult, perception_scores, positive_threshold
from .planning import (
    AlphaResult,
    cronbach_alpha,
    krejcie_morgan,
    margin_of_error,
    sample_size_for_margin,
)
from .ranks import RankResult, rank_confidence_sets
from .robustness import UnitRobustness, WaveRobustness, wave_robustness
from .schemes import KEPMENPAN_2004, PERMENPANRB_2017, SCHEMES, Category, Scheme
from .units import (
    MIN_RANK_N,
    PUBLISHED_RANK_DRAWS,
    VARIANCE_PRIOR_DF,
    ElementScore,
    UnitScore,
    WaveScore,
    score_units,
    stabilised_variances,
)

__all__ = [
    "KEPMENPAN_2004",
    "MIN_RANK_N",
    "PERMENPANRB_2017",
    "PUBLISHED_RANK_DRAWS",
    "SCHEMES",
    "SMALL_N",
    "VARIANCE_PRIOR_DF",
    "Aggregates",
    "AlphaResult",
    "BootstrapIntervals",
    "Category",
    "ElementScore",
    "FunnelResult",
    "IKMResult",
    "Interval",
    "KruskalResult",
    "PerceptionItem",
    "PerceptionResult",
    "RankResult",
    "Scheme",
    "ShrinkageResult",
    "UnitRobustness",
    "UnitScore",
    "WaveRobustness",
    "WaveScore",
    "aggregate",
    "aggregate_units",
    "bootstrap_ikm",
    "cronbach_alpha",
    "funnel",
    "ikm",
    "krejcie_morgan",
    "kruskal_units",
    "margin_of_error",
    "merge_aggregates",
    "perception_scores",
    "positive_threshold",
    "rank_confidence_sets",
    "respondent_means",
    "sample_size_for_margin",
    "score_units",
    "shrink",
    "stabilised_variances",
    "stacked_aggregates",
    "wave_robustness",
]

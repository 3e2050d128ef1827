"""k-anonymity of the open data's respondent rows: generalise, then suppress (pure, no database).

Every row of the open data's ``responses.csv`` carries quasi-identifiers: the OPD, the date
answered, sex, age band, education and occupation. Someone who knows these of one citizen
(a neighbour, an employer) could find that citizen's row and read their answers. ``anonymise``
makes every combination of quasi-identifiers that appears in the file appear in at least
``K_ANONYMITY`` rows, and keeps every answer as it is, so the scores can be recomputed.

How (per OPD, since the OPD must stay for the scores):

1. An OPD with fewer than ``k`` rows cannot form a group of ``k`` under its own name: its rows
   are pooled with those of the other small OPDs under ``opd`` = ``disembunyikan`` with every
   field hidden; if the pool itself holds fewer than ``k`` rows, they are left out of the file
   (their OPD's scores are still in scores.csv).
2. For an OPD of ``k`` rows or more, every combination of generalisation levels (full-domain,
   one level per field for the whole OPD: date -> month -> ``periode``; age band -> wider band ->
   one of two -> hidden; education and occupation -> coarser class -> one of two -> hidden;
   sex -> hidden) is tried. Rows
   still in a group under ``k`` have all their quasi-identifiers suppressed (the hidden values),
   and so do the smallest other groups if needed to make the suppressed rows ``k`` or more.
   The combination that loses least (``LEVEL_COST`` per field and row, a suppressed row costs
   every field's top level) is kept; ties go to the first in a fixed order, so the output is
   deterministic.
3. The rows that step would suppress (``k`` or more of them) are not hidden at once: they get
   their own cheapest combination in turn, and so on, until every row is in a group of ``k``
   or the rows left can only be hidden whole. Groups of different steps that end up equal only
   grow, so every group still holds ``k`` rows or more.

Generalising an OPD at the top level of every field always works (one group of the whole OPD),
so an OPD of ``k`` rows or more never loses a row.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

K_ANONYMITY = 5
HIDDEN = "disembunyikan"  # a suppressed value (the field's top level)
PERIOD = "periode"  # the date's top level: somewhere in the wave's period

AGE_GROUPS = {
    "< 25": "< 35",
    "25–34": "< 35",
    "35–44": "35–54",
    "45–54": "35–54",
    "≥ 55": "≥ 55",
}
EDUCATION_GROUPS = {
    "SD": "SD–SMP",
    "SMP": "SD–SMP",
    "SMA": "SMA",
    "D1-D3": "D1–S3",
    "S1": "D1–S3",
    "S2": "D1–S3",
    "S3": "D1–S3",
}
OCCUPATION_GROUPS = {
    "PNS": "PNS/TNI/POLRI",
    "TNI": "PNS/TNI/POLRI",
    "POLRI": "PNS/TNI/POLRI",
    "Swasta": "Swasta/Wirausaha",
    "Wirausaha": "Swasta/Wirausaha",
    "Lainnya": "Lainnya",
}

FIELDS = ("date", "sex", "age_band", "education", "occupation")


class Profile(NamedTuple):
    """A row's quasi-identifiers (None: not given); ``date`` is ISO ``YYYY-MM-DD``."""

    opd: str
    date: str | None
    sex: str | None
    age_band: str | None
    education: str | None
    occupation: str | None


def _date(value: str | None, level: int) -> str | None:
    if level == 2:
        return PERIOD
    if value is None or level == 0:
        return value
    return value[:7]  # YYYY-MM


def _grouped(*chain: dict[str, str]) -> Callable[[str | None, int], str | None]:
    """Generalise by ``chain`` (level 1 maps the raw value, level 2 level 1's, ...), then hide."""

    def general(value: str | None, level: int) -> str | None:
        if level > len(chain):
            return HIDDEN
        for groups in chain[:level]:
            if value is None:
                break
            value = groups.get(value, HIDDEN)
        return value

    return general


def _sex(value: str | None, level: int) -> str | None:
    return HIDDEN if level == 1 else value


# Level 2 of age, education and occupation: two classes each.
AGE_HALVES = {"< 35": "< 35", "35–54": "≥ 35", "≥ 55": "≥ 35"}
EDUCATION_HALVES = {"SD–SMP": "SD–SMA", "SMA": "SD–SMA", "D1–S3": "D1–S3"}
OCCUPATION_HALVES = {
    "PNS/TNI/POLRI": "PNS/TNI/POLRI",
    "Swasta/Wirausaha": "bukan PNS/TNI/POLRI",
    "Lainnya": "bukan PNS/TNI/POLRI",
}

# Per field: (generalise(value, level), top level, cost of one level for one row).
HIERARCHIES: dict[str, tuple[Callable[[str | None, int], str | None], int, float]] = {
    "date": (_date, 2, 0.5),  # a date is the least useful field: give it up first
    "sex": (_sex, 1, 2.0),
    "age_band": (_grouped(AGE_GROUPS, AGE_HALVES), 3, 1.0),
    "education": (_grouped(EDUCATION_GROUPS, EDUCATION_HALVES), 3, 1.0),
    "occupation": (_grouped(OCCUPATION_GROUPS, OCCUPATION_HALVES), 3, 1.0),
}
LEVEL_COST = {name: cost for name, (_, _, cost) in HIERARCHIES.items()}
TOP = tuple(HIERARCHIES[name][1] for name in FIELDS)
SUPPRESSED_COST = sum(top * HIERARCHIES[name][2] for name, top in zip(FIELDS, TOP, strict=True))
# Every combination of levels, the cheapest first (then in a fixed order).
NODES = sorted(
    itertools.product(*(range(top + 1) for top in TOP)),
    key=lambda node: (sum(lv * LEVEL_COST[f] for f, lv in zip(FIELDS, node, strict=True)), node),
)


@dataclass
class Anonymised:
    """What ``anonymise`` made of the rows, and counts for the README."""

    rows: list[Profile | None]  # aligned with the input; None: left out of the file
    k: int
    pooled: int = 0  # rows of OPDs under k, kept under opd = HIDDEN
    dropped: int = 0  # rows of OPDs under k left out (the pool was under k as well)
    suppressed: int = 0  # rows of OPDs of k or more with every quasi-identifier hidden
    generalised: Counter[str] = field(default_factory=Counter)  # field -> coarser values
    hidden: Counter[str] = field(default_factory=Counter)  # field -> hidden values
    levels: dict[str, tuple[int, ...]] = field(default_factory=dict)  # OPD -> levels chosen

    @property
    def kept(self) -> int:
        """The rows in the file."""
        return sum(row is not None for row in self.rows)

    def share_changed(self) -> float:
        """The share of the kept rows' quasi-identifier fields (not the OPD) made coarser or
        hidden (0 when no row is kept)."""
        cells = self.kept * len(FIELDS)
        changed = sum(self.generalised.values()) + sum(self.hidden.values())
        return changed / cells if cells else 0.0

    def share_hidden(self) -> float:
        """The share of the kept rows' quasi-identifier fields hidden (0 when none is kept)."""
        cells = self.kept * len(FIELDS)
        return sum(self.hidden.values()) / cells if cells else 0.0


def _general(profile: Profile, node: Sequence[int]) -> tuple[str | None, ...]:
    values = profile[1:]
    return tuple(
        HIERARCHIES[name][0](value, level)
        for name, value, level in zip(FIELDS, values, node, strict=True)
    )


def _suppressed(profile: Profile, opd: str) -> Profile:
    return Profile(opd, *_general(profile, TOP))


def _best_node(profiles: Sequence[Profile], k: int) -> tuple[tuple[int, ...], set[int], float]:
    """Return the cheapest levels for one OPD's rows, the rows to suppress, and the cost."""
    best: tuple[tuple[int, ...], set[int], float] | None = None
    # Each field's values at each level, computed once per distinct value (columns, so that a
    # node's keys are one zip).
    table: list[list[list[str | None]]] = []
    for position, name in enumerate(FIELDS, start=1):
        general, top, _ = HIERARCHIES[name]
        column = [profile[position] for profile in profiles]
        table.append([])
        for level in range(top + 1):
            cache = {value: general(value, level) for value in set(column)}
            table[-1].append([cache[value] for value in column])
    for node in NODES:
        node_cost = sum(lv * LEVEL_COST[f] for f, lv in zip(FIELDS, node, strict=True))
        if best is not None and node_cost * len(profiles) >= best[2]:
            break  # NODES are sorted on cost: no later node can do better
        keys = list(zip(*(table[f][level] for f, level in enumerate(node)), strict=True))
        sizes = Counter(keys)
        small = {key for key, size in sizes.items() if size < k}
        count = sum(sizes[key] for key in small)
        if 0 < count < k:
            # Suppress whole groups, smallest first, until the suppressed rows make k.
            for key in sorted(
                (key for key in sizes if key not in small),
                key=lambda key: (sizes[key], tuple("" if v is None else v for v in key)),
            ):
                small.add(key)
                count += sizes[key]
                if count >= k:
                    break
        rows = {i for i, key in enumerate(keys) if key in small}
        cost = node_cost * (len(profiles) - len(rows)) + SUPPRESSED_COST * len(rows)
        if best is None or cost < best[2]:
            best = (node, rows, cost)
    assert best is not None  # NODES is never empty
    return best


def anonymise(profiles: Sequence[Profile], *, k: int = K_ANONYMITY) -> Anonymised:
    """Return the rows generalised and suppressed so that every combination has >= k rows.

    >>> rows = [Profile("a", "2026-01-0" + str(d), "L", "< 25", "SMA", "PNS") for d in range(1, 6)]
    >>> out = anonymise(rows)
    >>> out.rows[0]
    Profile(opd='a', date='2026-01', sex='L', age_band='< 25', education='SMA', occupation='PNS')
    >>> out.generalised["date"], out.share_changed()
    (5, 0.2)
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k!r}")
    result = Anonymised(rows=[None] * len(profiles), k=k)
    by_opd: dict[str, list[int]] = {}
    for i, profile in enumerate(profiles):
        by_opd.setdefault(profile.opd, []).append(i)
    pool = [i for members in by_opd.values() if len(members) < k for i in members]
    for i in pool:
        if len(pool) >= k:
            result.rows[i] = _suppressed(profiles[i], HIDDEN)
            result.pooled += 1
        else:
            result.dropped += 1
    for opd in sorted(by_opd):
        members = by_opd[opd]
        if len(members) < k:
            continue
        rest = members
        while rest:
            node, suppressed, _ = _best_node([profiles[i] for i in rest], k)
            result.levels.setdefault(opd, node)
            left = {rest[j] for j in suppressed}
            for i in rest:
                if i not in left:
                    result.rows[i] = Profile(opd, *_general(profiles[i], node))
            if len(left) == len(rest):  # nothing better than hiding every field
                for i in rest:
                    result.rows[i] = Profile(opd, *_general(profiles[i], TOP))
                result.suppressed += len(rest)
                break
            # The rows left over (k or more) get their own cheapest levels, and so on.
            rest = [i for i in rest if i in left]
    for before, after in zip(profiles, result.rows, strict=True):
        if after is None:
            continue
        for name, old, new in zip(FIELDS, before[1:], after[1:], strict=True):
            if new == old:
                continue
            if new in (HIDDEN, PERIOD):
                result.hidden[name] += 1
            else:
                result.generalised[name] += 1
    return result


def smallest_group(rows: Sequence[Sequence[str | None]]) -> int:
    """Return the size of the smallest group of equal rows (0 when there are none): the k."""
    sizes = Counter(tuple(row) for row in rows)
    return min(sizes.values(), default=0)

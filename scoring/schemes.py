"""Category schemes: the tables that turn an IKM into a quality letter (*mutu pelayanan*).

A scheme is data, not code: an ordered list of categories, each with its lower bound on the
1..4 scale and on the converted 25..100 scale, compared with ``>=`` (the printed tables have
gaps between rows, so only lower bounds are meaningful). Comparisons are exact: an IKM given as
a :class:`fractions.Fraction` is compared as is, a float is first rounded to 10 decimals, so
that an IKM whose exact value is 3.5324 but whose floating-point value is 3.5323999999999995
is still an "A".

Two built-in schemes mirror the regulations: :data:`PERMENPANRB_2017` (the default) and the
legacy :data:`KEPMENPAN_2004`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType
from typing import Any, Literal, overload

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "KEPMENPAN_2004",
    "PERMENPANRB_2017",
    "SCHEMES",
    "Category",
    "Scheme",
    "converted",
    "exact_value",
    "from_converted",
]

Basis = Literal["ikm", "converted"]

# Floats are rounded to this many decimals before an exact comparison: far below any
# meaningful difference between two IKMs, far above the error of a mean of a few NRRs.
_DECIMALS = 10


def exact_value(value: float | int | Fraction) -> Fraction:
    """Return `value` as an exact fraction, rounding a float to 10 decimals first.

    Parameters
    ----------
    value : float, int or Fraction
        A score. Fractions and integers are taken as exact.

    Returns
    -------
    Fraction

    Examples
    --------
    >>> exact_value(3.5323999999999995)
    Fraction(8831, 2500)
    """
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int):
        return Fraction(value)
    text = f"{float(value):.{_DECIMALS}f}"
    if not math.isfinite(value):
        return Fraction(text)  # raises the error Fraction gives for "inf" or "nan"
    # The decimal's digits over 10**10: the same Fraction as Fraction(text), without its parser.
    return Fraction(int(text.replace(".", "")), 10**_DECIMALS)


def _check_points(scale_points: int) -> int:
    if isinstance(scale_points, bool) or int(scale_points) != scale_points or scale_points < 2:
        raise ValueError(f"scale_points must be a whole number >= 2, got {scale_points!r}")
    return int(scale_points)


@overload
def converted(ikm: Fraction, scale_points: int = 4) -> Fraction: ...


@overload
def converted(ikm: float, scale_points: int = 4) -> float: ...


@overload
def converted(ikm: NDArray[np.float64], scale_points: int = 4) -> NDArray[np.float64]: ...


def converted(
    ikm: float | Fraction | NDArray[np.float64], scale_points: int = 4
) -> float | Fraction | NDArray[np.float64]:
    """Return the converted score of an IKM on an `scale_points`-point scale (25..100).

    The one conversion used everywhere::

        converted = 25 + 75 (IKM - 1) / (m - 1)

    It maps the scale 1..m linearly onto 25..100. For the regulation's 4-point scale it is
    exactly 25 x IKM (computed as such, so 4-point results are unchanged to the last bit).
    A Fraction gives an exact Fraction; a float (or a NumPy array) gives a float.

    Examples
    --------
    >>> converted(3.0), converted(3.55, 5), converted(Fraction(7, 2), 7)
    (75.0, 72.8125, Fraction(225, 4))
    """
    m = _check_points(scale_points)
    if m == 4:
        return ikm * 25
    if isinstance(ikm, Fraction):
        return 25 + Fraction(75, m - 1) * (ikm - 1)
    return 25 + 75 * (ikm - 1) / (m - 1)


@overload
def from_converted(value: Fraction, scale_points: int = 4) -> Fraction: ...


@overload
def from_converted(value: float, scale_points: int = 4) -> float: ...


def from_converted(value: float | Fraction, scale_points: int = 4) -> float | Fraction:
    """Return the IKM on 1..m whose converted score is `value` (the inverse of :func:`converted`).

    Examples
    --------
    >>> from_converted(88.31), from_converted(Fraction(225, 4), 7)
    (3.5324, Fraction(7, 2))
    """
    m = _check_points(scale_points)
    if m == 4:
        return value / 25
    if isinstance(value, Fraction):
        return 1 + (value - 25) * Fraction(m - 1, 75)
    return 1 + (value - 25) * (m - 1) / 75


@functools.lru_cache(maxsize=256)
def _decimal(bound: float) -> Fraction:
    # A bound is a printed decimal (3.5324): its shortest repr is that decimal exactly.
    return Fraction(repr(float(bound)))


@dataclass(frozen=True)
class Category:
    """One row of a category table.

    Attributes
    ----------
    code : str
        The letter (``"A"``).
    label_id, label_en : str
        The *kinerja* label in Bahasa Indonesia and in English.
    min_ikm : float
        Lower bound on the scheme's answer scale 1..m (inclusive; m = 4 for the regulation).
    min_converted : float
        Lower bound on the converted 25..100 scale (inclusive).
    """

    code: str
    label_id: str
    label_en: str
    min_ikm: float
    min_converted: float

    def as_dict(self) -> dict[str, Any]:
        """Return the category as the dict stored in the database."""
        return {
            "code": self.code,
            "label_id": self.label_id,
            "label_en": self.label_en,
            "min_ikm": self.min_ikm,
            "min_converted": self.min_converted,
        }


@dataclass(frozen=True)
class Scheme:
    """An ordered category table, highest category first.

    Attributes
    ----------
    name : str
        Human-readable name (``"PermenPANRB 14/2017"``).
    categories : tuple of Category
        Highest first; lower bounds strictly decreasing on both scales; the lowest category
        starts at 1.00 (25.00), so that every IKM has a category.
    basis : {"ikm", "converted"}
        Which lower bounds are compared. ``"ikm"`` compares the IKM on 1..4 with ``min_ikm``;
        ``"converted"`` compares 25 x IKM with ``min_converted``. For PermenPANRB 14/2017 the
        two agree (each converted bound is exactly 25 times the 1..4 bound). For KepmenPAN
        25/2004 they do not (3.26 x 25 = 81.5, printed 81.26): the built-in scheme uses
        ``"ikm"``, because the regulation defines the category from the 1..4 value and the
        converted table is a presentation of the same cut points (1.75, 2.50, 3.25) with a
        0.01 step.
    scale_points : int
        The answer scale 1..m that ``min_ikm`` is given on (default 4, the regulation's).
        An IKM from a questionnaire with another number of points is always categorised on
        the converted score (:func:`converted`, 25..100) against ``min_converted``: the
        regulation's converted bounds 25 / 65 / 76.61 / 88.31 then hold for every scale, so a
        5-point mean of 3.55 (converted 72.81) is a C, not an A.

    Examples
    --------
    >>> knpi = Scheme.from_dicts(
    ...     [{"code": "B", "label_id": "Baik", "min_ikm": 3.00},
    ...      {"code": "C", "label_id": "Kurang baik", "min_ikm": 1.00}], name="KNPI")
    >>> knpi.categorize(3.01).code, knpi.categorize(2.98).code
    ('B', 'C')
    >>> PERMENPANRB_2017.categorize(3.5324).code
    'A'
    """

    name: str
    categories: tuple[Category, ...]
    basis: Basis = "ikm"
    scale_points: int = 4

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", tuple(self.categories))
        object.__setattr__(self, "scale_points", _check_points(self.scale_points))
        if self.basis not in ("ikm", "converted"):
            raise ValueError(f"basis must be 'ikm' or 'converted', not {self.basis!r}")
        if not self.categories:
            raise ValueError(f"scheme {self.name!r} has no categories")
        codes = [c.code for c in self.categories]
        for code in codes:
            if not isinstance(code, str) or not code.strip():
                raise ValueError(f"scheme {self.name!r}: category code {code!r} is empty")
        if len(set(codes)) != len(codes):
            raise ValueError(f"scheme {self.name!r}: category codes {codes} are not unique")
        for field, low, high in (("min_ikm", 1, self.scale_points), ("min_converted", 25, 100)):
            bounds = [_decimal(getattr(c, field)) for c in self.categories]
            for c, b in zip(self.categories, bounds, strict=True):
                if not low <= b <= high:
                    raise ValueError(
                        f"scheme {self.name!r}: {field} of {c.code!r} is {getattr(c, field)!r},"
                        f" outside {low}..{high}"
                    )
            for (a, ba), (c, bc) in zip(
                zip(self.categories, bounds, strict=True),
                zip(self.categories[1:], bounds[1:], strict=True),
                strict=False,
            ):
                if not ba > bc:
                    raise ValueError(
                        f"scheme {self.name!r}: {field} must decrease from the highest category"
                        f" to the lowest, but {a.code!r} has {getattr(a, field)!r} and"
                        f" {c.code!r} has {getattr(c, field)!r}"
                    )
            if bounds[-1] != low:
                raise ValueError(
                    f"scheme {self.name!r}: the lowest category {self.categories[-1].code!r} must"
                    f" start at {field} = {low}, not {getattr(self.categories[-1], field)!r}"
                )

    @classmethod
    def from_dicts(
        cls,
        items: Iterable[Mapping[str, Any]],
        *,
        name: str = "custom",
        basis: Basis = "ikm",
        scale_points: int | None = None,
    ) -> Scheme:
        """Build a scheme from the list of dicts stored in the database.

        Parameters
        ----------
        items : iterable of mapping
            Highest category first. Keys: ``code``, ``label_id`` (required), ``label_en``
            (defaults to ``label_id``), ``min_ikm`` and/or ``min_converted`` (a missing one is
            derived from the other by :func:`converted`), and optionally ``scale_points``.
        name : str
            Name of the scheme.
        basis : {"ikm", "converted"}
            Which bounds are compared; see :class:`Scheme`.
        scale_points : int, optional
            The scale ``min_ikm`` is given on; default the items' ``scale_points`` key, else 4.

        Returns
        -------
        Scheme

        Examples
        --------
        >>> s = Scheme.from_dicts([{"code": "A", "label_id": "Baik", "min_ikm": 2.5},
        ...                        {"code": "B", "label_id": "Buruk", "min_ikm": 1}])
        >>> s.categories[0].min_converted
        62.5
        """
        items = list(items)
        if scale_points is None:
            given = {item["scale_points"] for item in items if "scale_points" in item}
            if len(given) > 1:
                raise ValueError(f"scheme {name!r}: categories disagree on scale_points {given}")
            scale_points = int(given.pop()) if given else 4
        m = _check_points(scale_points)
        categories = []
        for i, item in enumerate(items):
            missing = [key for key in ("code", "label_id") if key not in item]
            if missing:
                raise ValueError(f"category {i} of scheme {name!r} lacks {', '.join(missing)}")
            if "min_ikm" not in item and "min_converted" not in item:
                raise ValueError(
                    f"category {item['code']!r} of scheme {name!r} needs min_ikm or min_converted"
                )
            try:
                min_ikm = float(item["min_ikm"]) if "min_ikm" in item else None
                min_conv = float(item["min_converted"]) if "min_converted" in item else None
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"category {item['code']!r} of scheme {name!r}: bound is not a number ({exc})"
                ) from None
            if min_ikm is None:
                # min_conv is known not to be None when min_ikm is (checked above).
                min_ikm = float(from_converted(_decimal(min_conv), m))
            if min_conv is None:
                min_conv = float(converted(_decimal(min_ikm), m))
            categories.append(
                Category(
                    code=str(item["code"]),
                    label_id=str(item["label_id"]),
                    label_en=str(item.get("label_en", item["label_id"])),
                    min_ikm=min_ikm,
                    min_converted=min_conv,
                )
            )
        return cls(name=name, categories=tuple(categories), basis=basis, scale_points=m)

    def as_dicts(self) -> list[dict[str, Any]]:
        """Return the categories as the list of dicts stored in the database."""
        extra = {} if self.scale_points == 4 else {"scale_points": self.scale_points}
        return [c.as_dict() | extra for c in self.categories]

    def categorize(self, ikm: float | Fraction, scale_points: int | None = None) -> Category:
        """Return the category of an IKM given on the answer scale 1..m.

        Parameters
        ----------
        ikm : float or Fraction
            The IKM on 1..m (not the converted value). A float is rounded to 10 decimals
            before the exact comparison; a Fraction is compared exactly.
        scale_points : int, optional
            m, the questionnaire's number of answer values (default the scheme's own, 4).
            On the scheme's own scale the ``basis`` bounds are compared; on any other scale
            the converted score (:func:`converted`) is compared with ``min_converted``.

        Returns
        -------
        Category
            The first (highest) category whose lower bound the IKM reaches.

        Examples
        --------
        >>> PERMENPANRB_2017.categorize(3.0644).code, PERMENPANRB_2017.categorize(3.0643).code
        ('B', 'C')
        >>> PERMENPANRB_2017.categorize(3.55, 5).code, PERMENPANRB_2017.categorize(4.6, 5).code
        ('C', 'A')
        """
        m = self.scale_points if scale_points is None else _check_points(scale_points)
        if not isinstance(ikm, Fraction) and ikm != ikm:  # NaN
            raise ValueError("cannot categorize an IKM that is NaN")
        value = exact_value(ikm)
        if not 1 <= value <= m:
            raise ValueError(f"IKM {float(value)!r} is outside the scale 1..{m}")
        on_ikm = self.basis == "ikm" and m == self.scale_points
        score = value if on_ikm else converted(value, m)
        for category in self.categories:
            bound = category.min_ikm if on_ikm else category.min_converted
            if score >= _decimal(bound):
                return category
        return self.categories[-1]  # unreachable: the lowest bound is 1.00 / 25.00

    def shown_bounds(
        self, scale_points: int | None = None, *, converted: bool
    ) -> tuple[float, ...]:
        """The lower bounds a displayed score is checked against, on the IKM scale 1..m or the
        converted scale (the display rule of :mod:`reports.formatting`).

        Examples
        --------
        >>> PERMENPANRB_2017.shown_bounds(converted=True)
        (88.31, 76.61, 65.0, 25.0)
        >>> PERMENPANRB_2017.shown_bounds(5, converted=False)[:2]
        (4.3765333333, 3.7525333333)
        """
        m = self.scale_points if scale_points is None else _check_points(scale_points)
        return _shown_bounds(self, m, converted)

    def crosses_boundary(
        self, low: float | Fraction, high: float | Fraction, scale_points: int | None = None
    ) -> bool:
        """Whether an interval [low, high] on 1..m spans more than one category.

        Ends outside 1..m (an interval can reach past the scale) are clipped to it; m is
        `scale_points`, by default the scheme's own (4).

        Examples
        --------
        >>> PERMENPANRB_2017.crosses_boundary(3.40, 3.60)
        True
        >>> PERMENPANRB_2017.crosses_boundary(3.10, 3.50)
        False
        """
        if low != low or high != high:
            raise ValueError(f"interval [{low}, {high}] has a NaN end")
        if high < low:
            raise ValueError(f"interval [{low}, {high}] has low > high")
        m = self.scale_points if scale_points is None else _check_points(scale_points)
        lo = min(max(exact_value(low), Fraction(1)), Fraction(m))
        hi = min(max(exact_value(high), Fraction(1)), Fraction(m))
        return self.categorize(lo, m) != self.categorize(hi, m)


convert_score = converted  # the module function, for methods whose keyword shadows its name

PERMENPANRB_2017 = Scheme(
    name="PermenPANRB 14/2017",
    categories=(
        Category("A", "Sangat baik", "Very good", 3.5324, 88.31),
        Category("B", "Baik", "Good", 3.0644, 76.61),
        Category("C", "Kurang baik", "Poor", 2.60, 65.00),
        Category("D", "Tidak baik", "Very poor", 1.00, 25.00),
    ),
    basis="ikm",
)
"""The default scheme (PermenPANRB 14/2017); bounds on both scales agree exactly."""

KEPMENPAN_2004 = Scheme(
    name="KepmenPAN 25/2004",
    categories=(
        Category("A", "Sangat baik", "Very good", 3.26, 81.26),
        Category("B", "Baik", "Good", 2.51, 62.51),
        Category("C", "Kurang baik", "Poor", 1.76, 43.76),
        Category("D", "Tidak baik", "Very poor", 1.00, 25.00),
    ),
    basis="ikm",
)
"""The legacy scheme (KepmenPAN 25/2004), compared on the 1..4 bounds as printed."""

SCHEMES: Mapping[str, Scheme] = MappingProxyType(
    {"permenpanrb-14-2017": PERMENPANRB_2017, "kepmenpan-25-2004": KEPMENPAN_2004}
)
"""The built-in schemes by the slugs the database uses."""


@functools.lru_cache(maxsize=64)
def _shown_bounds(scheme: Scheme, m: int, converted: bool) -> tuple[float, ...]:
    """:meth:`Scheme.shown_bounds`, computed once per scheme, scale and kind (pages print a
    score by them for each of 500 OPDs)."""
    on_ikm = scheme.basis == "ikm" and m == scheme.scale_points
    out = []
    for c in scheme.categories:
        if on_ikm:
            value = convert_score(_decimal(c.min_ikm), m) if converted else _decimal(c.min_ikm)
        else:
            conv = _decimal(c.min_converted)
            value = conv if converted else from_converted(conv, m)
        out.append(round(float(value), 10))
    return tuple(out)

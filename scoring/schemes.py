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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType
from typing import Any, Literal

__all__ = [
    "KEPMENPAN_2004",
    "PERMENPANRB_2017",
    "SCHEMES",
    "Category",
    "Scheme",
    "exact_value",
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
    return Fraction(f"{float(value):.{_DECIMALS}f}")


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
        Lower bound on the 1..4 scale (inclusive).
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

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", tuple(self.categories))
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
        for field, low, high in (("min_ikm", 1, 4), ("min_converted", 25, 100)):
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
        cls, items: Iterable[Mapping[str, Any]], *, name: str = "custom", basis: Basis = "ikm"
    ) -> Scheme:
        """Build a scheme from the list of dicts stored in the database.

        Parameters
        ----------
        items : iterable of mapping
            Highest category first. Keys: ``code``, ``label_id`` (required), ``label_en``
            (defaults to ``label_id``), ``min_ikm`` and/or ``min_converted`` (a missing one is
            25 times, or a 25th of, the other).
        name : str
            Name of the scheme.
        basis : {"ikm", "converted"}
            Which bounds are compared; see :class:`Scheme`.

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
                # Type error ignored below: min_conv is known not to be None when min_ikm is
                # (checked above).
                min_ikm = float(_decimal(min_conv) / 25)  # type: ignore[arg-type]
            if min_conv is None:
                min_conv = float(_decimal(min_ikm) * 25)
            categories.append(
                Category(
                    code=str(item["code"]),
                    label_id=str(item["label_id"]),
                    label_en=str(item.get("label_en", item["label_id"])),
                    min_ikm=min_ikm,
                    min_converted=min_conv,
                )
            )
        return cls(name=name, categories=tuple(categories), basis=basis)

    def as_dicts(self) -> list[dict[str, Any]]:
        """Return the categories as the list of dicts stored in the database."""
        return [c.as_dict() for c in self.categories]

    def categorize(self, ikm: float | Fraction) -> Category:
        """Return the category of an IKM given on the 1..4 scale.

        Parameters
        ----------
        ikm : float or Fraction
            The IKM on 1..4 (not the converted value). A float is rounded to 10 decimals
            before the exact comparison; a Fraction is compared exactly.

        Returns
        -------
        Category
            The first (highest) category whose lower bound the IKM reaches.

        Examples
        --------
        >>> PERMENPANRB_2017.categorize(3.0644).code, PERMENPANRB_2017.categorize(3.0643).code
        ('B', 'C')
        """
        if not isinstance(ikm, Fraction) and ikm != ikm:  # NaN
            raise ValueError("cannot categorize an IKM that is NaN")
        value = exact_value(ikm)
        if not 1 <= value <= 4:
            raise ValueError(f"IKM {float(value)!r} is outside the scale 1..4")
        for category in self.categories:
            if self.basis == "ikm":
                if value >= _decimal(category.min_ikm):
                    return category
            elif 25 * value >= _decimal(category.min_converted):
                return category
        return self.categories[-1]  # unreachable: the lowest bound is 1.00 / 25.00

    def crosses_boundary(self, low: float | Fraction, high: float | Fraction) -> bool:
        """Whether an interval [low, high] on 1..4 spans more than one category.

        Ends outside 1..4 (an interval can reach past the scale) are clipped to it.

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
        lo = min(max(exact_value(low), Fraction(1)), Fraction(4))
        hi = min(max(exact_value(high), Fraction(1)), Fraction(4))
        return self.categorize(lo) != self.categorize(hi)


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

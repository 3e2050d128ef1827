"""Numbers, dates and times in the report language, with Babel (no Flask).

Indonesian reports write a decimal comma and a dot between thousands (3,07; 1.234), long dates
with Indonesian month names (13 Januari 2026) and times as 10.05 WIB; English reports write
3.07, 13 January 2026 and 10:05 WIB. Every report formats through one :class:`Formatter`, so a
number looks the same in the text, the tables and the charts.

:func:`format_number` is the one number formatter of the project: the reports, the charts'
tick labels, the web pages (through ``survey.web.i18n``) and ``ikm score --format table`` all
call it. Its rounding rule: half up (away from zero) on the decimal value as written, so
88.125 prints 88,13 (Indonesian) / 88.13 (English) and 2.505 prints 2,51, whatever the nearest
binary float is. This module imports only Babel, so the web can load it without the charts
and the PDF engine.

Display rule beside a category (:func:`category_decimal`): a score printed next to its
category is never on the other side of a category bound than the score itself. It is
rounded as above to the usual decimals (2); if that rounding would reach or cross a bound
(2.5996 in D would print "2,60", the lower bound of C; a converted 88.306 in B would print
"88,31", the bound of A), one more decimal is shown, then two ("2,5996", "88,306"); if even
that is not enough it is cut toward its own side. So "2,60" is never printed in D and "88,31"
never in B.
"""

from __future__ import annotations

import builtins
import functools
import math
from collections.abc import Sequence
from datetime import date, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from babel.dates import format_date as _babel_date
from babel.dates import format_datetime as _babel_datetime
from babel.numbers import get_decimal_symbol, get_group_symbol, get_minus_sign_symbol

if TYPE_CHECKING:  # annotations only: importing the model would load scoring (NumPy, SciPy)
    from .model import Lang

__all__ = [
    "DASH",
    "Formatter",
    "category_decimal",
    "format_date",
    "format_datetime",
    "format_number",
]

DASH = "–"  # en dash: ranges (73,5–80,2) and missing values
MISSING = "—"  # em dash: a cell with no value

# Babel's English names for Indonesian zones are offsets (+0700); the Indonesian
# abbreviations (WIB, WITA, WIT) are what readers in both languages know.
_ZONE_LOCALE = "id"


def _locale(lang: str) -> Lang:
    """Return the Babel locale of a report language (refusing any other language)."""
    if lang not in ("id", "en"):
        raise ValueError(f"lang must be 'id' or 'en', not {lang!r}")
    return "en" if lang == "en" else "id"


def format_number(
    value: float | None, lang: Lang = "id", digits: int = 2, *, missing: str = MISSING
) -> str:
    """Return `value` with `digits` decimals in the report language; `missing` for NaN/None.

    Rounds half up on the decimal value as written (``str(value)``), not on the binary float.

    Examples
    --------
    >>> format_number(3.0744, "id"), format_number(3.0744, "en"), format_number(1234.5, "id", 1)
    ('3,07', '3.07', '1.234,5')
    >>> format_number(88.125, "id"), format_number(88.125, "en"), format_number(-2.505, "en")
    ('88,13', '88.13', '-2.51')
    """
    if value is None or not math.isfinite(value):
        return missing
    # Rounded half-up first, as people and spreadsheets do (Babel would round half-even).
    return _written(_round_half_up(value, digits), max(digits, 0), _locale(lang))


def _written(value: Decimal, places: int, locale: str) -> str:
    """``value`` (already rounded) with ``places`` decimals and grouped thousands: Python's
    formatting, then the locale's signs from Babel. The same text as Babel's "#,##0.00"
    pattern (tested against it), at a tenth of the cost (a dashboard of 500 OPDs prints
    3,000 numbers a refresh)."""
    decimal_sign, group_sign, minus_sign = _signs(locale)
    text = f"{value:,.{places}f}"
    return text.translate({ord(","): group_sign, ord("."): decimal_sign, ord("-"): minus_sign})


@functools.lru_cache(maxsize=4)
def _signs(locale: str) -> tuple[str, str, str]:
    """The decimal sign, the group sign and the minus sign of a Babel locale."""
    return get_decimal_symbol(locale), get_group_symbol(locale), get_minus_sign_symbol(locale)


def _round_half_up(value: float, digits: int) -> Decimal:
    """Round to `digits` decimals, halves away from zero, on the shortest decimal repr."""
    quantum = Decimal(1).scaleb(-digits)
    return Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_UP)


def category_decimal(
    value: float, bounds: Sequence[float], digits: int = 2, extra: int = 2
) -> Decimal:
    """Return `value` rounded for printing beside its category (the display rule above).

    Parameters
    ----------
    value : float
        The score (IKM or converted).
    bounds : sequence of float
        The category lower bounds on the same scale as `value`.
    digits : int
        The usual decimals; at most `extra` more are added near a bound.

    Examples
    --------
    >>> bounds = (3.5324, 3.0644, 2.60, 1.0)
    >>> str(category_decimal(2.5996, bounds)), str(category_decimal(3.0744, bounds))
    ('2.5996', '3.07')
    >>> str(category_decimal(88.306, (88.31, 76.61, 65.0, 25.0)))
    '88.306'
    """
    exact = Decimal(str(value))
    marks = [Decimal(str(b)) for b in bounds]

    def same_side(shown: Decimal) -> bool:
        return all((shown >= b) == (exact >= b) for b in marks)

    for d in range(digits, digits + extra + 1):
        shown = _round_half_up(value, d)
        if same_side(shown):
            return shown
    quantum = Decimal(1).scaleb(-(digits + extra))
    crossed_up = any(shown >= b > exact for b in marks)
    return exact.quantize(quantum, rounding=ROUND_FLOOR if crossed_up else ROUND_CEILING)


def format_date(value: date | datetime | None, lang: Lang = "id", tz: str = "Asia/Jakarta") -> str:
    """Return a long date (``13 Januari 2026`` / ``13 January 2026``); aware datetimes in `tz`.

    Examples
    --------
    >>> from datetime import date
    >>> format_date(date(2026, 1, 13), "id"), format_date(date(2026, 1, 13), "en")
    ('13 Januari 2026', '13 January 2026')
    """
    if value is None:
        return MISSING
    if isinstance(value, datetime):
        value = value.astimezone(ZoneInfo(tz)).date() if value.tzinfo else value.date()
    return _babel_date(value, format="d MMMM y", locale=_locale(lang))


def format_datetime(value: datetime | None, lang: Lang = "id", tz: str = "Asia/Jakarta") -> str:
    """Return date and time in `tz` (``13 Januari 2026, 10.05 WIB``).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> moment = datetime(2026, 1, 13, 3, 5, tzinfo=UTC)
    >>> format_datetime(moment, "id"), format_datetime(moment, "en")
    ('13 Januari 2026, 10.05 WIB', '13 January 2026, 10:05 WIB')
    """
    if value is None:
        return MISSING
    if value.tzinfo is None:
        raise ValueError("format_datetime needs a timezone-aware datetime")
    zone = ZoneInfo(tz)
    day = format_date(value, lang, tz)
    clock = "HH.mm" if lang == "id" else "HH:mm"
    time_text = _babel_datetime(value, format=clock, tzinfo=zone, locale=_locale(lang))
    zone_text = _babel_datetime(value, format="zzz", tzinfo=zone, locale=_ZONE_LOCALE)
    return f"{day}, {time_text} {zone_text}"


# ``Formatter`` names methods ``int``, ``date`` and ``datetime``; inside it these aliases keep
# the types reachable.
Day = date


class Formatter:
    """Formatting bound to one report language and time zone (what the templates call ``f``).

    Examples
    --------
    >>> f = Formatter("id")
    >>> f.score(3.0744), f.conv(76.86), f.interval(73.51, 80.24), f.pct(0.15), f.int(1234)
    ('3,07', '76,86', '73,5–80,2', '15%', '1.234')
    """

    def __init__(self, lang: Lang = "id", tz: str = "Asia/Jakarta") -> None:
        """Bind the language and the time zone."""
        self.lang: Lang = _locale(lang)
        self.tz = tz

    def num(self, value: float | None, digits: int = 2) -> str:
        """Return a number with `digits` decimals."""
        return format_number(value, self.lang, digits)

    def score(self, value: float | None) -> str:
        """Return an IKM or NRR on 1..4 (two decimals, as the regulation prints them)."""
        return format_number(value, self.lang, 2)

    def conv(self, value: float | None) -> str:
        """Return a converted IKM on 25..100 (two decimals)."""
        return format_number(value, self.lang, 2)

    def beside(self, value: float | None, bounds: Sequence[float], digits: int = 2) -> str:
        """Return a score printed beside its category (the module's display rule)."""
        if value is None or not math.isfinite(value):
            return MISSING
        shown = category_decimal(value, bounds, digits)
        places = max(digits, -int(shown.as_tuple().exponent))
        return _written(shown, places, self.lang)

    def unit_score(self, unit: object) -> str:
        """Return a unit's IKM (1..m) by the display rule (a scoring UnitScore or IKMResult)."""
        est = getattr(unit, "estimate", unit)
        bounds = est.scheme.shown_bounds(est.scale_points, converted=False)  # type: ignore[attr-defined]
        return self.beside(est.ikm, bounds)  # type: ignore[attr-defined]

    def unit_conv(self, unit: object) -> str:
        """Return a unit's converted IKM (25..100) by the display rule."""
        est = getattr(unit, "estimate", unit)
        bounds = est.scheme.shown_bounds(est.scale_points, converted=True)  # type: ignore[attr-defined]
        return self.beside(est.converted(), bounds)  # type: ignore[attr-defined]

    def interval(self, low: float | None, high: float | None, digits: int = 1) -> str:
        """Return ``low–high`` (an em dash if either end is missing)."""
        lo, hi = format_number(low, self.lang, digits), format_number(high, self.lang, digits)
        if MISSING in (lo, hi):
            return MISSING
        return f"{lo}{DASH}{hi}"

    def int(self, value: builtins.int | None) -> str:
        """Return a whole number with the thousands separator (1.234 / 1,234)."""
        if value is None:
            return MISSING
        return _written(Decimal(int(value)), 0, self.lang)

    def pct(self, share: float | None, digits: builtins.int = 0) -> str:
        """Return a share (0.15) as a percentage (``15%``)."""
        if share is None or not math.isfinite(share):
            return MISSING
        return format_number(100 * share, self.lang, digits) + "%"

    def signed(self, value: float | None, digits: builtins.int = 2) -> str:
        """Return a difference with its sign (``+0,12`` / ``−0,12``)."""
        if value is None or not math.isfinite(value):
            return MISSING
        text = format_number(abs(value), self.lang, digits)
        if text == format_number(0.0, self.lang, digits):
            return text
        return ("+" if value > 0 else "−") + text

    def date(self, value: date | datetime | None) -> str:
        """Return a long date."""
        return format_date(value, self.lang, self.tz)

    def datetime(self, value: datetime | None) -> str:
        """Return a date and time with the zone abbreviation."""
        return format_datetime(value, self.lang, self.tz)

    def period(self, start: Day | None, end: Day | None) -> str:
        """Return a survey period (``12–16 Juni 2025`` style, or the one end known)."""
        if start is None and end is None:
            return MISSING
        if start is None or end is None or start == end:
            return self.date(start or end)
        if (start.year, start.month) == (end.year, end.month):
            return f"{start.day}{DASH}{self.date(end)}"
        if start.year == end.year:
            first = _babel_date(start, format="d MMMM", locale=self.lang)
            return f"{first} {DASH} {self.date(end)}"
        return f"{self.date(start)} {DASH} {self.date(end)}"

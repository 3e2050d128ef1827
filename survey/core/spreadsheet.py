"""XLSX workbooks for the response file: reading cells as text, writing sheets safely.

Reading turns every cell of the first worksheet into the text a CSV file would hold (whole
numbers without ".0", times in ISO 8601), so the canonical file's checks apply unchanged.
Writing neutralises text that spreadsheet programs would run as a formula (it starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return) by putting a single quote before it;
reading takes that quote off again, so that an exported workbook imports back exactly.
Carriage returns and control characters are written as OOXML escapes (``_x000D_``), which
spreadsheet programs show as the characters and reading turns back into them.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# OOXML writes characters XML cannot carry (control characters; a CR would be read back as
# a line feed) as _xHHHH_, and a literal "_xHHHH_" as "_x005F_xHHHH_".
_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")
_UNDERSCORE = re.compile(r"_(?=x[0-9A-Fa-f]{4}_)")
_TO_ESCAPE = re.compile(r"[\x01-\x08\x0b\x0c\r\x0e-\x1f]")


def ooxml_escape(text: str) -> str:
    """Return text with CR and control characters written the OOXML way (_x000D_)."""
    text = _UNDERSCORE.sub("_x005F_", text)
    return _TO_ESCAPE.sub(lambda match: f"_x{ord(match.group()):04X}_", text)


def ooxml_unescape(text: str) -> str:
    """Undo ``ooxml_escape`` (and Excel's own escapes)."""
    if "_x" not in text:
        return text
    return _ESCAPED.sub(lambda match: chr(int(match.group(1), 16)), text)


def _needs_quote(text: str) -> bool:
    """Tell whether text, once any leading quotes are set aside, starts like a formula."""
    rest = text.lstrip("'")
    return rest.startswith(FORMULA_STARTS)


def neutralise(value: Any) -> Any:
    """Return text that would run as a formula with a single quote before it; else as is."""
    if isinstance(value, str) and _needs_quote(value):
        # Quotes already in front get one more, so that ``unneutralise`` is an exact inverse.
        return "'" + value
    return value


def unneutralise(text: str) -> str:
    """Undo ``neutralise``: take off the quote put before formula-like text."""
    if text.startswith("'") and _needs_quote(text[1:]):
        return text[1:]
    return text


def cell_text(value: Any) -> str:
    """Return a cell's value as the text a CSV cell would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, str):
        return unneutralise(ooxml_unescape(value))
    return str(value)


def read_xlsx(data: bytes) -> list[list[str]]:
    """Return the rows of the first worksheet as text cells (row 1 first, blank rows kept).

    Raise ValueError if the bytes are not a workbook openpyxl can read.
    """
    from openpyxl import load_workbook

    try:
        with warnings.catch_warnings():
            # Workbooks saved by other programs often lack a default style; openpyxl says so.
            warnings.filterwarnings("ignore", category=UserWarning, module=r"openpyxl\.")
            workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            try:
                sheet = workbook.worksheets[0] if workbook.worksheets else None
                if sheet is None:
                    return []
                rows: list[list[str]] = []
                for values in sheet.iter_rows(values_only=True):
                    rows.append([cell_text(value) for value in values])
            finally:
                workbook.close()
    except Exception as exc:  # zip, XML and workbook structure errors alike
        raise ValueError(
            f"not a readable XLSX workbook ({exc.__class__.__name__}); "
            "save it as .xlsx (Excel workbook) or as CSV UTF-8"
        ) from None
    return rows


def _cell(value: Any) -> Any:
    """Return a value ready for a written cell: text neutralised and escaped."""
    return ooxml_escape(neutralise(value)) if isinstance(value, str) else value


def xlsx_bytes(sheets: Iterable[tuple[str, Sequence[str], Iterable[Sequence[Any]]]]) -> bytes:
    """Return a workbook with one sheet per (title, header, rows); text cells neutralised."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    for title, header, rows in sheets:
        sheet = workbook.create_sheet(title)
        sheet.append([_cell(name) for name in header])
        for row in rows:
            sheet.append([_cell(value) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()

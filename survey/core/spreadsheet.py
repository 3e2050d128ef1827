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

import functools
import io
import re
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from defusedxml import ElementTree  # an upload is untrusted XML: no entities, no DTD tricks

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
    if type(value) is str and "_x" not in value and not value.startswith("'"):
        return value  # the usual text: nothing to undo
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

    Raise ValueError if the bytes are not a workbook that can be read.
    """
    rows, _count = open_xlsx(data)
    try:
        return list(rows)
    except Exception as exc:  # zip, XML and workbook structure errors alike
        raise _unreadable(exc) from None


def _unreadable(exc: Exception) -> ValueError:
    """Return the error of bytes that are not a readable workbook."""
    return ValueError(
        f"not a readable XLSX workbook ({exc.__class__.__name__}); "
        "save it as .xlsx (Excel workbook) or as CSV UTF-8"
    )


def open_xlsx(data: bytes, *, estimate: bool = True) -> tuple[Iterator[list[str]], int]:
    """Open the first worksheet: its rows as text cells, read as they are needed (row 1 first,
    blank rows kept), and about how many rows it holds (for progress; with ``estimate``
    False, 0 unless the sheet states it: counting reads the whole sheet).

    The rows are those openpyxl's read-only mode gives (``iter_rows(values_only=True)``, then
    ``cell_text``): openpyxl reads the workbook's structure, styles and date system, and a
    lean loop over the sheet's XML reads the cells, about three times faster than openpyxl's
    own (``bench/imports.py``: a 200,000-row sheet in about 15 s rather than 42 s). Raise
    ValueError if the bytes are not a workbook that can be read; a sheet broken further on
    raises ValueError when its rows get there.
    """
    try:
        with warnings.catch_warnings():
            # Workbooks saved by other programs often lack a default style; openpyxl says so.
            warnings.filterwarnings("ignore", category=UserWarning, module=r"openpyxl\.")
            sheet = _first_sheet(data)
            if sheet is None:
                return iter(()), 0
            if not estimate and sheet.max_row is None:
                return _sheet_rows(sheet), 0
            return _sheet_rows(sheet), _count_rows(sheet)
    except Exception as exc:  # zip, XML and workbook structure errors alike
        raise _unreadable(exc) from None


def _count_rows(sheet: _Sheet) -> int:
    """Return the rows a worksheet states, or else about how many row elements its XML holds
    (text cannot hold a "<"; a prefixed ``<x:row`` is counted too), for progress."""
    if sheet.max_row is not None:
        return sheet.max_row
    count, tail = 0, b""
    with sheet.archive.open(sheet.path) as source:
        while chunk := source.read(1 << 20):
            block = tail + chunk
            count += block.count(b"<row") + block.count(b":row ")
            # The last bytes are read again with the next chunk: not counted twice.
            tail = block[-8:]
            count -= tail.count(b"<row") + tail.count(b":row ")
    return count + tail.count(b"<row") + tail.count(b":row ")


@dataclass(frozen=True)
class _Sheet:
    """What reading a worksheet's cells needs to know of its workbook."""

    archive: zipfile.ZipFile
    path: str
    strings: list[str]
    epoch: datetime
    date_styles: frozenset[int]
    timedelta_styles: frozenset[int]
    max_row: int | None
    max_column: int | None


def _first_sheet(data: bytes) -> _Sheet | None:
    """Read a workbook's structure with openpyxl, up to its first worksheet's cells."""
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.styles.stylesheet import apply_stylesheet
    from openpyxl.xml.constants import SHARED_STRINGS

    reader = ExcelReader(io.BytesIO(data), read_only=True, data_only=True)
    reader.read_manifest()
    strings: list[str] = []
    part = reader.package.find(SHARED_STRINGS)
    if part is not None:
        with reader.archive.open(part.PartName[1:]) as source:
            strings = _shared_strings(source)
    reader.read_workbook()
    apply_stylesheet(reader.archive, reader.wb)
    for _sheet, rel in reader.parser.find_sheets():
        if rel.target not in reader.valid_files or "chartsheet" in rel.Type:
            continue
        with reader.archive.open(rel.target) as source:
            bounds = _dimension(source)
        return _Sheet(
            archive=reader.archive,
            path=rel.target,
            strings=strings,
            epoch=reader.wb.epoch,
            date_styles=frozenset(reader.wb._date_formats),
            timedelta_styles=frozenset(reader.wb._timedelta_formats),
            max_row=bounds[3] if bounds else None,
            max_column=bounds[2] if bounds else None,
        )
    return None


_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def _shared_strings(source: Any) -> list[str]:
    """Return a shared string table's texts as openpyxl's ``read_string_table`` does (the
    plain text and the runs' texts, phonetic hints left out)."""
    strings: list[str] = []
    item, text, run = f"{_MAIN}si", f"{_MAIN}t", f"{_MAIN}r"
    for _event, element in ElementTree.iterparse(source):
        if element.tag != item:
            continue
        parts = []
        for child in element:
            if child.tag == text:
                parts.append(child.text or "")
            elif child.tag == run:
                parts.extend(t.text or "" for t in child.iter(text))
        strings.append("".join(parts).replace("x005F_", ""))
        element.clear()
    return strings


def _dimension(source: Any) -> tuple[int, int, int, int] | None:
    """Return the (min column, min row, max column, max row) a sheet states, or None; reads
    no further than the start of its cells."""
    from openpyxl.utils.cell import range_boundaries

    for _event, element in ElementTree.iterparse(source, events=("start",)):
        if element.tag == f"{_MAIN}dimension":
            ref = element.get("ref")
            return range_boundaries(ref) if ref else None
        if element.tag == f"{_MAIN}sheetData":
            return None
    return None


def _number(text: str) -> int | float:
    """Return a number cell's value as openpyxl reads it (a float if it has . or E)."""
    if "." in text or "E" in text or "e" in text:
        return float(text)
    return int(text)


@functools.lru_cache(maxsize=1024)
def _column_number(letters: str) -> int:
    """Return the number of a column's letters (A: 1)."""
    from openpyxl.utils.cell import column_index_from_string

    return column_index_from_string(letters)


def _column(coordinate: str) -> int:
    """Return the column number of a cell reference such as "Q12" (as openpyxl reads it)."""
    from openpyxl.utils.cell import coordinate_to_tuple

    letters = coordinate.rstrip("0123456789")
    if not letters or not letters.isalpha() or letters == coordinate:
        return coordinate_to_tuple(coordinate)[1]  # unusual: openpyxl's reading (or error)
    return _column_number(letters.upper())


def _sheet_rows(sheet: _Sheet) -> Iterator[list[str]]:
    """Yield the text cells of a worksheet's rows (openpyxl's read-only rows, as text)."""
    from openpyxl.utils.datetime import from_excel, from_ISO8601

    row_tag, cell_tag = f"{_MAIN}row", f"{_MAIN}c"
    value_tag, inline_tag, text_tag = f"{_MAIN}v", f"{_MAIN}is", f"{_MAIN}t"
    run_tag = f"{_MAIN}r"
    width = sheet.max_column
    date_styles = sheet.date_styles
    counter = 1  # the next row number to yield
    row_number = 0
    try:
        with sheet.archive.open(sheet.path) as source:
            for _event, element in ElementTree.iterparse(source):
                if element.tag != row_tag:
                    continue
                number = element.get("r")
                row_number = int(float(number)) if number else row_number + 1
                if sheet.max_row is not None and row_number > sheet.max_row:
                    break
                values: dict[int, str] = {}
                column = 0
                for cell in element:
                    if cell.tag != cell_tag:
                        continue
                    coordinate = cell.get("r")
                    column = _column(coordinate) if coordinate else column + 1
                    kind = cell.get("t", "n")
                    value: Any
                    if kind == "inlineStr":
                        child = cell.find(inline_tag)
                        if child is None:
                            value = None
                        elif len(child) == 1 and child[0].tag == text_tag:
                            value = child[0].text or ""
                        else:
                            value = "".join(
                                (c.text or "")
                                if c.tag == text_tag
                                else "".join(t.text or "" for t in c.iter(text_tag))
                                for c in child
                                if c.tag in (text_tag, run_tag)
                            )
                    else:
                        value = cell.findtext(value_tag, None) or None
                        if value is None:
                            pass
                        elif kind == "n":
                            style = int(cell.get("s") or 0) if date_styles else 0
                            if style in date_styles:
                                try:
                                    value = from_excel(
                                        _number(value),
                                        sheet.epoch,
                                        timedelta=style in sheet.timedelta_styles,
                                    )
                                except (OverflowError, ValueError):
                                    value = "#VALUE!"
                            elif (
                                value.isdigit()
                                and value.isascii()
                                and (len(value) == 1 or value[0] != "0")
                            ):
                                # A whole number (most answers): its text as it is.
                                values[column] = value
                                continue
                            else:
                                value = _number(value)
                        elif kind == "s":
                            value = sheet.strings[int(value)]
                        elif kind == "b":
                            value = bool(int(value))
                        elif kind == "d":
                            value = from_ISO8601(value)
                    # An empty cell still widens its row, as in openpyxl.
                    values[column] = cell_text(value)
                element.clear()
                for _ in range(counter, row_number):
                    counter += 1
                    yield [""] * width if width else []
                if counter <= row_number:
                    counter += 1
                    last = width or column
                    yield [values.get(i, "") for i in range(1, last + 1)]
        if sheet.max_row is not None:
            for _ in range(counter, sheet.max_row + 1):
                yield [""] * width if width else []
    except Exception as exc:  # XML and workbook structure errors alike
        raise _unreadable(exc) from None


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

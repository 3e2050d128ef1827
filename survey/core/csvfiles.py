"""Reading CSV files as people save them: the one reader of both the OPD and response imports.

Spreadsheets save "CSV" in several shapes: UTF-8 with or without a byte-order mark, and with
commas, or with semicolons where the decimal separator is a comma (Excel set to Indonesian).
The delimiter is found from the header record with :class:`csv.Sniffer`, which respects
quotes: ``opd;submitted_at;"U2 (a question, with a comma)";U3`` is four columns split on
``;``, although its header holds a comma. Each importer reports the errors (``UnicodeDecodeError``,
``csv.Error``) in its own terms.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

DELIMITERS = ",;\t|"
DEFAULT_DELIMITER = ","


def decode(data: bytes) -> str:
    """Return the text of UTF-8 bytes, with or without a byte-order mark.

    Raises ``UnicodeDecodeError`` for anything else (its ``start`` is the bad byte's offset).
    """
    return data.decode("utf-8-sig")


def header_record(text: str) -> str:
    """Return the text of the first record: up to the first line break outside quotes."""
    quoted = False
    for position, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif char in "\r\n" and not quoted:
            return text[:position]
    return text


def delimiter(text: str) -> str:
    """Return the delimiter of CSV text (one of ``DELIMITERS``), judged by its header record.

    Only the header is sniffed: data cells such as decimal commas in a semicolon file would
    mislead a count over several lines. A header of a single column has no delimiter to find;
    it is read with the default ','.
    """
    header = header_record(text)
    try:
        return csv.Sniffer().sniff(header, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return DEFAULT_DELIMITER


def records(text: str) -> Iterator[list[str]]:
    """Yield the cells of each record of CSV text, split on its detected delimiter.

    Raises ``csv.Error`` (lazily, at the record it concerns) for text that is not CSV.
    """
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter(text))

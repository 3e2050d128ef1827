"""The canonical response file without a database: checking rows, header rules, round trip."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from file_helpers import CONTEXT, NOW
from hypothesis import given, settings
from hypothesis import strategies as st

from survey.core.models import EDUCATIONS, OCCUPATIONS
from survey.core.problems import problem
from survey.core.responsefile import (
    ExportRecord,
    FileFormatError,
    ImportRow,
    RowError,
    canonical_columns,
    file_digest,
    import_submission_id,
    read_csv,
    write_csv,
)
from survey.core.rules import AGE_MAX, AGE_MIN

CODES = tuple(f"U{i}" for i in range(1, 10))
HEADER = ",".join(canonical_columns(CODES))


def csv_bytes(*lines: str, header: str = HEADER, bom: bool = False) -> bytes:
    """Return a CSV file (header then lines) as UTF-8 bytes."""
    text = "\r\n".join([header, *lines]) + "\r\n"
    return ("\ufeff" if bom else "").encode() + text.encode("utf-8")


def test_good_rows_are_read_with_their_values():
    """Answers, respondent fields and times come out typed, times in UTC."""
    data = csv_bytes(
        "bpbd,2025-06-12T09:30:00+07:00,4,3,,2,1,4,3,3,4,P,41,S1,PNS,KTP,Cepat sekali",
        "Rumah Sakit Umum Daerah,2025-06-12 14:00,1,1,1,1,1,1,1,1,1,l,,d1-d3,swasta,,",
        "rsud,,3,,,,,,,,,,,,,,",
        "rsud,2025-06-12T02:00:00Z,2,2,2,2,2,2,2,2,2,,,,,,",
    )
    result = read_csv(data, CONTEXT)
    assert result.errors == []
    first, second, third, fourth = result.rows
    assert first == ImportRow(
        row=2,
        opd_id=1,
        submitted_at=datetime(2025, 6, 12, 2, 30, tzinfo=UTC),
        answers=(4, 3, None, 2, 1, 4, 3, 3, 4),
        sex="P",
        age=41,
        education="S1",
        occupation="PNS",
        service="KTP",
        comment="Cepat sekali",
    )
    # No offset: Asia/Jakarta (UTC+7); codes in any case come out in their canonical form.
    assert second.opd_id == 2
    assert second.submitted_at == datetime(2025, 6, 12, 7, 0, tzinfo=UTC)
    assert (second.sex, second.education, second.occupation) == ("L", "D1-D3", "Swasta")
    assert second.service is None and second.comment is None
    # Empty time: the time of the import.
    assert third.submitted_at == NOW
    assert third.answers == (3, None, None, None, None, None, None, None, None)
    assert fourth.submitted_at == datetime(2025, 6, 12, 2, 0, tzinfo=UTC)
    assert result.digest == file_digest(data)


def test_every_bad_row_is_reported_with_its_spreadsheet_row_number():
    """Each problem names the row (header = row 1) and the reason; good rows are kept apart."""
    long_comment = "x" * 1201
    data = csv_bytes(
        "bpbd,,5,3,3,3,3,3,3,3,3,,,,,,",  # row 2
        "bpbd,,0,3,3,3,3,3,3,3,3,,,,,,",  # row 3
        "bpbd,,x,3,3,3,3,3,3,3,3,,,,,,",  # row 4
        "bpbd,,3,3,3,3,3,3,3,3,3,,,,,,",  # row 5: good
        "nowhere,,3,3,3,3,3,3,3,3,3,,,,,,",  # row 6
        "dinkes,,3,3,3,3,3,3,3,3,3,,,,,,",  # row 7
        "rsud,,,,,,,,,,,P,30,,,,",  # row 8
        f"rsud,,3,3,3,3,3,3,3,3,3,,,,,,{long_comment}",  # row 9
        "rsud,12/06/2025,3,3,3,3,3,3,3,3,3,,,,,,",  # row 10
        "rsud,,3,3,3,3,3,3,3,3,3,X,,,,,",  # row 11
        "rsud,,3,3,3,3,3,3,3,3,3,,abc,Kursus,Petani,,",  # row 12
        ",2099-01-01,3.0,,,,,,,,,,,,,,",  # row 13
    )
    result = read_csv(data, CONTEXT)
    assert [row.row for row in result.rows] == [5]
    reasons = {error.row: error.reasons for error in result.errors}
    assert reasons == {
        2: ("U1: '5' is not an answer (use 1 to 4 or leave empty)",),
        3: ("U1: '0' is not an answer (use 1 to 4 or leave empty)",),
        4: ("U1: 'x' is not an answer (use 1 to 4 or leave empty)",),
        6: ("unknown OPD 'nowhere' (use its slug or exact name)",),
        7: ("OPD 'dinkes' is not covered by this wave",),
        8: ("no answer to any question",),
        9: ("comment has 1201 characters (at most 1200)",),
        10: ("submitted_at '12/06/2025' is not an ISO 8601 time (e.g. 2025-06-12T09:30:00+07:00)",),
        11: ("sex 'X' is not one of L, P",),
        12: (
            "age 'abc' is not a whole number of years from 15 to 100",
            f"education 'Kursus' is not one of {', '.join(EDUCATIONS)}",
            f"occupation 'Petani' is not one of {', '.join(OCCUPATIONS)}",
        ),
        13: (
            "opd is empty",
            "submitted_at '2099-01-01' is in the future",
            "U1: '3.0' is not an answer (use 1 to 4 or leave empty)",
        ),
    }
    assert str(result.errors[0]) == "row 2: U1: '5' is not an answer (use 1 to 4 or leave empty)"


def test_row_numbers_count_records_not_lines():
    """A comment spanning lines is one spreadsheet row; blank rows are skipped but counted."""
    data = csv_bytes(
        'bpbd,,3,3,3,3,3,3,3,3,3,,,,,,"baris satu\r\nbaris dua"',  # row 2
        "",  # row 3: blank
        ",,,,,,,,,,,,,,,,",  # row 4: only separators
        "bpbd,,9,3,3,3,3,3,3,3,3,,,,,,",  # row 5
    )
    result = read_csv(data, CONTEXT)
    assert result.rows[0].comment == "baris satu\r\nbaris dua"
    assert [error.row for error in result.errors] == [5]


def test_cells_beyond_the_header_and_short_rows():
    """Extra non-empty cells are an error; missing trailing cells count as empty."""
    data = csv_bytes("bpbd,,3,3,3,3,3,3,3,3,3,,,,,,,extra", "bpbd,,3,3", "bpbd,,3,,,,,,,,,,,,,,,,,")
    result = read_csv(data, CONTEXT)
    assert [(error.row, error.reasons) for error in result.errors] == [
        (2, ("18 cells but the header has 17 columns",))
    ]
    assert result.errors[0].problems[0].code == "row-extra-cells"
    assert [row.answers[:2] for row in result.rows] == [(3, 3), (3, None)]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (HEADER + ",remarks", "unknown column 'remarks' (expected: opd, submitted_at, U1,"),
        (HEADER.replace("opd,", ""), "missing required column 'opd'"),
        (HEADER + ",u1", "column 'U1' appears twice"),
        (HEADER + ",", "column 18 of the header has no name"),
    ],
)
def test_header_problems_name_the_column(header, message):
    """Unknown, missing, repeated and unnamed columns stop the whole file."""
    with pytest.raises(FileFormatError) as excinfo:
        read_csv(csv_bytes(header=header), CONTEXT)
    assert str(excinfo.value).startswith(message)


def test_header_may_omit_optional_columns_and_vary_in_case():
    """Only 'opd' is required; question codes match in any case; absent questions are noted."""
    result = read_csv(csv_bytes("rsud,3,4", header="OPD,u1,U2"), CONTEXT)
    assert result.errors == []
    assert result.rows[0].answers == (3, 4, None, None, None, None, None, None, None)
    assert result.missing_questions == CODES[2:]


def test_byte_order_mark_and_semicolons():
    """A BOM (Excel's 'CSV UTF-8') is ignored; Indonesian Excel's semicolon CSV is read too."""
    with_bom = read_csv(csv_bytes("bpbd,,3,3,3,3,3,3,3,3,3,,,,,,Baik", bom=True), CONTEXT)
    assert with_bom.errors == [] and with_bom.rows[0].opd_id == 1
    semicolons = read_csv(
        csv_bytes("bpbd;;3;3;3;3;3;3;3;3;3;P;;;;;Bagus, cepat", header=HEADER.replace(",", ";")),
        CONTEXT,
    )
    assert semicolons.errors == []
    assert semicolons.rows[0].comment == "Bagus, cepat"


def test_unreadable_files():
    """Non-UTF-8 and empty files are refused with a hint."""
    with pytest.raises(FileFormatError, match="not UTF-8"):
        read_csv(HEADER.encode() + b"\r\nbpbd,,3,,,,,,,,,,,,,,Caf\xe9\r\n", CONTEXT)
    with pytest.raises(FileFormatError, match="empty"):
        read_csv(b"\xef\xbb\xbf\r\n", CONTEXT)


def test_nul_character_is_refused():
    """PostgreSQL cannot store NUL in text, so a row holding one is bad, not a crash."""
    result = read_csv(csv_bytes("bpbd,,3,,,,,,,,,,,,,,a\x00b"), CONTEXT)
    assert result.errors == [RowError(2, (problem("row-nul", "comment"),))]
    assert str(result.errors[0]) == "row 2: comment contains a NUL character"


def test_submission_ids_are_deterministic():
    """The same wave, file and row give the same id; any change gives another."""
    digest = file_digest(b"x")
    first = import_submission_id(7, digest, 2)
    assert first == import_submission_id(7, digest, 2)
    assert len(first) <= 64 and first.startswith("import-")
    assert len({first, import_submission_id(8, digest, 2), import_submission_id(7, digest, 3)}) == 3


def test_export_writes_utc_times_and_empty_cells():
    """Times come out in UTC with +00:00; missing values are empty cells; text is untouched."""
    stream = io.StringIO()
    record = ExportRecord(
        opd="bpbd",
        submitted_at=datetime(2025, 6, 12, 2, 30, 5, 120000, tzinfo=UTC),
        answers=(4, None, 3, 3, 3, 3, 3, 3, 3),
        sex=None,
        age=30,
        education=None,
        occupation=None,
        service=None,
        comment='=HYPERLINK("x"), "kutip"',
    )
    assert write_csv(stream, CODES, [record]) == 1
    lines = stream.getvalue().split("\r\n")
    assert lines[0] == HEADER
    assert lines[1] == (
        "bpbd,2025-06-12T02:30:05.120000+00:00,4,,3,3,3,3,3,3,3,,30,,,,"
        '"=HYPERLINK(""x""), ""kutip"""'
    )


answer = st.one_of(st.none(), st.integers(1, 4))
free_text = st.text(
    alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
    max_size=60,
)
records = st.builds(
    ExportRecord,
    opd=st.sampled_from(["bpbd", "rsud"]),
    submitted_at=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2025, 6, 30), timezones=st.just(UTC)
    ),
    answers=st.tuples(*[answer] * 9).filter(lambda a: any(x is not None for x in a)),
    sex=st.sampled_from([None, "L", "P"]),
    age=st.one_of(st.none(), st.integers(AGE_MIN, AGE_MAX)),
    education=st.sampled_from([None, *EDUCATIONS]),
    occupation=st.sampled_from([None, *OCCUPATIONS]),
    service=free_text.map(str.strip).map(lambda s: s or None),
    comment=free_text.map(lambda s: s if s.strip() else None),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(records, min_size=1, max_size=8))
def test_export_then_read_gives_back_every_record(exported):
    """Whatever the text holds (quotes, commas, line breaks, formulas), a record round-trips."""
    stream = io.StringIO(newline="")
    write_csv(stream, CODES, exported)
    result = read_csv(stream.getvalue().encode("utf-8"), CONTEXT)
    assert result.errors == []
    slugs = {1: "bpbd", 2: "rsud"}
    back = [
        ExportRecord(
            slugs[row.opd_id],
            row.submitted_at,
            row.answers,
            row.sex,
            row.age,
            row.education,
            row.occupation,
            row.service,
            row.comment,
        )
        for row in result.rows
    ]
    assert back == exported

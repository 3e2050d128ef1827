"""Spreadsheets in and out: XLSX import, column mapping, XLSX and JSON export."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
from file_helpers import (
    CODES,
    CONTEXT,
    EXPORT_COLUMNS,
    EXPORT_HEADER,
    FIRST_NETWORK,
    add_export_rows,
    comparable,
    count,
    google_forms_rows,
    responses,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font

from survey.core import queries
from survey.core.models import Response
from survey.core.responsefile import (
    ColumnMapping,
    FileFormatError,
    ImportContext,
    canonical_columns,
    plan_columns,
    read_file,
)
from survey.core.spreadsheet import (
    cell_text,
    neutralise,
    open_xlsx,
    read_xlsx,
    unneutralise,
    xlsx_bytes,
)

COLUMNS = canonical_columns(CODES)


def write_xlsx(path: Path, rows: list[list]) -> Path:
    """Write rows (the first is the header) to the first sheet of a new workbook."""
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def read_sheet(path: Path, title: str) -> list[list]:
    """Return every row of one sheet of a workbook, padded to the header's width."""
    workbook = load_workbook(path, read_only=True)
    try:
        rows = [list(row) for row in workbook[title].iter_rows(values_only=True)]
    finally:
        workbook.close()
    return [row + [None] * (len(rows[0]) - len(row)) for row in rows]


# --- Without a database -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["=HYPERLINK(1)", "+62 812", "-", "@x", "\tx", "\rx", "'=x", "''-x", "'plain"]
)
def test_neutralise_is_undone_exactly(text):
    """Formula-like text gets a leading quote; reading takes exactly that quote off."""
    safe = neutralise(text)
    assert unneutralise(safe) == text
    if text.lstrip("'")[:1] in "=+-@\t\r":
        assert safe == "'" + text
    else:
        assert safe == text


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))))
def test_any_text_comes_back_from_a_written_workbook(texts):
    """Neutralising and OOXML escaping are undone exactly on reading (CR, _x000D_, =...)."""
    data = xlsx_bytes([("s", ["t"], [[text] for text in texts])])
    assert [row[0] for row in read_xlsx(data)[1:]] == texts


def test_xlsx_cells_read_as_csv_text():
    """Whole numbers lose their '.0', times are ISO 8601, empty cells are empty."""
    data = xlsx_bytes(
        [("s", ["a", "b", "c", "d"], [[4.0, datetime(2025, 6, 12, 9, 30), None, "=1"]])]
    )
    assert read_xlsx(data) == [["a", "b", "c", "d"], ["4", "2025-06-12T09:30:00", "", "=1"]]


def _openpyxl_rows(data: bytes) -> list[list[str]]:
    """Return the first sheet's rows as openpyxl's read-only mode gives them, as text."""
    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        return [[cell_text(value) for value in row] for row in rows]
    finally:
        workbook.close()


def _awkward_workbook(*, write_only: bool) -> bytes:
    """A workbook of every kind of cell, gaps, a styled empty cell and a second sheet."""
    workbook = Workbook(write_only=write_only)
    sheet = workbook.create_sheet("Respons") if write_only else workbook.active
    rows = [
        ["opd", "submitted_at", "U1", None, "komentar"],
        ["bpbd", datetime(2025, 6, 12, 9, 30), 3, 2.5, True],
        [],
        ["rsud", date(2025, 6, 13), "=1+2", "'=x", "baris_x000D_dua"],
        [None, time(9, 30), 1e20, -4, "0042"],
        ["a & b <c>", 12.0, 7, False, "tab\there"],
    ]
    for row in rows:
        sheet.append(row)
    if not write_only:
        sheet["G9"] = "far away"
        sheet["D11"].font = Font(bold=True)  # styled, empty
    workbook.create_sheet("Lain").append(["not read"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("write_only", [False, True], ids=["shared-strings", "inline-strings"])
def test_fast_xlsx_reader_reads_what_openpyxl_reads(write_only):
    """The lean sheet reader gives exactly openpyxl's read-only rows, cell for cell, for
    shared and inline strings, dates and times, numbers, booleans, gaps and styled cells."""
    data = _awkward_workbook(write_only=write_only)
    expected = _openpyxl_rows(data)
    assert read_xlsx(data) == expected
    assert expected[1][:5] == ["bpbd", "2025-06-12T09:30:00", "3", "2.5", "TRUE"]
    rows, estimated = open_xlsx(data)
    assert list(rows) == expected
    # A sheet that states its size says so; one that does not has its rows counted.
    assert estimated == len(expected)


def test_a_workbook_broken_inside_its_sheet_is_an_unreadable_file():
    """A sheet whose XML breaks off after the header: the rows read so far, then the
    unreadable-workbook error (not another exception)."""
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(xlsx_bytes([("s", ["opd", "U1"], [["bpbd", 1]] * 50)])))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as broken:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename.endswith("sheet1.xml"):
                content = content[: len(content) // 2]
            broken.writestr(item, content)
    with pytest.raises(FileFormatError) as caught:
        read_file(buffer.getvalue(), CONTEXT, kind="xlsx", ignore_extra=True)
    assert [item.code for item in caught.value.problems] == ["file-xlsx-unreadable"]


def test_a_sheet_declaring_entities_is_an_unreadable_file():
    """An uploaded sheet whose XML declares entities (the "billion laughs" expansion) is
    refused as an unreadable workbook, its entities never expanded."""
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(xlsx_bytes([("s", ["opd", "U1"], [["bpbd", 1]] * 5)])))
    laughs = (
        b'<!DOCTYPE worksheet [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as hostile:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename.endswith("sheet1.xml"):
                head, _, rest = content.partition(b"?>")
                content = head + b"?>" + laughs + rest.replace(b"bpbd", b"&c;", 1)
            hostile.writestr(item, content)
    with pytest.raises(FileFormatError) as caught:
        read_file(buffer.getvalue(), CONTEXT, kind="xlsx", ignore_extra=True)
    assert [item.code for item in caught.value.problems] == ["file-xlsx-unreadable"]


def test_header_suggestions_and_unknown_columns():
    """Question sentences and common names are suggested; what is left unknown is named."""
    context = ImportContext(
        question_codes=CONTEXT.question_codes,
        scale_points=4,
        opd_ids=CONTEXT.opd_ids,
        question_texts={"U1": ("Bagaimana pendapat Saudara tentang persyaratan?",)},
    )
    header = ["Cap waktu", "  UNIT layanan ", "bagaimana pendapat  saudara tentang persyaratan"]
    plan = plan_columns(header, context)
    assert plan.fields == ("submitted_at", "opd", "U1") and plan.mapped
    with pytest.raises(FileFormatError, match="unknown columns 'Email', 'Skor'"):
        plan_columns([*header, "Email", "Skor"], context)
    plan = plan_columns([*header, "Email"], context, ignore_extra=True)
    assert plan.fields[-1] is None and plan.sources[-1] == "ignored"
    mapping = ColumnMapping.from_json({"Email": None, "Skor": "U2"})
    plan = plan_columns([*header, "Email", "Skor"], context, mapping)
    assert plan.fields[-2:] == (None, "U2")
    with pytest.raises(FileFormatError, match="unknown field 'U99'"):
        plan_columns(header, context, ColumnMapping({"Skor": "U99"}))


# --- XLSX import ------------------------------------------------------------------------------


def test_xlsx_import_stores_exact_values(runner, session, open_wave, tmp_path):
    """Numbers, times and text cells of a workbook are stored as a CSV would be."""
    path = write_xlsx(
        tmp_path / "respon.xlsx",
        [
            [*COLUMNS, None, None],  # empty columns at the right are ignored
            ["bpbd", datetime(2025, 6, 12, 9, 30), 4, 3, 2, 1, 4, 3, 2, 1, 4, "P", 34, "S1",
             "PNS", "KTP", "Cepat"],
            [None] * 17,
            ["Rumah Sakit Umum Daerah", "2025-06-12T01:15:00+00:00", 1.0, None, 3, 4, 4, 4, 4,
             4, 4, "l", None, None, None, None, "'=HYPERLINK(\"x\")"],
        ],
    )  # fmt: skip
    result = runner.invoke(
        args=["import", str(path), "--wave", "uji-2026", "--allow-empty-elements"]
    )
    assert result.exit_code == 0, result.output
    assert "respon.xlsx: 2 imported, 0 already present" in result.output
    first, second = responses(session, "uji-2026")
    assert first.submitted_at.replace(tzinfo=UTC) == datetime(2025, 6, 12, 1, 15, tzinfo=UTC)
    assert second.submitted_at.replace(tzinfo=UTC) == datetime(2025, 6, 12, 2, 30, tzinfo=UTC)
    assert [second.answers()[i] for i in range(1, 10)] == [4, 3, 2, 1, 4, 3, 2, 1, 4]
    assert (second.sex, second.age, second.education, second.comment) == ("P", 34, "S1", "Cepat")
    assert first.answers()[2] is None and first.sex == "L"
    assert first.comment == '=HYPERLINK("x")'
    assert all(r.channel == "import" and r.status == "counted" for r in (first, second))

    again = runner.invoke(
        args=["import", str(path), "--wave", "uji-2026", "--allow-empty-elements"]
    )
    assert again.exit_code == 0, again.output
    assert "0 imported, 2 already present" in again.output
    assert count(session, Response) == 2


def test_xlsx_bad_rows_are_reported_with_spreadsheet_row_numbers(
    runner, session, open_wave, tmp_path
):
    """Rows are numbered as the spreadsheet shows them, blank rows included; nothing written."""
    good = ["bpbd", None, *[3] * 9]
    path = write_xlsx(
        tmp_path / "salah.xlsx",
        [
            COLUMNS[:11],
            good,
            ["dinkes", None, *[3] * 9],
            [],
            [],
            ["bpbd", None, 5, *[3] * 8],
            good,
            ["bpbd", "kemarin", *[3] * 9],
        ],
    )
    result = runner.invoke(args=["import", str(path), "--wave", "uji-2026"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any(line.startswith("row 3: unknown OPD 'dinkes'") for line in lines)
    assert any(line.startswith("row 6: U1: '5' is not an answer") for line in lines)
    assert any(line.startswith("row 8: submitted_at 'kemarin'") for line in lines)
    assert "Error: salah.xlsx: 3 of 5 rows have errors; nothing was imported" in lines
    assert count(session, Response) == 0


# --- Column mapping ---------------------------------------------------------------------------


def test_google_forms_export_is_mapped_automatically(runner, session, open_wave, tmp_path):
    """Question-text headers and label answers import without any mapping given."""
    path = write_xlsx(tmp_path / "Formulir (Jawaban).xlsx", google_forms_rows())
    result = runner.invoke(args=["import", str(path), "--wave", "uji-2026"])
    assert result.exit_code == 0, result.output
    assert "'Jenis Kelamin' -> sex (suggested)" in result.stderr
    assert "2 imported" in result.output
    second, first = sorted(responses(session, "uji-2026"), key=lambda r: r.sex)
    assert first.submitted_at.replace(tzinfo=UTC) == datetime(2025, 6, 13, 7, 0, tzinfo=UTC)
    assert [first.answers()[i] for i in range(1, 10)] == [1] + [2] * 8
    assert first.sex == "P" and first.age is None
    assert [second.answers()[i] for i in range(1, 10)] == [4] * 9
    assert (second.sex, second.age, second.education, second.occupation) == (
        "L",
        40,
        "SMA",
        "Swasta",
    )
    assert (second.service, second.comment) == ("Uji KIR", "Mantap")
    assert queries.get_opd(session, slug="dishub").id == second.opd_id


def test_google_forms_csv_with_unknown_label(runner, session, open_wave, tmp_path):
    """A label no question has is a row error; extra columns need --ignore-extra."""
    rows = google_forms_rows()
    rows[1][3] = "Lumayan"
    header = [*rows[0], "Alamat email"]
    lines = [",".join(f'"{c}"' for c in header)]
    for row in rows[1:]:
        cells = [
            "" if c is None else (c.isoformat() if isinstance(c, datetime) else c) for c in row
        ]
        lines.append(",".join(f'"{c}"' for c in [*cells, "a@b.id"]))
    path = tmp_path / "gform.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(args=["import", str(path), "--wave", "uji-2026"])
    assert result.exit_code == 1
    assert "unknown column 'Alamat email'" in result.output
    result = runner.invoke(args=["import", str(path), "--wave", "uji-2026", "--ignore-extra"])
    assert result.exit_code == 1
    assert "row 2: U2: 'Lumayan' is not an answer" in result.output
    assert count(session, Response) == 0


def test_explicit_mapping_file_and_column_options(runner, session, open_wave, tmp_path):
    """A paper-entry sheet read through --map with value maps, --column winning over it."""
    header = ["Instansi", *[f"P{i}" for i in range(1, 10)], "JK", "Catatan", "Petugas", "Tgl"]
    path = write_xlsx(
        tmp_path / "entri.xlsx",
        [
            header,
            ["rsud", *[2] * 9, 1, "poli UMUM", "Budi", "12/06/2025"],
            ["dishub", *[4] * 9, 2, "", "Sari", "2025-06-13T08:00:00+07:00"],
        ],
    )
    mapping = {
        "columns": {"Instansi": "opd", **{f"P{i}": f"U{i}" for i in range(1, 10)}, "JK": "sex",
                    "Catatan": "comment", "Petugas": None, "Tgl": "submitted_at"},
        "values": {"sex": {"1": "L", "2": "P"}},
        "time_format": "%d/%m/%Y",
    }  # fmt: skip
    map_path = tmp_path / "peta.json"
    map_path.write_text(json.dumps(mapping), encoding="utf-8")
    args = ["import", str(path), "--wave", "uji-2026", "--map", str(map_path)]
    result = runner.invoke(args=[*args, "--column", "Catatan=service"])
    assert result.exit_code == 0, result.output
    rows = sorted(responses(session, "uji-2026"), key=lambda r: r.sex)
    # A listed service in other case is stored as the OPD lists it.
    assert [(r.sex, r.service, r.comment) for r in rows] == [
        ("L", "Poli umum", None),
        ("P", None, None),
    ]
    assert rows[0].answers()[9] == 2
    times = [r.submitted_at.replace(tzinfo=UTC) for r in rows]
    assert times == [datetime(2025, 6, 11, 17, tzinfo=UTC), datetime(2025, 6, 13, 1, tzinfo=UTC)]

    bad = tmp_path / "rusak.json"
    bad.write_text('{"columns": {"JK": 3}}', encoding="utf-8")
    result = runner.invoke(args=["import", str(path), "--wave", "uji-2026", "--map", str(bad)])
    assert result.exit_code == 1 and "must map headers to field names" in result.output
    result = runner.invoke(args=["import", str(path), "--wave", "uji-2026", "--column", "JK"])
    assert result.exit_code == 2 and "use HEADER=FIELD" in result.output


def test_dry_run_shows_mapping_and_writes_nothing(runner, session, open_wave, tmp_path):
    """--dry-run prints the mapping and the verdict and stores nothing, good file or bad."""
    path = write_xlsx(tmp_path / "gf.xlsx", google_forms_rows())
    result = runner.invoke(args=["import", str(path), "--wave", "uji-2026", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "Column mapping of gf.xlsx:" in result.stdout
    assert "'Timestamp' -> submitted_at (suggested)" in result.stdout
    assert "'Unit Layanan' -> opd (suggested)" in result.stdout
    assert "dry run, nothing written: 2 rows would be imported" in result.stdout
    assert count(session, Response) == 0

    rows = google_forms_rows()
    rows[2][1] = "dinas-entah"
    write_xlsx(path, rows)
    result = runner.invoke(args=["import", str(path), "--wave", "uji-2026", "--dry-run"])
    assert result.exit_code == 1
    assert "row 3: unknown OPD 'dinas-entah'" in result.output
    assert count(session, Response) == 0


# --- Export -----------------------------------------------------------------------------------


def test_xlsx_export_contents_and_formula_neutralisation(runner, session, open_wave, tmp_path):
    """Sheets 'responses' (canonical columns) and 'scores'; formula-like text is quoted."""
    add_export_rows(session, open_wave)
    session.add(
        Response(
            wave_id=open_wave.id,
            opd_id=queries.get_opd(session, slug="dishub").id,
            submission_id="web-x",
            submitted_at=datetime(2025, 6, 13, tzinfo=UTC),
            a1=4,
            comment='=HYPERLINK("http://evil.example","klik")',
        )
    )
    session.commit()
    target = tmp_path / "ekspor.xlsx"
    result = runner.invoke(
        args=["export", "--wave", "uji-2026", "--format", "xlsx", "-o", str(target)]
    )
    assert result.exit_code == 0, result.output
    assert "Exported 5 counted responses" in result.stderr
    assert not list(tmp_path.glob(".*partial"))
    workbook = load_workbook(target)
    assert workbook.sheetnames == ["responses", "scores"]
    sheet = workbook["responses"]
    assert [c.value for c in sheet[1]] == EXPORT_COLUMNS
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    rows = read_sheet(target, "responses")
    assert rows[1] == ["bpbd", "2025-06-12T01:15:00+00:00", 4, 4, 3, 4, 3, 4, 4, 3, 3, "P",
                       34, "S1", "PNS", "KTP", None,
                       "qr", None, 1, 52, 0, 0, 0, 0, FIRST_NETWORK]  # fmt: skip
    assert rows[2][-9:] == ["qr", None, 0, None, 0, 0, 0, 0, None]  # an old row's defaults
    comment = EXPORT_COLUMNS.index("comment")
    assert rows[2][comment].startswith('Antrean "panjang"')
    assert rows[-1][comment] == '\'=HYPERLINK("http://evil.example","klik")'
    assert "salinan" not in str(rows)
    scores = read_sheet(target, "scores")
    assert scores[0][:3] == ["opd", "name", "n"]
    assert {row[0] for row in scores[1:]} == {"bpbd", "rsud", "dishub"}
    assert "U1_nrr" in scores[0]


def test_xlsx_export_then_import_round_trips(runner, session, open_wave, tmp_path):
    """Every counted response comes back exactly in a new wave, quoted text included."""
    add_export_rows(session, open_wave)
    session.add(
        Response(
            wave_id=open_wave.id,
            opd_id=queries.get_opd(session, slug="rsud").id,
            submission_id="web-y",
            submitted_at=datetime(2025, 6, 14, 3, 4, 5, 678901, tzinfo=UTC),
            a9=2,
            service="Poli umum",
            comment="'=kutip sendiri\r\n+ baris dua",
        )
    )
    session.commit()
    target = tmp_path / "ekspor.xlsx"
    result = runner.invoke(
        args=["export", "--wave", "uji-2026", "--format", "xlsx", "-o", str(target)]
    )
    assert result.exit_code == 0, result.output
    create = ["wave", "create", "--slug", "salinan", "--title", "Salinan", "--opds", "all"]
    assert runner.invoke(args=create).exit_code == 0
    result = runner.invoke(
        args=["import", str(target), "--wave", "salinan", "--allow-empty-elements"]
    )
    assert result.exit_code == 0, result.output
    assert "5 imported, 0 already present" in result.output
    original = comparable(session, "uji-2026")
    assert len(original) == 5
    assert comparable(session, "salinan") == original


def test_json_export(runner, session, open_wave, tmp_path):
    """One object: the wave, the counted responses as stored, the scores; no ids or hashes."""
    add_export_rows(session, open_wave)
    result = runner.invoke(args=["export", "--wave", "uji-2026", "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert set(document) == {"wave", "responses", "scores"}
    assert document["wave"]["slug"] == "uji-2026"
    assert document["wave"]["title"] == "Uji Coba 2026"
    assert document["wave"]["question_codes"] == CODES
    assert {"period_start", "period_end"} <= set(document["wave"])
    assert len(document["responses"]) == 4
    first = document["responses"][0]
    assert list(first) == EXPORT_COLUMNS
    assert (first["verified"], first["seconds"], first["network"]) == (True, 52, FIRST_NETWORK)
    assert (first["channel"], first["burst"], first["kiosk_device"]) == ("qr", False, None)
    assert first["submitted_at"] == "2025-06-12T01:15:00+00:00" and first["U1"] == 4
    assert document["responses"][1]["comment"].endswith("=SUM(A1:A9)")
    assert {row["opd"] for row in document["scores"]} == {"bpbd", "rsud", "dishub"}
    assert "web-" not in result.stdout and "submission" not in result.stdout
    assert "hash" not in result.stdout

    target = tmp_path / "ekspor.json"
    result = runner.invoke(
        args=["export", "--wave", "uji-2026", "--format", "json", "-o", str(target)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(target.read_text(encoding="utf-8")) == document


def test_safe_csv_quotes_formulas_and_default_stays_lossless(runner, session, open_wave):
    """--safe quotes formula-like text; the default CSV keeps it as stored."""
    add_export_rows(session, open_wave)
    plain = runner.invoke(args=["export", "--wave", "uji-2026"])
    safe = runner.invoke(args=["export", "--wave", "uji-2026", "--safe"])
    assert plain.exit_code == safe.exit_code == 0
    assert plain.stdout.splitlines()[0] == EXPORT_HEADER
    assert "; =SUM(A1:A9)" in plain.stdout
    session.add(
        Response(
            wave_id=open_wave.id,
            opd_id=queries.get_opd(session, slug="bpbd").id,
            submission_id="web-z",
            a1=1,
            comment="@SUM(1)",
        )
    )
    session.commit()
    safe = runner.invoke(args=["export", "--wave", "uji-2026", "--safe"])
    assert ",'@SUM(1)" in safe.stdout
    plain = runner.invoke(args=["export", "--wave", "uji-2026"])
    assert ",@SUM(1)" in plain.stdout

"""The command-line data tools on a real database: OPDs, waves, import and export."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from file_helpers import (
    EXPORT_HEADER,
    FIRST_NETWORK,
    HEADER,
    add_export_rows,
    comparable,
    count,
    responses,
)
from sqlmodel import col, select
from survey_helpers import add_opd, add_responses, set_wave_status

from survey.core import opds, queries
from survey.core.models import Opd, Response, Wave, WaveOpd


def write_csv(path: Path, *lines: str, header: str = HEADER, bom: bool = False) -> Path:
    """Write a canonical CSV file (header then lines) and return its path."""
    text = "\r\n".join([header, *lines]) + "\r\n"
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))
    return path


# --- OPDs -------------------------------------------------------------------------------------


def test_opd_add_and_list(runner, session):
    """Added OPDs are listed one per line: slug, name, short name, active."""
    result = runner.invoke(
        args=["opd", "add", "dishub", "--name", "Dinas Perhubungan", "--short-name", "Dishub"]
    )
    assert result.exit_code == 0, result.output
    assert "Added OPD dishub" in result.output
    result = runner.invoke(
        args=["opd", "add", "bpbd", "--name", "Badan Penanggulangan Bencana Daerah"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        args=["opd", "add", "rsud", "--name", "Rumah Sakit Umum Daerah", "--population", "900"]
    )
    assert result.exit_code == 0, result.output
    assert queries.get_opd(session, slug="rsud").service_population == 900
    result = runner.invoke(args=["opd", "list"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "bpbd\tBadan Penanggulangan Bencana Daerah\t\tactive\t",
        "dishub\tDinas Perhubungan\tDishub\tactive\t",
        "rsud\tRumah Sakit Umum Daerah\t\tactive\t",
    ]


def test_opd_service_hours_from_the_command_line(runner, session):
    """``--hours`` on add and edit, checked like the form's field; '' clears; a bad value is one
    line and changes nothing; options left out keep their values."""
    args = ["opd", "add", "dishub", "--name", "Dinas Perhubungan", "--hours", "08:00-16:00"]
    assert runner.invoke(args=args).exit_code == 0
    assert queries.get_opd(session, slug="dishub").service_hours == "08:00-16:00"
    result = runner.invoke(args=["opd", "edit", "dishub", "--hours", "22:00-06:00"])
    assert result.exit_code == 0, result.output
    assert result.output == "OPD dishub: service_hours '08:00-16:00' -> '22:00-06:00'\n"
    session.expire_all()
    opd = queries.get_opd(session, slug="dishub")
    assert (opd.name, opd.service_hours) == ("Dinas Perhubungan", "22:00-06:00")
    result = runner.invoke(args=["opd", "edit", "dishub", "--hours", "pagi"])
    assert result.exit_code == 1
    assert "service_hours 'pagi' are not opening and closing times HH:MM-HH:MM" in result.output
    session.expire_all()
    assert queries.get_opd(session, slug="dishub").service_hours == "22:00-06:00"
    assert runner.invoke(args=["opd", "list"]).output == (
        "dishub\tDinas Perhubungan\t\tactive\t22:00-06:00\n"
    )
    assert runner.invoke(args=["opd", "edit", "dishub", "--hours", ""]).exit_code == 0
    session.expire_all()
    assert queries.get_opd(session, slug="dishub").service_hours is None
    result = runner.invoke(args=["opd", "edit", "tidak-ada", "--hours", ""])
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_opd_add_refuses_duplicates_and_bad_slugs(runner, session):
    """A taken slug or name, or a slug unfit for URLs, is a one-line error; nothing is written."""
    assert (
        runner.invoke(args=["opd", "add", "dishub", "--name", "Dinas Perhubungan"]).exit_code == 0
    )
    result = runner.invoke(args=["opd", "add", "dishub", "--name", "Dinas Lain"])
    assert result.exit_code == 1
    assert "Error: OPD slug 'dishub' already exists" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(args=["opd", "add", "dishub-2", "--name", "Dinas Perhubungan"])
    assert result.exit_code == 1
    assert "name 'Dinas Perhubungan' is already used by OPD 'dishub'" in result.output
    result = runner.invoke(args=["opd", "add", "Dinas Sosial", "--name", "Dinas Sosial"])
    assert result.exit_code == 1
    assert "'Dinas Sosial' is not a slug" in result.output
    result = runner.invoke(args=["opd", "add", "dinsos", "--name", "x" * 201])
    assert result.exit_code == 1
    assert result.output == "Error: name has 201 characters (at most 200)\n"
    assert count(session, Opd) == 1


# --- Waves ------------------------------------------------------------------------------------


@pytest.fixture
def three_opds(session):
    """The OPDs bpbd, rsud and dishub."""
    for slug, name in (
        ("bpbd", "Badan Penanggulangan Bencana Daerah"),
        ("rsud", "Rumah Sakit Umum Daerah"),
        ("dishub", "Dinas Perhubungan"),
    ):
        add_opd(session, slug=slug, name=name)


def test_wave_create_over_all_and_over_a_list(runner, session, three_opds):
    """--opds all covers every active OPD; a list covers those; options are stored."""
    result = runner.invoke(args=["wave", "create", "--slug", "semua", "--title", "Semua OPD"])
    assert result.exit_code == 0, result.output
    assert "Created wave semua (draft) over 3 OPDs" in result.output
    result = runner.invoke(
        args=[
            "wave",
            "create",
            "--slug",
            "sebagian",
            "--title",
            "Dua OPD",
            "--opds",
            "rsud, bpbd,rsud",
            "--scheme",
            "kepmenpan-25-2004",
            "--target",
            "40",
            "--start",
            "2025-06-12",
            "--end",
            "2025-06-16",
        ]
    )
    assert result.exit_code == 0, result.output
    wave = queries.get_wave(session, slug="sebagian")
    assert [opd.slug for opd, _ in queries.wave_opds(session, wave=wave)] == ["bpbd", "rsud"]
    assert {link.target_n for _, link in queries.wave_opds(session, wave=wave)} == {40}
    assert (wave.period_start, wave.period_end) == (date(2025, 6, 12), date(2025, 6, 16))
    assert wave.scheme_id == queries.get_scheme(session, slug="kepmenpan-25-2004").id
    assert wave.status == "draft"


@pytest.mark.parametrize(
    ("extra", "message", "exit_code"),
    [
        (["--opds", "bpbd,dinkes"], "OPD 'dinkes' is unknown or inactive", 1),
        (["--scheme", "knpi-2025"], "unknown category scheme", 1),
        (
            ["--start", "2025-06-16", "--end", "2025-06-12"],
            "the period ends (2025-06-12) before it starts (2025-06-16)",
            1,
        ),
        (["--title", " "], "the wave needs a title", 1),
        (["--evaluator", "x" * 201], "the evaluator has 201 characters (at most 200)", 1),
        (["--start", "16/06/2025"], "Invalid value for '--start'", 2),
        (["--opds", " , "], "--opds names no OPD", 2),
    ],
)
def test_wave_create_errors_write_nothing(runner, session, three_opds, extra, message, exit_code):
    """Unknown OPDs or schemes and bad dates stop with a message, before anything is written."""
    result = runner.invoke(args=["wave", "create", "--slug", "x", "--title", "X", *extra])
    assert "Traceback" not in result.output
    assert result.exit_code == exit_code
    assert message in result.output
    assert count(session, Wave) == 0
    assert count(session, WaveOpd) == 0


def test_wave_create_refuses_a_taken_slug(runner, session, open_wave):
    """A second wave with the same slug is refused."""
    result = runner.invoke(args=["wave", "create", "--slug", "uji-2026", "--title", "Lagi"])
    assert result.exit_code == 1
    assert "wave slug 'uji-2026' already exists" in result.output
    assert count(session, Wave) == 1


def test_wave_life_cycle_and_list(runner, session, three_opds):
    """draft -> open -> closed -> open again; bad moves are refused; the list shows counts."""
    assert runner.invoke(args=["wave", "create", "--slug", "w1", "--title", "Gel 1"]).exit_code == 0
    result = runner.invoke(args=["wave", "close", "w1"])
    assert result.exit_code == 1
    assert result.output == "Error: a draft wave cannot be moved that way (close)\n"
    result = runner.invoke(args=["wave", "open", "w1"])
    assert result.exit_code == 0 and "Wave w1 is now open" in result.output
    result = runner.invoke(args=["wave", "open", "w1"])
    assert result.exit_code == 0 and "already open" in result.output
    assert runner.invoke(args=["wave", "close", "w1"]).exit_code == 0
    assert queries.get_wave(session, slug="w1").status == "closed"
    assert runner.invoke(args=["wave", "open", "w1"]).exit_code == 0
    result = runner.invoke(args=["wave", "open", "nope"])
    assert result.exit_code == 1 and "unknown wave 'nope'" in result.output

    wave = queries.get_wave(session, slug="w1")
    opd = queries.get_opd(session, slug="rsud")
    for i, status in enumerate(["counted", "counted", "flagged"]):
        session.add(
            Response(
                wave_id=wave.id,
                opd_id=opd.id,
                submission_id=f"s{i}",
                submitted_at=datetime(2025, 6, 12, tzinfo=UTC),
                status=status,
                a1=3,
            )
        )
    session.commit()
    assert runner.invoke(args=["wave", "create", "--slug", "w2", "--title", "Gel 2"]).exit_code == 0
    result = runner.invoke(args=["wave", "list"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["w2\tdraft\tGel 2\t3\t0", "w1\topen\tGel 1\t3\t2"]


def test_published_wave_cannot_reopen(runner, session, open_wave):
    """A published wave stays published."""
    add_responses(session, open_wave, "bpbd", [[4] * 9, [3] * 9])
    set_wave_status(session, slug="uji-2026", status="closed")
    set_wave_status(session, slug="uji-2026", status="published")
    result = runner.invoke(args=["wave", "open", "uji-2026"])
    assert result.exit_code == 1
    assert "a published wave cannot be moved that way (open)" in result.output


def test_wave_publish_is_audited_with_every_status_change(runner, session, three_opds):
    """ikm wave create/open/close/publish each write their audit entry; publish sets the time."""
    from survey.core.models import AuditLog

    create = ["wave", "create", "--slug", "w1", "--title", "Gel 1", "--min-rank-n", "2"]
    assert runner.invoke(args=create).exit_code == 0
    assert runner.invoke(args=["wave", "publish", "w1"]).exit_code == 1  # a draft cannot
    for command in ("open", "close"):
        result = runner.invoke(args=["wave", command, "w1"])
        assert result.exit_code == 0, result.output
    # Nothing counted: the checklist blocks publishing (exit status 2, the reason printed).
    result = runner.invoke(args=["wave", "publish", "w1", "--acknowledge", "all"])
    assert result.exit_code == 2
    assert "[BLOCKING] nothing-counted: no OPD has a counted response" in result.output
    wave = queries.get_wave(session, slug="w1")
    for slug in ("bpbd", "rsud", "dishub"):
        add_responses(session, wave, slug, [[4] * 9, [3] * 9])
    add_responses(session, wave, "rsud", [[1] * 9], status="flagged", reason="manual")
    # As on the wave's page, each item must be acknowledged: here the flagged response.
    result = runner.invoke(args=["wave", "publish", "w1"])
    assert result.exit_code == 2
    assert "[to acknowledge] flagged: flagged responses, not counted: 1" in result.output
    assert "    - Rumah Sakit Umum Daerah: 1 flagged response(s)\n" in result.output
    assert "not acknowledged: flagged" in result.output
    assert queries.get_wave(session, slug="w1").status == "closed"
    # --confirm-reviewed is kept as the name of --acknowledge flagged.
    result = runner.invoke(args=["wave", "publish", "w1", "--confirm-reviewed"])
    assert result.exit_code == 0, result.output
    assert "Wave w1 is now published" in result.output
    session.expire_all()
    wave = queries.get_wave(session, slug="w1")
    assert wave.status == "published" and wave.published_at is not None
    entries = session.exec(
        select(AuditLog).where(col(AuditLog.action).startswith("wave.")).order_by(AuditLog.id)
    ).all()
    assert [(e.action, e.actor, e.detail.get("to")) for e in entries] == [
        ("wave.create", None, None),
        ("wave.open", None, "open"),
        ("wave.close", None, "closed"),
        ("wave.publish", None, "published"),
    ]
    assert entries[-1].detail["published_at"] == wave.published_at.isoformat()
    assert entries[-1].detail["acknowledged"] == ["flagged"]
    assert [item["code"] for item in entries[-1].detail["checklist"]] == ["flagged"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["wave", "create", "--slug", "baru", "--title", "Baru"],
            "the slug 'baru' is used by the app's own pages",
        ),
        (
            ["opd", "add", "impor", "--name", "Dinas Impor"],
            "the slug 'impor' is reserved for a page; choose another",
        ),
    ],
)
def test_slugs_of_the_apps_own_pages_are_refused(runner, session, three_opds, args, message):
    """A wave called 'baru' or an OPD called 'impor' would hide behind the app's own pages."""
    before = (len(session.exec(select(Wave)).all()), len(session.exec(select(Opd)).all()))
    result = runner.invoke(args=args)
    assert result.exit_code == 1
    assert message in result.output
    session.expire_all()
    assert (len(session.exec(select(Wave)).all()), len(session.exec(select(Opd)).all())) == before


# --- Import -----------------------------------------------------------------------------------


def test_import_stores_exact_values(runner, session, open_wave, tmp_path):
    """Rows land as counted 'import' responses with UTC times, skips as NULL, fields as given."""
    bpbd = queries.get_opd(session, slug="bpbd")
    opds.add_service(session, opd=bpbd, name="Informasi bencana", actor=None)
    path = write_csv(
        tmp_path / "jawaban.csv",
        "bpbd,2025-06-12T09:30:00+07:00,4,3,,2,1,4,3,3,4,P,41,S1,PNS,Informasi bencana,"
        '"Petugas ramah, cepat."',
        "Rumah Sakit Umum Daerah,2025-06-13 14:05:30,1,2,3,4,1,2,3,4,1,L,,SMA,Swasta,,",
    )
    result = runner.invoke(
        args=["import", str(path), "--wave", "uji-2026", "--allow-empty-elements"]
    )
    assert result.exit_code == 0, result.output
    assert "jawaban.csv: 2 imported, 0 already present (wave uji-2026)" in result.output
    first, second = responses(session, "uji-2026")
    assert first.opd_id == queries.get_opd(session, slug="bpbd").id
    assert first.submitted_at == datetime(2025, 6, 12, 2, 30, tzinfo=UTC)
    assert [first.answers()[i] for i in range(1, 10)] == [4, 3, None, 2, 1, 4, 3, 3, 4]
    assert first.a10 is None
    assert (first.sex, first.age, first.education, first.occupation) == ("P", 41, "S1", "PNS")
    assert (first.service, first.comment) == ("Informasi bencana", "Petugas ramah, cepat.")
    assert (first.channel, first.status, first.flag_reason) == ("import", "counted", None)
    assert first.submission_id.startswith("import-")
    # No offset: Asia/Jakarta local time.
    assert second.opd_id == queries.get_opd(session, slug="rsud").id
    assert second.submitted_at == datetime(2025, 6, 13, 7, 5, 30, tzinfo=UTC)
    assert (second.age, second.service, second.comment) == (None, None, None)


def test_import_is_all_or_nothing(runner, session, open_wave, tmp_path):
    """Any bad row: every bad row is listed with its number and reason, and nothing is written."""
    add_opd(session, slug="dinkes", name="Dinas Kesehatan")
    path = write_csv(
        tmp_path / "campur.csv",
        "bpbd,,3,3,3,3,3,3,3,3,3,,,,,,",  # row 2: good
        "bpbd,,5,3,3,3,3,3,3,3,3,,,,,,",  # row 3
        "bpbd,,3,0,3,3,3,3,3,3,3,,,,,,",  # row 4
        "bpbd,,3,3,x,3,3,3,3,3,3,,,,,,",  # row 5
        "disdik,,3,3,3,3,3,3,3,3,3,,,,,,",  # row 6
        "dinkes,,3,3,3,3,3,3,3,3,3,,,,,,",  # row 7
        "rsud,,,,,,,,,,,P,30,,,,",  # row 8
        "rsud,,3,3,3,3,3,3,3,3,3,,,,,," + "a" * 1201,  # row 9
        "rsud,kemarin,3,3,3,3,3,3,3,3,3,,,,,,",  # row 10
        "rsud,,3,3,3,3,3,3,3,3,3,W,,,,,",  # row 11
        "dishub,,4,4,4,4,4,4,4,4,4,,,,,,",  # row 12: good
    )
    result = runner.invoke(args=["import", str(path), "--wave", "uji-2026"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "row 3: U1: '5' is not an answer (use 1 to 4 or leave empty)" in lines
    assert "row 4: U2: '0' is not an answer (use 1 to 4 or leave empty)" in lines
    assert "row 5: U3: 'x' is not an answer (use 1 to 4 or leave empty)" in lines
    assert "row 6: unknown OPD 'disdik' (use its slug or exact name)" in lines
    assert "row 7: OPD 'dinkes' is not covered by this wave" in lines
    assert "row 8: no answer to any question" in lines
    assert "row 9: comment has 1201 characters (at most 1200)" in lines
    assert any(
        line.startswith("row 10: submitted_at 'kemarin' is not an ISO 8601") for line in lines
    )
    assert "row 11: sex 'W' is not one of L, P" in lines
    assert not any(line.startswith(("row 2:", "row 12:")) for line in lines)
    assert "Error: campur.csv: 9 of 11 rows have errors; nothing was imported" in lines
    assert "Traceback" not in result.output
    assert count(session, Response) == 0


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (HEADER + ",catatan", "unknown column 'catatan'"),
        (HEADER.replace("opd,", ""), "missing required column 'opd'"),
    ],
)
def test_import_column_errors(runner, session, open_wave, tmp_path, header, message):
    """Unknown and missing required columns are named; nothing is written."""
    cells = header.count(",") + 1
    path = write_csv(
        tmp_path / "kolom.csv", ",".join(["bpbd"] + ["3"] * (cells - 1)), header=header
    )
    result = runner.invoke(args=["import", str(path), "--wave", "uji-2026"])
    assert result.exit_code == 1
    assert f"Error: kolom.csv: {message}" in result.output
    assert count(session, Response) == 0


def test_import_with_byte_order_mark(runner, session, open_wave, tmp_path):
    """Excel's 'CSV UTF-8' starts with a BOM; the first column is still 'opd'."""
    path = write_csv(
        tmp_path / "excel.csv", "rsud,,3,3,3,3,3,3,3,3,3,P,,,,,Baik sekali 👍", bom=True
    )
    result = runner.invoke(args=["import", str(path), "--wave", "uji-2026"])
    assert result.exit_code == 0, result.output
    (response,) = responses(session, "uji-2026")
    assert response.comment == "Baik sekali 👍"


def test_import_same_file_twice_adds_nothing(runner, session, open_wave, tmp_path):
    """The second import finds every row already present; a changed file imports again."""
    path = write_csv(
        tmp_path / "dua.csv", "bpbd,,3,3,3,3,3,3,3,3,3,,,,,,", "bpbd,,3,3,3,3,3,3,3,3,3,,,,,,"
    )
    first = runner.invoke(
        args=["import", str(path), "--wave", "uji-2026", "--allow-empty-elements"]
    )
    assert "2 imported, 0 already present" in first.output
    second = runner.invoke(
        args=["import", str(path), "--wave", "uji-2026", "--allow-empty-elements"]
    )
    assert second.exit_code == 0, second.output
    assert "0 imported, 2 already present" in second.output
    assert count(session, Response) == 2
    write_csv(
        path,
        "bpbd,,3,3,3,3,3,3,3,3,3,,,,,,",
        "bpbd,,3,3,3,3,3,3,3,3,3,,,,,,",
        "rsud,,2,,,,,,,,,,,,,,",
    )
    third = runner.invoke(
        args=["import", str(path), "--wave", "uji-2026", "--allow-empty-elements"]
    )
    assert "3 imported, 0 already present" in third.output
    assert count(session, Response) == 5


def test_import_refuses_published_and_unknown_waves(runner, session, open_wave, tmp_path):
    """A published wave's data no longer change; an unknown wave is named."""
    path = write_csv(tmp_path / "a.csv", "bpbd,,3,3,3,3,3,3,3,3,3,,,,,,")
    result = runner.invoke(args=["import", str(path), "--wave", "tidak-ada"])
    assert result.exit_code == 1 and "unknown wave 'tidak-ada'" in result.output
    set_wave_status(session, slug="uji-2026", status="closed")
    result = runner.invoke(args=["import", str(path), "--wave", "uji-2026"])
    assert result.exit_code == 0, result.output  # paper forms often arrive after closing
    set_wave_status(session, slug="uji-2026", status="published")
    path = write_csv(tmp_path / "b.csv", "rsud,,3,3,3,3,3,3,3,3,3,,,,,,")
    result = runner.invoke(args=["import", str(path), "--wave", "uji-2026"])
    assert result.exit_code == 1
    assert "wave 'uji-2026' is published" in result.output
    assert count(session, Response) == 1


def test_import_of_a_file_that_is_not_csv_text(runner, session, open_wave, tmp_path):
    """A binary file named .csv, or a broken .xlsx, is refused with a hint, not a traceback."""
    path = tmp_path / "data.csv"
    path.write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xc4\xff")
    result = runner.invoke(args=["import", str(path), "--wave", "uji-2026"])
    assert result.exit_code == 1
    assert "not UTF-8 text" in result.output and "Traceback" not in result.output
    broken = tmp_path / "data.xlsx"
    broken.write_bytes(path.read_bytes())
    result = runner.invoke(args=["import", str(broken), "--wave", "uji-2026"])
    assert result.exit_code == 1
    assert "not a readable XLSX workbook" in result.output and "Traceback" not in result.output
    assert count(session, Response) == 0


# --- Export -----------------------------------------------------------------------------------


def test_export_then_import_round_trips(runner, session, open_wave, tmp_path):
    """Every counted response comes back unchanged in a second wave; flagged ones stay out."""
    add_export_rows(session, open_wave)
    result = runner.invoke(args=["export", "--wave", "uji-2026"])
    assert result.exit_code == 0, result.output
    csv_text = result.stdout_bytes.decode("utf-8")  # .stdout would turn CRLF into LF
    lines = csv_text.split("\r\n")
    assert lines[0] == EXPORT_HEADER
    assert lines[1] == (
        f"bpbd,2025-06-12T01:15:00+00:00,4,4,3,4,3,4,4,3,3,P,34,S1,PNS,KTP,,qr,,1,52,0,0,0,0,"
        f"{FIRST_NETWORK}"
    )
    assert "salinan" not in csv_text and "4,4,4,4,4,4,4,4,4,," not in csv_text
    assert "Exported 4 counted responses of wave uji-2026 (2 flagged left out)" in result.stderr

    path = tmp_path / "ekspor.csv"
    path.write_text(csv_text, encoding="utf-8", newline="")
    create = ["wave", "create", "--slug", "salinan", "--title", "Salinan", "--opds", "all"]
    assert runner.invoke(args=create).exit_code == 0
    result = runner.invoke(
        args=["import", str(path), "--wave", "salinan", "--allow-empty-elements"]
    )
    assert result.exit_code == 0, result.output
    assert "4 imported, 0 already present" in result.output
    original = comparable(session, "uji-2026")
    assert len(original) == 4
    assert comparable(session, "salinan") == original
    # The evidence columns are read past: an imported answer carries no signals of its own.
    copies = responses(session, "salinan")
    assert {(r.channel, r.verified, r.seconds, r.network) for r in copies} == {
        ("import", False, None, None)
    }


def test_export_to_a_file(runner, session, open_wave, tmp_path):
    """-o writes the file (UTF-8) and nothing to standard output."""
    add_export_rows(session, open_wave)
    target = tmp_path / "keluar.csv"
    result = runner.invoke(
        args=["export", "--wave", "uji-2026", "--format", "csv", "-o", str(target)]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    text = target.read_bytes().decode("utf-8")
    assert text.startswith(EXPORT_HEADER + "\r\n")
    assert "Ongkos uji KIR mahal 😞" in text
    assert len(text.split("\r\n")) == 1 + 4 + 2  # header, 4 rows (one has a CRLF), final ""


def test_export_format_choices(runner, open_wave):
    """Only csv, xlsx and json are offered; xlsx needs a file; --safe is for CSV."""
    result = runner.invoke(args=["export", "--wave", "uji-2026", "--format", "pdf"])
    assert result.exit_code == 2
    assert "'pdf' is not one of 'csv', 'xlsx', 'json'" in result.output
    result = runner.invoke(args=["export", "--wave", "uji-2026", "--format", "xlsx"])
    assert result.exit_code == 2
    assert "--format xlsx needs -o FILE" in result.output
    result = runner.invoke(args=["export", "--wave", "uji-2026", "--format", "json", "--safe"])
    assert result.exit_code == 2


def test_export_of_an_unknown_wave(runner, open_wave):
    """The wave is named in the error."""
    result = runner.invoke(args=["export", "--wave", "lain"])
    assert result.exit_code == 1
    assert "unknown wave 'lain'" in result.output


def test_a_bad_setting_is_one_line_not_a_traceback(tmp_path):
    """``ikm`` with an unusable IKM_* setting says which one, with exit status 1."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "IKM_INSTANCE_PATH": str(tmp_path), "IKM_LIMIT_SOFT": "abc"}
    script = "from survey.cli.main import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", script, "wave", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: IKM_LIMIT_SOFT='abc' is not a valid int"


def test_an_old_schema_says_to_run_init_db(runner, app):
    """A database behind the code (a missing column) tells the operator what to run."""
    import sqlalchemy as sa

    from survey.web.database import get_engine

    engine = get_engine(app)
    kind = "TIMESTAMP WITH TIME ZONE" if engine.dialect.name == "postgresql" else "DATETIME"
    with engine.begin() as connection:
        connection.execute(sa.text("ALTER TABLE wave DROP COLUMN metadata_stripped_at"))
    try:
        result = runner.invoke(args=["wave", "list"])
        assert result.exit_code == 1
        assert "run 'ikm init-db' first" in result.output
    finally:
        # The PostgreSQL schema is shared by the whole run (tables are emptied, not rebuilt).
        with engine.begin() as connection:
            connection.execute(sa.text(f"ALTER TABLE wave ADD COLUMN metadata_stripped_at {kind}"))


def test_each_command_is_imported_only_when_it_runs():
    """``ikm score`` imports its own module, not the reports', the demo's, YAML or the
    PostgreSQL dialect (made with the engine, for a PostgreSQL URL only); every command of the
    list loads under its name."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "import click\n"
        "from survey.cli import main\n"
        "ctx = click.Context(main.ikm)\n"
        "assert main.ikm.get_command(ctx, 'score').name == 'score'\n"
        "print(sorted(m for m in sys.modules if m in ('yaml', 'survey.cli.report', "
        "'survey.cli.demo', 'survey.cli.questionnaire', 'survey.cli.score', "
        "'sqlalchemy.dialects.postgresql')))\n"
        "print(all(main.load_command(name).name == name for name in main.COMMANDS))\n"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.split("\n")[:2] == ["['survey.cli.score']", "True"]

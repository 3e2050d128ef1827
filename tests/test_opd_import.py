"""OPD import from CSV: parsing, all-or-nothing checks with row numbers, idempotence, web, CLI."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from auth_helpers import admin_snapshot, csrf_token, login
from flask.testing import FlaskClient
from sqlmodel import Session, select

from survey.core import opds, queries
from survey.core.models import AuditLog, Opd

IMPORT = "/kerja/opd/impor"
GOOD = (
    "slug,name,short_name,service_population\n"
    "bpbd,Badan Penanggulangan Bencana Daerah,BPBD,\n"  # as stored: unchanged
    "rsud,Rumah Sakit Umum Daerah,RSUD,900\n"  # population added: updated
    "dinkes,Dinas Kesehatan,Dinkes,12000\n"  # new
    "disdik,Dinas Pendidikan,,\n"  # new
)
BAD = (
    "slug,name,short_name,service_population\n"
    "Dinas Sosial,Dinas Sosial,,\n"  # row 2: bad slug
    "dinkes,,,\n"  # row 3: empty name
    "disdik,Dinas Pendidikan,,-3\n"  # row 4: bad population
    "disdik,Dinas Pendidikan Dua,,\n"  # row 5: slug repeated from row 4
    "dinsos,Dinas Pendidikan,,\n"  # row 6: name repeated from row 4
    "baru,Rumah Sakit Umum Daerah,,\n"  # row 7: name of OPD rsud
    "ok,Dinas Oke,,\n"  # row 8: fine, but nothing is written
    f"panjang,{'x' * 201},,\n"  # row 9: name too long
)


BOUNDARY = "----ikm-test-boundary"


def multipart(fields: dict[str, str], raw: bytes, name: str) -> bytes:
    """Return a multipart body with ``fields`` and one file named ``name``."""
    # Built by hand: the test client spools a large body to a temporary file it never closes.
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
        for key, value in fields.items()
    ]
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    )
    return b"".join(parts) + head.encode() + raw + f"\r\n--{BOUNDARY}--\r\n".encode()


def upload(client: FlaskClient, data: bytes | str, *, name: str = "opd.csv", dry_run: bool = False):
    """Post an OPD file to the import form."""
    raw = data.encode() if isinstance(data, str) else data
    fields = {"csrf_token": csrf_token(client, "/kerja/opd")}
    if dry_run:
        fields["dry_run"] = "1"
    return client.post(
        IMPORT,
        data=multipart(fields, raw, name),
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
    )


def opd_rows(session: Session) -> list[tuple]:
    """Return every OPD as a tuple, by slug."""
    session.expire_all()
    return [
        (o.slug, o.name, o.short_name, o.service_population, o.active)
        for o in session.exec(select(Opd).order_by(Opd.slug)).all()
    ]


# --- Parsing without a database ---------------------------------------------------------------


def test_read_rows_numbers_rows_from_the_header() -> None:
    rows, bad, columns, file_problem = opds.read_rows(BAD.encode())
    assert file_problem is None
    assert columns == ("slug", "name", "short_name", "service_population")
    assert [r.row for r in rows] == [7, 8]  # row 7's name clash needs the database
    reasons = {b.row: [p.code for p in b.problems] for b in bad}
    assert reasons == {
        2: ["slug-invalid"],
        3: ["required"],
        4: ["population"],
        5: ["duplicate-slug"],
        6: ["duplicate-name"],
        9: ["too-long"],
    }
    assert bad[3].english() == "row 5: slug 'disdik' is also on row 4"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty-file"),
        (b"slug,name\n", "no-rows"),
        (b"slug,short_name\nbpbd,BPBD\n", "missing-column"),
        (b"slug,name,kepala\nbpbd,BPBD,Budi\n", "unknown-column"),
        (b"slug,name,name\nbpbd,BPBD,B\n", "duplicate-column"),
        ("slug,name\nbpbd,Dinas Sosial Ü\n".encode("latin-1"), "not-utf8"),
    ],
)
def test_read_rows_file_problems(data: bytes, code: str) -> None:
    assert opds.read_rows(data)[3].code == code


def test_read_rows_bom_semicolons_blank_lines_and_short_rows() -> None:
    text = (
        "\ufeffSlug;Name;Service_Population\r\nbpbd;Badan Penanggulangan;1200\r\n\r\nrsud;RSUD\r\n"
    )
    rows, bad, columns, file_problem = opds.read_rows(text.encode())
    assert file_problem is None and bad == []
    assert columns == ("slug", "name", "service_population")
    assert [(r.row, r.fields.slug, r.fields.service_population) for r in rows] == [
        (2, "bpbd", 1200),
        (4, "rsud", None),
    ]


def test_read_rows_refuses_extra_cells() -> None:
    rows, bad, _columns, _problem = opds.read_rows(b"slug,name\nbpbd,BPBD,lebih\n")
    assert rows == [] and bad[0].row == 2 and bad[0].problems[0].code == "extra-cells"


# --- Applying, on both databases --------------------------------------------------------------


def test_import_adds_updates_and_is_idempotent(session: Session, users, open_wave) -> None:
    report = opds.import_opds(session, data=GOOD.encode(), filename="opd.csv", actor="eva")
    assert report.ok and report.applied
    assert report.summary() == "2 added, 1 updated, 1 unchanged"
    assert report.updated == {"rsud": {"service_population": (None, 900)}}
    assert opd_rows(session) == [
        ("bpbd", "Badan Penanggulangan Bencana Daerah", "BPBD", None, True),
        ("dinkes", "Dinas Kesehatan", "Dinkes", 12000, True),
        ("disdik", "Dinas Pendidikan", None, None, True),
        ("dishub", "Dinas Perhubungan", "Dishub", None, True),
        ("rsud", "Rumah Sakit Umum Daerah", "RSUD", 900, True),
    ]
    entry = session.exec(select(AuditLog).where(AuditLog.action == "opd.import")).one()
    assert entry.actor == "eva"
    assert entry.detail == {
        "filename": "opd.csv",
        "sha256": hashlib.sha256(GOOD.encode()).hexdigest(),
        "added": 2,
        "updated": 1,
        "unchanged": 1,
    }
    before = opd_rows(session)
    again = opds.import_opds(session, data=GOOD.encode(), filename="opd.csv", actor="eva")
    assert again.summary() == "0 added, 0 updated, 4 unchanged"
    assert opd_rows(session) == before


def test_missing_optional_columns_leave_fields_alone(session: Session, users, open_wave) -> None:
    report = opds.import_opds(
        session, data=b"slug,name\ndishub,Dinas Perhubungan Kota\n", filename="a.csv", actor=None
    )
    assert report.updated == {"dishub": {"name": ("Dinas Perhubungan", "Dinas Perhubungan Kota")}}
    session.expire_all()
    assert queries.get_opd(session, slug="dishub").short_name == "Dishub"


def test_import_sets_and_checks_service_hours(session: Session, users, open_wave) -> None:
    """A ``service_hours`` column sets the hours (as HH:MM-HH:MM); a bad cell is a row problem
    and writes nothing; an empty cell clears them."""
    data = "slug,name,service_hours\nbpbd,Badan Penanggulangan Bencana Daerah,07:30 - 14:00\n"
    report = opds.import_opds(session, data=data.encode(), filename="opd.csv", actor="eva")
    assert report.applied and report.updated == {"bpbd": {"service_hours": (None, "07:30-14:00")}}
    bad = "slug,name,service_hours\nrsud,Rumah Sakit Umum Daerah,sepanjang hari\n"
    report = opds.import_opds(session, data=bad.encode(), filename="opd.csv", actor="eva")
    assert not report.applied
    [row] = report.row_problems
    assert (row.row, [p.code for p in row.problems]) == (2, ["service-hours"])
    clear = "slug,name,service_hours\nbpbd,Badan Penanggulangan Bencana Daerah,\n"
    opds.import_opds(session, data=clear.encode(), filename="opd.csv", actor="eva")
    session.expire_all()
    assert queries.get_opd(session, slug="bpbd").service_hours is None
    assert queries.get_opd(session, slug="rsud").service_hours is None


def test_bad_file_writes_nothing(session: Session, users, open_wave) -> None:
    before = admin_snapshot(session)
    report = opds.import_opds(session, data=BAD.encode(), filename="bad.csv", actor="eva")
    assert not report.ok and not report.applied
    assert [b.row for b in report.row_problems] == [2, 3, 4, 5, 6, 7, 9]
    assert report.row_problems[5].problems[0].code == "name-taken"
    assert admin_snapshot(session) == before


def test_deactivated_opd_stays_inactive_on_import(session: Session, users, open_wave) -> None:
    opd = queries.get_opd(session, slug="bpbd")
    opds.set_opd_active(session, opd=opd, active=False, actor="eva")
    opds.import_opds(session, data=GOOD.encode(), filename="opd.csv", actor="eva")
    session.expire_all()
    assert queries.get_opd(session, slug="bpbd").active is False


# --- The web form -----------------------------------------------------------------------------


def test_web_import_reports_counts_and_audits(
    client: FlaskClient, session, users, open_wave
) -> None:
    login(client, "eva")
    response = upload(client, GOOD, name="unduhan/opd baru.csv")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Impor selesai: 2 ditambahkan, 1 diubah, 1 tidak berubah." in html
    assert hashlib.sha256(GOOD.encode()).hexdigest() in html
    assert "dinkes" in html and "Populasi layanan" in html
    entry = session.exec(select(AuditLog).where(AuditLog.action == "opd.import")).one()
    assert (entry.actor, entry.detail["filename"]) == ("eva", "opd baru.csv")
    assert queries.get_opd(session, slug="dinkes") is not None
    html = upload(client, GOOD).get_data(as_text=True)
    assert "0 ditambahkan, 0 diubah, 4 tidak berubah" in html


def test_web_import_lists_every_bad_row(client: FlaskClient, session, users, open_wave) -> None:
    login(client, "admin")
    before = admin_snapshot(session)
    response = upload(client, BAD)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'role="alert"' in html and "tidak ada yang disimpan" in html
    assert "7 baris salah" in html
    for row in (2, 3, 4, 5, 6, 7, 9):
        assert f'<tr id="baris-{row}"><th scope="row">{row}</th>' in html
    assert 'id="baris-8"' not in html
    assert "Slug &#39;disdik&#39; juga ada di baris 4." in html
    assert "sudah dipakai OPD rsud" in html
    assert admin_snapshot(session) == before


def test_web_dry_run_writes_nothing(client: FlaskClient, session, users, open_wave) -> None:
    login(client, "eva")
    before = admin_snapshot(session)
    response = upload(client, GOOD, dry_run=True)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Pemeriksaan saja" in html and "2 ditambahkan, 1 diubah, 1 tidak berubah" in html
    assert admin_snapshot(session) == before


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ("slug;nama\nbpbd;BPBD\n", 400, "Kolom &#39;nama&#39; tidak dikenal"),
        (b"slug,name\n" + "x,Ü\n".encode("latin-1"), 400, "bukan teks UTF-8"),
        (b"x" * (2 * 1024 * 1024 + 1), 400, "terlalu besar"),
        (b"x" * (2 * 1024 * 1024 + 100 * 1024), 413, "terlalu besar"),
    ],
)
def test_web_bad_files_change_nothing(
    client, session, users, open_wave, data, status, message
) -> None:
    login(client, "eva")
    before = admin_snapshot(session)
    response = upload(client, data)
    assert response.status_code == status
    assert message in response.get_data(as_text=True)
    assert admin_snapshot(session) == before


def test_web_import_needs_a_file_a_token_and_the_role(client, session, users, open_wave) -> None:
    login(client, "eva")
    before = admin_snapshot(session)
    response = client.post(IMPORT, data={"csrf_token": csrf_token(client, "/kerja/opd")})
    assert response.status_code == 400
    assert "Pilih berkas CSV." in response.get_data(as_text=True)
    response = client.post(
        IMPORT,
        data={"file": (io.BytesIO(GOOD.encode()), "opd.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert client.get(IMPORT).status_code == 302
    client.post("/keluar", data={"csrf_token": csrf_token(client)})
    login(client, "kepala-bpbd")
    assert upload_forbidden(client) == 403
    assert admin_snapshot(session) == before


def upload_forbidden(client: FlaskClient) -> int:
    """Post a good file with the workspace's token; return the status code."""
    form = {"csrf_token": csrf_token(client), "file": (io.BytesIO(GOOD.encode()), "opd.csv")}
    return client.post(IMPORT, data=form, content_type="multipart/form-data").status_code


# --- The command line -------------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "opd.csv") -> str:
    """Write a file and return its path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_cli_import_and_again(runner, session, users, open_wave, tmp_path) -> None:
    path = write(tmp_path, GOOD)
    result = runner.invoke(args=["opd", "import", path, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert (
        result.stdout.strip()
        == "Dry run, nothing written: would be 2 added, 1 updated, 1 unchanged"
    )
    assert queries.get_opd(session, slug="dinkes") is None
    result = runner.invoke(args=["opd", "import", path])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "2 added, 1 updated, 1 unchanged"
    entry = session.exec(select(AuditLog).where(AuditLog.action == "opd.import")).one()
    assert entry.actor is None and entry.detail["filename"] == "opd.csv"
    before = opd_rows(session)
    result = runner.invoke(args=["opd", "import", path])
    assert result.stdout.strip() == "0 added, 0 updated, 4 unchanged"
    assert opd_rows(session) == before


def test_cli_bad_file_exits_1_with_rows_and_one_line(
    runner, session, users, open_wave, tmp_path
) -> None:
    before = admin_snapshot(session)
    result = runner.invoke(args=["opd", "import", write(tmp_path, BAD)])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("row 2: 'Dinas Sosial' is not a slug")
    assert "row 7: name 'Rumah Sakit Umum Daerah' is already used by OPD 'rsud'" in lines
    assert lines[-1] == "Error: opd.csv: 7 bad rows; nothing written"
    assert "Traceback" not in result.output
    result = runner.invoke(args=["opd", "import", write(tmp_path, "slug\nbpbd\n", "x.csv")])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "Error: x.csv: missing required column 'name' (columns: slug, name, short_name, "
        "service_population, service_hours); nothing written"
    ]
    assert admin_snapshot(session) == before

"""Web import of responses: upload, column mapping, progress, all-or-nothing writes, audit."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from auth_helpers import CSRF_RE, AuthActions
from file_helpers import (
    HEADER,
    UPLOAD,
    confirm,
    count,
    form_values,
    google_forms_rows,
    responses,
    upload,
)
from flask.testing import FlaskClient
from openpyxl import Workbook
from sqlmodel import Session, select
from survey_helpers import add_responses, set_wave_status

from survey.core import imports as import_service
from survey.core import queries, submissions, tallies
from survey.core.models import AuditLog, ImportJob, Response
from survey.core.responsefile import read_file

GOOD = [
    "bpbd,2025-06-12T09:30:00+07:00,4,4,4,4,4,4,4,4,4,L,30,SMA,Swasta,KTP,Bagus",
    "Rumah Sakit Umum Daerah,2025-06-12T10:00:00+07:00,3,3,3,3,2,2,2,2,,P,,,,,",
]


@pytest.fixture
def app_config(app_config: dict) -> dict:
    """Run import jobs inside the request, so each test sees the finished job."""
    return {**app_config, "IMPORT_INLINE": True}


@pytest.fixture
def eva(client: FlaskClient, users, open_wave) -> FlaskClient:
    """The client signed in as the evaluator."""
    assert AuthActions(client).login("eva").status_code == 302
    return client


def csv_bytes(*lines: str, header: str = HEADER) -> bytes:
    """Return a CSV file's bytes."""
    return ("\r\n".join([header, *lines]) + "\r\n").encode("utf-8")


def xlsx_bytes(rows: list[list]) -> bytes:
    """Return a workbook whose first sheet holds ``rows``."""
    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def token(client: FlaskClient, path: str = UPLOAD) -> str:
    """Return the CSRF token of the form on ``path``."""
    match = CSRF_RE.search(client.get(path).get_data(as_text=True))
    assert match
    return match.group(1)


def only_job(session: Session) -> ImportJob:
    """Return the newest import job."""
    session.expire_all()
    return session.exec(select(ImportJob).order_by(ImportJob.id.desc())).first()


def import_audits(session: Session) -> list[AuditLog]:
    """Return the import.run audit entries, oldest first."""
    session.expire_all()
    query = select(AuditLog).where(AuditLog.action == "import.run").order_by(AuditLog.id)
    return list(session.exec(query).all())


def test_canonical_csv_upload_mapping_confirm_and_audit(eva, session, open_wave):
    """A canonical file: every column recognised, then both rows written and audited."""
    data = csv_bytes(*GOOD)
    page = upload(eva, data, "respons.csv")
    assert page.status_code == 302
    job_url = page.headers["Location"]
    job = only_job(session)
    assert job_url.endswith(f"/kerja/impor/{job.id}")
    assert (job.status, job.filename, job.kind, job.actor) == (
        "mapping",
        "respons.csv",
        "csv",
        "eva",
    )
    assert job.data == data and job.total_rows == 2
    assert count(session, Response) == 0

    html = eva.get(job_url).get_data(as_text=True)
    assert (
        html.count('<td class="source">nama baku</td>') == 17
    )  # opd, submitted_at, U1..U9 and six fields
    assert "Rumah Sakit Umum Daerah" in html  # the preview
    values = form_values(html)
    assert values["kolom-0"] == "opd" and values["kolom-10"] == "U9"
    assert values["format_waktu"] == ""

    # GOOD leaves U9 of RSUD unanswered: the page lists it and the import needs the tick.
    assert (
        "U9 (Penanganan Pengaduan, Saran dan Masukan) tidak terisi untuk "
        "Rumah Sakit Umum Daerah (1 baris)." in html
    )
    assert eva.post(job_url, data=values).status_code == 400
    assert count(session, Response) == 0 and only_job(session).status == "mapping"
    done = eva.post(job_url, data={**values, "akui_kosong": "1"})
    assert done.status_code == 302 and done.headers["Location"].endswith(job_url)
    job = only_job(session)
    assert (job.status, job.imported, job.already_present) == ("done", 2, 0)
    assert job.data == b"" and job.finished_at is not None
    assert job.processed_rows == job.total_rows == 2
    rsud = queries.get_opd(session, slug="rsud").id
    # Canonical as it stands (read exactly as `ikm import` reads it); the accepted empty element.
    assert job.mapping == {"acknowledged_empty": [f"U9@{rsud}"]}
    stored = responses(session, "uji-2026")
    assert len(stored) == 2
    first = stored[0]
    assert first.submitted_at.replace(tzinfo=UTC) == datetime(2025, 6, 12, 2, 30, tzinfo=UTC)
    assert [first.answers()[i] for i in range(1, 10)] == [4] * 9
    assert (first.sex, first.age, first.education, first.occupation) == ("L", 30, "SMA", "Swasta")
    assert (first.service, first.comment, first.channel, first.status) == (
        "KTP",
        "Bagus",
        "import",
        "counted",
    )
    assert stored[1].opd_id == queries.get_opd(session, slug="rsud").id
    assert stored[1].answers()[9] is None
    (entry,) = import_audits(session)
    assert entry.actor == "eva"
    assert entry.detail["wave"] == "uji-2026" and entry.detail["file"] == "respons.csv"
    assert entry.detail["sha256"] == job.digest
    assert (entry.detail["imported"], entry.detail["already_present"]) == (2, 0)
    result = eva.get(job_url).get_data(as_text=True)
    assert "2 respons baru disimpan" in result
    assert 'http-equiv="refresh"' not in result
    assert "/kerja/gelombang/uji-2026/dasbor" in result


def test_same_file_twice_adds_nothing_and_agrees_with_the_cli(
    eva, session, open_wave, runner, tmp_path
):
    """The second web import finds every row present; so does `ikm import` of the same file."""
    data = csv_bytes(*GOOD)
    for _round in range(2):
        job_url = upload(eva, data, "respons.csv").headers["Location"]
        confirm(eva, job_url, akui_kosong="1")
    job = only_job(session)
    assert (job.status, job.imported, job.already_present) == ("done", 0, 2)
    assert count(session, Response) == 2
    assert "2 sudah ada" in eva.get(job_url).get_data(as_text=True)
    path = tmp_path / "respons.csv"
    path.write_bytes(data)
    result = runner.invoke(
        args=["import", str(path), "--wave", "uji-2026", "--allow-empty-elements"]
    )
    assert result.exit_code == 0, result.output
    assert "0 imported, 2 already present" in result.output
    assert count(session, Response) == 2
    audits = import_audits(session)
    assert [(a.actor, a.detail["imported"]) for a in audits] == [("eva", 2), ("eva", 0), (None, 0)]


def test_cli_import_then_web_import_adds_nothing(eva, session, open_wave, runner, tmp_path):
    """Rows `ikm import` wrote are found by the web import of the same file (same ids)."""
    data = csv_bytes(*GOOD)
    path = tmp_path / "respons.csv"
    path.write_bytes(data)
    assert (
        runner.invoke(
            args=["import", str(path), "--wave", "uji-2026", "--allow-empty-elements"]
        ).exit_code
        == 0
    )
    (cli_audit,) = import_audits(session)
    assert cli_audit.actor is None and cli_audit.detail["imported"] == 2
    confirm(eva, upload(eva, data, "lain-nama.csv").headers["Location"], akui_kosong="1")
    job = only_job(session)
    assert (job.status, job.imported, job.already_present) == ("done", 0, 2)
    assert count(session, Response) == 2


def test_xlsx_upload(eva, session, open_wave):
    """A canonical workbook imports like the CSV."""
    header = HEADER.split(",")
    rows = [header, ["bpbd", "2025-06-12T09:30:00+07:00", *[3] * 9, "P", 41, "S1", "PNS"]]
    job_url = upload(eva, xlsx_bytes(rows), "respons.xlsx").headers["Location"]
    assert only_job(session).kind == "xlsx"
    confirm(eva, job_url)
    job = only_job(session)
    assert (job.status, job.imported) == ("done", 1)
    (stored,) = responses(session, "uji-2026")
    assert [stored.answers()[i] for i in range(1, 10)] == [3] * 9
    assert (stored.sex, stored.age, stored.education, stored.occupation) == ("P", 41, "S1", "PNS")


def gform_csv() -> bytes:
    """A Google Forms CSV: question headers, label answers, "Cap waktu" as d/m/Y H:M:S."""
    rows = google_forms_rows()
    rows[0][0] = "Cap waktu"
    lines = []
    for row in rows:
        cells = []
        for cell in row:
            if isinstance(cell, datetime):
                cell = (
                    f"{cell.day:02d}/{cell.month:02d}/{cell.year} {cell.hour}:{cell.minute:02d}:00"
                )
            cells.append("" if cell is None else str(cell))
        lines.append(",".join(f'"{c}"' for c in cells))
    return ("\n".join(lines) + "\n").encode("utf-8")


def test_google_forms_file_is_mapped_then_imported(eva, session, open_wave):
    """Question texts are suggested, the d/m/Y time format guessed, labels read as codes."""
    job_url = upload(eva, gform_csv(), "Formulir (Jawaban).csv").headers["Location"]
    html = eva.get(job_url).get_data(as_text=True)
    values = form_values(html)
    assert values["kolom-0"] == "submitted_at" and values["kolom-1"] == "opd"
    assert [values[f"kolom-{i}"] for i in range(2, 11)] == [f"U{i}" for i in range(1, 10)]
    assert values["kolom-11"] == "sex" and values["kolom-16"] == "comment"
    assert values["format_waktu"] == "%d/%m/%Y %H:%M:%S"
    assert "disarankan" in html and 'role="alert"' not in html
    eva.post(job_url, data=values)
    job = only_job(session)
    assert (job.status, job.imported) == ("done", 2), job.message
    assert job.mapping["time_format"] == "%d/%m/%Y %H:%M:%S"
    assert job.mapping["columns"]["Cap waktu"] == "submitted_at"
    second, first = sorted(responses(session, "uji-2026"), key=lambda r: r.sex)
    assert first.submitted_at.replace(tzinfo=UTC) == datetime(2025, 6, 13, 7, 0, tzinfo=UTC)
    assert [first.answers()[i] for i in range(1, 10)] == [1] + [2] * 8
    assert [second.answers()[i] for i in range(1, 10)] == [4] * 9
    assert (second.sex, second.age, second.comment) == ("L", 40, "Mantap")
    assert second.opd_id == queries.get_opd(session, slug="dishub").id


def test_bad_rows_are_reported_and_nothing_is_written(eva, session, open_wave):
    """Every bad row is listed with its spreadsheet row number; no row is stored."""
    data = csv_bytes(
        GOOD[0],
        "dinkes,,4,4,4,4,4,4,4,4,4,,,,,,",
        "bpbd,,5,4,4,4,4,4,4,4,4,,,,,,",
        GOOD[1],
        "bpbd,kemarin,4,4,4,4,4,4,4,4,4,,,,,,<b>x</b>",
    )
    job_url = upload(eva, data, "salah.csv").headers["Location"]
    confirm(eva, job_url, akui_kosong="1")
    job = only_job(session)
    assert job.status == "failed" and job.data == b""
    assert [entry["row"] for entry in job.errors] == [3, 4, 6]
    # Codes with parameters are stored; the page says them in its language.
    assert job.errors[0]["problems"] == [
        {"code": "row-opd-unknown", "field": "opd", "params": {"value": "dinkes"}}
    ]
    assert job.problems == [
        {
            "code": "import-rows-bad",
            "field": "",
            "params": {"file": "salah.csv", "bad": 3, "total": 5},
        }
    ]
    assert job.message == "salah.csv: 3 of 5 rows have errors; nothing was imported"
    assert count(session, Response) == 0
    assert import_audits(session) == []
    html = eva.get(job_url).get_data(as_text=True)
    assert "3 dari 5 baris bermasalah" in html
    assert '<th scope="row" class="num">4</th>' in html
    assert "U1: &#39;5&#39; bukan jawaban (isi 1 sampai 4 atau kosongkan)." in html
    assert "OPD &#39;dinkes&#39; tidak dikenal (gunakan slug atau nama lengkapnya)." in html
    assert "is not an answer" not in html and "use its slug" not in html
    assert "Unggah berkas yang sudah diperbaiki" in html
    html = eva.get(f"{job_url}?lang=en").get_data(as_text=True)
    assert "U1: &#39;5&#39; is not an answer (give 1 to 4 or leave it empty)." in html
    assert "OPD &#39;dinkes&#39; is not known (use its slug or full name)." in html


def test_error_report_is_capped(session):
    """At most ERROR_LIMIT bad rows are kept, with the number left out."""
    from survey.core.problems import problem
    from survey.core.responsefile import RowError

    bad = (problem("row-no-answer"),)
    errors = [RowError(row, bad) for row in range(2, 2 + import_service.ERROR_LIMIT + 7)]
    report = import_service.error_report(errors)
    assert len(report) == import_service.ERROR_LIMIT + 1
    assert report[0] == {
        "row": 2,
        "problems": [{"code": "row-no-answer", "field": "", "params": {}}],
    }
    assert report[-1] == {"row": None, "problems": [], "omitted": 7}
    job = ImportJob(wave_id=1, filename="x.csv", digest="0", errors=report)
    rows, total = import_service.report_rows(job)
    assert len(rows) == import_service.ERROR_LIMIT and total == import_service.ERROR_LIMIT + 7


def test_header_mapped_by_hand(eva, session, open_wave):
    """An unknown OPD header: the page says what is missing; choosing 'opd' fixes it."""
    header = HEADER.replace("opd,", "Instansi,", 1)
    job_url = upload(eva, csv_bytes(GOOD[0], header=header), "entri.csv").headers["Location"]
    html = eva.get(job_url).get_data(as_text=True)
    assert 'role="alert"' in html and "Kolom wajib &#39;opd&#39; tidak ada." in html
    english = eva.get(f"{job_url}?lang=en").get_data(as_text=True)
    assert "The required column &#39;opd&#39; is missing." in english
    assert "missing required column" not in html + english  # the CLI's sentence
    assert form_values(html)["kolom-0"] == ""
    # Confirming as it stands is refused and changes nothing.
    refused = confirm(eva, job_url)
    assert refused.status_code == 400
    assert only_job(session).status == "mapping"
    assert count(session, Response) == 0
    confirm(eva, job_url, **{"kolom-0": "opd"})
    job = only_job(session)
    assert (job.status, job.imported) == ("done", 1)
    assert job.mapping["columns"] == {"Instansi": "opd"}


def test_bad_time_format_and_unknown_field_change_nothing(eva, session, open_wave):
    """A time format without codes is an error next to its field; a forged field is 400."""
    job_url = upload(eva, csv_bytes(*GOOD), "respons.csv").headers["Location"]
    page = confirm(eva, job_url, format_waktu="tanggal")
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert 'id="format_waktu-galat"' in html and 'aria-invalid="true"' in html
    assert confirm(eva, job_url, **{"kolom-0": "password_hash"}).status_code == 400
    job = only_job(session)
    assert job.status == "mapping" and job.data
    assert count(session, Response) == 0


def test_upload_errors(eva, session, open_wave):
    """No file, a wrong type, an unreadable file and a missing CSRF token store no job."""
    form = {"csrf_token": token(eva)}
    assert eva.post(UPLOAD, data=form, content_type="multipart/form-data").status_code == 400
    assert upload(eva, b"x", "respons.xls").status_code == 400
    page = upload(eva, b"\xff\xfe\x00bad", "respons.csv")
    assert page.status_code == 400
    assert "Berkas tidak dapat dibaca: Berkas bukan teks UTF-8 (bita tidak sah pada posisi 0)" in (
        page.get_data(as_text=True)
    )
    page = upload(eva, b"not a zip", "respons.xlsx")
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert "Berkas bukan buku kerja XLSX yang dapat dibaca" in html
    assert "not a readable XLSX workbook" not in html
    assert upload(eva, csv_bytes(*GOOD), "respons.csv", csrf="nope").status_code == 400
    assert count(session, ImportJob) == 0


def test_oversize_upload_is_413_and_large_file_within_limit_imports(app, eva, session, open_wave):
    """The route takes files past the survey's 64 KB limit, up to IMPORT_MAX_BYTES."""
    line = "bpbd,2025-06-12T09:30:00+07:00,4,4,4,4,4,4,4,4,4,L,30,SMA,Swasta,KTP,Bagus"
    data = csv_bytes(*[line] * 1200)  # about 94 KB: more than MAX_CONTENT_LENGTH
    assert len(data) > app.config["MAX_CONTENT_LENGTH"]
    app.config["IMPORT_MAX_BYTES"] = 90_000
    page = upload(eva, data, "besar.csv")
    assert page.status_code == 413
    assert "Berkas terlalu besar" in page.get_data(as_text=True)
    assert count(session, ImportJob) == 0
    app.config["IMPORT_MAX_BYTES"] = 200_000
    confirm(eva, upload(eva, data, "besar.csv").headers["Location"])
    job = only_job(session)
    assert (job.status, job.imported, job.processed_rows) == ("done", 1200, 1200)
    assert count(session, Response) == 1200


def test_published_wave_refuses_imports(eva, session, open_wave):
    """A published wave shows no upload form and refuses an upload and a pending job."""
    job_url = upload(eva, csv_bytes(*GOOD), "respons.csv").headers["Location"]
    token_value = token(eva)
    add_responses(session, open_wave, "bpbd", [[4] * 9, [3] * 9])
    set_wave_status(session, slug="uji-2026", status="closed")
    set_wave_status(session, slug="uji-2026", status="published")
    html = eva.get(UPLOAD).get_data(as_text=True)
    assert 'type="file"' not in html and "sudah diterbitkan" in html
    assert upload(eva, csv_bytes(*GOOD), "lagi.csv", csrf=token_value).status_code == 409
    assert count(session, ImportJob) == 1
    refused = eva.post(job_url, data={"csrf_token": token_value, "kolom-0": "opd"})
    assert refused.status_code == 409
    assert only_job(session).status == "mapping"
    assert count(session, Response) == 2  # the two stored before publishing, nothing imported


def test_roles(client, session, users, open_wave):
    """Anonymous users go to sign in; an OPD head gets 403; unknown ids and waves are 404."""
    page = client.get(UPLOAD)
    assert page.status_code == 302 and "/masuk" in page.headers["Location"]
    job = import_service.create_import_job(
        session,
        wave=open_wave,
        actor="eva",
        filename="r.csv",
        kind="csv",
        data=csv_bytes(*GOOD),
    )
    assert client.get(f"/kerja/impor/{job.id}").status_code == 302
    anonymous = client.post(
        f"/kerja/impor/{job.id}", data={"csrf_token": token(client, "/masuk"), "kolom-0": "opd"}
    )
    assert anonymous.status_code == 302 and "/masuk" in anonymous.headers["Location"]
    refused = upload(client, csv_bytes(*GOOD), "r.csv", csrf=token(client, "/masuk"))
    assert refused.status_code == 302 and "/masuk" in refused.headers["Location"]
    AuthActions(client).login("kepala-bpbd")
    assert client.get(UPLOAD).status_code == 403
    assert client.get(f"/kerja/impor/{job.id}").status_code == 403
    assert (
        upload(client, csv_bytes(*GOOD), "r.csv", csrf=token(client, "/kerja")).status_code == 403
    )
    assert (
        client.post(
            f"/kerja/impor/{job.id}", data={"csrf_token": token(client, "/kerja")}
        ).status_code
        == 403
    )
    AuthActions(client).logout()
    AuthActions(client).login("admin")
    assert client.get(UPLOAD).status_code == 200
    assert client.get("/kerja/gelombang/tidak-ada/impor").status_code == 404
    assert client.get(f"/kerja/impor/{job.id + 99}").status_code == 404
    assert count(session, Response) == 0 and count(session, ImportJob) == 1
    assert only_job(session).status == "mapping"


def test_progress_page_refreshes_while_running(eva, session, open_wave):
    """A running job's page refreshes itself and shows a progress bar with the counts."""
    job = import_service.create_import_job(
        session, wave=open_wave, actor="eva", filename="r.csv", kind="csv", data=b"opd\n"
    )
    job.status, job.total_rows, job.processed_rows = "running", 1000, 250
    session.add(job)
    session.commit()
    html = eva.get(f"/kerja/impor/{job.id}").get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="2">' in html
    assert '<progress id="kemajuan" max="1000" value="250">' in html
    assert "250 dari sekitar 1.000 baris" in html
    assert "<script" not in html and "style=" not in html
    job.processed_rows, job.message = 1000, import_service.WRITING
    session.add(job)
    session.commit()
    html = eva.get(f"/kerja/impor/{job.id}").get_data(as_text=True)
    assert "respons sedang disimpan" in html and 'http-equiv="refresh"' in html
    job.status = "queued"
    session.add(job)
    session.commit()
    html = eva.get(f"/kerja/impor/{job.id}").get_data(as_text=True)
    assert "Menunggu giliran" in html and 'http-equiv="refresh"' in html


def test_worker_thread_runs_the_job(app, eva, session, open_wave):
    """Without IMPORT_INLINE the confirmation starts a thread; polling sees the job done."""
    app.config["IMPORT_INLINE"] = False
    job_url = upload(eva, csv_bytes(*GOOD), "respons.csv").headers["Location"]
    assert confirm(eva, job_url, akui_kosong="1").status_code == 302
    deadline = time.monotonic() + 30
    while only_job(session).status not in ("done", "failed"):
        assert time.monotonic() < deadline, "the import thread did not finish"
        time.sleep(0.05)
    job = only_job(session)
    assert (job.status, job.imported) == ("done", 2), job.message
    assert count(session, Response) == 2
    assert "2 respons baru disimpan" in eva.get(job_url).get_data(as_text=True)
    # A second confirmation of the finished job starts nothing and writes nothing.
    assert eva.post(job_url, data={"csrf_token": token(eva)}).status_code == 302
    import_service.run_import_job(app.extensions["ikm_engine"], job_id=job.id)
    assert count(session, Response) == 2
    assert len(import_audits(session)) == 1


def test_importjob_bytes_are_cleared_for_failed_jobs(eva, session, open_wave, tmp_path: Path):
    """A file with only a header fails with a message and keeps no bytes."""
    job_url = upload(eva, csv_bytes(), "leer.csv").headers["Location"]
    confirm(eva, job_url)
    job = only_job(session)
    assert job.status == "failed" and job.data == b""
    assert job.message == "leer.csv: no data rows to import"
    assert job.problems == [{"code": "import-no-rows", "field": "", "params": {"file": "leer.csv"}}]
    html = eva.get(job_url).get_data(as_text=True)
    assert '<p class="message">Berkas tidak berisi baris data untuk diimpor.</p>' in html
    html = eva.get(f"{job_url}?lang=en").get_data(as_text=True)
    assert '<p class="message">The file holds no data rows to import.</p>' in html


def test_a_job_failed_before_coded_problems_shows_its_stored_text(eva, session, open_wave):
    """A job stored with an English message and reasons (no codes) still shows them."""
    job = ImportJob(
        wave_id=open_wave.id,
        actor="eva",
        filename="lama.csv",
        digest="0",
        status="failed",
        total_rows=1,
        message="lama.csv: no data rows to import",
    )
    session.add(job)
    session.commit()
    html = eva.get(f"/kerja/impor/{job.id}").get_data(as_text=True)
    assert '<p class="message">lama.csv: no data rows to import</p>' in html
    job.message = "lama.csv: 1 of 1 rows have errors; nothing was imported"
    job.errors = [{"row": 2, "reasons": ["opd is empty"]}]
    session.add(job)
    session.commit()
    html = eva.get(f"/kerja/impor/{job.id}").get_data(as_text=True)
    assert '<th scope="row" class="num">2</th><td>opd is empty</td>' in html


def test_a_concurrent_import_makes_the_job_fail_without_writing(
    eva, session, open_wave, monkeypatch
):
    """Rows another import stored meanwhile: the whole job fails and writes nothing more."""
    confirm(eva, upload(eva, csv_bytes(*GOOD), "respons.csv").headers["Location"], akui_kosong="1")
    assert count(session, Response) == 2
    job_url = upload(eva, csv_bytes(*GOOD), "respons.csv").headers["Location"]
    # As if this job had looked before the other import committed: no row seen as present.
    monkeypatch.setattr(queries, "submission_ids", lambda *_args, **_kwargs: set())
    confirm(eva, job_url, akui_kosong="1")
    job = only_job(session)
    assert job.status == "failed" and "another import" in job.message
    assert count(session, Response) == 2
    assert len(import_audits(session)) == 1


def test_a_failure_while_writing_writes_nothing(eva, session, open_wave, monkeypatch):
    """An error in the middle of the write rolls every row back and marks the job failed."""
    written = []

    def broken(session: Session, *, columns, rows, batch_size: int = 5000, progress=None) -> int:
        """Insert the first row, then fail."""
        first = dict(zip(columns, next(iter(rows)), strict=True))
        session.connection().execute(Response.__table__.insert(), [first])
        written.append(first)
        raise RuntimeError("disk full")

    monkeypatch.setattr(submissions, "insert_response_tuples", broken)
    confirm(eva, upload(eva, csv_bytes(*GOOD), "respons.csv").headers["Location"], akui_kosong="1")
    job = only_job(session)
    assert written and job.status == "failed" and job.data == b""
    assert job.message == "unexpected error while writing; nothing was imported"
    assert count(session, Response) == 0
    assert import_audits(session) == []


def test_stale_and_abandoned_jobs_expire(eva, session, open_wave):
    """A job whose worker died fails with a message; an upload left at mapping is dropped."""
    from datetime import timedelta

    now = datetime.now(UTC)
    jobs = {}
    for name, status, age in (
        ("dead", "running", timedelta(hours=3)),
        ("busy", "running", timedelta(minutes=5)),
        ("left", "mapping", timedelta(hours=25)),
        ("fresh", "mapping", timedelta(hours=1)),
    ):
        job = import_service.create_import_job(
            session, wave=open_wave, actor="eva", filename=f"{name}.csv", kind="csv", data=b"opd\n"
        )
        job.status, job.created_at = status, now - age
        session.add(job)
        session.commit()
        jobs[name] = job.id
    page = eva.get(f"/kerja/impor/{jobs['dead']}")
    assert page.status_code == 200
    assert "Impor berhenti sebelum selesai (server dimulai ulang?)" in page.get_data(as_text=True)
    assert 'http-equiv="refresh"' not in page.get_data(as_text=True)
    session.expire_all()
    state = {name: session.get(ImportJob, job_id) for name, job_id in jobs.items()}
    assert {name: job.status for name, job in state.items()} == {
        "dead": "failed",
        "busy": "running",
        "left": "failed",
        "fresh": "mapping",
    }
    assert state["dead"].data == b"" and state["left"].data == b""
    assert state["fresh"].data == b"opd\n" and state["busy"].data == b"opd\n"
    assert session.exec(select(Response)).all() == []


def test_mapping_page_of_a_large_file_reads_its_first_rows_and_says_so(
    eva, session, open_wave, monkeypatch
):
    """The page's lists come from the first MAPPING_SCAN_ROWS rows and it says so; the job
    still checks every row, and stops on an element the page could not show empty."""
    monkeypatch.setattr(import_service, "MAPPING_SCAN_ROWS", 1)
    job_url = upload(eva, csv_bytes(*GOOD), "respons.csv").headers["Location"]
    html = eva.get(job_url).get_data(as_text=True)
    assert "Daftar di bawah ini dibuat dari 1 baris pertama" in html
    # Only the first row (BPBD, every element answered) was read: nothing shows empty.
    assert 'id="elemen-kosong"' not in html
    assert eva.post(job_url, data=form_values(html)).status_code == 302
    job = only_job(session)
    assert job.status == "failed" and job.processed_rows == 2
    assert [item["code"] for item in job.problems] == ["import-element-empty"]
    assert count(session, Response) == 0 and import_audits(session) == []


def test_a_concurrent_import_of_the_same_rows_writes_nothing(session, open_wave, monkeypatch):
    """Rows another import stored meanwhile (unseen when the new ones were picked): the bulk
    insert's constraint error is the import's "concurrent" refusal, and nothing is written."""
    context = import_service.import_context(session, wave=open_wave)
    data = csv_bytes(*GOOD)
    read = read_file(data, context)
    first = import_service.write_import(
        session, wave=open_wave, filename="a.csv", digest=read.digest, rows=read.rows, actor=None
    )
    assert first.imported == 2
    before = count(session, Response)
    monkeypatch.setattr(queries, "submission_ids", lambda *args, **kwargs: set())
    with pytest.raises(import_service.ConcurrentImportError) as refused:
        import_service.write_import(
            session, wave=open_wave, filename="a.csv", digest=read.digest, rows=read.rows,
            actor=None,
        )  # fmt: skip
    assert [item.code for item in refused.value.problems] == ["import-concurrent"]
    assert count(session, Response) == before == 2
    assert len(import_audits(session)) == 1
    assert tallies.differences(session, wave_id=open_wave.id) == []

"""Publishing freezes a snapshot: public pages and downloads serve the stored bytes.

Each test runs on SQLite and PostgreSQL. The published wave's pages, PDFs and open-data ZIP are
the files its publication stored: the same bytes and ETag on every request, after renaming an
OPD or editing the questionnaire's texts too; ``If-None-Match`` answers 304; nothing is public
while the first version builds (503 "being prepared") or after a failed build (which
``ikm wave snapshot`` resumes); the "data taken" time is the publication's.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from auth_helpers import csrf_token, login
from sqlmodel import Session, select
from survey_helpers import add_responses, set_wave_status

from survey.core import checklist, exports, opds, publications, queries, waves
from survey.core.models import AuditLog, Element, Publication, PublicationFile, Wave
from survey.web.i18n import to_local

HIGH = [[4] * 9, [3] * 9, [4] * 8 + [3]]
LOW = [[2] * 9, [1] * 9, [2] * 8 + [3]]
LATEST = ("/hasil/uji-2026", "/hasil/uji-2026/bpbd", "/hasil/uji-2026/data-terbuka.zip")
PDFS = ("/r/uji-2026/ranking.pdf", "/r/uji-2026/opd/bpbd.pdf")


def fill(session: Session, wave: Wave) -> None:
    """bpbd high (6), rsud low (6)."""
    add_responses(session, wave, "bpbd", HIGH * 2)
    add_responses(session, wave, "rsud", LOW * 2)


def rename_bpbd(session: Session) -> str:
    """Rename BPBD after publication, as an evaluator may; returns its old name."""
    opd = queries.get_opd(session, slug="bpbd")
    assert opd is not None
    old_name = opd.name
    opds.update_opd(
        session,
        opd=opd,
        name="Badan Baru Sesudah Terbit",
        short_name=None,
        service_population=None,
        service_hours=None,
        actor=None,
    )
    return old_name


def publish_unbuilt(session: Session, wave: Wave) -> None:
    """Fill and publish the sample wave without building its version (its job never ran)."""
    fill(session, wave)
    set_wave_status(session, slug="uji-2026", status="closed")
    waves.change_status(
        session,
        wave=waves.find_wave(session, slug="uji-2026"),
        action="publish",
        actor=None,
        acknowledged=checklist.ACKNOWLEDGEABLE_CODES,
    )


@pytest.fixture
def published(session: Session, open_wave) -> Wave:
    """The sample wave with answers, published (its first phase built inline)."""
    fill(session, open_wave)
    return set_wave_status(session, slug="uji-2026", status="published")


def served(client, paths) -> dict[str, tuple[bytes, str]]:
    """The bytes and ETag each path serves (each must answer 200)."""
    found = {}
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        found[path] = (response.get_data(), response.headers["ETag"])
    return found


def publication_of(session: Session, version: int = 1) -> Publication:
    """The sample wave's publication of this version."""
    session.expire_all()
    return session.exec(select(Publication).where(Publication.version == version)).one()


def test_served_bytes_survive_rename_and_questionnaire_edit(
    client, session: Session, published
) -> None:
    before = served(client, LATEST + PDFS)
    assert before == served(client, LATEST + PDFS)  # the same bytes and ETag again
    for data, etag in before.values():
        assert etag == f'"{publications.digest(data)}"'  # strong, of the bytes served
    rename_bpbd(session)
    element = session.exec(select(Element).where(Element.code == "U1")).first()
    assert element is not None
    element.name_id = "Unsur diubah sesudah terbit"
    session.add(element)
    session.commit()
    after = served(client, LATEST + PDFS)
    assert after == before
    page = after["/hasil/uji-2026"][0].decode()
    assert "Badan Penanggulangan Bencana Daerah" in page and "Sesudah Terbit" not in page


def test_etag_304_and_cache_headers(client, published) -> None:
    first = client.get("/hasil/uji-2026")
    assert first.headers["Cache-Control"] == "public, max-age=60"
    assert "Cookie" in first.headers["Vary"]
    again = client.get("/hasil/uji-2026", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b""
    assert again.headers["ETag"] == first.headers["ETag"]
    other = client.get("/hasil/uji-2026", headers={"If-None-Match": '"0000"'})
    assert other.status_code == 200 and other.get_data() == first.get_data()
    english = client.get("/hasil/uji-2026?lang=en")
    assert english.headers["ETag"] != first.headers["ETag"]  # other bytes, other ETag
    assert '<html lang="en">' in english.get_data(as_text=True)
    version = client.get("/r/uji-2026/versi/1/ranking.pdf")
    assert version.status_code == 200
    assert version.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert version.get_data() == client.get("/r/uji-2026/ranking.pdf").get_data()
    cached = client.get(
        "/r/uji-2026/versi/1/ranking.pdf", headers={"If-None-Match": version.headers["ETag"]}
    )
    assert cached.status_code == 304 and cached.get_data() == b""
    assert cached.headers["ETag"] == version.headers["ETag"]


def test_a_stored_page_is_read_once_per_process(client, session: Session, published) -> None:
    """Stored files never change: each process keeps what it served, by ETag (its SHA-256)."""
    first = client.get("/hasil/uji-2026/bpbd")
    name = PublicationFile.name == "page:id:opd:bpbd"
    # Bytes changed under the same ETag (nothing in the service does this) show the page is
    # served from memory: the stored row is not read again.
    session.execute(sa.update(PublicationFile).where(name).values(data=b"tampered"))
    session.commit()
    again = client.get("/hasil/uji-2026/bpbd")
    assert again.status_code == 200 and again.get_data() == first.get_data()
    # An If-None-Match that matches is a 304 without reading the bytes at all.
    session.execute(sa.update(PublicationFile).where(name).values(etag="lain"))
    session.commit()
    assert (
        client.get("/hasil/uji-2026/bpbd", headers={"If-None-Match": '"lain"'}).status_code == 304
    )


def test_data_taken_is_the_publications(client, session: Session, published) -> None:
    taken = publication_of(session).data_taken_at
    moment = to_local(taken, "Asia/Jakarta").strftime("%H.%M")
    page = client.get("/hasil/uji-2026").get_data(as_text=True)
    shown = re.search(r'<p class="taken">Data diambil ([^;]*);', page)
    assert shown and shown[1].endswith(f"{moment} WIB"), shown
    archive = zipfile.ZipFile(io.BytesIO(client.get("/hasil/uji-2026/data-terbuka.zip").data))
    readme = archive.read("uji-2026/README.md").decode()
    stamp = to_local(taken, "Asia/Jakarta").isoformat(timespec="seconds")
    assert f"Data diambil / Data taken: {stamp}" in readme


def test_the_wave_page_says_once_when_it_was_published(client, session: Session, published):
    created = to_local(publication_of(session).created_at, "Asia/Jakarta").strftime("%H.%M")
    page = client.get("/hasil/uji-2026").get_data(as_text=True)
    assert "Versi 1</strong>, diterbitkan" in page
    assert page.count("iterbitkan") == 1 and page.count(f"{created} WIB") >= 1


def test_signed_in_reader_gets_the_workspace_link(client, session: Session, users, published):
    anonymous = client.get("/hasil/uji-2026")
    assert "Ruang kerja" not in anonymous.get_data(as_text=True)
    login(client)
    signed = client.get("/hasil/uji-2026")
    page = signed.get_data(as_text=True)
    assert page.count("Ruang kerja") == 1
    assert signed.headers["ETag"] != anonymous.headers["ETag"]
    assert signed.headers["ETag"] == f'"{publications.digest(signed.get_data())}"'
    assert signed.headers["Cache-Control"] == "private, no-cache"
    # Apart from the link, the same page.
    assert page.replace(
        '<nav aria-label="Navigasi"><a href="/kerja">Ruang kerja</a></nav>\n', ""
    ) == anonymous.get_data(as_text=True)


def test_nothing_public_while_building_then_served(
    app, client, session: Session, open_wave
) -> None:
    publish_unbuilt(session, open_wave)
    for path in (*LATEST, "/r/uji-2026/ranking.pdf"):
        response = client.get(path)
        assert response.status_code == 503, path
        assert response.headers["Retry-After"] == "10"
    page = client.get("/hasil/uji-2026").get_data(as_text=True)
    assert "Hasil sedang disiapkan (0 dari 0 berkas)" in page
    assert '<meta http-equiv="refresh" content="10">' in page
    assert "Uji Coba 2026" not in client.get("/hasil").get_data(as_text=True)
    from survey.web import snapshots

    snapshots.build_now(app, publication_of(session).id or 0, later=False)
    assert client.get("/hasil/uji-2026").status_code == 200
    assert "Uji Coba 2026" in client.get("/hasil").get_data(as_text=True)


def test_a_build_whose_job_died_is_resumed_by_the_next_reader(
    client, session: Session, open_wave
) -> None:
    """A restart kills the build's thread: the version would say "being prepared" forever."""
    publish_unbuilt(session, open_wave)
    publication = publication_of(session)
    started = publication.created_at
    # A job that committed 9 minutes ago is alive: nobody takes it over.
    alive = started - timedelta(minutes=9)
    session.execute(sa.update(Publication).values(created_at=alive, heartbeat_at=alive))
    session.commit()
    assert client.get("/hasil/uji-2026").status_code == 503
    session.expire_all()
    assert publication_of(session).done == 0
    # Silent for 11 minutes: the next reader's request starts the build again (inline here).
    dead = started - timedelta(minutes=11)
    session.execute(sa.update(Publication).values(heartbeat_at=dead))
    session.commit()
    assert client.get("/hasil/uji-2026").status_code == 503  # this reader is told to wait
    session.expire_all()
    resumed = publication_of(session)
    assert resumed.status == "ready" and resumed.completed_at is not None
    assert resumed.heartbeat_at is not None and resumed.heartbeat_at > dead
    assert client.get("/hasil/uji-2026").status_code == 200


def test_one_reader_takes_over_a_stalled_build(session: Session, open_wave) -> None:
    publish_unbuilt(session, open_wave)
    publication = publication_of(session)
    later = publication.created_at + publications.STALLED_AFTER + timedelta(seconds=1)
    assert not publications.claim_stalled(
        session, publication=publication, now=later - timedelta(seconds=2)
    )
    assert publications.claim_stalled(session, publication=publication, now=later)
    assert not publications.claim_stalled(session, publication=publication, now=later)
    session.refresh(publication)
    assert publication.heartbeat_at == later
    # A failed build is not resumed by readers (it would fail again): a person looks at it.
    session.execute(sa.update(Publication).values(status="failed"))
    session.commit()
    far = later + 2 * publications.STALLED_AFTER
    assert not publications.claim_stalled(session, publication=publication, now=far)


def test_failed_build_is_not_served_and_can_be_rebuilt(
    app, client, runner, session: Session, open_wave, monkeypatch
) -> None:
    fill(session, open_wave)
    set_wave_status(session, slug="uji-2026", status="closed")
    original = exports.open_data_zip

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(exports, "open_data_zip", broken)
    with pytest.raises(RuntimeError):
        set_wave_status(session, slug="uji-2026", status="published")
    failed = publication_of(session)
    assert failed.status == "failed" and failed.ready_at is None
    assert failed.error == "RuntimeError: disk full"
    stored = session.exec(select(PublicationFile)).all()
    assert stored and len(stored) == failed.done  # the files before the failure are kept
    for path in LATEST:
        assert client.get(path).status_code == 404, path
    assert "Uji Coba 2026" not in client.get("/hasil").get_data(as_text=True)
    monkeypatch.setattr(exports, "open_data_zip", original)
    result = runner.invoke(args=["wave", "snapshot", "uji-2026"])
    assert result.exit_code == 0, result.output
    assert "Wave uji-2026: version 1 is public" in result.output
    rebuilt = publication_of(session)
    assert rebuilt.status == "ready" and rebuilt.completed_at is not None
    assert rebuilt.done == rebuilt.total == len(session.exec(select(PublicationFile)).all())
    assert client.get("/hasil/uji-2026").status_code == 200
    again = runner.invoke(args=["wave", "snapshot", "uji-2026"])
    assert again.exit_code != 0 and "already complete" in again.output


def test_report_asked_before_its_turn_is_made_and_kept(client, session: Session, published):
    publication = publication_of(session)
    assert publication.ready_at is not None and publication.completed_at is None
    names = {f.name for f in session.exec(select(PublicationFile)).all()}
    assert "pdf:id:opd:bpbd" not in names and "page:id:opd:bpbd" in names
    first = client.get("/r/uji-2026/opd/bpbd.pdf")
    assert first.status_code == 200 and first.data.startswith(b"%PDF")
    session.expire_all()
    names = {f.name for f in session.exec(select(PublicationFile)).all()}
    assert "pdf:id:opd:bpbd" in names
    assert client.get("/r/uji-2026/opd/bpbd.pdf").headers["ETag"] == first.headers["ETag"]
    assert client.get("/r/uji-2026/opd/nope.pdf").status_code == 404


def test_web_publish_builds_every_file(client, session: Session, users, open_wave) -> None:
    fill(session, open_wave)
    set_wave_status(session, slug="uji-2026", status="closed")
    login(client)
    token = csrf_token(client, "/kerja/gelombang/uji-2026")
    response = client.post(
        "/kerja/gelombang/uji-2026/status",
        data={
            "csrf_token": token,
            "action": "publish",
            "acknowledge": list(checklist.ACKNOWLEDGEABLE_CODES),
        },
    )
    assert response.status_code == 303
    publication = publication_of(session)
    assert publication.status == "ready" and publication.completed_at is not None
    names = {f.name for f in session.exec(select(PublicationFile)).all()}
    expected = {"data:scored", "zip:open-data"}
    for lang in ("id", "en"):
        expected |= {f"page:{lang}:wave", f"pdf:{lang}:ranking"}
        expected |= {f"page:{lang}:opd:{slug}" for slug in ("bpbd", "rsud", "dishub")}
        for kind in ("opd", "opd-full"):
            expected |= {f"pdf:{lang}:{kind}:{slug}" for slug in ("bpbd", "rsud")}  # scored
    assert names == expected
    assert publication.done == publication.total == len(expected)
    detail = client.get("/kerja/gelombang/uji-2026").get_data(as_text=True)
    assert "Versi 1 publik." in detail
    entries = session.exec(select(AuditLog).where(AuditLog.action == "wave.publish")).all()
    assert [(e.actor, e.detail["version"]) for e in entries] == [("eva", 1)]


def test_cli_publish_without_reports(runner, client, session: Session, open_wave) -> None:
    fill(session, open_wave)
    set_wave_status(session, slug="uji-2026", status="closed")
    result = runner.invoke(
        args=["wave", "publish", "uji-2026", "--acknowledge", "all", "--no-reports"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Checklist of wave uji-2026 before publishing:"
    assert "Wave uji-2026 is now published" in lines
    assert lines[-1] == "Wave uji-2026: version 1 is public"
    publication = publication_of(session)
    assert lines[-2] == f"Version 1: {publication.done} of {publication.total} files"
    assert publication.ready_at is not None and publication.completed_at is None
    names = {f.name for f in session.exec(select(PublicationFile)).all()}
    assert not any(name.startswith("pdf:") for name in names)
    assert client.get("/hasil/uji-2026").status_code == 200


def test_a_wave_published_before_versions_gets_a_version_to_build(
    app, client, runner, session: Session, open_wave
) -> None:
    """Migration 0009 gives a wave published before it a version 1, built by ``ikm wave
    snapshot`` from its data, with its original publication time as "data taken"."""
    from alembic import command

    from survey.core.database import alembic_config, upgrade
    from survey.web.database import get_engine

    fill(session, open_wave)
    session.close()
    engine = get_engine(app)
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0008")
    with engine.begin() as connection:  # published as before versions existed
        connection.execute(
            sa.text(
                "UPDATE wave SET status = 'published', published_at = :at WHERE slug = 'uji-2026'"
            ),
            {"at": datetime(2026, 6, 30, 3, 0, tzinfo=UTC)},
        )
    upgrade(engine)

    legacy = publication_of(session)
    assert (legacy.status, legacy.version, legacy.done, legacy.total) == ("building", 1, 0, 0)
    assert legacy.data_taken_at == datetime(2026, 6, 30, 3, 0, tzinfo=UTC)
    # (A reader arriving now would start the build too: its job never ran, see the next test.)
    result = runner.invoke(args=["wave", "snapshot", "uji-2026"])

    assert result.exit_code == 0, result.output
    assert "version 1 is public" in result.output
    assert publication_of(session).status == "ready"
    page = client.get("/hasil/uji-2026")
    assert page.status_code == 200
    assert "30 Juni 2026" in page.get_data(as_text=True)  # data taken: the publication's day


def test_a_legacy_version_is_built_by_its_first_reader(
    app, client, session: Session, open_wave
) -> None:
    """Migration 0009's version 1 of an old publication has never had a job: the first reader
    who is told "being prepared" starts it (its creation time is the old publication's)."""
    publish_unbuilt(session, open_wave)
    old = datetime(2026, 6, 30, 3, 0, tzinfo=UTC)  # as 0009 writes it: no heartbeat ever
    session.execute(sa.update(Publication).values(created_at=old, heartbeat_at=None))
    session.commit()
    assert client.get("/hasil/uji-2026").status_code == 503
    session.expire_all()
    assert publication_of(session).status == "ready"
    assert client.get("/hasil/uji-2026").status_code == 200


def test_a_report_made_after_a_rename_keeps_the_published_names(
    client, session: Session, published
) -> None:
    """A report the job has not reached yet is made from the frozen version: an OPD renamed
    (or a wave retitled during a correction) after publication does not reach it."""
    from code_helpers import pdf_text

    assert publication_of(session).completed_at is None  # the reports are not built yet
    old_name = rename_bpbd(session)
    for path in ("/r/uji-2026/opd/bpbd.pdf", "/r/uji-2026/ranking.pdf"):
        response = client.get(path)
        assert response.status_code == 200, path
        text = pdf_text(response.get_data())
        assert "Badan Baru" not in text, path
        assert " ".join(old_name.split()) in text, path

"""The evaluator's logo on the report covers (issue 13, item 7).

A logo is checked before anything is written (PNG or JPEG by content, at most 512 KB, sane
dimensions read before decoding, decoded in full), stored per wave from the workspace page or
``ikm wave logo``, audited, frozen once the wave is published, and printed on the cover of the
ranking report and in the header of every OPD report, beside the evaluator's name.
"""

from __future__ import annotations

import functools
import io
import random
import struct
import zlib

import pypdf
import pytest
from auth_helpers import csrf_token, login
from flask.testing import FlaskClient
from PIL import Image
from sqlmodel import Session, select
from survey_helpers import add_responses, create_wave, set_wave_status

from reports.opd import render_opd_pdf
from reports.ranking import render_ranking_pdf
from survey.core import logos
from survey.core.models import AuditLog, WaveLogo
from survey.core.reportdata import opd_report_data
from survey.core.scores import score_wave

PAGE = "/kerja/gelombang/logo-2026/logo"
EVALUATOR = "DPD KNPI Kota Serang"


def png(width: int = 300, height: int = 120, colour: str = "#0b3d66") -> bytes:
    """Return a small real PNG."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def noisy_png(width: int = 300, height: int = 120) -> bytes:
    """Return a PNG of random pixels (so its image data is long and cannot be cut unnoticed)."""
    pixels = random.Random(0).randbytes(width * height * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), pixels).save(out, "PNG")
    return out.getvalue()


def jpeg(width: int = 200, height: int = 200) -> bytes:
    """Return a small real JPEG."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), "#c00000").save(out, "JPEG", quality=80)
    return out.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@functools.cache
def png_bomb(side: int = 20_000) -> bytes:
    """Return a genuine decompression bomb: a 1-bit side x side PNG of zeros, ~50 KB on disk.

    Decoded it is side² pixels (400 million for the default), 50 MB of raw rows.
    """
    row = b"\x00" * (1 + side // 8)  # filter byte + packed bits
    raw = zlib.compress(row * side, 9)
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", raw) + _chunk(b"IEND", b"")
    )


# --- The checks, without a database -----------------------------------------------------------


def test_a_png_and_a_jpeg_pass_with_their_type_and_size() -> None:
    checked = logos.check_logo(png(300, 120))
    assert (checked.media_type, checked.width, checked.height) == ("image/png", 300, 120)
    checked = logos.check_logo(jpeg(200, 180))
    assert (checked.media_type, checked.width, checked.height) == ("image/jpeg", 200, 180)


def _code(data: bytes) -> str:
    with pytest.raises(logos.LogoError) as caught:
        logos.check_logo(data)
    return caught.value.problems[0].code


def test_bad_files_are_refused_with_their_reason() -> None:
    gif = io.BytesIO()
    Image.new("RGB", (50, 50)).save(gif, "GIF")
    assert _code(b"") == "logo-empty"
    assert _code(b"%PDF-1.7 not an image") == "logo-not-image"
    assert _code(gif.getvalue()) == "logo-not-image"
    assert _code(noisy_png()[:2000]) == "logo-broken"  # cut off after the header
    assert _code(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64) == "logo-not-image"
    assert _code(png(8, 8)) == "logo-dimensions"
    assert _code(png(4001, 20)) == "logo-dimensions"
    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * logos.MAX_LOGO_BYTES
    with pytest.raises(logos.LogoError) as caught:
        logos.check_logo(big)
    assert caught.value.problems[0].values == {
        "field": "logo",
        "size": logos.MAX_LOGO_BYTES + 8,
        "limit": 524_288,
    }


def test_a_png_bomb_is_refused_from_its_header_without_decoding() -> None:
    bomb = png_bomb()
    assert len(bomb) < 100_000  # small on disk ...
    with pytest.raises(logos.LogoError) as caught:
        logos.check_logo(bomb)
    assert caught.value.problems[0].code == "logo-dimensions"
    assert dict(caught.value.problems[0].params)["width"] == 20_000  # ... 400 Mpx inside


def test_a_jpeg_bomb_is_refused_by_its_frame_header() -> None:
    real = jpeg(64, 48)
    at = real.index(b"\xff\xc0")  # baseline frame header: height, then width, at +5
    claimed = real[: at + 5] + (30_000).to_bytes(2, "big") * 2 + real[at + 9 :]
    with pytest.raises(logos.LogoError) as caught:
        logos.check_logo(claimed)
    problem = caught.value.problems[0]
    assert (problem.code, problem.values["width"], problem.values["height"]) == (
        "logo-dimensions",
        30_000,
        30_000,
    )


# --- The workspace page -----------------------------------------------------------------------


@pytest.fixture
def wave(session: Session, users):
    """A closed wave over BPBD and RSUD with a few answers each, run by KNPI."""
    made = create_wave(
        session,
        slug="logo-2026",
        title="Uji Logo 2026",
        opd_slugs=["bpbd", "rsud"],
        status="open",
        evaluator=EVALUATOR,
    )
    add_responses(session, made, "bpbd", [[4] * 9, [3] * 9, [4, 3] * 4 + [4]])
    add_responses(session, made, "rsud", [[2] * 9, [3] * 9, [2, 3] * 4 + [3]])
    return set_wave_status(session, slug="logo-2026", status="closed")


def post_logo(client: FlaskClient, data: bytes, filename: str = "logo.png"):
    form = {"berkas": (io.BytesIO(data), filename), "csrf_token": csrf_token(client)}
    return client.post(PAGE, data=form, content_type="multipart/form-data")


def stored_logo(session: Session) -> WaveLogo | None:
    session.expire_all()
    return session.exec(select(WaveLogo)).first()


def logo_audits(session: Session) -> list[tuple[str, dict]]:
    rows = session.exec(select(AuditLog).order_by(AuditLog.id)).all()
    return [(r.action, r.detail) for r in rows if r.action.startswith("wave.logo")]


def test_an_evaluator_uploads_previews_replaces_and_removes_the_logo(
    client: FlaskClient, session: Session, wave
) -> None:
    login(client)
    page = client.get(PAGE).get_data(as_text=True)
    assert "Belum ada logo; sampul laporan hanya memuat nama evaluator." in page

    first = png(300, 120)
    answer = post_logo(client, first)
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith(f"{PAGE}?pesan=disimpan")
    logo = stored_logo(session)
    assert logo is not None and (logo.media_type, logo.data) == ("image/png", first)
    page = client.get(PAGE + "?pesan=disimpan").get_data(as_text=True)
    assert "Logo disimpan. Laporan peringkat dan laporan OPD kini memuatnya di sampul." in page
    assert 'class="logo-preview"' in page
    image = client.get(PAGE + "/gambar")
    assert (image.status_code, image.mimetype, image.data) == (200, "image/png", first)
    assert image.headers["Cache-Control"] == "private, no-store"

    second = jpeg()
    assert post_logo(client, second, "logo.jpg").status_code == 303
    logo = stored_logo(session)
    assert logo is not None and (logo.media_type, logo.data) == ("image/jpeg", second)
    assert len(session.exec(select(WaveLogo)).all()) == 1

    removed = client.post(PAGE + "/hapus", data={"csrf_token": csrf_token(client, PAGE)})
    assert removed.status_code == 303 and stored_logo(session) is None
    assert client.get(PAGE + "/gambar").status_code == 404

    audits = logo_audits(session)
    assert [action for action, _detail in audits] == [
        "wave.logo.add",
        "wave.logo.replace",
        "wave.logo.remove",
    ]
    assert {k: audits[0][1][k] for k in ("wave", "media_type", "bytes", "width", "height")} == {
        "wave": "logo-2026",
        "media_type": "image/png",
        "bytes": len(first),
        "width": 300,
        "height": 120,
    }


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (b"nama,umur\nBudi,30\n", 400, "Berkas logo bukan gambar PNG atau JPEG."),
        (
            png_bomb(),
            400,
            "Logo berukuran 20.000 × 20.000 piksel; setiap sisi harus 16 sampai "
            "4.000 piksel dan luasnya paling banyak 8.000.000 piksel.",
        ),
        (noisy_png()[:2000], 400, "Berkas logo adalah gambar PNG yang rusak atau tidak lengkap."),
    ],
    ids=["csv", "bomb", "truncated"],
)
def test_a_bad_file_gets_a_clear_error_and_changes_nothing(
    client: FlaskClient, session: Session, wave, data: bytes, status: int, message: str
) -> None:
    login(client)
    assert post_logo(client, png()).status_code == 303
    before = stored_logo(session)
    assert before is not None
    kept = (before.data, before.uploaded_at)
    answer = post_logo(client, data)
    assert answer.status_code == status
    page = answer.get_data(as_text=True)
    assert message in page.replace("&#215;", "×")
    assert 'aria-invalid="true"' in page
    after = stored_logo(session)
    assert after is not None and (after.data, after.uploaded_at) == kept
    assert [a for a, _d in logo_audits(session)] == ["wave.logo.add"]


@pytest.mark.parametrize(
    ("size", "message"),
    [
        (150 * 1024, "Berkas terlalu besar: batasnya 100 KB."),  # past the route's body limit
        (100 * 1024 + 1, "Berkas logo berukuran 101 KB; paling besar 100 KB."),
    ],
    ids=["over-body-limit", "just-over"],
)
def test_a_file_over_the_limit_is_refused(
    client: FlaskClient,
    session: Session,
    wave,
    monkeypatch: pytest.MonkeyPatch,
    size: int,
    message: str,
) -> None:
    # A smaller limit than the real 512 KB: the test client spools bodies over 500 KB to
    # temporary files it never closes.
    monkeypatch.setattr(logos, "MAX_LOGO_BYTES", 100 * 1024)
    login(client)
    answer = post_logo(client, b"\xff\xd8\xff" + b"\x00" * (size - 3))
    assert answer.status_code == 413
    assert message in answer.get_data(as_text=True)
    assert stored_logo(session) is None and logo_audits(session) == []


def test_the_error_is_in_english_on_the_english_page(
    client: FlaskClient, session: Session, wave
) -> None:
    login(client)
    form = {"berkas": (io.BytesIO(b"plain text"), "x.png"), "csrf_token": csrf_token(client, PAGE)}
    answer = client.post(PAGE + "?lang=en", data=form, content_type="multipart/form-data")
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert "The logo could not be saved:" in page
    assert "The logo file is not a PNG or JPEG image." in page
    assert stored_logo(session) is None


def test_a_published_wave_keeps_its_logo(client: FlaskClient, session: Session, wave) -> None:
    login(client)
    assert post_logo(client, png()).status_code == 303
    set_wave_status(session, slug="logo-2026", status="published")
    frozen = "Gelombang ini sudah diterbitkan: sampul laporannya tetap, logonya tidak dapat diubah."
    assert frozen in client.get(PAGE).get_data(as_text=True)
    answer = post_logo(client, jpeg())
    assert answer.status_code == 409 and frozen in answer.get_data(as_text=True)
    removed = client.post(PAGE + "/hapus", data={"csrf_token": csrf_token(client)})
    assert removed.status_code == 409
    logo = stored_logo(session)
    assert logo is not None and logo.data == png()
    assert [a for a, _d in logo_audits(session)] == ["wave.logo.add"]


def test_only_staff_reach_the_logo_page(client: FlaskClient, wave) -> None:
    assert client.get(PAGE).status_code == 302  # to the sign-in page
    login(client, "kepala-bpbd")
    assert client.get(PAGE).status_code == 403
    assert client.get(PAGE + "/gambar").status_code == 403


# --- The command line -------------------------------------------------------------------------


def test_ikm_wave_logo_sets_and_removes(runner, session: Session, wave, tmp_path) -> None:
    good = tmp_path / "knpi.png"
    good.write_bytes(png(300, 120))
    result = runner.invoke(args=["wave", "logo", "logo-2026", str(good)])
    assert result.exit_code == 0, result.output
    assert (
        result.output == f"Wave logo-2026: logo stored (image/png, {len(png(300, 120)):,} bytes)\n"
    )
    logo = stored_logo(session)
    assert logo is not None and logo.data == good.read_bytes()

    bad = tmp_path / "knpi.png.txt"
    bad.write_bytes(b"not an image")
    result = runner.invoke(args=["wave", "logo", "logo-2026", str(bad)])
    assert result.exit_code == 1
    assert "the logo file is not a PNG or JPEG image" in result.output
    logo = stored_logo(session)
    assert logo is not None and logo.data == good.read_bytes()

    result = runner.invoke(args=["wave", "logo", "logo-2026", "--remove"])
    assert (result.exit_code, result.output) == (0, "Wave logo-2026: logo removed\n")
    assert stored_logo(session) is None
    result = runner.invoke(args=["wave", "logo", "logo-2026", "--remove"])
    assert (result.exit_code, result.output) == (0, "Wave logo-2026 has no logo\n")
    assert runner.invoke(args=["wave", "logo", "logo-2026"]).exit_code == 2
    assert [a for a, _d in logo_audits(session)] == ["wave.logo.add", "wave.logo.remove"]


# --- The reports --------------------------------------------------------------------------------


def _first_page(pdf: bytes) -> tuple[str, list[tuple[int, int]]]:
    page = pypdf.PdfReader(io.BytesIO(pdf)).pages[0]
    sizes = [(img.image.width, img.image.height) for img in page.images if img.image is not None]
    return " ".join(page.extract_text().split()), sizes


def test_the_logo_is_on_the_ranking_cover_and_the_opd_report_header(session: Session, wave) -> None:
    plain = score_wave(session, wave=wave)
    assert plain.logo is None
    text, images = _first_page(render_ranking_pdf(plain))
    assert EVALUATOR in text and (411, 157) not in images
    logos.store_logo(session, wave=wave, data=png(411, 157), actor=None)

    scored = score_wave(session, wave=wave)
    assert scored.logo is not None and scored.logo.data == png(411, 157)
    text, images = _first_page(render_ranking_pdf(scored))
    assert f"PENYELENGGARA SURVEI {EVALUATOR}" in text
    assert (411, 157) in images
    data = opd_report_data(session, wave=wave, ranking=scored, opd_slug="bpbd", public=True)
    text, images = _first_page(render_opd_pdf(data))
    assert f"Penyelenggara survei: {EVALUATOR}" in text
    assert (411, 157) in images


def test_the_cached_scores_follow_a_new_logo(client: FlaskClient, session: Session, wave) -> None:
    from survey.web.results import scored_wave

    login(client)
    app = client.application
    with app.test_request_context():
        from survey.web.database import get_session

        assert scored_wave(get_session(), wave=wave).logo is None
    assert post_logo(client, png(64, 64)).status_code == 303
    with app.test_request_context():
        from survey.core import queries
        from survey.web.database import get_session

        fresh = queries.get_wave(get_session(), slug="logo-2026")
        assert fresh is not None
        logo = scored_wave(get_session(), wave=fresh).logo
        assert logo is not None and logo.data == png(64, 64)

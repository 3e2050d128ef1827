"""QR codes for the survey posters: the right URL, from PUBLIC_URL, as SVG."""

from __future__ import annotations

import io

import pytest
import segno
from survey_helpers import SurveyActions, add_opd, install_clock

from survey.core import queries
from survey.web.qr import QR_ERROR, SVG_OPTIONS

EXPECTED_URL = "https://skm.example.go.id/s/uji-2026/bpbd"


def segno_svg(url: str) -> bytes:
    """Return the SVG segno itself makes for ``url`` with the options the view documents."""
    buffer = io.BytesIO()
    segno.make_qr(url, error=QR_ERROR).save(buffer, kind="svg", title=url, **SVG_OPTIONS)
    return buffer.getvalue()


@pytest.fixture
def visitor(app, open_wave, monkeypatch):
    """A browser with an app context per request (see survey_helpers)."""
    return SurveyActions(app, install_clock(monkeypatch))


def test_qr_encodes_the_public_survey_url(visitor):
    """The SVG is segno's code for PUBLIC_URL + /s/<wave>/<opd>, served as image/svg+xml."""
    response = visitor.get("/qr/uji-2026/bpbd.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    body = response.get_data()
    assert body == segno_svg(EXPECTED_URL)
    assert body != segno_svg("https://skm.example.go.id/s/uji-2026/rsud")
    assert body.startswith(b"<?xml") and b"<svg" in body
    assert f"<title>{EXPECTED_URL}</title>".encode() in body


def test_qr_ignores_the_request_host(visitor):
    """A request through another host name still encodes the configured public address."""
    response = visitor.get("/qr/uji-2026/bpbd.svg", base_url="http://10.0.0.5:8000")
    assert response.get_data() == segno_svg(EXPECTED_URL)
    assert b"10.0.0.5" not in response.get_data()


def test_qr_follows_public_url(app, visitor):
    """Changing PUBLIC_URL changes the encoded address."""
    app.config["PUBLIC_URL"] = "https://skm.serangkota.go.id"
    body = visitor.get("/qr/uji-2026/rsud.svg").get_data()
    assert body == segno_svg("https://skm.serangkota.go.id/s/uji-2026/rsud")


def test_qr_cache_headers(visitor):
    """The image may be cached for a day and revalidated by its ETag."""
    response = visitor.get("/qr/uji-2026/bpbd.svg")
    assert response.headers["Cache-Control"] == "public, max-age=86400"
    etag = response.headers["ETag"]
    again = visitor.get("/qr/uji-2026/bpbd.svg", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""


@pytest.mark.parametrize(
    "path",
    ["/qr/tidak-ada/bpbd.svg", "/qr/uji-2026/tidak-ada.svg", "/qr/uji-2026/satpol-pp.svg"],
)
def test_qr_unknown_wave_or_opd_is_404(visitor, session, path):
    """No code for an unknown wave, an unknown OPD or an OPD the wave does not cover."""
    add_opd(session, slug="satpol-pp", name="Satuan Polisi Pamong Praja")
    response = visitor.get(path)
    assert response.status_code == 404
    assert "Halaman tidak ditemukan" in response.get_data(as_text=True)


@pytest.mark.parametrize("status", ["draft", "closed", "published"])
def test_qr_for_any_wave_status(visitor, session, status):
    """Posters are printed before a wave opens, so drafts (and closed waves) get their code."""
    wave = queries.get_wave(session, slug="uji-2026")
    wave.status = status
    session.add(wave)
    session.commit()
    response = visitor.get("/qr/uji-2026/dishub.svg")
    assert response.status_code == 200
    assert response.get_data() == segno_svg("https://skm.example.go.id/s/uji-2026/dishub")

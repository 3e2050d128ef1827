"""The OPD head's pages and the access rules of the OPD report PDF.

An OPD head reads only their own OPD (another OPD's page or PDF is 404), sees closed and
published waves only, the three weakest elements as the follow-up priorities, the respondent
profile without groups under 5 and the comments only from 8 counted responses, escaped.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from auth_helpers import AuthActions, login
from flask.testing import FlaskClient
from sqlmodel import Session, select
from survey_helpers import add_responses, create_wave, set_wave_status

from reports.texts import Texts
from survey.core.models import Wave

# Every element differs, so the three weakest are unambiguous: U7 < U3 < U9 < the rest.
SHAPED = [4, 4, 2, 4, 3, 4, 1, 4, 3]
SHAPED_ALT = [3, 4, 2, 3, 4, 3, 2, 4, 2]
SCRIPT = "<script>alert('x')</script> loket lambat"


def set_status(session: Session, slug: str, status: str) -> Wave:
    """Put a wave in `status` directly (tests need any status, in any order).

    Publishing goes through the life cycle, which freezes the wave's public snapshot.
    """
    if status == "published":
        return set_wave_status(session, slug=slug, status=status)
    session.expire_all()
    wave = session.exec(select(Wave).where(Wave.slug == slug)).one()
    wave.status = status
    session.add(wave)
    session.commit()
    return wave


@pytest.fixture
def closed(session: Session, open_wave, users) -> Wave:
    """The sample wave, closed: bpbd 20 shaped answers, rsud 10, dishub 7 with comments."""
    add_responses(session, open_wave, "bpbd", [SHAPED, SHAPED_ALT] * 10, sex="L", age=30)
    add_responses(session, open_wave, "rsud", [[2] * 9] * 10)
    add_responses(session, open_wave, "dishub", [[3] * 9] * 7, comment=SCRIPT)
    return set_status(session, "uji-2026", "closed")


def scores(runner, wave: str = "uji-2026") -> dict[str, dict]:
    """``ikm score --format json`` by OPD slug."""
    result = runner.invoke(args=["score", "--wave", wave, "--format", "json"])
    assert result.exit_code == 0, result.output
    return {row["opd"]: row for row in json.loads(result.stdout)}


def test_home_redirects_an_opd_head_to_their_opd(client, closed) -> None:
    anonymous = client.get("/kerja/opd-saya")
    assert anonymous.status_code == 302 and urlsplit(anonymous.headers["Location"]).path == "/masuk"
    login(client, "kepala-bpbd")
    response = client.get("/kerja/opd-saya")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/kerja/hasil-opd/bpbd"


def test_home_lists_opds_for_staff(client, closed) -> None:
    login(client, "eva")
    page = client.get("/kerja/opd-saya").get_data(as_text=True)
    for slug in ("bpbd", "rsud", "dishub"):
        assert f'href="/kerja/hasil-opd/{slug}"' in page


def test_opd_head_reads_only_their_own_opd(client, closed) -> None:
    assert urlsplit(client.get("/kerja/hasil-opd/bpbd").headers["Location"]).path == "/masuk"
    login(client, "kepala-bpbd")
    assert client.get("/kerja/hasil-opd/bpbd").status_code == 200
    assert client.get("/kerja/hasil-opd/bpbd/uji-2026").status_code == 200
    for path in (
        "/kerja/hasil-opd/rsud",
        "/kerja/hasil-opd/rsud/uji-2026",
        "/kerja/hasil-opd/nope",
        "/kerja/hasil-opd/bpbd/nope",
    ):
        assert client.get(path).status_code == 404, path


@pytest.mark.parametrize("username", ["eva", "admin"])
def test_staff_read_every_opd(client, closed, username) -> None:
    login(client, username)
    for slug in ("bpbd", "rsud", "dishub"):
        assert client.get(f"/kerja/hasil-opd/{slug}").status_code == 200
        assert client.get(f"/kerja/hasil-opd/{slug}/uji-2026").status_code == 200


def test_waves_listed_closed_and_published_only_with_trend(client, session, closed) -> None:
    login(client, "kepala-bpbd")
    page = client.get("/kerja/hasil-opd/bpbd").get_data(as_text=True)
    assert "Uji Coba 2026" in page and "belum diterbitkan" in page
    assert "<img" not in page  # one wave: no trend yet
    for slug, title, status in (
        ("draf-2027", "Gelombang Draf", "draft"),
        ("buka-2027", "Gelombang Terbuka", "open"),
        ("terbit-2027", "Gelombang Terbit", "published"),
    ):
        wave = create_wave(session, slug=slug, title=title, opd_slugs=["bpbd"])
        add_responses(session, wave, "bpbd", [[3] * 9] * 10)
        set_status(session, slug, status)
    page = client.get("/kerja/hasil-opd/bpbd").get_data(as_text=True)
    assert "Gelombang Terbit" in page and "Uji Coba 2026" in page
    assert "Gelombang Draf" not in page and "Gelombang Terbuka" not in page
    published_row = re.search(r'<tr id="gelombang-terbit-2027">(.*?)</tr>', page, re.S)
    closed_row = re.search(r'<tr id="gelombang-uji-2026">(.*?)</tr>', page, re.S)
    assert published_row and "belum diterbitkan" not in published_row[1]
    assert closed_row and "belum diterbitkan" in closed_row[1]
    trend = re.findall(r'<img src="data:image/svg\+xml;base64,[^"]+" alt="([^"]+)"', page)
    assert trend == [Texts("id")("opd.chart_trend_alt")]
    assert "style=" not in page
    # Draft and open waves are not readable by the OPD head, but by staff.
    assert client.get("/kerja/hasil-opd/bpbd/buka-2027").status_code == 404
    assert client.get("/kerja/hasil-opd/bpbd/draf-2027").status_code == 404
    client.post("/keluar", data={"csrf_token": AuthActions(client).token("/kerja")})
    login(client, "eva")
    assert client.get("/kerja/hasil-opd/bpbd/buka-2027").status_code == 200


def test_wave_page_scores_and_priorities(client, runner, closed) -> None:
    login(client, "kepala-bpbd")
    page = client.get("/kerja/hasil-opd/bpbd/uji-2026").get_data(as_text=True)
    bpbd = scores(runner)["bpbd"]
    assert f'<dd class="ikm">{bpbd["ikm"]:.2f}'.replace(".", ",") in page
    assert "belum diterbitkan" in page
    lowest = sorted(bpbd["elements"], key=lambda c: (bpbd["elements"][c]["nrr"], c))[:3]
    assert lowest == ["U7", "U3", "U9"]
    priorities = re.findall(r'<li id="prioritas-(U\d+)">', page)
    assert priorities == lowest
    for code in lowest:
        assert re.search(rf'<tr id="unsur-{code}" class="weak">', page)
    assert 'href="/r/uji-2026/opd/bpbd.pdf?lang=id"' in page
    assert '<img src="data:image/svg+xml;base64,' in page and "style=" not in page


def test_profile_hides_groups_under_five(client, session, closed) -> None:
    add_responses(session, closed, "bpbd", [[4] * 9] * 3, sex="P", age=70)
    login(client, "kepala-bpbd")
    page = client.get("/kerja/hasil-opd/bpbd/uji-2026").get_data(as_text=True)
    sex = re.search(r'<table class="profile-table" id="profil-sex">(.*?)</table>', page, re.S)
    assert sex and "Laki-laki" in sex[1] and ">20<" in sex[1]
    assert "Perempuan" not in page  # 3 women: too few to show, even merged
    assert "≥ 55" not in page


def test_comments_hidden_under_eight_shown_escaped_from_eight(client, session, closed) -> None:
    login(client, "eva")
    page = client.get("/kerja/hasil-opd/dishub/uji-2026").get_data(as_text=True)
    assert "loket lambat" not in page and "kurang dari 8 respons" in page
    add_responses(
        session,
        closed,
        "dishub",
        [[3] * 9],
        comment=SCRIPT,
        submitted_at=datetime(2026, 11, 24, 7, 5, tzinfo=UTC),
    )
    page = client.get("/kerja/hasil-opd/dishub/uji-2026").get_data(as_text=True)
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; loket lambat" in page
    assert "<script>" not in page
    assert page.count('<span class="comment">') == 8
    assert "24 November 2026" in page


def test_public_page_stays_404_for_a_closed_wave(client, closed) -> None:
    login(client, "kepala-bpbd")
    assert client.get("/hasil/uji-2026/bpbd").status_code == 404


def pdf_status(client: FlaskClient, opd: str = "bpbd") -> int:
    """The status of the OPD PDF of `opd` (a redirect's target checked by the caller)."""
    return client.get(f"/r/uji-2026/opd/{opd}.pdf").status_code


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        # (anonymous, own head, other OPD's head, evaluator, admin)
        ("published", (200, 200, 200, 200, 200)),
        ("closed", (302, 200, 404, 200, 200)),
        ("open", (404, 404, 404, 200, 200)),
        ("draft", (404, 404, 404, 200, 200)),
    ],
)
def test_opd_pdf_access(client, session, closed, status, expected) -> None:
    set_status(session, "uji-2026", status)
    got = []
    for username in (None, "kepala-bpbd", "kepala-rsud", "eva", "admin"):
        if username is not None:
            login(client, username)
        response = client.get("/r/uji-2026/opd/bpbd.pdf")
        got.append(response.status_code)
        if response.status_code == 302:
            assert urlsplit(response.headers["Location"]).path == "/masuk"
        if response.status_code == 200:
            assert response.mimetype == "application/pdf" and response.data[:5] == b"%PDF-"
            # The full copy (comments) for the OPD's head and staff, never kept by a cache.
            private = "private" in response.headers["Cache-Control"]
            assert private == (username in ("kepala-bpbd", "eva", "admin"))
        if username is not None:
            client.post("/keluar", data={"csrf_token": AuthActions(client).token("/kerja")})
    assert tuple(got) == expected


def test_ranking_pdf_is_published_only_and_posters_staff_only(client, session, closed) -> None:
    login(client, "eva")
    assert client.get("/r/uji-2026/ranking.pdf").status_code == 404  # closed, even for staff
    assert client.get("/r/uji-2026/posters.pdf").status_code == 200
    client.post("/keluar", data={"csrf_token": AuthActions(client).token("/kerja")})
    login(client, "kepala-bpbd")
    assert client.get("/r/uji-2026/posters.pdf").status_code == 403


def test_pages_in_english(client, session, closed) -> None:
    add_responses(session, closed, "dishub", [[3] * 9], comment="Fast service")
    login(client, "eva")
    page = client.get("/kerja/hasil-opd/dishub/uji-2026?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "Follow-up plan" in page and "Citizens&#39; comments" in page
    assert "Fast service" in page and "3.00" in page
    page = client.get("/kerja/hasil-opd/dishub?lang=en").get_data(as_text=True)
    assert "Score (25–100)" in page and "75.00" in page


def test_the_public_pdf_has_no_comments(client, session, closed) -> None:
    """Once published, anyone reads the OPD's PDF, but the comments only in the head's copy."""
    import io

    from pypdf import PdfReader

    def text(data: bytes) -> str:
        return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)

    add_responses(session, closed, "bpbd", [[3] * 9] * 8, comment="Antrean loket terlalu lama")
    set_status(session, "uji-2026", "published")
    public = text(client.get("/r/uji-2026/opd/bpbd.pdf").data)
    assert "Antrean loket" not in public
    assert "Salinan publik" in public
    login(client, "kepala-bpbd")
    own = text(client.get("/r/uji-2026/opd/bpbd.pdf").data)
    assert "Antrean loket terlalu lama" in own and "Salinan publik" not in own

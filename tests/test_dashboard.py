"""The evaluator's live dashboard: who may see it, the figures it shows, refresh and TV mode."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from auth_helpers import AuthActions
from flask.testing import FlaskClient
from sqlmodel import Session
from survey_helpers import add_responses, create_wave

DASHBOARD = "/kerja/gelombang/uji-2026/dasbor"
FOURS = [4] * 9
THREES = [3] * 9
LAST = datetime(2026, 11, 24, 7, 5, tzinfo=UTC)  # 14.05 WIB
EARLIER = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)


@pytest.fixture
def evaluator(client: FlaskClient, users, open_wave) -> FlaskClient:
    """The test client signed in as the evaluator."""
    assert AuthActions(client).login("eva").status_code == 302
    return client


@pytest.fixture
def filled(session: Session, open_wave):
    """BPBD: 15 fours and 5 threes counted (IKM 3.75), 2 flagged; RSUD: 3 counted."""
    add_responses(session, open_wave, "bpbd", [FOURS] * 15, submitted_at=EARLIER)
    add_responses(session, open_wave, "bpbd", [THREES] * 5, submitted_at=LAST)
    add_responses(
        session,
        open_wave,
        "bpbd",
        [[1] * 9] * 2,
        status="flagged",
        reason="speed",
        submitted_at=EARLIER,
    )
    add_responses(session, open_wave, "rsud", [FOURS] * 3, submitted_at=EARLIER)
    return open_wave


def opd_row(html: str, slug: str) -> str:
    """Return the table row of one OPD with its tags stripped and spaces collapsed."""
    match = re.search(rf'<tr id="opd-{slug}">(.*?)</tr>', html, re.S)
    assert match, html
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


def page(client: FlaskClient, url: str = DASHBOARD) -> str:
    """GET ``url`` and return its HTML, checking it answered 200."""
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_anonymous_is_sent_to_login(client: FlaskClient, users, open_wave) -> None:
    """Without signing in, the dashboard (and its TV mode) redirects to the sign-in page."""
    for url in (DASHBOARD, DASHBOARD + "/tv", DASHBOARD + "?tv=1"):
        response = client.get(url)
        assert response.status_code == 302
        assert urlsplit(response.headers["Location"]).path == "/masuk"


@pytest.mark.parametrize(
    ("username", "status"), [("kepala-bpbd", 403), ("eva", 200), ("admin", 200)]
)
def test_roles(client: FlaskClient, users, open_wave, username: str, status: int) -> None:
    """Evaluators and admins see the dashboard; an OPD head gets 403, in TV mode too."""
    AuthActions(client).login(username)
    assert client.get(DASHBOARD).status_code == status
    assert client.get(DASHBOARD + "/tv").status_code == status


def test_unknown_wave_is_404(evaluator: FlaskClient) -> None:
    """A wave that does not exist gives 404."""
    assert evaluator.get("/kerja/gelombang/tidak-ada/dasbor").status_code == 404
    assert evaluator.get("/kerja/gelombang/tidak-ada/dasbor/tv").status_code == 404


def test_figures_of_an_opd(evaluator: FlaskClient, filled) -> None:
    """Counted against target, IKM with a decimal comma, flagged count, last time in WIB."""
    html = page(evaluator)
    row = opd_row(html, "bpbd")
    assert "20 / 30" in row
    # Every element: (15 * 4 + 5 * 3) / 20 = 3.75; converted 3.75 * 25 = 93.75.
    assert "3,75" in row
    assert "93,75" in row
    assert "24 November 2026 14.05 WIB" in row
    assert re.search(r'<tr id="opd-bpbd">.*?<td class="num flagged">2</td>', html, re.S)
    assert '<progress value="20" max="30">' in html
    assert "belum cukup data" not in row


def test_too_few_responses_show_no_score(evaluator: FlaskClient, filled) -> None:
    """An OPD with 3 responses shows its count but 'belum cukup data' instead of a score."""
    html = page(evaluator)
    row = opd_row(html, "rsud")
    assert "3 / 30" in row
    assert "belum cukup data" in row
    assert "4,00" not in row
    assert "0 / 30" in opd_row(html, "dishub")


def test_totals_and_order(evaluator: FlaskClient, filled) -> None:
    """Totals over the wave at the top; OPDs listed by name, not by score."""
    html = page(evaluator)
    assert re.search(r'class="total-count">23 / 90<', html)
    assert re.search(r'class="total-flagged">2<', html)
    order = [html.index(f'id="opd-{slug}"') for slug in ("bpbd", "dishub", "rsud")]
    assert order == sorted(order)  # Badan..., Dinas..., Rumah Sakit...


def test_refreshes_itself(evaluator: FlaskClient, filled) -> None:
    """A meta refresh every 60 s, no script, the time the data was taken."""
    html = page(evaluator)
    assert '<meta http-equiv="refresh" content="60">' in html
    assert "<script" not in html
    assert "Data diambil" in html and "WIB" in html
    assert 'class="top"' in html  # the normal page keeps the site header


def test_the_reader_can_stop_the_refresh(evaluator: FlaskClient, filled) -> None:
    """WCAG 2.2.1: a link stops the self-refresh; the paused page links back; TV never stops."""
    html = page(evaluator)
    assert f'href="{DASHBOARD}?segarkan=0"' in html
    paused = page(evaluator, DASHBOARD + "?segarkan=0")
    assert 'http-equiv="refresh"' not in paused
    assert "pembaruan otomatis dihentikan" in paused
    assert f'href="{DASHBOARD}"' in paused
    assert "20 / 30" in opd_row(paused, "bpbd")  # the same figures
    tv = page(evaluator, DASHBOARD + "?tv=1&segarkan=0")
    assert '<meta http-equiv="refresh" content="30">' in tv


def test_tv_mode(evaluator: FlaskClient, filled) -> None:
    """TV mode: no site header or navigation, 30 s refresh, the same figures."""
    for url in (DASHBOARD + "?tv=1", DASHBOARD + "/tv"):
        html = page(evaluator, url)
        assert '<meta http-equiv="refresh" content="30">' in html
        assert "<header" not in html and "<nav" not in html
        assert 'class="dash tv"' in html
        assert "20 / 30" in opd_row(html, "bpbd")
        assert "3,75" in opd_row(html, "bpbd")
        assert "belum cukup data" in opd_row(html, "rsud")


def test_counts_a_new_response_on_the_next_load(
    evaluator: FlaskClient, session: Session, filled
) -> None:
    """A response stored after one load is counted on the next one."""
    assert "20 / 30" in opd_row(page(evaluator), "bpbd")
    add_responses(session, filled, "bpbd", [FOURS])
    assert "21 / 30" in opd_row(page(evaluator), "bpbd")


def test_simulated_wave_says_so(evaluator: FlaskClient, session: Session, users, open_wave) -> None:
    """A simulated wave carries the DATA SIMULASI notice."""
    create_wave(session, slug="demo-2026", title="Demo", status="open", simulated=True, target_n=10)
    assert "DATA SIMULASI" in page(evaluator, "/kerja/gelombang/demo-2026/dasbor")
    assert "DATA SIMULASI" not in page(evaluator)


def test_english(evaluator: FlaskClient, filled) -> None:
    """The dashboard follows the language switch."""
    html = page(evaluator, DASHBOARD + "?lang=en")
    assert "not enough data" in opd_row(html, "rsud")
    assert "3.75" in opd_row(html, "bpbd")


def test_workspace_links_the_dashboards(client: FlaskClient, users, open_wave) -> None:
    """The evaluator's workspace lists the waves with their dashboards; an OPD head's does not."""
    actions = AuthActions(client)
    actions.login("eva")
    html = page(client, "/kerja")
    assert f'href="{DASHBOARD}"' in html
    assert "Uji Coba 2026" in html
    actions.logout()
    actions.login("kepala-bpbd")
    assert DASHBOARD not in page(client, "/kerja")


def test_tv_mode_pages_through_every_opd(
    evaluator: FlaskClient, filled, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TV mode shows a page of OPDs at a time; each refresh (no script) loads the next page,
    the last one leads back to the first, and every OPD is on exactly one page."""
    from survey.web import dashboard

    monkeypatch.setattr(dashboard, "TV_ROWS_PER_PAGE", 2)  # 3 OPDs: pages of 2 and 1
    tv = DASHBOARD + "/tv"
    first, second = page(evaluator, tv), page(evaluator, tv + "?halaman=2")
    assert f'<meta http-equiv="refresh" content="30; url={tv}?halaman=2">' in first
    assert f'<meta http-equiv="refresh" content="30; url={tv}?halaman=1">' in second
    assert "OPD halaman 1 dari 2; halaman berikutnya tampil sendiri." in first
    assert f'<a href="{tv}?halaman=2">Halaman berikutnya</a>' in first
    shown = [re.findall(r'<tr id="opd-([a-z]+)">', html) for html in (first, second)]
    assert len(shown[0]) == 2 and len(shown[1]) == 1
    assert sorted(shown[0] + shown[1]) == ["bpbd", "dishub", "rsud"]
    # A page out of range, or not a number, shows the first page.
    for bad in ("0", "3", "x", "-1", "²", "٣", "9" * 40):
        assert (
            re.findall(r'<tr id="opd-([a-z]+)">', page(evaluator, f"{tv}?halaman={bad}"))
            == (shown[0])
        )


def test_a_score_beside_its_category_is_not_rounded_across_its_bound(
    evaluator: FlaskClient, session: Session, open_wave
) -> None:
    """16 respondents answering 374 points over 144 answers: IKM 374/144 = 2.59722, category
    D (C starts at 2.60). Rounded to 2 decimals it would read "2,60", C's bound: the dashboard
    shows one decimal more, as the public pages and the reports do."""
    rows = [[3] * 9] * 9 + [[3] * 5 + [2] * 4] + [[2] * 9] * 6
    assert sum(map(sum, rows)) == 374 and len(rows) == 16
    add_responses(session, open_wave, "bpbd", rows, submitted_at=EARLIER)
    row = opd_row(page(evaluator), "bpbd")
    assert "2,597" in row and "2,60" not in row
    assert "64,93" in row  # converted 64.93 is clear of the 65.00 bound
    assert "D (" in row

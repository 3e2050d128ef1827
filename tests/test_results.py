"""Public results: only published waves, the same figures as ``ikm score``, charts, per OPD.

The ranking table is parsed back from the page and compared, cell by cell, with
``ikm score --format json`` for the same wave, so the page can never print a figure the
scoring did not produce. Flag decisions are refused once a wave is published.
"""

from __future__ import annotations

import io
import json
import re
from datetime import date
from html import unescape
from urllib.parse import urlsplit

import pypdf
import pytest
from auth_helpers import CSRF_RE, PASSWORD, AuthActions
from sqlmodel import Session, select
from survey_helpers import (
    add_opd,
    add_responses,
    create_wave,
    publish_before_the_checklist,
    set_wave_status,
)

from reports.formatting import format_number
from reports.model import Lang
from reports.ranking import ranking_charts
from survey.core import accounts
from survey.core import scores as score_service
from survey.core.models import AuditLog, Response, Wave

COMMENT = "Antrean <b>panjang</b> sekali"
HIGH = [[4] * 9, [3] * 9, [4] * 8 + [3]]
LOW = [[2] * 9, [1] * 9, [2] * 8 + [3]]


@pytest.fixture
def published(session: Session, open_wave) -> Wave:
    """The sample wave, published: bpbd high (30), rsud low (30, with comments), dishub 6."""
    add_responses(session, open_wave, "bpbd", HIGH * 10)
    add_responses(session, open_wave, "rsud", LOW * 10, comment=COMMENT, sex="L", age=30)
    add_responses(session, open_wave, "dishub", [[3] * 9] * 6)
    add_responses(session, open_wave, "bpbd", [[1] * 9], status="flagged", reason="bot-suspect")
    set_wave_status(session, slug="uji-2026", status="closed")
    return set_wave_status(session, slug="uji-2026", status="published")


def scores(runner, wave: str = "uji-2026") -> dict[str, dict]:
    """``ikm score --format json`` by OPD slug."""
    result = runner.invoke(args=["score", "--wave", wave, "--format", "json"])
    assert result.exit_code == 0, result.output
    return {row["opd"]: row for row in json.loads(result.stdout)}


def text(html: str) -> str:
    """The page's text without tags, whitespace folded."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def cells(page: str, slug: str) -> dict[str, str]:
    """The cells of one OPD's row of the ranking table, by their class, as text."""
    row = re.search(rf'<tr id="opd-{slug}"[^>]*>(.*?)</tr>', page, re.S)
    assert row, f"no row for {slug}"
    found = {}
    for cls, body in re.findall(r'<t[dh][^>]*class="(?:num )?([\w-]+)"[^>]*>(.*?)</t[dh]>', row[1]):
        found[cls] = text(body)
    return found


def num(value: float, digits: int, lang: Lang = "id") -> str:
    """A number as the pages and the PDFs print it (3,07 in Indonesian; the one formatter)."""
    return format_number(value, lang, digits)


def test_index_lists_published_waves_only(client, session: Session, published) -> None:
    create_wave(
        session,
        slug="draf",
        title="Gelombang Draf",
        period_start=date(2026, 1, 13),
        period_end=date(2026, 2, 13),
    )
    published.evaluator = "DPD KNPI Kota Serang"
    published.period_start = date(2026, 1, 13)
    published.period_end = date(2026, 3, 31)
    session.add(published)
    session.commit()
    response = client.get("/hasil")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Uji Coba 2026" in page and "DPD KNPI Kota Serang" in page
    assert "13 Januari 2026" in page and "31 Maret 2026" in page
    assert "Gelombang Draf" not in page
    row = re.search(r'<tr id="gelombang-uji-2026">(.*?)</tr>', page, re.S)
    assert row and ">3<" in row[1] and ">66<" in row[1]  # 3 OPDs, 66 counted responses


@pytest.mark.parametrize("status", ["draft", "open", "closed"])
def test_nothing_public_before_publication(client, session: Session, open_wave, status) -> None:
    add_responses(session, open_wave, "bpbd", HIGH * 10)
    wave = session.exec(select(Wave)).one()
    wave.status = status
    session.add(wave)
    session.commit()
    assert "Uji Coba 2026" not in client.get("/hasil").get_data(as_text=True)
    for path in ("/hasil/uji-2026", "/hasil/uji-2026/bpbd", "/r/uji-2026/ranking.pdf"):
        assert client.get(path).status_code == 404, path


def test_unknown_wave_and_opd_are_404(client, session: Session, published) -> None:
    add_opd(session, slug="dinkes", name="Dinas Kesehatan")  # not covered by the wave
    assert client.get("/hasil/nope").status_code == 404
    assert client.get("/hasil/uji-2026/nope").status_code == 404
    assert client.get("/hasil/uji-2026/dinkes").status_code == 404


def pdf_text(data: bytes) -> str:
    """The text of a PDF, whitespace folded (pypdf)."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def test_ranking_table_equals_ikm_score(client, runner, published) -> None:
    """The CLI's JSON, the page's table cells and the ranking PDF: the same values."""
    response = client.get("/hasil/uji-2026")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    expected = scores(runner)
    order = re.findall(r'<tr id="opd-([\w-]+)" data-opd', page)
    assert order == sorted(expected, key=lambda s: expected[s]["rank"])
    for slug, row in expected.items():
        got = cells(page, slug)
        assert got["rank"] == str(row["rank"])
        low, high = row["rank_ci_low"], row["rank_ci_high"]
        assert got["rank-set"] == (str(low) if low == high else f"{low}–{high}")
        assert got["n"].rstrip("*") == str(row["n"])
        assert got["ikm"] == num(row["ikm"], 2)
        assert got["converted"] == num(row["ikm_converted"], 2)
        assert got["ci"] == f"{num(row['ci_low'], 1)}–{num(row['ci_high'], 1)}"
        assert got["category"] == f"{row['category']} {row['category_label']}"
        assert (got["top"] != "tidak") == row["in_top_set"]
        assert (got["bottom"] != "tidak") == row["in_bottom_set"]
        assert f'href="/hasil/uji-2026/{slug}"' in page
        assert f'href="/r/uji-2026/opd/{slug}.pdf?lang=id"' in page
    assert 'href="/r/uji-2026/ranking.pdf?lang=id"' in page
    assert 'href="/hasil/uji-2026/data-terbuka.zip"' in page
    # The ranking PDF prints each OPD's row with the very cells of the page, in rank order.
    pdf = client.get("/r/uji-2026/ranking.pdf")
    assert pdf.status_code == 200
    document = pdf_text(pdf.data)
    for slug, row in expected.items():
        got = cells(page, slug)
        figures = f"{got['ikm']} {got['converted']} {got['ci']} {row['category']}"
        assert f"{row['n']}{'*' if row['unreliable'] else ''} {figures}" in document, slug


@pytest.fixture
def half_way(session: Session, open_wave) -> Wave:
    """A published wave where bpbd's converted score is exactly 88.125 (IKM 1269/360)."""
    # 29 respondents answer 4 to five elements and 3 to four (32 points), 11 the other way
    # round (31 points): 1269 points over 40 x 9 answers, IKM 3.525, converted 88.125.
    rows = [[4] * 5 + [3] * 4] * 29 + [[4] * 4 + [3] * 5] * 11
    add_responses(session, open_wave, "bpbd", rows)
    add_responses(session, open_wave, "rsud", LOW * 10)
    return set_wave_status(session, slug="uji-2026", status="published")


def test_a_half_rounds_up_everywhere(client, runner, half_way) -> None:
    """88.125 prints 88,13 on the page and in the PDF, 88.13 in the table; JSON keeps it all."""
    assert scores(runner)["bpbd"]["ikm_converted"] == 88.125  # full precision in JSON
    page = client.get("/hasil/uji-2026").get_data(as_text=True)
    assert cells(page, "bpbd")["converted"] == "88,13"
    assert "88,13" in pdf_text(client.get("/r/uji-2026/ranking.pdf").data)
    assert "88,12" not in pdf_text(client.get("/r/uji-2026/opd/bpbd.pdf").data)
    english = client.get("/hasil/uji-2026?lang=en").get_data(as_text=True)
    assert cells(english, "bpbd")["converted"] == "88.13"
    table = runner.invoke(args=["score", "--wave", "uji-2026"])
    assert table.exit_code == 0, table.output
    bpbd = next(line for line in table.stdout.splitlines() if " bpbd " in line)
    assert " 88.13 " in bpbd and "88.12" not in bpbd
    csv_text = runner.invoke(args=["score", "--wave", "uji-2026", "--format", "csv"]).stdout
    assert ",88.125," in csv_text  # and full precision in CSV


def test_page_says_what_it_rests_on(client, runner, published) -> None:
    page = text(client.get("/hasil/uji-2026").get_data(as_text=True))
    table = runner.invoke(args=["score", "--wave", "uji-2026"]).stdout
    fingerprint = re.search(r"data ([0-9a-f]{16})", table)
    assert fingerprint and fingerprint[1] in page
    assert "66 respons yang dihitung" in page and "1 respons ditandai" in page
    assert "seed 0" in page and "PermenPANRB No. 14 Tahun 2017" in page
    # The plain-language summary: categories and how sure the ranking is.
    assert "Survei ini menilai 3 OPD berdasarkan 66 respons" in page
    assert "Seberapa pasti peringkat ini?" in page
    assert "kategori Sangat baik (A)" in page
    expected = scores(runner)
    best = min(expected.values(), key=lambda r: r["rank"])
    worst = max(expected.values(), key=lambda r: r["rank"])
    assert f"Skor tertinggi: {best['name']} (nilai {num(best['ikm_converted'], 2)}" in page
    assert f"Skor terendah: {worst['name']} (nilai {num(worst['ikm_converted'], 2)}" in page


def test_charts_are_the_reports_images(client, app, session: Session, published) -> None:
    """The page embeds the ranking report's own chart images: same SVG, same way, with alt."""
    page = client.get("/hasil/uji-2026").get_data(as_text=True)
    images = re.findall(r'<img src="(data:image/svg\+xml;base64,[^"]+)" alt="([^"]+)"', page)
    assert len(images) == 3  # caterpillar, rank intervals, funnel
    assert page.count("<figcaption>") == 3
    with app.app_context():
        scored = score_service.score_wave(session, wave=published)
    expected = ranking_charts(scored, 3, "id", names=("caterpillar", "ranks", "funnel"))
    assert images == [(c.uri, c.alt) for c in expected.values()]
    # A strict Content-Security-Policy blocks inline styles and markup: none on the page.
    assert "style=" not in page and "<style" not in page and "<svg" not in page


def test_english_page(client, runner, published) -> None:
    page = client.get("/hasil/uji-2026?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in page
    bpbd = scores(runner)["bpbd"]
    got = cells(page, "bpbd")
    assert got["ikm"] == num(bpbd["ikm"], 2, "en") and "." in got["ikm"]
    assert got["category"] == f"{bpbd['category']} {bpbd['category_label_en']}"
    assert "How sure is this ranking?" in page and "95% rank range" in page
    assert 'href="/r/uji-2026/ranking.pdf?lang=en"' in page
    opd = client.get("/hasil/uji-2026/bpbd?lang=en").get_data(as_text=True)
    assert "Each element" in opd and num(bpbd["ikm_converted"], 2, "en") in opd


def test_simulated_wave_says_so(client, session: Session, open_wave) -> None:
    add_responses(session, open_wave, "bpbd", HIGH * 2)
    open_wave.simulated = True  # set before publishing: the published pages are frozen
    session.add(open_wave)
    session.commit()
    set_wave_status(session, slug="uji-2026", status="published")
    for path in ("/hasil/uji-2026", "/hasil/uji-2026/bpbd"):
        assert "Data simulasi (demo)" in client.get(path).get_data(as_text=True)
    assert "data simulasi" in client.get("/hasil").get_data(as_text=True)


def test_published_wave_without_responses(client, session: Session, open_wave) -> None:
    # The checklist now refuses such a wave; one published before it must still be served.
    set_wave_status(session, slug="uji-2026", status="closed")
    publish_before_the_checklist(session, slug="uji-2026")
    page = client.get("/hasil/uji-2026").get_data(as_text=True)
    assert "tidak memiliki respons yang dihitung" in page
    assert client.get("/hasil/uji-2026/bpbd").status_code == 200


def test_opd_page(client, runner, published) -> None:
    response = client.get("/hasil/uji-2026/rsud")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    rsud = scores(runner)["rsud"]
    body = text(page)
    assert "Rumah Sakit Umum Daerah" in body
    assert num(rsud["ikm_converted"], 2) in body and num(rsud["ikm"], 2) in body
    assert f"{num(rsud['ci_low'], 1)}–{num(rsud['ci_high'], 1)}" in body
    assert f"{rsud['rank']} dari 3" in body
    assert rsud["category_label"] in body
    for code, element in rsud["elements"].items():
        row = re.search(rf'<tr id="unsur-{code}"[^>]*>(.*?)</tr>', page, re.S)
        assert row and f'<td class="num nrr">{num(element["nrr"], 2)}</td>' in row[1]
    assert '<img src="data:image/svg+xml;base64,' in page and "<figcaption>" in page
    assert "style=" not in page
    assert 'href="/r/uji-2026/opd/rsud.pdf?lang=id"' in page
    # No comments and no respondent breakdown on the public page.
    assert "panjang" not in page and "Profil responden" not in page
    assert "Laki-laki" not in page


def test_served_pages_score_and_draw_nothing(client, published, monkeypatch) -> None:
    """Publishing scored the wave and drew its charts once; serving its pages does neither."""
    from reports import ranking

    scored, drawn = [], []
    real_score, real_charts = score_service.score_wave, ranking.ranking_charts

    def counting_score(*args, **kwargs):
        """Count the scorings."""
        scored.append(kwargs.get("wave"))
        return real_score(*args, **kwargs)

    def counting_charts(*args, **kwargs):
        """Count the chart drawings."""
        drawn.append(args[2])
        return real_charts(*args, **kwargs)

    monkeypatch.setattr(score_service, "score_wave", counting_score)
    monkeypatch.setattr(ranking, "ranking_charts", counting_charts)
    for path in ("/hasil/uji-2026", "/hasil/uji-2026", "/hasil/uji-2026/bpbd"):
        assert client.get(path).status_code == 200
    assert client.get("/hasil/uji-2026?lang=en").status_code == 200
    assert (scored, drawn) == ([], [])
    # The report made on first request rests on the scored wave frozen at publication.
    assert client.get("/r/uji-2026/ranking.pdf").status_code == 200
    assert scored == []


def test_flags_are_frozen_after_publication(client, session: Session, published) -> None:
    accounts.create_user(session, username="eva", password=PASSWORD, role="evaluator")
    assert AuthActions(client).login("eva").status_code == 302
    session.expire_all()
    flagged = session.exec(select(Response).where(Response.status == "flagged")).one()
    review = client.get("/kerja/gelombang/uji-2026/ditandai").get_data(as_text=True)
    assert "sudah diterbitkan" in review and 'value="restore"' not in review
    token = CSRF_RE.search(client.get("/kerja").get_data(as_text=True))
    assert token
    before = (len(session.exec(select(AuditLog)).all()), flagged.status, flagged.flag_reason)
    for action in ("restore", "confirm"):
        response = client.post(
            f"/kerja/gelombang/uji-2026/ditandai/{flagged.id}",
            data={"csrf_token": token[1], "action": action},
        )
        assert response.status_code == 409
        assert "sudah diterbitkan" in response.get_data(as_text=True)
    session.expire_all()
    again = session.get(Response, flagged.id)
    assert again is not None
    after = (len(session.exec(select(AuditLog)).all()), again.status, again.flag_reason)
    assert after == before


def test_results_need_no_login(client, published) -> None:
    for path in ("/hasil", "/hasil/uji-2026", "/hasil/uji-2026/bpbd"):
        response = client.get(path)
        assert response.status_code == 200
        assert urlsplit(response.headers.get("Location", "")).path != "/masuk"


def test_best_and_worst_marks_with_more_opds_than_k(client, runner, session: Session) -> None:
    levels = {"a": 4, "b": 4, "c": 3, "d": 3, "e": 2, "f": 2, "g": 1, "h": 1}
    for slug in levels:
        add_opd(session, slug=f"opd-{slug}", name=f"Dinas {slug.upper()}")
    wave = create_wave(session, slug="besar", title="Gelombang Besar", status="open")
    for slug, level in levels.items():
        rows = [[level] * 9, [max(1, level - 1)] * 9, [level] * 8 + [min(4, level + 1)]]
        add_responses(session, wave, f"opd-{slug}", rows * 8)
    set_wave_status(session, slug="besar", status="closed")
    set_wave_status(session, slug="besar", status="published")
    page = client.get("/hasil/besar").get_data(as_text=True)
    expected = scores(runner, "besar")
    marks = {"top": [], "bottom": []}
    for slug, row in expected.items():
        got = cells(page, slug)
        for column, key in (("top", "in_top_set"), ("bottom", "in_bottom_set")):
            assert (got[column] != "tidak") == row[key], (slug, column)
            marks[column].append(got[column])
    # With 8 OPDs and K = 5 the data can rule some OPDs out of each set.
    assert "tidak" in marks["top"] and "tidak" in marks["bottom"]
    assert {"pasti", "mungkin"} & set(marks["top"])


def test_front_door_leads_to_the_results(client) -> None:
    """``/`` sends visitors to the published results."""
    response = client.get("/")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/hasil"

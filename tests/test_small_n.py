"""Small samples (issue 12, item 1): a per-wave minimum n for ranking and stabilised variances.

An OPD with fewer counted responses than ``Wave.min_rank_n`` (default 15) is scored (its own
IKM and interval) but never ranked, never in a top/bottom set, never given a category on a
public page, and it changes nothing in the other OPDs' rank sets. The ranked OPDs' sampling
variances are pulled toward the wave's pooled variance with ``d0 = 14`` prior degrees of
freedom, so no OPD's t draws explode.
"""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
from html import unescape

import numpy as np
import pytest
from auth_helpers import login
from sqlalchemy import text
from sqlmodel import Session, select
from survey_helpers import add_opd, add_responses, create_wave, set_min_rank_n, set_wave_status

from scoring import (
    MIN_RANK_N,
    PUBLISHED_RANK_DRAWS,
    VARIANCE_PRIOR_DF,
    aggregate,
    score_units,
    stabilised_variances,
)
from survey.core import accounts, exports, queries
from survey.core.models import AuditLog, Wave
from survey.core.scores import score_wave

FOURS = [4] * 9


# --- Scoring: variance stabilisation, hand-computed -----------------------------------------


def test_stabilised_variances_by_hand() -> None:
    """Respondent variances s2 = se^2 n of 0.5 (n 10), 2.0 (n 2) and 0 (n 5, all answers equal).

    Pooled: (9 * 0.5 + 1 * 2.0 + 4 * 0) / (9 + 1 + 4) = 6.5 / 14. With d0 = 14:
    s2* = (9 * 0.5 + 6.5) / 23 = 11/23; (1 * 2 + 6.5) / 15 = 8.5/15; (0 + 6.5) / 18 = 6.5/18;
    df = 23, 15, 18.
    """
    n = np.array([10.0, 2.0, 5.0])
    se = np.sqrt(np.array([0.5, 2.0, 0.0]) / n)
    out_se, out_df = stabilised_variances(se, n, 14)
    expected = np.sqrt(np.array([11 / 23, 8.5 / 15, 6.5 / 18]) / n)
    np.testing.assert_allclose(out_se, expected, rtol=1e-12)
    assert out_df.tolist() == [23.0, 15.0, 18.0]
    assert VARIANCE_PRIOR_DF == 14


def test_a_unit_without_its_own_variance_gets_the_pooled_one_and_d0_df() -> None:
    """n = 1 (no variance estimate): s2* = pooled = (9 * 0.5) / 9 = 0.5, df = 14."""
    n = np.array([10.0, 1.0])
    se = np.array([math.sqrt(0.5 / 10), math.nan])
    out_se, out_df = stabilised_variances(se, n, 14)
    np.testing.assert_allclose(out_se, [math.sqrt(0.5 / 10), math.sqrt(0.5 / 1)], rtol=1e-12)
    assert out_df.tolist() == [23.0, 14.0]


def test_no_stabilisation_keeps_each_units_own_se_and_n_minus_1_df() -> None:
    n = np.array([10.0, 4.0])
    se = np.array([0.2, 0.3])
    out_se, out_df = stabilised_variances(se, n, 0)
    assert out_se.tolist() == [0.2, 0.3]
    assert out_df.tolist() == [9.0, 3.0]


def test_score_units_ranks_with_the_stabilised_se() -> None:
    """Two units of 3 respondents each: rows (1,2,3) x 9 give s2 = 1, (2,2,3) x 9 s2 = 1/3."""
    a = np.repeat(np.array([[1.0], [2.0], [3.0]]), 9, axis=1)
    b = np.repeat(np.array([[2.0], [2.0], [3.0]]), 9, axis=1)
    wave = score_units({"a": aggregate(a), "b": aggregate(b)}, seed=0)
    pooled = (2 * 1 + 2 * (1 / 3)) / 4  # = 2/3
    s2a = (2 * 1 + 14 * pooled) / 16
    s2b = (2 * (1 / 3) + 14 * pooled) / 16
    assert wave.unit("a").se == pytest.approx(math.sqrt(s2a / 3), rel=1e-12)
    assert wave.unit("b").se == pytest.approx(math.sqrt(s2b / 3), rel=1e-12)
    assert wave.variance_prior_df == 14


# --- Scoring: units below min_rank_n take no part in the ranking ----------------------------


def league(seed: int = 3, p: int = 20) -> dict:
    """A league like the demo wave: 20 OPDs of 30-150 respondents, IKM about 2.6-3.5."""
    rng = np.random.default_rng(seed)
    aggs = {}
    for i in range(p):
        n = int(rng.integers(30, 151))
        person = rng.normal(rng.uniform(2.6, 3.5), 0.35, size=(n, 1))
        answers = np.clip(np.rint(person + rng.normal(0, 0.6, size=(n, 9))), 1, 4)
        aggs[f"opd-{i:02d}"] = aggregate(answers)
    return aggs


def rank_sets(wave) -> list[tuple[str, int, int, int, int, bool, bool]]:
    return [
        (
            u.unit,
            u.rank_low,
            u.rank_high,
            u.rank_marginal_low,
            u.rank_marginal_high,
            u.in_top_set,
            u.in_bottom_set,
        )
        for u in wave.units
    ]


def test_an_opd_of_two_changes_nothing_in_the_others_rank_sets() -> None:
    base = league()
    with_tiny = {**base, "tiny": aggregate(np.full((2, 9), 4))}
    without = score_units(base, seed=0, min_rank_n=MIN_RANK_N)
    mixed = score_units(with_tiny, seed=0, min_rank_n=MIN_RANK_N)
    assert rank_sets(mixed) == rank_sets(without)
    assert [u.rank for u in mixed.units] == [u.rank for u in without.units]
    assert mixed.top_set() == without.top_set()
    assert mixed.bottom_set() == without.bottom_set()
    assert mixed.tau2() == without.tau2()
    # The tiny OPD is scored, not ranked: IKM 4.00 and its interval, but no rank, set or
    # category in what is published.
    (tiny,) = mixed.unranked
    assert tiny.unit == "tiny" and not tiny.ranked and tiny.n == 2 and tiny.ikm == 4.0
    assert mixed.unit("tiny") is tiny
    data = tiny.as_dict()
    assert data["ranked"] is False
    for key in ("rank", "rank_ci_low", "rank_ci_high", "category", "in_top_set", "funnel_95"):
        assert data[key] is None, key
    assert data["ikm"] == 4.0 and data["n"] == 2
    assert "tiny" not in mixed.top_set()


def test_with_stabilisation_a_tiny_opd_no_longer_blows_up_the_others_sets() -> None:
    """The issue's case: an OPD of 2 all-4 answers ranked with its own (zero) variance made every
    set span nearly everything; stabilised, the others' sets barely move."""
    base = league()
    with_tiny = {**base, "tiny": aggregate(np.full((2, 9), 4))}
    widths = {}
    for d0 in (0, 14):
        wave = score_units(with_tiny, seed=0, variance_prior_df=d0)
        widths[d0] = sum(u.rank_high - u.rank_low for u in wave.units if u.unit != "tiny")
    reference = score_units(base, seed=0)
    base_width = sum(u.rank_high - u.rank_low for u in reference.units)
    assert widths[0] > 1.9 * base_width  # 382 against 196
    assert widths[14] <= base_width + 20  # at most one more rank for each of the 20


def test_when_no_opd_reaches_the_minimum_nothing_is_ranked() -> None:
    aggs = {"a": aggregate(np.full((3, 9), 3)), "b": aggregate(np.full((4, 9), 2))}
    wave = score_units(aggs, seed=0, min_rank_n=15)
    assert wave.units == ()
    assert [u.unit for u in wave.unranked] == ["a", "b"]
    assert wave.top_set() == () and wave.funnel is None


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_score_units_refuses_a_bad_min_rank_n(bad) -> None:
    with pytest.raises(ValueError, match="min_rank_n must be a whole number"):
        score_units({"a": aggregate(np.full((3, 9), 3))}, min_rank_n=bad)


def test_published_tables_use_ten_thousand_draws() -> None:
    assert PUBLISHED_RANK_DRAWS >= 10_000


# --- The wave setting: migration, service, CLI, form -----------------------------------------


@pytest.fixture
def opds(session: Session) -> None:
    add_opd(session, slug="bpbd", name="Badan Penanggulangan Bencana Daerah", short_name="BPBD")
    add_opd(session, slug="rsud", name="Rumah Sakit Umum Daerah", short_name="RSUD")
    add_opd(session, slug="dishub", name="Dinas Perhubungan", short_name="Dishub")


def test_migration_gives_existing_and_new_waves_fifteen(session: Session, opds) -> None:
    """A row written without the column (as before the migration) reads 15: the server default."""
    wave = create_wave(session, slug="gel-baru", title="Baru", min_rank_n=None)
    assert wave.min_rank_n == 15
    session.execute(
        text(
            "INSERT INTO wave (slug, title, status, questionnaire_id, scheme_id, simulated, "
            "created_at) VALUES ('lama', 'Lama', 'draft', :q, :s, :f, :t)"
        ),
        {"q": wave.questionnaire_id, "s": wave.scheme_id, "f": False, "t": wave.created_at},
    )
    session.commit()
    session.expire_all()
    old = session.exec(select(Wave).where(Wave.slug == "lama")).one()
    assert old.min_rank_n == 15


def test_cli_create_and_edit_min_rank_n_audited(runner, session: Session, opds) -> None:
    result = runner.invoke(
        args=["wave", "create", "--slug", "w", "--title", "W", "--min-rank-n", "20"]
    )
    assert result.exit_code == 0, result.output
    assert queries.get_wave(session, slug="w").min_rank_n == 20
    result = runner.invoke(args=["wave", "edit", "w", "--min-rank-n", "10"])
    assert result.exit_code == 0, result.output
    session.expire_all()
    assert queries.get_wave(session, slug="w").min_rank_n == 10
    entry = session.exec(
        select(AuditLog).where(AuditLog.action == "wave.update").order_by(AuditLog.id)
    ).all()[-1]
    assert entry.detail["before"]["min_rank_n"] == 20
    assert entry.detail["after"]["min_rank_n"] == 10


@pytest.mark.parametrize("bad", ["1", "0", "-5"])
def test_cli_refuses_a_min_rank_n_below_two(runner, session: Session, opds, bad) -> None:
    result = runner.invoke(
        args=["wave", "create", "--slug", "w", "--title", "W", "--min-rank-n", bad]
    )
    assert result.exit_code == 1
    assert "the minimum n for ranking must be a whole number from 2 to 100000" in result.output
    assert queries.get_wave(session, slug="w") is None
    create_wave(session, slug="x", title="X", min_rank_n=None)
    result = runner.invoke(args=["wave", "edit", "x", "--min-rank-n", bad])
    assert result.exit_code == 1
    session.expire_all()
    assert queries.get_wave(session, slug="x").min_rank_n == 15


EDIT = "/kerja/gelombang/uji/ubah"


def edit_form(**changes: str) -> dict:
    data = {
        "title": "Uji",
        "opd": ["bpbd", "rsud"],
        "questionnaire": "1",
        "scheme": "permenpanrb-14-2017",
    }
    data.update(changes)
    return data


def post(client, data: dict):
    page = client.get(EDIT).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    return client.post(EDIT, data={"csrf_token": token.group(1), **data})


@pytest.mark.parametrize("bad", ["1", "abc", "2.5", "-3"])
def test_form_refuses_a_bad_min_rank_n_in_indonesian(client, session: Session, opds, bad):
    accounts.create_user(session, username="eva", password="rahasia-panjang-1", role="evaluator")
    create_wave(session, slug="uji", title="Uji", opd_slugs=["bpbd", "rsud"], min_rank_n=None)
    login(client, "eva", "rahasia-panjang-1")
    page = client.get(EDIT).get_data(as_text=True)
    assert 'id="f-min_rank_n" name="min_rank_n"' in page and 'value="15"' in page
    response = post(client, edit_form(min_rank_n=bad))
    assert response.status_code == 400
    body = unescape(response.get_data(as_text=True))
    assert "Minimum responden untuk peringkat harus bilangan bulat dari 2 sampai" in body
    session.expire_all()
    assert queries.get_wave(session, slug="uji").min_rank_n == 15


def test_form_sets_min_rank_n_audited_and_shows_it(client, session: Session, opds):
    accounts.create_user(session, username="eva", password="rahasia-panjang-1", role="evaluator")
    create_wave(session, slug="uji", title="Uji", opd_slugs=["bpbd", "rsud"], min_rank_n=None)
    login(client, "eva", "rahasia-panjang-1")
    assert post(client, edit_form(min_rank_n="8")).status_code == 303
    session.expire_all()
    assert queries.get_wave(session, slug="uji").min_rank_n == 8
    entry = session.exec(select(AuditLog).where(AuditLog.action == "wave.update")).one()
    assert (entry.detail["before"]["min_rank_n"], entry.detail["after"]["min_rank_n"]) == (15, 8)
    detail = unescape(client.get("/kerja/gelombang/uji").get_data(as_text=True))
    assert "Minimum responden untuk peringkat" in detail
    assert re.search(r"<dd>8 \(OPD dengan lebih sedikit respons", detail)


# --- Public outputs -------------------------------------------------------------------------


def fours_and_threes(n: int, fours: int) -> list[list[int]]:
    return [FOURS] * fours + [[3] * 9] * (n - fours)


@pytest.fixture
def published(session: Session, opds) -> Wave:
    """bpbd 20 responses, rsud 16, dishub 2 (below the default minimum of 15)."""
    wave = create_wave(session, slug="uji", title="Uji", status="open", min_rank_n=None)
    add_responses(session, wave, "bpbd", fours_and_threes(20, 15))
    add_responses(session, wave, "rsud", fours_and_threes(16, 2))
    add_responses(session, wave, "dishub", [[1] * 9, [1] * 9])
    return set_wave_status(session, slug="uji", status="published")


def test_score_wave_leaves_the_small_opd_unranked(session: Session, published) -> None:
    scored = score_wave(session, wave=published)
    assert [u.unit for u in scored.units()] == ["bpbd", "rsud"]
    assert [u.unit for u in scored.small_units()] == ["dishub"]
    assert scored.wave_score().ranks.draws == PUBLISHED_RANK_DRAWS
    rows = {r["opd"]: r for r in scored.rows()}
    assert rows["dishub"]["n"] == 2 and rows["dishub"]["ranked"] is False
    assert rows["dishub"]["ikm"] == 1.0 and rows["dishub"]["category"] is None
    assert rows["dishub"]["rank"] is None
    assert rows["bpbd"]["ranked"] is True and rows["bpbd"]["category"] is not None


def test_lowering_the_minimum_ranks_the_small_opd(session: Session, opds) -> None:
    wave = create_wave(session, slug="uji", title="Uji", status="open", min_rank_n=None)
    add_responses(session, wave, "bpbd", fours_and_threes(20, 15))
    add_responses(session, wave, "dishub", [[1] * 9, [1] * 9])
    assert [u.unit for u in score_wave(session, wave=wave).units()] == ["bpbd"]
    lowered = set_min_rank_n(session, slug="uji", min_rank_n=2)
    assert lowered.min_rank_n == 2
    scored = score_wave(session, wave=lowered)
    assert [u.unit for u in scored.ranked_units()] == ["bpbd", "dishub"]
    assert scored.small_units() == ()


def test_public_wave_page_lists_the_small_opd_without_rank_or_category(client, published):
    page = client.get("/hasil/uji").get_data(as_text=True)
    row = re.search(r'<tr id="opd-dishub" class="small-sample">(.*?)</tr>', page, re.S)
    assert row, page
    cells = unescape(row.group(1))
    assert "belum cukup data" in cells
    assert '<td class="num n">2</td>' in cells
    assert "cat-" not in cells and "Tidak baik" not in cells
    assert "D" not in re.sub(r"<[^>]+>|Dinas Perhubungan|dishub", "", cells)
    bpbd = re.search(r'<tr id="opd-bpbd".*?</tr>', page, re.S)
    assert bpbd and 'class="cat cat-' in bpbd.group(0)
    summary = unescape(page)
    assert "kurang dari 15 respons terhitung sehingga belum cukup data" in summary
    # The OPD's own public page says so too, with no scorecard.
    opd_page = unescape(client.get("/hasil/uji/dishub").get_data(as_text=True))
    assert "OPD ini memiliki 2 respons terhitung, kurang dari minimum 15" in opd_page
    assert 'class="cat cat-' not in opd_page


def test_open_data_marks_the_small_opd_unranked(session: Session, published) -> None:
    data = exports.open_data_zip(session, wave=published)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        scores = list(csv.DictReader(io.StringIO(archive.read("uji/scores.csv").decode())))
        readme = archive.read("uji/README.md").decode()
    by_opd = {r["opd"]: r for r in scores}
    assert by_opd["dishub"]["ranked"] == "False"
    assert by_opd["dishub"]["category"] == "" and by_opd["dishub"]["rank"] == ""
    assert by_opd["dishub"]["n"] == "2"
    assert by_opd["bpbd"]["ranked"] == "True" and by_opd["bpbd"]["category"] != ""
    assert "ranked" in readme


def test_ranking_report_lists_the_small_opd(session: Session, published) -> None:
    from reports.ranking import ranking_context

    context = ranking_context(score_wave(session, wave=published), lang="id", top_k=5)
    assert [r.opd.slug for r in context["small"]] == ["dishub"]
    assert [r.opd.slug for r in context["scored"]] == ["bpbd", "rsud"]
    assert context["unscored"] == []
    assert sum(count for _cat, count, _share in context["categories"]) == 2


def test_ranking_pdf_says_not_enough_data(session: Session, published) -> None:
    import pypdf

    from reports.ranking import render_ranking_pdf

    pdf = render_ranking_pdf(score_wave(session, wave=published), lang="id", top_k=5)
    words = " ".join(
        " ".join(page.extract_text().split()) for page in pypdf.PdfReader(io.BytesIO(pdf)).pages
    )
    assert "belum cukup data: kurang dari 15 respons, tanpa peringkat dan kategori" in words


def test_opd_head_sees_the_score_with_a_small_sample_notice(client, session, published):
    accounts.create_user(
        session,
        username="kepala-dishub",
        password="rahasia-panjang-1",
        role="opd-head",
        opd_slug="dishub",
    )
    login(client, "kepala-dishub", "rahasia-panjang-1")
    page = unescape(client.get("/kerja/hasil-opd/dishub/uji").get_data(as_text=True))
    assert "Sampel kecil: hanya 2 respons terhitung (minimum untuk peringkat 15)" in page
    assert "Skor 25,00" in page


@pytest.mark.parametrize("public", [True, False])
def test_opd_report_of_a_small_opd(session: Session, published, public: bool) -> None:
    import pypdf

    from reports.opd import render_opd_pdf
    from survey.core.reportdata import opd_report_data

    ranking = score_wave(session, wave=published)
    data = opd_report_data(
        session, wave=published, ranking=ranking, opd_slug="dishub", public=public
    )
    pdf = render_opd_pdf(data, lang="id")
    words = " ".join(
        " ".join(page.extract_text().split()) for page in pypdf.PdfReader(io.BytesIO(pdf)).pages
    )
    if public:
        assert "OPD ini memiliki 2 respons terhitung, kurang dari minimum 15" in words
        assert "25,00" not in words
    else:
        assert "Sampel kecil: hanya 2 respons terhitung (minimum untuk peringkat 15)" in words
        assert "Skor 25,00" in words


def test_a_wave_where_no_opd_reaches_the_minimum_is_shown_without_error(
    client, session: Session, opds
) -> None:
    from reports.ranking import render_ranking_pdf

    accounts.create_user(session, username="eva", password="rahasia-panjang-1", role="evaluator")
    wave = create_wave(session, slug="uji", title="Uji", status="open", min_rank_n=None)
    add_responses(session, wave, "bpbd", fours_and_threes(3, 1))
    add_responses(session, wave, "rsud", fours_and_threes(4, 0))
    closed = set_wave_status(session, slug="uji", status="closed")
    login(client, "eva", "rahasia-panjang-1")
    assert client.get("/kerja/gelombang/uji").status_code == 200
    scored = score_wave(session, wave=closed)
    assert scored.units() == () and len(scored.small_units()) == 2
    assert render_ranking_pdf(scored, lang="id", top_k=5).startswith(b"%PDF")
    set_wave_status(session, slug="uji", status="published")
    response = client.get("/hasil/uji")
    assert response.status_code == 200
    page = unescape(response.get_data(as_text=True))
    assert page.count("belum cukup data: kurang dari 15 respons") == 2  # bpbd and rsud rows
    assert "2 OPD memiliki kurang dari 15 respons terhitung" in page
    assert 'class="cat cat-' not in page
    assert client.get("/hasil/uji/bpbd").status_code == 200
    data = exports.open_data_zip(session, wave=queries.get_wave(session, slug="uji"))
    assert data.startswith(b"PK")

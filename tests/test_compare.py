"""``ikm compare``: each OPD's change between two waves, hand-computed; every refusal."""

from __future__ import annotations

import csv
import io
import json
import math
import re

import pytest
from auth_helpers import login
from code_helpers import pdf_text
from conftest import add_sample_opds
from scipy import stats
from survey_helpers import add_responses, create_wave, set_wave_status

from survey.core.models import Element, Questionnaire

# bpbd: wave A 10 x all-2 and 10 x all-3 (IKM 2.5), wave B 10 x all-3 and 10 x all-4 (3.5).
# Respondent means 0.5 apart: variance 0.25 x 20/19 = 5/19, se^2 = 5/19/20 = 1/76 in each wave.
# Change 1.0 IKM = 25 converted points; Welch df = (2/76)^2 / (2 (1/76)^2 / 19) = 38.
# rsud: 3.5 in both waves (same answers): change 0, df 38.
LOW, MID, HIGH = [[2] * 9] * 10, [[3] * 9] * 10, [[4] * 9] * 10
HALF = float(stats.t.ppf(0.975, 38)) * math.sqrt(2 / 76)  # 2.0244 x 0.16222 = 0.32840


@pytest.fixture
def two_waves(session):
    """Closed waves 'a-2025' then 'b-2026' over bpbd, rsud, dishub; dishub only answered in A."""
    add_sample_opds(session, "bpbd", "rsud", "dishub")
    a = create_wave(session, slug="a-2025", title="Survei 2025", status="open")
    add_responses(session, a, "bpbd", LOW + MID)
    add_responses(session, a, "rsud", MID + HIGH)
    add_responses(session, a, "dishub", MID + HIGH)
    b = create_wave(session, slug="b-2026", title="Survei 2026", status="open")
    add_responses(session, b, "bpbd", MID + HIGH)
    add_responses(session, b, "rsud", MID + HIGH)
    # Flagged answers are not scored: they must not pull bpbd's change down.
    add_responses(session, b, "bpbd", [[1] * 9] * 5, status="flagged", reason="bot-suspect")
    return a, b


def run(runner, *args):
    return runner.invoke(args=["compare", *args])


def test_json_hand_computed(session, two_waves, runner):
    """Change, Welch interval and df, Holm verdict and the RTM note, as computed by hand."""
    result = run(runner, "--wave", "a-2025", "--wave", "b-2026", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["wave_a"], data["wave_b"], data["correction"]) == ("a-2025", "b-2026", "holm")
    assert data["alpha"] == 0.05 and data["confidence_level"] == 0.95 and data["tested"] == 2
    opds = {o["opd"]: o for o in data["opds"]}
    assert set(opds) == {"bpbd", "rsud"}  # dishub has no counted response in B
    bpbd, rsud = opds["bpbd"], opds["rsud"]
    assert (bpbd["n_a"], bpbd["n_b"]) == (20, 20)  # the 5 flagged are not counted
    assert bpbd["ikm_a"] == pytest.approx(2.5) and bpbd["ikm_b"] == pytest.approx(3.5)
    assert bpbd["converted_a"] == pytest.approx(62.5) and bpbd["converted_b"] == pytest.approx(87.5)
    assert bpbd["change"] == pytest.approx(1.0) and bpbd["change_converted"] == pytest.approx(25.0)
    assert bpbd["df"] == pytest.approx(38.0) and bpbd["se"] == pytest.approx(math.sqrt(2 / 76))
    assert bpbd["ci_low"] == pytest.approx(1.0 - HALF) and bpbd["ci_high"] == pytest.approx(
        1 + HALF
    )
    assert bpbd["ci_low_converted"] == pytest.approx(25 * (1 - HALF))  # 16.79
    assert bpbd["ci_high_converted"] == pytest.approx(25 * (1 + HALF))  # 33.21
    p = 2 * stats.t.sf(1 / math.sqrt(2 / 76), 38)
    assert bpbd["p_value"] == pytest.approx(p) and bpbd["p_holm"] == pytest.approx(2 * p)
    assert bpbd["verdict"] == "improved"
    # Wave-A quartiles of 2.5 and 3.5 are 2.75 and 3.25: bpbd bottom and up, rsud top, flat.
    assert (bpbd["extreme_in_a"], bpbd["regression_to_mean"]) == ("bottom", True)
    assert rsud["change"] == pytest.approx(0.0, abs=1e-12) and rsud["verdict"] == "unclear"
    assert (rsud["extreme_in_a"], rsud["regression_to_mean"]) == ("top", False)
    assert rsud["p_holm"] == pytest.approx(1.0)


def test_table_in_indonesian(session, two_waves, runner):
    """The table speaks Bahasa Indonesia with decimal commas and states the correction."""
    result = run(runner, "--wave", "a-2025", "--wave", "b-2026")
    assert result.exit_code == 0, result.output
    out = result.stdout
    bpbd = next(line for line in out.splitlines() if line.startswith("Badan Penanggulangan"))
    low, high = 25 * (1 - HALF), 25 * (1 + HALF)
    assert "62,50" in bpbd and "87,50" in bpbd and "+25,00" in bpbd
    assert f"+{low:.2f} s.d. +{high:.2f}".replace(".", ",").replace("s,d,", "s.d.") in bpbd
    assert "+16,79 s.d. +33,21" in bpbd and "<0,001" in bpbd
    assert bpbd.rstrip().endswith("membaik *")
    rsud = next(line for line in out.splitlines() if line.startswith("Rumah Sakit"))
    assert rsud.rstrip().endswith("tidak berbeda nyata")
    assert "Koreksi Holm atas 2 OPD yang dibandingkan (tingkat kesalahan 5%)" in out
    assert "regresi ke arah rata-rata" in out
    assert "Dinas Perhubungan" not in out


def test_csv_and_output_file(session, two_waves, runner, tmp_path):
    """CSV: one row per OPD with the documented fields; -o writes the file."""
    target = tmp_path / "perubahan.csv"
    result = run(runner, "--wave", "a-2025", "--wave", "b-2026", "--format", "csv", "-o", target)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert [r["opd"] for r in rows] == ["bpbd", "rsud"]
    bpbd = rows[0]
    assert bpbd["wave_a"] == "a-2025" and bpbd["wave_b"] == "b-2026"
    assert float(bpbd["change_converted"]) == pytest.approx(25.0)
    assert float(bpbd["ci_low_converted"]) == pytest.approx(25 * (1 - HALF))
    assert bpbd["verdict"] == "improved" and bpbd["regression_to_mean"] == "True"
    assert rows[1]["extreme_in_a"] == "top"


def questionnaire(session, slug: str, scale: int) -> Questionnaire:
    """A questionnaire with one IKM element on `scale` points."""
    item = Questionnaire(slug=slug, title_id=slug, title_en=slug, scale_points=scale)
    session.add(item)
    session.flush()
    labels = [str(i) for i in range(1, scale + 1)]
    session.add(
        Element(
            questionnaire_id=item.id,
            position=1,
            code="U1",
            name_id="Persyaratan",
            name_en="Requirements",
            question_id="Bagaimana?",
            question_en="How?",
            labels_id=labels,
            labels_en=labels,
        )
    )
    session.commit()
    return item


def refused(runner, a: str, b: str, tmp_path, reason: str) -> None:
    """The command fails with the Indonesian reason and writes nothing."""
    target = tmp_path / "tidak.json"
    result = run(runner, "--wave", a, "--wave", b, "--format", "json", "-o", target)
    assert result.exit_code == 1
    assert "Tidak dapat dibandingkan" in result.output and reason in result.output
    assert not target.exists()
    assert not list(tmp_path.glob(".*partial"))


def test_refusals(session, two_waves, runner, tmp_path):
    """Same wave, other scale, other questionnaire, other scheme, no responses, no OPD common."""
    refused(runner, "a-2025", "a-2025", tmp_path, "Gelombang A dan B sama (a-2025)")
    five = questionnaire(session, "lima", 5)
    create_wave(session, slug="lima", title="Lima", opd_slugs=["bpbd"], questionnaire_id=five.id)
    refused(runner, "a-2025", "lima", tmp_path, "a-2025 memakai skala 4 poin, lima skala 5 poin")
    four = questionnaire(session, "empat", 4)
    create_wave(session, slug="empat", title="Empat", opd_slugs=["bpbd"], questionnaire_id=four.id)
    refused(runner, "a-2025", "empat", tmp_path, "Kuesioner berbeda")
    create_wave(session, slug="lama", title="Lama", scheme_slug="kepmenpan-25-2004")
    refused(runner, "a-2025", "lama", tmp_path, "Skema kategori berbeda")
    create_wave(session, slug="kosong", title="Kosong", status="open")
    refused(runner, "a-2025", "kosong", tmp_path, "Gelombang kosong belum punya respons")
    only = create_wave(session, slug="dishub", title="Dishub", opd_slugs=["dishub"], status="open")
    add_responses(session, only, "dishub", MID)
    refused(runner, "b-2026", "dishub", tmp_path, "Tidak ada OPD yang punya respons dihitung")
    # Not two waves, or an unknown one: refused too.
    assert run(runner, "--wave", "a-2025").exit_code != 0
    assert run(runner, "--wave", "a-2025", "--wave", "tidak-ada").exit_code != 0


# --- The OPD head's page and the OPD report ---------------------------------------------------


@pytest.fixture
def closed_waves(session, two_waves, users):
    """Both waves closed (readable by the OPD heads)."""
    for slug in ("a-2025", "b-2026"):
        set_wave_status(session, slug=slug, status="closed")
    return two_waves


def test_opd_head_page_shows_the_change(client, session, closed_waves):
    """Wave B's page: the change, its interval, the Holm verdict and the RTM note."""
    login(client, "kepala-bpbd")
    page = client.get("/kerja/hasil-opd/bpbd/b-2026").get_data(as_text=True)
    section = re.search(r'<section class="change" id="perubahan">(.*?)</section>', page, re.S)
    assert section is not None
    text = " ".join(section[1].split())
    assert "Perubahan dari gelombang sebelumnya" in text
    assert (
        "Nilai konversi pada Survei 2025: 62,50 (n = 20); pada Survei 2026: 87,50 (n = 20)" in text
    )
    assert "Perubahan +25,00 poin; interval kepercayaan 95%: +16,79 sampai +33,21 poin." in text
    assert "Membaik secara nyata" in text and "koreksi Holm atas 2 OPD" in text
    assert "seperempat terendah" in text and "regresi ke arah rata-rata" in text
    # The OPD's page shows the change of its latest wave too.
    overview = client.get("/kerja/hasil-opd/bpbd").get_data(as_text=True)
    assert "+16,79 sampai +33,21" in overview
    # Wave A has no earlier wave: a short reason, no numbers.
    first = client.get("/kerja/hasil-opd/bpbd/a-2025").get_data(as_text=True)
    assert "Belum ada gelombang sebelumnya untuk dibandingkan." in first
    assert "Membaik" not in first and "koreksi Holm" not in first


def test_opd_head_page_unclear_and_not_comparable(client, session, closed_waves):
    """No significant change: "tidak berbeda nyata"; another scheme: a reason, no change."""
    login(client, "kepala-rsud")
    page = client.get("/kerja/hasil-opd/rsud/b-2026").get_data(as_text=True)
    assert "Tidak berbeda nyata setelah koreksi Holm atas 2 OPD" in page
    assert "Membaik" not in page and "Menurun" not in page
    later = create_wave(
        session, slug="c-2027", title="Survei 2027", scheme_slug="kepmenpan-25-2004"
    )
    add_responses(session, later, "rsud", MID + HIGH)
    set_wave_status(session, slug="c-2027", status="closed")
    page = client.get("/kerja/hasil-opd/rsud/c-2027").get_data(as_text=True)
    # The earlier waves use another scheme: nothing to compare with, said so.
    assert "memakai skema kategori lain" in page
    assert "koreksi Holm" not in page


def test_opd_report_pdf_has_the_change_section(client, session, closed_waves):
    """The OPD report PDF of wave B prints "Perubahan dari gelombang sebelumnya"."""
    login(client, "kepala-bpbd")
    response = client.get("/r/b-2026/opd/bpbd.pdf")
    assert response.status_code == 200
    text = pdf_text(response.data)
    assert "Perubahan dari gelombang sebelumnya" in text
    assert "Perubahan nilai konversi +25,00 poin (interval kepercayaan 95%: +16,79 sampai" in text
    assert "membaik secara nyata setelah koreksi Holm atas 2 OPD" in text
    assert "seperempat terendah" in text
    first = pdf_text(client.get("/r/a-2025/opd/bpbd.pdf").data)
    assert "Perubahan dari gelombang sebelumnya" not in first


def test_report_sentences_never_say_more_than_the_interval():
    """An interval excluding 0 that does not survive Holm: 'tidak berbeda nyata', and why."""
    from reports.changes import OpdChange, change_sentences

    base = dict(
        slug="x", name="X", wave_a_slug="a", wave_a_title="A", wave_b_slug="b",
        wave_b_title="B", n_a=10, n_b=20, ikm_a=3.0, ikm_b=3.5, score_a=75.0, score_b=87.5,
        change=12.5, low=0.48, high=24.52, se=0.2236, df=13.66, p_value=0.0426,
        p_holm=0.0852, verdict="unclear", extreme=None, rtm=False, tested=2,
    )  # fmt: skip
    lines = change_sentences(OpdChange(**base), "id")
    assert lines == [
        "A: 75,00 (n = 10); B: 87,50 (n = 20).",
        "Perubahan nilai konversi +12,50 poin (interval kepercayaan 95%: +0,48 sampai +24,52).",
        "Perubahan ini tidak berbeda nyata setelah koreksi Holm atas 2 OPD yang dibandingkan: "
        "data belum menunjukkan bahwa layanan membaik atau menurun.",
        "Interval 95% di atas berlaku untuk OPD ini saja; bila semua OPD yang dibandingkan "
        "diperhitungkan, perubahan ini masih mungkin terjadi karena kebetulan.",
    ]
    assert not any("membaik secara nyata" in line for line in lines)
    crossing = change_sentences(OpdChange(**{**base, "low": -3.0}), "en")
    assert crossing[-1].startswith("This change is not clearly different from zero")
    down = OpdChange(**{**base, "change": -0.004, "low": -5.0, "high": 5.0, "rtm": True,
                        "extreme": "top"})  # fmt: skip
    lines = change_sentences(down, "id")
    assert (
        "Perubahan nilai konversi 0,00 poin (interval kepercayaan 95%: −5,00 sampai +5,00)."
        in lines
    )
    assert "seperempat tertinggi" in lines[-1]

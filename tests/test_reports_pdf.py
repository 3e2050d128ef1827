"""The PDFs read back: names and numbers match the scores, fonts are embedded, rules hold.

Each PDF is rendered once per module (WeasyPrint takes a second or two) and read back with
pypdf; text is compared after collapsing whitespace, since table cells wrap.
"""

from __future__ import annotations

import functools
import gc
import io
import threading
from datetime import UTC, date, datetime

import pypdf
import pytest

from reports import (
    Comment,
    OpdReportData,
    ScoredWave,
    TrendPoint,
    render_opd_pdf,
    render_opd_pdfs,
    render_posters_pdf,
    render_ranking_pdf,
)
from reports.formatting import Formatter
from reports.opd import opd_context
from reports.render import GC_THRESHOLD, fewer_collections, html_to_pdf, render
from reports.sample import sample_opd_report, sample_posters, sample_ranking
from reports.story import element_priorities
from scoring import krejcie_morgan


@functools.lru_cache(maxsize=32)
def pages_text(pdf: bytes) -> tuple[str, ...]:
    """Text of each page, whitespace collapsed (cached: extraction is slower than rendering)."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return tuple(" ".join(page.extract_text().split()) for page in reader.pages)


def all_text(pdf: bytes) -> str:
    """Text of the whole document, whitespace collapsed."""
    return " ".join(pages_text(pdf))


def _fonts(resources: pypdf.generic.DictionaryObject | None, found: dict[str, bool]) -> None:
    """Collect each font's name and whether its program is embedded, also inside XObjects."""
    if resources is None:
        return
    resources = resources.get_object()
    for font in (resources.get("/Font") or {}).values():
        font = font.get_object()
        descendants = font.get("/DescendantFonts")
        target = descendants[0].get_object() if descendants else font
        descriptor = target["/FontDescriptor"].get_object()
        found[str(font["/BaseFont"])] = any(
            key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")
        )
    for xobject in (resources.get("/XObject") or {}).values():
        _fonts(xobject.get_object().get("/Resources"), found)


def embedded_fonts(pdf: bytes) -> dict[str, bool]:
    """Every font used in the PDF, mapped to whether it is embedded."""
    found: dict[str, bool] = {}
    for page in pypdf.PdfReader(io.BytesIO(pdf)).pages:
        _fonts(page.get("/Resources"), found)
    return found


@pytest.fixture(scope="module")
def wave() -> ScoredWave:
    """20 simulated OPDs with KNPI-like means and 20..80 respondents each."""
    return sample_ranking(20, seed=3)


@pytest.fixture(scope="module")
def ranking_id(wave) -> bytes:
    """The Indonesian ranking report of the wave."""
    return render_ranking_pdf(wave)


@pytest.fixture(scope="module")
def ranking_en(wave) -> bytes:
    """The English ranking report of the wave."""
    return render_ranking_pdf(wave, lang="en")


@pytest.fixture(scope="module")
def small_wave() -> ScoredWave:
    """Four OPDs: 7, 8, 0 and 30 respondents (for the thresholds and an unscored OPD)."""
    return sample_ranking(4, sizes=[7, 8, 0, 30], seed=5)


def _best(data: ScoredWave):
    """The OPD ranked first (ties as the report orders them)."""
    return min(data.score.units, key=lambda u: (u.rank, -u.ikm, u.unit))


def test_ranking_report_names_the_best_with_its_score(wave, ranking_id, ranking_en):
    """The best OPD's name, n and score as the scores say, in each language's format."""
    best = _best(wave)
    name = wave.opd(best.unit).name
    text_id, text_en = all_text(ranking_id), all_text(ranking_en)
    score_id, score_en = Formatter("id").score(best.ikm), Formatter("en").score(best.ikm)
    assert "," in score_id and "." in score_en
    assert f"{name} {best.n} {score_id} {Formatter('id').conv(best.converted())}" in text_id
    assert f"{name} {best.n} {score_en} {Formatter('en').conv(best.converted())}" in text_en
    low, high = best.interval.converted()
    assert Formatter("id").interval(low, high) in text_id
    assert f"{best.rank_low}–{best.rank_high}" in text_id


def test_ranking_report_counts_categories(wave, ranking_id, ranking_en):
    """The summary says how many OPDs fall in each category of the wave's scheme."""
    text_id, text_en = all_text(ranking_id), all_text(ranking_en)
    total = len(wave.score.units)
    for category in wave.score.scheme.categories:
        count = sum(u.category().code == category.code for u in wave.score.units)
        pct = Formatter("id").pct(count / total)
        assert f"{count} OPD ({pct}) kategori {category.label_id} ({category.code})" in text_id
        word = "OPD" if count == 1 else "OPDs"
        assert f"{count} {word} ({pct}) in category {category.label_en} ({category.code})" in (
            text_en
        )
    counted = Formatter("id").int(wave.counted)
    assert f"Survei ini menilai {total} OPD berdasarkan {counted} respons" in text_id


def test_ranking_report_methods_let_anyone_reproduce(wave, ranking_id):
    """Sample sizes with Krejcie & Morgan, flags by reason, alpha, seed and fingerprint."""
    text = all_text(ranking_id)
    f = Formatter("id")
    with_population = [o for o in wave.opds if o.population]
    assert with_population
    for opd in with_population:
        unit = wave.unit(opd.slug)
        km = krejcie_morgan(opd.population)
        assert f"{opd.name} {f.int(opd.population)} {f.int(km)} {opd.target_n} {unit.n}" in text
    assert (
        f"Dikirim berulang dari perangkat yang sama {wave.flag_reasons['duplicate-device']}" in text
    )
    alpha = wave.score.alpha
    assert f"Cronbach's alpha = {f.num(alpha.alpha, 2)}" in text
    assert wave.fingerprint in text
    # The settings, not a command line: the reports know nothing of the CLI.
    assert f"{wave.wave_slug} {wave.seed} {wave.fingerprint}" in text
    assert "ikm score" not in text and "--seed" not in text
    assert "3,5324" in text and "88,31" in text  # the scheme's bounds


def test_ranking_report_is_honest_about_the_top_five(wave, ranking_id):
    """The plain-language paragraph is there and agrees with the confidence set's size."""
    text = all_text(ranking_id)
    assert "Seberapa pasti peringkat ini?" in text
    top = sum(u.in_top_set for u in wave.score.units)
    if top == len(wave.score.units):
        assert "sama sekali tidak dapat menunjuk lima OPD terbaik" in text
    elif top > 5:
        assert f"berada di antara {top} OPD" in text


def test_every_page_says_when_and_on_how_much(wave, ranking_id, ranking_en):
    """Each page carries the data's date, the responses counted and the simulated notice."""
    counted_id, counted_en = Formatter("id").int(wave.counted), Formatter("en").int(wave.counted)
    for text in pages_text(ranking_id):
        assert f"Data per 17 Juni 2025, 09.30 WIB · {counted_id} respons dihitung" in text
        assert "DATA SIMULASI" in text
    for text in pages_text(ranking_en):
        assert f"Data as of 17 June 2025, 09:30 WIB · {counted_en} responses counted" in text
        assert "SIMULATED DATA" in text


def test_ranking_pdf_is_tagged_with_embedded_fonts(ranking_id):
    """PDF/UA tagging, document language and dates from the data; every font embedded."""
    reader = pypdf.PdfReader(io.BytesIO(ranking_id))
    root = reader.trailer["/Root"]
    assert "/StructTreeRoot" in root and root["/MarkInfo"]["/Marked"]
    assert root["/Lang"] == "id"
    assert reader.metadata["/CreationDate"] == "D:20250617023000Z"
    fonts = embedded_fonts(ranking_id)
    assert fonts and all(fonts.values()), fonts
    assert any("DejaVu-Sans" in name for name in fonts)


def test_same_input_same_pdf(wave, ranking_id):
    """Rendering again gives the same bytes (no clock, no random ids)."""
    assert render_ranking_pdf(wave) == ranking_id


def test_small_wave_lists_the_unscored_and_another_k(small_wave):
    """An OPD without responses is listed, not ranked; K can be chosen."""
    pdf = render_ranking_pdf(small_wave, top_k=2)
    text = all_text(pdf)
    assert "Dua OPD dengan skor tertinggi" in text
    assert "1 OPD belum memiliki respons sehingga tidak dinilai: Bapenda." in text
    assert "Badan Pendapatan Daerah 0 belum ada respons" in text
    # fewer than 15 respondents: marked unreliable
    assert "7*" in text


# --- the OPD report --------------------------------------------------------------------------


def _opd_report(wave: ScoredWave, slug: str, **changes) -> OpdReportData:
    """A simulated OPD report input, with some of its parts replaced."""
    base = sample_opd_report(wave, slug)
    fields = {
        "comments": base.comments,
        "profile": base.profile,
        "trend": base.trend,
        **changes,
    }
    return OpdReportData(wave, slug, **fields)


SCRIPT = "<script>alert('x')</script> antrean lama"


def test_opd_report_explains_score_rank_and_priorities(wave):
    """Score, category, interval, simultaneous rank set in words; the priorities in the plan."""
    best = _best(wave)
    pdf = render_opd_pdf(_opd_report(wave, best.unit))
    text = all_text(pdf)
    f = Formatter("id")
    assert wave.opd(best.unit).name in text
    assert f.score(best.ikm) in text and f"nilai konversi {f.conv(best.converted())}" in text
    assert best.category().label_id in text
    if best.rank_low != best.rank_high:
        assert (
            f"peringkat sebenarnya dengan keyakinan 95% berada antara {best.rank_low}"
            f" dan {best.rank_high} (rentang peringkat simultan" in text
        )
    plan = text[text.index("Rencana tindak lanjut") :]
    priorities = element_priorities(best)
    assert priorities
    names = {e.code: e.name_id for e in wave.elements}
    for p in priorities:
        label = "lemah" if p.weak else "terendah"
        assert f"{p.code} {names[p.code]} ({label}) {f.score(p.element.nrr)}" in plan
    assert "SKM Semester I 2025" in text  # the trend from earlier waves
    fonts = embedded_fonts(pdf)
    assert fonts and all(fonts.values())
    assert render_opd_pdf(_opd_report(wave, best.unit)) == pdf


def test_opd_report_in_english(wave):
    """The English OPD report uses English words and decimal points."""
    unit = wave.score.units[1]
    text = all_text(render_opd_pdf(_opd_report(wave, unit.unit, trend=()), lang="en"))
    assert "Follow-up plan" in text and Formatter("en").score(unit.ikm) in text
    assert "There is no earlier survey wave to compare with yet." in text


def test_profile_hides_groups_under_five(small_wave):
    """A group of 4 is not shown; small groups merged to at least 5 are shown as Lainnya."""
    profile = {
        "sex": {"L": 26, "P": 4},
        "education": {"SMA": 18, "S1": 6, "S2": 3, "S3": 3},
    }
    slug = "diskoumperindag"  # 30 respondents
    assert small_wave.unit(slug).n == 30
    text = all_text(render_opd_pdf(_opd_report(small_wave, slug, profile=profile)))
    assert "Laki-laki 26" in text
    assert "Perempuan" not in text
    assert "Lainnya 6" in text and "S2 3" not in text and "S3" not in text
    assert "kurang dari 5 responden tidak ditampilkan" in text


def test_comments_need_eight_responses_and_stay_text(small_wave):
    """No comment below 8 responses (with the reason); at 8 they show, markup as plain text."""
    comments = (
        Comment(SCRIPT, datetime(2025, 6, 13, 2, 0, tzinfo=UTC)),
        Comment("Petugas ramah sekali.", datetime(2025, 6, 14, 2, 0, tzinfo=UTC)),
    )
    seven = _opd_report(small_wave, "bpbd", comments=comments)
    eight = _opd_report(small_wave, "dispusip", comments=comments)
    assert small_wave.unit("bpbd").n == 7 and small_wave.unit("dispusip").n == 8
    hidden = all_text(render_opd_pdf(seven))
    assert "Komentar tidak ditampilkan karena OPD ini memiliki kurang dari 8 respons" in hidden
    assert "Petugas ramah" not in hidden and "alert" not in hidden
    shown = all_text(render_opd_pdf(eight))
    assert "Petugas ramah sekali." in shown
    assert "<script>alert('x')</script> antrean lama" in shown
    html = render("opd.html", opd_context(eight))
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<script>" not in html


def test_opd_without_responses_gets_a_short_report(small_wave):
    """An OPD with no counted response gets a report that says so, not an error."""
    text = all_text(render_opd_pdf(OpdReportData(small_wave, "bapenda")))
    assert "Badan Pendapatan Daerah" in text and "belum dapat dinilai" in text


def test_batch_reports_progress_in_order(small_wave):
    """The batch helper yields every report in order and calls back after each."""
    items = [
        _opd_report(small_wave, "dispusip", trend=(TrendPoint("2024", date(2024, 6, 1), 3.0),)),
        _opd_report(small_wave, "diskoumperindag"),
    ]
    calls: list[tuple[int, int, str]] = []
    out = list(render_opd_pdfs(items, progress=lambda *args: calls.append(args)))
    assert [slug for slug, _ in out] == ["dispusip", "diskoumperindag"]
    assert calls == [(1, 2, "dispusip"), (2, 2, "diskoumperindag")]
    assert out[1][1] == render_opd_pdf(items[1])
    parallel = list(render_opd_pdfs(items, workers=2))
    assert parallel == out
    with pytest.raises(ValueError, match="workers"):
        list(render_opd_pdfs(items, workers=0))


def test_batch_shares_reports_between_this_process_and_the_workers(wave, monkeypatch):
    """The batch gives every report in order whoever renders it (here a thread stands in for
    the worker processes), keeps an error for its report's turn and, once stopped, sends no
    more reports to the workers but still gives every report asked for."""
    from concurrent.futures import ThreadPoolExecutor

    from reports import opd as opd_module

    items = [OpdReportData(wave, o.slug) for o in wave.opds[:6]]
    who: dict[str, str] = {}

    def render_and_note(item: OpdReportData, *, lang: str = "id") -> bytes:
        """Stand in for a render, noting the thread, and fail for the fourth OPD."""
        who[item.opd_slug] = threading.current_thread().name
        if item.opd_slug == items[3].opd_slug:
            raise RuntimeError("broken report")
        return item.opd_slug.encode()

    monkeypatch.setattr(opd_module, "render_opd_pdf", render_and_note)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="worker") as pool:
        batch = opd_module._Batch(items, pool, None, "id", 1)
        assert [batch.result(i) for i in range(3)] == [i.opd_slug.encode() for i in items[:3]]
        with pytest.raises(RuntimeError, match="broken report"):
            batch.result(3)
        assert [batch.result(i) for i in (4, 5)] == [i.opd_slug.encode() for i in items[4:]]
        batch.stop()
        batch.join()
    assert len(who) == len(items)
    with ThreadPoolExecutor(max_workers=1) as pool:
        stopped = opd_module._Batch(items, pool, None, "id", 1)
        stopped.stop()  # the worker's thread may have taken a report already: it still comes
        assert [stopped.result(i) for i in range(3)] == [i.opd_slug.encode() for i in items[:3]]
        stopped.join()


# --- posters ---------------------------------------------------------------------------------


def test_posters_one_page_per_opd(small_wave):
    """Each poster page has the OPD's name, the call to action and the printed URL."""
    posters = sample_posters(small_wave)
    pdf = render_posters_pdf(posters, wave_title=small_wave.title)
    texts = pages_text(pdf)
    assert len(texts) == len(posters)
    for poster, text in zip(posters, texts, strict=True):
        assert poster.opd_name in text
        assert poster.short_url in text
        assert "Pindai kode QR ini dan isi survei singkat (±1 menit)." in text
    english = pages_text(render_posters_pdf(posters[:1], wave_title="W", lang="en"))
    assert "How was our service today?" in english[0]
    assert render_posters_pdf(posters, wave_title=small_wave.title) == pdf
    fonts = embedded_fonts(pdf)
    assert fonts and all(fonts.values())
    with pytest.raises(ValueError, match="no posters"):
        render_posters_pdf([], wave_title="W")


def test_unknown_language_is_refused(small_wave):
    """Only Bahasa Indonesia and English are offered."""
    with pytest.raises(ValueError, match="lang"):
        render_ranking_pdf(small_wave, lang="jv")  # type: ignore[arg-type]


def test_fewer_collections_while_rendering_then_the_thresholds_restored():
    """The collector's first threshold is raised while a report renders (nested calls keep it
    raised until the outermost ends) and restored after, also after an error; a collector that
    is off or already less eager is left as it is."""
    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        with fewer_collections():
            assert gc.get_threshold() == (GC_THRESHOLD, 10, 10)
            with fewer_collections():
                assert gc.get_threshold() == (GC_THRESHOLD, 10, 10)
            assert gc.get_threshold() == (GC_THRESHOLD, 10, 10)  # the outer call still runs
        assert gc.get_threshold() == (700, 10, 10)
        with pytest.raises(RuntimeError, match="stop"), fewer_collections():
            raise RuntimeError("stop")
        assert gc.get_threshold() == (700, 10, 10)
        gc.set_threshold(0, 10, 10)
        with fewer_collections():
            assert gc.get_threshold() == (0, 10, 10)
        gc.set_threshold(500_000, 5, 5)
        with fewer_collections():
            assert gc.get_threshold() == (500_000, 5, 5)
        assert gc.get_threshold() == (500_000, 5, 5)
    finally:
        gc.set_threshold(*saved)


def test_stylesheets_parsed_once_per_thread_give_the_same_pdf(wave, ranking_id):
    """The stylesheet and fonts kept by a thread style the report as the linked stylesheet did
    (A4 pages, DejaVu Sans): another thread, with its own parsed copies, gives the same bytes."""
    page = pypdf.PdfReader(io.BytesIO(ranking_id)).pages[0]
    assert [round(float(v)) for v in page.mediabox] == [0, 0, 595, 842]  # report.css: A4
    results: list[bytes] = []
    thread = threading.Thread(target=lambda: results.append(render_ranking_pdf(wave)))
    thread.start()
    thread.join()
    assert results == [ranking_id]
    with pytest.raises(ValueError, match="stylesheet"):
        html_to_pdf("<html><body>x</body></html>", stylesheet="../survey.css")


def test_slimmer_user_agent_sheet_gives_the_same_pdf(wave, ranking_id, monkeypatch):
    """The user-agent sheet without the universal ::marker and note rules changes no byte of a
    report: the ranking, an OPD report and posters are as with WeasyPrint's own sheet."""
    from weasyprint import HTML

    from reports import render as render_module

    assert render_module._user_agent_sheet() is not render_module.weasyprint_html.UA_STYLESHEET
    opd_input = sample_opd_report(wave, wave.opds[0].slug)
    posters = sample_posters(wave)[:2]
    ours = [render_opd_pdf(opd_input), render_posters_pdf(posters, wave_title=wave.title)]
    monkeypatch.setattr(render_module, "_ReportHTML", HTML)
    assert render_ranking_pdf(wave) == ranking_id
    assert [render_opd_pdf(opd_input), render_posters_pdf(posters, wave_title=wave.title)] == ours

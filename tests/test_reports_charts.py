"""Charts, number and date formats and the input contract of ``reports`` (no PDF rendering)."""

from __future__ import annotations

import doctest
import pickle
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime

import numpy as np
import pytest

import reports
from reports import charts
from reports.formatting import Formatter, format_date, format_datetime, format_number
from reports.model import ElementInfo, OpdInfo, ScoredWave, TrendPoint, age_band
from reports.opd import profile_fields, visible_comments, weakest_elements
from reports.ranking import category_counts, certainty_paragraphs, ranking_rows
from reports.sample import sample_ranking
from reports.texts import TEXTS, Texts

SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def wave() -> ScoredWave:
    """A simulated wave of 20 OPDs (KNPI-like means, 20..80 respondents each)."""
    return sample_ranking(20, seed=3)


def _labels(data: ScoredWave) -> dict[str, str]:
    """Short names by slug, as the reports label charts."""
    return {o.slug: o.label() for o in data.opds}


def _texts(svg: str) -> list[str]:
    """All text of an SVG document (it parses, or the test fails)."""
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG_NS}svg"
    return ["".join(node.itertext()) for node in root.iter(f"{SVG_NS}text")]


def _all_charts(data: ScoredWave, lang: str) -> dict[str, str]:
    """Every chart of the reports for one wave, by name."""
    labels = _labels(data)
    unit = data.score.units[0]
    names = [f"{e.code} {e.name(lang)}" for e in data.elements]
    medians = [float(np.median([u.elements[j].nrr for u in data.score.units])) for j in range(9)]
    counts = np.sum([a.counts for a in data.aggregates.values()], axis=0)
    trend = [
        TrendPoint("2024", date(2024, 12, 1), 2.9, 2.8, 3.0, 40),
        TrendPoint("2025", date(2025, 6, 1), unit.ikm, unit.interval.low, unit.interval.high, 30),
    ]
    return {
        "caterpillar": charts.caterpillar_svg(data.score, labels, lang=lang, highlight=unit.unit),
        "ranks": charts.rank_interval_svg(data.score, labels, lang=lang, top_k=5),
        "funnel": charts.funnel_svg(data.score, labels, lang=lang),
        "diverging": charts.diverging_svg(counts, names, lang=lang),
        "element": charts.element_svg(
            unit, medians, names, data.score.scheme, lang=lang, weakest=["U9"]
        ),
        "trend": charts.trend_svg(trend, data.score.scheme, lang=lang),
    }


def test_charts_are_valid_deterministic_svg(wave):
    """Every chart parses as SVG and the same data give byte-identical SVG."""
    first = _all_charts(wave, "id")
    second = _all_charts(wave, "id")
    for name, svg in first.items():
        assert _texts(svg), name
        assert svg == second[name], f"{name} is not deterministic"
        assert "<dc:date>" not in svg  # no timestamp in the metadata


def _drawn(svg: str) -> list[tuple[str, dict[str, str], str]]:
    """Every element but the groups, in document order, with its attributes and text."""
    return [
        (node.tag, dict(node.attrib), node.text or "")
        for node in ET.fromstring(svg).iter()
        if node.tag != f"{SVG_NS}g"
    ]


def test_charts_drop_only_groups_that_do_nothing(wave, monkeypatch):
    """The empty and id-only groups of matplotlib's SVG are gone (WeasyPrint draws each node);
    every other element is still there, in the same order and nesting of styled groups."""
    slim = _all_charts(wave, "id")
    monkeypatch.setattr(charts, "_slim", lambda svg: svg)
    charts._CATERPILLARS.clear()
    raw = _all_charts(wave, "id")
    for name, svg in slim.items():
        groups = list(ET.fromstring(svg).iter(f"{SVG_NS}g"))
        raw_groups = list(ET.fromstring(raw[name]).iter(f"{SVG_NS}g"))
        assert len(groups) < len(raw_groups) / 2, name
        assert all(set(g.attrib) != {"id"} and len(g) for g in groups), name
        assert _drawn(svg) == _drawn(raw[name]), name
        kept = [dict(g.attrib) for g in raw_groups if set(g.attrib) != {"id"}]
        assert [dict(g.attrib) for g in groups] == kept, name


def test_charts_speak_the_report_language(wave):
    """Labels are in the report's language, with its decimal mark."""
    indonesian = _all_charts(wave, "id")
    english = _all_charts(wave, "en")
    assert "Peringkat (1 = terbaik)" in _texts(indonesian["ranks"])
    assert "Rank (1 = best)" in _texts(english["ranks"])
    element_id = _texts(indonesian["element"])
    element_en = _texts(english["element"])
    assert any("," in text and text.replace(",", "").isdigit() for text in element_id)
    assert any("." in text and text.replace(".", "").isdigit() for text in element_en)
    assert not any("," in text and text.replace(",", "").isdigit() for text in element_en)
    assert "1 (terburuk)" in _texts(indonesian["diverging"])
    assert "4 (best)" in _texts(english["diverging"])


def test_caterpillar_names_every_opd_best_first(wave):
    """Every OPD appears once on the caterpillar chart, the highest score at the top."""
    texts = _texts(charts.caterpillar_svg(wave.score, _labels(wave)))
    labels = [o.label() for o in wave.opds]
    named = [text for text in texts if text in labels]
    assert sorted(named) == sorted(labels)
    best = min(wave.score.units, key=lambda u: (-u.ikm, u.unit))
    # Tick labels are written in the order given, best (top row) first.
    assert named[0] == wave.opd(best.unit).label()


def _highlighted(svg: str) -> list[str]:
    """The texts drawn in the highlight colour (the OPD report's own OPD)."""
    root = ET.fromstring(svg)
    return [
        "".join(node.itertext())
        for node in root.iter(f"{SVG_NS}text")
        if charts.VERMILLION.lower() in (node.get("style") or "").lower()
    ]


def test_caterpillar_shared_figure_draws_each_highlight_as_built_afresh(wave):
    """The reports of a wave share one caterpillar figure: each OPD's chart is the SVG a figure
    built for it alone gives, whichever OPDs were highlighted on the shared figure before."""
    labels = _labels(wave)
    first, second = (u.unit for u in wave.score.units[:2])
    charts._CATERPILLARS.clear()
    fresh_first = charts.caterpillar_svg(wave.score, labels, highlight=first)
    charts._CATERPILLARS.clear()
    fresh_none = charts.caterpillar_svg(wave.score, labels)
    shared_second = charts.caterpillar_svg(wave.score, labels, highlight=second)
    shared_first = charts.caterpillar_svg(wave.score, labels, highlight=first)
    shared_none = charts.caterpillar_svg(wave.score, labels)
    assert len(charts._CATERPILLARS) == 1  # one figure served all four
    assert shared_first == fresh_first
    assert shared_none == fresh_none
    # Only the highlighted OPD is drawn in colour, and no colour is left behind.
    assert _highlighted(shared_first) == [labels[first]]
    assert _highlighted(shared_second) == [labels[second]]
    assert _highlighted(shared_none) == []
    # Other labels or another language: another figure, not the cached one.
    renamed = {**labels, first: "Dinas Baru"}
    assert "Dinas Baru" in _texts(charts.caterpillar_svg(wave.score, renamed, highlight=first))
    english = charts.caterpillar_svg(wave.score, labels, lang="en")
    assert "IKM score (scale 25–100)" in _texts(english)
    assert "Nilai IKM (skala 25–100)" in _texts(shared_none)


def test_funnel_names_the_outliers(wave):
    """OPDs outside the 95% limits are named on the funnel plot, the others are not."""
    texts = _texts(charts.funnel_svg(wave.score, _labels(wave)))
    for unit in wave.score.units:
        label = wave.opd(unit.unit).label()
        assert (label in texts) == (unit.funnel_95 != "inside"), label


def test_diverging_puts_unfavourable_answers_left():
    """Heiberger-Robbins layout: values 1-2 left of zero, 3-4 right, odd middle split."""
    svg = charts.diverging_svg([[10, 30, 40, 20], [0, 0, 0, 0]], ["A", "B"])
    texts = _texts(svg)
    assert "40%" in texts and "30%" in texts
    five = charts.diverging_svg([[5, 10, 20, 40, 25]], ["Lima titik"], lang="en")
    assert "20%" in _texts(five)  # the neutral middle is labelled too
    with pytest.raises(ValueError, match="labels"):
        charts.diverging_svg([[1, 2, 3, 4]], ["a", "b"])


def test_nrr_colour_darkens_with_the_value():
    """Higher NRR, darker cell; the text turns white on the dark end."""
    colours = [charts.nrr_colour(v, 2.0, 3.5)[0] for v in np.linspace(2.0, 3.5, 9)]
    lightness = [sum(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in colours]
    assert lightness == sorted(lightness, reverse=True)
    assert charts.nrr_colour(3.5, 2.0, 3.5)[1] == "#ffffff"
    assert charts.nrr_colour(float("nan"), 2.0, 3.5)[0] == "#ffffff"


def test_format_number_writes_what_babels_pattern_writes():
    """The fast formatter gives Babel's "#,##0.00" text for the half-up rounded value, in both
    languages, over signs, zeros, large numbers and 0 to 4 decimals."""
    from decimal import ROUND_HALF_UP, Decimal

    from babel.numbers import format_decimal

    rng = np.random.default_rng(15)
    values = [0.0, -0.0, -0.001, 0.005, 2.505, -2.505, 88.125, 1234567.891, -1e9 - 0.5]
    values += list(rng.normal(0, 10.0 ** rng.integers(0, 8, 300)))
    for value in values:
        for digits in range(5):
            rounded = Decimal(str(value)).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP)
            pattern = "#,##0" + ("." + "0" * digits if digits else "")
            for lang in ("id", "en"):
                expected = format_decimal(rounded, format=pattern, locale=lang)
                assert format_number(value, lang, digits) == expected, (value, digits, lang)
    assert format_number(-1234.5, "id", 1) == "-1.234,5"
    assert format_number(-1234.5, "en", 0) == "-1,235"


def test_formats_follow_the_language():
    """Decimal comma and Indonesian month names in Indonesian; point and English otherwise."""
    assert format_number(3.0744, "id") == "3,07"
    assert format_number(3.0744, "en") == "3.07"
    assert format_number(2.505, "id") == "2,51"  # half up, as a person would round
    assert format_number(float("nan")) == "—"
    assert format_date(date(2026, 1, 13), "id") == "13 Januari 2026"
    assert format_date(date(2026, 1, 13), "en") == "13 January 2026"
    moment = datetime(2026, 1, 13, 3, 5, tzinfo=UTC)
    assert format_datetime(moment, "id") == "13 Januari 2026, 10.05 WIB"
    assert format_datetime(moment, "en") == "13 January 2026, 10:05 WIB"
    f = Formatter("id")
    assert f.interval(73.51, 80.24) == "73,5–80,2"
    assert f.int(2623) == "2.623"
    assert f.pct(0.15) == "15%"
    assert f.period(date(2025, 6, 12), date(2025, 6, 16)) == "12–16 Juni 2025"
    with pytest.raises(ValueError, match="lang"):
        Formatter("fr")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "lang", "digits", "expected"),
    [
        (88.125, "id", 2, "88,13"),  # the binary float is 88.125 exactly: half up, not even
        (88.125, "en", 2, "88.13"),
        (88.115, "id", 2, "88,12"),  # the float is a hair under 88.115: as typed, half up
        (-2.505, "en", 2, "-2.51"),  # away from zero
        (0.125, "id", 2, "0,13"),
        (1234.5, "id", 0, "1.235"),
        (np.float64(3.525), "id", 2, "3,53"),
        (np.int64(7), "en", 1, "7.0"),
    ],
)
def test_one_rounding_rule_half_up_on_the_decimal_value(value, lang, digits, expected):
    """The project's one number formatter rounds half up on the value as written."""
    assert format_number(value, lang, digits) == expected


def test_pages_format_numbers_with_the_reports_formatter(app):
    """The pages' Jinja helper is the reports' formatter, with an en dash for a missing value."""
    from survey.web.i18n import format_number as page_number

    with app.test_request_context("/?lang=id"):
        assert page_number(88.125, 2) == "88,13" == format_number(88.125, "id")
        assert page_number(None) == "–" and page_number(float("nan")) == "–"
        assert page_number(1234, 0) == "1.234"
    with app.test_request_context("/?lang=en"):
        assert page_number(88.125, 2) == "88.13"


def test_every_text_has_both_languages_and_the_same_placeholders():
    """No text is missing a translation or a placeholder in one language."""
    import string

    for key, (indonesian, english) in TEXTS.items():
        assert indonesian and english, key
        fields = [
            {f for _, f, _, _ in string.Formatter().parse(text) if f}
            for text in (indonesian, english)
        ]
        assert fields[0] <= fields[1] | {"opd_word"} and fields[1] <= fields[0] | {"opd_word"}, key


def test_module_examples_run():
    """The docstring examples of the reports modules are true."""
    modules = (
        reports.formatting,
        reports.texts,
        reports.model,
        reports.charts,
        reports.opd,
        reports.sample,
    )
    for module in modules:
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, module.__name__


def test_inputs_are_validated_and_frozen(wave):
    """The contract refuses naive times and unknown OPDs, and its mappings are read-only."""
    import dataclasses

    with pytest.raises(ValueError, match="timezone-aware"):
        dataclasses.replace(wave, data_taken_at=datetime(2025, 6, 17, 9, 0))
    with pytest.raises(ValueError, match="without an OpdInfo"):
        dataclasses.replace(wave, opds=wave.opds[1:])
    with pytest.raises(TypeError):
        wave.flag_reasons["manual"] = 3  # type: ignore[index]
    copy = pickle.loads(pickle.dumps(wave))  # worker processes receive it pickled
    assert copy.fingerprint == wave.fingerprint and dict(copy.flag_reasons) == dict(
        wave.flag_reasons
    )
    assert ElementInfo("U1", "Persyaratan", "Requirements").labels("en") == ()
    assert OpdInfo("x", "Dinas X").label() == "Dinas X"
    assert [age_band(a) for a in (24, 25, 54, 55)] == ["< 25", "25–34", "45–54", "≥ 55"]


def test_category_counts_and_sets(wave):
    """Category counts add up; K-best sets are recomputed for another K."""
    counts = category_counts(wave)
    assert sum(c for _, c, _ in counts) == len(wave.score.units)
    assert sum(s for _, _, s in counts) == pytest.approx(1.0)
    rows3 = ranking_rows(wave, 3)
    expected = wave.score.ranks.tau_best(3)
    by_slug = {u.unit: bool(expected[i]) for i, u in enumerate(wave.score.units)}
    assert all(r.in_top == by_slug[r.opd.slug] for r in rows3)
    assert [r.unit.rank for r in rows3] == sorted(r.unit.rank for r in rows3)


def test_certainty_says_when_the_top_k_cannot_be_named(wave):
    """With wide rank sets the plain-language paragraph says the best five are not known."""
    t, f = Texts("id"), Formatter("id")
    rows = ranking_rows(wave, 5)
    top = sum(r.in_top for r in rows)
    text = " ".join(certainty_paragraphs(rows, 5, t, f))
    if top == len(rows):
        assert "sama sekali tidak dapat menunjuk lima OPD terbaik" in text
    elif top > 5:
        assert "belum cukup untuk memastikan lima OPD terbaik" in text
        assert f"di antara {top} OPD" in text
    assert "Tidak ada satu OPD pun yang pasti termasuk lima terbaik" in text or any(
        r.sure_top for r in rows
    )
    assert "dibutuhkan lebih banyak responden" in text


def test_certainty_names_the_best_when_the_data_can():
    """With thousands of respondents per OPD the best one is known, and the report says so."""
    strong = sample_ranking(6, sizes=[5000] * 6, seed=1)
    rows = ranking_rows(strong, 1)
    assert rows[0].sure_top and sum(r.in_top for r in rows) == 1
    text = " ".join(certainty_paragraphs(rows, 1, Texts("en"), Formatter("en")))
    assert f"strong enough to name the best one with 95% confidence: {rows[0].label}." in text


def test_anonymity_rules():
    """Small profile groups are merged or hidden; comments need 8 responses."""
    t = Texts("id")
    fields = profile_fields(
        {"sex": {"L": 12, "P": 4}, "education": {"SMA": 9, "S1": 3, "S2": 2}}, t
    )
    assert fields[0].groups == (("Laki-laki", 12),) and fields[0].hidden
    assert fields[1].groups == (("SMA", 9), ("Lainnya", 5)) and fields[1].merged
    everyone_small = profile_fields({"occupation": {"PNS": 2, "TNI": 1}}, t)[0]
    assert everyone_small.groups == () and everyone_small.hidden
    assert visible_comments([], 7) is None
    assert visible_comments([], 8) == []


def test_weakest_elements_are_the_lowest_nrr(wave):
    """The follow-up priorities are the three lowest NRRs."""
    unit = wave.score.units[0]
    weakest = weakest_elements(unit)
    assert len(weakest) == 3
    assert [e.nrr for e in weakest] == sorted(e.nrr for e in unit.elements)[:3]


@pytest.mark.parametrize("lang", ["id", "en"])
def test_a_dollar_in_a_name_is_drawn_as_text(wave, lang):
    """Names and element texts are never read as mathtext: ``$\\frac{$`` is drawn as written."""
    hostile = "$\\frac{$"
    labels = {**_labels(wave), wave.score.units[0].unit: hostile}
    labels[wave.score.units[1].unit] = "Dinas $5 $x^2$"
    data = wave
    unit = data.score.units[0]
    names = [f"{e.code} $\\frac{{$ {e.name(lang)}" for e in data.elements]
    medians = [float(np.median([u.elements[j].nrr for u in data.score.units])) for j in range(9)]
    counts = np.sum([a.counts for a in data.aggregates.values()], axis=0)
    svgs = {
        "caterpillar": charts.caterpillar_svg(data.score, labels, lang=lang, highlight=unit.unit),
        "ranks": charts.rank_interval_svg(data.score, labels, lang=lang, top_k=5),
        "diverging": charts.diverging_svg(counts, names, lang=lang),
        "element": charts.element_svg(
            unit, medians, names, data.score.scheme, lang=lang, weakest=["U9"]
        ),
    }
    for name, svg in svgs.items():
        texts = _texts(svg)
        if name in ("caterpillar", "ranks"):
            assert hostile in texts and "Dinas $5 $x^2$" in texts, name
        else:
            assert any(text.startswith("U1 $\\frac{$ ") for text in texts), name

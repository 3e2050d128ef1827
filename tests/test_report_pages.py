"""No page of a report holds only a line or two (issue 13, item 7: looked at in Chromium).

Looking at every page of the demo's reports found two such pages: the ranking report's
empirical-Bayes chapter spilled its last two lines (the model's details) onto a page of their
own, and an OPD report without an earlier wave gave a page to the one sentence "no earlier
wave" before the respondent profile began on the next. A page's text is its running header and
footer (about 150 characters) plus its content; every page here must carry more than
:data:`MIN_PAGE_TEXT` characters.
"""

from __future__ import annotations

import dataclasses
import io

import pypdf
import pytest

from reports.opd import render_opd_pdf
from reports.ranking import render_ranking_pdf
from reports.sample import sample_opd_report, sample_ranking

MIN_PAGE_TEXT = 500


def page_texts(pdf: bytes) -> list[int]:
    return [len(page.extract_text()) for page in pypdf.PdfReader(io.BytesIO(pdf)).pages]


@pytest.fixture(scope="module")
def wave():
    return sample_ranking(20)


def test_no_near_empty_page_in_the_ranking_report(wave) -> None:
    pages = pypdf.PdfReader(io.BytesIO(render_ranking_pdf(wave))).pages
    texts = [page.extract_text() for page in pages]
    assert min(len(text) for text in texts) > MIN_PAGE_TEXT, [len(text) for text in texts]
    # The model's details now close the methods appendix, once.
    assert " ".join(texts).count("Model normal-normal") == 1


@pytest.mark.parametrize("public", [True, False], ids=["public", "full"])
def test_no_near_empty_page_in_an_opd_report_without_earlier_waves(wave, public: bool) -> None:
    slug = wave.ranked_units()[0].unit
    data = dataclasses.replace(sample_opd_report(wave, slug), trend=(), public=public)
    if public:
        data = dataclasses.replace(data, comments=())
    sizes = page_texts(render_opd_pdf(data))
    assert min(sizes) > MIN_PAGE_TEXT, sizes
    assert len(sizes) == (4 if public else 5)

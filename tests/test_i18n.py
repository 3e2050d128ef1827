"""Languages: the English catalog is complete and compiled, and pages follow the switch."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from survey_helpers import SurveyActions, install_clock

ROOT = Path(__file__).resolve().parent.parent
BABEL_CFG = ROOT / "survey" / "babel.cfg"
CATALOG = ROOT / "survey" / "translations" / "en" / "LC_MESSAGES"


def extracted() -> dict[str, set[str]]:
    """Return every message id used in the code and templates, with the files using it."""
    with BABEL_CFG.open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh, str(BABEL_CFG))
    found: dict[str, set[str]] = {}
    for filename, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=DEFAULT_KEYWORDS
    ):
        messages = message if isinstance(message, tuple) else (message,)
        for msgid in messages:
            if msgid:
                found.setdefault(msgid, set()).add(filename)
    return found


def english_catalog():
    """Return the committed English catalog."""
    with (CATALOG / "messages.po").open("rb") as fh:
        return read_po(fh, locale="en")


@pytest.fixture
def visitor(app, open_wave, monkeypatch):
    """A browser with an app context per request (see survey_helpers)."""
    return SurveyActions(app, install_clock(monkeypatch))


def test_extraction_covers_code_and_templates():
    """babel.cfg reaches both the Python modules and the Jinja templates."""
    files = {name for names in extracted().values() for name in names}
    assert any(name.startswith("templates/") for name in files)
    assert any(name.startswith("survey/") and name.endswith(".py") for name in files)
    assert {"survey/web/forms.py", "survey/web/errors.py", "templates/base.html"} <= files


def test_every_message_has_an_english_translation():
    """Each message the code or templates use is translated, none fuzzy."""
    catalog = english_catalog()
    missing = []
    for msgid, files in sorted(extracted().items()):
        message = catalog.get(msgid)
        if message is None or not message.string or message.fuzzy:
            missing.append(f"{msgid!r} ({', '.join(sorted(files))})")
    assert missing == []


def test_compiled_catalog_matches_the_po():
    """The committed messages.mo is exactly what compiling messages.po gives."""
    buffer = io.BytesIO()
    write_mo(buffer, english_catalog())
    assert (CATALOG / "messages.mo").read_bytes() == buffer.getvalue()


def test_placeholders_survive_translation():
    """A translation keeps the ``%(name)s`` placeholders of its source."""
    import re

    pattern = re.compile(r"%\(\w+\)[sd]")
    for message in english_catalog():
        if message.id:
            assert sorted(pattern.findall(message.id)) == sorted(pattern.findall(message.string)), (
                message.id
            )


def test_english_page_has_no_indonesian_ui_text(visitor):
    """With ``?lang=en`` no Indonesian interface sentence is left on the survey page."""
    html = visitor.get("/s/uji-2026/bpbd?lang=en").get_data(as_text=True)
    catalog = english_catalog()
    leftovers = [
        m.id for m in catalog if m.id and len(m.id) > 12 and m.id != m.string and m.id in html
    ]
    assert leftovers == []


def test_numbers_follow_the_language(visitor):
    """The comment limit reads 1.200 in Bahasa Indonesia and 1,200 in English."""
    assert "Paling banyak 1.200 karakter." in visitor.get("/s/uji-2026/bpbd").get_data(as_text=True)
    assert "At most 1,200 characters." in visitor.get("/s/uji-2026/bpbd?lang=en").get_data(
        as_text=True
    )


def test_switch_sets_the_language_cookie(visitor):
    """The visible switch sets an HttpOnly, SameSite=Lax cookie that later pages follow."""
    page = visitor.get("/s/uji-2026/bpbd").get_data(as_text=True)
    assert '<a href="/s/uji-2026/bpbd?lang=en" lang="en" hreflang="en">English</a>' in page
    response = visitor.get("/s/uji-2026/bpbd?lang=en")
    header = response.headers["Set-Cookie"]
    assert header.startswith("lang=en;") and "HttpOnly" in header and "SameSite=Lax" in header
    not_found = visitor.get("/s/uji-2026/tidak-ada")
    assert not_found.status_code == 404
    assert '<html lang="en">' in not_found.get_data(as_text=True)
    assert "Page not found" in not_found.get_data(as_text=True)


def test_unknown_language_falls_back_to_indonesian(visitor):
    """An unsupported ``lang`` is ignored: Bahasa Indonesia, and no cookie."""
    response = visitor.get("/s/uji-2026/bpbd?lang=fr")
    assert '<html lang="id">' in response.get_data(as_text=True)
    assert visitor.client.get_cookie("lang") is None


def test_a_moment_is_written_as_babel_writes_it():
    """The dashboard's times ('13 Januari 2026 14.05'), written from Babel's month names, are
    Babel's own "d MMMM y HH.mm" text, in both languages, over every month and hour."""
    import random
    from datetime import datetime

    from babel.dates import format_datetime

    from survey.web.i18n import _moment_text

    rng = random.Random(15)
    for _ in range(500):
        moment = datetime(
            rng.randint(1999, 2040),
            rng.randint(1, 12),
            rng.randint(1, 28),
            rng.randint(0, 23),
            rng.randint(0, 59),
        )
        for lang in ("id", "en"):
            expected = format_datetime(moment, format="d MMMM y HH.mm", locale=lang)
            assert _moment_text(moment, lang) == expected
    assert _moment_text(datetime(2026, 1, 3, 4, 5), "id") == "3 Januari 2026 04.05"

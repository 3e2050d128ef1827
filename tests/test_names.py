"""OPD names: no hidden characters, and a ``$`` in a name is text on every page and chart."""

from __future__ import annotations

import re

import pytest
from auth_helpers import admin_snapshot, csrf_token, login
from sqlmodel import Session
from survey_helpers import add_opd, add_responses, set_wave_status

from survey.core import opds, queries
from survey.core.opds import OpdError

HIDDEN = [
    ("Dinas\u202eKesehatan", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ("Dinas\u2066Kesehatan\u2069", "U+2066 LEFT-TO-RIGHT ISOLATE"),
    ("Dinas\u200bKesehatan", "U+200B ZERO WIDTH SPACE"),
    ("Dinas\u200dKesehatan", "U+200D ZERO WIDTH JOINER"),
    ("\ufeffDinas Kesehatan", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
    ("Dinas\x1bKesehatan", "U+001B"),
    ("Dinas\nKesehatan", "U+000A"),
    ("Dinas\u2028Kesehatan", "U+2028 LINE SEPARATOR"),
]


@pytest.mark.parametrize(("name", "character"), HIDDEN)
def test_service_refuses_hidden_characters_in_names(session: Session, name, character) -> None:
    """Name and short name alike: a coded problem naming the character, nothing stored."""
    before = admin_snapshot(session)
    with pytest.raises(OpdError) as refused:
        add_opd(session, slug="dinkes", name=name, short_name="Dinkes")
    assert [(p.code, p.field) for p in refused.value.problems] == [("hidden-character", "name")]
    assert character in refused.value.problems[0].english()
    with pytest.raises(OpdError) as short:
        add_opd(session, slug="dinkes", name="Dinas Kesehatan", short_name=name)
    assert [(p.code, p.field) for p in short.value.problems] == [("hidden-character", "short_name")]
    assert admin_snapshot(session) == before


def test_ordinary_names_pass(session: Session) -> None:
    """Accents, punctuation, the dollar sign and a tab-free name are all fine."""
    opd = add_opd(
        session, slug="dinkes", name="Dinas Kesehatan & Gizi (Dinkes) – $5", short_name="Dinkés"
    )
    assert (opd.name, opd.short_name) == ("Dinas Kesehatan & Gizi (Dinkes) – $5", "Dinkés")


def test_the_workspace_page_and_the_command_line_say_it(client, runner, users, session) -> None:
    """Indonesian next to the field on the page; one English line from ``ikm opd add``."""
    login(client, "eva")
    before = admin_snapshot(session)
    response = client.post(
        "/kerja/opd",
        data={"csrf_token": csrf_token(client), "slug": "dinkes", "name": "Dinas\u202eKesehatan"},
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    error_at = html.index('<p class="field-error" id="e-name">')
    assert (
        "Nama berisi karakter kendali atau tak terlihat U+202E RIGHT-TO-LEFT OVERRIDE; "
        "ketik ulang tanpa karakter itu." in html[error_at : error_at + 300]
    )
    edit = client.post(
        "/kerja/opd/bpbd",
        data={
            "csrf_token": csrf_token(client),
            "action": "update",
            "name": "Badan Penanggulangan Bencana Daerah",
            "short_name": "BP\u200bBD",
        },
    )
    assert edit.status_code == 400
    assert "U+200B ZERO WIDTH SPACE" in edit.get_data(as_text=True)
    result = runner.invoke(args=["opd", "add", "dinkes", "--name", "Dinas\u2066Kesehatan"])
    assert result.exit_code == 1
    assert "name contains the invisible or control character U+2066" in result.output
    assert admin_snapshot(session) == before


# --- A dollar sign in a name ----------------------------------------------------------------

MATH = "$\\frac{$"


@pytest.fixture
def dollar_wave(session: Session, open_wave):
    """The sample wave, published, BPBD's short name ``$\\frac{$`` (mathtext that fails)."""
    bpbd = queries.get_opd(session, slug="bpbd")
    assert bpbd is not None
    opds.update_opd(
        session,
        opd=bpbd,
        name="Badan $Penanggulangan$ Bencana",
        short_name=MATH,
        service_population=None,
        service_hours=None,
        actor=None,
    )
    for slug in ("bpbd", "rsud", "dishub"):
        add_responses(session, open_wave, slug, [[4] * 9, [3] * 9, [2] * 9] * 4)
    set_wave_status(session, slug="uji-2026", status="closed")
    return set_wave_status(session, slug="uji-2026", status="published")


def test_public_pages_and_charts_show_a_dollar_name(client, dollar_wave) -> None:
    """The result pages answer 200 with the name written out, in the page and in the charts."""
    import base64

    for lang in ("id", "en"):
        page = client.get(f"/hasil/uji-2026?lang={lang}")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        images = re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', html)
        assert len(images) == 3
        svgs = [base64.b64decode(image).decode() for image in images]
        assert all("\\frac{" in svg for svg in svgs[:2])  # caterpillar and rank intervals
        opd_page = client.get(f"/hasil/uji-2026/bpbd?lang={lang}")
        assert opd_page.status_code == 200
        assert "Badan $Penanggulangan$ Bencana" in opd_page.get_data(as_text=True)
    assert client.get("/r/uji-2026/ranking.pdf").status_code == 200

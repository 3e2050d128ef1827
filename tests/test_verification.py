"""The wave setting ``verification`` and the results of verified answers only.

The setting is set from the command line and from the wave form alike, audited, and frozen
with the wave once published. Scoring with ``verified_only`` reads only the answers that
carried a valid code; an "optional" wave's pages offer a link that switches to those results,
saying on how many answers they rest.
"""

from __future__ import annotations

import re

import pytest
from auth_helpers import csrf_token, login
from code_helpers import audit_actions, set_verification
from sqlmodel import Session
from survey_helpers import add_responses, set_wave_status

from reports.formatting import format_number
from survey.core import queries
from survey.core.builtin import DEFAULT_SCHEME_SLUG
from survey.core.models import Wave
from survey.core.scores import score_wave, verified_share

HIGH = [[4] * 9, [3] * 9, [4] * 8 + [3]]
LOW = [[2] * 9, [1] * 9, [2] * 8 + [3]]


def wave_of(session: Session, slug: str = "uji-2026") -> Wave:
    """Return a wave read afresh."""
    session.expire_all()
    wave = queries.get_wave(session, slug=slug)
    assert wave is not None
    return wave


# --- The setting from the command line ---------------------------------------------------------


def test_cli_sets_verification_on_create_and_edit(runner, session: Session, open_wave) -> None:
    result = runner.invoke(
        args=["wave", "create", "--slug", "v", "--title", "V", "--verification", "required"]
    )
    assert result.exit_code == 0, result.output
    assert wave_of(session, "v").verification == "required"
    [created] = [e for e in audit_actions(session, "wave.create") if e.detail["wave"] == "v"]
    assert created.detail["verification"] == "required"

    result = runner.invoke(args=["wave", "edit", "v", "--verification", "optional"])
    assert result.exit_code == 0, result.output
    assert "Wave v changed" in result.output
    assert wave_of(session, "v").verification == "optional"
    [updated] = audit_actions(session, "wave.update")
    assert updated.detail == {
        "wave": "v",
        "before": {"verification": "required"},
        "after": {"verification": "optional"},
    }
    # The rest of the wave is kept as it was.
    assert len(queries.wave_opds(session, wave=wave_of(session, "v"))) == 3

    result = runner.invoke(args=["wave", "edit", "v", "--verification", "optional"])
    assert result.exit_code == 0 and "nothing to change" in result.output
    assert len(audit_actions(session, "wave.update")) == 1


def test_cli_default_is_off_and_a_bad_mode_is_refused(runner, session: Session, open_wave) -> None:
    assert runner.invoke(args=["wave", "create", "--slug", "w", "--title", "W"]).exit_code == 0
    assert wave_of(session, "w").verification == "off"
    result = runner.invoke(args=["wave", "edit", "w", "--verification", "sometimes"])
    assert result.exit_code == 2
    assert "'sometimes' is not one of 'off', 'optional', 'required'" in result.output
    assert wave_of(session, "w").verification == "off"


def test_cli_cannot_change_a_published_wave(runner, session: Session, open_wave) -> None:
    add_responses(session, open_wave, "bpbd", [[4] * 9, [3] * 9])
    set_wave_status(session, slug="uji-2026", status="published")
    before = len(audit_actions(session, "wave.update"))
    result = runner.invoke(args=["wave", "edit", "uji-2026", "--verification", "required"])
    assert result.exit_code == 1
    assert "a published wave cannot be changed" in result.output
    assert wave_of(session).verification == "off"
    assert len(audit_actions(session, "wave.update")) == before


# --- The setting in the wave form --------------------------------------------------------------


def wave_form(**changes: object) -> dict:
    """A valid wave form over bpbd and rsud, with changes."""
    data: dict = {
        "slug": "web-2026",
        "title": "Gelombang Web",
        "opd": ["bpbd", "rsud"],
        "questionnaire": "1",
        "scheme": DEFAULT_SCHEME_SLUG,
    }
    data.update(changes)
    return data


def test_web_form_sets_and_changes_verification(client, session: Session, users) -> None:
    login(client, "eva")
    page = client.get("/kerja/gelombang/baru").get_data(as_text=True)
    assert 'name="verification" value="off" checked' in page
    assert ">Opsional</label>" in page and ">Wajib</label>" in page
    token = csrf_token(client, "/kerja/gelombang/baru")
    response = client.post(
        "/kerja/gelombang/baru", data={"csrf_token": token, **wave_form(verification="optional")}
    )
    assert response.status_code == 303
    assert wave_of(session, "web-2026").verification == "optional"
    detail = client.get("/kerja/gelombang/web-2026").get_data(as_text=True)
    assert "<dt>Kode kunjungan</dt><dd>Opsional</dd>" in detail

    edit = "/kerja/gelombang/web-2026/ubah"
    assert 'name="verification" value="optional" checked' in client.get(edit).get_data(as_text=True)
    response = client.post(edit, data={"csrf_token": token, **wave_form(verification="required")})
    assert response.status_code == 303
    assert wave_of(session, "web-2026").verification == "required"
    [updated] = audit_actions(session, "wave.update")
    assert updated.actor == "eva"
    assert updated.detail["after"] == {"verification": "required"}

    # A post without the field (an older page) keeps the setting.
    response = client.post(edit, data={"csrf_token": token, **wave_form(title="Judul Baru")})
    assert response.status_code == 303
    assert wave_of(session, "web-2026").verification == "required"


def test_web_form_refuses_an_unknown_mode(client, session: Session, users) -> None:
    login(client, "eva")
    token = csrf_token(client, "/kerja/gelombang/baru")
    response = client.post(
        "/kerja/gelombang/baru", data={"csrf_token": token, **wave_form(verification="kadang")}
    )
    assert response.status_code == 400
    assert "Pilih mati, opsional, atau wajib." in response.get_data(as_text=True)
    assert queries.get_wave(session, slug="web-2026") is None
    english = client.post(
        "/kerja/gelombang/baru?lang=en",
        data={"csrf_token": token, **wave_form(verification="kadang")},
    )
    assert "Choose off, optional or required." in english.get_data(as_text=True)


def test_web_form_labels_are_translated(client, users) -> None:
    login(client, "eva")
    page = client.get("/kerja/gelombang/baru?lang=en").get_data(as_text=True)
    assert ">Off</label>" in page and ">Optional</label>" in page and ">Required</label>" in page


def test_web_cannot_change_a_published_wave(client, session: Session, users, open_wave) -> None:
    add_responses(session, open_wave, "bpbd", [[4] * 9, [3] * 9])
    set_wave_status(session, slug="uji-2026", status="published")
    login(client, "eva")
    token = csrf_token(client, "/kerja")
    data = wave_form(opd=["bpbd", "rsud", "dishub"], verification="required")
    response = client.post("/kerja/gelombang/uji-2026/ubah", data={"csrf_token": token, **data})
    assert response.status_code == 409
    assert wave_of(session).verification == "off"


# --- Verified answers only ---------------------------------------------------------------------


@pytest.fixture
def mixed(session: Session, open_wave) -> Wave:
    """uji-2026, optional: bpbd 21 verified high and 9 unverified low; rsud the reverse."""
    add_responses(session, open_wave, "bpbd", HIGH * 7, verified=True)
    add_responses(session, open_wave, "bpbd", LOW * 3)
    add_responses(session, open_wave, "rsud", LOW * 7, verified=True)
    add_responses(session, open_wave, "rsud", HIGH * 3)
    add_responses(session, open_wave, "dishub", HIGH * 6)
    # A flagged answer is never scored, verified or not.
    add_responses(session, open_wave, "bpbd", [[1] * 9], status="flagged", verified=True)
    return set_verification(session, "uji-2026", "optional")


def mean_ikm(rows: list[list[int]]) -> float:
    """The unweighted IKM (1..4) of rows of nine answers: the mean of the element means."""
    return sum(sum(r[i] for r in rows) / len(rows) for i in range(9)) / 9


def test_score_wave_verified_only_scores_the_verified_answers(session: Session, mixed) -> None:
    every = {row["opd"]: row for row in score_wave(session, wave=mixed).rows()}
    verified = score_wave(session, wave=mixed, verified_only=True)
    assert verified.verified_only and verified.counted == 42
    only = {row["opd"]: row for row in verified.rows()}
    assert (every["bpbd"]["n"], only["bpbd"]["n"]) == (30, 21)
    assert (every["rsud"]["n"], only["rsud"]["n"]) == (30, 21)
    assert (every["dishub"]["n"], only["dishub"]["n"]) == (18, 0)
    assert only["bpbd"]["ikm"] == pytest.approx(mean_ikm(HIGH * 7))
    assert only["rsud"]["ikm"] == pytest.approx(mean_ikm(LOW * 7))
    assert every["bpbd"]["ikm"] == pytest.approx(mean_ikm(HIGH * 7 + LOW * 3))
    assert only["dishub"]["ikm"] is None
    share = verified_share(session, wave=mixed)
    assert (share.counted, share.verified) == (78, 42)


def row_of(page: str, slug: str) -> str:
    """The HTML of one OPD's row of the public ranking table."""
    found = re.search(rf'<tr id="opd-{slug}"[^>]*>(.*?)</tr>', page, re.S)
    assert found, slug
    return found.group(1)


def test_public_results_offer_verified_answers_only(client, session: Session, mixed) -> None:
    set_wave_status(session, slug="uji-2026", status="published")
    wave = wave_of(session)
    every = {u["opd"]: u for u in score_wave(session, wave=wave).rows()}
    only = {u["opd"]: u for u in score_wave(session, wave=wave, verified_only=True).rows()}

    page = client.get("/hasil/uji-2026").get_data(as_text=True)
    assert "Hasil dari semua 78 jawaban yang dihitung; 42 di antaranya" in page
    assert 'href="/hasil/uji-2026?terverifikasi=1"' in page
    assert "Tampilkan hasil dari jawaban terverifikasi saja (n = 42)" in page
    assert f'<td class="num n">{every["bpbd"]["n"]}' in row_of(page, "bpbd")
    assert format_number(every["bpbd"]["ikm_converted"], "id", 2) in row_of(page, "bpbd")

    page = client.get("/hasil/uji-2026?terverifikasi=1").get_data(as_text=True)
    assert "<strong>Hanya jawaban terverifikasi</strong>" in page
    assert "dihitung dari 42 jawaban yang disertai kode kunjungan sah, dari 78" in page
    assert "Tampilkan hasil dari semua jawaban yang dihitung (n = 78)" in page
    assert '<td class="num n">21' in row_of(page, "bpbd")
    assert format_number(only["bpbd"]["ikm_converted"], "id", 2) in row_of(page, "bpbd")
    assert format_number(only["rsud"]["ikm_converted"], "id", 2) in row_of(page, "rsud")
    assert '<tr id="opd-dishub" class="unscored">' in page  # no verified answer: not ranked

    opd = client.get("/hasil/uji-2026/bpbd?terverifikasi=1").get_data(as_text=True)
    assert "Hanya jawaban terverifikasi" in opd
    assert format_number(only["bpbd"]["ikm_converted"], "id", 2) in opd
    english = client.get("/hasil/uji-2026?terverifikasi=1&lang=en").get_data(as_text=True)
    assert "Verified answers only" in english


def test_no_switch_unless_codes_are_optional(client, session: Session, open_wave) -> None:
    add_responses(session, open_wave, "bpbd", HIGH * 7, verified=True)
    add_responses(session, open_wave, "bpbd", LOW * 3)
    set_wave_status(session, slug="uji-2026", status="published")  # verification off
    page = client.get("/hasil/uji-2026?terverifikasi=1").get_data(as_text=True)
    assert "terverifikasi" not in page.replace("?terverifikasi=1", "")
    assert '<td class="num n">30' in row_of(page, "bpbd")  # the switch is ignored


def test_dashboard_offers_verified_answers_only(client, session: Session, users, mixed) -> None:
    login(client, "eva")
    page = client.get("/kerja/gelombang/uji-2026/dasbor").get_data(as_text=True)
    assert 'href="/kerja/gelombang/uji-2026/dasbor?terverifikasi=1"' in page
    assert '<dd class="total-count">78' in page
    page = client.get("/kerja/gelombang/uji-2026/dasbor?terverifikasi=1").get_data(as_text=True)
    assert "Hanya jawaban terverifikasi" in page
    assert '<dd class="total-count">42' in page
    # The TV layout cannot carry the label, so it never shows verified answers alone.
    page = client.get("/kerja/gelombang/uji-2026/dasbor/tv?terverifikasi=1").get_data(as_text=True)
    assert '<dd class="total-count">78' in page

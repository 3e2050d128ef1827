"""Where the command line and the web once disagreed, they now give one answer on both backends.

Each case of issue 10 is tried from both ends: an OPD's service population too large for the
column, a semicolon CSV whose header holds a quoted comma, a respondent's age outside 15..100,
and moving a wave through its life cycle.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from auth_helpers import CSRF_RE, PASSWORD, csrf_token, login
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, col, select
from survey_helpers import (
    ALL_FOURS,
    SurveyActions,
    add_opd,
    add_responses,
    create_wave,
    install_clock,
    stored,
)

from survey.core import accounts, csvfiles, opds, queries, responsefile
from survey.core.models import AuditLog, Opd, Response, Wave

# The issue's file: Excel set to Indonesian saves semicolons, and a long question header
# keeps its comma inside quotes.
ISSUE_HEADER = 'opd;submitted_at;"U2 Sistem, Mekanisme, dan Prosedur";U3'
ISSUE_CELLS = ["opd", "submitted_at", "U2 Sistem, Mekanisme, dan Prosedur", "U3"]


def post_form(client: FlaskClient, path: str, data: dict[str, str]):
    """Post a workspace form with the CSRF token of the page at ``path``."""
    return client.post(path, data={"csrf_token": csrf_token(client, path), **data})


@pytest.fixture
def evaluator(client: FlaskClient, session: Session) -> FlaskClient:
    """The test client signed in as the evaluator 'eva'."""
    accounts.create_user(session, username="eva", password=PASSWORD, role="evaluator")
    return login(client, "eva")


def opd_rows(session: Session) -> list[tuple]:
    """Return every OPD as (slug, name, population), fresh from the database."""
    session.expire_all()
    return [
        (o.slug, o.name, o.service_population)
        for o in session.exec(select(Opd).order_by(Opd.slug)).all()
    ]


# --- An OPD's service population beyond the column ------------------------------------------


def test_population_beyond_the_column_is_refused_by_the_cli_and_the_web(
    runner, evaluator, session
) -> None:
    """3,000,000,000 is one English line (exit 1) and a field message; nothing is written."""
    add_opd(session, slug="bpbd", name="Badan Penanggulangan Bencana Daerah")
    before = opd_rows(session)
    result = runner.invoke(args=["opd", "add", "x", "--name", "X", "--population", "3000000000"])
    assert result.exit_code == 1
    assert result.output == (
        "Error: service_population '3000000000' is not a whole number from 1 to 2147483647\n"
    )
    assert opd_rows(session) == before
    response = post_form(
        evaluator,
        "/kerja/opd",
        {"slug": "x", "name": "X", "service_population": "3000000000"},
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    error_at = html.index('<p class="field-error" id="e-service_population">')
    assert "bilangan bulat 1 sampai 2.147.483.647" in html[error_at : error_at + 300]
    assert opd_rows(session) == before
    # The largest value the column holds is taken by both.
    result = runner.invoke(args=["opd", "add", "x", "--name", "X", "--population", "2147483647"])
    assert result.exit_code == 0, result.output
    response = post_form(
        evaluator,
        "/kerja/opd",
        {"slug": "y", "name": "Y", "service_population": "2147483647"},
    )
    assert response.status_code == 302
    assert opd_rows(session) == [*before, ("x", "X", 2147483647), ("y", "Y", 2147483647)]


# --- A semicolon CSV whose header holds a quoted comma ---------------------------------------


def test_the_shared_reader_splits_on_the_delimiter_outside_quotes() -> None:
    """The issue's header is four columns split on ';'; other shapes keep their delimiter."""
    assert next(csvfiles.records(ISSUE_HEADER + "\nbpbd;;4;3\n")) == ISSUE_CELLS
    assert csvfiles.delimiter('opd,"U2; Sistem",U3\n') == ","
    assert csvfiles.delimiter("opd\tU1\tU2\n") == "\t"
    assert csvfiles.delimiter("opd\nbpbd\n") == ","  # one column: nothing to detect
    # A quoted header cell may span lines; the delimiter is still judged on the whole record.
    assert csvfiles.header_record('opd;"U2\nSistem, Mekanisme";U3\nbpbd;4;3') == (
        'opd;"U2\nSistem, Mekanisme";U3'
    )


def test_both_importers_read_the_issue_file_the_same_way() -> None:
    """The response reader and the OPD reader split the same semicolon file on ';'."""
    data = (ISSUE_HEADER + "\nbpbd;2026-01-14T09:00;4;3\n").encode("utf-8-sig")
    head = responsefile.read_head(data, "csv")
    assert list(head.header) == ISSUE_CELLS
    assert head.rows == (("bpbd", "2026-01-14T09:00", "4", "3"),)
    # The OPD importer has other columns, so it refuses the file, naming its first cell 'opd'
    # (split on ',' the cell would have been 'opd;submitted_at;"U2 Sistem').
    _good, _bad, _columns, refused = opds.read_rows(data)
    assert refused is not None and (refused.code, refused.values["value"]) == (
        "unknown-column",
        "opd",
    )
    opd_file = 'slug;name;"short_name"\nbpbd;"Badan Penanggulangan Bencana, Daerah";BPBD\n'
    good, bad, columns, refused = opds.read_rows(opd_file.encode())
    assert (bad, columns, refused) == ([], ("slug", "name", "short_name"), None)
    assert [(row.fields.slug, row.fields.name, row.fields.short_name) for row in good] == [
        ("bpbd", "Badan Penanggulangan Bencana, Daerah", "BPBD")
    ]


def test_the_issue_file_imports_its_answers(runner, session, open_wave, tmp_path: Path) -> None:
    """``ikm import`` of the semicolon file stores U2 and U3 from the right columns."""
    path = tmp_path / "excel.csv"
    path.write_text(ISSUE_HEADER + "\nbpbd;2026-01-14T09:00;4;3\nrsud;2026-01-14T10:00;2;1\n")
    result = runner.invoke(
        args=[
            "import",
            str(path),
            "--wave",
            "uji-2026",
            "--column",
            "U2 Sistem, Mekanisme, dan Prosedur=U2",
            "--allow-empty-elements",  # the file holds U2 and U3 only
        ]
    )
    assert result.exit_code == 0, result.output
    session.expire_all()
    rows = session.exec(select(Response).order_by(Response.submitted_at)).all()
    assert [(r.a1, r.a2, r.a3) for r in rows] == [(None, 4, 3), (None, 2, 1)]


def test_the_opd_import_reads_a_quoted_comma_in_a_semicolon_file(
    runner, session, tmp_path: Path
) -> None:
    """``ikm opd import`` keeps a name with a comma whole in a semicolon file."""
    path = tmp_path / "opd.csv"
    path.write_text('slug;name;short_name\nbpbd;"Badan Penanggulangan, Bencana";BPBD\n')
    result = runner.invoke(args=["opd", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert opd_rows(session) == [("bpbd", "Badan Penanggulangan, Bencana", None)]


# --- A respondent's age -----------------------------------------------------------------------


@pytest.mark.parametrize("age", ["12", "110"])
def test_an_age_outside_15_to_100_is_refused_by_the_form_and_the_import(
    app: Flask, runner, session, open_wave, monkeypatch, tmp_path: Path, age: str
) -> None:
    """The survey form and a response file refuse the same ages; nothing is stored."""
    citizen = SurveyActions(app, install_clock(monkeypatch))
    response = citizen.submit({**ALL_FOURS, "age": age})
    assert response.status_code == 400
    assert "Isi umur dengan angka bulat dari 15 sampai 100." in response.get_data(as_text=True)
    assert stored(session) == []
    path = tmp_path / "umur.csv"
    path.write_text(f"opd,U1,age\nbpbd,4,{age}\n")
    result = runner.invoke(args=["import", str(path), "--wave", "uji-2026"])
    assert result.exit_code == 1
    assert f"row 2: age '{age}' is not a whole number of years from 15 to 100" in result.output
    assert stored(session) == []


def test_ages_15_and_100_are_taken_by_the_form_and_the_import(
    app: Flask, runner, session, open_wave, monkeypatch, tmp_path: Path
) -> None:
    """The bounds themselves are ages both paths store."""
    citizen = SurveyActions(app, install_clock(monkeypatch))
    assert citizen.submit({**ALL_FOURS, "age": "15"}).status_code == 303
    path = tmp_path / "umur.csv"
    path.write_text("opd,U1,age\nbpbd,4,100\n")
    result = runner.invoke(
        args=["import", str(path), "--wave", "uji-2026", "--allow-empty-elements"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(r.age for r in stored(session)) == [15, 100]


# --- A wave's status --------------------------------------------------------------------------


def wave_audits(session: Session, slug: str) -> list[tuple]:
    """Return a wave's status entries: (action, actor, from, to, items acknowledged)."""
    session.expire_all()
    query = (
        select(AuditLog)
        .where(col(AuditLog.action).in_(["wave.open", "wave.close", "wave.publish"]))
        .order_by(AuditLog.id)
    )
    return [
        (e.action, e.actor, e.detail["from"], e.detail["to"], e.detail.get("acknowledged"))
        for e in session.exec(query).all()
        if e.detail["wave"] == slug
    ]


def wave_state(session: Session, slug: str) -> tuple:
    """Return a wave's status and whether its close and publish times are set."""
    session.expire_all()
    wave = session.exec(select(Wave).where(Wave.slug == slug)).one()
    return (wave.status, wave.closed_at is not None, wave.published_at is not None)


def test_a_wave_moves_the_same_way_from_the_cli_and_the_web(runner, evaluator, session) -> None:
    """Open, close, publish (acknowledged) and refused moves: same states, same audit entries."""
    add_opd(session, slug="bpbd", name="Badan Penanggulangan Bencana Daerah")
    for slug, title in (("lewat-cli", "Lewat CLI"), ("lewat-web", "Lewat web")):
        wave = create_wave(session, slug=slug, title=title)
        add_responses(session, wave, "bpbd", [[4] * 9, [3] * 9])
        add_responses(session, wave, "bpbd", [[1] * 9], status="flagged", reason="manual")

    def web(action: str, **extra: str) -> int:
        """Post an action to the web wave's status form; return the status code."""
        # Any workspace form gives the session's token (a published wave's page has none).
        match = CSRF_RE.search(evaluator.get("/kerja/opd").get_data(as_text=True))
        assert match
        data = {"csrf_token": match.group(1), "action": action, **extra}
        return evaluator.post("/kerja/gelombang/lewat-web/status", data=data).status_code

    def cli(action: str, *extra: str) -> int:
        """Run ``ikm wave ACTION lewat-cli``; return the exit status (a publication builds
        its pages, not its reports: those are made when asked for)."""
        reports = ["--no-reports"] if action == "publish" else []
        return runner.invoke(args=["wave", action, "lewat-cli", *extra, *reports]).exit_code

    # (action, acknowledged, exit status, HTTP status) in order; each tried from both ends.
    # The checklist of both waves holds one item, the flagged response.
    steps = [
        ("close", False, 1, 400),  # a draft cannot close
        ("open", False, 0, 303),
        ("publish", True, 1, 400),  # an open wave cannot be published
        ("close", False, 0, 303),
        ("publish", False, 2, 400),  # not without the flagged responses acknowledged
        ("publish", True, 0, 303),
        ("open", False, 1, 400),  # publishing is final
    ]
    for action, acknowledged, exit_status, http_status in steps:
        exit_code = cli(action, *(["--acknowledge", "flagged"] if acknowledged else []))
        status_code = web(action, **({"acknowledge": "flagged"} if acknowledged else {}))
        assert (exit_code, status_code) == (exit_status, http_status), action
        assert wave_state(session, "lewat-cli") == wave_state(session, "lewat-web"), action
    assert wave_state(session, "lewat-cli") == ("published", True, True)
    cli_entries = wave_audits(session, "lewat-cli")
    assert cli_entries == [
        ("wave.open", None, "draft", "open", None),
        ("wave.close", None, "open", "closed", None),
        ("wave.publish", None, "closed", "published", ["flagged"]),
    ]
    assert [(a, "eva", *rest) for a, _actor, *rest in cli_entries] == wave_audits(
        session, "lewat-web"
    )
    assert queries.get_wave(session, slug="lewat-web").status == "published"

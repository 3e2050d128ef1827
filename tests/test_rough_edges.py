"""Rough edges a mayor's office would notice (issue 13, item 7).

The closed page names the survey once, success notices are not framed as errors, imports read
the common spellings of the respondent's profile (web and ``ikm import`` alike) and say their
row problems in Indonesian, the thank-you page leads somewhere, and ``ikm run`` says when the
public URL points at another port.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from auth_helpers import PASSWORD, AuthActions
from file_helpers import CONTEXT, HEADER, count, responses, upload
from flask.testing import FlaskClient
from sqlmodel import Session
from survey_helpers import add_responses, create_wave, set_wave_status

from survey.cli.main import public_url_note
from survey.core.models import Response
from survey.core.responsefile import PROFILE_SYNONYMS, profile_key, read_csv

ROOT = Path(__file__).resolve().parent.parent
BPBD = "Badan Penanggulangan Bencana Daerah"
ANSWERS = "4,4,4,4,4,4,4,4,4"
# The common spellings of a paper survey's entry sheet, odd case and spacing included.
SPELLED = [
    # (sex, education, occupation) as typed -> as stored
    (("Laki-laki", "SLTA", "Wiraswasta"), ("L", "SMA", "Wirausaha")),
    ((" perempuan ", "sltp", "Ibu  Rumah Tangga"), ("P", "SMP", "Lainnya")),
    (("PRIA", "SMK", "Pelajar / Mahasiswa"), ("L", "SMA", "Lainnya")),
    (("Wanita", "d3", "karyawan swasta"), ("P", "D1-D3", "Swasta")),
    (("Laki - Laki", "SMU", "PNS"), ("L", "SMA", "PNS")),
    (("p", "s1", "wirausaha"), ("P", "S1", "Wirausaha")),
]


def spelled_csv() -> bytes:
    """Return a canonical response file whose profile columns use the common spellings."""
    lines = [HEADER]
    for hour, ((sex, education, occupation), _codes) in enumerate(SPELLED, start=8):
        stamp = f"2025-06-12T{hour:02d}:00:00+07:00"
        lines.append(f"bpbd,{stamp},{ANSWERS},{sex},30,{education},{occupation},,")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


# --- 1. The closed page --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "sentence"),
    [
        ("Uji Coba 2026", f"Survei Uji Coba 2026 untuk {BPBD} tidak lagi menerima jawaban."),
        (
            "Survei Kepuasan Masyarakat 2026",
            f"Survei Kepuasan Masyarakat 2026 untuk {BPBD} tidak lagi menerima jawaban.",
        ),
        ("survei ikm 2026", f"survei ikm 2026 untuk {BPBD} tidak lagi menerima jawaban."),
        # A word that merely starts with the letters is not the word.
        ("Surveilans 2026", f"Survei Surveilans 2026 untuk {BPBD} tidak lagi menerima jawaban."),
    ],
)
def test_closed_page_names_the_survey_once(
    client: FlaskClient, session: Session, open_wave: Any, title: str, sentence: str
) -> None:
    """The closed page composes "Survei <title>" unless the title already starts with it."""
    create_wave(session, slug="ikm-2026", title=title, opd_slugs=["bpbd"], status="open")
    set_wave_status(session, slug="ikm-2026", status="closed")
    response = client.get("/s/ikm-2026/bpbd")
    assert response.status_code == 410
    html = response.get_data(as_text=True)
    assert sentence in html
    assert re.search(r"\b[Ss]urvei [Ss]urvei\b", html) is None


# --- 2. Success notices are not framed as errors -------------------------------------------


def test_notices_say_their_kind_by_role() -> None:
    """Every notice in the templates is either a success/progress notice (role="status", no
    error class) or an error (role="alert"); the style sheet frames the two differently."""
    notice = re.compile(r'<(?:p|div) class="alert( error)?"[^>]*role="(status|alert)"')
    found = {"status": 0, "alert": 0}
    for path in (ROOT / "templates").rglob("*.html"):
        for match in notice.finditer(path.read_text(encoding="utf-8")):
            error, role = match.groups()
            assert not (error and role == "status"), f"{path}: an error notice with role=status"
            found[role] += 1
    assert found["status"] >= 20 and found["alert"] >= 10
    css = (ROOT / "survey" / "static" / "survey.css").read_text(encoding="utf-8")
    rule = re.search(r'\.alert\[role="status"\] \{([^}]*)\}', css)
    assert rule and "border-color: var(--ok);" in rule.group(1)
    assert "--ok: #1d6b35;" in css


@pytest.mark.browser
def test_success_and_error_notices_look_different_in_chromium(
    app: Any, session: Session, users: Any, open_wave: Any
) -> None:
    """At 1920x1080 the kiosk page's success notice is framed in green on every side; the
    sign-in error stays red."""
    from browser import chromium, live_server, require_chromium
    from playwright.sync_api import expect

    require_chromium()
    green, red = "rgb(29, 107, 53)", "rgb(176, 0, 32)"
    with chromium() as browser, live_server(app) as base_url:
        context = browser.new_context(viewport={"width": 1920, "height": 1080})
        page = context.new_page()
        page.goto(f"{base_url}/masuk")
        page.fill("#f-username", "eva")
        page.fill("#f-password", "salah-sandi-sekali")
        page.click("button[type=submit]")
        page.wait_for_load_state("load")  # the answer page's stylesheet applied (a 304 too)
        error = page.locator('.alert[role="alert"]').first
        expect(error).to_have_css("border-top-color", red)
        page.fill("#f-username", "eva")
        page.fill("#f-password", PASSWORD)
        page.click("button[type=submit]")
        page.goto(f"{base_url}/kerja/gelombang/uji-2026/kios?pesan=dicabut")
        notice = page.locator('.alert[role="status"]').first
        assert "Kios dicabut" in notice.inner_text()
        sides = notice.evaluate(
            "e => { const s = getComputedStyle(e); return [s.borderTopColor, "
            "s.borderRightColor, s.borderBottomColor, s.borderLeftColor]; }"
        )
        assert sides == [green] * 4
        context.close()


# --- 3. The profile's common spellings -----------------------------------------------------


def test_profile_synonyms_are_read_in_a_canonical_file() -> None:
    """A canonical file's profile may be spelled as people write it; codes still read."""
    result = read_csv(spelled_csv(), CONTEXT)
    assert result.errors == []
    assert [(r.sex, r.education, r.occupation) for r in result.rows] == [c for _, c in SPELLED]


def test_unknown_profile_values_are_still_refused() -> None:
    """A spelling not in the table is a row problem listing the codes, as before."""
    data = (HEADER + f"\r\nbpbd,,{ANSWERS},Lelaki,,Sekolah,Petani,,\r\n").encode()
    result = read_csv(data, CONTEXT)
    assert result.rows == []
    (error,) = result.errors
    assert [(p.code, p.field, p.values) for p in error.problems] == [
        ("row-choice-invalid", "sex", {"field": "sex", "value": "Lelaki", "choices": "L, P"}),
        (
            "row-choice-invalid",
            "education",
            {
                "field": "education",
                "value": "Sekolah",
                "choices": "SD, SMP, SMA, D1-D3, S1, S2, S3",
            },
        ),
        (
            "row-choice-invalid",
            "occupation",
            {
                "field": "occupation",
                "value": "Petani",
                "choices": "PNS, TNI, POLRI, Swasta, Wirausaha, Lainnya",
            },
        ),
    ]


def test_synonym_table_names_only_real_codes() -> None:
    """Every synonym maps to a code of its field, and its key is already in matching form."""
    from survey.core.models import EDUCATIONS, OCCUPATIONS, SEXES

    codes = {"sex": SEXES, "education": EDUCATIONS, "occupation": OCCUPATIONS}
    for name, table in PROFILE_SYNONYMS.items():
        for key, code in table.items():
            assert code in codes[name] and profile_key(key) == key
    assert profile_key("  Pelajar /  MAHASISWA ") == "pelajar/mahasiswa"


@pytest.fixture
def eva(client: FlaskClient, users: Any, open_wave: Any, app: Any) -> FlaskClient:
    """The evaluator, signed in; import jobs run inside the request."""
    app.config["IMPORT_INLINE"] = True
    assert AuthActions(client).login("eva").status_code == 302
    return client


def _confirm(client: FlaskClient, job_url: str) -> None:
    """Post the mapping form of a canonical file as it stands."""
    from file_helpers import confirm

    assert confirm(client, job_url).status_code == 302


def test_web_import_stores_the_codes_of_the_common_spellings(
    eva: FlaskClient, session: Session
) -> None:
    """The web import stores L/P, SMA, Wirausaha … for the spellings of a paper sheet."""
    _confirm(eva, upload(eva, spelled_csv(), "kertas.csv").headers["Location"])
    stored = responses(session, "uji-2026")
    assert [(r.sex, r.education, r.occupation) for r in stored] == [c for _, c in SPELLED]


def test_cli_import_reads_the_same_spellings(
    runner: Any, session: Session, open_wave: Any, tmp_path: Path
) -> None:
    """``ikm import`` reads the file through the same table."""
    path = tmp_path / "kertas.csv"
    path.write_bytes(spelled_csv())
    result = runner.invoke(args=["import", str(path), "--wave", "uji-2026"])
    assert result.exit_code == 0, result.output
    assert f"{len(SPELLED)} imported" in result.output
    stored = responses(session, "uji-2026")
    assert [(r.sex, r.education, r.occupation) for r in stored] == [c for _, c in SPELLED]


# --- 4. Row problems in Indonesian ---------------------------------------------------------


def test_row_problems_name_their_column_in_indonesian(eva: FlaskClient, session: Session) -> None:
    """A bad profile cell is reported with the column's Indonesian name, nothing stored."""
    long = "x" * 121
    data = (HEADER + f"\r\nbpbd,,{ANSWERS},Lelaki,,,,{long},\r\n").encode()
    job_url = upload(eva, data, "salah.csv").headers["Location"]
    from file_helpers import confirm

    # An answer no code or spelling reads is named on the mapping step, before any check.
    refused = confirm(eva, job_url)
    assert refused.status_code == 400 and count(session, Response) == 0
    assert "“Lelaki” di kolom Jenis kelamin (1 baris)" in refused.get_data(as_text=True)
    # Read as empty on purpose, the row still fails for its service, named in Indonesian.
    assert confirm(eva, job_url, **{"nilai-sex-0": ""}).status_code == 302
    assert count(session, Response) == 0
    html = eva.get(job_url).get_data(as_text=True)
    assert "Layanan (kolom service) berisi 121 karakter (paling banyak 120)." in html
    assert "sex &#39;Lelaki&#39;" not in html


# --- 5. The thank-you page leads somewhere --------------------------------------------------


def test_thank_you_page_links_to_published_results(
    client: FlaskClient, session: Session, open_wave: Any
) -> None:
    """Without a published wave it links to the results index; with one covering the OPD,
    to that OPD's published results too. No script is needed: plain links."""
    html = client.get("/s/uji-2026/bpbd/terima-kasih").get_data(as_text=True)
    assert '<a href="/hasil">Hasil survei kepuasan masyarakat</a>' in html
    assert "/hasil/" not in html
    earlier = create_wave(
        session, slug="ikm-2025", title="IKM 2025", opd_slugs=["bpbd"], status="open"
    )
    add_responses(session, earlier, "bpbd", [[4] * 9, [3] * 9])
    set_wave_status(session, slug="ikm-2025", status="closed")
    set_wave_status(session, slug="ikm-2025", status="published")
    html = client.get("/s/uji-2026/bpbd/terima-kasih").get_data(as_text=True)
    assert (
        f'<a href="/hasil/ikm-2025/bpbd">Hasil survei {BPBD} yang sudah diterbitkan (IKM 2025)</a>'
        in html
    )
    assert "<script" not in html
    # RSUD is not covered by the published wave: the index only.
    html = client.get("/s/uji-2026/rsud/terima-kasih").get_data(as_text=True)
    assert "/hasil/ikm-2025" not in html and '<a href="/hasil">' in html


# --- 6. ikm run and IKM_PUBLIC_URL ---------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "host", "port", "said"),
    [
        ("http://127.0.0.1:5000", "127.0.0.1", 5000, None),
        ("http://127.0.0.1:5000", "127.0.0.1", 5050, "port 5000"),
        ("http://localhost", "127.0.0.1", 8080, "port 80"),
        ("http://0.0.0.0:5000", "0.0.0.0", 5001, "port 5000"),  # nosec B104
        ("https://ikm.kota.go.id", "127.0.0.1", 5000, None),  # behind a proxy: intended
        ("http://[::1]:5000", "::1", 5001, "port 5000"),
    ],
)
def test_public_url_note(url: str, host: str, port: int, said: str | None) -> None:
    """The note appears only when the public URL names this machine on another port."""
    note = public_url_note(url, host, port)
    if said is None:
        assert note is None
    else:
        assert note is not None and said in note and f"listens on port {port}" in note


def test_public_url_note_suggests_the_matching_url() -> None:
    """The note says which IKM_PUBLIC_URL would match the server."""
    assert public_url_note("http://127.0.0.1:5000", "127.0.0.1", 5050) == (
        "Note: IKM_PUBLIC_URL is http://127.0.0.1:5000, but this server listens on port 5050; "
        "survey links and QR posters point at port 5000. "
        "Set IKM_PUBLIC_URL=http://127.0.0.1:5050 to match."
    )
    assert "IKM_PUBLIC_URL=http://[::1]:5001" in str(
        public_url_note("http://[::1]:5000", "::1", 5001)
    )


def test_ikm_run_on_another_port_says_so(
    app_config: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """`ikm run --port 5050` with the default public URL warns on stderr, then serves."""
    import secrets

    from survey.cli.main import main

    served: list[Any] = []
    monkeypatch.setattr("flask.cli.run_simple", lambda *a, **k: served.append(a))
    monkeypatch.setenv("IKM_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("IKM_SECRET_KEY", secrets.token_urlsafe(48))
    monkeypatch.setenv("IKM_DATABASE_URL", app_config["DATABASE_URL"])
    monkeypatch.setenv("IKM_ENV", "development")
    monkeypatch.delenv("IKM_PUBLIC_URL", raising=False)
    for port, warned in (("5050", True), ("5000", False)):
        monkeypatch.setattr("sys.argv", ["ikm", "run", "--port", port])
        with pytest.raises(SystemExit) as stop:
            main()
        assert int(stop.value.code or 0) == 0
        err = capsys.readouterr().err
        assert ("IKM_PUBLIC_URL is http://127.0.0.1:5000" in err) is warned, err
    assert [a[:2] for a in served] == [("127.0.0.1", 5050), ("127.0.0.1", 5000)]


def test_ikm_demo_prints_the_configured_public_url(app: Any, runner: Any) -> None:
    """`ikm demo` builds its survey and sign-in URLs from IKM_PUBLIC_URL, not port 5000."""
    app.config["PUBLIC_URL"] = "http://127.0.0.1:5050/"
    result = runner.invoke(args=["demo", "--no-reports"])
    assert result.exit_code == 0, result.output
    assert "sign in at http://127.0.0.1:5050/masuk" in result.output
    urls = re.findall(r"\thttps?://\S+", result.output)
    assert len(urls) == 40  # a survey page and a QR code per OPD
    assert all(
        url.startswith(("\thttp://127.0.0.1:5050/s/", "\thttp://127.0.0.1:5050/qr/"))
        for url in urls
    )
    assert "5050//" not in result.output  # a trailing slash in the setting is not doubled
    assert ":5000" not in result.output


def test_a_kiosk_thank_you_page_keeps_its_one_way_on(
    app: Any, client: FlaskClient, session: Session, open_wave: Any
) -> None:
    """An enrolled kiosk's thank-you page offers a fresh form only, no way off the survey."""
    from survey_helpers import enrol_kiosk

    enrol_kiosk(session, app, client)
    html = client.get("/s/uji-2026/bpbd/terima-kasih").get_data(as_text=True)
    assert 'href="/s/uji-2026/bpbd">Isi survei baru</a>' in html
    assert 'id="lanjut"' not in html and 'href="/hasil"' not in html

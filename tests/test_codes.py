"""Visit codes, the staff side: ``ikm codes`` (PDF and CSV), the counter screen, the web batch.

Each test reads the database afterwards: only keyed hashes are stored, a refusal writes
nothing, and the codes handed out redeem exactly as the citizen's path will redeem them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from auth_helpers import csrf_token, login
from code_helpers import (
    audit_actions,
    codes_in_text,
    csv_codes,
    pdf_text,
    set_verification,
    stored_codes,
    stored_text,
)
from sqlmodel import Session
from survey_helpers import add_opd, add_responses, install_clock, set_wave_status

from survey.core import codes, queries
from survey.core.codes import code_hash, normalise_code, redeem_code
from survey.core.database import engine_of
from survey.core.models import Wave

SECRET_KEY = "test-secret-key-not-for-production-0123456789"  # conftest's TEST_SECRET
SLOT_START = datetime(2027, 1, 4, 2, 0, tzinfo=UTC)  # a multiple of five minutes


@pytest.fixture
def optional(session: Session, open_wave: Wave) -> Wave:
    """The open wave 'uji-2026' (bpbd, rsud, dishub) with optional verification."""
    return set_verification(session, "uji-2026", "optional")


def ids(session: Session, wave_slug: str, opd_slug: str) -> tuple[int, int]:
    """Return the wave's and the OPD's ids."""
    wave = queries.get_wave(session, slug=wave_slug)
    opd = queries.get_opd(session, slug=opd_slug)
    assert wave is not None and opd is not None
    return int(wave.id or 0), int(opd.id or 0)


def redeem(session: Session, code: str, *, opd: str = "bpbd", now: datetime | None = None) -> bool:
    """Redeem a code for uji-2026 and an OPD as the citizen's path does, and commit."""
    wave_id, opd_id = ids(session, "uji-2026", opd)
    used = redeem_code(
        session,
        wave_id=wave_id,
        opd_id=opd_id,
        code=code,
        secret=SECRET_KEY,
        now=now or datetime.now(UTC),
    )
    session.commit()
    return used


# --- ikm codes ---------------------------------------------------------------------------------


def test_ikm_codes_writes_the_tickets_and_stores_only_hashes(
    runner, session: Session, optional: Wave, tmp_path: Path
) -> None:
    pdf, sheet = tmp_path / "kode.pdf", tmp_path / "kode.csv"
    args = ["--wave", "uji-2026", "--opd", "bpbd", "--count", "14"]
    result = runner.invoke(args=["codes", *args, "-o", str(pdf), "--csv", str(sheet)])
    assert result.exit_code == 0, result.output
    assert f"Wrote 14 codes for bpbd in uji-2026 to {pdf}" in result.output

    rows = csv_codes(sheet)
    printed = [row["code"] for row in rows]
    assert len(printed) == len(set(printed)) == 14
    for row in rows:
        assert codes_in_text(row["code"]) == [row["code"]]
        assert row["wave"] == "uji-2026" and row["opd"] == "bpbd"
        assert row["url"] == "https://skm.example.go.id/s/uji-2026/bpbd"
    # The PDF (two pages of twelve tickets) holds the same codes, and the survey's address.
    text = pdf_text(pdf.read_bytes())
    assert sorted(codes_in_text(text)) == sorted(printed)
    assert "Badan Penanggulangan Bencana Daerah" in text and "Uji Coba 2026" in text
    assert "skm.example.go.id/s/uji-2026/bpbd" in text

    # Stored: one single-use ticket per code, as its keyed hash; no plain code anywhere.
    wave_id, opd_id = ids(session, "uji-2026", "bpbd")
    stored = stored_codes(session)
    assert [(c.kind, c.max_uses, c.uses, c.opd_id, c.expires_at) for c in stored] == [
        ("ticket", 1, 0, opd_id, None)
    ] * 14
    expected = {
        code_hash(normalise_code(c) or "", wave_id=wave_id, secret=SECRET_KEY) for c in printed
    }
    assert {c.code_hash for c in stored} == expected
    dump = stored_text(session)
    for code in printed:
        assert code not in dump and code.replace("-", "") not in dump
    [entry] = audit_actions(session, "codes.create")
    assert entry.detail == {"wave": "uji-2026", "opd": "bpbd", "count": 14}

    # Each code serves once, for its OPD only; typed in lower case without the hyphen too.
    assert not redeem(session, printed[0], opd="rsud")
    assert redeem(session, printed[0])
    assert not redeem(session, printed[0])
    assert redeem(session, printed[1].replace("-", "").lower())
    assert [c.uses for c in stored_codes(session)].count(1) == 2


def test_ikm_codes_without_csv_names_the_pdf_after_wave_and_opd(
    runner, session: Session, optional: Wave, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(args=["codes", "--wave", "uji-2026", "--opd", "rsud", "--count", "1"])
    assert result.exit_code == 0, result.output
    [code] = codes_in_text(pdf_text((tmp_path / "codes-uji-2026-rsud.pdf").read_bytes()))
    assert redeem(session, code, opd="rsud")


@pytest.mark.parametrize(
    ("args", "arrange", "message"),
    [
        (["--wave", "nope", "--opd", "bpbd", "--count", "5"], None, "unknown wave 'nope'"),
        (["--wave", "uji-2026", "--opd", "nope", "--count", "5"], None, "unknown OPD 'nope'"),
        (
            ["--wave", "uji-2026", "--opd", "dinkes", "--count", "5"],
            "outside",
            "OPD 'dinkes' is not covered by wave 'uji-2026'",
        ),
        (
            ["--wave", "uji-2026", "--opd", "bpbd", "--count", "5"],
            "closed",
            "wave 'uji-2026' is closed: codes are made only for a draft or open wave",
        ),
        (
            ["--wave", "uji-2026", "--opd", "bpbd", "--count", "5"],
            "published",
            "wave 'uji-2026' is published",
        ),
        (
            ["--wave", "uji-2026", "--opd", "bpbd", "--count", "5"],
            "off",
            "turn it on with 'ikm wave edit uji-2026 --verification optional'",
        ),
        (["--wave", "uji-2026", "--opd", "bpbd", "--count", "0"], None, "from 1 to 10000, not 0"),
        (
            ["--wave", "uji-2026", "--opd", "bpbd", "--count", "10001"],
            None,
            "from 1 to 10000, not 10001",
        ),
    ],
)
def test_ikm_codes_refusals_write_nothing(
    runner, session: Session, optional: Wave, tmp_path: Path, args, arrange, message
) -> None:
    if arrange == "outside":
        add_opd(session, slug="dinkes", name="Dinas Kesehatan")
    elif arrange == "off":
        set_verification(session, "uji-2026", "off")
    elif arrange in ("closed", "published"):
        # One counted answer, so that the checklist lets the wave be published.
        add_responses(session, optional, "bpbd", [[4] * 9])
        set_wave_status(session, slug="uji-2026", status=arrange)
    audits_before = len(stored_text(session).splitlines())
    pdf = tmp_path / "kode.pdf"
    result = runner.invoke(args=["codes", *args, "-o", str(pdf), "--csv", str(tmp_path / "k.csv")])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert stored_codes(session) == []
    assert audit_actions(session, "codes.create") == []
    assert len(stored_text(session).splitlines()) == audits_before
    assert not pdf.exists() and not (tmp_path / "k.csv").exists()


def test_ikm_codes_stores_nothing_when_the_sheet_cannot_be_made(
    runner, session: Session, optional: Wave, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Codes are stored only once their printable sheet exists."""
    import reports.codesheet

    def broken(*_args: object, **_kwargs: object) -> bytes:
        raise RuntimeError("no fonts")

    monkeypatch.setattr(reports.codesheet, "render_code_sheet", broken)
    args = ["codes", "--wave", "uji-2026", "--opd", "bpbd", "--count", "3"]
    result = runner.invoke(args=[*args, "-o", str(tmp_path / "k.pdf")])
    assert result.exit_code != 0
    assert stored_codes(session) == []
    assert audit_actions(session, "codes.create") == []
    assert not (tmp_path / "k.pdf").exists()


def test_codes_are_drawn_from_the_alphabet_without_a_seed() -> None:
    drawn = {codes.new_code() for _ in range(200)}
    assert len(drawn) == 200  # 31^8 codes: a repeat here would mean a broken generator
    assert all(len(c) == codes.CODE_LENGTH and set(c) <= set(codes.ALPHABET) for c in drawn)
    assert codes.display_code("ABCDEFGH") == "ABCD-EFGH"


# --- The counter screen's code -----------------------------------------------------------------


def test_counter_code_changes_with_the_slot_redeems_in_its_window_and_caps_uses(
    app, session: Session, optional: Wave
) -> None:
    wave = queries.get_wave(session, slug="uji-2026")
    opd = queries.get_opd(session, slug="bpbd")
    assert wave is not None and opd is not None

    def shown(now: datetime, max_uses: int = 3) -> codes.CounterCode:
        return codes.counter_code(
            session, wave=wave, opd=opd, secret=SECRET_KEY, now=now, minutes=5, max_uses=max_uses
        )

    first = shown(SLOT_START)
    assert first.slot_start == SLOT_START and first.slot_end == SLOT_START + timedelta(minutes=5)
    assert first.expires_at == SLOT_START + timedelta(minutes=10)
    # The same slot shows the same code (every worker derives it), stored once.
    again = shown(SLOT_START + timedelta(minutes=4, seconds=59))
    assert again.code == first.code
    assert len(stored_codes(session)) == 1
    # The next slot shows another one; another OPD has its own.
    second = shown(SLOT_START + timedelta(minutes=5))
    assert second.code != first.code
    other = codes.counter_code(
        session, wave=wave, opd=queries.get_opd(session, slug="rsud"), secret=SECRET_KEY,
        now=SLOT_START, minutes=5, max_uses=3,
    )  # fmt: skip
    assert other.code not in (first.code, second.code)
    rows = stored_codes(session)
    assert [(r.kind, r.max_uses, r.uses) for r in rows] == [("counter", 3, 0)] * 3

    # The first code still redeems until the end of the next slot, then no more.
    assert redeem(session, first.code, now=SLOT_START + timedelta(minutes=9, seconds=59))
    late = SLOT_START + timedelta(minutes=10)
    assert not redeem(session, first.code, now=late)
    # Uses are capped: three answers, then the code is spent.
    moment = SLOT_START + timedelta(minutes=6)
    assert [redeem(session, second.code, now=moment) for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]
    assert not redeem(session, second.code, opd="rsud", now=moment)  # bound to its OPD


def test_counter_code_rows_are_upserted_once_by_racing_screens(
    app, session: Session, optional: Wave
) -> None:
    """Two screens on two connections store the slot's code once (no unique-key error)."""
    from sqlmodel import Session as DbSession

    wave = queries.get_wave(session, slug="uji-2026")
    opd = queries.get_opd(session, slug="bpbd")
    assert wave is not None and opd is not None
    engine = engine_of(session)
    with DbSession(engine) as one, DbSession(engine) as two:
        a = codes.counter_code(one, wave=wave, opd=opd, secret=SECRET_KEY, now=SLOT_START)
        b = codes.counter_code(two, wave=wave, opd=opd, secret=SECRET_KEY, now=SLOT_START)
    assert a == b
    assert len(stored_codes(session)) == 1


def test_counter_code_is_refused_when_codes_are_off(app, session: Session, open_wave) -> None:
    wave = queries.get_wave(session, slug="uji-2026")
    opd = queries.get_opd(session, slug="bpbd")
    assert wave is not None and opd is not None
    with pytest.raises(codes.CodeError, match="verification is off"):
        codes.counter_code(session, wave=wave, opd=opd, secret=SECRET_KEY, now=SLOT_START)
    assert stored_codes(session) == []


SCREEN = "/kerja/gelombang/uji-2026/loket/bpbd"


def test_counter_screen_shows_the_slot_code_and_refreshes_at_its_end(
    app, client, session: Session, users, optional: Wave, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = install_clock(monkeypatch)
    clock.now = SLOT_START.timestamp() + 60  # a minute into a slot
    login(client, "kepala-bpbd")  # the head of that OPD may show it
    page = client.get(SCREEN)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    wave_id, opd_id = ids(session, "uji-2026", "bpbd")
    slot = int(SLOT_START.timestamp()) // 300
    code = codes.derive_counter_code(wave_id=wave_id, opd_id=opd_id, slot=slot, secret=SECRET_KEY)
    assert f'<p class="code" id="kode" aria-live="polite">{codes.display_code(code)}</p>' in html
    assert '<meta http-equiv="refresh" content="241">' in html  # 4 minutes left, plus one second
    assert "<script" not in html
    assert redeem(session, code, now=SLOT_START + timedelta(minutes=2))

    clock.advance(300)
    html = client.get(SCREEN).get_data(as_text=True)
    following = codes.derive_counter_code(
        wave_id=wave_id, opd_id=opd_id, slot=slot + 1, secret=SECRET_KEY
    )
    assert codes.display_code(following) in html and codes.display_code(code) not in html
    assert [r.kind for r in stored_codes(session)] == ["counter", "counter"]


def test_counter_screen_is_for_staff_and_that_opds_head_only(
    app, client, session: Session, users, optional: Wave
) -> None:
    assert client.get(SCREEN).status_code == 302  # to the sign-in page
    login(client, "kepala-rsud")
    assert client.get(SCREEN).status_code == 404  # another OPD's screen does not exist
    assert client.get("/kerja/gelombang/uji-2026/loket/rsud").status_code == 200
    client = login(app.test_client(), "eva")
    assert client.get(SCREEN).status_code == 200
    assert client.get("/kerja/gelombang/uji-2026/loket/nope").status_code == 404


def test_counter_screen_of_a_wave_without_codes_says_how_to_turn_them_on(
    client, session: Session, users, open_wave
) -> None:
    login(client, "eva")
    html = client.get(SCREEN).get_data(as_text=True)
    assert "tidak memakai kode kunjungan" in html and "opsional atau wajib" in html
    assert stored_codes(session) == []
    html = client.get(SCREEN + "?lang=en").get_data(as_text=True)
    assert "does not use visit codes" in html


def test_counter_screen_takes_its_minutes_and_uses_from_the_settings(
    app, client, session: Session, users, optional: Wave, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.config.update(COUNTER_CODE_MINUTES=2, COUNTER_CODE_USES=2)
    clock = install_clock(monkeypatch)
    clock.now = SLOT_START.timestamp()
    login(client, "eva")
    html = client.get(SCREEN).get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="121">' in html
    [row] = stored_codes(session)
    assert row.max_uses == 2
    assert row.expires_at is not None


# --- Printed codes from the workspace -------------------------------------------------------


BATCH = "/kerja/gelombang/uji-2026/kode"


def test_web_batch_downloads_the_tickets(client, session: Session, users, optional) -> None:
    login(client, "eva")
    page = client.get(BATCH)
    assert page.status_code == 200
    assert SCREEN in page.get_data(as_text=True)  # the counter screens are listed
    response = client.post(
        BATCH, data={"csrf_token": csrf_token(client, BATCH), "opd": "rsud", "count": "3"}
    )
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert 'filename="kode-uji-2026-rsud.pdf"' in response.headers["Content-Disposition"]
    printed = codes_in_text(pdf_text(response.data))
    assert len(set(printed)) == 3
    [entry] = audit_actions(session, "codes.create")
    assert entry.actor == "eva" and entry.detail["count"] == 3
    assert all(redeem(session, code, opd="rsud") for code in printed)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"opd": "bpbd", "count": "0"}, "Jumlah kode harus bilangan bulat dari 1 sampai 1.000;"),
        ({"opd": "bpbd", "count": "abc"}, "Jumlah kode harus bilangan bulat dari 1 sampai 1.000;"),
        ({"opd": "bpbd", "count": "1001"}, "untuk lebih banyak gunakan perintah ikm codes."),
        ({"opd": "dinkes", "count": "5"}, "OPD dinkes tidak dicakup gelombang uji-2026."),
    ],
)
def test_web_batch_refusals_write_nothing(
    client, session: Session, users, optional, data, message
) -> None:
    add_opd(session, slug="dinkes", name="Dinas Kesehatan")
    login(client, "eva")
    response = client.post(BATCH, data={"csrf_token": csrf_token(client, BATCH), **data})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert stored_codes(session) == []


def test_web_batch_is_for_evaluators(client, session: Session, users, optional) -> None:
    login(client, "kepala-bpbd")
    assert client.get(BATCH).status_code == 403
    response = client.post(BATCH, data={"opd": "bpbd", "count": "3"})
    assert response.status_code in (400, 403)
    assert stored_codes(session) == []


def test_a_long_sheet_is_rendered_in_parts_and_joined(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts of a page each (as ten thousand codes are parts of 40): every code, in order."""
    import io

    import pypdf

    from reports import codesheet

    monkeypatch.setattr(codesheet, "CHUNK_PAGES", 1)
    printed = tuple(codes.display_code(codes.new_code()) for _ in range(30))
    sheet = codesheet.CodeSheet(
        opd_name="Dinas Perhubungan", wave_title="Uji", url="https://x.example/s/u/d", codes=printed
    )
    data = codesheet.render_code_sheet(sheet)
    reader = pypdf.PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 3  # twelve, twelve and six tickets
    assert codes_in_text(pdf_text(data)) == list(printed)
    assert reader.metadata is not None
    assert reader.metadata.title == "Kode kunjungan survei: Dinas Perhubungan · Uji"
    with pytest.raises(ValueError, match="at least one code"):
        codesheet.CodeSheet(opd_name="X", wave_title="Y", url="https://x", codes=())

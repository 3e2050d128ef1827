"""Enumerators: their accounts, their scopes, their own page, their figures and the CLI.

Interviews are inserted directly (channel "interview", the enumerator, the duration), as the
interview page stores them; what is tested here is everything around that page.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import urlsplit

import pytest
from auth_helpers import PASSWORD, AuthActions, admin_snapshot, csrf_token, login
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, select
from survey_helpers import add_responses, create_wave, set_wave_status

from survey.core import accounts, enumerators, queries, urls
from survey.core.accounts import AccountError
from survey.core.enumerators import EnumeratorError
from survey.core.models import AuditLog, EnumeratorScope, Opd, User, Wave

PAGE = "/kerja/gelombang/uji-2026/pencacah"
STRONG = "jeruk-nipis-kuning-77"


def enumerator(session: Session, name: str = "ani") -> User:
    """Create an enumerator account as the operator would (``ikm user add --role enumerator``)."""
    return accounts.create_user(session, username=name, password=PASSWORD, role="enumerator")


def scopes(session: Session) -> list[tuple[str, str, str | None, str]]:
    """Return every scope as (username, wave, OPD slug or None, granted by), read afresh."""
    session.expire_all()
    found = []
    for scope in session.exec(select(EnumeratorScope).order_by(EnumeratorScope.id)).all():
        user = session.get(User, scope.user_id)
        wave = session.get(Wave, scope.wave_id)
        opd = session.get(Opd, scope.opd_id) if scope.opd_id is not None else None
        assert user is not None and wave is not None
        found.append((user.username, wave.slug, opd.slug if opd else None, scope.granted_by))
    return found


def audit_entries(session: Session, prefix: str) -> list[tuple[str, str | None, dict]]:
    """Return (action, actor, detail) of the audit entries whose action starts with ``prefix``."""
    session.expire_all()
    rows = session.exec(select(AuditLog).order_by(AuditLog.id)).all()
    return [(e.action, e.actor, e.detail) for e in rows if e.action.startswith(prefix)]


def post(client: FlaskClient, path: str, **data: str):
    """Post a form of the enumerator page with the session's CSRF token."""
    return client.post(path, data={"csrf_token": csrf_token(client, PAGE), **data})


# --- Accounts --------------------------------------------------------------------------------


def test_an_evaluator_creates_an_enumerator_account(
    client: FlaskClient, session: Session, users, open_wave: Wave
) -> None:
    login(client, "eva")
    response = post(
        client,
        f"{PAGE}/akun",
        username=" Pencacah-1 ",
        password=STRONG,
        confirmation=STRONG,
        role="admin",  # not a field of this form: ignored
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"{PAGE}?pesan=akun-dibuat"
    created = accounts.get_user(session, username="pencacah-1")
    assert created is not None
    assert (created.role, created.opd_id, created.active) == ("enumerator", None, True)
    assert accounts.check_password(created.password_hash, STRONG)
    assert audit_entries(session, "user.create")[-1] == (
        "user.create",
        "eva",
        {"username": "pencacah-1", "role": "enumerator", "opd": None},
    )
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Akun pencacah dibuat." in html
    assert '<option value="pencacah-1">pencacah-1</option>' in html  # offered for a scope


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"username": "", "password": STRONG, "confirmation": STRONG}, "username", "Isi nama"),
        ({"username": "eva", "password": STRONG, "confirmation": STRONG}, "username", "sudah"),
        (
            {"username": "budi", "password": "pendek", "confirmation": "pendek"},
            "password",
            "pendek",
        ),
        (
            {"username": "budi", "password": STRONG, "confirmation": "lain-lain-99"},
            "confirmation",
            "tidak sama",
        ),
    ],
)
def test_a_bad_account_changes_nothing(
    client: FlaskClient, session: Session, users, open_wave: Wave, fields, field, message
) -> None:
    login(client, "eva")
    before = admin_snapshot(session)
    response = post(client, f"{PAGE}/akun", **fields)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    error = re.search(rf'<p class="field-error" id="err-{field}">([^<]*)</p>', html)
    assert error and message in error.group(1)
    assert admin_snapshot(session) == before


def test_an_evaluator_can_create_no_other_role(
    client: FlaskClient, session: Session, users, open_wave: Wave
) -> None:
    """Refused on the administrators' page (403) and in the service itself; nothing written."""
    login(client, "eva")
    before = admin_snapshot(session)
    token = csrf_token(client, PAGE)
    for role in ("admin", "evaluator", "opd-head", "enumerator"):
        data = {"username": "baru", "role": role, "opd": "bpbd" if role == "opd-head" else ""}
        data |= {"password": STRONG, "confirmation": STRONG, "csrf_token": token}
        assert client.post("/kerja/pengguna", data=data).status_code == 403
    for role, opd in (("admin", None), ("evaluator", None), ("opd-head", "bpbd")):
        with pytest.raises(AccountError) as caught:
            accounts.create_user(
                session,
                username="baru",
                password=STRONG,
                role=role,
                opd_slug=opd,
                actor="eva",
                actor_role="evaluator",
            )
        assert [p.code for p in caught.value.problems] == ["role-not-yours"]
        assert str(caught.value) == f"a user with role 'evaluator' cannot give the role {role!r}"
    for actor_role in ("opd-head", "enumerator"):
        with pytest.raises(AccountError):
            enumerators.create_enumerator(
                session, username="baru", password=STRONG, actor="x", actor_role=actor_role
            )
    with pytest.raises(AccountError) as caught:
        accounts.set_role(session, username="kepala-bpbd", role="admin", actor_role="evaluator")
    assert [p.code for p in caught.value.problems] == ["role-not-yours"]
    session.rollback()
    assert admin_snapshot(session) == before


def test_an_administrator_creates_enumerators_on_both_pages(
    client: FlaskClient, session: Session, users, open_wave: Wave
) -> None:
    login(client, "admin")
    token = csrf_token(client, "/kerja/pengguna")
    data = {"username": "cici", "role": "enumerator", "opd": "", "password": STRONG}
    response = client.post(
        "/kerja/pengguna", data={**data, "confirmation": STRONG, "csrf_token": token}
    )
    assert response.status_code == 302
    html = client.get("/kerja/pengguna").get_data(as_text=True)
    assert re.search(r'id="pengguna-cici">.*?<td>Pencacah</td>', html, re.S)
    assert (
        post(
            client, f"{PAGE}/akun", username="dodi", password=STRONG, confirmation=STRONG
        ).status_code
        == 303
    )
    assert [(u.username, u.role) for u in enumerators.list_enumerators(session)] == [
        ("cici", "enumerator"),
        ("dodi", "enumerator"),
    ]


def test_ikm_user_add_makes_an_enumerator(runner, session: Session) -> None:
    result = runner.invoke(
        args=["user", "add", "ani", "--role", "enumerator", "--password", STRONG]
    )
    assert result.exit_code == 0, result.output
    assert result.output == "User 'ani' created with role enumerator.\n"
    result = runner.invoke(args=["user", "list"])
    assert result.output == "ani\tenumerator\t-\tactive\n"
    result = runner.invoke(
        args=["user", "add", "budi", "--role", "enumerator", "--opd", "x", "--password", STRONG]
    )
    assert result.exit_code == 1
    assert "--opd is only for the opd-head role, not for 'enumerator'" in result.output


# --- Scopes ----------------------------------------------------------------------------------


def test_grant_and_revoke_on_the_page_are_audited(
    client: FlaskClient, session: Session, users, open_wave: Wave
) -> None:
    enumerator(session, "ani")
    enumerator(session, "budi")
    login(client, "eva")
    assert post(client, f"{PAGE}/izin", user="ani", opd="").status_code == 303
    assert post(client, f"{PAGE}/izin", user="BUDI", opd="rsud").status_code == 303
    assert scopes(session) == [
        ("ani", "uji-2026", None, "eva"),
        ("budi", "uji-2026", "rsud", "eva"),
    ]
    assert audit_entries(session, "enumerator.") == [
        ("enumerator.grant", "eva", {"wave": "uji-2026", "username": "ani", "opd": None}),
        ("enumerator.grant", "eva", {"wave": "uji-2026", "username": "budi", "opd": "rsud"}),
    ]
    html = client.get(PAGE).get_data(as_text=True)
    rows = enumerators.list_scopes(session, wave=open_wave)
    assert [(r.username, r.opd_slug) for r in rows] == [("ani", None), ("budi", "rsud")]
    assert re.search(
        rf'id="izin-{rows[0].id}">\s*<th scope="row">ani</th>\s*<td>Semua OPD gelombang ini</td>',
        html,
    )
    assert re.search(
        rf'id="izin-{rows[1].id}">\s*<th scope="row">budi</th>\s*<td>Rumah Sakit Umum Daerah</td>',
        html,
    )

    response = post(client, f"{PAGE}/izin/{rows[1].id}/cabut")
    assert response.status_code == 303
    assert response.headers["Location"] == f"{PAGE}?pesan=izin-dicabut"
    assert scopes(session) == [("ani", "uji-2026", None, "eva")]
    assert audit_entries(session, "enumerator.")[-1] == (
        "enumerator.revoke",
        "eva",
        {"wave": "uji-2026", "username": "budi", "opd": "rsud"},
    )
    # The same scope again: no such scope any more.
    assert post(client, f"{PAGE}/izin/{rows[1].id}/cabut").status_code == 404
    assert len(audit_entries(session, "enumerator.")) == 3


@pytest.mark.parametrize(
    ("user", "opd", "code", "text"),
    [
        ("nobody", "", "enumerator-user-unknown", "Pengguna 'nobody' tidak dikenal."),
        ("eva", "", "enumerator-not-enumerator", "Pengguna 'eva' bukan pencacah."),
        (
            "ani",
            "tidak-ada",
            "enumerator-opd-not-in-wave",
            "OPD tidak-ada tidak dicakup gelombang uji-2026.",
        ),
        ("ani", "", "enumerator-scope-exists", "Pencacah ani sudah boleh mewawancarai"),
        ("ani", "bpbd", "enumerator-scope-exists", "Pencacah ani sudah boleh mewawancarai"),
    ],
)
def test_refused_grants_change_nothing(
    client: FlaskClient, session: Session, users, open_wave: Wave, user, opd, code, text
) -> None:
    enumerator(session, "ani")
    enumerators.grant_scope(session, wave=open_wave, username="ani", opd_slug=None, actor="eva")
    before = (scopes(session), audit_entries(session, ""))
    with pytest.raises(EnumeratorError) as caught:
        enumerators.grant_scope(session, wave=open_wave, username=user, opd_slug=opd, actor="eva")
    assert [p.code for p in caught.value.problems] == [code]
    login(client, "eva")
    response = post(client, f"{PAGE}/izin", user=user, opd=opd)
    assert response.status_code == 400
    assert text in unescape(response.get_data(as_text=True))
    assert (scopes(session), audit_entries(session, "")) == before


def test_a_closed_wave_takes_no_grant_but_gives_revocations(
    session: Session, users, open_wave: Wave
) -> None:
    enumerator(session, "ani")
    scope = enumerators.grant_scope(
        session, wave=open_wave, username="ani", opd_slug="bpbd", actor="eva"
    )
    wave = set_wave_status(session, slug="uji-2026", status="closed")
    with pytest.raises(EnumeratorError) as caught:
        enumerators.grant_scope(session, wave=wave, username="ani", opd_slug="rsud", actor="eva")
    assert str(caught.value) == (
        "wave 'uji-2026' is closed: enumerators are given a draft or open wave only"
    )
    enumerators.revoke_scope(session, wave=wave, scope_id=int(scope.id or 0), actor="eva")
    assert scopes(session) == []


def test_a_single_opd_scope_beside_an_all_opd_scope_is_refused_but_not_the_reverse(
    session: Session, users, open_wave: Wave
) -> None:
    enumerator(session, "ani")
    enumerators.grant_scope(session, wave=open_wave, username="ani", opd_slug="bpbd", actor="eva")
    enumerators.grant_scope(session, wave=open_wave, username="ani", opd_slug=None, actor="eva")
    with pytest.raises(EnumeratorError):
        enumerators.grant_scope(
            session, wave=open_wave, username="ani", opd_slug="rsud", actor="eva"
        )
    assert scopes(session) == [("ani", "uji-2026", "bpbd", "eva"), ("ani", "uji-2026", None, "eva")]


def test_may_record(session: Session, users, open_wave: Wave) -> None:
    ani, budi = enumerator(session, "ani"), enumerator(session, "budi")
    other = create_wave(session, slug="lain-2026", title="Lain", status="open")
    enumerators.grant_scope(session, wave=open_wave, username="ani", opd_slug=None, actor="eva")
    only_rsud = enumerators.grant_scope(
        session, wave=open_wave, username="budi", opd_slug="rsud", actor="eva"
    )
    ids = {slug: queries.get_opd(session, slug=slug).id for slug in ("bpbd", "rsud", "dishub")}

    def may(user: User, slug: str, wave: Wave = open_wave) -> bool:
        session.expire_all()
        return enumerators.may_record(session, user=user, wave_id=wave.id, opd_id=ids[slug])

    assert [may(ani, s) for s in ("bpbd", "rsud", "dishub")] == [True, True, True]
    assert [may(budi, s) for s in ("bpbd", "rsud", "dishub")] == [False, True, False]
    assert may(ani, "rsud", other) is False  # another wave
    assert may(users["eva"], "rsud") is False  # not an enumerator
    accounts.set_active(session, username="ani", active=False)
    assert may(ani, "rsud") is False  # deactivated
    enumerators.revoke_scope(session, wave=open_wave, scope_id=int(only_rsud.id or 0), actor="eva")
    assert may(budi, "rsud") is False  # revoked


# --- The enumerator's own page, and every other page -------------------------------------------


def test_an_enumerator_lands_on_its_own_page(
    app: Flask, session: Session, users, open_wave: Wave
) -> None:
    enumerator(session, "ani")
    draft = create_wave(session, slug="draf-2026", title="Draf 2026", opd_slugs=["dishub"])
    enumerators.grant_scope(session, wave=open_wave, username="ani", opd_slug="rsud", actor="eva")
    enumerators.grant_scope(session, wave=draft, username="ani", opd_slug=None, actor="eva")
    finished = create_wave(session, slug="lama-2025", title="Lama 2025", status="open")
    enumerators.grant_scope(session, wave=finished, username="ani", opd_slug=None, actor="eva")
    set_wave_status(session, slug="lama-2025", status="closed")
    client = app.test_client()
    response = AuthActions(client).login("ani")
    assert urlsplit(response.headers["Location"]).path == "/kerja"
    response = client.get("/kerja")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/kerja/tugas"
    html = client.get("/kerja/tugas").get_data(as_text=True)
    assert (
        f'<a href="{urls.interview_path("uji-2026", "rsud")}">Rumah Sakit Umum Daerah</a>' in html
    )
    assert "/lapangan/wawancara/uji-2026/rsud" in html
    assert "/lapangan/wawancara/uji-2026/bpbd" not in html  # not its OPD
    assert "Draf 2026" in html and "Gelombang ini belum dibuka" in html
    assert "/lapangan/wawancara/draf-2026" not in html  # not open yet: no link
    assert "Lama 2025" not in html  # closed
    assert [a.opd_slug for a in enumerators.assignments(session, user=users["eva"])] == []


def test_an_enumerator_gets_403_on_every_other_workspace_page(
    app: Flask, session: Session, users, open_wave: Wave
) -> None:
    """Every workspace route of the app (each method), visited as an enumerator."""
    enumerator(session, "ani")
    enumerators.grant_scope(session, wave=open_wave, username="ani", opd_slug=None, actor="eva")
    add_responses(session, open_wave, "rsud", [[2] * 9] * 6, comment="RAHASIA-RSUD-7Q")
    client = app.test_client()
    assert AuthActions(client).login("ani").status_code == 302
    token = csrf_token(client, "/kerja/tugas")
    own = {("auth.workspace", "GET"): 302, ("enumerators.home", "GET"): 200}
    values = {"wave_slug": "uji-2026", "opd_slug": "rsud", "username": "eva", "slug": "rsud"}
    seen, visited = [], 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/kerja"):
            continue
        path = rule.rule
        for name in rule.arguments:
            path = re.sub(rf"<(?:[a-z]+:)?{name}>", str(values.get(name, 1)), path)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if method == "GET":
                response = client.get(path)
            else:
                response = client.post(path, data={"csrf_token": token})
            visited += 1
            expected = own.get((rule.endpoint, method), 403)
            if response.status_code != expected:
                seen.append(f"{method} {path}: {response.status_code}, expected {expected}")
            assert b"RAHASIA-RSUD-7Q" not in response.get_data()
    assert seen == []
    assert visited > 40  # the workspace's every page, not a handful
    # Outside the workspace: a wave's OPD report before publication is not its to read.
    set_wave_status(session, slug="uji-2026", status="closed")
    assert client.get("/r/uji-2026/opd/rsud.pdf").status_code == 404


# --- Figures ---------------------------------------------------------------------------------

NINE_THREES = [3] * 9
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 08.00 WIB


def interviews(session: Session, wave: Wave, opd: str, who: User, rows, **fields) -> None:
    """Store interviews of ``who`` for one OPD, as the interview page would."""
    add_responses(session, wave, opd, rows, channel="interview", enumerator_id=who.id, **fields)


def test_per_enumerator_figures(
    client: FlaskClient, session: Session, users, open_wave: Wave
) -> None:
    ani, budi = enumerator(session, "ani"), enumerator(session, "budi")
    for i, seconds in enumerate((300, 600, 420, 900)):
        interviews(
            session,
            open_wave,
            "bpbd",
            ani,
            [NINE_THREES],
            seconds=seconds,
            submitted_at=T0 + timedelta(minutes=i),
        )
    interviews(
        session,
        open_wave,
        "bpbd",
        ani,
        [[1] * 9],
        status="flagged",
        reason="straightline",
        seconds=60,
        submitted_at=T0 - timedelta(days=1),
    )
    interviews(
        session, open_wave, "rsud", ani, [NINE_THREES] * 2, submitted_at=T0 + timedelta(hours=5)
    )
    interviews(session, open_wave, "dishub", budi, [NINE_THREES], seconds=100, submitted_at=T0)
    interviews(session, open_wave, "dishub", budi, [NINE_THREES], seconds=200, submitted_at=T0)
    add_responses(session, open_wave, "dishub", [NINE_THREES] * 3, seconds=5)  # QR: not theirs
    stats = enumerators.wave_enumerator_stats(session, wave=open_wave)
    assert [(s.username, s.counted, s.flagged, s.opds, s.interviews) for s in stats] == [
        ("ani", 6, 1, 2, 7),
        ("budi", 2, 0, 1, 2),
    ]
    # ani's durations 60, 300, 420, 600, 900 (the two without one left out); budi's 100, 200.
    assert [(s.seconds_q1, s.seconds_median, s.seconds_q3) for s in stats] == [
        (300.0, 420.0, 600.0),
        (125.0, 150.0, 175.0),
    ]
    naive = [(s.first_at.replace(tzinfo=None), s.last_at.replace(tzinfo=None)) for s in stats]
    assert naive[0] == (datetime(2026, 3, 1, 1, 0), datetime(2026, 3, 2, 6, 0))
    login(client, "eva")
    html = client.get(PAGE).get_data(as_text=True)
    row = re.search(r'<tr id="pencacah-ani">(.*?)</tr>', html, re.S)
    assert row is not None
    cells = re.findall(r"<t[dh][^>]*>([^<]*)</t[dh]>", row.group(1))
    assert cells == [
        "ani",
        "6",
        "1",
        "2",
        "7,0",
        "5,0–10,0",
        "1 Maret 2026 08.00 WIB",
        "2 Maret 2026 13.00 WIB",
    ]
    row = re.search(r'<tr id="pencacah-budi">(.*?)</tr>', html, re.S)
    assert row is not None
    assert re.findall(r"<t[dh][^>]*>([^<]*)</t[dh]>", row.group(1))[4:6] == ["2,5", "2,1–2,9"]


def test_the_effect_check_on_the_page(
    client: FlaskClient, session: Session, users, open_wave: Wave
) -> None:
    """cici's respondents answer one point higher than ani's and budi's in both OPDs."""
    people = {name: enumerator(session, name) for name in ("ani", "budi", "cici")}
    for opd, base in (("bpbd", [2, 3, 3, 2, 3, 3, 2, 3, 3]), ("rsud", [1, 2, 2, 1, 2, 3, 2, 2, 1])):
        for name, who in people.items():
            shift = 1 if name == "cici" else 0
            rows = [[v + shift for v in base], [v + shift for v in reversed(base)]] * 6
            interviews(session, open_wave, opd, who, rows)
    # A "not applicable" U9 (stored 0) and a flagged interview change nothing.
    interviews(session, open_wave, "dishub", people["ani"], [[3] * 8 + [0]])
    interviews(session, open_wave, "dishub", people["budi"], [[3] * 9])
    interviews(session, open_wave, "bpbd", people["ani"], [[4] * 9], status="flagged", reason="x")
    scores, _names, _opds, points = enumerators.respondent_scores(session, wave=open_wave)
    assert (len(scores), points) == (3 * 24 + 2, 4)
    assert scores[-2:] == [3.0, 3.0]
    result = enumerators.wave_enumerator_effects(session, wave=open_wave)
    ani, _budi, cici = result.effects
    assert (cici.n, cici.n_others, cici.opds, cici.verdict) == (24, 48, 2, "higher")
    assert cici.effect == pytest.approx(1.0)
    assert (ani.n, ani.n_others, ani.opds) == (25, 49, 3)
    login(client, "eva")
    html = client.get(PAGE).get_data(as_text=True)
    row = re.search(r'<tr id="efek-cici">(.*?)</tr>', html, re.S)
    assert row is not None
    cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row.group(1), re.S)
    assert cells[:6] == ["cici", "24", "48", "2", "+1,00", "+25,0"]
    assert "Lebih tinggi dari pencacah lain: perlu dilihat" in cells[8]
    assert "Perbedaan bukan bukti kesalahan pencacah." in html


def test_the_page_with_nothing_recorded(
    client: FlaskClient, session: Session, users, open_wave: Wave
) -> None:
    login(client, "eva")
    html = client.get(PAGE).get_data(as_text=True)
    assert "Belum ada wawancara yang dicatat dalam gelombang ini." in html
    assert "Belum ada wawancara yang dihitung untuk dibandingkan." in html
    assert "Belum ada akun pencacah." in html


# --- The command line --------------------------------------------------------------------------


def test_ikm_enumerator_grant_list_revoke(
    runner, session: Session, users, open_wave: Wave, monkeypatch: pytest.MonkeyPatch
) -> None:
    enumerator(session, "ani")
    enumerator(session, "budi")
    monkeypatch.setattr(enumerators, "utcnow", lambda: datetime(2026, 3, 1, 1, 2, 3, 456, UTC))
    result = runner.invoke(args=["enumerator", "grant", "ani", "--wave", "uji-2026"])
    assert (result.exit_code, result.output) == (
        0,
        "ani may now record interviews for every OPD of wave uji-2026.\n",
    )
    result = runner.invoke(
        args=["enumerator", "grant", "budi", "--wave", "uji-2026", "--opd", "rsud"]
    )
    assert result.output == "budi may now record interviews for OPD rsud of wave uji-2026.\n"
    result = runner.invoke(args=["enumerator", "list", "--wave", "uji-2026"])
    assert result.exit_code == 0
    assert result.output == (
        "ani\t*\tactive\t-\t2026-03-01T01:02:03Z\nbudi\trsud\tactive\t-\t2026-03-01T01:02:03Z\n"
    )
    assert audit_entries(session, "enumerator.") == [
        ("enumerator.grant", None, {"wave": "uji-2026", "username": "ani", "opd": None}),
        ("enumerator.grant", None, {"wave": "uji-2026", "username": "budi", "opd": "rsud"}),
    ]
    result = runner.invoke(
        args=["enumerator", "revoke", "budi", "--wave", "uji-2026", "--opd", "rsud"]
    )
    assert result.output == "budi may no longer record interviews for OPD rsud of wave uji-2026.\n"
    assert runner.invoke(args=["enumerator", "list", "--wave", "uji-2026"]).output.startswith(
        "ani\t"
    )
    assert audit_entries(session, "enumerator.")[-1] == (
        "enumerator.revoke",
        None,
        {"wave": "uji-2026", "username": "budi", "opd": "rsud"},
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["grant", "eva", "--wave", "uji-2026"],
            "Error: user 'eva' has role 'evaluator', not enumerator",
        ),
        (
            ["grant", "ani", "--wave", "uji-2026", "--opd", "nope"],
            "Error: OPD 'nope' is not covered by wave 'uji-2026'",
        ),
        (["grant", "ani", "--wave", "nope"], "Error: unknown wave 'nope'"),
        (
            ["revoke", "ani", "--wave", "uji-2026", "--opd", "rsud"],
            "Error: 'ani' has no scope OPD 'rsud' in wave 'uji-2026'",
        ),
        (["revoke", "zed", "--wave", "uji-2026"], "Error: unknown user 'zed'"),
    ],
)
def test_ikm_enumerator_refusals(
    runner, session: Session, users, open_wave: Wave, args, message
) -> None:
    enumerator(session, "ani")
    result = runner.invoke(args=["enumerator", *args])
    assert result.exit_code == 1
    assert result.output.startswith(message), result.output
    assert scopes(session) == []

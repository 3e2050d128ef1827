"""Administration pages: users and roles (admins), OPDs (evaluators), who may do what, audit."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from auth_helpers import PASSWORD, AuthActions, admin_snapshot, csrf_token, login
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, select
from survey_helpers import add_responses, create_wave

from survey.core import accounts, queries
from survey.core.models import AuditLog, Response, User, WaveOpd

USERS = "/kerja/pengguna"
OPDS = "/kerja/opd"
NEW_PASSWORD = "sandi-baru-yang-panjang"


def other_client(app: Flask, username: str) -> FlaskClient:
    """Return a second browser signed in as ``username``."""
    return login(app.test_client(), username)


def post(client: FlaskClient, path: str, **data: str):
    """Post a form with a valid CSRF token."""
    return client.post(path, data={"csrf_token": csrf_token(client), **data})


def is_signed_out(client: FlaskClient) -> bool:
    """Return True if ``client``'s session no longer opens the workspace."""
    response = client.get("/kerja")
    return response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/masuk"


def last_audit(session: Session) -> AuditLog:
    """Return the newest audit entry."""
    session.expire_all()
    entry = session.exec(select(AuditLog).order_by(AuditLog.id.desc())).first()  # type: ignore[union-attr]
    assert entry is not None
    return entry


def get_user(session: Session, username: str) -> User:
    """Return a user, fresh from the database."""
    session.expire_all()
    user = accounts.get_user(session, username=username)
    assert user is not None
    return user


# --- Who may open what ------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client: FlaskClient, users, open_wave, session) -> None:
    for path in (USERS, f"{USERS}/eva", OPDS, f"{OPDS}/bpbd"):
        response = client.get(path)
        assert response.status_code == 302
        assert urlsplit(response.headers["Location"]).path == "/masuk"
    before = admin_snapshot(session)
    for path in (USERS, f"{USERS}/eva", OPDS, f"{OPDS}/bpbd", f"{OPDS}/impor"):
        assert client.post(path, data={"name": "x"}).status_code in (302, 400)
    assert admin_snapshot(session) == before


@pytest.mark.parametrize(
    ("username", "user_pages", "opd_pages"),
    [("admin", 200, 200), ("eva", 403, 200), ("kepala-bpbd", 403, 403)],
)
def test_access_by_role(client, users, open_wave, username, user_pages, opd_pages) -> None:
    login(client, username)
    assert client.get(USERS).status_code == user_pages
    assert client.get(f"{USERS}/eva").status_code == user_pages
    assert client.get(OPDS).status_code == opd_pages
    assert client.get(f"{OPDS}/bpbd").status_code == opd_pages


def test_forbidden_posts_change_nothing(client, users, open_wave, session) -> None:
    login(client, "eva")
    before = admin_snapshot(session)
    create = {"username": "baru", "role": "admin", "password": PASSWORD, "confirmation": PASSWORD}
    assert post(client, USERS, **create).status_code == 403
    assert post(client, f"{USERS}/eva", action="role", role="admin").status_code == 403
    AuthActions(client).logout()
    login(client, "kepala-bpbd")
    assert post(client, OPDS, slug="baru", name="Dinas Baru").status_code == 403
    assert post(client, f"{OPDS}/bpbd", action="deactivate").status_code == 403
    assert admin_snapshot(session) == before


def test_unknown_user_and_opd_are_404(client, users, open_wave) -> None:
    login(client, "admin")
    assert client.get(f"{USERS}/tidak-ada").status_code == 404
    assert client.get(f"{OPDS}/tidak-ada").status_code == 404
    assert post(client, f"{OPDS}/tidak-ada", action="deactivate").status_code == 404


def test_post_without_csrf_token_is_refused(client, users, open_wave, session) -> None:
    login(client, "admin")
    before = admin_snapshot(session)
    response = client.post(OPDS, data={"slug": "baru", "name": "Dinas Baru"})
    assert response.status_code == 400
    response = client.post(f"{USERS}/eva", data={"action": "deactivate"})
    assert response.status_code == 400
    assert admin_snapshot(session) == before


# --- Users ------------------------------------------------------------------------------------


def test_user_list_shows_roles_opds_and_last_sign_in(client, users, open_wave) -> None:
    login(client, "admin")
    html = client.get(USERS).get_data(as_text=True)
    assert "4 pengguna" in html
    assert "Administrator" in html and "Evaluator" in html and "Kepala OPD" in html
    assert "Badan Penanggulangan Bencana Daerah" in html
    assert "belum pernah" in html  # eva and kepala-bpbd have never signed in
    assert "WIB" in html  # the admin just did
    assert 'href="/kerja/pengguna/kepala-bpbd"' in html


def test_create_user_is_audited_and_can_sign_in(client, app, users, open_wave, session) -> None:
    login(client, "admin")
    response = post(
        client,
        USERS,
        username="Wakil-RSUD",
        role="opd-head",
        opd="rsud",
        password=NEW_PASSWORD,
        confirmation=NEW_PASSWORD,
    )
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Pengguna wakil-rsud dibuat." in page
    user = get_user(session, "wakil-rsud")
    assert user.role == "opd-head"
    assert user.opd_id == queries.get_opd(session, slug="rsud").id
    entry = last_audit(session)
    assert (entry.action, entry.actor) == ("user.create", "admin")
    assert entry.detail == {"username": "wakil-rsud", "role": "opd-head", "opd": "rsud"}
    login(app.test_client(), "wakil-rsud", NEW_PASSWORD)  # the new account signs in


def test_create_evaluator_ignores_the_opd_select(client, users, open_wave, session) -> None:
    login(client, "admin")
    data = {"username": "eva2", "role": "evaluator", "opd": "rsud"}
    response = post(client, USERS, password=PASSWORD, confirmation=PASSWORD, **data)
    assert response.status_code == 302
    assert get_user(session, "eva2").opd_id is None


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"username": "x"}, "username", "Nama pengguna 2 sampai 64 karakter"),
        ({"username": "eva"}, "username", "Nama pengguna ini sudah dipakai."),
        ({"username": "EVA "}, "username", "Nama pengguna ini sudah dipakai."),
        ({"username": ""}, "username", "Isi nama pengguna."),
        ({"password": "pendek", "confirmation": "pendek"}, "password", "paling sedikit 10"),
        ({"confirmation": PASSWORD + "x"}, "confirmation", "Konfirmasi kata sandi tidak sama."),
        ({"role": "opd-head", "opd": ""}, "opd", "Pilih OPD yang dipimpin"),
        ({"role": "opd-head", "opd": "tidak-ada"}, "opd", "OPD ini tidak dikenal."),
        ({"role": "superuser"}, "role", "Pilih salah satu peran."),
    ],
)
def test_create_user_errors_change_nothing(
    client, users, open_wave, session, fields, field, message
):
    login(client, "admin")
    before = admin_snapshot(session)
    data = {
        "username": "baru",
        "role": "evaluator",
        "opd": "",
        "password": PASSWORD,
        "confirmation": PASSWORD,
        **fields,
    }
    response = post(client, USERS, **data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'role="alert"' in html
    assert f'<p class="field-error" id="e-{field}">' in html
    error_at = html.index(f'id="e-{field}"')
    assert message in html[error_at : error_at + 300]
    assert f'aria-describedby="e-{field}"' in html
    assert admin_snapshot(session) == before
    assert PASSWORD not in html  # a password is never echoed back


def test_role_change_signs_the_user_out_and_is_audited(
    client, app, users, open_wave, session
) -> None:
    eva = other_client(app, "eva")
    version = get_user(session, "eva").session_version
    login(client, "admin")
    response = post(client, f"{USERS}/eva", action="role", role="opd-head", opd="rsud")
    assert response.status_code == 302
    assert "Peran diubah" in client.get(response.headers["Location"]).get_data(as_text=True)
    user = get_user(session, "eva")
    assert user.role == "opd-head" and user.session_version == version + 1
    entry = last_audit(session)
    assert (entry.action, entry.actor) == ("user.role", "admin")
    assert entry.detail["before"] == {"role": "evaluator", "opd": None}
    assert entry.detail["after"] == {"role": "opd-head", "opd": "rsud"}
    assert is_signed_out(eva)


def test_role_unchanged_writes_nothing(client, users, open_wave, session) -> None:
    login(client, "admin")
    before = admin_snapshot(session)
    response = post(client, f"{USERS}/kepala-bpbd", action="role", role="opd-head", opd="bpbd")
    assert response.status_code == 302
    assert "Tidak ada yang berubah." in client.get(response.headers["Location"]).get_data(
        as_text=True
    )
    assert admin_snapshot(session) == before


def test_admin_cannot_demote_themself(client, users, open_wave, session) -> None:
    accounts.create_user(session, username="admin2", password=PASSWORD, role="admin")
    login(client, "admin")
    before = admin_snapshot(session)
    response = post(client, f"{USERS}/admin", action="role", role="evaluator")
    assert response.status_code == 400
    assert "menurunkan peran akun Anda sendiri" in response.get_data(as_text=True)
    assert admin_snapshot(session) == before
    # Another admin may be demoted while one active admin remains.
    assert post(client, f"{USERS}/admin2", action="role", role="evaluator").status_code == 302
    assert get_user(session, "admin2").role == "evaluator"


def test_last_active_admin_is_kept(runner, users, open_wave, session) -> None:
    before = admin_snapshot(session)
    result = runner.invoke(args=["user", "role", "admin", "--role", "evaluator"])
    assert result.exit_code == 1
    assert "last active administrator" in result.output
    with pytest.raises(accounts.AdminGuardError):
        accounts.set_active(session, username="admin", active=False)
    session.rollback()
    assert admin_snapshot(session) == before


@pytest.mark.parametrize(
    ("lang", "texts"),
    [
        (
            "id",
            (
                "Anda tidak dapat menonaktifkan akun Anda sendiri.",
                "Nama pengguna ini sudah dipakai.",
                "Kata sandi terlalu pendek: paling sedikit 10 karakter.",
            ),
        ),
        (
            "en",
            (
                "You cannot deactivate your own account.",
                "This username is already taken.",
                "The password is too short: it needs at least 10 characters.",
            ),
        ),
    ],
)
def test_account_problems_speak_the_page_language(
    client, users, open_wave, session, lang, texts
) -> None:
    """The services' coded problems read in the page's language, never the CLI's English."""
    login(client, "admin")
    before = admin_snapshot(session)
    guard, taken, short = texts
    response = post(client, f"{USERS}/admin?lang={lang}", action="deactivate")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert f'<p class="field-error" id="e-active">{guard}</p>' in html
    assert "you cannot deactivate yourself" not in html
    data = {"username": "eva", "role": "evaluator", "password": "pendek", "confirmation": "x"}
    response = post(client, f"{USERS}?lang={lang}", **data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert taken in html and short in html
    assert "user 'eva' already exists" not in html
    assert "use at least 10 characters" not in html
    assert 'id="e-confirmation"' not in html  # the short password is the problem to fix
    assert admin_snapshot(session) == before


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["role", "admin", "--role", "evaluator"], "'admin' is the last active administrator"),
        (["role", "nobody", "--role", "evaluator"], "unknown user 'nobody'"),
        (
            ["add", "Bad Name!", "--role", "admin", "--password", "sandi-panjang-sekali"],
            "'Bad Name!' is not a valid username: use 2 to 64 letters, digits, '.', '_' or "
            "'-', starting with a letter or digit",
        ),
        (
            ["add", "baru", "--role", "opd-head", "--opd", "entah", "--password", "pendek"],
            "unknown OPD 'entah'",
        ),
        (
            ["add", "baru", "--role", "admin", "--password", "pendek"],
            "the password is too short: use at least 10 characters",
        ),
    ],
)
def test_account_problems_on_the_command_line(
    runner, users, open_wave, session, args, line
) -> None:
    """The CLI prints the English sentence of the problem, on one line, with status 1."""
    before = admin_snapshot(session)
    result = runner.invoke(args=["user", *args])
    assert result.exit_code == 1
    assert result.output == f"Error: {line}\n"
    assert admin_snapshot(session) == before


def test_set_password_signs_out_and_hides_the_secret(
    client, app, users, open_wave, session
) -> None:
    eva = other_client(app, "eva")
    old = get_user(session, "eva")
    old_hash, old_version = old.password_hash, old.session_version
    login(client, "admin")
    response = post(
        client, f"{USERS}/eva", action="password", password=NEW_PASSWORD, confirmation=NEW_PASSWORD
    )
    assert response.status_code == 302
    user = get_user(session, "eva")
    assert user.password_hash != old_hash
    assert user.session_version == old_version + 1
    entry = last_audit(session)
    assert (entry.action, entry.actor, entry.detail) == (
        "user.password",
        "admin",
        {"username": "eva"},
    )
    assert is_signed_out(eva)
    assert AuthActions(app.test_client()).login("eva").status_code == 200  # old password refused
    login(app.test_client(), "eva", NEW_PASSWORD)


def test_admin_setting_own_password_stays_signed_in(client, app, users, open_wave, session) -> None:
    elsewhere = other_client(app, "admin")
    login(client, "admin")
    response = post(
        client,
        f"{USERS}/admin",
        action="password",
        password=NEW_PASSWORD,
        confirmation=NEW_PASSWORD,
    )
    assert response.status_code == 302
    assert client.get(response.headers["Location"]).status_code == 200
    assert not is_signed_out(client)
    assert is_signed_out(elsewhere)


@pytest.mark.parametrize(
    ("password", "confirmation", "field", "message"),
    [
        ("pendek", "pendek", "password", "paling sedikit 10"),
        ("", "", "password", "Isi kata sandi."),
        (NEW_PASSWORD, NEW_PASSWORD + "!", "confirmation", "tidak sama"),
    ],
)
def test_bad_password_changes_nothing(
    client, users, open_wave, session, password, confirmation, field, message
):
    login(client, "admin")
    before = admin_snapshot(session)
    response = post(
        client, f"{USERS}/eva", action="password", password=password, confirmation=confirmation
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert f'id="e-{field}"' in html and message in html
    assert admin_snapshot(session) == before


def test_deactivate_and_reactivate(client, app, users, open_wave, session) -> None:
    eva = other_client(app, "eva")
    login(client, "admin")
    response = post(client, f"{USERS}/eva", action="deactivate")
    assert response.status_code == 302
    assert "dinonaktifkan" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert get_user(session, "eva").active is False
    entry = last_audit(session)
    assert (entry.action, entry.actor, entry.detail) == (
        "user.deactivate",
        "admin",
        {"username": "eva"},
    )
    assert is_signed_out(eva)
    assert AuthActions(app.test_client()).login("eva").status_code == 200  # refused
    assert "nonaktif" in client.get(USERS).get_data(as_text=True)
    before = admin_snapshot(session)
    assert post(client, f"{USERS}/eva", action="deactivate").status_code == 302  # already
    assert admin_snapshot(session) == before
    assert post(client, f"{USERS}/eva", action="activate").status_code == 302
    assert get_user(session, "eva").active is True
    assert last_audit(session).action == "user.activate"
    other_client(app, "eva")


def test_admin_cannot_deactivate_themself(client, users, open_wave, session) -> None:
    login(client, "admin")
    before = admin_snapshot(session)
    response = post(client, f"{USERS}/admin", action="deactivate")
    assert response.status_code == 400
    assert "menonaktifkan akun Anda sendiri" in response.get_data(as_text=True)
    assert admin_snapshot(session) == before
    assert not is_signed_out(client)


def test_unknown_user_action_is_400(client, users, open_wave, session) -> None:
    login(client, "admin")
    before = admin_snapshot(session)
    assert post(client, f"{USERS}/eva", action="delete").status_code == 400
    assert admin_snapshot(session) == before


# --- OPDs -------------------------------------------------------------------------------------


def test_opd_list_and_add(client, users, open_wave, session) -> None:
    login(client, "eva")
    html = client.get(OPDS).get_data(as_text=True)
    assert "Rumah Sakit Umum Daerah" in html and "Dishub" in html and "3 OPD" in html
    response = post(
        client,
        OPDS,
        slug="dinkes",
        name="  Dinas Kesehatan ",
        short_name="Dinkes",
        service_population="12000",
    )
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "OPD Dinas Kesehatan ditambahkan." in page
    assert "12.000" in page
    opd = queries.get_opd(session, slug="dinkes")
    assert (opd.name, opd.short_name, opd.service_population, opd.active) == (
        "Dinas Kesehatan",
        "Dinkes",
        12000,
        True,
    )
    entry = last_audit(session)
    assert (entry.action, entry.actor) == ("opd.create", "eva")
    assert entry.detail["slug"] == "dinkes" and entry.detail["service_population"] == 12000


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"slug": "Dinas Kesehatan"}, "slug", "Slug hanya huruf kecil"),
        ({"slug": "dinas--kesehatan"}, "slug", "Slug hanya huruf kecil"),
        ({"slug": "a" * 65}, "slug", "Slug hanya huruf kecil"),
        ({"slug": "impor"}, "slug", "dipakai halaman"),
        ({"slug": "bpbd"}, "slug", "sudah dipakai OPD lain"),
        ({"name": "   "}, "name", "Nama wajib diisi."),
        ({"name": "Dinas Perhubungan"}, "name", "sudah dipakai OPD dishub"),
        ({"name": "x" * 201}, "name", "201 karakter (paling banyak 200)"),
        ({"short_name": "x" * 65}, "short_name", "paling banyak 64"),
        ({"service_population": "0"}, "service_population", "bilangan bulat 1 sampai"),
        ({"service_population": "-5"}, "service_population", "bilangan bulat 1 sampai"),
        ({"service_population": "1.5"}, "service_population", "bilangan bulat 1 sampai"),
        ({"service_population": "banyak"}, "service_population", "bilangan bulat 1 sampai"),
        ({"service_population": "9999999999"}, "service_population", "2.147.483.647"),
        ({"service_hours": "8-16"}, "service_hours", "JJ:MM-JJ:MM"),
        ({"service_hours": "08:00-25:00"}, "service_hours", "bukan &#39;08:00-25:00&#39;"),
        ({"service_hours": "08:00-08:00"}, "service_hours", "JJ:MM-JJ:MM"),
    ],
)
def test_add_opd_errors_change_nothing(client, users, open_wave, session, fields, field, message):
    login(client, "eva")
    before = admin_snapshot(session)
    response = post(client, OPDS, **{"slug": "dinkes", "name": "Dinas Kesehatan", **fields})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'role="alert"' in html
    error_at = html.index(f'<p class="field-error" id="e-{field}">')
    assert message in html[error_at : error_at + 300]
    assert admin_snapshot(session) == before


def test_edit_opd_audits_changed_fields_only(client, users, open_wave, session) -> None:
    login(client, "admin")
    response = post(
        client,
        f"{OPDS}/dishub",
        action="update",
        name="Dinas Perhubungan",
        short_name="DISHUB",
        service_population="500",
    )
    assert response.status_code == 302
    assert "Perubahan OPD disimpan." in client.get(response.headers["Location"]).get_data(
        as_text=True
    )
    opd = queries.get_opd(session, slug="dishub")
    session.refresh(opd)
    assert (opd.short_name, opd.service_population) == ("DISHUB", 500)
    entry = last_audit(session)
    assert (entry.action, entry.actor) == ("opd.update", "admin")
    assert entry.detail == {
        "slug": "dishub",
        "before": {"short_name": "Dishub", "service_population": None},
        "after": {"short_name": "DISHUB", "service_population": 500},
    }
    # The same values again: nothing changes, nothing is logged.
    before = admin_snapshot(session)
    response = post(
        client,
        f"{OPDS}/dishub",
        action="update",
        name="Dinas Perhubungan",
        short_name="DISHUB",
        service_population="500",
    )
    assert response.headers["Location"].endswith("hasil=tetap")
    assert admin_snapshot(session) == before
    # Service hours: stored as HH:MM-HH:MM, audited, shown in the form; emptied, cleared.
    response = post(
        client,
        f"{OPDS}/dishub",
        action="update",
        name="Dinas Perhubungan",
        short_name="DISHUB",
        service_population="500",
        service_hours=" 07:30 - 15:00 ",
    )
    assert response.status_code == 302
    session.expire_all()
    assert queries.get_opd(session, slug="dishub").service_hours == "07:30-15:00"
    entry = last_audit(session)
    assert entry.detail["after"] == {"service_hours": "07:30-15:00"}
    html = client.get(f"{OPDS}/dishub").get_data(as_text=True)
    assert 'id="f-service_hours" name="service_hours"' in html and 'value="07:30-15:00"' in html
    # Emptying the population clears it.
    post(client, f"{OPDS}/dishub", action="update", name="Dinas Perhubungan", short_name="")
    session.expire_all()
    assert queries.get_opd(session, slug="dishub").service_population is None
    assert queries.get_opd(session, slug="dishub").short_name is None


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": "Rumah Sakit Umum Daerah"}, "name", "sudah dipakai OPD rsud"),
        ({"name": ""}, "name", "Nama wajib diisi."),
        ({"service_population": "nol"}, "service_population", "bilangan bulat"),
    ],
)
def test_edit_opd_errors_change_nothing(client, users, open_wave, session, fields, field, message):
    login(client, "eva")
    before = admin_snapshot(session)
    data = {"action": "update", "name": "Dinas Perhubungan Kota", **fields}
    response = post(client, f"{OPDS}/dishub", **data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    error_at = html.index(f'<p class="field-error" id="e-{field}">')
    assert message in html[error_at : error_at + 300]
    assert admin_snapshot(session) == before


def test_deactivated_opd_is_left_out_of_new_waves(client, users, session, open_wave) -> None:
    add_responses(session, open_wave, "rsud", [[4] * 9] * 3)
    login(client, "eva")
    response = post(client, f"{OPDS}/rsud", action="deactivate")
    assert response.status_code == 302
    assert "dinonaktifkan" in client.get(response.headers["Location"]).get_data(as_text=True)
    entry = last_audit(session)
    assert (entry.action, entry.actor, entry.detail) == ("opd.deactivate", "eva", {"slug": "rsud"})
    session.expire_all()
    assert queries.get_opd(session, slug="rsud").active is False
    # Its existing wave and responses stay.
    assert queries.opd_in_wave(session, wave=open_wave, opd_slug="rsud") is not None
    assert len(session.exec(select(Response)).all()) == 3
    wave = create_wave(session, slug="gelombang-baru", title="Baru")
    covered = {opd.slug for opd, _link in queries.wave_opds(session, wave=wave)}
    assert covered == {"bpbd", "dishub"}
    # Again: nothing changes. Then reactivate.
    before = admin_snapshot(session)
    post(client, f"{OPDS}/rsud", action="deactivate")
    assert admin_snapshot(session) == before
    assert post(client, f"{OPDS}/rsud", action="activate").status_code == 302
    session.expire_all()
    assert queries.get_opd(session, slug="rsud").active is True
    assert last_audit(session).action == "opd.activate"
    assert len(session.exec(select(WaveOpd)).all()) == 5


def test_unknown_opd_action_is_400(client, users, open_wave, session) -> None:
    login(client, "eva")
    before = admin_snapshot(session)
    assert post(client, f"{OPDS}/rsud", action="delete").status_code == 400
    assert admin_snapshot(session) == before


def test_pages_render_in_english_too(client, users, open_wave) -> None:
    login(client, "admin")
    for path in (USERS, f"{USERS}/eva", OPDS, f"{OPDS}/bpbd"):
        response = client.get(path, query_string={"lang": "en"})
        assert response.status_code == 200
        assert '<html lang="en">' in response.get_data(as_text=True)


def test_opd_page_offers_the_import_form(client, users, open_wave) -> None:
    login(client, "eva")
    html = client.get(OPDS).get_data(as_text=True)
    assert 'action="/kerja/opd/impor" enctype="multipart/form-data"' in html
    assert '<label for="f-file">' in html and '<label for="f-dry_run">' in html

"""Enumerators on the web: a wave's enumerator page for staff, and an enumerator's own page.

Evaluators and administrators open ``/kerja/gelombang/<wave>/pencacah`` to create enumerator
accounts (the only accounts an evaluator may create), give them the wave or single OPDs of it,
take those away, and read what each enumerator recorded: counts, interview durations and the
enumerator-effect check. An enumerator signed in lands on ``/kerja/tugas``, the list of the
OPDs it may interview for, each linking to its interview page; every other workspace page
answers 403 to it (checked here, before any view, so a page added later is closed to
enumerators unless it is named below). The rules live in :mod:`survey.core.enumerators`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from survey.core import accounts, enumerators, queries
from survey.core.accounts import AccountError
from survey.core.models import Wave
from survey.web.database import get_session
from survey.web.problems import field_errors
from survey.web.signin import current_user, roles_required
from survey.web.workspace_forms import ConfirmForm, EnumeratorAccountForm, ScopeGrantForm

bp = Blueprint("enumerators", __name__)

NOTICES = ("akun-dibuat", "izin-diberikan", "izin-dicabut")
# The workspace pages an enumerator may open: its landing page (and the workspace's address,
# which sends it there). Its interview pages live outside /kerja.
ENUMERATOR_ENDPOINTS = frozenset({"auth.workspace", "enumerators.home"})
WORKSPACE_PREFIX = "/kerja"
MIN_SHOWN = 5  # no breakdown of answers is shown for fewer respondents


@bp.before_app_request
def keep_enumerators_out() -> None:
    """Answer 403 to an enumerator asking for any workspace page but its own."""
    if not (request.path == WORKSPACE_PREFIX or request.path.startswith(WORKSPACE_PREFIX + "/")):
        return
    user = current_user()
    if (
        user is not None
        and user.role == "enumerator"
        and request.endpoint not in ENUMERATOR_ENDPOINTS
    ):
        abort(403)


def _wave_or_404(wave_slug: str) -> Wave:
    """Return the wave with this slug or answer 404."""
    wave = queries.get_wave(get_session(), slug=wave_slug)
    if wave is None:
        abort(404)
    return wave


def _actor() -> tuple[str, str]:
    """Return the signed-in staff member's name and role (roles_required ran first)."""
    user = current_user()
    assert user is not None
    return user.username, user.role


@bp.get("/kerja/tugas")
@roles_required("enumerator")
def home() -> ResponseReturnValue:
    """An enumerator's page: the waves and OPDs it may interview for, with their links."""
    user = current_user()
    assert user is not None
    return render_template(
        "enumerators/home.html",
        user=user,
        assignments=enumerators.assignments(get_session(), user=user),
    )


def _render(
    wave: Wave,
    *,
    account: dict[str, str] | None = None,
    grant: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    """Render the wave's enumerator page: forms, scopes, figures and the effect check."""
    session = get_session()
    notice = request.args.get("pesan")
    stats = enumerators.wave_enumerator_stats(session, wave=wave)
    effects = enumerators.wave_enumerator_effects(session, wave=wave)
    context: dict[str, Any] = {
        "wave": wave,
        "scopes": enumerators.list_scopes(session, wave=wave),
        "people": enumerators.list_enumerators(session),
        "opds": [opd for opd, _link in queries.wave_opds(session, wave=wave)],
        "stats": stats,
        "effects": effects,
        "account": account or {},
        "grant": grant or {},
        "errors": errors or {},
        "notice": notice if notice in NOTICES else None,
        "granting": wave.status in enumerators.GRANTABLE_STATUSES,
        "min_shown": MIN_SHOWN,
    }
    return render_template("enumerators/index.html", **context), status


@bp.get("/kerja/gelombang/<wave_slug>/pencacah")
@roles_required("evaluator")
def index(wave_slug: str) -> ResponseReturnValue:
    """The wave's enumerators: their scopes, what they recorded, the effect check."""
    return _render(_wave_or_404(wave_slug))


@bp.post("/kerja/gelombang/<wave_slug>/pencacah/akun")
@roles_required("evaluator")
def create_account(wave_slug: str) -> ResponseReturnValue:
    """Create an enumerator account (username and password twice); audited."""
    wave = _wave_or_404(wave_slug)
    form = EnumeratorAccountForm()
    shown = {"username": form.username.data or ""}
    if not form.validate():
        abort(400)  # only a missing or stale CSRF token fails here
    asked = form.as_input()
    session = get_session()
    problems = accounts.new_user_problems(
        session, username=asked.username, role="enumerator", opd_slug=None, password=asked.password
    )
    errors = field_errors(problems)
    if "password" not in errors and asked.password != asked.confirmation:
        errors["confirmation"] = _("Konfirmasi kata sandi tidak sama.")
    if not errors:
        actor, role = _actor()
        try:
            enumerators.create_enumerator(
                session,
                username=asked.username,
                password=asked.password,
                actor=actor,
                actor_role=role,
            )
        except AccountError as exc:
            session.rollback()  # a race: someone took the name since the check
            errors = field_errors(exc.problems)
        else:
            return redirect(url_for(".index", wave_slug=wave.slug, pesan="akun-dibuat"), code=303)
    return _render(wave, account=shown, errors=errors, status=400)


@bp.post("/kerja/gelombang/<wave_slug>/pencacah/izin")
@roles_required("evaluator")
def grant(wave_slug: str) -> ResponseReturnValue:
    """Give an enumerator one OPD of the wave, or every OPD; audited."""
    wave = _wave_or_404(wave_slug)
    form = ScopeGrantForm()
    if not form.validate():
        abort(400)
    asked = form.as_grant()
    session = get_session()
    try:
        enumerators.grant_scope(
            session,
            wave=wave,
            username=asked.username,
            opd_slug=asked.opd_slug,
            actor=_actor()[0],
        )
    except enumerators.EnumeratorError as exc:
        session.rollback()
        shown = {"user": asked.username, "opd": asked.opd_slug or ""}
        return _render(wave, grant=shown, errors=field_errors(exc.problems), status=400)
    return redirect(url_for(".index", wave_slug=wave.slug, pesan="izin-diberikan"), code=303)


@bp.post("/kerja/gelombang/<wave_slug>/pencacah/izin/<int:scope_id>/cabut")
@roles_required("evaluator")
def revoke(wave_slug: str, scope_id: int) -> ResponseReturnValue:
    """Take a scope away; audited. Interviews already recorded stay as they are."""
    wave = _wave_or_404(wave_slug)
    if not ConfirmForm().validate():
        abort(400)
    try:
        enumerators.revoke_scope(get_session(), wave=wave, scope_id=scope_id, actor=_actor()[0])
    except enumerators.EnumeratorError:
        abort(404)
    return redirect(url_for(".index", wave_slug=wave.slug, pesan="izin-dicabut"), code=303)

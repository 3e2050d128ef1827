"""Administration: users and roles (administrators), OPDs and their CSV import (evaluators).

Administrators list users, create them, change a user's role (and OPD), set a new password,
and deactivate or reactivate an account; each change signs the user out everywhere and is
written to the audit log. Nobody can demote or deactivate themself, nor the last active
administrator. Evaluators and administrators list, add, edit, deactivate and reactivate OPDs
and import them from a CSV file (all or nothing, with every bad row listed by number). The
rules live in ``survey.core.accounts`` and ``opds``; these views read the form, call them and
render their coded problems in the page's language.
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlmodel import Session
from werkzeug.exceptions import RequestEntityTooLarge

from survey.core import accounts, units
from survey.core import opds as opd_service
from survey.core.accounts import AccountError
from survey.core.models import USER_ROLES, Opd, User
from survey.core.opds import OpdError
from survey.core.units import UnitError
from survey.web import signin
from survey.web.database import get_session
from survey.web.extensions import csrf
from survey.web.problems import field_errors, field_label, problem_text
from survey.web.signin import current_user, roles_required
from survey.web.workspace_forms import (
    NewUserForm,
    OpdActionForm,
    OpdFieldsForm,
    OpdForm,
    OpdImportForm,
    OpdServiceForm,
    OpdUnitForm,
    UserChangeForm,
    UserInput,
    upload_name,
)

bp = Blueprint("admin", __name__)

# The body of an upload is the file plus the form's other fields and multipart framing.
UPLOAD_OVERHEAD = 64 * 1024
USER_RESULTS = ("peran", "sandi", "nonaktif", "aktif", "tetap")
OPD_RESULTS = (
    "ditambahkan",
    "diubah",
    "nonaktif",
    "aktif",
    "tetap",
    "layanan-ditambah",
    "layanan-dihapus",
    "unit-ditambah",
    "unit-nonaktif",
    "unit-aktif",
)


def _actor() -> str:
    """Return the signed-in user's name (the views are behind ``roles_required``)."""
    user = current_user()
    assert user is not None
    return user.username


# ---------------------------------------------------------------------------------------------
# Users


def _roles() -> list[tuple[str, str]]:
    """Return (role, label) for the role selects."""
    return [(role, signin.role_label(role)) for role in USER_ROLES]


def _users_page(
    session: Session,
    *,
    form: UserInput,
    errors: dict[str, str] | None = None,
    result: str | None = None,
    result_user: str | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    """Render the user list with the new-user form."""
    page = render_template(
        "admin/users.html",
        users=accounts.list_users(session),
        opds=opd_service.list_opds(session),
        roles=_roles(),
        role_label=signin.role_label,
        form=form,
        errors=errors or {},
        result=result,
        result_user=result_user,
    )
    return page, status


@bp.route("/kerja/pengguna", methods=["GET", "POST"])
@roles_required("admin")
def users() -> ResponseReturnValue:
    """List users; create one (username, role, OPD for an OPD head, password twice)."""
    session = get_session()
    if request.method == "GET":
        result = request.args.get("hasil")
        name = request.args.get("pengguna", "")
        # Name the user only if they exist, so a crafted link cannot put words on the page.
        known = accounts.get_user(session, username=name) if name else None
        return _users_page(
            session,
            form=UserInput(role="evaluator"),
            result=result if result == "dibuat" and known else None,
            result_user=known.username if known else None,
        )
    form = NewUserForm().as_input()
    problems = accounts.new_user_problems(
        session,
        username=form.username,
        role=form.role,
        opd_slug=form.opd_slug,
        password=form.password,
    )
    errors = _with_confirmation(field_errors(problems), form.password, form.confirmation)
    if not errors:
        try:
            user = accounts.create_user(
                session,
                username=form.username,
                password=form.password,
                role=form.role,
                opd_slug=form.opd_slug,
                actor=_actor(),
            )
        except AccountError as exc:
            # Only a race gets here (someone took the name since the check).
            session.rollback()
            errors = field_errors(exc.problems)
        else:
            return redirect(url_for("admin.users", hasil="dibuat", pengguna=user.username))
    return _users_page(session, form=form, errors=errors, status=400)


def _with_confirmation(errors: dict[str, str], password: str, confirmation: str) -> dict[str, str]:
    """Add the confirmation's error to a password's: a form matter, not the service's."""
    if "password" not in errors and password != confirmation:
        errors["confirmation"] = _("Konfirmasi kata sandi tidak sama.")
    return errors


def _user_page(
    session: Session,
    *,
    user: User,
    errors: dict[str, str] | None = None,
    result: str | None = None,
    role: str | None = None,
    opd: str | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    """Render one user's page: details, role form, password form, (de)activation."""
    current_opd = session.get(Opd, user.opd_id) if user.opd_id else None
    page = render_template(
        "admin/user.html",
        user=user,
        user_opd=current_opd,
        opds=opd_service.list_opds(session),
        roles=_roles(),
        role_label=signin.role_label,
        chosen_role=role if role is not None else user.role,
        chosen_opd=opd if opd is not None else (current_opd.slug if current_opd else ""),
        is_self=user.username == _actor(),
        errors=errors or {},
        result=result,
    )
    return page, status


@bp.route("/kerja/pengguna/<username>", methods=["GET", "POST"])
@roles_required("admin")
def user(username: str) -> ResponseReturnValue:
    """Show a user; change their role (and OPD), set a password, deactivate or reactivate."""
    session = get_session()
    target = accounts.get_user(session, username=username)
    if target is None:
        abort(404)
    if request.method == "GET":
        result = request.args.get("hasil")
        return _user_page(session, user=target, result=result if result in USER_RESULTS else None)
    change = UserChangeForm()
    if not change.validate():
        abort(400)
    action = change.action.data
    if action == "role":
        return _change_role(session, target)
    if action == "password":
        return _change_password(session, target)
    return _change_active(session, target, active=action == "activate")


def _change_role(session: Session, target: User) -> ResponseReturnValue:
    """Apply the role form: a new role, and the OPD of an OPD head."""
    form = UserChangeForm().as_input()
    errors = field_errors(accounts.role_problems(session, role=form.role, opd_slug=form.opd_slug))
    if not errors:
        current_opd = session.get(Opd, target.opd_id) if target.opd_id else None
        if (form.role, form.opd_slug) == (target.role, current_opd.slug if current_opd else None):
            return redirect(url_for("admin.user", username=target.username, hasil="tetap"))
        try:
            accounts.set_role(
                session,
                username=target.username,
                role=form.role,
                opd_slug=form.opd_slug,
                actor=_actor(),
            )
        except AccountError as exc:
            session.rollback()
            errors = field_errors(exc.problems)
        else:
            return redirect(url_for("admin.user", username=target.username, hasil="peran"))
    return _user_page(session, user=target, errors=errors, role=form.role, opd=form.opd, status=400)


def _change_password(session: Session, target: User) -> ResponseReturnValue:
    """Apply the password form; an administrator who sets their own stays signed in."""
    form = UserChangeForm().as_input()
    password = form.password
    errors = _with_confirmation(
        field_errors(accounts.password_problems(password, username=target.username)),
        password,
        form.confirmation,
    )
    if errors:
        return _user_page(session, user=target, errors=errors, status=400)
    user = accounts.set_password(
        session, username=target.username, password=password, actor=_actor()
    )
    if user.username == _actor():
        # The new session version ends every other session; this one starts afresh.
        signin.start_session(user)
    return redirect(url_for("admin.user", username=user.username, hasil="sandi"))


def _change_active(session: Session, target: User, *, active: bool) -> ResponseReturnValue:
    """Deactivate or reactivate a user (refused for oneself and the last administrator)."""
    if target.active == active:
        return redirect(url_for("admin.user", username=target.username, hasil="tetap"))
    try:
        accounts.set_active(session, username=target.username, active=active, actor=_actor())
    except AccountError as exc:
        session.rollback()
        errors = field_errors(exc.problems)
        return _user_page(session, user=target, errors=errors, status=400)
    result = "aktif" if active else "nonaktif"
    return redirect(url_for("admin.user", username=target.username, hasil=result))


# ---------------------------------------------------------------------------------------------
# OPDs


def _opds_page(
    session: Session,
    *,
    form: OpdForm | None = None,
    errors: dict[str, str] | None = None,
    import_error: str | None = None,
    result: str | None = None,
    result_opd: Opd | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    """Render the OPD list with the add form and the import form."""
    page = render_template(
        "admin/opds.html",
        opds=opd_service.list_opds(session),
        values=form.shown() if form else {},
        errors=errors or {},
        import_error=import_error,
        result=result,
        result_opd=result_opd,
        max_mb=opd_service.IMPORT_MAX_BYTES // (1024 * 1024),
    )
    return page, status


@bp.route("/kerja/opd", methods=["GET", "POST"])
@roles_required("evaluator")
def opds() -> ResponseReturnValue:
    """List OPDs; add one (slug, name, short name, service population)."""
    session = get_session()
    if request.method == "GET":
        result = request.args.get("hasil")
        slug = request.args.get("opd", "")
        known = opd_service.get_opd(session, slug=slug) if slug else None
        return _opds_page(
            session,
            result=result if result == "ditambahkan" and known else None,
            result_opd=known,
        )
    form = OpdForm()
    if not form.validate():
        return _opds_page(session, form=form, errors=form.errors_by_field(), status=400)
    fields = form.as_input()
    try:
        added = opd_service.create_opd(
            session,
            slug=fields.slug,
            name=fields.name,
            short_name=fields.short_name,
            service_population=fields.service_population,
            service_hours=fields.service_hours,
            actor=_actor(),
        )
    except OpdError as exc:
        return _opds_page(session, form=form, errors=field_errors(exc.problems), status=400)
    return redirect(url_for("admin.opds", hasil="ditambahkan", opd=added.slug))


def _opd_page(
    session: Session,
    *,
    opd: Opd,
    form: OpdFieldsForm | None = None,
    errors: dict[str, str] | None = None,
    result: str | None = None,
    status: int = 200,
    service_typed: str = "",
    unit_errors: dict[str, str] | None = None,
    unit_typed: tuple[str, str] = ("", ""),
) -> ResponseReturnValue:
    """Render one OPD's edit page (its current values, or the refused ones as typed)."""
    population = opd.service_population
    current = {
        "name": opd.name,
        "short_name": opd.short_name or "",
        "service_population": "" if population is None else str(population),
        "service_hours": opd.service_hours or "",
    }
    page = render_template(
        "admin/opd.html",
        opd=opd,
        values=form.shown() if form else current,
        errors=errors or {},
        result=result,
        services=opd_service.list_services(session, opd_id=int(opd.id or 0)),
        service_typed=service_typed,
        units=units.list_units(session, opd_id=int(opd.id or 0)),
        unit_errors=unit_errors or {},
        unit_typed=unit_typed,
    )
    return page, status


@bp.route("/kerja/opd/<slug>", methods=["GET", "POST"])
@roles_required("evaluator")
def opd(slug: str) -> ResponseReturnValue:
    """Edit an OPD's name, short name, population and hours; deactivate or reactivate it."""
    session = get_session()
    target = opd_service.get_opd(session, slug=slug)
    if target is None:
        abort(404)
    if request.method == "GET":
        result = request.args.get("hasil")
        return _opd_page(session, opd=target, result=result if result in OPD_RESULTS else None)
    action = OpdActionForm()
    if not action.validate():
        abort(400)
    if action.action.data in ("deactivate", "activate"):
        activate = action.action.data == "activate"
        changed = opd_service.set_opd_active(session, opd=target, active=activate, actor=_actor())
        result = ("aktif" if activate else "nonaktif") if changed else "tetap"
        return redirect(url_for("admin.opd", slug=target.slug, hasil=result))
    if action.action.data in ("service-add", "service-remove"):
        return _change_services(session, target, adding=action.action.data == "service-add")
    if action.action.data in ("unit-add", "unit-deactivate", "unit-activate"):
        return _change_units(session, target, action.action.data)
    form = OpdFieldsForm()
    if not form.validate():
        return _opd_page(session, opd=target, form=form, errors=form.errors_by_field(), status=400)
    fields = form.as_input()
    try:
        changes = opd_service.update_opd(
            session,
            opd=target,
            name=fields.name,
            short_name=fields.short_name,
            service_population=fields.service_population,
            service_hours=fields.service_hours,
            actor=_actor(),
        )
    except OpdError as exc:
        session.rollback()
        session.refresh(target)
        return _opd_page(
            session, opd=target, form=form, errors=field_errors(exc.problems), status=400
        )
    result = "diubah" if changes else "tetap"
    return redirect(url_for("admin.opd", slug=target.slug, hasil=result))


def _change_services(session: Session, target: Opd, *, adding: bool) -> ResponseReturnValue:
    """Add a service to the OPD's list or remove one; the page again with the problem."""
    form = OpdServiceForm()
    if not form.validate():
        abort(400)
    try:
        if adding:
            opd_service.add_service(session, opd=target, name=form.name(), actor=_actor())
        else:
            opd_service.remove_service(session, opd=target, name=form.name(), actor=_actor())
    except OpdError as exc:
        session.rollback()
        session.refresh(target)
        errors = field_errors(exc.problems)
        typed = form.name() if adding else ""
        return _opd_page(session, opd=target, errors=errors, status=400, service_typed=typed)
    result = "layanan-ditambah" if adding else "layanan-dihapus"
    return redirect(url_for("admin.opd", slug=target.slug, hasil=result, _anchor="layanan"))


def _change_units(session: Session, target: Opd, action: str) -> ResponseReturnValue:
    """Add a service unit, or deactivate or reactivate one; the page again with the problem."""
    form = OpdUnitForm()
    if not form.validate():
        abort(400)
    slug, name = form.unit_slug.data or "", form.unit_name.data or ""
    try:
        if action == "unit-add":
            units.add_unit(session, opd=target, slug=slug, name=name, actor=_actor())
            result = "unit-ditambah"
        else:
            unit = units.unit_or_error(session, opd=target, slug=slug)
            active = action == "unit-activate"
            units.set_unit_active(session, opd=target, unit=unit, active=active, actor=_actor())
            result = "unit-aktif" if active else "unit-nonaktif"
    except UnitError as exc:
        session.rollback()
        session.refresh(target)
        errors = {f"unit_{key}": text for key, text in field_errors(exc.problems).items()}
        typed = (slug, name) if action == "unit-add" else ("", "")
        return _opd_page(session, opd=target, status=400, unit_errors=errors, unit_typed=typed)
    return redirect(url_for("admin.opd", slug=target.slug, hasil=result, _anchor="unit"))


@bp.route("/kerja/opd/impor", methods=["GET", "POST"])
@csrf.exempt  # checked below, once the larger upload limit is in force
@roles_required("evaluator")
def opd_import() -> ResponseReturnValue:
    """Import OPDs from an uploaded CSV file (all or nothing); GET goes back to the list."""
    if request.method == "GET":
        return redirect(url_for("admin.opds"))
    session = get_session()
    # The app-wide body limit is sized for survey answers; an OPD file may be larger.
    request.max_content_length = opd_service.IMPORT_MAX_BYTES + UPLOAD_OVERHEAD
    try:
        form = OpdImportForm()
    except RequestEntityTooLarge:
        message = problem_text(opd_service.problem("too-large"))
        return _opds_page(session, import_error=message, status=413)
    if not form.validate():
        if form.csrf_failed:
            abort(400)
        return _opds_page(session, import_error=form.errors_by_field()["file"], status=400)
    upload = form.file.data
    data = upload.read(opd_service.IMPORT_MAX_BYTES + 1)
    dry_run = bool(form.dry_run.data)
    report = opd_service.import_opds(
        session, data=data, filename=upload_name(upload), actor=_actor(), dry_run=dry_run
    )
    page = render_template(
        "admin/opd_import.html",
        report=report,
        dry_run=dry_run,
        problem_text=problem_text,
        field_label=field_label,
        max_mb=opd_service.IMPORT_MAX_BYTES // (1024 * 1024),
    )
    return page, 200 if report.ok else 400

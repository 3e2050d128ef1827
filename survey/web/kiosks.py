"""Kiosk enrolment: the staff page of a wave's kiosks, "enrol this device", and revocation.

An evaluator or administrator opens ``/kerja/gelombang/<wave>/kios`` on the tablet itself,
signed in, chooses the OPD and a label and presses "enrol this device": the service stores the
device with who enrolled it, and the response sets the signed ``ikm_kiosk`` cookie naming the
row and sends the tablet to the kiosk page of that OPD (``survey.web.field``), on the same
host (the cookie belongs to the host it was set on). Revoking a device (audited) makes its
cookie worthless at once.
OPD heads cannot enrol kiosks: a kiosk is exempt from the same-device check, and the OPD being
rated should not hold that key.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlmodel import Session

from survey.core import kiosks, queries, units, urls
from survey.core.models import Wave
from survey.web import antiabuse
from survey.web.database import get_session
from survey.web.problems import field_errors
from survey.web.signin import current_user, end_current_session, roles_required
from survey.web.workspace_forms import ConfirmForm, KioskEnrolForm

bp = Blueprint("kiosks", __name__)

NOTICES = ("dicabut", "sudah-dicabut")


def _wave_or_404(wave_slug: str) -> Wave:
    """Return the wave with this slug or answer 404."""
    wave = queries.get_wave(get_session(), slug=wave_slug)
    if wave is None:
        abort(404)
    return wave


def _actor() -> str:
    """Return the signed-in staff member's name (roles_required ran first)."""
    user = current_user()
    assert user is not None
    return user.username


def _places(session: Session, wave: Wave) -> list[tuple[str, str]]:
    """Return (value, name) of each place a kiosk may stand: every OPD of the wave, each
    followed by its active service units (``opd/unit``)."""
    covered = [opd for opd, _link in queries.wave_opds(session, wave=wave)]
    active = units.units_by_opd(
        session, opd_ids=[int(opd.id or 0) for opd in covered], active_only=True
    )
    places = []
    for opd in covered:
        places.append((opd.slug, opd.name))
        for unit in active[int(opd.id or 0)]:
            places.append((f"{opd.slug}/{unit.slug}", f"{opd.name} – {unit.name}"))
    return places


def _render(
    wave: Wave, form: KioskEnrolForm, errors: dict[str, str] | None = None, status: int = 200
) -> ResponseReturnValue:
    """Render the wave's kiosk page: the enrolment form and every device enrolled."""
    session = get_session()
    notice = request.args.get("pesan")
    return (
        render_template(
            "kiosks/index.html",
            wave=wave,
            rows=kiosks.list_kiosks(session, wave=wave),
            places=_places(session, wave),
            values=form.shown(),
            errors=errors or {},
            notice=notice if notice in NOTICES else None,
            enrolling=wave.status in ("draft", "open"),
        ),
        status,
    )


@bp.get("/kerja/gelombang/<wave_slug>/kios")
@roles_required("evaluator")
def index(wave_slug: str) -> ResponseReturnValue:
    """List the wave's kiosks (label, OPD, who enrolled it and when, revoked) and the form."""
    return _render(_wave_or_404(wave_slug), KioskEnrolForm(formdata=None))


@bp.post("/kerja/gelombang/<wave_slug>/kios")
@roles_required("evaluator")
def enrol(wave_slug: str) -> ResponseReturnValue:
    """Enrol the device that posts this: store it, set its kiosk cookie, open its survey."""
    wave = _wave_or_404(wave_slug)
    form = KioskEnrolForm()
    if not form.validate():
        return _render(wave, form, form.errors_by_field(), 400)
    asked = form.as_enrolment()
    session = get_session()
    try:
        device = kiosks.enroll_kiosk(
            session,
            wave=wave,
            opd_slug=asked.opd_slug,
            label=asked.label,
            actor=_actor(),
            faces=asked.faces,
            unit_slug=asked.unit_slug,
        )
    except kiosks.KioskError as exc:
        session.rollback()
        return _render(wave, form, field_errors(exc.problems), 400)
    opd = queries.opd_in_wave(session, wave=wave, opd_slug=asked.opd_slug)
    assert opd is not None and device.id is not None
    # A path, not the public URL: the cookie is this host's, so the tablet must stay on it.
    response = redirect(urls.kiosk_path(wave.slug, opd.slug), code=303)
    response.set_cookie(
        antiabuse.KIOSK_COOKIE,
        antiabuse.sign_kiosk(device_id=device.id, wave_id=device.wave_id, opd_id=device.opd_id),
        max_age=antiabuse.KIOSK_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE", False)),
    )
    # The tablet now stands at the counter for every citizen: the evaluator who enrolled it
    # is signed out of it, so nobody walks from the kiosk into the workspace.
    end_current_session()
    return response


@bp.post("/kerja/gelombang/<wave_slug>/kios/<int:device_id>/cabut")
@roles_required("evaluator")
def revoke(wave_slug: str, device_id: int) -> ResponseReturnValue:
    """Revoke one of the wave's kiosks (audited); its cookie no longer counts."""
    wave = _wave_or_404(wave_slug)
    if not ConfirmForm().validate():
        abort(400)
    try:
        revoked = kiosks.revoke_kiosk(get_session(), wave=wave, device_id=device_id, actor=_actor())
    except kiosks.KioskError:
        abort(404)
    notice = "dicabut" if revoked else "sudah-dicabut"
    return redirect(url_for("kiosks.index", wave_slug=wave.slug, pesan=notice), code=303)

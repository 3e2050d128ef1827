"""Kiosks: tablets at an OPD's counter, enrolled by staff for one wave and OPD.

A kiosk is one device shared by many citizens, so the same-device check cannot apply to it.
That exemption is earned, never claimed: only a device a staff member enrolled (a row here,
named by a signed cookie the web sets on enrolment) answers as a kiosk, only for its wave and
OPD, and only until someone revokes it. Each answer from it carries the device's id.

Enrolling and revoking are audited (``kiosk.enrol``, ``kiosk.revoke``) in the transaction of
the change, with the staff member who did it; the wave's page lists every device ever enrolled.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from survey.core import queries, units
from survey.core.audit import audit
from survey.core.models import KioskDevice, Opd, ServiceUnit, Wave, utcnow
from survey.core.problems import ProblemError, define, problem
from survey.core.rules import column_width

define(
    {
        "kiosk-label-required": "the kiosk needs a label (e.g. 'Loket 1')",
        "kiosk-label-too-long": "the kiosk's label has {length} characters (at most {limit})",
        "kiosk-label-control": "the kiosk's label holds control or invisible characters",
        "kiosk-opd-not-in-wave": "OPD {opd!r} is not covered by wave {wave!r}",
        "kiosk-wave-finished": "wave {wave!r} is {status}: kiosks are enrolled for a draft or "
        "open wave only",
        "kiosk-unknown": "wave {wave!r} has no kiosk {value}",
        "kiosk-unit-unknown": "OPD {opd!r} has no active service unit {unit!r}",
    }
)

LABEL_MAX_LENGTH = column_width(KioskDevice, "label")


class KioskError(ProblemError):
    """A kiosk cannot be enrolled or revoked as asked."""


def active_kiosk(
    session: Session, *, device_id: int, wave_id: int, opd_id: int
) -> KioskDevice | None:
    """Return the enrolled, unrevoked kiosk ``device_id`` if it belongs to this wave and OPD."""
    device = session.get(KioskDevice, device_id)
    if device is None or device.revoked_at is not None:
        return None
    if device.wave_id != wave_id or device.opd_id != opd_id:
        return None
    return device


def check_label(label: str) -> str:
    """Return the label stripped, or raise KioskError (blank, too long, control characters)."""
    text = label.strip()
    if not text:
        raise KioskError([problem("kiosk-label-required", "label")])
    if len(text) > LABEL_MAX_LENGTH:
        raise KioskError(
            [problem("kiosk-label-too-long", "label", length=len(text), limit=LABEL_MAX_LENGTH)]
        )
    # Cc: controls, Cf: format characters (bidi overrides, zero-width), which would make two
    # labels look alike in the list.
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text):
        raise KioskError([problem("kiosk-label-control", "label")])
    return text


def enroll_kiosk(
    session: Session,
    *,
    wave: Wave,
    opd_slug: str,
    label: str,
    actor: str,
    faces: bool = False,
    unit_slug: str | None = None,
) -> KioskDevice:
    """Enrol a device for a wave and OPD with its ``kiosk.enrol`` audit entry; commit.

    ``faces``: the kiosk shows a face scale beside the answer labels. ``unit_slug``: the
    kiosk stands at that service unit of the OPD, and every answer given on it carries the
    unit (as on the unit's own survey page).

    Refused (KioskError, nothing written) for a closed or published wave, an OPD the wave does
    not cover, a unit the OPD does not have (or has closed), or a bad label.
    """
    if wave.status not in ("draft", "open"):
        raise KioskError(
            [problem("kiosk-wave-finished", "wave", wave=wave.slug, status=wave.status)]
        )
    opd = queries.opd_in_wave(session, wave=wave, opd_slug=opd_slug)
    if opd is None:
        raise KioskError([problem("kiosk-opd-not-in-wave", "opd", opd=opd_slug, wave=wave.slug)])
    unit = None
    if unit_slug:
        unit = units.get_unit(session, opd_id=int(opd.id or 0), slug=unit_slug)
        if unit is None or not unit.active:
            raise KioskError([problem("kiosk-unit-unknown", "opd", opd=opd.slug, unit=unit_slug)])
    text = check_label(label)
    device = KioskDevice(
        wave_id=int(wave.id or 0),
        opd_id=int(opd.id or 0),
        unit_id=None if unit is None else unit.id,
        label=text,
        faces=faces,
        enrolled_by=actor,
        enrolled_at=utcnow(),
    )
    session.add(device)
    session.flush()
    audit(
        session,
        actor=actor,
        action="kiosk.enrol",
        wave=wave.slug,
        opd=opd.slug,
        device_id=device.id,
        label=text,
        **({"unit": unit.slug} if unit is not None else {}),
        **({"faces": True} if faces else {}),
    )
    session.commit()
    return device


def revoke_kiosk(session: Session, *, wave: Wave, device_id: int, actor: str) -> bool:
    """Revoke a wave's kiosk with its ``kiosk.revoke`` audit entry; False if already revoked.

    Its cookie stops counting at once: :func:`active_kiosk` reads the row on every answer.
    """
    query = (
        select(KioskDevice)
        .where(KioskDevice.id == device_id, KioskDevice.wave_id == wave.id)
        .with_for_update()
    )
    device = session.exec(query).first()
    if device is None:
        session.rollback()
        raise KioskError([problem("kiosk-unknown", "device", wave=wave.slug, value=device_id)])
    if device.revoked_at is not None:
        session.rollback()
        return False
    device.revoked_at = utcnow()
    device.revoked_by = actor
    session.add(device)
    opd = session.get(Opd, device.opd_id)
    audit(
        session,
        actor=actor,
        action="kiosk.revoke",
        wave=wave.slug,
        opd=opd.slug if opd else None,
        device_id=device.id,
        label=device.label,
    )
    session.commit()
    return True


@dataclass(frozen=True)
class KioskRow:
    """An enrolled device as the wave's kiosk page lists it."""

    id: int
    label: str
    opd_slug: str
    opd_name: str
    unit_name: str | None
    enrolled_by: str
    enrolled_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None

    @property
    def active(self) -> bool:
        """True until the device is revoked."""
        return self.revoked_at is None


def list_kiosks(session: Session, *, wave: Wave) -> list[KioskRow]:
    """Return every device enrolled for the wave (revoked ones too), newest first."""
    query = (
        select(KioskDevice, Opd, ServiceUnit)
        .join(Opd, col(Opd.id) == KioskDevice.opd_id)
        .join(ServiceUnit, col(ServiceUnit.id) == KioskDevice.unit_id, isouter=True)
        .where(KioskDevice.wave_id == wave.id)
        .order_by(col(KioskDevice.enrolled_at).desc(), col(KioskDevice.id).desc())
    )
    return [
        KioskRow(
            id=int(device.id or 0),
            label=device.label,
            opd_slug=opd.slug,
            opd_name=opd.name,
            unit_name=None if unit is None else unit.name,
            enrolled_by=device.enrolled_by,
            enrolled_at=device.enrolled_at,
            revoked_at=device.revoked_at,
            revoked_by=device.revoked_by,
        )
        for device, opd, unit in session.exec(query).all()
    ]

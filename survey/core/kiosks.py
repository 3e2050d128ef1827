"""Kiosks: tablets at an OPD's counter, enrolled by staff for one wave and OPD.

A kiosk is one device shared by many citizens, so the same-device check cannot apply to it.
That exemption is earned, never claimed: only a device a staff member enrolled (a row here,
named by a signed cookie the web sets on enrolment) answers as a kiosk, only for its wave and
OPD, and only until someone revokes it. Each answer from it carries the device's id.
"""

from __future__ import annotations

from sqlmodel import Session

from survey.core.models import KioskDevice


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

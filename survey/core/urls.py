"""Public addresses of survey pages, for QR codes, posters and the demo's listing.

Built from the configured public base URL (``IKM_PUBLIC_URL``), never from a request's host,
so that a code printed from an internal address still sends citizens to the public site.
One function, so the QR image, the poster and the printed address always agree.
"""

from __future__ import annotations

from urllib.parse import quote


def survey_path(wave_slug: str, opd_slug: str) -> str:
    """Return the path of a survey page (slugs quoted)."""
    return f"/s/{quote(wave_slug, safe='')}/{quote(opd_slug, safe='')}"


def survey_url(public_url: str, wave_slug: str, opd_slug: str) -> str:
    """Return the absolute public URL of a survey page."""
    return public_url.rstrip("/") + survey_path(wave_slug, opd_slug)


def wave_path(wave_slug: str) -> str:
    """Return the path of a wave's one link, where a citizen finds the OPD they visited."""
    return f"/s/{quote(wave_slug, safe='')}"


def unit_survey_path(wave_slug: str, opd_slug: str, unit_slug: str) -> str:
    """Return the path of the survey page of one service unit of an OPD."""
    return survey_path(wave_slug, opd_slug) + f"/{quote(unit_slug, safe='')}"


def interview_path(wave_slug: str, opd_slug: str) -> str:
    """Return the path of an enumerator's interview page (offline-capable, signed in)."""
    return f"/lapangan/wawancara/{quote(wave_slug, safe='')}/{quote(opd_slug, safe='')}"


def kiosk_path(wave_slug: str, opd_slug: str) -> str:
    """Return the path of an enrolled kiosk's survey page (offline-capable)."""
    return f"/lapangan/kios/{quote(wave_slug, safe='')}/{quote(opd_slug, safe='')}"

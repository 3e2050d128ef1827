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

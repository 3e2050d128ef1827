"""Public addresses of survey pages, for QR codes, posters and the demo's listing.

Built from the configured public base URL (``IKM_PUBLIC_URL``), never from a request's host,
so that a code printed from an internal address still sends citizens to the public site.
One function, so the QR image, the poster and the printed address always agree.
"""

from __future__ import annotations

from urllib.parse import quote

from werkzeug.routing import BaseConverter


class TextConverter(BaseConverter):
    """The default URL part, minus control characters: ``/s/a%00b/x`` matches no route.

    PostgreSQL refuses NUL in text parameters, so a slug holding one would fail the lookup
    with a server error instead of the 404 every other unknown slug gets.
    """

    regex = r"[^/\x00-\x1f\x7f]+"


def survey_path(wave_slug: str, opd_slug: str) -> str:
    """Return the path of a survey page (slugs quoted)."""
    return f"/s/{quote(wave_slug, safe='')}/{quote(opd_slug, safe='')}"


def survey_url(public_url: str, wave_slug: str, opd_slug: str) -> str:
    """Return the absolute public URL of a survey page."""
    return public_url.rstrip("/") + survey_path(wave_slug, opd_slug)

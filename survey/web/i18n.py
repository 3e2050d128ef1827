"""Languages: Bahasa Indonesia by default, English on request, Indonesian formats.

The language comes from a ``lang`` query parameter (the visible switch on every page), then
the ``lang`` cookie that the switch sets, then the default. UI strings go through the Babel
catalogs in ``survey/translations``; questionnaire texts are data and carry both languages.

A questionnaire may carry further languages (``survey.core.locales``, e.g. ``su``): those are
accepted from the parameter and the cookie only when a stored questionnaire offers them
(:func:`chosen_language`); the survey's questions then show in it, and everything else,
which has no Babel catalog in it, in Indonesian (:func:`select_locale`).
"""

from __future__ import annotations

import functools
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from babel.dates import format_date as babel_format_date
from babel.dates import get_month_names
from flask import Flask, Response, current_app, request
from flask_babel import Babel, get_locale

from reports.formatting import Formatter
from reports.formatting import format_number as report_number

if TYPE_CHECKING:  # annotations only: the model module loads the statistics libraries
    from reports.model import Lang

LANGUAGES = ("id", "en")
LANG_COOKIE = "lang"
_LOCALES_CACHE = "ikm_questionnaire_locales"
LOCALES_TTL = 30.0  # seconds another process's new questionnaire language may take to show
babel = Babel()


def further_languages() -> frozenset[str]:
    """Return the further languages stored questionnaires offer (read at most every 30 s)."""
    from survey.core.locales import stored_locales
    from survey.web.citizen import _read_through
    from survey.web.database import get_session

    return _read_through(_LOCALES_CACHE, "all", LOCALES_TTL, lambda: stored_locales(get_session()))


def known_language(candidate: str | None) -> bool:
    """Return True for id, en and a further language some stored questionnaire offers."""
    if not candidate:
        return False
    if candidate in LANGUAGES:
        return True
    from survey.core.locales import LOCALE_PATTERN

    # Only a well-formed code costs a look at the stored questionnaires.
    return bool(LOCALE_PATTERN.fullmatch(candidate)) and candidate in further_languages()


def chosen_language() -> str:
    """Return the language the citizen chose (parameter, then cookie), else the default.

    id, en or a further language of a stored questionnaire; anything else is ignored.
    """
    for candidate in (request.args.get("lang"), request.cookies.get(LANG_COOKIE)):
        if known_language(candidate):
            return str(candidate)
    return current_app.config.get("DEFAULT_LOCALE", "id")


def select_locale() -> str:
    """Pick the request's interface language: the chosen one when it has a Babel catalog
    (id or en), else the default (Indonesian)."""
    chosen = chosen_language()
    return chosen if chosen in LANGUAGES else current_app.config.get("DEFAULT_LOCALE", "id")


def current_language() -> str:
    """Return ``id`` or ``en`` for the current request."""
    locale = get_locale()
    return locale.language if locale is not None else "id"


def remember_language(response: Response) -> Response:
    """Keep the language chosen with ``?lang=`` on a page in a cookie for the next pages.

    Only pages set it: a PDF or ZIP asked for with ``?lang=en`` is the same file for everyone,
    and an answer that sets a cookie is one nginx's cache of published files never keeps.
    """
    lang = request.args.get("lang")
    if (
        lang
        and response.mimetype == "text/html"
        and request.cookies.get(LANG_COOKIE) != lang
        and known_language(lang)
    ):
        response.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=365 * 24 * 3600,
            samesite="Lax",
            httponly=True,
            secure=current_app.config.get("SESSION_COOKIE_SECURE", False),
        )
    return response


def format_number(value: float | None, digits: int = 2, lang: str | None = None) -> str:
    """Format a number for a page: the reports' formatter (half up), "–" when missing."""
    language: Lang = "en" if (lang or current_language()) == "en" else "id"  # the two of LANGUAGES
    return report_number(value, language, digits, missing="–")


def shown_score(unit: object, converted: bool = False, lang: str | None = None) -> str:
    """A unit's IKM (or converted IKM) for a page, by the display rule beside a category;
    ``lang`` as the page's (given by a page that prints hundreds, else looked up)."""
    language: Lang = "en" if (lang or current_language()) == "en" else "id"
    f = Formatter(language)
    return f.unit_conv(unit) if converted else f.unit_score(unit)


def to_local(value: datetime, tz: str | None = None) -> datetime:
    """Convert a stored UTC datetime (naive ones are taken as UTC) to the local time zone."""
    zone = ZoneInfo(tz or current_app.config.get("TIMEZONE", "Asia/Jakarta"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo("UTC"))
    return value.astimezone(zone)


def format_day(value: date | datetime | None, lang: str | None = None) -> str:
    """Format a date as '13 Januari 2026' (or '13 January 2026')."""
    if value is None:
        return ""
    return babel_format_date(value, format="d MMMM y", locale=lang or current_language())


def format_moment(value: datetime | None, lang: str | None = None) -> str:
    """Format a stored UTC time in local time: '13 Januari 2026 14.05 WIB'."""
    if value is None:
        return ""
    local = to_local(value)
    text = _moment_text(local, lang or current_language())
    return f"{text} {local.tzname()}" if local.tzname() != "+07" else f"{text} WIB"


def _moment_text(local: datetime, lang: str) -> str:
    """Babel's "d MMMM y HH.mm" of ``local``, written with the month names Babel gives (a
    dashboard of 500 OPDs prints a time on each row; Babel parses its pattern at every call)."""
    month = _month_names(lang)[local.month]
    return f"{local.day} {month} {local.year} {local.hour:02d}.{local.minute:02d}"


@functools.lru_cache(maxsize=8)
def _month_names(lang: str) -> dict[int, str]:
    """The wide month names of a language, as dates print them."""
    return dict(get_month_names("wide", context="format", locale=lang))


def switch_language_url(lang: str) -> str:
    """Return the current page's address with ``lang`` set, keeping the other query arguments."""
    args = request.args.to_dict(flat=False)
    args["lang"] = [lang]
    return f"{quote(request.script_root + request.path)}?{urlencode(args, doseq=True)}"


def init_app(app: Flask) -> None:
    """Set up Babel, the language cookie and the template helpers."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "id")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")
    babel.init_app(app, locale_selector=select_locale)
    app.after_request(remember_language)

    @app.context_processor
    def inject_i18n() -> dict[str, Any]:
        """Give every template the language and the formatting helpers."""
        return {
            "current_language": current_language,
            "format_number": format_number,
            "shown_score": shown_score,
            "format_day": format_day,
            "format_moment": format_moment,
            "switch_language_url": switch_language_url,
        }

"""Helpers shared by the field-collection tests: the one-link wave and a citizen on it
(tests/test_onelink.py), and the Basa Sunda questionnaire example (tests/test_languages.py)."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, select
from survey_helpers import FakeClock, add_opd, create_wave, set_wave_status
from werkzeug.datastructures import MultiDict
from werkzeug.test import TestResponse

from survey.core import queries, waves
from survey.core.models import Opd, Questionnaire, Wave
from survey.core.questionnaires import (
    QuestionnaireError,
    add_questionnaire,
    load_questionnaire_file,
    safe_yaml,
)

PUBLIC = "https://skm.example.go.id"
WAVE = "satu-link"

# (slug, name, short name), added in this order; the page sorts them by name.
OPDS = (
    ("rsud", "Rumah Sakit Umum Daerah", "RSUD"),
    ("dinkes", "Dinas Kesehatan", "Dinkes"),
    ("disdukcapil", "Dinas Kependudukan dan Pencatatan Sipil", "Disdukcapil"),
    ("dishub", "Dinas Perhubungan", "Dishub"),
    ("keraton", "Dinas Kebudayaan Kératon", None),
    ("bpbd", "Badan Penanggulangan Bencana Daerah", "BPBD"),
)
BY_NAME = [
    "Badan Penanggulangan Bencana Daerah",
    "Dinas Kebudayaan Kératon",
    "Dinas Kependudukan dan Pencatatan Sipil",
    "Dinas Kesehatan",
    "Dinas Perhubungan",
    "Rumah Sakit Umum Daerah",
]
PROFILE = {"sex": "P", "age": "34", "education": "S1", "occupation": "Wirausaha"}


# --- Arranging ---------------------------------------------------------------------------------


def make_wave(
    session: Session,
    *,
    multi: bool = True,
    slugs: Iterable[str] | None = None,
    status: str = "open",
    **settings: Any,
) -> Wave:
    """Add the OPDs and an open wave over them; ``multi`` sets its multi-OPD sittings."""
    for slug, name, short in OPDS:
        if queries.get_opd(session, slug=slug) is None:
            add_opd(session, slug=slug, name=name, short_name=short)
    chosen = [slug for slug, _n, _s in OPDS] if slugs is None else list(slugs)
    create_wave(
        session,
        slug=WAVE,
        title="Evaluasi 100 Hari",
        evaluator="DPD KNPI Kota Serang",
        opd_slugs=chosen,
        **settings,
    )
    set_multi(session, multi)
    return set_wave_status(session, slug=WAVE, status=status)


def set_multi(session: Session, on: bool) -> Wave:
    """Switch the wave's multi-OPD sittings through the wave service (audited)."""
    wave = waves.find_wave(session, slug=WAVE)
    settings = dataclasses.replace(waves.current_settings(session, wave=wave), multi_opd=on)
    waves.update_wave(session, wave=wave, settings=settings, actor="eva")
    return waves.find_wave(session, slug=WAVE)


class _Page(HTMLParser):
    """Collect a page's hidden inputs (in order), links, meta tags and scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden: list[tuple[str, str]] = []
        self.links: list[tuple[str, str]] = []
        self.meta: dict[str, str] = {}
        self.scripts = 0
        self.stylesheets: list[str] = []
        self._href: str | None = None
        self._text = ""
        self.checkboxes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "input" and a.get("type") == "hidden":
            self.hidden.append((a["name"], a.get("value", "")))
        elif tag == "input" and a.get("type") == "checkbox":
            self.checkboxes.append(a["value"])
        elif tag == "a":
            self._href, self._text = a.get("href", ""), ""
        elif tag == "meta" and ("property" in a or "name" in a):
            self.meta[a.get("property") or a["name"]] = a.get("content", "")
        elif tag == "script":
            self.scripts += 1
        elif tag == "link" and a.get("rel") == "stylesheet":
            self.stylesheets.append(a["href"])

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, self._text.strip()))
            self._href = None


def parse(response: TestResponse) -> _Page:
    """Parse a page."""
    page = _Page()
    page.feed(response.get_data(as_text=True))
    return page


class Citizen:
    """One browser on the wave's link: requests each in an app context of their own."""

    def __init__(self, app: Flask, clock: FakeClock, client: FlaskClient | None = None) -> None:
        self.app, self.clock = app, clock
        self.client = client or app.test_client()

    def get(self, url: str, **kwargs: Any) -> TestResponse:
        with self.app.app_context():
            return self.client.get(url, **kwargs)

    def post(self, url: str, data: Sequence[tuple[str, str]], **kwargs: Any) -> TestResponse:
        with self.app.app_context():
            return self.client.post(url, data=MultiDict(data), **kwargs)

    def found(self, query: str) -> list[str]:
        """Return the OPD names the wave's page lists for a search, in order."""
        response = self.get(f"/s/{WAVE}?q={quote(query)}")
        assert response.status_code == 200
        return [text for href, text in parse(response).links if href.startswith(f"/s/{WAVE}/")]

    def open_sitting(self, *slugs: str) -> list[tuple[str, str]]:
        """Open the sitting form of these OPDs; return its hidden fields."""
        query = "&".join(f"opd={slug}" for slug in slugs)
        response = self.get(f"/s/{WAVE}?{query}")
        assert response.status_code == 200, response.get_data(as_text=True)
        return parse(response).hidden

    def sit(
        self,
        answers: dict[str, dict[str, str]],
        *,
        hidden: list[tuple[str, str]] | None = None,
        profile: dict[str, str] | None = None,
        extra: Sequence[tuple[str, str]] = (),
        wait: float = 10.0,
    ) -> TestResponse:
        """Answer a sitting: ``answers`` by OPD slug ({"U1": "4", ...}); returns the POST."""
        hidden = hidden if hidden is not None else self.open_sitting(*answers)
        data = list(hidden) + list((profile if profile is not None else PROFILE).items())
        for slug, fields in answers.items():
            opd_id = opd_ids(self.app)[slug]
            data += [(f"o{opd_id}-{code}", value) for code, value in fields.items()]
        data += list(extra)
        self.clock.advance(wait)
        return self.post(f"/s/{WAVE}", data)


def opd_ids(app: Flask) -> dict[str, int]:
    """Return the OPDs' ids by slug."""
    from survey.web.database import session_scope

    with session_scope(app) as session:
        return {opd.slug: int(opd.id or 0) for opd in session.exec(select(Opd)).all()}


def fours(*codes: str) -> dict[str, str]:
    """Answer 4 to each question code."""
    return dict.fromkeys(codes, "4")


SUNDA = Path(__file__).resolve().parent.parent / "docs" / "examples" / "basa-sunda.yaml"
SLUG = "permenpanrb-basa-sunda"
U1_SU = (
    "Kumaha pamadegan Saderek ngeunaan saluyuna sarat-sarat palayanan sareng jinis palayananana?"
)
U1_ID = (
    "Bagaimana pendapat Saudara tentang kesesuaian persyaratan pelayanan dengan jenis pelayanannya?"
)


def sunda() -> dict[str, Any]:
    """Return the Basa Sunda example as a dict, to vary."""
    return copy.deepcopy(safe_yaml(SUNDA.read_text(encoding="utf-8")))


def as_yaml(data: dict[str, Any]) -> bytes:
    """Return a questionnaire dict as YAML bytes."""
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode()


def problems_of(data: dict[str, Any]) -> list[str]:
    """Return the problems a file is refused with, as the command line says them."""
    with pytest.raises(QuestionnaireError) as info:
        load_questionnaire_file(as_yaml(data), "q.yaml")
    return [item.english() for item in info.value.problems]


def store(session: Session, data: dict[str, Any] | None = None) -> Questionnaire:
    """Store the example (or ``data``) and return the questionnaire."""
    raw = SUNDA.read_bytes() if data is None else as_yaml(data)
    spec = load_questionnaire_file(raw, "basa-sunda.yaml")
    questionnaire, _created = add_questionnaire(session, spec=spec, actor="eva")
    return questionnaire


SUNDA_WAVE = "sunda-2026"


def open_sunda_wave(session: Session, data: dict[str, Any] | None = None) -> Wave:
    """Store the Basa Sunda example (or ``data``) and open a wave asking it at bpbd."""
    if queries.get_opd(session, slug="bpbd") is None:
        add_opd(session, slug="bpbd", name="Badan Penanggulangan Bencana Daerah")
    questionnaire = store(session, data)
    return create_wave(
        session,
        slug=SUNDA_WAVE,
        title="Survei Sunda 2026",
        opd_slugs=["bpbd"],
        questionnaire_id=questionnaire.id,
        status="open",
    )

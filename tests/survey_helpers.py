"""Helpers for the citizen survey tests: a fake clock and a citizen that fills in the form.

``SurveyActions`` plays the part flaskr's ``AuthActions`` plays in its tests: it opens the
survey page, reads the hidden fields (``csrf_token`` and the render ``token``) from the HTML
and posts answers with them. Each request runs in an app context of its own:
the ``session`` fixture keeps one app context open for the whole test, and Flask's test
client would otherwise reuse it, sharing ``g`` (the cached locale, the CSRF token, the
database session) between requests as no real browser ever would.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from html.parser import HTMLParser
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from itsdangerous import URLSafeSerializer
from sqlmodel import Session, select
from werkzeug.datastructures import MultiDict
from werkzeug.test import TestResponse

from survey.cli.main import ikm
from survey.core import checklist, opds, queries, shortlinks, waves
from survey.core.builtin import DEFAULT_SCHEME_SLUG
from survey.core.models import (
    Element,
    KioskDevice,
    Opd,
    Questionnaire,
    Response,
    Wave,
    utcnow,
)
from survey.web import antiabuse

ALL_FOURS = {f"U{i}": "4" for i in range(1, 10)}
START = 1_800_000_000.0


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: float = START) -> None:
        """Start the clock at ``start`` (seconds since the epoch)."""
        self.now = start

    def __call__(self) -> float:
        """Return the current fake time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


def install_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Replace ``survey.web.antiabuse.clock`` with a fake one and return it."""
    clock = FakeClock()
    monkeypatch.setattr(antiabuse, "clock", clock)
    return clock


class _FormParser(HTMLParser):
    """Collect the hidden inputs and the checked/selected values of a page."""

    def __init__(self) -> None:
        """Start with nothing collected."""
        super().__init__()
        self.hidden: dict[str, str] = {}
        self.checked: dict[str, str] = {}
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Note hidden inputs, checked radios and selected options."""
        a = {k: v or "" for k, v in attrs}
        if tag == "input" and a.get("type") == "hidden":
            self.hidden[a["name"]] = a.get("value", "")
        elif tag == "input" and a.get("type") == "radio" and "checked" in a:
            self.checked[a["name"]] = a["value"]
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and "selected" in a:
            self.checked[self._select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        """Leave a select."""
        if tag == "select":
            self._select = None


@dataclass
class FormPage:
    """A rendered survey page and what a browser would send back from it."""

    response: TestResponse
    hidden: dict[str, str] = field(default_factory=dict)
    checked: dict[str, str] = field(default_factory=dict)

    @property
    def html(self) -> str:
        """Return the page as text."""
        return self.response.get_data(as_text=True)

    @classmethod
    def parse(cls, response: TestResponse) -> FormPage:
        """Read the hidden and chosen values out of a response."""
        parser = _FormParser()
        parser.feed(response.get_data(as_text=True))
        return cls(response=response, hidden=parser.hidden, checked=parser.checked)


class SurveyActions:
    """A citizen with one browser (one cookie jar) answering one OPD's survey."""

    def __init__(
        self,
        app: Flask,
        clock: FakeClock,
        *,
        client: FlaskClient | None = None,
        wave: str = "uji-2026",
        opd: str = "bpbd",
    ) -> None:
        """Use ``client`` (a fresh one by default) for the survey of ``wave`` and ``opd``."""
        self.app = app
        self.clock = clock
        self.client = client or app.test_client()
        self.wave = wave
        self.opd = opd

    @property
    def path(self) -> str:
        """Return the survey page's path."""
        return f"/s/{self.wave}/{self.opd}"

    @property
    def thanks_path(self) -> str:
        """Return the thank-you page's path."""
        return f"{self.path}/terima-kasih"

    def request(self, method: str, url: str, **kwargs: Any) -> TestResponse:
        """Send one request in an app context of its own (see the module docstring)."""
        with self.app.app_context():
            return self.client.open(url, method=method, **kwargs)

    def get(self, url: str, **kwargs: Any) -> TestResponse:
        """GET ``url``."""
        return self.request("GET", url, **kwargs)

    def open(self, query: str = "") -> FormPage:
        """Load the survey page and parse its form."""
        response = self.get(self.path + query)
        return FormPage.parse(response)

    def post(
        self,
        fields: Mapping[str, str] | Iterable[tuple[str, str]],
        *,
        page: FormPage | None = None,
        wait: float = 10.0,
        drop: Iterable[str] = (),
        query: str = "",
        **kwargs: Any,
    ) -> TestResponse:
        """Post ``fields`` with the hidden values of ``page`` (a fresh one by default).

        The fake clock moves ``wait`` seconds between showing and sending the form; other
        keyword arguments go to the test client (headers, base_url, environ_base).
        """
        page = page or self.open(query)
        pairs = list(fields.items()) if isinstance(fields, Mapping) else list(fields)
        overridden = {name for name, _ in pairs} | set(drop)
        data = [(k, v) for k, v in page.hidden.items() if k not in overridden]
        data += [(k, v) for k, v in pairs if k not in set(drop)]
        self.clock.advance(wait)
        return self.request("POST", self.path + query, data=MultiDict(data), **kwargs)

    def submit(self, answers: Mapping[str, str] | None = None, **extra: Any) -> TestResponse:
        """Answer the survey (every question 4 by default) and return the POST's response."""
        return self.post(dict(ALL_FOURS if answers is None else answers), **extra)


def token_payload(app: Flask, page: FormPage | Mapping[str, str]) -> list[Any]:
    """Return what a page's render token carries: [wave id, OPD id, submission id, time]."""
    hidden = page.hidden if isinstance(page, FormPage) else page
    serializer = URLSafeSerializer(app.config["SECRET_KEY"], salt="ikm-render-token")
    return list(serializer.loads(hidden["token"]))


def enrol_kiosk(
    session: Session,
    app: Flask,
    client: FlaskClient,
    *,
    wave: str = "uji-2026",
    opd: str = "bpbd",
    label: str = "Tablet loket 1",
) -> KioskDevice:
    """Enrol a kiosk for ``wave`` and ``opd`` and give ``client`` its cookie, as staff would."""
    wave_row = queries.get_wave(session, slug=wave)
    opd_row = queries.get_opd(session, slug=opd)
    device = KioskDevice(wave_id=wave_row.id, opd_id=opd_row.id, label=label, enrolled_by="eva")
    session.add(device)
    session.commit()
    with app.test_request_context():
        value = antiabuse.sign_kiosk(device_id=device.id, wave_id=wave_row.id, opd_id=opd_row.id)
    client.set_cookie(antiabuse.KIOSK_COOKIE, value)
    return device


def stored(session: Session) -> list[Response]:
    """Return every stored response, read afresh from the database."""
    session.expire_all()
    return list(session.exec(select(Response).order_by(Response.id)).all())


def raw_rows(session: Session) -> list[dict[str, Any]]:
    """Return every column of every response row as the database holds it."""
    session.expire_all()
    result = session.connection().execute(sa.text("SELECT * FROM response ORDER BY id"))
    return [dict(row._mapping) for row in result]


def add_responses(
    session: Session,
    wave: Any,
    opd_slug: str,
    rows: Iterable[Iterable[int | None]],
    *,
    status: str = "counted",
    reason: str | None = None,
    comment: str | None = None,
    **fields: Any,
) -> None:
    """Store responses with the given answers (None = no answer) for one OPD, directly."""
    opd = session.exec(select(Opd).where(Opd.slug == opd_slug)).one()
    start = len(session.exec(select(Response)).all())
    for i, answers in enumerate(rows):
        values = {f"a{p}": v for p, v in enumerate(answers, start=1)}
        session.add(
            Response(
                wave_id=wave.id,
                opd_id=opd.id,
                submission_id=f"t{start + i:031d}",
                status=status,
                flag_reason=reason,
                comment=comment,
                **fields,
                **values,
            )
        )
    session.commit()


# --- Arranging OPDs and waves through the services (as an unnamed operator, actor None) -----


def add_opd(
    session: Session,
    *,
    slug: str,
    name: str,
    short_name: str | None = None,
    service_population: int | None = None,
) -> Opd:
    """Add an OPD through the OPD service, as ``ikm opd add`` and the workspace do."""
    population = None if service_population is None else str(service_population)
    return opds.create_opd(
        session,
        slug=slug,
        name=name,
        short_name=short_name,
        service_population=population,
        actor=None,
    )


# The minimum n for ranking of the tests' waves: they hold a handful of responses per OPD, and
# what they test (ranks, sets, categories) needs those OPDs ranked; a real wave's default is 15.
TINY_WAVE_MIN_RANK_N = 2


def set_min_rank_n(session: Session, *, slug: str, min_rank_n: int) -> Wave:
    """Set a wave's minimum n for ranking through the wave service (audited), as the form does."""
    wave = waves.find_wave(session, slug=slug)
    settings = dataclasses.replace(
        waves.current_settings(session, wave=wave), min_rank_n=min_rank_n
    )
    waves.update_wave(session, wave=wave, settings=settings, actor=None)
    return waves.find_wave(session, slug=slug)


def create_wave(
    session: Session,
    *,
    slug: str,
    title: str,
    opd_slugs: Iterable[str] | None = None,
    scheme_slug: str = DEFAULT_SCHEME_SLUG,
    questionnaire_id: int | None = None,
    status: str = "draft",
    target_n: int | None = None,
    evaluator: str | None = None,
    period_start: date | None = None,
    period_end: date | None = None,
    simulated: bool = False,
    min_rank_n: int | None = TINY_WAVE_MIN_RANK_N,
) -> Wave:
    """Create a wave through the wave service (None: every active OPD) and move it to ``status``.

    The tests' waves are tiny, so ``min_rank_n`` defaults to :data:`TINY_WAVE_MIN_RANK_N`
    (every OPD with 2 responses is ranked); None gives the service's default (15).
    """
    if opd_slugs is None:
        opd_slugs = [opd.slug for opd in queries.list_opds(session, active_only=True)]
    chosen = tuple(opd_slugs)
    settings = waves.WaveSettings(
        title=title,
        evaluator=evaluator,
        period_start=period_start,
        period_end=period_end,
        opd_slugs=chosen,
        questionnaire_id=questionnaire_id,
        scheme_slug=scheme_slug,
        targets=dict.fromkeys(chosen, target_n),
        simulated=simulated,
        min_rank_n=min_rank_n,
    )
    wave = waves.create_wave(session, slug=slug, settings=settings, actor=None)
    return set_wave_status(session, slug=wave.slug, status=status)


# The application of the running test (the ``app`` fixture sets it): publishing builds the
# new version's files with it, inline, as ``ikm wave publish`` does.
CURRENT_APP: list[Flask] = []


def set_wave_status(session: Session, *, slug: str, status: str, note: str | None = None) -> Wave:
    """Move a wave to ``status`` through the life cycle's steps.

    Publishing acknowledges every item of the checklist that does not block; a wave the
    checklist blocks (no counted response at all) is refused, as for anyone. It also builds
    the new version's snapshot inline, so its pages are served.
    """
    wave = waves.find_wave(session, slug=slug)
    path = _status_path(wave.status, status)
    if path is None:
        raise ValueError(f"wave {slug!r} is {wave.status}; it cannot become {status}")
    for step in path:
        wave = waves.change_status(
            session,
            wave=wave,
            action=waves.action_for(step),
            actor=None,
            acknowledged=checklist.ACKNOWLEDGEABLE_CODES,
            note=note,
        )
        if step == "published":
            build_latest(session, wave=wave)
    return wave


def publish_before_the_checklist(session: Session, *, slug: str) -> Wave:
    """Publish a closed wave as the service did before the checklist (issue 13) existed.

    Such a wave may have no counted response at all, which the checklist now refuses; the
    databases that hold one must still serve its public pages. The status and the time are
    written directly, as the old publication did, without going through the checklist; its
    first version is then built as migration 0009 and ``ikm wave snapshot`` do for it.
    """
    from survey.core import publications

    wave = waves.find_wave(session, slug=slug)
    assert wave.status == "closed", wave.status
    wave.status = "published"
    wave.published_at = utcnow()
    session.add(wave)
    publications.begin(session, wave=wave, actor=None, note=None, at=wave.published_at)
    session.commit()
    build_latest(session, wave=wave)
    return wave


def build_latest(session: Session, *, wave: Wave) -> None:
    """Build the first phase of the wave's newest publication inline with the test's app.

    The reports (the second phase) are made when first asked for, as before the job reaches
    them, with the same bytes (tests that need the whole job call it themselves).
    """
    from survey.core import publications
    from survey.web import snapshots

    publication = publications.latest(session, wave=wave)
    assert publication is not None and CURRENT_APP, "publishing needs the app fixture"
    snapshots.build_now(CURRENT_APP[-1], int(publication.id or 0), later=False)
    session.expire_all()


def _status_path(start: str, goal: str) -> list[str] | None:
    """Return the statuses after ``start`` that lead to ``goal`` (shortest), or None."""
    paths: dict[str, list[str]] = {start: []}
    queue = [start]
    while queue:
        current = queue.pop(0)
        if current == goal:
            return paths[current]
        for following in waves.ALLOWED_STATUS[current]:
            if following not in paths:
                paths[following] = [*paths[current], following]
                queue.append(following)
    return None


class IkmRunner(FlaskCliRunner):
    """Flask's CLI runner, invoking the ``ikm`` group (its commands live outside the app)."""

    def invoke(self, cli: Any = None, args: Any = None, **kwargs: Any) -> Any:
        """Run ``ikm ARGS`` against the test app."""
        return super().invoke(cli or ikm, args, **kwargs)


def questionnaire_of_scale(session: Session, points: int) -> Questionnaire:
    """Add a questionnaire of nine IKM elements U1..U9 answered on 1..`points`."""
    questionnaire = Questionnaire(
        slug=f"skala-{points}",
        title_id=f"Skala {points}",
        title_en=f"Scale {points}",
        scale_points=points,
    )
    session.add(questionnaire)
    session.flush()
    labels = [str(i) for i in range(1, points + 1)]
    for position in range(1, 10):
        session.add(
            Element(
                questionnaire_id=int(questionnaire.id or 0),
                position=position,
                code=f"U{position}",
                kind="ikm",
                name_id=f"Unsur {position}",
                name_en=f"Element {position}",
                question_id=f"Pertanyaan {position}?",
                question_en=f"Question {position}?",
                labels_id=labels,
                labels_en=labels,
            )
        )
    session.commit()
    return questionnaire


def printed_short_link(session: Session, *, wave_slug: str, opd_slug: str) -> str:
    """Return the short address a poster prints for an OPD (host and path, no scheme).

    Checks on the way that it leads to the OPD's survey page, so a poster that prints it
    sends citizens to the right place.
    """
    session.expire_all()
    wave = session.exec(select(Wave).where(Wave.slug == wave_slug)).one()
    opd = session.exec(select(Opd).where(Opd.slug == opd_slug)).one()
    assert wave.id is not None and opd.id is not None
    code = shortlinks.short_code(session, wave.id, opd.id)
    target = shortlinks.resolve(session, code)
    assert target is not None and target.path() == f"/s/{wave_slug}/{opd_slug}"
    return f"skm.example.go.id/l/{code}"

"""The citizen survey: the form, the submission and the thank-you page.

The views stay thin: they find the wave and OPD (404 for anything a citizen should not reach,
410 once the wave is closed; 403 before its period, 410 after it), count the POST against the
shared limits, let the form validate, read the render token, gather the evidence and the
verdict (``survey.core.evidence``) and ask ``survey.core.submissions`` to store, then redirect
to the thank-you page (POST-redirect-GET).
A kiosk is recognised by its enrolment cookie and the device's row, never by the request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from flask import (
    Blueprint,
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, generate_csrf
from markupsafe import Markup
from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from survey.core import (
    evidence,
    generations,
    locales,
    notapplicable,
    opds,
    periods,
    queries,
    tallies,
    units,
)
from survey.core.alarms import after_answer
from survey.core.kiosks import active_kiosk
from survey.core.models import Opd, Questionnaire, ServiceUnit, Wave, WaveOpd, utcnow
from survey.core.submissions import (
    VisitCodeClaim,
    VisitCodeError,
    WaveNotOpenError,
    store_submission,
)
from survey.web import antiabuse
from survey.web.database import get_session, session_scope
from survey.web.extensions import csrf
from survey.web.forms import SurveyForm, questions_for, survey_form_class
from survey.web.i18n import chosen_language, current_language, known_language
from survey.web.problems import problem_text

bp = Blueprint("public", __name__)

CLOSED_STATUSES = ("closed", "published")
_FORM_CACHE = "ikm_survey_form_classes"
_LAYOUT_CACHE = "ikm_tally_layouts"
_PRISTINE_ATTR = "_pristine_fields_html"
_FORM_CACHE_MAX = 256  # questionnaires x languages held per process; past it, start afresh


@dataclass(frozen=True)
class SurveyTarget:
    """The wave and OPD a survey URL points at, with the questionnaire to show, and the OPD's
    service unit when the URL names one."""

    wave: Wave
    opd: Opd
    questionnaire: Questionnaire
    unit: ServiceUnit | None = None

    @property
    def unit_id(self) -> int | None:
        """Return the unit's id, or None for the OPD's own page."""
        return None if self.unit is None else self.unit.id

    def url_args(self) -> dict[str, Any]:
        """Return the slugs that name this page's routes (the unit's too, when it has one)."""
        found: dict[str, Any] = {"wave_slug": self.wave.slug, "opd_slug": self.opd.slug}
        if self.unit is not None:
            found["unit_slug"] = self.unit.slug
        return found

    def endpoint(self, name: str) -> str:
        """Return the endpoint of the OPD's page ``name`` or of its unit's twin."""
        return f"public.{'unit_' if self.unit is not None else ''}{name}"

    @property
    def wave_id(self) -> int:
        """Return the wave's id (a stored row always has one)."""
        assert self.wave.id is not None
        return self.wave.id

    @property
    def opd_id(self) -> int:
        """Return the OPD's id (a stored row always has one)."""
        assert self.opd.id is not None
        return self.opd.id

    @property
    def closed(self) -> bool:
        """Return True once the wave no longer takes answers."""
        return self.wave.status in CLOSED_STATUSES


# The wave, the OPD it covers and the questionnaire in one query, built once: every survey
# request runs it, and building the statement cost as much as running it.
_TARGET_QUERY = (
    select(Wave, Opd, Questionnaire)
    .join(WaveOpd, col(WaveOpd.wave_id) == Wave.id)
    .join(Opd, col(Opd.id) == WaveOpd.opd_id)
    .join(Questionnaire, col(Questionnaire.id) == Wave.questionnaire_id)
    .where(Wave.slug == bindparam("wave_slug"), Opd.slug == bindparam("opd_slug"))
)


def _autocommit_session() -> Session:
    """Return the request's session on a connection in autocommit mode, when it is fresh.

    A survey request reads, and writes at most one row in one INSERT, which is atomic on its
    own: without a transaction around them PostgreSQL is spared a BEGIN and a COMMIT or
    ROLLBACK round trip per request (a third of the database round trips of a citizen).
    """
    session = get_session()
    if not session.in_transaction():
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return session


_TARGET_CACHE = "ikm_survey_targets"
TARGET_TTL = 5.0  # seconds another process's change of a wave or OPD may take to show

_V = TypeVar("_V")


def _read_through(name: str, key: Hashable, ttl: float, load: Callable[[], _V]) -> _V:
    """Return ``load()``, kept per process under ``key`` in the cache ``name`` for ``ttl`` s.

    A change made in this process shows at once (``survey.core.generations`` counts them); one
    made by another process shows within ``ttl``. Past ``_FORM_CACHE_MAX`` keys the cache
    starts afresh.
    """
    cache: dict[Hashable, tuple[int, float, Any]]
    cache = current_app.extensions.setdefault(name, {})
    generation, moment = generations.generation(), time.monotonic()
    hit = cache.get(key)
    if hit is not None and hit[0] == generation and moment - hit[1] < ttl:
        return cast("_V", hit[2])
    value = load()
    if len(cache) >= _FORM_CACHE_MAX:
        cache.clear()
    cache[key] = (generation, moment, value)
    return value


def find_target(wave_slug: str, opd_slug: str) -> SurveyTarget:
    """Return the wave and OPD of a survey URL; 404 for unknown, draft or uncovered ones.

    Read at most every 5 s per process and URL (two of a citizen's four queries otherwise);
    a change made in this process shows at once (``survey.core.generations``). A wave closed
    by another process may show its form for those seconds, but the answer's INSERT checks
    that the wave is open and covers the OPD, so nothing is stored after the close.
    """
    session = _autocommit_session()

    def load() -> SurveyTarget:
        params = {"wave_slug": wave_slug, "opd_slug": opd_slug}
        found = session.exec(_TARGET_QUERY, params=params).first()
        if found is None:
            abort(404)
        wave, opd, questionnaire = found
        # Detached with every column loaded: shared read-only by this process's requests.
        for item in found:
            session.expunge(item)
        return SurveyTarget(wave=wave, opd=opd, questionnaire=questionnaire)

    target = _read_through(_TARGET_CACHE, (wave_slug, opd_slug), TARGET_TTL, load)
    # A draft wave does not exist for citizens yet.
    if target.wave.status == "draft":
        abort(404)
    return target


_UNIT_CACHE = "ikm_service_units"


def find_unit_target(wave_slug: str, opd_slug: str, unit_slug: str) -> SurveyTarget:
    """Return the target of a unit's survey URL; 404 for an unknown or inactive unit (and for
    whatever ``find_target`` refuses)."""
    target = find_target(wave_slug, opd_slug)

    def load() -> ServiceUnit | None:
        session = _autocommit_session()
        unit = units.get_unit(session, opd_id=target.opd_id, slug=unit_slug)
        if unit is not None:
            session.expunge(unit)
        return unit

    unit = _read_through(_UNIT_CACHE, (target.opd_id, unit_slug), TARGET_TTL, load)
    if unit is None or not unit.active:
        abort(404)
    return replace(target, unit=unit)


def _lang_args() -> dict[str, str]:
    """Return the ``lang`` query argument to carry on, if the citizen chose one explicitly."""
    lang = request.args.get("lang")
    return {"lang": lang} if lang and known_language(lang) else {}


def question_language(target: SurveyTarget) -> str:
    """Return the language of the target's questions: the citizen's choice when the
    questionnaire offers it (a further language of its file too), else the page's."""
    chosen = chosen_language()
    if chosen in locales.offered_locales(target.questionnaire):
        return chosen
    return current_language()


def language_choices(target: SurveyTarget) -> list[tuple[str, str]]:
    """Return (code, name in itself) of the languages the target's survey page offers."""
    return locales.names(locales.offered_locales(target.questionnaire))


_SERVICES_CACHE = "ikm_opd_services"
SERVICES_TTL = 30.0  # seconds another process's change of a service list may take to show


def _services(target: SurveyTarget) -> tuple[str, ...]:
    """Return the OPD's services, read at most every 30 s per process (a query per request
    otherwise); a change made in this process shows at once."""
    return _read_through(
        _SERVICES_CACHE,
        target.opd_id,
        SERVICES_TTL,
        lambda: opds.service_names(get_session(), opd_id=target.opd_id),
    )


def _form_class(target: SurveyTarget) -> type[SurveyForm]:
    """Return the survey form class of the target's questionnaire in the current language.

    Built once per app, questionnaire, language, comment limit and visit-code setting (it adds
    a field): a stored questionnaire is
    never edited (it is versioned; ``survey.core.questionnaires`` only adds new ones), and building
    the class (its elements query and some forty translated labels) was a third of a survey
    request's time.
    """
    lang = question_language(target)
    comment_max = int(current_app.config["COMMENT_MAX_LENGTH"])
    q = target.questionnaire
    verification = target.wave.verification
    # The OPD's services are choices of the form (and of its pre-rendered fields).
    services = _services(target)
    # The interface language too: the form's own labels and messages are in it.
    ui = current_language()
    key = (q.id, q.slug, q.version, q.scale_points, lang, ui, comment_max, verification, services)
    cache: dict[tuple[Any, ...], type[SurveyForm]]
    cache = current_app.extensions.setdefault(_FORM_CACHE, {})
    form_class = cache.get(key)
    if form_class is None:
        scale = target.questionnaire.scale_points
        items = queries.elements(get_session(), questionnaire_id=int(q.id or 0))
        questions = questions_for(
            items, scale_points=scale, lang=lang, not_applicable=notapplicable.by_code(items, q)
        )
        form_class = survey_form_class(
            questions,
            scale_points=scale,
            comment_max=comment_max,
            verification=verification,
            services=services,
        )
        if len(cache) >= _FORM_CACHE_MAX:
            cache.clear()
        cache[key] = form_class
    return form_class


def tally_layout(target: SurveyTarget) -> tallies.Layout:
    """Return the layout of the wave's kept statistics (its IKM elements and scale), kept per
    process like the form, under the same questionnaire key (a stored questionnaire does not
    change): a stored answer then need not read it."""
    q = target.questionnaire
    key = (int(target.wave.id or 0), target.wave.questionnaire_id, q.id, q.slug, q.version)
    cache: dict[tuple[Any, ...], tallies.Layout]
    cache = current_app.extensions.setdefault(_LAYOUT_CACHE, {})
    found = cache.get(key)
    if found is None:
        found = tallies.layout(get_session(), wave_id=int(target.wave.id or 0))
        if len(cache) >= _FORM_CACHE_MAX:
            cache.clear()
        cache[key] = found
    return found


def _build_form(target: SurveyTarget, **kwargs: Any) -> SurveyForm:
    """Build the survey form of the target's questionnaire in the current language."""
    return _form_class(target)(**kwargs)


@dataclass(frozen=True)
class _Value:
    """A hidden field as form.html reads it."""

    data: str


class FreshForm:
    """What form.html reads of a freshly displayed form once its fields come pre-rendered.

    Binding the twenty-odd WTForms fields only to print four hidden values was most of what
    serving the page still cost; the token input is the one WTForms' CSRF field prints.
    """

    def __init__(self, token: str) -> None:
        """Hold the fresh render token and a CSRF token (as the real form would)."""
        self.token = _Value(token)
        self.csrf_token = Markup("")
        if current_app.config.get("WTF_CSRF_ENABLED", True):
            self.csrf_token = Markup(
                '<input id="csrf_token" name="csrf_token" type="hidden" value="{}">'
            ).format(generate_csrf())
        self.form_errors: list[str] = []

    def field_errors(self) -> list[tuple[str, str, str]]:
        """Return no errors: the form was just displayed."""
        return []

    csrf_failed = False


def _pristine_fields(form: SurveyForm) -> Markup:
    """Return the fields of a freshly displayed form, rendered once per form class.

    Without answers or errors they are the same for every citizen (the per-citizen values,
    the CSRF and render tokens, are outside them), and rendering them was the
    largest part of serving the page.
    """
    form_class = type(form)
    html = form_class.__dict__.get(_PRISTINE_ATTR)
    if html is None:
        # The output of an autoescaping template: every value in it is escaped already.
        html = Markup(render_template("survey/_fields.html", form=form))  # nosec B704
        setattr(form_class, _PRISTINE_ATTR, html)
    return html


def _render_form(
    target: SurveyTarget,
    form: SurveyForm | FreshForm,
    status: int = 200,
    *,
    csrf_failed: bool = False,
    pristine: bool = False,
    pristine_html: Markup | None = None,
) -> ResponseReturnValue:
    """Render the survey page; never cached, since it carries a one-time render token."""
    if pristine and pristine_html is None:
        assert isinstance(form, SurveyForm)
        pristine_html = _pristine_fields(form)
    page = render_template(
        "survey/form.html",
        fields_html=pristine_html,
        wave=target.wave,
        opd=target.opd,
        unit=target.unit,
        form=form,
        field_errors=form.field_errors(),
        form_errors=list(form.form_errors),
        csrf_failed=csrf_failed or form.csrf_failed,
        # The query keeps the language across a re-rendered form.
        action_url=url_for(target.endpoint("survey_page"), **{**target.url_args(), **_lang_args()}),
        question_languages=language_choices(target),
        question_language=question_language(target),
    )
    response = make_response(page, status)
    # A shared cache would hand one submission id to many citizens and merge their answers.
    response.headers["Cache-Control"] = "no-store"
    return response


def _render_closed(target: SurveyTarget) -> ResponseReturnValue:
    """Render the page saying the survey no longer takes answers (410 Gone)."""
    return render_template("survey/closed.html", wave=target.wave, opd=target.opd), 410


def _timezone() -> str:
    """Return the name of the app's time zone (IKM_TIMEZONE), the one periods are kept in."""
    return str(current_app.config.get("TIMEZONE", periods.DEFAULT_TIMEZONE))


def _outside_period(target: SurveyTarget) -> ResponseReturnValue | None:
    """Return the page saying today is outside the wave's period, or None when inside.

    403 before the first day (the survey is not open yet), 410 after the last one.
    """
    zone = _timezone()
    now = utcnow()
    if periods.in_period(target.wave, now, zone):
        return None
    early = target.wave.period_start is not None and periods.local_day(now, zone) < (
        target.wave.period_start
    )
    page = render_template(
        "survey/period.html", wave=target.wave, opd=target.opd, early=early, zone=zone
    )
    return page, 403 if early else 410


def _csrf_passes() -> bool:
    """Run Flask-WTF's full CSRF check (token, and referrer on HTTPS); False if it fails."""
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return True
    try:
        csrf.protect()
    except CSRFError:
        return False
    return True


def _kiosk_device(target: SurveyTarget) -> int | None:
    """Return the id of the enrolled, active kiosk this request comes from, for this target.

    Only the signed enrolment cookie and the device's row decide: a query argument or a form
    field claiming "kiosk" changes nothing.
    """
    found = antiabuse.read_kiosk(request)
    if found is None:
        return None
    device_id, wave_id, opd_id = found
    if (wave_id, opd_id) != (target.wave_id, target.opd_id):
        return None
    device = active_kiosk(get_session(), device_id=device_id, wave_id=wave_id, opd_id=opd_id)
    return None if device is None else device.id


def _evidence(
    target: SurveyTarget,
    token: antiabuse.RenderToken,
    *,
    now: float,
    answers: dict[int, int],
    kiosk: int | None,
    repeat: bool,
    burst: bool,
) -> evidence.Evidence:
    """Return the signals stored with this answer (the visit code's is the store's to set)."""
    config = current_app.config
    network = evidence.network_of(
        request.remote_addr,
        v4_prefix=int(config["LIMIT_V4_PREFIX"]),
        v6_prefix=int(config["LIMIT_V6_PREFIX"]),
    )
    return evidence.Evidence(
        channel="qr" if kiosk is None else "kiosk",
        device_id=kiosk,
        seconds=evidence.seconds_taken(token.rendered_at, now),
        straightline=evidence.is_straightline(answers),
        repeat_device=repeat,
        burst=burst,
        off_hours=evidence.is_off_hours(
            target.opd.service_hours,
            datetime.fromtimestamp(now, UTC),
            timezone=str(config["TIMEZONE"]),
        ),
        network=evidence.network_hash(network, secret=config["SECRET_KEY"]),
    )


def _store_and_thank(
    target: SurveyTarget,
    form: SurveyForm,
    token: antiabuse.RenderToken,
    *,
    kiosk: int | None,
    burst: bool,
) -> ResponseReturnValue:
    """Store a valid submission with its evidence and verdict; redirect to the thank-you page."""
    now = antiabuse.clock()
    channel = "qr" if kiosk is None else "kiosk"
    submission = form.to_submission(
        wave_id=target.wave_id,
        opd_id=target.opd_id,
        submission_id=token.submission_id,
        channel=channel,
    )
    if target.unit_id is not None:
        submission = replace(submission, unit_id=target.unit_id)
    # A kiosk is one device shared by many citizens: its cookie says nothing about repeats.
    seen = antiabuse.seen_keys(request) if kiosk is None else []
    key = antiabuse.device_key(target.wave_id, target.opd_id)
    signals = _evidence(
        target,
        token,
        now=now,
        answers=dict(submission.answers),
        kiosk=kiosk,
        repeat=key in seen,
        burst=burst,
    )
    verdict = antiabuse.assess(
        honeypot=form[antiabuse.HONEYPOT_FIELD].data,
        # The exact time: the stored whole seconds would call 3.9 s "3" (and 0.7 s "0").
        seconds=now - token.rendered_at,
        min_seconds=float(current_app.config["MIN_SUBMIT_SECONDS"]),
        seen_before=signals.repeat_device,
        burst=burst,
    )
    claim = None
    if target.wave.verification != "off":
        claim = VisitCodeClaim(
            code=form.visit_code_value(),
            required=target.wave.verification == "required",
            secret=current_app.config["SECRET_KEY"],
            now=utcnow(),
        )

    def store(session: Session) -> None:
        """Store the answer with its verdict and evidence on ``session``."""
        store_submission(
            session,
            submission=submission,
            status=verdict.status,
            flag_reason=verdict.flag_reason,
            evidence=signals,
            visit_code=claim,
            timezone=_timezone(),
            layout=tally_layout(target),
        )

    try:
        if claim is not None and claim.code:
            # The code's UPDATE and the answer's INSERT commit together; the request's session
            # runs in autocommit mode, so they get a session with a transaction of their own.
            with session_scope() as session:
                store(session)
        else:
            store(get_session())
    except WaveNotOpenError:
        # Closed (or the OPD taken off the wave) by another process since this one's cached
        # read of the wave, or outside its period: the citizen sees the closed (or the
        # outside-the-period) page of the wave as it now stands, and nothing is stored.
        fresh = (
            get_session()
            .exec(
                select(Wave)
                .where(Wave.id == target.wave_id)
                .execution_options(populate_existing=True)
            )
            .first()
        )
        if fresh is not None and fresh.status == "open":
            return _outside_period(replace(target, wave=fresh)) or _render_closed(target)
        return _render_closed(target)
    except VisitCodeError as refused:
        for item in refused.problems:
            form.visit_code.errors.append(problem_text(item))
        form.prepare_rerender(form.token.data)
        return _render_form(target, form, status=400)
    after_answer(
        get_session(), wave_id=target.wave_id, opd_id=target.opd_id, burst=burst
    )  # the alarm
    query: dict[str, Any] = {**_lang_args(), **target.url_args()}
    response = redirect(url_for(target.endpoint("thank_you"), **query), code=303)
    if kiosk is None:
        antiabuse.remember_device(response, seen, key)
    return response


# Exempt from the global before-request check: the view runs the same check itself, after the
# limits, so that a missing or expired token re-renders the form with the answers kept
# instead of the bare 400 page.
@csrf.exempt
@bp.route("/s/<wave_slug>/<opd_slug>", methods=["GET", "POST"])
def survey_page(wave_slug: str, opd_slug: str) -> ResponseReturnValue:
    """Show the survey form, or take a submission and redirect to the thank-you page."""
    return _survey(find_target(wave_slug, opd_slug))


@csrf.exempt
@bp.route("/s/<wave_slug>/<opd_slug>/<unit_slug>", methods=["GET", "POST"])
def unit_survey_page(wave_slug: str, opd_slug: str, unit_slug: str) -> ResponseReturnValue:
    """The survey page of one of the OPD's service units: the OPD's form, the unit's name
    shown, and the answer stored with the unit (404 for an unknown or inactive unit)."""
    return _survey(find_unit_target(wave_slug, opd_slug, unit_slug))


def _survey(target: SurveyTarget) -> ResponseReturnValue:
    """Show a target's survey form, or take a submission and redirect to its thank-you page."""
    if target.closed:
        return _render_closed(target)
    outside = _outside_period(target)
    if outside is not None:
        return outside
    if request.method == "GET":
        fresh = antiabuse.issue_token(wave_id=target.wave_id, opd_id=target.opd_id)
        form_class = _form_class(target)
        html = form_class.__dict__.get(_PRISTINE_ATTR)
        if html is not None:
            return _render_form(target, FreshForm(fresh), pristine_html=html)
        return _render_form(target, form_class(formdata=None, data={"token": fresh}), pristine=True)
    kiosk = _kiosk_device(target)
    outcome = antiabuse.count_submission(
        get_session(),
        address=request.remote_addr,
        wave_id=target.wave_id,
        opd_id=target.opd_id,
        kiosk_device=kiosk,
    )
    if outcome.refused:
        abort(429, retry_after=outcome.retry_after)
    csrf_ok = _csrf_passes()
    form = _build_form(target)
    token = antiabuse.read_token(
        form.token.data,
        wave_id=target.wave_id,
        opd_id=target.opd_id,
        now=antiabuse.clock(),
        max_age=float(current_app.config["RENDER_TOKEN_MAX_AGE"]),
    )
    # Validate the fields even when a token failed, so every problem shows at once.
    valid = form.validate()
    if not (valid and csrf_ok and token is not None):
        # A valid render token stays (its submission id and render time); a missing, foreign
        # or expired one is replaced, and the citizen sends the kept answers again.
        fresh = antiabuse.issue_token(wave_id=target.wave_id, opd_id=target.opd_id)
        form.prepare_rerender(form.token.data if token is not None else fresh)
        expired = not csrf_ok or token is None
        return _render_form(target, form, status=400, csrf_failed=expired)
    return _store_and_thank(target, form, token, kiosk=kiosk, burst=outcome.burst)


@bp.route("/s/<wave_slug>/<opd_slug>/terima-kasih")
def thank_you(wave_slug: str, opd_slug: str) -> ResponseReturnValue:
    """Thank the citizen; an enrolled kiosk gets a link to a fresh form for the next person."""
    return _thanks(find_target(wave_slug, opd_slug))


@bp.route("/s/<wave_slug>/<opd_slug>/<unit_slug>/terima-kasih")
def unit_thank_you(wave_slug: str, opd_slug: str, unit_slug: str) -> ResponseReturnValue:
    """Thank the citizen who answered at a service unit."""
    return _thanks(find_unit_target(wave_slug, opd_slug, unit_slug))


def _thanks(target: SurveyTarget) -> ResponseReturnValue:
    """Render a target's thank-you page."""
    kiosk = not target.closed and _kiosk_device(target) is not None
    published = None if kiosk else _latest_published_wave(target.opd)
    return render_template(
        "survey/thanks.html",
        wave=target.wave,
        opd=target.opd,
        unit=target.unit,
        form_url=url_for(target.endpoint("survey_page"), **target.url_args()),
        kiosk=kiosk,
        published_wave=published,
    )


def _latest_published_wave(opd: Opd) -> Wave | None:
    """Return the most recently published wave covering the OPD (with a public version)."""
    from survey.core.models import Publication

    public = select(Publication.wave_id).where(col(Publication.ready_at).is_not(None))
    return (
        get_session()
        .exec(
            select(Wave)
            .join(WaveOpd, col(WaveOpd.wave_id) == col(Wave.id))
            .where(col(WaveOpd.opd_id) == opd.id, col(Wave.id).in_(public))
            .order_by(col(Wave.published_at).desc().nulls_last(), col(Wave.id).desc())
            .limit(1)
        )
        .first()
    )

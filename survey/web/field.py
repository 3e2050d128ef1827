"""Field collection: the enumerator's interview page, the kiosk's page, and answers sent later.

Two pages under ``/lapangan/`` so that one service worker (``/lapangan/sw.js``) controls both:

- ``/lapangan/wawancara/<wave>/<opd>``: an enumerator, signed in and allowed by
  ``survey.core.enumerators.may_record``, records an interview (channel ``interview``, the
  enumerator's id, never the citizen device cookie);
- ``/lapangan/kios/<wave>/<opd>``: a tablet enrolled as that wave and OPD's kiosk (its signed
  cookie and an active ``KioskDevice`` row) shows the survey full screen (channel ``kiosk``).

Both are the citizen's questions (``survey.web.forms``) and work as a plain form POST without
JavaScript. With script (``static/field.js``, the only script the site serves), each answer is
first kept on the device (IndexedDB) and then sent as JSON to ``/lapangan/kirim``, at once or
when the network returns; the bounds on what a device may claim are in
``survey.core.fieldwork``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlmodel import Session
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import NotFound

from survey.core import evidence, fieldwork, limits
from survey.core.alarms import after_answer
from survey.core.enumerators import may_record
from survey.core.kiosks import active_kiosk
from survey.core.models import KioskDevice, ServiceUnit, User, utcnow
from survey.core.submissions import (
    VisitCodeClaim,
    VisitCodeError,
    WaveNotOpenError,
    store_submission,
)
from survey.web import antiabuse, citizen
from survey.web.citizen import SurveyTarget
from survey.web.database import get_session, session_scope
from survey.web.extensions import csrf
from survey.web.forms import SurveyForm
from survey.web.problems import problem_text
from survey.web.signin import current_user

bp = Blueprint("field", __name__)

BODY_MAX = 64 * 1024  # bytes of one JSON answer: a full comment is under 5 KB
FIELDS_MAX = 100  # names in one answer (a questionnaire has at most 25 questions)
VALUE_MAX = 5000  # characters of one value (the comment is at most 1,200)
THANKS_SECONDS = 5  # how long a kiosk shows its thank-you before the next citizen's form
CACHE_NAME = "ikm-lapangan-1"  # the service worker's cache; a new name drops the old one


@dataclass(frozen=True)
class Recorder:
    """Who records an answer: an enumerator (signed in) or an enrolled kiosk, never both."""

    kind: str  # "interview" or "kiosk"
    user: User | None = None
    kiosk: KioskDevice | None = None

    @property
    def channel(self) -> str:
        """Return the stored channel of the answers it records."""
        return "interview" if self.kind == "interview" else "kiosk"

    @property
    def enumerator_id(self) -> int | None:
        """Return the enumerator's id (interviews only)."""
        return None if self.user is None else self.user.id

    @property
    def device_id(self) -> int | None:
        """Return the kiosk's id (kiosk answers only)."""
        return None if self.kiosk is None else self.kiosk.id


def _enumerator(target: SurveyTarget) -> User | None:
    """Return the signed-in user if they may record interviews for this wave and OPD."""
    user = current_user()
    if user is None:
        return None
    if not may_record(get_session(), user=user, wave_id=target.wave_id, opd_id=target.opd_id):
        return None
    return user


def _kiosk(target: SurveyTarget) -> KioskDevice | None:
    """Return the active kiosk this request's enrolment cookie names, for this target."""
    found = antiabuse.read_kiosk(request)
    if found is None:
        return None
    device_id, wave_id, opd_id = found
    if (wave_id, opd_id) != (target.wave_id, target.opd_id):
        return None
    return active_kiosk(get_session(), device_id=device_id, wave_id=wave_id, opd_id=opd_id)


def _at_unit(target: SurveyTarget, device: KioskDevice) -> SurveyTarget:
    """Return the target of a kiosk enrolled at one of the OPD's service units: its answers
    carry the unit, as on the unit's own page (even once the unit is closed: they were given
    there)."""
    if device.unit_id is None:
        return target
    unit = get_session().get(ServiceUnit, device.unit_id)
    return target if unit is None else replace(target, unit=unit)


def _to_login() -> ResponseReturnValue:
    """Send a signed-out visitor to the sign-in page, coming back here afterwards."""
    return redirect(url_for("auth.login", next=request.path))


def _not_a_kiosk(target: SurveyTarget) -> ResponseReturnValue:
    """Say that this device is not an enrolled kiosk of this wave and OPD (403)."""
    page = render_template("survey/not_kiosk.html", wave=target.wave, opd=target.opd)
    return page, 403


def _page_path(kind: str, target: SurveyTarget) -> str:
    """Return the path of the field page of this kind for the target."""
    endpoint = "field.interview" if kind == "interview" else "field.kiosk"
    return url_for(endpoint, wave_slug=target.wave.slug, opd_slug=target.opd.slug)


def _render_page(
    recorder: Recorder,
    target: SurveyTarget,
    form: SurveyForm,
    status: int = 200,
    *,
    csrf_failed: bool = False,
) -> ResponseReturnValue:
    """Render a field page (no store: it carries a one-time render token and CSRF token)."""
    page = render_template(
        "survey/field.html",
        kind=recorder.kind,
        faces=recorder.kiosk is not None and recorder.kiosk.faces,
        wave=target.wave,
        opd=target.opd,
        unit=target.unit,
        form=form,
        field_errors=form.field_errors(),
        form_errors=list(form.form_errors),
        csrf_failed=csrf_failed or form.csrf_failed,
        action=_page_path(recorder.kind, target),
        who=recorder.enumerator_id or "",
        thanks_seconds=THANKS_SECONDS,
        cache_name=CACHE_NAME,
    )
    response = make_response(page, status)
    # The service worker keeps its own copy for offline use; no other cache may keep one.
    response.headers["Cache-Control"] = "no-store"
    return response


def _fresh_form(target: SurveyTarget) -> SurveyForm:
    """Return a freshly displayed form with a new render token."""
    token = antiabuse.issue_token(wave_id=target.wave_id, opd_id=target.opd_id)
    return citizen._form_class(target)(formdata=None, data={"token": token})


def _network() -> str:
    """Return the keyed hash of the sender's network (never its address)."""
    config = current_app.config
    network = evidence.network_of(
        request.remote_addr,
        v4_prefix=int(config["LIMIT_V4_PREFIX"]),
        v6_prefix=int(config["LIMIT_V6_PREFIX"]),
    )
    return evidence.network_hash(network, secret=config["SECRET_KEY"])


def _count(recorder: Recorder, target: SurveyTarget) -> limits.Outcome:
    """Count one answer against the hard limits (429 beyond them), by kiosk or enumerator.

    An enumerator's answers are counted under the account, not the address: a team shares the
    office's network, and a phone's carrier address is shared with strangers.
    """
    session = get_session()
    if recorder.kiosk is not None:
        return antiabuse.count_submission(
            session,
            address=request.remote_addr,
            wave_id=target.wave_id,
            opd_id=target.opd_id,
            kiosk_device=recorder.device_id,
        )
    config = current_app.config
    settings = limits.Limits.from_config(config)
    key = evidence.keyed_hash(
        f"enumerator:{target.wave_id}:{recorder.enumerator_id}", secret=config["SECRET_KEY"]
    )
    # Soft limit on arrival too: the cap on answer times alone let a script spread 20 claims
    # over each of the 168 hours a device may go back and send them all within one real hour.
    # Past it an answer is stored flagged ``burst``, for the evaluator to restore if honest (a
    # week of interviews sent at once).
    rules = [limits.Rule(key, settings.soft, settings.hard)]
    return antiabuse.hit(session, rules, settings)


@dataclass(frozen=True)
class Stored:
    """What storing one field answer came to."""

    created: bool
    status: str
    flag_reason: str | None
    refused: str | None = None  # "closed", "outside-period" or "visit-code": nothing stored
    message: str | None = None


def _store(
    recorder: Recorder,
    target: SurveyTarget,
    form: SurveyForm,
    *,
    submission_id: str,
    seconds: float,
    answered_at: datetime | None,
    burst: bool,
) -> Stored:
    """Judge and store one validated answer of a field page (the page's POST or a JSON one)."""
    session = get_session()
    submission = form.to_submission(
        wave_id=target.wave_id,
        opd_id=target.opd_id,
        submission_id=submission_id,
        channel=recorder.channel,
    )
    moment = answered_at or utcnow()
    submission = replace(
        submission,
        enumerator_id=recorder.enumerator_id,
        answered_at=answered_at,
        unit_id=target.unit_id,
    )
    if recorder.kind == "interview":
        assert recorder.enumerator_id is not None
        burst = burst or fieldwork.interview_burst(
            session, enumerator_id=recorder.enumerator_id, wave_id=target.wave_id, at=moment
        )
        min_seconds = fieldwork.INTERVIEW_MIN_SECONDS
    else:
        min_seconds = float(current_app.config["MIN_SUBMIT_SECONDS"])
    config = current_app.config
    signals = evidence.Evidence(
        channel=recorder.channel,
        device_id=recorder.device_id,
        seconds=int(seconds),
        straightline=evidence.is_straightline(dict(submission.answers)),
        # Neither an enumerator's phone nor a counter tablet is one citizen's device.
        repeat_device=False,
        burst=burst,
        off_hours=evidence.is_off_hours(
            target.opd.service_hours, moment, timezone=str(config["TIMEZONE"])
        ),
        network=_network(),
    )
    verdict = antiabuse.assess(
        honeypot=form[antiabuse.HONEYPOT_FIELD].data,
        seconds=seconds,
        min_seconds=min_seconds,
        seen_before=False,
        burst=burst,
    )
    claim = None
    if target.wave.verification != "off":
        claim = VisitCodeClaim(
            code=form.visit_code_value(),
            required=target.wave.verification == "required",
            secret=config["SECRET_KEY"],
            now=utcnow(),
        )

    def store(db: Session) -> Stored:
        """Store the answer on ``db``."""
        result = store_submission(
            db,
            submission=submission,
            status=verdict.status,
            flag_reason=verdict.flag_reason,
            evidence=signals,
            visit_code=claim,
            timezone=citizen._timezone(),
            layout=citizen.tally_layout(target),
        )
        if result.created and result.status == "counted" and recorder.kind == "interview":
            assert recorder.enumerator_id is not None
            if fieldwork.recheck_cap(
                db,
                response_id=result.response_id,
                enumerator_id=recorder.enumerator_id,
                wave_id=target.wave_id,
                at=moment,
            ):
                return Stored(True, "flagged", "burst")
        return Stored(result.created, result.status, verdict.flag_reason)

    try:
        # A session of its own, in a transaction: the request's reads run in autocommit mode,
        # and the row, a code's use and the kept statistics must change together.
        with session_scope() as own:
            stored = store(own)
    except WaveNotOpenError:
        session.rollback()
        fresh = session.get(type(target.wave), target.wave_id, populate_existing=True)
        reason = "closed" if fresh is None or fresh.status != "open" else "outside-period"
        return Stored(False, "", None, refused=reason)
    except VisitCodeError as refused:
        messages = [problem_text(item) for item in refused.problems]
        form.visit_code.errors.extend(messages)
        return Stored(False, "", None, refused="visit-code", message=" ".join(messages))
    if stored.created:
        after_answer(session, wave_id=target.wave_id, opd_id=target.opd_id, burst=burst)
    return stored


def _page(kind: str, wave_slug: str, opd_slug: str) -> ResponseReturnValue:
    """Show a field page of ``kind``, or take its form POST (without JavaScript)."""
    target = citizen.find_target(wave_slug, opd_slug)
    if kind == "interview":
        if current_user() is None:
            return _to_login()
        user = _enumerator(target)
        if user is None:
            abort(403)
        recorder = Recorder(kind, user=user)
    else:
        device = _kiosk(target)
        if device is None:
            return _not_a_kiosk(target)
        recorder = Recorder(kind, kiosk=device)
        target = _at_unit(target, device)
    if target.closed:
        return citizen._render_closed(target)
    outside = citizen._outside_period(target)
    if outside is not None:
        return outside
    if request.method == "GET":
        return _render_page(recorder, target, _fresh_form(target))
    outcome = _count(recorder, target)
    if outcome.refused:
        abort(429, retry_after=outcome.retry_after)
    csrf_ok = citizen._csrf_passes()
    form = citizen._form_class(target)()
    now = antiabuse.clock()
    token = antiabuse.read_token(
        form.token.data,
        wave_id=target.wave_id,
        opd_id=target.opd_id,
        now=now,
        max_age=float(current_app.config["RENDER_TOKEN_MAX_AGE"]),
    )
    valid = form.validate()
    if not (valid and csrf_ok and token is not None):
        fresh = antiabuse.issue_token(wave_id=target.wave_id, opd_id=target.opd_id)
        form.prepare_rerender(form.token.data if token is not None else fresh)
        expired = not csrf_ok or token is None
        return _render_page(recorder, target, form, 400, csrf_failed=expired)
    stored = _store(
        recorder,
        target,
        form,
        submission_id=token.submission_id,
        seconds=now - token.rendered_at,
        answered_at=None,
        burst=outcome.burst,
    )
    if stored.refused == "visit-code":
        form.prepare_rerender(form.token.data)
        return _render_page(recorder, target, form, 400)
    if stored.refused == "outside-period":
        return citizen._outside_period(target) or citizen._render_closed(target)
    if stored.refused is not None:
        return citizen._render_closed(target)
    endpoint = "field.interview_thanks" if kind == "interview" else "field.kiosk_thanks"
    return redirect(url_for(endpoint, wave_slug=wave_slug, opd_slug=opd_slug), code=303)


# Exempt from the global check: the view runs it itself after the limits, so that an expired
# token re-renders the form with the answers kept (as the citizen's page does).
@csrf.exempt
@bp.route("/lapangan/wawancara/<wave_slug>/<opd_slug>", methods=["GET", "POST"])
def interview(wave_slug: str, opd_slug: str) -> ResponseReturnValue:
    """The enumerator's interview page (sign-in required, scope checked)."""
    return _page("interview", wave_slug, opd_slug)


@csrf.exempt
@bp.route("/lapangan/kios/<wave_slug>/<opd_slug>", methods=["GET", "POST"])
def kiosk(wave_slug: str, opd_slug: str) -> ResponseReturnValue:
    """The enrolled kiosk's full-screen survey page."""
    return _page("kiosk", wave_slug, opd_slug)


@bp.get("/lapangan/wawancara/<wave_slug>/<opd_slug>/terima-kasih")
def interview_thanks(wave_slug: str, opd_slug: str) -> ResponseReturnValue:
    """Confirm a stored interview, with the way to the next one."""
    target = citizen.find_target(wave_slug, opd_slug)
    if current_user() is None:
        return _to_login()
    if _enumerator(target) is None:
        abort(403)
    return render_template(
        "survey/field_thanks.html",
        kind="interview",
        wave=target.wave,
        opd=target.opd,
        next_url=_page_path("interview", target),
    )


@bp.get("/lapangan/kios/<wave_slug>/<opd_slug>/terima-kasih")
def kiosk_thanks(wave_slug: str, opd_slug: str) -> ResponseReturnValue:
    """Thank the citizen; the page returns to a fresh form by itself (a meta refresh)."""
    target = citizen.find_target(wave_slug, opd_slug)
    device = _kiosk(target)
    if device is None:
        return _not_a_kiosk(target)
    target = _at_unit(target, device)
    return render_template(
        "survey/field_thanks.html",
        kind="kiosk",
        wave=target.wave,
        opd=target.opd,
        unit=target.unit,
        next_url=_page_path("kiosk", target),
        thanks_seconds=THANKS_SECONDS,
    )


@bp.get("/lapangan/sw.js")
def service_worker() -> ResponseReturnValue:
    """Serve the service worker of the field pages (its scope is ``/lapangan/``)."""
    static = [url_for("static", filename=name) for name in ("survey.css", "kiosk.css", "field.js")]
    script = render_template("survey/sw.js", cache_name=CACHE_NAME, static=static)
    response = make_response(script)
    response.headers["Content-Type"] = "text/javascript; charset=utf-8"
    # The browser checks for a new worker on each visit; no cache may hold an old one.
    response.headers["Cache-Control"] = "no-cache"
    return response


# ---------------------------------------------------------------------------------------------
# Answers sent later (JSON)


def _answer(
    code: int, *, stored: bool, state: str = "", reason: str | None = None, **extra: Any
) -> Response:
    """Return the endpoint's JSON answer with HTTP status ``code``."""
    response = jsonify({"stored": stored, "status": state, "reason": reason, **extra})
    response.status_code = code
    return response


def _same_origin() -> bool:
    """Return True when the browser says this request comes from a page of this site.

    Browsers send ``Origin`` with every ``fetch`` POST, and ``Sec-Fetch-Site`` with every
    request; neither can be set by a page's script. A request carrying neither comes from no
    browser page at all (a client holding the cookie could send anything anyway).
    """
    origin = request.headers.get("Origin")
    if origin is not None:
        return origin == request.host_url.rstrip("/")
    return request.headers.get("Sec-Fetch-Site") == "same-origin"


def _client_moment(value: object) -> float | None:
    """Return a device time (milliseconds since the epoch) in seconds, or None if not one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int) and not 0 < value < 4_102_444_800_000:
        return None  # before float(), which overflows on a 400-digit integer
    seconds = float(value) / 1000.0
    # A year of 1970 or after 2100 is no clock reading.
    if not 0 < seconds < 4_102_444_800:
        return None
    return seconds


def _fields(value: object) -> MultiDict[str, str] | None:
    """Return the posted fields of a JSON answer as form data, or None if malformed."""
    if not isinstance(value, dict) or len(value) > FIELDS_MAX:
        return None
    data: MultiDict[str, str] = MultiDict()
    for name, item in value.items():
        if not isinstance(name, str) or len(name) > 64 or not isinstance(item, str):
            return None
        if len(item) > VALUE_MAX:
            return None
        data.add(name, item)
    return data


# Exempt from the form-token check, because a page kept offline for days carries an expired
# token. What replaces it: the request must be ``Content-Type: application/json`` and come
# from a page of this origin (``_same_origin``). A cross-site page cannot send that: an HTML
# form cannot post JSON, and a cross-site ``fetch`` with that content type needs a CORS
# preflight this site never grants, while the browser's ``Origin`` header names the other
# site. The cookies that authenticate (the session's, the kiosk's) are SameSite=Lax as well.
@csrf.exempt
@bp.post("/lapangan/kirim")
def send() -> ResponseReturnValue:
    """Store one answer a field page kept on the device: JSON in, JSON out."""
    if request.mimetype != "application/json" or not _same_origin():
        return _answer(403, stored=False, reason="cross-origin")
    length = request.content_length
    if length is None or length > BODY_MAX:
        return _answer(413, stored=False, reason="too-large")
    try:
        body = json.loads(request.get_data(cache=False))
    except ValueError:
        return _answer(400, stored=False, reason="invalid")
    if not isinstance(body, dict):
        return _answer(400, stored=False, reason="invalid")
    kind = body.get("kind")
    wave_slug, opd_slug = body.get("wave"), body.get("opd")
    submission_id = fieldwork.submission_id(body.get("id"))
    shown, answered = _client_moment(body.get("shown")), _client_moment(body.get("answered"))
    data = _fields(body.get("fields"))
    if (
        kind not in ("interview", "kiosk")
        or not isinstance(wave_slug, str)
        or not isinstance(opd_slug, str)
        or submission_id is None
        or shown is None
        or answered is None
        or data is None
    ):
        return _answer(400, stored=False, reason="invalid")
    try:
        target = citizen.find_target(wave_slug, opd_slug)
    except NotFound:
        return _answer(404, stored=False, reason="not-found")
    if kind == "interview":
        if current_user() is None:
            return _answer(401, stored=False, reason="signed-out")
        user = _enumerator(target)
        if user is None:
            return _answer(403, stored=False, reason="forbidden")
        # A queue left on a shared phone by another enumerator is never recorded as this one's.
        if body.get("who") != user.id:
            return _answer(403, stored=False, reason="other-user")
        recorder = Recorder(kind, user=user)
    else:
        device = _kiosk(target)
        if device is None:
            return _answer(403, stored=False, reason="not-a-kiosk")
        recorder = Recorder(kind, kiosk=device)
        target = _at_unit(target, device)
    if target.closed:
        return _answer(410, stored=False, reason="closed")
    outcome = _count(recorder, target)
    if outcome.refused:
        response = _answer(429, stored=False, reason="too-many")
        response.headers["Retry-After"] = str(outcome.retry_after)
        return response
    form = citizen._form_class(target)(formdata=data, meta={"csrf": False})
    form.posted_data = data
    if not form.validate():
        messages = [*form.form_errors] + [m for _a, _l, m in form.field_errors()]
        return _answer(422, stored=False, reason="invalid", messages=messages)
    now = antiabuse.clock()
    moment = fieldwork.clamp_answered(
        datetime.fromtimestamp(answered, UTC), now=datetime.fromtimestamp(now, UTC)
    )
    stored = _store(
        recorder,
        target,
        form,
        submission_id=submission_id,
        seconds=fieldwork.seconds_between(shown, answered),
        answered_at=moment,
        burst=outcome.burst,
    )
    if stored.refused is not None:
        status = 422 if stored.refused == "visit-code" else 409
        return _answer(status, stored=False, reason=stored.refused, messages=[stored.message or ""])
    reason = stored.flag_reason if stored.created else "already-stored"
    return _answer(200, stored=stored.created, state=stored.status, reason=reason)

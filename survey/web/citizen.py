"""The citizen survey: the form, the submission and the thank-you page.

The views stay thin: they find the wave and OPD (404 for anything a citizen should not reach,
410 once the wave is closed), let the form validate, ask ``survey.web.antiabuse`` for a verdict and
``survey.core.submissions`` to store, then redirect to the thank-you page (POST-redirect-GET).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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

from survey.core import opds, queries
from survey.core.models import Opd, Questionnaire, Wave, WaveOpd
from survey.core.submissions import store_submission
from survey.web import antiabuse
from survey.web.database import get_session
from survey.web.extensions import csrf
from survey.web.forms import SurveyForm, initial_data, questions_for, survey_form_class
from survey.web.i18n import LANGUAGES, current_language

bp = Blueprint("public", __name__)

CLOSED_STATUSES = ("closed", "published")
_FORM_CACHE = "ikm_survey_form_classes"
_PRISTINE_ATTR = "_pristine_fields_html"
_FORM_CACHE_MAX = 256  # questionnaires x languages held per process; past it, start afresh


@dataclass(frozen=True)
class SurveyTarget:
    """The wave and OPD a survey URL points at, with the questionnaire to show."""

    wave: Wave
    opd: Opd
    questionnaire: Questionnaire

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


def find_target(wave_slug: str, opd_slug: str) -> SurveyTarget:
    """Return the wave and OPD of a survey URL; 404 for unknown, draft or uncovered ones."""
    session = _autocommit_session()
    params = {"wave_slug": wave_slug, "opd_slug": opd_slug}
    found = session.exec(_TARGET_QUERY, params=params).first()
    # A draft wave does not exist for citizens yet.
    if found is None or found[0].status == "draft":
        abort(404)
    wave, opd, questionnaire = found
    return SurveyTarget(wave=wave, opd=opd, questionnaire=questionnaire)


def _lang_args() -> dict[str, str]:
    """Return the ``lang`` query argument to carry on, if the citizen chose one explicitly."""
    lang = request.args.get("lang")
    return {"lang": lang} if lang in LANGUAGES else {}


def _form_class(target: SurveyTarget) -> type[SurveyForm]:
    """Return the survey form class of the target's questionnaire in the current language.

    Built once per app, questionnaire, language and comment limit: a stored questionnaire is
    never edited (it is versioned; ``survey.core.questionnaires`` only adds new ones), and building
    the class (its elements query and some forty translated labels) was a third of a survey
    request's time.
    """
    lang = current_language()
    comment_max = int(current_app.config["COMMENT_MAX_LENGTH"])
    q = target.questionnaire
    # The OPD's services are choices of the form (and of its pre-rendered fields).
    services = opds.service_names(get_session(), opd_id=target.opd_id)
    key = (q.id, q.slug, q.version, q.scale_points, lang, comment_max, services)
    cache: dict[tuple[Any, ...], type[SurveyForm]]
    cache = current_app.extensions.setdefault(_FORM_CACHE, {})
    form_class = cache.get(key)
    if form_class is None:
        scale = target.questionnaire.scale_points
        items = queries.elements(get_session(), questionnaire_id=int(q.id or 0))
        questions = questions_for(items, scale_points=scale, lang=lang)
        form_class = survey_form_class(
            questions, scale_points=scale, comment_max=comment_max, services=services
        )
        if len(cache) >= _FORM_CACHE_MAX:
            cache.clear()
        cache[key] = form_class
    return form_class


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

    def __init__(self, initial: dict[str, str]) -> None:
        """Hold the fresh hidden values and a CSRF token (as the real form would)."""
        self.submission_id = _Value(initial["submission_id"])
        self.t = _Value(initial["t"])
        self.channel = _Value(initial["channel"])
        self.csrf_token = Markup("")
        if current_app.config.get("WTF_CSRF_ENABLED", True):
            self.csrf_token = Markup(
                '<input id="csrf_token" name="csrf_token" type="hidden" value="{}">'
            ).format(generate_csrf())
        self.form_errors: list[str] = []

    def field_errors(self) -> list[tuple[str, str, str]]:
        """Return no errors: the form was just displayed."""
        return []

    def channel_value(self) -> str:
        """Return the channel carried by the form."""
        return self.channel.data

    csrf_failed = False


def _pristine_fields(form: SurveyForm) -> Markup:
    """Return the fields of a freshly displayed form, rendered once per form class.

    Without answers or errors they are the same for every citizen (the per-citizen values,
    token, submission id and render time, are outside them), and rendering them was the
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
    """Render the survey page; never cached, since it carries a one-time submission id."""
    if pristine and pristine_html is None:
        assert isinstance(form, SurveyForm)
        pristine_html = _pristine_fields(form)
    page = render_template(
        "survey/form.html",
        fields_html=pristine_html,
        wave=target.wave,
        opd=target.opd,
        form=form,
        field_errors=form.field_errors(),
        form_errors=list(form.form_errors),
        csrf_failed=csrf_failed or form.csrf_failed,
        # The query keeps the language and a kiosk's channel across a re-rendered form.
        action={
            **_lang_args(),
            **({"channel": "kiosk"} if form.channel_value() == "kiosk" else {}),
        },
    )
    response = make_response(page, status)
    # A shared cache would hand one submission id to many citizens and merge their answers.
    response.headers["Cache-Control"] = "no-store"
    return response


def _render_closed(target: SurveyTarget) -> ResponseReturnValue:
    """Render the page saying the survey no longer takes answers (410 Gone)."""
    return render_template("survey/closed.html", wave=target.wave, opd=target.opd), 410


def _csrf_passes() -> bool:
    """Run Flask-WTF's full CSRF check (token, and referrer on HTTPS); False if it fails."""
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return True
    try:
        csrf.protect()
    except CSRFError:
        return False
    return True


def _store_and_thank(target: SurveyTarget, form: SurveyForm) -> ResponseReturnValue:
    """Store a valid submission with the anti-abuse verdict; redirect to the thank-you page."""
    submission = form.to_submission(wave_id=target.wave_id, opd_id=target.opd_id)
    # A kiosk is one device shared by many citizens: its cookie says nothing about repeats.
    use_device = submission.channel != "kiosk"
    seen = antiabuse.seen_keys(request) if use_device else []
    key = antiabuse.device_key(target.wave_id, target.opd_id)
    verdict = antiabuse.assess(
        honeypot=form[antiabuse.HONEYPOT_FIELD].data,
        rendered_at=antiabuse.read_render_time(form.t.data),
        now=antiabuse.clock(),
        min_seconds=float(current_app.config["MIN_SUBMIT_SECONDS"]),
        seen_before=key in seen,
    )
    store_submission(
        get_session(), submission=submission, status=verdict.status, flag_reason=verdict.flag_reason
    )
    query: dict[str, Any] = {**_lang_args(), **({} if use_device else {"channel": "kiosk"})}
    query.update(wave_slug=target.wave.slug, opd_slug=target.opd.slug)
    response = redirect(url_for("public.thank_you", **query), code=303)
    if use_device:
        antiabuse.remember_device(response, seen, key)
    return response


# Exempt from the global before-request check: the view runs the same check itself, after the
# rate limit, so that a missing or expired token re-renders the form with the answers kept
# instead of the bare 400 page.
@csrf.exempt
@bp.route("/s/<wave_slug>/<opd_slug>", methods=["GET", "POST"])
def survey_page(wave_slug: str, opd_slug: str) -> ResponseReturnValue:
    """Show the survey form, or take a submission and redirect to the thank-you page."""
    if request.method == "POST" and not antiabuse.allow_post(request.remote_addr):
        abort(429, retry_after=int(current_app.config["RATE_LIMIT_WINDOW"]))
    target = find_target(wave_slug, opd_slug)
    if target.closed:
        return _render_closed(target)
    if request.method == "GET":
        initial = initial_data(request.args.get("channel"))
        form_class = _form_class(target)
        html = form_class.__dict__.get(_PRISTINE_ATTR)
        if html is not None:
            return _render_form(target, FreshForm(initial), pristine_html=html)
        return _render_form(target, form_class(formdata=None, data=initial), pristine=True)
    csrf_ok = _csrf_passes()
    form = _build_form(target)
    # Validate the fields even when the token failed, so every problem shows at once.
    if not (form.validate() and csrf_ok):
        form.prepare_rerender()
        return _render_form(target, form, status=400, csrf_failed=not csrf_ok)
    return _store_and_thank(target, form)


@bp.route("/s/<wave_slug>/<opd_slug>/terima-kasih")
def thank_you(wave_slug: str, opd_slug: str) -> ResponseReturnValue:
    """Thank the citizen; a kiosk gets a link to a fresh form for the next person."""
    target = find_target(wave_slug, opd_slug)
    kiosk = request.args.get("channel") == "kiosk" and not target.closed
    return render_template("survey/thanks.html", wave=target.wave, opd=target.opd, kiosk=kiosk)

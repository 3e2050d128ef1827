"""One link per wave: ``/s/<wave>``, where a citizen finds the OPD they visited, and ``/l/<code>``.

The wave's page lists its OPDs (searchable by name or short name, a plain GET form) and links
each to its survey page; where the wave allows it (``Wave.multi_opd``) the citizen ticks up to
five OPDs and answers them on one form: the profile once, then a section per OPD. One POST
stores one response per OPD through the same machinery as the single survey page (render
token, shared limits counted per OPD, honeypot, minimum seconds, repeat-device cookie per wave
and OPD, evidence and verdict), each with its own submission id derived from the token and a
shared ``sitting`` id (``survey.core.sittings``). An OPD refused on its own (its hard limit, or
taken off the wave since the page was shown) is named on the thank-you page as not stored;
the others are stored. A wave that requires visit codes offers no sittings: a code belongs to
one OPD's counter and is typed on that OPD's own page.

Also here: the short links (``/l/<code>``, ``survey.core.shortlinks``), the share block (the
short address and a WhatsApp link, no script) and the link-preview tags (Open Graph) of the
wave's page and of each OPD's survey page, all built from ``IKM_PUBLIC_URL``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from flask import (
    Blueprint,
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from itsdangerous import BadSignature
from sqlmodel import select

from survey.core import evidence, opdsearch, periods, shortlinks, sittings, urls
from survey.core.alarms import after_answer
from survey.core.models import Opd, Questionnaire, Wave, utcnow
from survey.core.queries import get_opd, wave_opds
from survey.core.submissions import WaveNotOpenError, store_submission
from survey.web import antiabuse
from survey.web.citizen import (
    CLOSED_STATUSES,
    TARGET_TTL,
    SurveyTarget,
    _autocommit_session,
    _csrf_passes,
    _evidence,
    _form_class,
    _lang_args,
    _read_through,
    _timezone,
    tally_layout,
)
from survey.web.database import session_scope
from survey.web.extensions import csrf
from survey.web.forms import SittingChoiceForm, SittingForm, sitting_form_class
from survey.web.i18n import current_language, format_day

bp = Blueprint("onelink", __name__)

_LISTING_CACHE = "ikm_wave_listings"
_SHORT_CACHE = "ikm_short_codes"
SHORT_TTL = 300.0  # a code never changes once made; the time only bounds a deleted wave's
_SITTING_SALT = "ikm-sitting-token"  # keeps these signatures apart from others; no secret
_RESULT_SALT = "ikm-sitting-result"
DONE_ARG = "selesai"  # the query argument that carries a sitting's signed outcome


# --- The wave and its OPDs ------------------------------------------------------------------


@dataclass(frozen=True)
class WaveListing:
    """A wave with its questionnaire and its OPDs sorted by name, each with its search key."""

    wave: Wave
    questionnaire: Questionnaire
    opds: tuple[Opd, ...]
    keys: tuple[opdsearch.SearchKey, ...]

    def by_slug(self) -> dict[str, Opd]:
        """Return the wave's OPDs by slug."""
        return {opd.slug: opd for opd in self.opds}

    def search(self, query: str | None) -> list[Opd]:
        """Return the OPDs matching ``query`` by name (all of them for a blank one)."""
        return opdsearch.search(zip(self.opds, self.keys, strict=True), query)

    @property
    def multi(self) -> bool:
        """Return True when a citizen may rate several OPDs in one sitting.

        Not where the wave requires visit codes: each code belongs to one OPD's counter.
        """
        return self.wave.multi_opd and self.wave.verification != "required"


def find_listing(wave_slug: str) -> WaveListing:
    """Return the wave's listing; 404 for an unknown or draft wave.

    Read at most every 5 s per process (as the survey page reads its wave and OPD); the write
    checks again that the wave is open and covers each OPD.
    """
    session = _autocommit_session()

    def load() -> WaveListing:
        wave = session.exec(select(Wave).where(Wave.slug == wave_slug)).first()
        if wave is None:
            abort(404)
        questionnaire = session.get(Questionnaire, wave.questionnaire_id)
        assert questionnaire is not None  # a foreign key
        found = sorted(
            (opd for opd, _link in wave_opds(session, wave=wave)),
            key=lambda opd: opdsearch.sort_key(opd.name),
        )
        # Detached with every column loaded: shared read-only by this process's requests.
        for item in (wave, questionnaire, *found):
            session.expunge(item)
        keys = tuple(
            opdsearch.SearchKey.of(name=opd.name, short_name=opd.short_name, slug=opd.slug)
            for opd in found
        )
        return WaveListing(wave, questionnaire, tuple(found), keys)

    listing = _read_through(_LISTING_CACHE, wave_slug, TARGET_TTL, load)
    if listing.wave.status == "draft":
        abort(404)
    return listing


def _target(listing: WaveListing, opd: Opd) -> SurveyTarget:
    """Return the survey target of one OPD of the wave."""
    return SurveyTarget(wave=listing.wave, opd=opd, questionnaire=listing.questionnaire)


def _unavailable(listing: WaveListing) -> ResponseReturnValue | None:
    """Return the closed or outside-the-period page of the wave, or None while it takes answers.

    As the survey page: 410 once closed or after the period, 403 before it.
    """
    wave = listing.wave
    if wave.status in CLOSED_STATUSES:
        return render_template("survey/wave_unavailable.html", wave=wave, state="closed"), 410
    zone = _timezone()
    now = utcnow()
    if periods.in_period(wave, now, zone):
        return None
    early = wave.period_start is not None and periods.local_day(now, zone) < wave.period_start
    page = render_template(
        "survey/wave_unavailable.html",
        wave=wave,
        state="early" if early else "over",
        zone=zone,
    )
    return page, 403 if early else 410


# --- Short links, sharing and link previews -------------------------------------------------


def short_url(wave: Wave, opd: Opd | None = None) -> str:
    """Return the absolute short address of the wave's link or of an OPD's survey page.

    The code is made on first demand and kept (``survey.core.shortlinks``); this process
    remembers it, so a page that shows it costs no query after the first.
    """
    wave_id = int(wave.id or 0)
    opd_id = None if opd is None else int(opd.id or 0)

    def load() -> str:
        with session_scope() as session:
            return shortlinks.short_code(session, wave_id, opd_id)

    code = _read_through(_SHORT_CACHE, (wave_id, opd_id), SHORT_TTL, load)
    return shortlinks.short_url(str(current_app.config["PUBLIC_URL"]), code)


@dataclass(frozen=True)
class Share:
    """What the share block shows: the short address and a WhatsApp link carrying it."""

    url: str
    message: str

    @property
    def shown(self) -> str:
        """Return the address as people type it (no scheme)."""
        return self.url.split("://", 1)[-1]

    @property
    def whatsapp(self) -> str:
        """Return WhatsApp's share link with the message (and the address) URL-encoded."""
        return "https://wa.me/?text=" + quote(self.message, safe="")


def share_for(wave: Wave, opd: Opd | None = None) -> Share:
    """Return the share block of the wave's link, or of one OPD's survey page."""
    url = short_url(wave, opd)
    if opd is None:
        message = _(
            "Isi survei kepuasan masyarakat %(wave)s. Pilih OPD yang Anda kunjungi: %(url)s",
            wave=wave.title,
            url=url,
        )
    else:
        message = _(
            "Isi survei kepuasan masyarakat untuk %(opd)s (%(wave)s): %(url)s",
            opd=opd.name,
            wave=wave.title,
            url=url,
        )
    return Share(url=url, message=message)


def _period_text(wave: Wave) -> str | None:
    """Return the wave's period as a reader expects it, or None without dates."""
    start, end = wave.period_start, wave.period_end
    if start and end:
        return f"{format_day(start)} – {format_day(end)}"
    if end:
        return _("sampai %(end)s", end=format_day(end))
    if start:
        return _("mulai %(start)s", start=format_day(start))
    return None


def og_tags(wave: Wave, opd: Opd | None = None) -> list[tuple[str, str, str]]:
    """Return the link-preview tags (Open Graph, Twitter card) of a survey page.

    Each is (attribute, name, content); the page's address comes from ``IKM_PUBLIC_URL``,
    never from the request's host.
    """
    public = str(current_app.config["PUBLIC_URL"]).rstrip("/")
    if opd is None:
        url = public + urls.wave_path(wave.slug)
        title = wave.title
        call = _("Pilih OPD yang Anda kunjungi dan beri penilaian: anonim, sekitar satu menit.")
    else:
        url = urls.survey_url(public, wave.slug, opd.slug)
        title = f"{opd.name} · {wave.title}"
        call = _("Beri penilaian atas pelayanan %(opd)s: anonim, sekitar satu menit.", opd=opd.name)
    about = [wave.title, wave.evaluator, _period_text(wave)]
    description = " · ".join(part for part in about if part) + ". " + call
    english = current_language() == "en"
    site = _("Survei Kepuasan Masyarakat")
    return [
        ("property", "og:type", "website"),
        ("property", "og:site_name", site),
        ("property", "og:title", title),
        ("property", "og:description", description),
        ("property", "og:url", url),
        ("property", "og:locale", "en_US" if english else "id_ID"),
        ("property", "og:locale:alternate", "id_ID" if english else "en_US"),
        ("name", "twitter:card", "summary"),
        ("name", "twitter:title", title),
        ("name", "twitter:description", description),
    ]


@bp.app_template_global("survey_og_tags")
def survey_og_tags(wave: Wave, opd: Opd | None = None) -> list[tuple[str, str, str]]:
    """Template global: the link-preview tags of a survey page (see :func:`og_tags`)."""
    return og_tags(wave, opd)


@bp.app_template_global("survey_share")
def survey_share(wave: Wave, opd: Opd | None = None) -> Share:
    """Template global: the share block of a survey page (see :func:`share_for`)."""
    return share_for(wave, opd)


@bp.get("/l/<code>")
def short_link(code: str) -> ResponseReturnValue:
    """Send a short code (any case) to its page; 404 for a code nobody made, and for one
    whose page is not public now (a draft wave, an OPD off the wave, an inactive unit)."""
    session = _autocommit_session()
    target = shortlinks.resolve(session, code[: shortlinks.CODE_MAX_LENGTH + 1], public=True)
    if target is None:
        abort(404)
    return redirect(target.path(), code=302)


# --- The sitting form -------------------------------------------------------------------------


def sitting_form(listing: WaveListing, chosen: Sequence[Opd], **kwargs: Any) -> SittingForm:
    """Build the sitting form of these OPDs of the wave, in the current language."""
    singles = [_form_class(_target(listing, opd)) for opd in chosen]
    return sitting_form_class(chosen, singles)(**kwargs)


# --- The sitting's render token and its signed outcome ----------------------------------------


@dataclass(frozen=True)
class SittingToken:
    """What a sitting form carries: its wave, the OPDs it was shown for, an id, when shown."""

    wave_id: int
    opd_ids: frozenset[int]
    base: str  # the random id the OPDs' submission ids and the sitting id derive from
    rendered_at: float


def issue_sitting_token(*, wave_id: int, opd_ids: Sequence[int], now: float | None = None) -> str:
    """Return a signed render token for a fresh sitting form of these OPDs."""
    moment = antiabuse.clock() if now is None else now
    payload = [wave_id, sorted(opd_ids), antiabuse.new_submission_id(), round(moment, 3)]
    return antiabuse._serializer(_SITTING_SALT).dumps(payload)


def read_sitting_token(
    raw: str | None, *, wave_id: int, opd_ids: Sequence[int], now: float, max_age: float
) -> SittingToken | None:
    """Return the token in ``raw`` if genuine, for this wave, covering these OPDs and not
    expired; else None. One token gives at most one answer per OPD it was shown for."""
    if not raw:
        return None
    try:
        value = antiabuse._serializer(_SITTING_SALT).loads(raw)
    except BadSignature:
        return None
    if not isinstance(value, list) or len(value) != 4:
        return None
    token_wave, token_opds, base, rendered_at = value
    if (
        not isinstance(token_wave, int)
        or not isinstance(token_opds, list)
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in token_opds)
        or len(token_opds) > sittings.MAX_OPDS
        or not isinstance(base, str)
        or not antiabuse.SUBMISSION_ID_RE.fullmatch(base)
        or isinstance(rendered_at, bool)
        or not isinstance(rendered_at, int | float)
    ):
        return None
    if token_wave != wave_id or not set(opd_ids) <= set(token_opds):
        return None
    if not now - max_age <= rendered_at <= now + antiabuse.CLOCK_SKEW:
        return None
    return SittingToken(token_wave, frozenset(token_opds), base, float(rendered_at))


@dataclass
class SittingResult:
    """What the thank-you page of a sitting tells: each OPD's outcome, and foreign choices."""

    outcomes: list[sittings.SittingOutcome] = field(default_factory=list)
    foreign: bool = False  # choices that are no OPD of this wave were sent, and not stored

    def sign(self) -> str:
        """Return the result as a signed value for the thank-you page's address."""
        pairs = [[item.opd_slug, item.outcome] for item in self.outcomes]
        return antiabuse._serializer(_RESULT_SALT).dumps([pairs, self.foreign])

    @classmethod
    def read(cls, raw: str) -> SittingResult | None:
        """Return the result signed in ``raw``, or None if it is not one of ours."""
        try:
            value = antiabuse._serializer(_RESULT_SALT).loads(raw)
            pairs, foreign = value
            outcomes = [sittings.SittingOutcome(str(slug), str(outcome)) for slug, outcome in pairs]
        except (BadSignature, TypeError, ValueError):
            return None
        return cls(outcomes=outcomes[: sittings.MAX_OPDS], foreign=bool(foreign))


# --- The pages --------------------------------------------------------------------------------


def _no_store(page: str, status: int = 200) -> ResponseReturnValue:
    """Return a page that no cache keeps (it carries a one-time token or a citizen's outcome)."""
    response = make_response(page, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _render_wave(
    listing: WaveListing,
    *,
    query: str = "",
    checked: Sequence[str] = (),
    errors: Sequence[str] = (),
    status: int = 200,
) -> ResponseReturnValue:
    """Render the wave's page: the search, the OPDs found (links, or boxes to tick), sharing."""
    query = query[: opdsearch.QUERY_MAX_LENGTH]
    found = listing.search(query)
    page = render_template(
        "survey/wave.html",
        wave=listing.wave,
        listing=listing,
        query=query,
        searched=bool(opdsearch.query_words(query)),
        found=found,
        checked=set(checked),
        errors=list(errors),
        max_opds=sittings.MAX_OPDS,
        lang_args=_lang_args(),
        share=share_for(listing.wave),
    )
    return page, status


def _chosen(listing: WaveListing, slugs: Sequence[str]) -> tuple[list[Opd], bool]:
    """Return the wave's OPDs among ``slugs`` (once each, in the wave's order) and whether any
    slug was no OPD of the wave."""
    wanted = set(slugs)
    chosen = [opd for opd in listing.opds if opd.slug in wanted]
    return chosen, len(chosen) < len(wanted)


def _choice_errors(listing: WaveListing, slugs: Sequence[str]) -> list[str]:
    """Return what is wrong with a choice of OPDs for a sitting (nothing when it is fine)."""
    distinct = set(slugs)
    chosen, foreign = _chosen(listing, slugs)
    errors = []
    if len(distinct) > 1 and not listing.multi:
        errors.append(_("Survei ini menilai satu OPD setiap kali: pilih satu OPD dari daftar."))
    elif len(distinct) > sittings.MAX_OPDS:
        errors.append(
            _(
                "Pilih paling banyak %(max)d OPD sekaligus; Anda memilih %(n)d.",
                max=sittings.MAX_OPDS,
                n=len(distinct),
            )
        )
    if foreign:
        errors.append(_("Sebagian pilihan bukan OPD survei ini."))
    if not chosen and not foreign:
        errors.append(_("Pilih paling sedikit satu OPD."))
    return errors


def _render_sitting(
    listing: WaveListing,
    form: SittingForm,
    status: int = 200,
    *,
    csrf_failed: bool = False,
    notices: Sequence[str] = (),
) -> ResponseReturnValue:
    """Render the sitting form; never cached, since it carries a one-time render token."""
    field_errors = form.field_errors() if status != 200 else []
    others = ", ".join(opd.slug for opd in form.chosen)
    page = render_template(
        "survey/sitting.html",
        wave=listing.wave,
        form=form,
        sections=form.sections(),
        field_errors=field_errors,
        form_errors=list(form.form_errors),
        notices=list(notices),
        csrf_failed=csrf_failed or form.csrf_failed,
        action=urls.wave_path(listing.wave.slug) + _query(_lang_args()),
        back=urls.wave_path(listing.wave.slug) + _query(_lang_args()),
        chosen_slugs=others,
    )
    return _no_store(page, status)


def _query(args: dict[str, Any]) -> str:
    """Return ``?`` and the encoded arguments, or nothing without any."""
    return "?" + urlencode(args, doseq=True) if args else ""


def _render_done(listing: WaveListing, result: SittingResult) -> ResponseReturnValue:
    """Render the thank-you page of a sitting: what was stored, what was not and why."""
    names = listing.by_slug()
    session = _autocommit_session()
    # An OPD taken off the wave meanwhile is no longer in its list, and still named.
    rows = [
        (names.get(item.opd_slug) or get_opd(session, slug=item.opd_slug), item)
        for item in result.outcomes
    ]
    page = render_template(
        "survey/sitting_thanks.html",
        wave=listing.wave,
        stored=[opd for opd, item in rows if opd is not None and item.outcome == sittings.STORED],
        refused=[
            (opd, item.outcome)
            for opd, item in rows
            if opd is not None and item.outcome != sittings.STORED
        ],
        foreign=result.foreign,
        share=share_for(listing.wave),
        lang_args=_lang_args(),
    )
    return _no_store(page)


# Exempt from the global before-request check: the POST runs the same check itself, after the
# limits, so that an expired token re-renders the form with the answers kept.
@csrf.exempt
@bp.route("/s/<wave_slug>", methods=["GET", "POST"])
def wave_page(wave_slug: str) -> ResponseReturnValue:
    """Show the wave's OPDs (searchable), a sitting's form or its thanks; store a sitting."""
    listing = find_listing(wave_slug)
    done = request.args.get(DONE_ARG)
    if request.method == "GET" and done:
        result = SittingResult.read(done[:4000])
        if result is not None:
            return _render_done(listing, result)
    unavailable = _unavailable(listing)
    if unavailable is not None:
        return unavailable
    if request.method == "POST":
        return _store_sitting(listing)
    query = request.args.get("q", "")
    slugs = [slug[:64] for slug in request.args.getlist("opd")[:50]]
    if not slugs:
        return _render_wave(listing, query=query)
    errors = _choice_errors(listing, slugs)
    if errors:
        return _render_wave(listing, query=query, checked=slugs, errors=errors, status=400)
    chosen, _foreign = _chosen(listing, slugs)
    if len(chosen) == 1:
        # One OPD is the single survey page, with its own address to come back to.
        path = urls.survey_path(listing.wave.slug, chosen[0].slug)
        return redirect(path + _query(_lang_args()), code=303)
    token = issue_sitting_token(
        wave_id=int(listing.wave.id or 0), opd_ids=[int(opd.id or 0) for opd in chosen]
    )
    form = sitting_form(listing, chosen, formdata=None, data={"token": token})
    return _render_sitting(listing, form)


def _store_sitting(listing: WaveListing) -> ResponseReturnValue:
    """Take a sitting's POST: count it per OPD, check it, store each OPD's answers, thank."""
    wave = listing.wave
    wave_id = int(wave.id or 0)
    slugs = SittingChoiceForm().slugs()
    errors = _choice_errors(listing, slugs)
    chosen, foreign = _chosen(listing, slugs)
    if not listing.multi:
        errors = [_("Survei ini menilai satu OPD setiap kali: pilih satu OPD dari daftar.")]
    if not listing.multi or len(set(slugs)) > sittings.MAX_OPDS or not chosen:
        # Nothing of a refused choice is stored; the list comes back with the reason.
        return _render_wave(listing, checked=slugs, errors=errors, status=400)
    session = _autocommit_session()
    choice = SittingChoiceForm()
    token = read_sitting_token(
        choice.token.data,
        wave_id=wave_id,
        opd_ids=[int(opd.id or 0) for opd in chosen],
        now=antiabuse.clock(),
        max_age=float(current_app.config["RENDER_TOKEN_MAX_AGE"]),
    )
    # An OPD the form was shown for and the wave no longer covers keeps its section (its
    # answers are then refused by the write, and named as not stored); any other choice that
    # is no OPD of the wave stores nothing and is only said to be one.
    gone = [
        opd
        for slug in sorted(set(slugs) - {opd.slug for opd in chosen})
        if (opd := get_opd(session, slug=slug)) is not None
        and token is not None
        and opd.id in token.opd_ids
    ]
    stranger = len(set(slugs)) > len(chosen) + len(gone)
    shown = [*chosen, *gone]
    outcomes: dict[int, Any] = {}
    for opd in shown:
        outcomes[int(opd.id or 0)] = antiabuse.count_submission(
            session, address=request.remote_addr, wave_id=wave_id, opd_id=int(opd.id or 0)
        )
    if all(outcome.refused for outcome in outcomes.values()):
        abort(429, retry_after=max(o.retry_after or 0 for o in outcomes.values()) or None)
    csrf_ok = _csrf_passes()
    form = sitting_form(listing, shown)
    valid = form.validate()
    notices = [_("Sebagian pilihan bukan OPD survei ini; jawabannya tidak disimpan.")]
    if not (valid and csrf_ok and token is not None):
        fresh = issue_sitting_token(wave_id=wave_id, opd_ids=[int(opd.id or 0) for opd in shown])
        form.prepare_rerender(form.token.data if token is not None else fresh)
        expired = not csrf_ok or token is None
        return _render_sitting(
            listing, form, status=400, csrf_failed=expired, notices=notices if foreign else ()
        )
    return _store_and_thank(listing, form, token, outcomes, foreign=stranger)


def _store_and_thank(
    listing: WaveListing,
    form: SittingForm,
    token: SittingToken,
    limits: dict[int, Any],
    *,
    foreign: bool,
) -> ResponseReturnValue:
    """Store each OPD's answers with its own evidence and verdict; redirect to the thanks.

    An OPD the wave no longer covers (or a wave closed meanwhile) is refused by the write
    itself and named on the thank-you page as not stored.
    """
    wave = listing.wave
    wave_id = int(wave.id or 0)
    now = antiabuse.clock()
    seen = antiabuse.seen_keys(request)
    config = current_app.config
    result = SittingResult(foreign=foreign)
    remembered: list[str] = []
    opds = {int(opd.id or 0): opd for opd in form.chosen}
    for submission in form.to_submissions(wave_id=wave_id, base=token.base):
        opd = opds[submission.opd_id]
        limit = limits[submission.opd_id]
        if limit.refused:
            result.outcomes.append(sittings.SittingOutcome(opd.slug, sittings.LIMITED))
            continue
        key = antiabuse.device_key(wave_id, submission.opd_id)
        single = antiabuse.RenderToken(wave_id, submission.opd_id, token.base, token.rendered_at)
        signals: evidence.Evidence = _evidence(
            _target(listing, opd),
            single,
            now=now,
            answers=dict(submission.answers),
            kiosk=None,
            repeat=key in seen,
            burst=limit.burst,
        )
        verdict = antiabuse.assess(
            honeypot=form[antiabuse.HONEYPOT_FIELD].data,
            seconds=now - token.rendered_at,
            min_seconds=float(config["MIN_SUBMIT_SECONDS"]),
            seen_before=signals.repeat_device,
            burst=limit.burst,
        )
        try:
            store_submission(
                _autocommit_session(),
                submission=submission,
                status=verdict.status,
                flag_reason=verdict.flag_reason,
                evidence=signals,
                timezone=_timezone(),
                layout=tally_layout(_target(listing, opd)),
            )
        except WaveNotOpenError:
            result.outcomes.append(sittings.SittingOutcome(opd.slug, sittings.NOT_OPEN))
            continue
        result.outcomes.append(sittings.SittingOutcome(opd.slug, sittings.STORED))
        remembered.append(key)
        after_answer(
            _autocommit_session(), wave_id=wave_id, opd_id=submission.opd_id, burst=limit.burst
        )
    if not remembered and all(item.outcome == sittings.NOT_OPEN for item in result.outcomes):
        # The whole wave stopped taking answers meanwhile: its page as it now stands.
        fresh = _autocommit_session().get(Wave, wave_id, populate_existing=True)
        if fresh is not None and fresh.status in CLOSED_STATUSES:
            page = render_template("survey/wave_unavailable.html", wave=fresh, state="closed")
            return page, 410
    args = {**_lang_args(), DONE_ARG: result.sign()}
    response = redirect(urls.wave_path(wave.slug) + _query(args), code=303)
    if remembered:
        kept = list(seen)
        for key in remembered:
            kept = [k for k in kept if k != key] + [key]
        antiabuse.remember_device(response, kept[:-1], kept[-1])
    return response

"""The workspace forms: waves, OPDs, imports, flag and burst decisions, alarms, sign-in, users.

Each form is a Flask-WTF ``FlaskForm`` (CSRF as everywhere), checks what it can without the
database (form and range: required fields, lengths, dates, whole numbers, choices) and turns
itself into the small immutable value object the service takes (``WaveForm.as_settings()``
gives a :class:`survey.core.waves.WaveSettings`, ``OpdForm.as_input()`` the arguments of
:func:`survey.core.opds.create_opd`), so form objects never reach :mod:`survey.core`. Rules
that need the database stay in the services, which raise coded problems; a form keeps the
problems of the pure checks it borrows from a service (the custom category scheme, the OPD
fields) in ``problems``, and ``errors_by_field()`` merges them with the field errors, one
message per field, keyed as the templates expect. The HTML field names are the ones the pages
have always posted (``target-<opd>``, ``cat-code-<i>``, ``kolom-<i>`` ...), so the templates
keep writing the inputs themselves and read the values back through ``shown()``.

Forms whose fields depend on the database (the OPDs of a wave, the columns of an import file)
are built per request by a ``*_form_class`` function, like the citizen form.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from werkzeug.datastructures import FileStorage, MultiDict
from wtforms import BooleanField, DateField, Field, SelectField, SelectMultipleField, StringField
from wtforms.validators import AnyOf, Optional, Regexp, StopValidation, ValidationError

from survey.core import checklist
from survey.core import flags as flag_service
from survey.core import imports as import_service
from survey.core import opds as opd_service
from survey.core import waves as wave_service
from survey.core.accounts import normalise_username
from survey.core.models import VERIFICATION_MODES
from survey.core.problems import Problem
from survey.core.responsefile import PROFILE_CODES
from survey.web.forms import strip
from survey.web.i18n import format_number
from survey.web.problems import field_errors

CUSTOM = "custom"  # the scheme select's value for "define a new scheme below"
CATEGORY_ROWS = 4
TITLE_MAX_LENGTH = 200
EVALUATOR_MAX_LENGTH = 200
TARGET_MAX = 1_000_000
UPLOAD_SUFFIXES = ("csv", "xlsx")
FLAG_ACTIONS = ("restore", "confirm")

Validator = Callable[[Any, Field], None]


# --- Building blocks -------------------------------------------------------------------------


def cut(limit: int) -> Callable[[Any], Any]:
    """Return a filter that cuts text to ``limit`` characters (far past any field's limit).

    A cut keeps a hostile megabyte out of messages and hashes, while text merely too long
    still reaches the length rule and is reported.
    """

    def apply(value: Any) -> Any:
        """Cut a submitted string; leave anything else alone."""
        return value[:limit] if isinstance(value, str) else value

    return apply


def filled(message: Any) -> Validator:
    """Return a validator refusing an empty value (after the filters), with ``message``.

    Unlike WTForms' ``DataRequired`` a value of spaces counts as filled when the filters keep
    it (a password may be spaces).
    """

    def check(_form: Any, field: Field) -> None:
        """Stop at an empty field."""
        if not field.data:
            raise StopValidation(str(message))

    return check


def at_most(limit: int, message: Any) -> Validator:
    """Return a validator refusing text longer than ``limit`` characters."""

    def check(_form: Any, field: Field) -> None:
        """Refuse text that is too long."""
        if field.data is not None and len(field.data) > limit:
            raise ValidationError(str(message))

    return check


def username_text(value: Any) -> Any:
    """Normalise a submitted username (stripped, lower case) as every account path does."""
    return normalise_username(value) if isinstance(value, str) else value


def whole_target(text: str | None) -> int | None:
    """Return a sample target typed in a form: a whole number 1..TARGET_MAX, else None."""
    text = (text or "").strip()
    if text.isascii() and text.isdigit() and 1 <= int(text) <= TARGET_MAX:
        return int(text)
    return None


def min_rank_value(text: str | None) -> int | None:
    """Return a minimum n for ranking typed in a form (whole number in range), else None."""
    text = (text or "").strip()
    if text.isascii() and text.isdigit() and len(text) <= 9:
        value = int(text)
        if wave_service.valid_min_rank_n(value):
            return value
    return None


class IsoDateField(DateField):
    """A date typed as YYYY-MM-DD (what ``<input type="date">`` sends); blank is None."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Take the ISO format; the message of a bad date is this form's own."""
        kwargs.setdefault("format", "%Y-%m-%d")
        super().__init__(*args, **kwargs)

    def process_formdata(self, valuelist: list[Any]) -> None:
        """Read the date, or leave None for a blank field; raise the translated message."""
        text = (valuelist[0] if valuelist else "").strip()
        self.data = None
        if not text:
            return
        try:
            self.data = date.fromisoformat(text)
        except ValueError:
            raise ValueError(
                str(lazy_gettext("Tanggal tidak valid; gunakan format TTTT-BB-HH."))
            ) from None


class WorkspaceForm(FlaskForm):
    """A workspace form: field errors and borrowed service problems, one message per field."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Bind the fields; no problems yet."""
        super().__init__(*args, **kwargs)
        self.problems: list[Problem] = []

    def errors_by_field(self) -> dict[str, str]:
        """Return the first message of each field (field errors, then problems), by field.

        The key is the field's attribute, which is its HTML name except for the wave's OPD
        checkboxes (``opd``, whose errors the page shows on its ``opds`` fieldset).
        """
        found: dict[str, str] = {}
        for name, field in self._fields.items():
            if field.errors and name != "csrf_token":
                found.setdefault(name, str(field.errors[0]))
        for key, message in field_errors(self.problems).items():
            found.setdefault(key, message)
        return found

    @property
    def csrf_failed(self) -> bool:
        """Return True when the CSRF token was missing, expired or from another session."""
        token = self._fields.get("csrf_token")
        return bool(token is not None and token.errors)

    def shown(self) -> MultiDict[str, str]:
        """Return the values to show in the inputs, by HTML name, as a browser sends them."""
        values: MultiDict[str, str] = MultiDict()
        for name, field in self._fields.items():
            if name == "csrf_token" or isinstance(field, FileField):
                continue
            if isinstance(field, SelectMultipleField):
                for value in field.data or ():
                    values.add(field.name, str(value))
            elif isinstance(field, BooleanField):
                if field.data:
                    values[field.name] = "1"
            else:
                values[field.name] = field._value()
        return values


# --- Waves -----------------------------------------------------------------------------------


class WaveForm(WorkspaceForm):
    """The wave create and edit form; ``wave_form_class`` adds a target per offered OPD."""

    offered: tuple[str, ...] = ()  # the OPD slugs with a target field
    questionnaire_fixed = False  # the edit form of a wave whose questionnaire may not change
    # The answer scale of each questionnaire (id as posted -> points), and of the wave's own
    # questionnaire when it may not change: a custom scheme's bounds run 1..m on it.
    scales: Mapping[str, int] = MappingProxyType({})
    fixed_scale: int | None = None

    slug = StringField(filters=[strip, cut(200)])
    title = StringField(
        filters=[strip, cut(1000)],
        validators=[
            filled(lazy_gettext("Isi judul gelombang.")),
            at_most(TITLE_MAX_LENGTH, lazy_gettext("Judul paling banyak 200 karakter.")),
        ],
    )
    evaluator = StringField(
        filters=[strip, cut(1000)],
        validators=[
            Optional(),
            at_most(
                EVALUATOR_MAX_LENGTH, lazy_gettext("Nama evaluator paling banyak 200 karakter.")
            ),
        ],
    )
    period_start = IsoDateField()
    period_end = IsoDateField()
    # Repeats are dropped in ``as_settings``; unknown slugs are the service's to refuse.
    opds = SelectMultipleField(name="opd", choices=[], validate_choice=False)
    compute_targets = BooleanField()
    questionnaire = StringField(filters=[strip, cut(100)])
    scheme = StringField(filters=[strip, cut(100)])
    scheme_name = StringField(filters=[cut(1000)])
    # Blank (a post without the field) keeps the wave's setting, "off" for a new wave.
    verification = StringField(
        filters=[strip, cut(32)],
        validators=[
            Optional(),
            AnyOf(VERIFICATION_MODES, message=lazy_gettext("Pilih mati, opsional, atau wajib.")),
        ],
    )

    # Blank (a post without the field) keeps the wave's setting, 15 for a new wave.
    min_rank_n = StringField(filters=[strip, cut(32)])
    # A checkbox, with a hidden marker: a post carrying the marker sets the setting from the
    # box (unticked: off); a post without it (an older form) keeps the wave's setting.
    multi_opd = BooleanField()
    multi_opd_shown = StringField(filters=[strip, cut(8)])

    def validate_min_rank_n(self, field: Field) -> None:
        """Refuse anything but blank or a whole number in the allowed range."""
        if field.data and min_rank_value(field.data) is None:
            raise ValidationError(
                _(
                    "Minimum responden untuk peringkat harus bilangan bulat dari %(low)s "
                    "sampai %(high)s.",
                    low=wave_service.MIN_RANK_N_LOW,
                    high=format_number(wave_service.MIN_RANK_N_HIGH, 0),
                )
            )

    def validate_period_end(self, field: Field) -> None:
        """Refuse an end before the start."""
        start = self.period_start.data
        if start and field.data and field.data < start:
            raise ValidationError(
                str(lazy_gettext("Tanggal selesai tidak boleh sebelum tanggal mulai."))
            )

    def validate_opds(self, field: Field) -> None:
        """Ask for at least one OPD."""
        if not field.data:
            raise ValidationError(str(lazy_gettext("Pilih paling sedikit satu OPD.")))

    def validate_questionnaire(self, field: Field) -> None:
        """Ask for a questionnaire id; a fixed form may omit it (a value posted anyway is kept
        for the service to refuse if it differs, rather than silently dropped)."""
        text = field.data or ""
        if text.isascii() and text.isdigit():
            return
        if text or not self.questionnaire_fixed:
            raise ValidationError(str(lazy_gettext("Pilih kuesioner.")))

    def validate_scheme(self, field: Field) -> None:
        """Ask for a scheme (an existing one's slug, or the custom one)."""
        if not field.data:
            raise ValidationError(str(lazy_gettext("Pilih skema kategori.")))

    def chosen(self) -> tuple[str, ...]:
        """Return the chosen OPD slugs, once each, in the order sent."""
        return tuple(dict.fromkeys(self.opds.data or ()))

    def category_rows(self) -> list[tuple[str, str, str, str]]:
        """Return the custom scheme's rows as typed: code, labels, lower bound."""
        return [
            (
                self[f"cat-code-{i}"].data or "",
                self[f"cat-label_id-{i}"].data or "",
                self[f"cat-label_en-{i}"].data or "",
                self[f"cat-min-{i}"].data or "",
            )
            for i in range(CATEGORY_ROWS)
        ]

    def scale_points(self) -> int:
        """Return the answer scale of the chosen questionnaire (4 when unknown)."""
        if self.questionnaire_fixed and self.fixed_scale is not None:
            return self.fixed_scale
        return self.scales.get(self.questionnaire.data or "", 4)

    def custom_scheme(self) -> wave_service.CustomScheme | None:
        """Return the custom scheme when one is chosen and its rows pass the scheme rules."""
        if self.scheme.data != CUSTOM:
            return None
        try:
            return wave_service.check_custom_scheme(
                self.scheme_name.data or "", self.category_rows(), self.scale_points()
            )
        except wave_service.WaveSetupError:
            return None

    def validate(self, extra_validators: Any = None) -> bool:
        """Validate the fields, then the custom scheme by its own (pure) rules."""
        valid = super().validate(extra_validators)
        if self.scheme.data == CUSTOM:
            try:
                wave_service.check_custom_scheme(
                    self.scheme_name.data or "", self.category_rows(), self.scale_points()
                )
            except wave_service.WaveSetupError as exc:
                self.problems.extend(exc.problems)
                valid = False
        return valid

    def targets(self) -> dict[str, int | None]:
        """Return the hand target of each chosen OPD that has a field (None: blank)."""
        return {
            slug: whole_target(self[f"target-{slug}"].data)
            for slug in self.chosen()
            if slug in self.offered
        }

    def as_settings(self) -> wave_service.WaveSettings:
        """Return the checked settings (call after ``validate()`` passed)."""
        custom = self.custom_scheme()
        questionnaire = self.questionnaire.data or ""
        return wave_service.WaveSettings(
            title=self.title.data or "",
            evaluator=self.evaluator.data or None,
            period_start=self.period_start.data,
            period_end=self.period_end.data,
            opd_slugs=self.chosen(),
            questionnaire_id=int(questionnaire) if questionnaire else None,
            scheme_slug=None if custom else self.scheme.data,
            custom_scheme=custom,
            targets=self.targets(),
            compute_targets=bool(self.compute_targets.data),
            verification=self.verification.data or None,
            min_rank_n=min_rank_value(self.min_rank_n.data),
            multi_opd=bool(self.multi_opd.data) if self.multi_opd_shown.data else None,
        )


def _target_rule(slug: str) -> Validator:
    """Return a validator of an OPD's target, applied only when the OPD is chosen."""

    def check(form: Any, field: Field) -> None:
        """Refuse anything but blank or a whole number 1..TARGET_MAX for a chosen OPD."""
        if slug in form.chosen() and field.data and whole_target(field.data) is None:
            raise ValidationError(
                str(
                    lazy_gettext(
                        "Target harus berupa bilangan bulat antara 1 dan 1.000.000, "
                        "atau dikosongkan."
                    )
                )
            )

    return check


def wave_form_class(
    offered: Sequence[str],
    *,
    questionnaire_fixed: bool,
    scales: Mapping[str, int] | None = None,
    fixed_scale: int | None = None,
) -> type[WaveForm]:
    """Build the wave form for the OPDs it offers (a target field each) and its category rows;
    ``scales`` gives each questionnaire's answer scale (id -> points), ``fixed_scale`` that of
    a wave whose questionnaire may not change."""
    attrs: dict[str, Any] = {
        "offered": tuple(offered),
        "questionnaire_fixed": questionnaire_fixed,
        "scales": MappingProxyType(dict(scales or {})),
        "fixed_scale": fixed_scale,
    }
    for slug in offered:
        attrs[f"target-{slug}"] = StringField(
            filters=[strip, cut(100)], validators=[_target_rule(slug)]
        )
    for i in range(CATEGORY_ROWS):
        for part in ("code", "label_id", "label_en", "min"):
            attrs[f"cat-{part}-{i}"] = StringField(filters=[cut(1000)])
    return type("WaveForm", (WaveForm,), attrs)


@dataclass(frozen=True)
class StatusChange:
    """A move in a wave's life cycle: the action and the checklist items acknowledged."""

    action: str
    acknowledged: tuple[str, ...] = ()
    note: str | None = None  # the public change note of a corrected version
    reason: str | None = None  # why a published wave is being corrected (audit only)


class WaveStatusForm(WorkspaceForm):
    """The open, close, publish and revise buttons of a wave's page (publish with a tick per
    checklist item)."""

    # The service knows the actions and their order; an unknown one is its coded problem.
    action = StringField(filters=[cut(32)])
    # One checkbox per non-blocking item of the checklist, its value the item's code; a code
    # the checklist does not know is dropped (the service refuses what was not acknowledged).
    acknowledge = SelectMultipleField(choices=[], validate_choice=False)
    # Cut above the service's limit, so that a too long text is its coded problem.
    note = StringField(filters=[cut(2001)])
    reason = StringField(filters=[cut(2001)])

    def as_change(self) -> StatusChange:
        """Return the requested move."""
        ticked = set(self.acknowledge.data or ())
        return StatusChange(
            action=self.action.data or "",
            acknowledged=tuple(c for c in checklist.ACKNOWLEDGEABLE_CODES if c in ticked),
            note=self.note.data or None,
            reason=self.reason.data or None,
        )


# --- OPDs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpdInput:
    """An OPD's fields as typed, checked for form and range (the service checks the rest)."""

    name: str
    short_name: str
    service_population: str
    service_hours: str = ""
    slug: str = ""


class OpdFieldsForm(WorkspaceForm):
    """The fields of an OPD's edit form: name, short name, service population and hours."""

    # Cut well past each limit, so too long is still reported with its length.
    name = StringField(filters=[cut(1000)])
    short_name = StringField(filters=[cut(1000)])
    service_population = StringField(filters=[cut(100)])
    service_hours = StringField(filters=[cut(100)])

    def validate(self, extra_validators: Any = None) -> bool:
        """Check the fields by the OPD rules every path shares (``opds.check_fields``)."""
        valid = super().validate(extra_validators)
        _fields, problems = opd_service.check_fields(
            slug=self._fields["slug"].data if "slug" in self._fields else "",
            name=self.name.data,
            short_name=self.short_name.data,
            service_population=self.service_population.data,
            service_hours=self.service_hours.data,
        )
        # The edit form has no slug: an existing slug is not judged again.
        self.problems.extend(p for p in problems if p.field in self._fields)
        return valid and not self.problems

    def as_input(self) -> OpdInput:
        """Return the fields for ``create_opd`` / ``update_opd``."""
        slug = self._fields["slug"].data if "slug" in self._fields else ""
        return OpdInput(
            slug=slug or "",
            name=self.name.data or "",
            short_name=self.short_name.data or "",
            service_population=self.service_population.data or "",
            service_hours=self.service_hours.data or "",
        )


class OpdForm(OpdFieldsForm):
    """The add-an-OPD form: the slug, then the fields of the edit form."""

    slug = StringField(filters=[cut(200)])


class OpdActionForm(WorkspaceForm):
    """Which button of an OPD's page was pressed: save the fields, deactivate or reactivate,
    add a service to its list or remove one."""

    action = StringField(
        validators=[
            AnyOf(
                (
                    "update",
                    "deactivate",
                    "activate",
                    "service-add",
                    "service-remove",
                    "unit-add",
                    "unit-deactivate",
                    "unit-activate",
                )
            )
        ]
    )


class OpdUnitForm(WorkspaceForm):
    """A service unit to add (slug and name), or to deactivate or reactivate (its slug); the
    unit service judges the values."""

    unit_slug = StringField(filters=[cut(1000)])
    unit_name = StringField(filters=[cut(1000)])


class OpdServiceForm(WorkspaceForm):
    """A service to add to an OPD's list, or to remove from it (the service judges the name)."""

    service = StringField(filters=[cut(1000)])

    def name(self) -> str:
        """Return the service's name as typed."""
        return self.service.data or ""


class OpdImportForm(WorkspaceForm):
    """The OPD CSV upload: the file and the check-only tick."""

    file = FileField(validators=[FileRequired(lazy_gettext("Pilih berkas CSV."))])
    dry_run = BooleanField()


def upload_name(upload: FileStorage, *, default: str = "") -> str:
    """Return an upload's base name (browsers may send a path), at most 255 characters."""
    name = (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1][:255].strip()
    return name or default


class LogoForm(WorkspaceForm):
    """A wave's logo upload: one PNG or JPEG file (its content is checked by the service)."""

    berkas = FileField(validators=[FileRequired(lazy_gettext("Pilih berkas PNG atau JPEG."))])


# --- Response imports ------------------------------------------------------------------------


class ImportUploadForm(WorkspaceForm):
    """A wave's response import: one CSV or XLSX file."""

    berkas = FileField(
        validators=[
            FileRequired(lazy_gettext("Pilih berkas CSV atau XLSX.")),
            FileAllowed(
                UPLOAD_SUFFIXES,
                lazy_gettext(
                    "Jenis berkas tidak didukung: simpan sebagai .xlsx (Excel) atau CSV UTF-8."
                ),
            ),
        ]
    )


class MappingForm(WorkspaceForm):
    """The mapping step of an import: a field per column, and the time format."""

    columns = 0

    format_waktu = StringField(filters=[cut(1000)])
    # The tick under the list of elements the import would leave empty, and the keys of the
    # list it was given for (a tick for another list is no acknowledgement of this one).
    akui_kosong = BooleanField()
    kunci_kosong = StringField()

    def process(
        self, formdata: Any = None, obj: Any = None, data: Any = None, **kwargs: Any
    ) -> None:
        """Fill the fields, keeping the posted data for the per-answer selects."""
        wrapped = self.meta.wrap_formdata(self, formdata)
        self._posted: Mapping[str, str] = wrapped if wrapped is not None else MultiDict()
        super().process(wrapped, obj, data, **kwargs)

    def value_choices(self) -> dict[str, dict[str, str]] | None:
        """Return the readings of profile answers sent (``posted_value_choices``)."""
        return posted_value_choices(self._posted)

    def acknowledged(self, keys: str) -> bool:
        """Return True when the tick was given for exactly this list of empty elements."""
        return bool(self.akui_kosong.data) and (self.kunci_kosong.data or "") == keys

    def validate_format_waktu(self, field: Field) -> None:
        """Refuse a time format that cannot read what it writes."""
        try:
            import_service.check_time_format(field.data or "")
        except import_service.DataIOError:
            raise ValidationError(
                str(
                    lazy_gettext(
                        "Format waktu tidak dikenali; contoh: %(example)s",
                        example="%d/%m/%Y %H:%M:%S",
                    )
                )
            ) from None

    def bad_choice(self) -> bool:
        """Return True when a column names a field the form never offered (a forged post)."""
        return any(self[f"kolom-{i}"].errors for i in range(self.columns))

    def fields(self) -> list[str | None]:
        """Return the chosen field of each column (None: not imported)."""
        return [self[f"kolom-{i}"].data or None for i in range(self.columns)]

    def time_format(self) -> str | None:
        """Return the checked time format (None: guess it); call after ``validate()``."""
        return import_service.check_time_format(self.format_waktu.data or "")


def mapping_form_class(columns: int, known: Collection[str]) -> type[MappingForm]:
    """Build the mapping form of a file with ``columns`` columns and these canonical fields.

    Besides the fields and "" (ignore the column), a column may hold "?": the placeholder of a
    column that resembles a question and waits for the evaluator's choice.
    """
    choices = ["", import_service.UNKNOWN_VALUE, *sorted(known)]
    attrs: dict[str, Any] = {"columns": columns}
    for i in range(columns):
        attrs[f"kolom-{i}"] = SelectField(choices=choices, default="")
    return type("MappingForm", (MappingForm,), attrs)


VALUE_FIELD = re.compile(r"^nilai-(sex|education|occupation)-(\d{1,4})$")


def posted_value_choices(data: Mapping[str, str]) -> dict[str, dict[str, str]] | None:
    """Return the readings of profile answers a mapping form sent: field -> text -> code.

    Each select ``nilai-FIELD-N`` holds a code of FIELD, "" (store empty) or "?" (not chosen,
    left out here) and its hidden ``teks-FIELD-N`` the answer as the file writes it. Return
    None for a post the page never offers (an unknown code, a missing text).
    """
    chosen: dict[str, dict[str, str]] = {}
    for key, value in data.items():
        match = VALUE_FIELD.match(key)
        if match is None:
            continue
        name, number = match.groups()
        text = data.get(f"teks-{name}-{number}")
        if text is None or len(text) > 1000:
            return None
        if value == import_service.UNKNOWN_VALUE:
            continue
        if value not in ("", *PROFILE_CODES[name]):
            return None
        chosen.setdefault(name, {})[text] = value
    return chosen


# --- Flags -----------------------------------------------------------------------------------


class FlagDecisionForm(WorkspaceForm):
    """A decision on a flagged response: restore it to the count or confirm its exclusion."""

    action = StringField(validators=[AnyOf(FLAG_ACTIONS)])


@dataclass(frozen=True)
class GroupDecision:
    """A decision on a whole burst group: which answers (OPD, network, hour) and what to do."""

    opd: str
    network: str
    hour: datetime
    action: str


def _iso_hour(_form: Any, field: Field) -> None:
    """Refuse a group hour that is not an ISO time with its offset (as the page writes it)."""
    try:
        moment = datetime.fromisoformat(field.data or "")
    except ValueError:
        raise ValidationError("hour") from None
    if moment.tzinfo is None:
        raise ValidationError("hour")


class BurstGroupForm(WorkspaceForm):
    """Flag or restore every answer of a burst group; the page's hidden fields name the group."""

    opd = StringField(validators=[filled("opd"), at_most(64, "opd")])
    network = StringField(validators=[Regexp(r"^[0-9a-f]{1,16}$")])
    hour = StringField(validators=[filled("hour"), at_most(40, "hour"), _iso_hour])
    action = StringField(validators=[AnyOf(flag_service.GROUP_ACTIONS)])
    # Set by the confirmation page's button; without it the view shows that page first.
    yakin = StringField(validators=[Optional(), AnyOf(("1",))])

    @property
    def confirmed(self) -> bool:
        """Return True when the confirmation page's button sent the group."""
        return self.yakin.data == "1"

    def as_decision(self) -> GroupDecision:
        """Return the validated decision."""
        return GroupDecision(
            opd=self.opd.data,
            network=self.network.data,
            hour=datetime.fromisoformat(self.hour.data),
            action=self.action.data,
        )


class AlarmClearForm(WorkspaceForm):
    """Clear an alarm (the button carries only the CSRF token; the URL names the alarm)."""


# --- Sign-in ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    """What the sign-in form sent: the normalised username and the password."""

    username: str
    password: str


class LoginForm(WorkspaceForm):
    """The sign-in form."""

    # No name is longer than 64 characters, so a longer one is cut rather than refused: it
    # fails like any wrong name (and is counted), without a hint that names have a limit.
    username = StringField(
        filters=[username_text, cut(64)],
        validators=[filled(lazy_gettext("Isi nama pengguna."))],
    )
    password = StringField(
        filters=[cut(1024)], validators=[filled(lazy_gettext("Isi kata sandi."))]
    )

    def as_credentials(self) -> Credentials:
        """Return the credentials to check."""
        return Credentials(username=self.username.data or "", password=self.password.data or "")


# --- Users -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserInput:
    """What a user form sent, cut to sane lengths (the account rules judge the values)."""

    username: str = ""
    role: str = ""
    opd: str = ""
    password: str = ""
    confirmation: str = ""

    @property
    def opd_slug(self) -> str | None:
        """Return the OPD slug, only for the OPD-head role (the others name no OPD)."""
        return (self.opd or None) if self.role == "opd-head" else None


class UserFieldsForm(WorkspaceForm):
    """The fields the user forms share: role and OPD, a password and its confirmation."""

    # The account service judges the values (in coded problems); the form only cuts them
    # well past any limit, so a hostile megabyte never reaches a message or a hash.
    role = StringField(filters=[cut(32)])
    opd = StringField(filters=[cut(100)])
    password = StringField(filters=[cut(1024)])
    confirmation = StringField(filters=[cut(1024)])

    def as_input(self) -> UserInput:
        """Return the values for the account service."""
        username = self._fields["username"].data if "username" in self._fields else ""
        return UserInput(
            username=username or "",
            role=self.role.data or "",
            opd=self.opd.data or "",
            password=self.password.data or "",
            confirmation=self.confirmation.data or "",
        )


class NewUserForm(UserFieldsForm):
    """The new-user form: a username, then the shared fields."""

    username = StringField(filters=[username_text, cut(100)])


class UserChangeForm(UserFieldsForm):
    """A user's page: which change (``action``) with the fields of that change."""

    action = StringField(validators=[AnyOf(("role", "password", "deactivate", "activate"))])


# --- Enumerators ----------------------------------------------------------------------------


class EnumeratorAccountForm(WorkspaceForm):
    """A new enumerator account on a wave's enumerator page: no role to choose, no OPD."""

    username = StringField(filters=[username_text, cut(100)])
    password = StringField(filters=[cut(1024)])
    confirmation = StringField(filters=[cut(1024)])

    def as_input(self) -> UserInput:
        """Return the values for the account service, with the enumerator role."""
        return UserInput(
            username=self.username.data or "",
            role="enumerator",
            password=self.password.data or "",
            confirmation=self.confirmation.data or "",
        )


@dataclass(frozen=True)
class ScopeGrant:
    """A scope to grant: which enumerator, and one OPD of the wave (None: every OPD)."""

    username: str
    opd_slug: str | None


class ScopeGrantForm(WorkspaceForm):
    """Give an enumerator a wave's OPD, or all of them (an empty ``opd``)."""

    # The enumerator service judges both (an enumerator, an OPD of the wave) in coded problems.
    user = StringField(filters=[username_text, cut(100)])
    opd = StringField(filters=[strip, cut(100)])

    def as_grant(self) -> ScopeGrant:
        """Return the grant for the enumerator service."""
        return ScopeGrant(username=self.user.data or "", opd_slug=self.opd.data or None)


# --- Kiosks and visit codes ------------------------------------------------------------------


@dataclass(frozen=True)
class KioskEnrolment:
    """A device to enrol: the OPD (and service unit) it serves and its label."""

    opd_slug: str
    label: str
    faces: bool = False  # show the face scale beside the answer labels
    unit_slug: str | None = None


class KioskEnrolForm(WorkspaceForm):
    """ "Enrol this device" on a wave's kiosk page: which OPD or unit, and a label."""

    # The kiosk service judges both (OPD in the wave, its unit, label rules) in coded problems.
    opd = StringField(filters=[strip, cut(200)])  # "opd" or "opd/unit", 64 characters each
    label = StringField(filters=[cut(1000)])
    faces = BooleanField()

    def as_enrolment(self) -> KioskEnrolment:
        """Return the enrolment for the kiosk service; ``opd`` is an OPD's slug, or
        ``opd/unit`` for one of its service units."""
        opd, _slash, unit = (self.opd.data or "").partition("/")
        return KioskEnrolment(
            opd_slug=opd,
            label=self.label.data or "",
            faces=bool(self.faces.data),
            unit_slug=unit or None,
        )


class ConfirmForm(WorkspaceForm):
    """A button that changes state and carries nothing but its CSRF token (revoke a kiosk)."""


@dataclass(frozen=True)
class CodeBatchRequest:
    """A batch of printed codes to make: for which OPD, how many."""

    opd_slug: str
    count: int


# Codes one web request makes: a thousand tickets render in about ten seconds, well inside
# the request timeout; larger batches (up to 10,000) are ``ikm codes``'s.
WEB_CODE_BATCH_MAX = 1000


class CodeBatchForm(WorkspaceForm):
    """The printed-codes form: an OPD of the wave and how many codes (1..1000)."""

    opd = StringField(filters=[strip, cut(100)])
    count = StringField(filters=[strip, cut(20)])

    def validate_count(self, field: Field) -> None:
        """Ask for a whole number from 1 to WEB_CODE_BATCH_MAX."""
        text = field.data or ""
        if not (text.isascii() and text.isdigit() and 1 <= int(text) <= WEB_CODE_BATCH_MAX):
            # gettext, not lazy_gettext: the catalogue is extracted with the default keywords.
            raise ValidationError(
                _(
                    "Jumlah kode harus bilangan bulat dari 1 sampai %(n)s; untuk lebih banyak "
                    "gunakan perintah ikm codes.",
                    n=format_number(WEB_CODE_BATCH_MAX, 0),
                )
            )

    def as_request(self) -> CodeBatchRequest:
        """Return the batch asked for (call after ``validate()`` passed)."""
        return CodeBatchRequest(opd_slug=self.opd.data or "", count=int(self.count.data or 0))

"""The citizen survey form: one radio group per element, the optional respondent fields.

The questions depend on the wave's questionnaire (its element codes and scale), so the form
class is built per request by ``survey_form_class``; building it inside the request also lets
every label and message go through ``gettext`` in the citizen's language. A valid form turns
itself into a ``survey.core.submissions.Submission`` value object, so views and the data layer never
handle form objects. Hidden: ``token`` (the signed render token: wave, OPD, submission id, render
time) and the honeypot ``website``; see ``survey.web.antiabuse``. Where the wave asks for visit
codes the form has a ``visit_code`` field. The channel and the submission id never come from
the form.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from flask import request
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import (
    Field,
    FormField,
    HiddenField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms import Form as PlainForm
from wtforms.validators import Optional, ValidationError

from survey.core import locales, rules, sittings
from survey.core.locales import Question
from survey.core.models import EDUCATIONS, OCCUPATIONS, SEXES, Opd
from survey.core.notapplicable import NOT_APPLICABLE
from survey.core.submissions import Submission
from survey.web import antiabuse
from survey.web.i18n import format_number

# The limits imports check too (one set, in core), so the form and a file agree.
AGE_MIN, AGE_MAX = rules.AGE_MIN, rules.AGE_MAX
SERVICE_MAX_LENGTH = rules.SERVICE_MAX_LENGTH
COMMENT_MAX_LENGTH = rules.COMMENT_MAX_LENGTH  # the setting may only lower it
# Hidden fields of forms rendered before the render token: accepted from an old page (it then
# gets a fresh token) and ignored, so they can change nothing.
LEGACY_NAMES = frozenset({"submission_id", "t", "channel"})
VISIT_CODE_MAX_LENGTH = 20
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_AGE_RE = re.compile(r"[0-9]{1,3}")


# The questions in a language: one selection, in core (the CLI's ``questionnaire show`` too).
questions_for = locales.questions


def clean_text(value: str | None) -> str | None:
    """Normalise free text: LF newlines, no control characters, trimmed; empty becomes None."""
    if value is None:
        return None
    # Browsers send CRLF but count maxlength in LF; PostgreSQL refuses NUL characters.
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = _CONTROL_CHARS.sub("", value).strip()
    return value or None


def strip(value: Any) -> Any:
    """Trim surrounding whitespace from a submitted string, so blank means unanswered."""
    return value.strip() if isinstance(value, str) else value


def _one_of(values: Sequence[str], message: str) -> Callable[[Any, Field], None]:
    """Return a validator accepting only ``values``."""

    def check(_form: Any, field: Field) -> None:
        """Refuse a value outside the allowed ones."""
        if field.data not in values:
            raise ValidationError(message)

    return check


def _max_length(limit: int, message: str) -> Callable[[Any, Field], None]:
    """Return a validator refusing text longer than ``limit`` characters."""

    def check(_form: Any, field: Field) -> None:
        """Refuse text that is too long."""
        if field.data is not None and len(field.data) > limit:
            raise ValidationError(message)

    return check


def _age(message: str) -> Callable[[Any, Field], None]:
    """Return a validator for a whole number of years within AGE_MIN..AGE_MAX."""

    def check(_form: Any, field: Field) -> None:
        """Refuse anything but plain ASCII digits in range."""
        value = field.data or ""
        if not _AGE_RE.fullmatch(value) or not AGE_MIN <= int(value) <= AGE_MAX:
            raise ValidationError(message)

    return check


class SurveyForm(FlaskForm):
    """The fields every survey has; ``survey_form_class`` adds the questions."""

    questions: tuple[Question, ...] = ()
    comment_max: int = COMMENT_MAX_LENGTH
    age_min: int = AGE_MIN
    age_max: int = AGE_MAX
    service_max: int = SERVICE_MAX_LENGTH
    verification: str = "off"
    service_choices: tuple[str, ...] = ()  # the OPD's services (empty: the field is not shown)
    # What was posted, when not the request's form (an answer sent later as JSON).
    posted_data: MultiDict[str, str] | None = None

    def answer_fields(self) -> list[tuple[Question, Field]]:
        """Return each question with its radio field, in order."""
        return [(q, self[q.field_name]) for q in self.questions]

    def known_names(self) -> set[str]:
        """Return the names this form accepts in a POST."""
        return {field.name for field in self} | LEGACY_NAMES

    def validate(self, extra_validators: Any = None) -> bool:
        """Validate every field, then refuse unknown or repeated names and an empty survey."""
        valid = super().validate(extra_validators)
        posted = request.form if self.posted_data is None else self.posted_data
        unknown = sorted(set(posted.keys()) - self.known_names())
        if unknown:
            names = ", ".join(name[:32] for name in unknown[:5])
            self.form_errors.append(
                _("Formulir berisi isian yang tidak dikenal: %(names)s.", names=names)
            )
            valid = False
        repeated = sorted(name for name in set(posted.keys()) if len(posted.getlist(name)) > 1)
        if repeated:
            names = ", ".join(name[:32] for name in repeated[:5])
            self.form_errors.append(
                _("Isian ini dikirim lebih dari sekali: %(names)s.", names=names)
            )
            valid = False
        if not any(strip(posted.get(q.code)) for q in self.questions):
            self.form_errors.append(_("Jawablah paling sedikit satu pertanyaan."))
            valid = False
        return valid

    @property
    def csrf_failed(self) -> bool:
        """Return True when the CSRF token was missing, expired or from another session."""
        return bool(getattr(self, "csrf_token", None) and self.csrf_token.errors)

    def field_errors(self) -> list[tuple[str, str, str]]:
        """Return (anchor id, field label, message) for each field error, in page order."""
        found = []
        for question, field in self.answer_fields():
            for message in field.errors:
                found.append((f"q-{question.code}", str(field.label.text), message))
        for name in ("sex", "age", "education", "occupation", "service", "comment", "visit_code"):
            if name not in self:
                continue
            field = self[name]
            for message in field.errors:
                found.append((f"f-{name}", str(field.label.text), message))
        return found

    def prepare_rerender(self, token: str) -> None:
        """Keep the answers for another try, with ``token`` and an empty honeypot."""
        self.token.data = token
        self.website.data = ""

    def visit_code_value(self) -> str | None:
        """Return the visit code typed, if the form asks for one."""
        if "visit_code" not in self:
            return None
        return self.visit_code.data or None

    def to_submission(
        self, *, wave_id: int, opd_id: int, submission_id: str, channel: str
    ) -> Submission:
        """Return the validated data as a value object ready to store."""
        # "0" is the "not applicable" answer: chosen, so kept (a non-empty string).
        answers = {q.position: int(field.data) for q, field in self.answer_fields() if field.data}
        return Submission(
            wave_id=wave_id,
            opd_id=opd_id,
            submission_id=submission_id,
            channel=channel,
            answers=answers,
            sex=self.sex.data or None,
            age=int(self.age.data) if self.age.data else None,
            education=self.education.data or None,
            occupation=self.occupation.data or None,
            service=self.service.data or None,
            comment=self.comment.data,
        )


def survey_form_class(
    questions: Sequence[Question],
    *,
    scale_points: int,
    comment_max: int,
    verification: str = "off",
    services: Sequence[str] = (),
) -> type[SurveyForm]:
    """Build the form class for these questions, labels and messages in the current language.

    ``verification`` is the wave's visit-code setting: "optional" and "required" add the code
    field (checked against the stored codes when the answer is stored, not here). ``services``
    are the names of the OPD's active services, offered as the service choice.
    """
    comment_max = min(comment_max, COMMENT_MAX_LENGTH)
    points = [str(i) for i in range(1, scale_points + 1)]
    choice_message = _("Pilih salah satu pilihan yang tersedia.")
    attrs: dict[str, Any] = {"questions": tuple(questions), "comment_max": comment_max}
    for question in questions:
        choices = [
            SelectChoice(point, label) for point, label in zip(points, question.labels, strict=True)
        ]
        allowed = list(points)
        if question.not_applicable is not None:
            choices.append(SelectChoice(str(NOT_APPLICABLE), question.not_applicable))
            allowed.append(str(NOT_APPLICABLE))
        attrs[question.field_name] = RadioField(
            _("Pertanyaan %(number)d", number=question.number),
            name=question.code,
            filters=[strip],
            choices=choices,
            validate_choice=False,
            validators=[
                Optional(),
                _one_of(allowed, _("Pilih salah satu dari %(n)d jawaban.", n=len(allowed))),
            ],
        )
    attrs["sex"] = RadioField(
        _("Jenis kelamin"),
        choices=[SelectChoice("L", _("Laki-laki")), SelectChoice("P", _("Perempuan"))],
        filters=[strip],
        validate_choice=False,
        validators=[Optional(), _one_of(SEXES, choice_message)],
    )
    attrs["age"] = StringField(
        _("Umur (tahun)"),
        filters=[strip],
        validators=[
            Optional(),
            _age(
                _(
                    "Isi umur dengan angka bulat dari %(min)d sampai %(max)d.",
                    min=AGE_MIN,
                    max=AGE_MAX,
                )
            ),
        ],
    )
    # The codes are what Indonesians read on paper forms; English gets them explained.
    education_labels = {
        "SD": _("SD"),
        "SMP": _("SMP"),
        "SMA": _("SMA"),
        "D1-D3": _("D1-D3"),
        "S1": _("S1"),
        "S2": _("S2"),
        "S3": _("S3"),
    }
    attrs["education"] = SelectField(
        _("Pendidikan terakhir"),
        choices=[
            SelectChoice("", _("(tidak diisi)")),
            *(SelectChoice(v, education_labels[v]) for v in EDUCATIONS),
        ],
        filters=[strip],
        validate_choice=False,
        validators=[Optional(), _one_of(EDUCATIONS, choice_message)],
    )
    occupation_labels = {
        "PNS": _("PNS"),
        "TNI": _("TNI"),
        "POLRI": _("POLRI"),
        "Swasta": _("Pegawai swasta"),
        "Wirausaha": _("Wirausaha"),
        "Lainnya": _("Lainnya"),
    }
    attrs["occupation"] = SelectField(
        _("Pekerjaan"),
        choices=[
            SelectChoice("", _("(tidak diisi)")),
            *(SelectChoice(v, occupation_labels[v]) for v in OCCUPATIONS),
        ],
        filters=[strip],
        validate_choice=False,
        validators=[Optional(), _one_of(OCCUPATIONS, choice_message)],
    )
    # A choice from the OPD's own list, never typed: a citizen's text must not reach a report
    # or a public page as a service (an empty list leaves the question off the page).
    attrs["service_choices"] = tuple(services)
    attrs["service"] = SelectField(
        _("Layanan yang Anda terima"),
        choices=[SelectChoice("", _("(tidak diisi)")), *(SelectChoice(s, s) for s in services)],
        filters=[strip],
        validate_choice=False,
        validators=[Optional(), _one_of(tuple(services), choice_message)],
    )
    too_long = _("Paling banyak %(max)s karakter.", max=format_number(comment_max, 0))
    attrs["comment"] = TextAreaField(
        _("Kritik dan saran"),
        filters=[clean_text],
        validators=[Optional(), _max_length(comment_max, too_long)],
    )
    if verification in ("optional", "required"):
        attrs["visit_code"] = StringField(
            _("Kode kunjungan (pada karcis/struk)"),
            filters=[clean_text],
            validators=[
                Optional(),
                _max_length(
                    VISIT_CODE_MAX_LENGTH,
                    _("Paling banyak %(max)s karakter.", max=VISIT_CODE_MAX_LENGTH),
                ),
            ],
        )
    attrs["verification"] = verification
    attrs["token"] = HiddenField()
    attrs[antiabuse.HONEYPOT_FIELD] = StringField(_("Jangan isi kolom ini"))
    return type("SurveyForm", (SurveyForm,), attrs)


# --- The multi-OPD sitting (survey.web.onelink) ----------------------------------------------


class SittingSection(PlainForm):
    """One OPD's part of a sitting: its questions, its service (if it lists any), a comment."""

    questions: tuple[Question, ...] = ()
    service_choices: tuple[str, ...] = ()
    comment_max: int = 0


def sitting_section_class(single: type[SurveyForm]) -> type[SittingSection]:
    """Return the section class of one OPD, made of the fields of its own survey form.

    The same field definitions, so a question, a service or a comment is checked exactly as
    on the OPD's own page; a visit code is not among them (a wave requiring codes offers no
    sittings, and an optional code belongs to that OPD's own page).
    """
    names = [q.field_name for q in single.questions]
    if single.service_choices:
        names.append("service")
    names.append("comment")
    attrs: dict[str, Any] = {name: getattr(single, name) for name in names}
    attrs.update(
        questions=single.questions,
        service_choices=single.service_choices,
        comment_max=single.comment_max,
    )
    return type("SittingSection", (SittingSection,), attrs)


PROFILE_FIELDS = ("sex", "age", "education", "occupation")


class SittingForm(FlaskForm):
    """The profile once, then a section per chosen OPD, its fields named ``o<id>-U1`` ..."""

    chosen: tuple[Opd, ...] = ()
    age_min: int = AGE_MIN
    age_max: int = AGE_MAX

    def sections(self) -> list[tuple[Opd, SittingSection]]:
        """Return each chosen OPD with its bound section form, in the order chosen."""
        return [(opd, self[f"o{opd.id}"].form) for opd in self.chosen]

    def known_names(self) -> set[str]:
        """Return every name this form accepts in a POST (``opd`` repeats: the OPDs chosen)."""
        names = {"opd"}
        for bound in self:
            if isinstance(bound, FormField):
                names.update(inner.name for inner in bound.form)
            else:
                names.add(bound.name)
        return names

    def validate(self, extra_validators: Any = None) -> bool:
        """Validate every field, refuse unknown or repeated names and an unanswered section."""
        valid = super().validate(extra_validators)
        posted = request.form
        unknown = sorted(set(posted.keys()) - self.known_names())
        if unknown:
            names = ", ".join(name[:32] for name in unknown[:5])
            self.form_errors.append(
                _("Formulir berisi isian yang tidak dikenal: %(names)s.", names=names)
            )
            valid = False
        repeated = sorted(
            name for name in set(posted.keys()) if name != "opd" and len(posted.getlist(name)) > 1
        )
        if repeated:
            names = ", ".join(name[:32] for name in repeated[:5])
            self.form_errors.append(
                _("Isian ini dikirim lebih dari sekali: %(names)s.", names=names)
            )
            valid = False
        # A ticked OPD left blank is far more likely scrolled past than meant: as on the single
        # page, it is an error, and the citizen answers it or goes back to untick it.
        self.empty_sections: list[Opd] = [
            opd
            for opd, section in self.sections()
            if not any(strip(section[q.field_name].data) for q in section.questions)
        ]
        return valid and not self.empty_sections

    @property
    def csrf_failed(self) -> bool:
        """Return True when the CSRF token was missing, expired or from another session."""
        return bool(getattr(self, "csrf_token", None) and self.csrf_token.errors)

    def field_errors(self) -> list[tuple[str, str, str]]:
        """Return (anchor id, label, message) for each error, in page order."""
        found = []
        for name in PROFILE_FIELDS:
            bound = self[name]
            for message in bound.errors:
                found.append((f"f-{name}", str(bound.label.text), message))
        empty = {opd.id for opd in getattr(self, "empty_sections", [])}
        for opd, section in self.sections():
            label = opd.short_name or opd.name
            if opd.id in empty:
                message = _(
                    "Jawablah paling sedikit satu pertanyaan untuk OPD ini, atau kembali ke "
                    "daftar dan hapus centangnya."
                )
                found.append((f"s{opd.id}", label, message))
            for q in section.questions:
                for message in section[q.field_name].errors:
                    found.append((f"s{opd.id}-q-{q.code}", f"{label}: {q.number}", message))
            for name in ("service", "comment"):
                if name in section:
                    for message in section[name].errors:
                        text = f"{label}: {section[name].label.text}"
                        found.append((f"s{opd.id}-{name}", text, message))
        return found

    def prepare_rerender(self, token: str) -> None:
        """Keep the answers for another try, with ``token`` and an empty honeypot."""
        self.token.data = token
        self[antiabuse.HONEYPOT_FIELD].data = ""

    def to_submissions(self, *, wave_id: int, base: str) -> list[Submission]:
        """Return one submission per chosen OPD: its answers, the profile, one sitting id."""
        sitting = sittings.sitting_id(base)
        sex = self.sex.data or None
        age = int(self.age.data) if self.age.data else None
        education = self.education.data or None
        occupation = self.occupation.data or None
        found = []
        for opd, section in self.sections():
            opd_id = int(opd.id or 0)
            answers = {
                q.position: int(section[q.field_name].data)
                for q in section.questions
                if section[q.field_name].data
            }
            found.append(
                Submission(
                    wave_id=wave_id,
                    opd_id=opd_id,
                    submission_id=sittings.submission_id(base, opd_id),
                    channel="qr",
                    answers=answers,
                    sex=sex,
                    age=age,
                    education=education,
                    occupation=occupation,
                    service=(section["service"].data or None) if "service" in section else None,
                    comment=section["comment"].data,
                    sitting=sitting,
                )
            )
        return found


def sitting_form_class(
    chosen: Sequence[Opd], singles: Sequence[type[SurveyForm]]
) -> type[SittingForm]:
    """Build the sitting form of the ``chosen`` OPDs from each one's own survey form class."""
    first = singles[0]
    attrs: dict[str, Any] = {name: getattr(first, name) for name in PROFILE_FIELDS}
    attrs["chosen"] = tuple(chosen)
    attrs["token"] = HiddenField()
    attrs[antiabuse.HONEYPOT_FIELD] = getattr(first, antiabuse.HONEYPOT_FIELD)
    for opd, single in zip(chosen, singles, strict=True):
        section = sitting_section_class(single)
        attrs[f"o{opd.id}"] = FormField(section, separator="-", label=opd.name)
    return type("SittingForm", (SittingForm,), attrs)


class SittingChoiceForm(FlaskForm):
    """The OPDs a sitting's POST names (its hidden ``opd`` fields) and its render token."""

    class Meta:
        """The sitting form around it carries the CSRF token."""

        csrf = False

    opd = SelectMultipleField(choices=[], validate_choice=False)
    token = HiddenField()  # the sitting's render token, read before its form is built

    def slugs(self, limit: int = 50) -> list[str]:
        """Return the slugs sent (each cut to a slug's length), at most ``limit`` of them."""
        return [str(slug)[: rules.SLUG_MAX_LENGTH] for slug in (self.opd.data or [])[:limit]]

"""The tables of the service: OPDs, questionnaires, category schemes, waves and responses.

Answers are stored *wide*, one small-integer column per question position (``a1`` ..
``a24``) on the response row, rather than one row per answer. Scoring needs per-OPD sums and
sums of products of the answers; with the wide layout that is one pass over one row per
respondent, where a long answer table would be nine rows per respondent and a join.
Which question a position holds is given by the questionnaire's elements.

Times are timezone-aware UTC ``datetime`` values (SQLModel's UTC column type: ``timestamptz``
on PostgreSQL, UTC without an offset on SQLite); pages convert them to Asia/Jakarta.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, SQLModel

MAX_ITEMS = 24  # question positions a questionnaire can use (a1 .. a24)
ANSWER_COLUMNS = tuple(f"a{i}" for i in range(1, MAX_ITEMS + 1))

WAVE_STATUSES = ("draft", "open", "closed", "published")
CHANNELS = ("qr", "kiosk", "import", "interview")  # interview: recorded by an enumerator
RESPONSE_STATUSES = ("counted", "flagged")
FLAG_REASONS = ("duplicate-device", "bot-suspect", "burst", "manual")
VERIFICATION_MODES = ("off", "optional", "required")  # visit codes, a wave setting
CODE_KINDS = ("ticket", "counter")  # printed one-time codes; a counter screen's rotating code
ALARM_KINDS = ("rate", "pattern", "mean-jump", "burst")
SEXES = ("L", "P")
EDUCATIONS = ("SD", "SMP", "SMA", "D1-D3", "S1", "S2", "S3")
OCCUPATIONS = ("PNS", "TNI", "POLRI", "Swasta", "Wirausaha", "Lainnya")
ELEMENT_KINDS = ("ikm", "perception")
IMPORT_STATUSES = ("mapping", "queued", "running", "done", "failed")


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime (the storage convention)."""
    return datetime.now(UTC)


# An organisational unit that citizens rate.
class Opd(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=200, unique=True)
    short_name: str | None = Field(default=None, max_length=64)
    active: bool = Field(default=True)
    service_population: int | None = Field(default=None)  # service users per period (K&M)
    # Opening hours in Asia/Jakarta, "07:30-16:00"; None: not known, no off-hours signal.
    service_hours: str | None = Field(default=None, max_length=32)


# A place where an OPD serves citizens (a Puskesmas under the Dinas Kesehatan, a kecamatan
# office, a loket): answers may name one, and every score of a unit rolls up to its OPD.
class ServiceUnit(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("opd_id", "slug", name="uq_serviceunit_slug"),)

    id: int | None = Field(default=None, primary_key=True)
    opd_id: int = Field(foreign_key="opd.id", index=True)
    slug: str = Field(max_length=64)  # unique within its OPD; part of the unit's survey URL
    name: str = Field(max_length=200)
    position: int = Field(default=0)
    active: bool = Field(default=True)


# A unit's target sample in a wave (the OPD's own target stays on WaveOpd).
class WaveUnit(SQLModel, table=True):
    wave_id: int = Field(foreign_key="wave.id", primary_key=True)
    unit_id: int = Field(foreign_key="serviceunit.id", primary_key=True)
    target_n: int | None = None


# A service an OPD offers, as the OPD lists it: citizens choose one of these, never type it,
# so no free text from a citizen reaches a report through the service field.
class OpdService(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("opd_id", "name", name="uq_opdservice_name"),)

    id: int | None = Field(default=None, primary_key=True)
    opd_id: int = Field(foreign_key="opd.id", index=True)
    name: str = Field(max_length=120)
    position: int = Field(default=0)
    active: bool = Field(default=True)


# A versioned set of questions; (slug, version) identifies one.
class Questionnaire(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("slug", "version", name="uq_questionnaire_version"),)

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, index=True)
    version: int = Field(default=1)
    title_id: str = Field(max_length=200)
    title_en: str = Field(max_length=200)
    # The title in further languages the evaluator supplied: {"su": {"title": "Survéy ..."}}.
    texts: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}")
    )
    scale_points: int = Field(default=4)  # 4 (the regulation) or 5
    builtin: bool = Field(default=False)


# One question of a questionnaire, at a fixed position that names its answer column.
class Element(SQLModel, table=True):
    __table_args__ = (
        sa.UniqueConstraint("questionnaire_id", "code", name="uq_element_code"),
        sa.UniqueConstraint("questionnaire_id", "position", name="uq_element_position"),
    )

    id: int | None = Field(default=None, primary_key=True)
    questionnaire_id: int = Field(foreign_key="questionnaire.id", index=True)
    position: int  # 1 .. MAX_ITEMS; answers live in column a<position>
    code: str = Field(max_length=16)  # U1 .. U9 for the default questionnaire
    kind: str = Field(default="ikm", max_length=16)  # ikm elements vs. extra perception items
    name_id: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    question_id: str = Field(max_length=500)
    question_en: str = Field(max_length=500)
    labels_id: list[str] = Field(sa_column=Column(JSON, nullable=False))
    labels_en: list[str] = Field(sa_column=Column(JSON, nullable=False))
    # Texts in further languages the evaluator supplied, by locale:
    # {"su": {"name": ..., "question": ..., "labels": [...]}}. Reports keep the Indonesian.
    texts: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}")
    )


# Named category thresholds (lower bounds, compared with >=), highest category first.
class CategoryScheme(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=200)
    builtin: bool = Field(default=False)
    # [{"code": "A", "label_id": "Sangat baik", "label_en": "Very good",
    #   "min_ikm": 3.5324, "min_converted": 88.31}, ...]
    categories: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))


# A survey round: which OPDs, which questionnaire, which scheme, and its life cycle.
class Wave(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True, index=True)
    title: str = Field(max_length=200)
    evaluator: str | None = Field(default=None, max_length=200)  # who runs it, e.g. KNPI
    period_start: date | None = None
    period_end: date | None = None
    status: str = Field(default="draft", max_length=16)
    questionnaire_id: int = Field(foreign_key="questionnaire.id")
    scheme_id: int = Field(foreign_key="categoryscheme.id")
    simulated: bool = Field(default=False)  # demo data: every page says so
    created_at: datetime = Field(default_factory=utcnow)
    published_at: datetime | None = None  # set once, when the wave is published
    closed_at: datetime | None = None  # when the wave was last closed (retention counts from it)
    metadata_stripped_at: datetime | None = None  # respondent metadata removed (retention)
    # Visit codes: off, optional (answers with a valid code are marked verified) or required
    # (an answer without one is refused).
    verification: str = Field(
        default="off", max_length=8, sa_column_kwargs={"server_default": "off"}
    )
    # OPDs with fewer counted responses are scored but not ranked ("belum cukup data").
    min_rank_n: int = Field(default=15, sa_column_kwargs={"server_default": "15"})
    # Whether a citizen may rate several OPDs in one sitting from the wave's one link.
    multi_opd: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})


# The evaluator's logo for the covers of a wave's reports (PNG or JPEG). A table of its own so
# that the survey's hot path, which loads the wave on every request, never reads the image.
class WaveLogo(SQLModel, table=True):
    wave_id: int = Field(foreign_key="wave.id", primary_key=True)
    media_type: str = Field(max_length=32)  # image/png or image/jpeg
    data: bytes = Field(sa_type=sa.LargeBinary)
    uploaded_at: datetime = Field(default_factory=utcnow)


PUBLICATION_STATUSES = ("building", "ready", "failed")


# One published version of a wave: publishing freezes the wave's results into stored files
# (:class:`PublicationFile`) that the public pages and downloads serve. Version 1 is the first
# publication; each correction (erratum) publishes the next version with a public change note.
# ``ready_at`` is set once the files the public pages need are stored (the version is served
# from then on); ``done``/``total`` count every file, the OPD reports built after them too.
class Publication(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("wave_id", "version", name="uq_publication_version"),)

    id: int | None = Field(default=None, primary_key=True)
    wave_id: int = Field(foreign_key="wave.id", index=True)
    version: int = Field(default=1)
    status: str = Field(default="building", max_length=16)
    done: int = Field(default=0)  # files stored so far
    total: int = Field(default=0)  # files the version will have (0 until the plan is known)
    note: str | None = Field(default=None, max_length=2000)  # public change note (version 2+)
    reason: str | None = Field(default=None, max_length=2000)  # audit only, never shown
    actor: str | None = Field(default=None, max_length=64)
    error: str | None = Field(default=None, max_length=2000)  # why the build failed (English)
    created_at: datetime = Field(default_factory=utcnow)
    data_taken_at: datetime = Field(default_factory=utcnow)  # the "data taken" time it shows
    ready_at: datetime | None = None  # served from then on
    completed_at: datetime | None = None  # every file stored
    superseded_at: datetime | None = None  # a later version became ready
    heartbeat_at: datetime | None = None  # the build job's last commit (a job that died stops it)


# One stored file of a publication: a page ("page:id:wave", "page:en:opd:<slug>"), a PDF
# ("pdf:id:ranking", "pdf:en:opd:<slug>", "pdf:id:opd-full:<slug>") or the open-data ZIP
# ("zip:open-data"), with its SHA-256 as the strong ETag it is served with.
class PublicationFile(SQLModel, table=True):
    __table_args__ = (
        sa.UniqueConstraint("publication_id", "name", name="uq_publicationfile_name"),
    )

    id: int | None = Field(default=None, primary_key=True)
    publication_id: int = Field(foreign_key="publication.id", index=True)
    name: str = Field(max_length=200)
    content_type: str = Field(max_length=64)
    data: bytes = Field(sa_type=sa.LargeBinary)
    etag: str = Field(max_length=64)  # sha256 hex of data
    size: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow)


# An OPD covered by a wave, with its target sample size.
class WaveOpd(SQLModel, table=True):
    wave_id: int = Field(foreign_key="wave.id", primary_key=True)
    opd_id: int = Field(foreign_key="opd.id", primary_key=True)
    target_n: int | None = None


class ResponseBase(SQLModel):
    """Respondent fields shared by the table and the value objects that create rows."""

    visited_at: datetime | None = None  # when the citizen was served, if they say
    sex: str | None = Field(default=None, max_length=1)
    age: int | None = None
    education: str | None = Field(default=None, max_length=8)
    occupation: str | None = Field(default=None, max_length=16)
    service: str | None = Field(default=None, max_length=120)
    comment: str | None = Field(default=None, max_length=1200)


def _answer_field() -> Any:
    return Field(default=None, sa_type=sa.SmallInteger)


# One citizen's answers to one wave for one OPD; flagged ones are kept but not counted.
class Response(ResponseBase, table=True):
    __table_args__ = (
        sa.UniqueConstraint("wave_id", "submission_id", name="uq_response_submission"),
        # (wave, status, OPD): counted or flagged responses of a wave, grouped by OPD, by range.
        sa.Index("ix_response_wave_status_opd", "wave_id", "status", "opd_id"),
        # (wave, OPD, time): an OPD's latest answer by one index seek (the dashboard's "last
        # answer" of 500 OPDs), and its answers in order (the alarm checks).
        sa.Index("ix_response_wave_opd_time", "wave_id", "opd_id", "submitted_at"),
        # (wave, time, id, OPD): the other OPDs' latest answers, read backwards (the pattern
        # alarm's baseline), the own OPD's skipped without reading its rows.
        sa.Index("ix_response_wave_time", "wave_id", "submitted_at", "id", "opd_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    wave_id: int = Field(foreign_key="wave.id")
    opd_id: int = Field(foreign_key="opd.id")
    submission_id: str = Field(max_length=64)  # made per form; a replayed POST reuses it
    submitted_at: datetime = Field(default_factory=utcnow)
    channel: str = Field(default="qr", max_length=16)
    status: str = Field(default="counted", max_length=8)
    flag_reason: str | None = Field(default=None, max_length=32)
    # The evidence kept with every answer (signals, not verdicts; the flag says what counted).
    device_id: int | None = Field(default=None, foreign_key="kioskdevice.id")  # enrolled kiosk
    verified: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    seconds: int | None = None  # from the form's render to the submission
    straightline: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    repeat_device: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    burst: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    off_hours: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # HMAC of the sender's network (IPv4 /24, IPv6 /64), cut to 16 hex digits: enough to put a
    # burst's answers together, never the address; cleared with the other metadata.
    network: str | None = Field(default=None, max_length=16)
    unit_id: int | None = Field(default=None, foreign_key="serviceunit.id")  # where it was given
    enumerator_id: int | None = Field(default=None, foreign_key="user.id")  # who interviewed
    # Random id shared by the responses one citizen gave in one sitting (several OPDs from the
    # wave's link): never published, it tells the evaluator which answers share a respondent.
    sitting: str | None = Field(default=None, max_length=32)
    a1: int | None = _answer_field()
    a2: int | None = _answer_field()
    a3: int | None = _answer_field()
    a4: int | None = _answer_field()
    a5: int | None = _answer_field()
    a6: int | None = _answer_field()
    a7: int | None = _answer_field()
    a8: int | None = _answer_field()
    a9: int | None = _answer_field()
    a10: int | None = _answer_field()
    a11: int | None = _answer_field()
    a12: int | None = _answer_field()
    a13: int | None = _answer_field()
    a14: int | None = _answer_field()
    a15: int | None = _answer_field()
    a16: int | None = _answer_field()
    a17: int | None = _answer_field()
    a18: int | None = _answer_field()
    a19: int | None = _answer_field()
    a20: int | None = _answer_field()
    a21: int | None = _answer_field()
    a22: int | None = _answer_field()
    a23: int | None = _answer_field()
    a24: int | None = _answer_field()

    def answers(self) -> dict[int, int | None]:
        """Return the answers by question position (1-based)."""
        return {i: getattr(self, f"a{i}") for i in range(1, MAX_ITEMS + 1)}


# The kept sufficient statistics of the responses of one (wave, OPD, service unit, verified):
# ``survey.core.tallies`` keeps them equal to the rows in the transaction that writes the rows,
# so scoring reads a few rows per OPD instead of every response. ``unit_id`` is 0 for answers
# given to no unit (a key column cannot be NULL), hence no foreign key. The figures are JSON
# of whole numbers: exact on both backends (JSON integers are not rounded), one row to lock
# and rewrite per change, and a questionnaire of 24 elements needs 1,700 of them, more than a
# table may have columns.
class Tally(SQLModel, table=True):
    wave_id: int = Field(foreign_key="wave.id", primary_key=True)
    opd_id: int = Field(foreign_key="opd.id", primary_key=True)
    unit_id: int = Field(default=0, primary_key=True)
    verified: bool = Field(default=False, primary_key=True)
    responses: int = 0  # every response of the key, counted or flagged
    counted: int = 0  # counted responses, with or without an IKM answer
    # Flagged responses by reason ({"burst": 2}); a flag without a reason counts as "manual".
    flagged: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Per IKM element (questionnaire order): counted responses that chose "not applicable".
    not_applicable: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # scoring.Aggregates.as_dict() of the counted responses' IKM answers.
    stats: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


USER_ROLES = ("admin", "evaluator", "opd-head", "enumerator")


# A person who signs in to the workspace. Admins may do everything, evaluators run waves, an
# OPD head reads only their own OPD (so that role, and only that role, names an OPD), and an
# enumerator records interviews for the waves and OPDs an evaluator gave it (EnumeratorScope).
class User(SQLModel, table=True):
    __table_args__ = (
        sa.CheckConstraint(
            "role IN ('admin', 'evaluator', 'opd-head', 'enumerator')", name="ck_user_role"
        ),
        sa.CheckConstraint(
            "(role = 'opd-head') = (opd_id IS NOT NULL)", name="ck_user_opd_head_has_opd"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)  # stored in lower case
    password_hash: str = Field(max_length=255)  # werkzeug scrypt hash, never the password
    role: str = Field(max_length=16)
    opd_id: int | None = Field(default=None, foreign_key="opd.id", index=True)
    active: bool = Field(default=True)
    # Copied into the signed session cookie; bumping it signs the user out everywhere.
    session_version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None


# What an enumerator may record: one wave, and one OPD of it or (opd_id None) all its OPDs.
class EnumeratorScope(SQLModel, table=True):
    __table_args__ = (
        sa.UniqueConstraint("user_id", "wave_id", "opd_id", name="uq_enumeratorscope"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    wave_id: int = Field(foreign_key="wave.id", index=True)
    opd_id: int | None = Field(default=None, foreign_key="opd.id")
    granted_by: str = Field(max_length=64)
    granted_at: datetime = Field(default_factory=utcnow)


# A short printable address (/l/<code>) for a wave's link, an OPD's or a unit's survey page.
class ShortLink(SQLModel, table=True):
    code: str = Field(max_length=16, primary_key=True)
    wave_id: int = Field(foreign_key="wave.id", index=True)
    opd_id: int | None = Field(default=None, foreign_key="opd.id")
    unit_id: int | None = Field(default=None, foreign_key="serviceunit.id")
    created_at: datetime = Field(default_factory=utcnow)


# A kiosk tablet at an OPD's counter, enrolled by a staff member for one wave and OPD: its
# signed cookie names this row, and answers from it count as kiosk answers until revoked.
class KioskDevice(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    wave_id: int = Field(foreign_key="wave.id", index=True)
    opd_id: int = Field(foreign_key="opd.id")
    label: str = Field(max_length=100)
    unit_id: int | None = Field(default=None, foreign_key="serviceunit.id")  # its unit, if any
    faces: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    enrolled_by: str = Field(max_length=64)
    enrolled_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None
    revoked_by: str | None = Field(default=None, max_length=64)


# A visit code an OPD hands out with the service: a printed one-time ticket code, or the code
# a counter screen shows for a few minutes. Only a keyed hash of the code is kept, and nothing
# links a code to the answer that used it.
class VisitCode(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("wave_id", "code_hash", name="uq_visitcode_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    wave_id: int = Field(foreign_key="wave.id")
    opd_id: int = Field(foreign_key="opd.id", index=True)
    kind: str = Field(default="ticket", max_length=8)
    code_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None  # counter codes expire; tickets last the wave
    uses: int = Field(default=0)
    max_uses: int = Field(default=1)


# A shared rate-limit counter: hits of one key (a keyed hash of an address, network, wave and
# OPD) in one time bucket. Every worker and app server counts here (or in Redis).
class RateCounter(SQLModel, table=True):
    __table_args__ = (sa.Index("ix_ratecounter_bucket", "bucket"),)  # pruning old buckets

    key: str = Field(max_length=80, primary_key=True)
    bucket: int = Field(primary_key=True)  # epoch seconds // bucket length
    count: int = Field(default=0)


# An alarm raised for an OPD of a wave: a burst or a shift the detector saw.
class Alarm(SQLModel, table=True):
    __table_args__ = (sa.Index("ix_alarm_wave_opd", "wave_id", "opd_id"),)

    id: int | None = Field(default=None, primary_key=True)
    wave_id: int = Field(foreign_key="wave.id")
    opd_id: int = Field(foreign_key="opd.id")
    kind: str = Field(max_length=16)
    raised_at: datetime = Field(default_factory=utcnow, index=True)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    cleared_at: datetime | None = None
    cleared_by: str | None = Field(default=None, max_length=64)


# A signed-in staff session: the cookie carries its random id, the server keeps only its hash,
# and signing out ends it here, so a copied cookie is worth nothing afterwards.
class StaffSession(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)  # SHA-256 of the token, hex
    user_id: int = Field(foreign_key="user.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None


# Who did what and when: user creation and role changes now, imports and publications later.
class AuditLog(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str | None = Field(default=None, max_length=64)  # username; None for the CLI
    action: str = Field(max_length=64, index=True)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


# One failed sign-in, keyed by an HMAC of the username or of the client address. Kept in the
# database rather than in memory so that every app server behind a load balancer counts them.
class LoginFailure(SQLModel, table=True):
    __table_args__ = (sa.Index("ix_loginfailure_key_at", "key", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=80)
    at: datetime = Field(default_factory=utcnow)


# A web import of a response file: the uploaded bytes wait here while the evaluator checks the
# column mapping, then a worker checks and writes the rows and records its progress, so the
# progress page can be served by any app server. The bytes are cleared once the job ends.
class ImportJob(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    wave_id: int = Field(foreign_key="wave.id", index=True)
    actor: str | None = Field(default=None, max_length=64)
    filename: str = Field(max_length=255)
    kind: str = Field(default="csv", max_length=8)  # csv or xlsx
    digest: str = Field(max_length=64)  # SHA-256 of the file
    data: bytes = Field(default=b"", sa_type=sa.LargeBinary)
    mapping: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    ignore_extra: bool = Field(default=False)
    status: str = Field(default="mapping", max_length=16)
    total_rows: int = Field(default=0)  # estimated rows of the file
    processed_rows: int = Field(default=0)
    imported: int = Field(default=0)
    already_present: int = Field(default=0)
    # Why a job failed, as coded problems: [{"code": "import-no-rows", "field": "",
    # "params": {"file": "x.csv"}}]; the job page translates them.
    problems: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    # Its bad rows: [{"row": 7, "problems": [{"code": "row-answer-invalid", "field": "U3",
    # "params": {"value": "5", "scale": 4}}]}, ...]
    errors: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    message: str | None = Field(default=None, max_length=1000)  # English, for logs
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    # While a job writes on SQLite, in transactions of a few thousand rows so that citizens'
    # answers get the write lock in between: the response ids each committed transaction
    # wrote, [[first, last], ...], so that a job that fails or dies takes them back out.
    # Empty otherwise.
    written: list[list[int]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )


# Responses added, changed or deleted through the ORM's unit of work change the kept statistics
# in the same flush (survey.core.tallies); Core statements call that module themselves.
def _keep_old_value(_target: Any, value: Any, _old: Any, _initiator: Any) -> Any:
    return value


# A changed status (or answer, OPD, unit...) must be known with the value it replaces, even on
# a response whose attributes expired at a commit: load it before the change.
_ANSWERS = tuple(f"a{_p}" for _p in range(1, MAX_ITEMS + 1))
for _name in ("wave_id", "opd_id", "unit_id", "verified", "status", "flag_reason", *_ANSWERS):
    sa.event.listen(
        getattr(Response, _name), "set", _keep_old_value, active_history=True, retval=True
    )


@sa.event.listens_for(sa.orm.Session, "before_flush")
def _tallies_before_flush(session: Any, _context: Any, _instances: Any) -> None:
    from survey.core import tallies

    tallies.drop_pending(session)
    tallies.collect_flush(session)


@sa.event.listens_for(sa.orm.Session, "after_flush")
def _tallies_after_flush(session: Any, _context: Any) -> None:
    from survey.core import tallies

    tallies.apply_flush(session)

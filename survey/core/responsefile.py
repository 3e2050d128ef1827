"""The canonical response file: reading, checking and writing it as CSV or XLSX.

One row per respondent: ``opd`` (slug or exact name), ``submitted_at`` (ISO 8601, optional),
one column per question code of the wave's questionnaire holding 1..scale points or nothing,
and the optional respondent fields ``sex``, ``age``, ``education``, ``occupation``,
``service`` and ``comment``. This module knows the format and its rules and nothing of Flask
or the database: the caller says what a file is checked against (an ``ImportContext``: the
wave's question codes, its OPDs, the time zone) and gets back checked rows, or every problem
with the row number a spreadsheet shows for it (the header is row 1). Export writes the same
format, losslessly, so that an export imports back into another wave unchanged.

Files with other headers (a Google Forms export whose headers are the question sentences, a
paper-survey entry sheet) are read through a column mapping: explicit (``ColumnMapping``) or
suggested from the header (question texts in either language and common names such as
"Jenis Kelamin" or "Cap waktu"). A mapped file may also hold answers as label text ("Sangat
sesuai"); value maps turn those into codes. Every file may give the respondent's profile by
its codes or by a common spelling (``PROFILE_SYNONYMS``: "Laki-laki", "SLTA", "Wiraswasta" …).
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import functools
import hashlib
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, NamedTuple, TextIO
from zoneinfo import ZoneInfo

from survey.core import csvfiles, rules
from survey.core.evidence import EVIDENCE_FIELDS
from survey.core.models import EDUCATIONS, OCCUPATIONS, SEXES
from survey.core.notapplicable import NOT_APPLICABLE, export_value
from survey.core.problems import Problem, ProblemError, define, problem

OPD_COLUMN = "opd"
SUBMITTED_AT_COLUMN = "submitted_at"
RESPONDENT_COLUMNS = ("sex", "age", "education", "occupation", "service", "comment")
# The evidence the staff exports add after the canonical columns (survey.core.exports). An
# import knows them and leaves them out: imported answers get the channel "import" and no
# signals, whatever a file says about them.
# The file names the kiosk's id ``kiosk_device``, the column ``device_id``.
EVIDENCE_COLUMNS = tuple("kiosk_device" if f == "device_id" else f for f in EVIDENCE_FIELDS)
# The limits of the survey form, so that a file cannot hold what the form refuses.
COMMENT_MAX_LENGTH = rules.COMMENT_MAX_LENGTH
SERVICE_MAX_LENGTH = rules.SERVICE_MAX_LENGTH
AGE_MIN, AGE_MAX = rules.AGE_MIN, rules.AGE_MAX
# A time more than this after the import is a typo (2052 for 2025), not clock skew.
FUTURE_TOLERANCE = timedelta(days=1)


# Codes of a file that cannot be read at all ("file-"), of a column mapping ("mapping-") and
# of one bad row ("row-"; the field is the column, a canonical name such as U3 or sex).
define(
    {
        "file-not-utf8": (
            "the file is not UTF-8 text (invalid byte at offset {offset}); save it as 'CSV UTF-8'"
        ),
        "file-csv-unreadable": "row {row}: unreadable CSV ({detail})",
        "file-xlsx-unreadable": "{detail}",
        "file-empty": "the file is empty",
        "file-sheet-empty": "the first worksheet is empty",
        "file-header-empty": "the first row (the header) is empty",
        "file-header-unnamed": "column {index} of the header has no name",
        "file-column-twice": "column {value!r} appears twice",
        "file-column-unknown": (
            "unknown column {names} (expected: {expected}; "
            "or map the columns, or ignore the extra ones)"
        ),
        "file-columns-unknown": (
            "unknown columns {names} (expected: {expected}; "
            "or map the columns, or ignore the extra ones)"
        ),
        "file-column-missing": "missing required column {value!r}",
        "file-column-ambiguous": (
            "column {value!r} resembles question {code} ({score}% alike) but not clearly: "
            "say what it is (--column '{value}={code}', or '{value}=' to ignore it)"
        ),
        "mapping-not-object": "the mapping must be a JSON object",
        "mapping-unknown-keys": "unknown mapping keys: {keys}",
        "mapping-columns": '"columns" must map headers to field names (or null)',
        "mapping-values": '"values" must map field names to {{"text": code}} objects',
        "mapping-time-format": '"time_format" must be a strptime format such as "%d/%m/%Y"',
        "mapping-unknown-field": "the mapping names unknown field {value!r} (fields: {fields})",
        "mapping-values-unknown-field": "the mapping has values for unknown field {value!r}",
        "row-extra-cells": "{count} cells but the header has {columns} columns",
        "row-nul": "{field} contains a NUL character",
        "row-opd-empty": "opd is empty",
        "row-opd-not-covered": "OPD {value!r} is not covered by this wave",
        "row-opd-unknown": "unknown OPD {value!r} (use its slug or exact name)",
        "row-time-invalid": (
            "submitted_at {value!r} is not an ISO 8601 time (e.g. 2025-06-12T09:30:00+07:00)"
        ),
        "row-time-future": "submitted_at {value!r} is in the future",
        "row-answer-invalid": (
            "{field}: {value!r} is not an answer (use 1 to {scale} or leave empty)"
        ),
        "row-no-answer": "no answer to any question",
        "row-choice-invalid": "{field} {value!r} is not one of {choices}",
        "row-age-invalid": "age {value!r} is not a whole number of years from {low} to {high}",
        "row-text-too-long": "{field} has {length} characters (at most {limit})",
        "row-service-unlisted": "service {value!r} is not in the OPD's list of services ({listed})",
    }
)


class FileFormatError(ProblemError):
    """The file as a whole cannot be read (encoding, header, CSV syntax, mapping)."""


def _unreadable(code: str, **params: Any) -> FileFormatError:
    """Return the error of a file refused as a whole, for one problem."""
    return FileFormatError([problem(code, "", **params)])


@dataclass(frozen=True)
class ImportContext:
    """What a file is checked against: the wave's questions and OPDs, the clock and zone."""

    question_codes: tuple[str, ...]  # in questionnaire order
    scale_points: int
    opd_ids: Mapping[str, int]  # slug and exact name of each OPD the wave covers -> OPD id
    other_opds: frozenset[str] = frozenset()  # slugs and names of OPDs outside the wave
    timezone: tzinfo = field(default_factory=lambda: ZoneInfo("Asia/Jakarta"))
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    comment_max_length: int = COMMENT_MAX_LENGTH
    # OPD id -> its listed services (case-folded name -> the name as listed): a row's service
    # must be one of its OPD's. None: not checked (a context built by hand, outside a wave).
    services: Mapping[int, Mapping[str, str]] | None = None
    # For mapped files: code -> the question's texts (question and element name, both
    # languages) matched against headers, and code -> its answer labels, lowest first.
    question_texts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    answer_labels: Mapping[str, Sequence[Sequence[str]]] = field(default_factory=dict)
    # code -> the case-folded texts read as "not applicable" (stored 0), for the elements that
    # offer that answer (survey.core.notapplicable.import_texts).
    not_applicable: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One checked respondent row, ready to store (times are aware, in UTC)."""

    row: int
    opd_id: int
    submitted_at: datetime
    answers: tuple[int | None, ...]  # in questionnaire order
    sex: str | None = None
    age: int | None = None
    education: str | None = None
    occupation: str | None = None
    service: str | None = None
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class RowError:
    """The problems of one row that cannot be imported (every one, not just the first)."""

    row: int
    problems: tuple[Problem, ...]

    @property
    def reasons(self) -> tuple[str, ...]:
        """Return the problems as English sentences (for the command line)."""
        return tuple(item.english() for item in self.problems)

    def __str__(self) -> str:
        """Return 'row N: reason; reason'."""
        return f"row {self.row}: {'; '.join(self.reasons)}"


class ExportRecord(NamedTuple):
    """One counted response as the canonical file shows it."""

    opd: str  # slug
    submitted_at: datetime  # aware
    answers: tuple[int | None, ...]  # in questionnaire order
    sex: str | None
    age: int | None
    education: str | None
    occupation: str | None
    service: str | None
    comment: str | None


@dataclass(frozen=True)
class ReadResult:
    """Every row of a file, checked: the good rows and the reasons of the bad ones."""

    rows: list[ImportRow]
    errors: list[RowError]
    missing_questions: tuple[str, ...]
    digest: str


def canonical_columns(question_codes: Sequence[str]) -> list[str]:
    """Return the canonical header for a questionnaire's question codes, in file order."""
    return [OPD_COLUMN, SUBMITTED_AT_COLUMN, *question_codes, *RESPONDENT_COLUMNS]


def file_digest(data: bytes) -> str:
    """Return the hex SHA-256 of a file's bytes."""
    return hashlib.sha256(data).hexdigest()


def import_submission_id(wave_id: int, digest: str, row: int) -> str:
    """Return the submission id of a file row imported into a wave (same inputs, same id)."""
    # Deterministic so that importing the same file into the same wave again finds its rows
    # already present (the wave/submission pair is unique in the database).
    token = hashlib.sha256(f"{wave_id}:{digest}:{row}".encode()).hexdigest()
    return f"import-{token[:40]}"


def import_submission_ids(wave_id: int, digest: str) -> Callable[[int], str]:
    """Return ``import_submission_id`` for one wave and file, as a function of the row: the
    same ids, faster (the hash of the common prefix is computed once)."""
    prefix = hashlib.sha256(f"{wave_id}:{digest}:".encode())

    def submission_id(row: int) -> str:
        token = prefix.copy()
        token.update(str(row).encode())
        return f"import-{token.hexdigest()[:40]}"

    return submission_id


def _decode(data: bytes) -> str:
    """Decode UTF-8 with or without a byte-order mark, or explain what to do."""
    try:
        return csvfiles.decode(data)
    except UnicodeDecodeError as exc:
        raise _unreadable("file-not-utf8", offset=exc.start) from None


# Common header names of the respondent columns, normalised (see ``normalise``).
COMMON_NAMES: dict[str, str] = {
    name: canonical
    for canonical, names in {
        OPD_COLUMN: ("opd", "unit layanan", "unit pelayanan", "perangkat daerah", "nama opd"),
        SUBMITTED_AT_COLUMN: ("timestamp", "cap waktu", "waktu", "submitted at", "tanggal"),
        "sex": ("jenis kelamin", "kelamin", "gender", "sex"),
        "age": ("umur", "usia", "age"),
        "education": ("pendidikan", "pendidikan terakhir", "education"),
        "occupation": ("pekerjaan", "pekerjaan utama", "occupation"),
        "service": ("jenis layanan", "jenis pelayanan", "layanan", "service"),
        "comment": (
            "kritik dan saran",
            "kritik & saran",
            "saran",
            "saran dan masukan",
            "komentar",
            "comment",
            "comments",
        ),
    }.items()
    for name in names
}
_TRAILING = re.compile(r"[\s?:.*]+$")
_BRACKETED = re.compile(r"^.*\[(.+)\]\s*$")


def normalise(text: str) -> str:
    """Return text for matching: case-folded, whitespace collapsed, no trailing ? : . *."""
    return _TRAILING.sub("", " ".join(text.split()).casefold())


# The common spellings of the respondent's profile, read in every file (canonical or mapped,
# web or ``ikm import``) besides the codes themselves; matched by ``profile_key`` (case-folded,
# runs of spaces as one, none around / or -). There is no student or homemaker occupation
# code, so those answers count as "Lainnya", as on the survey form. "TNI/Polri" is left out on
# purpose: it names two codes, so the evaluator chooses (the web mapping page, a value map).
PROFILE_SYNONYMS: dict[str, dict[str, str]] = {
    "sex": {
        "laki-laki": "L",
        "laki laki": "L",
        "lakilaki": "L",
        "laki": "L",
        "lk": "L",
        "pria": "L",
        "male": "L",
        "man": "L",
        "perempuan": "P",
        "wanita": "P",
        "pr": "P",
        "female": "P",
        "woman": "P",
    },
    "education": {
        "sd/mi": "SD",
        "mi": "SD",
        "sd/sederajat": "SD",
        "smp/mts": "SMP",
        "mts": "SMP",
        "sltp": "SMP",
        "smp/sltp": "SMP",
        "sltp/sederajat": "SMP",
        "smp/sederajat": "SMP",
        "slta": "SMA",
        "smu": "SMA",
        "smk": "SMA",
        "ma": "SMA",
        "stm": "SMA",
        "sma/smk": "SMA",
        "sma/ma": "SMA",
        "sma/ma/smk": "SMA",
        "sma/slta": "SMA",
        "slta/sederajat": "SMA",
        "sma/sederajat": "SMA",
        "sma/smk/sederajat": "SMA",
        "d1": "D1-D3",
        "d2": "D1-D3",
        "d3": "D1-D3",
        "d-1": "D1-D3",
        "d-2": "D1-D3",
        "d-3": "D1-D3",
        "d i": "D1-D3",
        "d ii": "D1-D3",
        "d iii": "D1-D3",
        "d1/d2/d3": "D1-D3",
        "diploma": "D1-D3",
        "diploma i": "D1-D3",
        "diploma ii": "D1-D3",
        "diploma iii": "D1-D3",
        "d4": "S1",
        "d-4": "S1",
        "d iv": "S1",
        "diploma iv": "S1",
        "d4/s1": "S1",
        "s1/d4": "S1",
        "s-1": "S1",
        "sarjana": "S1",
        "strata 1": "S1",
        "s-2": "S2",
        "magister": "S2",
        "pascasarjana": "S2",
        "strata 2": "S2",
        "s-3": "S3",
        "doktor": "S3",
        "doktoral": "S3",
        "strata 3": "S3",
    },
    "occupation": {
        "asn": "PNS",
        "pns/asn": "PNS",
        "asn/pns": "PNS",
        "pegawai negeri sipil": "PNS",
        "tentara": "TNI",
        "polisi": "POLRI",
        "swasta": "Swasta",
        "pegawai swasta": "Swasta",
        "karyawan swasta": "Swasta",
        "karyawan": "Swasta",
        "wiraswasta": "Wirausaha",
        "wirausaha": "Wirausaha",
        "pengusaha": "Wirausaha",
        "pelajar": "Lainnya",
        "mahasiswa": "Lainnya",
        "siswa": "Lainnya",
        "pelajar/mahasiswa": "Lainnya",
        "mahasiswa/pelajar": "Lainnya",
        "ibu rumah tangga": "Lainnya",
        "irt": "Lainnya",
        "pensiunan": "Lainnya",
        "tidak bekerja": "Lainnya",
        "lain-lain": "Lainnya",
        "lain lain": "Lainnya",
        "lainnya": "Lainnya",
    },
}

# The respondent fields whose answers are codes, and those codes, in form order.
PROFILE_CODES: dict[str, tuple[str, ...]] = {
    "sex": SEXES,
    "education": EDUCATIONS,
    "occupation": OCCUPATIONS,
}


_AROUND_MARK = re.compile(r"\s*([/-])\s*")


@functools.lru_cache(maxsize=4096)
def profile_key(text: str) -> str:
    """Return a profile answer for matching: ``normalise`` d, no spaces around / and -."""
    return _AROUND_MARK.sub(r"\1", normalise(text))


def _choices(name: str, codes: Sequence[str]) -> dict[str, str]:
    """Return matching key -> code: the codes themselves and their synonyms."""
    return {profile_key(code): code for code in codes} | PROFILE_SYNONYMS[name]


_SEX_CODES = _choices("sex", SEXES)
_EDUCATION_CODES = _choices("education", EDUCATIONS)
_OCCUPATION_CODES = _choices("occupation", OCCUPATIONS)
_PROFILE_CHOICES = {
    "sex": _SEX_CODES,
    "education": _EDUCATION_CODES,
    "occupation": _OCCUPATION_CODES,
}


def profile_code(name: str, text: str) -> str | None:
    """Return the code a profile answer is read as by default (a code or a synonym), or None.

    An empty answer is None too; ``name`` is "sex", "education" or "occupation".
    """
    if not text.strip():
        return None
    return _PROFILE_CHOICES[name].get(profile_key(text))


@dataclass(frozen=True)
class ColumnMapping:
    """Source headers mapped to canonical fields (None: ignore), and value maps per field."""

    columns: Mapping[str, str | None] = field(default_factory=dict)
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    time_format: str | None = None  # strptime format of submitted_at, e.g. "%d/%m/%Y %H:%M:%S"

    @classmethod
    def from_json(cls, data: Any) -> ColumnMapping:
        """Build from ``{"columns": {header: field|null}, "values": {field: {text: code}}}``.

        An optional ``"time_format"`` (strptime, e.g. ``"%d/%m/%Y %H:%M:%S"``) reads
        ``submitted_at`` cells that are not ISO 8601 (local time unless the format has %z).
        An object without these keys is taken as the columns alone.
        """
        keys = {"columns", "values", "time_format"}
        if not isinstance(data, dict):
            raise _unreadable("mapping-not-object")
        if not keys & data.keys():
            data = {"columns": data}
        extra = set(data) - keys
        if extra:
            raise _unreadable("mapping-unknown-keys", keys=", ".join(sorted(extra)))
        columns = data.get("columns") or {}
        values = data.get("values") or {}
        if not isinstance(columns, dict) or not all(
            isinstance(v, str | None) for v in columns.values()
        ):
            raise _unreadable("mapping-columns")
        if not isinstance(values, dict) or not all(
            isinstance(table, dict) and all(isinstance(v, str | int) for v in table.values())
            for table in values.values()
        ):
            raise _unreadable("mapping-values")
        time_format = data.get("time_format")
        if time_format is not None and not isinstance(time_format, str):
            raise _unreadable("mapping-time-format")
        return cls(
            time_format=time_format or None,
            columns={str(k): (v or None) for k, v in columns.items()},
            values={
                str(name): {str(k): str(v) for k, v in table.items()}
                for name, table in values.items()
            },
        )

    def to_json(self) -> dict[str, Any]:
        """Return the mapping as the JSON object ``from_json`` reads."""
        return {
            "columns": dict(self.columns),
            "values": {name: dict(table) for name, table in self.values.items()},
            "time_format": self.time_format,
        }

    def merged(self, other: ColumnMapping) -> ColumnMapping:
        """Return this mapping with ``other``'s columns and value maps laid over it."""
        values = {name: dict(table) for name, table in self.values.items()}
        for name, table in other.values.items():
            values.setdefault(name, {}).update(table)
        return ColumnMapping(
            {**self.columns, **other.columns}, values, other.time_format or self.time_format
        )


@dataclass(frozen=True)
class ColumnPlan:
    """How each header cell is read: its field (None: ignored) and why."""

    headers: tuple[str, ...]
    fields: tuple[str | None, ...]
    sources: tuple[str, ...]  # "canonical", "mapping", "suggested" or "ignored"

    @property
    def mapped(self) -> bool:
        """Whether any column was read under another name than its canonical one."""
        return any(source in ("mapping", "suggested") for source in self.sources)

    def describe(self) -> list[str]:
        """Return one line per header cell: 'header -> field (source)'."""
        return [
            f"{header!r} -> {name} ({source})" if name else f"{header!r} ignored"
            for header, name, source in zip(self.headers, self.fields, self.sources, strict=True)
        ]


# How sure a fuzzy match of a header to a question must be. A header that matches one question
# at CLEAR_SCORE or better, ahead of every other by CLEAR_MARGIN, is read as that question; a
# weaker match of at least PLAUSIBLE_SCORE (PLAUSIBLE_SHORT_SCORE for a header of fewer than
# SHORT_HEADER characters, where chance likeness is high) resembles a question too much to be
# ignored silently: the evaluator (or a --column/--map of ``ikm import``) must choose.
CLEAR_SCORE = 0.85
CLEAR_MARGIN = 0.1
PLAUSIBLE_SCORE = 0.6
PLAUSIBLE_SHORT_SCORE = 0.75
SHORT_HEADER = 10
_CODE_PREFIX = re.compile(r"^u ?0*(\d{1,3})(?: (.*))?$")
_NUMBER_PREFIX = re.compile(r"^(?:no )?\d{1,3}(?: (.*))?$")


def match_key(text: str) -> str:
    """Return text for fuzzy matching: no accents, case-folded, punctuation as spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^\w\s]|_", " ", plain).split())


@dataclass(frozen=True)
class ColumnMatch:
    """How much a header resembles a question: the question, a score 0..1 and why.

    ``reason`` is "code" (U2, "u 2", "U02"), "text" (the question or element name exactly),
    "similar" (a fuzzy match of the question text or name) or "ambiguous"; ``clear`` says the
    header can be read as ``code`` without asking, ``other`` is the runner-up when there is one.
    """

    code: str
    score: float
    reason: str
    clear: bool
    other: str | None = None


def _common_prefix(texts: Sequence[str]) -> str:
    """Return the words all texts start with ("bagaimana pendapat saudara tentang"), or ""."""
    if len(texts) < 2:
        return ""
    words = [text.split() for text in texts]
    common: list[str] = []
    for group in zip(*words, strict=False):
        if len(set(group)) != 1:
            break
        common.append(group[0])
    # Never the whole of a text: a question reduced to nothing matches anything.
    if any(len(w) <= len(common) for w in words):
        return ""
    return " ".join(common)


@dataclass(frozen=True)
class _MatchTexts:
    """A questionnaire's texts prepared for fuzzy matching (built once per context)."""

    texts: dict[str, tuple[str, ...]]  # code -> keys of its question and name texts
    names: dict[str, tuple[str, ...]]  # code -> keys of its element names
    prefixes: tuple[str, ...]  # the opening words every question of one language shares


_MATCH_CACHE: dict[int, tuple[ImportContext, _MatchTexts]] = {}


def _match_texts(context: ImportContext) -> _MatchTexts:
    """Return the context's question texts as match keys, without their shared opening."""
    cached = _MATCH_CACHE.get(id(context))
    if cached is not None and cached[0] is context:
        return cached[1]
    codes = context.question_codes
    by_slot: dict[int, list[str]] = {}
    for code in codes:
        for slot, text in enumerate(context.question_texts.get(code, ())):
            by_slot.setdefault(slot, []).append(match_key(text))
    # Slots 0 and 1 hold the question in each language; 2 and 3 the element names.
    prefixes = tuple(
        p for slot in (0, 1) if (p := _common_prefix(by_slot.get(slot, []))) and p != ""
    )
    texts: dict[str, tuple[str, ...]] = {}
    names: dict[str, tuple[str, ...]] = {}
    for code in codes:
        keys: list[str] = []
        for slot, text in enumerate(context.question_texts.get(code, ())):
            key = _without_prefix(match_key(text), prefixes)
            if key:
                keys.append(key)
                if slot >= 2:
                    names.setdefault(code, ())
                    names[code] = (*names[code], key)
        texts[code] = tuple(keys)
    prepared = _MatchTexts(texts, names, prefixes)
    if len(_MATCH_CACHE) > 64:
        _MATCH_CACHE.clear()
    _MATCH_CACHE[id(context)] = (context, prepared)
    return prepared


def _without_prefix(key: str, prefixes: Sequence[str]) -> str:
    """Return a key without the questions' shared opening words, if it starts with them."""
    for prefix in prefixes:
        if key.startswith(prefix + " "):
            return key[len(prefix) + 1 :]
    return key


def _header_candidates(header: str) -> list[str]:
    """Return the texts of a header to match: a Google Forms grid's [item] first, the whole."""
    candidates = []
    bracketed = _BRACKETED.match(header)  # Google Forms grids: "Penilaian [question]"
    if bracketed:
        candidates.append(bracketed.group(1))
    candidates.append(header)
    return candidates


def _score(candidate: str, keys: Sequence[str], names: Sequence[str]) -> float:
    """Return how well a header key matches one question's keys (1.0: the same text)."""
    best = 0.0
    padded = f" {candidate} "
    for key in keys:
        if key == candidate:
            return 1.0
        if len(candidate) >= 12 and f" {candidate} " in f" {key} ":
            # Part of the question word for word ("Kesesuaian produk pelayanan").
            best = max(best, 0.88)
        matcher = difflib.SequenceMatcher(None, candidate, key, autojunk=False)
        if matcher.real_quick_ratio() > best and matcher.quick_ratio() > best:
            best = max(best, matcher.ratio())
    for name in names:
        # A header that holds the element's whole name (U1's name followed by "pelayanan") names it.
        if len(name) >= 6 and f" {name} " in padded:
            best = max(best, 0.9)
    return best


def match_column(header: str, context: ImportContext) -> ColumnMatch | None:
    """Return the question a header resembles (clear, or only plausible), or None.

    The header is compared without case, accents, punctuation, a leading number ("1.") or
    code ("U1."), the questions' shared opening ("Bagaimana pendapat Saudara tentang") and a
    Google Forms grid's "Title [item]" wrapper, against each question's text and element name
    in both languages (``difflib``). A code alone (U2, "u 2", "U02") is clear.
    """
    codes = {code.casefold(): code for code in context.question_codes}
    prepared = _match_texts(context)
    best: dict[str, float] = {}
    coded: str | None = None
    for raw in _header_candidates(header):
        key = match_key(raw)
        if not key:
            continue
        code_match = _CODE_PREFIX.match(key)
        if code_match and f"u{int(code_match.group(1))}" in codes:
            coded = codes[f"u{int(code_match.group(1))}"]
            key = code_match.group(2) or ""
            if not key:
                return ColumnMatch(coded, 1.0, "code", True)
        elif (number_match := _NUMBER_PREFIX.match(key)) and number_match.group(1):
            key = number_match.group(1)
        key = _without_prefix(key, prepared.prefixes)
        for code in context.question_codes:
            score = _score(key, prepared.texts.get(code, ()), prepared.names.get(code, ()))
            best[code] = max(best.get(code, 0.0), score)
    if not best:
        return None
    ranked = sorted(best.items(), key=lambda item: -item[1])
    (top, score), runner_up = ranked[0], (ranked[1] if len(ranked) > 1 else (None, 0.0))
    if coded is not None:
        # "U2. <text>": the code decides unless the text clearly names another question.
        if top != coded and score >= CLEAR_SCORE and best.get(coded, 0.0) < PLAUSIBLE_SCORE:
            return ColumnMatch(coded, best.get(coded, 0.0), "ambiguous", False, top)
        return ColumnMatch(coded, max(best.get(coded, 0.0), 0.95), "code", True)
    short = len(match_key(header)) < SHORT_HEADER
    if score < (PLAUSIBLE_SHORT_SCORE if short else PLAUSIBLE_SCORE):
        return None
    if score == 1.0 and runner_up[1] < 1.0:
        return ColumnMatch(top, 1.0, "text", True)
    clear = score >= CLEAR_SCORE and score - runner_up[1] >= CLEAR_MARGIN
    other = runner_up[0] if runner_up[1] >= PLAUSIBLE_SCORE else None
    return ColumnMatch(top, round(score, 3), "similar" if clear else "ambiguous", clear, other)


def suggest_field(header: str, context: ImportContext) -> str | None:
    """Return the canonical field a non-canonical header clearly means, or None.

    A header that only resembles a question (``match_column`` not clear) gives None here;
    ``plan_columns`` refuses it unless a mapping says what it is.
    """
    key = normalise(header)
    candidates = [key]
    bracketed = _BRACKETED.match(header)  # Google Forms grids: "Penilaian [question]"
    if bracketed:
        candidates.append(normalise(bracketed.group(1)))
    for candidate in candidates:
        for code in context.question_codes:
            texts = context.question_texts.get(code, ())
            if candidate in {normalise(text) for text in texts} or candidate == code.casefold():
                return code
        if candidate in COMMON_NAMES:
            return COMMON_NAMES[candidate]
    found = match_column(header, context)
    return found.code if found is not None and found.clear else None


def plan_columns(
    header: Sequence[str],
    context: ImportContext,
    mapping: ColumnMapping | None = None,
    *,
    ignore_extra: bool = False,
) -> ColumnPlan:
    """Decide the field of every header cell; raise FileFormatError for an unusable header."""
    canonical_names = canonical_columns(context.question_codes)
    known = {name.lower(): name for name in canonical_names}
    explicit = {normalise(k): v for k, v in (mapping.columns if mapping else {}).items()}
    for named in explicit.values():
        if named is not None and named.lower() not in known:
            raise _unreadable(
                "mapping-unknown-field", value=named, fields=", ".join(canonical_names)
            )
    fields: list[str | None] = []
    sources: list[str] = []
    unknown: list[str] = []
    ambiguous: list[Problem] = []
    for index, raw in enumerate(header, start=1):
        name = raw.strip()
        target: str | None
        if normalise(name) in explicit:
            mapped_to = explicit[normalise(name)]
            target, source = (known[mapped_to.lower()], "mapping") if mapped_to else (None, "")
        elif not name:
            if not ignore_extra:
                raise _unreadable("file-header-unnamed", index=index)
            target, source = None, ""
        elif name.lower() in known:
            target, source = known[name.lower()], "canonical"
        elif name.lower() in EVIDENCE_COLUMNS:
            target, source = None, ""  # a staff export's evidence: not imported
        else:
            target, source = suggest_field(name, context), "suggested"
            found = match_column(name, context) if target is None else None
            if found is not None:
                # Resembles a question too much to be dropped without a word.
                ambiguous.append(
                    problem(
                        "file-column-ambiguous",
                        "",
                        value=name,
                        code=found.code,
                        score=round(found.score * 100),
                    )
                )
            elif target is None and not ignore_extra:
                unknown.append(name)
        if target is None:
            source = "ignored"
        elif target in fields:
            raise _unreadable("file-column-twice", value=target)
        fields.append(target)
        sources.append(source)
    if ambiguous:
        raise FileFormatError(ambiguous)
    if unknown:
        raise _unreadable(
            "file-columns-unknown" if len(unknown) > 1 else "file-column-unknown",
            names=", ".join(repr(name) for name in unknown),
            expected=", ".join(canonical_names),
        )
    if OPD_COLUMN not in fields:
        raise _unreadable("file-column-missing", value=OPD_COLUMN)
    return ColumnPlan(tuple(h.strip() for h in header), tuple(fields), tuple(sources))


def file_kind(filename: str) -> str:
    """Return "xlsx" for a workbook's file name, "csv" for anything else."""
    return "xlsx" if filename.lower().endswith(".xlsx") else "csv"


def _csv_records(text: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (row number, cells) of CSV text; unreadable CSV is a FileFormatError."""
    reader = csvfiles.records(text)
    row_number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _unreadable("file-csv-unreadable", row=row_number + 1, detail=str(exc)) from None
        row_number += 1
        yield row_number, cells


def open_records(
    data: bytes, kind: str, *, estimate: bool = True
) -> tuple[Iterator[tuple[int, list[str]]], int]:
    """Return (row number, cells) of every row of a file and its estimated data rows (0 for a
    workbook that does not state its size when not ``estimate``: counting reads it all).

    The header is the first record. Raise FileFormatError for an unreadable or empty file.
    """
    if kind == "xlsx":
        return _xlsx_records(data, estimate=estimate)
    text = _decode(data)
    if not text.strip():
        raise _unreadable("file-empty")
    # Rows to come, for progress only: a comment may span lines, so this may overcount.
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    return _csv_records(text), max(lines - 1, 0)


def _xlsx_records(data: bytes, *, estimate: bool) -> tuple[Iterator[tuple[int, list[str]]], int]:
    """Return ``open_records`` of a workbook: its first sheet's rows, read as they are needed.

    Blank rows at the end are skipped (as everywhere else); the header loses the empty
    columns workbooks often carry at the right.
    """
    from survey.core.spreadsheet import open_xlsx

    try:
        rows, total = open_xlsx(data, estimate=estimate)
        header = next(rows, None)
    except ValueError as exc:
        raise _unreadable("file-xlsx-unreadable", detail=str(exc)) from None
    ahead: list[list[str]] = []
    if header is None or not any(cell.strip() for cell in header):
        # A blank first row: an empty sheet, or a sheet without a header.
        for cells in _unreadable_as_file_error(rows):
            ahead.append(cells)
            if any(cell.strip() for cell in cells):
                break
        else:
            raise _unreadable("file-sheet-empty")
    assert header is not None
    while header and not header[-1].strip():
        header = header[:-1]  # workbooks often carry empty columns at the right
    records = itertools.chain([header], ahead, _unreadable_as_file_error(rows))
    return enumerate(records, start=1), max(total - 1, 0)


def _unreadable_as_file_error(rows: Iterator[list[str]]) -> Iterator[list[str]]:
    """Yield a workbook's rows; a sheet that turns out broken is a FileFormatError."""
    try:
        yield from rows
    except ValueError as exc:
        raise _unreadable("file-xlsx-unreadable", detail=str(exc)) from None


@dataclass(frozen=True)
class FileHead:
    """The header of a file, its first data rows (as text cells) and its estimated rows."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    estimated_rows: int


def read_head(data: bytes, kind: str, *, limit: int = 5, estimate: bool = True) -> FileHead:
    """Return a file's header and first ``limit`` non-blank rows, for a mapping step.

    Raise FileFormatError if the file cannot be read at all or has no header.
    """
    records, estimated = open_records(data, kind, estimate=estimate)
    try:
        _, header = next(records)
    except StopIteration:
        raise _unreadable("file-empty") from None
    if not any(cell.strip() for cell in header):
        raise _unreadable("file-header-empty")
    rows: list[tuple[str, ...]] = []
    for _number, cells in records:
        if len(rows) >= limit:
            break
        if any(cell.strip() for cell in cells):
            rows.append(tuple(cells))
    return FileHead(tuple(header), tuple(rows), estimated)


@dataclass(frozen=True)
class FileScan:
    """What the mapping step shows before the check: rows per OPD, answered questions, and
    the distinct answers of each profile column (text as in the file -> rows)."""

    rows: int
    opd_rows: Mapping[int, int]
    answered: Mapping[int, frozenset[str]]
    values: Mapping[str, Mapping[str, int]]
    truncated: frozenset[str] = frozenset()  # profile columns with more distinct answers
    complete: bool = True  # False: the scan stopped after its first ``rows`` rows


class CanonicalReader:
    """A response file opened for import: header checked, rows checked as iterated.

    ``kind`` is "csv" (UTF-8 text, comma or semicolon) or "xlsx" (the first worksheet,
    header in row 1). Row numbers are those a spreadsheet shows (the header is row 1).
    """

    def __init__(
        self,
        data: bytes,
        context: ImportContext,
        *,
        kind: str = "csv",
        mapping: ColumnMapping | None = None,
        ignore_extra: bool = False,
        estimate: bool = True,
    ) -> None:
        """Read the file and check its header; raise FileFormatError if it is unusable.

        ``estimate`` False leaves ``estimated_rows`` 0 where finding it reads the whole file
        (a workbook that does not state its size): for a reader of the header or a few rows.
        """
        self.context = context
        self.digest = file_digest(data)
        records, self.estimated_rows = open_records(data, kind, estimate=estimate)
        try:
            _, header = next(records)
        except StopIteration:
            raise _unreadable("file-empty") from None
        self._records = records
        self.plan = plan_columns(header, context, mapping, ignore_extra=ignore_extra)
        self.columns = tuple(name for name in self.plan.fields if name is not None)
        self.missing_questions = tuple(
            code for code in context.question_codes if code not in self.columns
        )
        # Nearly every answer cell is exactly "1".."4" or empty: a lookup settles those fast
        # (large imports spend most of their checking time on answers); the rest get the
        # full check and its message.
        self._plain_answers: dict[str, int | None] = {"": None}
        self._plain_answers.update({str(i): i for i in range(1, context.scale_points + 1)})
        self._question_set = frozenset(context.question_codes)
        self._time_format = mapping.time_format if mapping else None
        self._value_maps = self._build_value_maps(mapping) if self.plan.mapped or mapping else {}

    def _build_value_maps(self, mapping: ColumnMapping | None) -> dict[str, dict[str, str]]:
        """Return field -> normalised text -> code for a mapped file."""
        maps: dict[str, dict[str, str]] = {}
        for code in self.context.question_codes:
            table = maps.setdefault(code, {})
            for labels in self.context.answer_labels.get(code, ()):
                # Past the scale a label is the "not applicable" answer, read by the check.
                for value, label in enumerate(labels[: self.context.scale_points], start=1):
                    table.setdefault(normalise(label), str(value))
        for name, given in (mapping.values if mapping else {}).items():
            known = {c.lower(): c for c in canonical_columns(self.context.question_codes)}
            if name.lower() not in known:
                raise _unreadable("mapping-values-unknown-field", value=name)
            maps.setdefault(known[name.lower()], {}).update(
                {normalise(text): code for text, code in given.items()}
            )
        return maps

    def scan(self, *, distinct_limit: int = 60, row_limit: int | None = None) -> FileScan:
        """Read every row's raw cells once, without checking them, for the mapping step.

        Return the rows per OPD (rows naming an OPD the wave does not cover are left out: the
        check refuses them), the questions each OPD's rows answer at least once, and the
        distinct answers of the profile columns (at most ``distinct_limit`` per column).
        With ``row_limit`` only the first so many non-blank rows are read (``complete`` says
        whether that was all of them).
        """
        fields = self.plan.fields
        opd_ids = self.context.opd_ids
        questions = [(i, name) for i, name in enumerate(fields) if name in self._question_set]
        profile = [(i, name) for i, name in enumerate(fields) if name in PROFILE_CODES]
        opd_index = fields.index(OPD_COLUMN) if OPD_COLUMN in fields else None
        opd_rows: dict[int, int] = {}
        answered: dict[int, set[str]] = {}
        values: dict[str, dict[str, int]] = {name: {} for _i, name in profile}
        cut: set[str] = set()
        total = 0
        complete = True
        for _number, cells in self._records:
            if not any(cell.strip() for cell in cells):
                continue
            if row_limit is not None and total >= row_limit:
                complete = False
                break
            total += 1
            for index, name in profile:
                text = cells[index].strip() if index < len(cells) else ""
                if not text:
                    continue
                seen = values[name]
                if text in seen:
                    seen[text] += 1
                elif len(seen) < distinct_limit:
                    seen[text] = 1
                else:
                    cut.add(name)
            if opd_index is None or opd_index >= len(cells):
                continue
            opd_id = opd_ids.get(cells[opd_index].strip())
            if opd_id is None:
                continue
            opd_rows[opd_id] = opd_rows.get(opd_id, 0) + 1
            done = answered.setdefault(opd_id, set())
            if len(done) < len(questions):
                done.update(
                    name for index, name in questions if index < len(cells) and cells[index].strip()
                )
        return FileScan(
            rows=total,
            opd_rows=opd_rows,
            answered={opd_id: frozenset(codes) for opd_id, codes in answered.items()},
            values=values,
            truncated=frozenset(cut),
            complete=complete,
        )

    def __iter__(self) -> Iterator[ImportRow | RowError]:
        """Yield each data row, checked; blank rows are skipped but keep their numbers."""
        fields = self.plan.fields
        width = len(fields)
        value_maps = self._value_maps
        plain = self._plain_answers
        for row_number, cells in self._records:
            # One joined string tells a blank row (no cell holds more than white space) and
            # a row without any NUL, the usual case, faster than a look at every cell.
            joined = "".join(cells)
            if not joined.strip():
                continue
            if len(cells) > width and any(cell.strip() for cell in cells[width:]):
                extra = problem("row-extra-cells", "", count=len(cells), columns=width)
                yield RowError(row_number, (extra,))
                continue
            if len(cells) != width:
                cells = cells[:width] + [""] * (width - len(cells))
            values = {name: cell for name, cell in zip(fields, cells, strict=True) if name}
            if value_maps:
                for name, table in value_maps.items():
                    cell = values.get(name)
                    if cell and (name not in self._question_set or cell not in plain):
                        values[name] = table.get(normalise(cell), cell)
            if self._time_format and (stamp := values.get(SUBMITTED_AT_COLUMN, "").strip()):
                # ISO 8601 still reads; anything else is reported by the check.
                with contextlib.suppress(ValueError):
                    values[SUBMITTED_AT_COLUMN] = datetime.strptime(
                        stamp, self._time_format
                    ).isoformat()
            yield self._check_row(row_number, values, nul="\x00" in joined)

    def _check_row(
        self, row: int, values: dict[str, str], *, nul: bool = True
    ) -> ImportRow | RowError:
        """Check one row's cells and build the row, or collect every reason it is bad.

        ``nul`` False says no cell holds a NUL character (the caller looked).
        """
        context = self.context
        reasons: list[Problem] = []
        if nul:
            for name, value in values.items():
                if "\x00" in value:
                    reasons.append(problem("row-nul", name))
                    values[name] = value.replace("\x00", "")
        opd_id = _check_opd(values.get(OPD_COLUMN, ""), context, reasons)
        submitted_at = _check_time(values.get(SUBMITTED_AT_COLUMN, ""), context, reasons)
        before = len(reasons)
        plain = self._plain_answers
        codes = context.question_codes
        cells = [values.get(code, "") for code in codes]
        # Nearly every cell is "1".."4" or empty: one lookup each; the rest get the check.
        found: list[Any] = list(map(plain.get, cells, itertools.repeat(_NOT_PLAIN)))
        if _NOT_PLAIN in found:
            found = [
                _check_answer(
                    code, cell, context.scale_points, reasons, context.not_applicable.get(code)
                )
                if answer is _NOT_PLAIN
                else answer
                for code, cell, answer in zip(codes, cells, found, strict=True)
            ]
        answers = tuple(found)
        # A row whose answers are all bad already says so; "no answer" is for blank ones.
        if len(reasons) == before and answers.count(None) == len(answers):
            reasons.append(problem("row-no-answer"))
        sex = _check_choice("sex", values.get("sex", ""), SEXES, _SEX_CODES, reasons)
        age = _check_age(values.get("age", ""), reasons)
        education = _check_choice(
            "education", values.get("education", ""), EDUCATIONS, _EDUCATION_CODES, reasons
        )
        occupation = _check_choice(
            "occupation",
            values.get("occupation", ""),
            OCCUPATIONS,
            _OCCUPATION_CODES,
            reasons,
        )
        service = _check_text("service", values.get("service", ""), SERVICE_MAX_LENGTH, reasons)
        if service is not None and opd_id is not None and context.services is not None:
            service = _check_service(service, context.services.get(opd_id, {}), reasons)
        comment = _check_text(
            "comment", values.get("comment", ""), context.comment_max_length, reasons, strip=False
        )
        if reasons:
            return RowError(row, tuple(reasons))
        assert opd_id is not None and submitted_at is not None
        return ImportRow(
            row=row,
            opd_id=opd_id,
            submitted_at=submitted_at,
            answers=answers,
            sex=sex,
            age=age,
            education=education,
            occupation=occupation,
            service=service,
            comment=comment,
        )


# What the plain answers' lookup gives a cell that is not "1".."4" or empty.
_NOT_PLAIN = object()


def _check_opd(raw: str, context: ImportContext, reasons: list[Problem]) -> int | None:
    """Return the id of the OPD named by slug or exact name, if the wave covers it."""
    key = raw.strip()
    if not key:
        reasons.append(problem("row-opd-empty", OPD_COLUMN))
        return None
    opd_id = context.opd_ids.get(key)
    if opd_id is None:
        code = "row-opd-not-covered" if key in context.other_opds else "row-opd-unknown"
        reasons.append(problem(code, OPD_COLUMN, value=key))
    return opd_id


def _check_time(raw: str, context: ImportContext, reasons: list[Problem]) -> datetime | None:
    """Parse ISO 8601; no offset means local time (Asia/Jakarta); empty means now."""
    text = raw.strip()
    if not text:
        return context.now.astimezone(UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        reasons.append(problem("row-time-invalid", SUBMITTED_AT_COLUMN, value=text))
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=context.timezone)
    parsed = parsed.astimezone(UTC)
    if parsed > context.now + FUTURE_TOLERANCE:
        reasons.append(problem("row-time-future", SUBMITTED_AT_COLUMN, value=text))
        return None
    return parsed


def _check_answer(
    code: str,
    raw: str,
    scale_points: int,
    reasons: list[Problem],
    not_applicable: frozenset[str] | None = None,
) -> int | None:
    """Return an answer 1..scale_points, 0 for "not applicable" where the question offers it
    (``not_applicable``: the texts that say so), None for an empty cell."""
    text = raw.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit() and 1 <= int(text) <= scale_points:
        return int(text)
    if not_applicable and " ".join(text.split()).casefold() in not_applicable:
        return NOT_APPLICABLE
    reasons.append(problem("row-answer-invalid", code, value=text, scale=scale_points))
    return None


def _check_choice(
    name: str,
    raw: str,
    codes: Sequence[str],
    choices: Mapping[str, str],
    reasons: list[Problem],
) -> str | None:
    """Return the code of a value (a code or a synonym, any case), None for an empty cell."""
    text = raw.strip()
    if not text:
        return None
    value = choices.get(profile_key(text))
    if value is None:
        reasons.append(problem("row-choice-invalid", name, value=text, choices=", ".join(codes)))
    return value


def _check_age(raw: str, reasons: list[Problem]) -> int | None:
    """Return an age in whole years, None for an empty cell."""
    text = raw.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit() and AGE_MIN <= int(text) <= AGE_MAX:
        return int(text)
    reasons.append(problem("row-age-invalid", "age", value=text, low=AGE_MIN, high=AGE_MAX))
    return None


def _check_service(name: str, listed: Mapping[str, str], reasons: list[Problem]) -> str | None:
    """Return the listed spelling of a service the OPD lists; refuse any other name."""
    found = listed.get(name.casefold())
    if found is None:
        shown = ", ".join(sorted(listed.values())) or "none"
        reasons.append(problem("row-service-unlisted", "service", value=name, listed=shown))
    return found


def _check_text(
    name: str, raw: str, max_length: int, reasons: list[Problem], *, strip: bool = True
) -> str | None:
    """Return free text (None when blank); refuse text longer than the column holds."""
    if not raw.strip():
        return None
    # The comment is kept exactly as written (line breaks, spacing) so that exports round-trip.
    text = raw.strip() if strip else raw
    if len(text) > max_length:
        reasons.append(problem("row-text-too-long", name, length=len(text), limit=max_length))
        return None
    return text


def read_csv(data: bytes, context: ImportContext) -> ReadResult:
    """Check a whole canonical CSV file; raise FileFormatError if it cannot be read at all."""
    return read_file(data, context)


def read_file(
    data: bytes,
    context: ImportContext,
    *,
    kind: str = "csv",
    mapping: ColumnMapping | None = None,
    ignore_extra: bool = False,
) -> ReadResult:
    """Check a whole response file (CSV or XLSX, canonical or mapped)."""
    reader = CanonicalReader(data, context, kind=kind, mapping=mapping, ignore_extra=ignore_extra)
    rows: list[ImportRow] = []
    errors: list[RowError] = []
    for item in reader:
        # Type error ignored below: the isinstance test picks the list; mypy cannot follow it
        # through the conditional.
        (errors if isinstance(item, RowError) else rows).append(item)  # type: ignore[arg-type]
    return ReadResult(rows, errors, reader.missing_questions, reader.digest)


def format_time(value: datetime) -> str:
    """Return ISO 8601 in UTC with an explicit +00:00 offset (naive values are UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def record_cells(record: ExportRecord) -> list[Any]:
    """Return a record's cells in canonical column order (None for empty, numbers as int,
    ``NA`` for the "not applicable" answer)."""
    return [
        record.opd,
        format_time(record.submitted_at),
        *(export_value(answer) for answer in record.answers),
        record.sex,
        record.age,
        record.education,
        record.occupation,
        record.service,
        record.comment,
    ]


def record_object(question_codes: Sequence[str], record: ExportRecord) -> dict[str, Any]:
    """Return a record as a JSON object keyed by the canonical column names."""
    return dict(zip(canonical_columns(question_codes), record_cells(record), strict=True))


def write_csv(
    stream: TextIO,
    question_codes: Sequence[str],
    records: Iterable[ExportRecord],
    *,
    safe: bool = False,
) -> int:
    """Write the canonical CSV (header and records) to ``stream``; return the record count.

    By default free text is written as stored, without neutralising spreadsheet formulas, so
    that the file imports back unchanged. ``safe=True`` puts a single quote before text that
    a spreadsheet would run as a formula (= + - @, tab, CR): safe to open, no longer lossless.
    """
    cells = (record_cells(record) for record in records)
    return write_rows(stream, canonical_columns(question_codes), cells, safe=safe)


def write_rows(
    stream: TextIO, header: Sequence[str], rows: Iterable[Sequence[Any]], *, safe: bool
) -> int:
    """Write a header and rows of cells as CSV (None as empty); return the row count.

    ``safe`` puts a single quote before text a spreadsheet would run as a formula.
    """
    from survey.core.spreadsheet import neutralise

    writer = csv.writer(stream)
    writer.writerow(header)
    count = 0
    for row in rows:
        cells = ["" if value is None else value for value in row]
        writer.writerow([neutralise(cell) for cell in cells] if safe else cells)
        count += 1
    return count

"""Helpers for the tests of files in and out: the response file, imports, exports, examples.

The canonical response file's columns for the nine default elements, an import context without
a database, rows to export with awkward text, a Google-Forms-like sheet, the web import's
upload and mapping forms, and the stored responses of a wave to compare before and after.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

from auth_helpers import csrf_token
from flask.testing import FlaskClient
from sqlmodel import Session, func, select
from werkzeug.test import TestResponse

from survey.core import queries
from survey.core.builtin import DEFAULT_ELEMENTS
from survey.core.models import Response, Wave
from survey.core.responsefile import ImportContext, canonical_columns

CODES = [f"U{i}" for i in range(1, 10)]
HEADER = ",".join(canonical_columns(CODES))
# A staff export: the canonical columns, then each answer's evidence (which import ignores).
EVIDENCE_COLUMNS = [
    "channel", "kiosk_device", "verified", "seconds", "straightline", "repeat_device", "burst",
    "off_hours", "network",
]  # fmt: skip
EXPORT_COLUMNS = [*canonical_columns(CODES), *EVIDENCE_COLUMNS]
EXPORT_HEADER = ",".join(EXPORT_COLUMNS)
FIRST_NETWORK = "abcdefabcdefabcd"  # the evidence of add_export_rows' first row
NOW = datetime(2025, 7, 1, 3, 0, tzinfo=UTC)
CONTEXT = ImportContext(
    question_codes=tuple(CODES),
    scale_points=4,
    opd_ids={
        "bpbd": 1,
        "Badan Penanggulangan Bencana Daerah": 1,
        "rsud": 2,
        "Rumah Sakit Umum Daerah": 2,
    },
    other_opds=frozenset({"dinkes", "Dinas Kesehatan"}),
    now=NOW,
)
EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
KNPI = EXAMPLES / "knpi-2025.yaml"
UPLOAD = "/kerja/gelombang/uji-2026/impor"


def count(session: Session, model: type) -> int:
    """Return the number of rows of a table."""
    session.expire_all()
    return session.exec(select(func.count()).select_from(model)).one()


def responses(session: Session, wave_slug: str) -> list[Response]:
    """Return a wave's responses, oldest first."""
    session.expire_all()
    wave = queries.get_wave(session, slug=wave_slug)
    assert wave is not None
    query = select(Response).where(Response.wave_id == wave.id)
    return list(session.exec(query.order_by(Response.submitted_at, Response.id)).all())


def comparable(session: Session, wave_slug: str) -> list[tuple]:
    """Return a wave's counted responses as sortable tuples of everything an export carries."""
    slugs = {opd.id: opd.slug for opd in queries.list_opds(session)}
    rows = [
        (
            slugs[r.opd_id],
            r.submitted_at,
            tuple(r.answers()[i] for i in range(1, 10)),
            r.sex,
            r.age,
            r.education,
            r.occupation,
            r.service,
            r.comment,
        )
        for r in responses(session, wave_slug)
        if r.status == "counted"
    ]
    return sorted(rows, key=repr)


def add_export_rows(session: Session, wave: Wave) -> None:
    """Store counted and flagged responses with awkward text, skips and sub-second times."""
    opds = {opd.slug: opd.id for opd, _ in queries.wave_opds(session, wave=wave)}
    rows = [
        ("bpbd", "counted", None, (4, 4, 3, 4, 3, 4, 4, 3, 3), "P", 34, "S1", "PNS", "KTP", None),
        ("bpbd", "counted", None, (3, None, 3, None, 3, 3, 3, 2, 2), None, None, None, None, None,
         'Antrean "panjang",\nmohon\r\nditambah loket; =SUM(A1:A9)'),
        ("rsud", "counted", None, (2, 2, 1, 3, 2, 2, 3, 2, 1), "L", 61, "SD", "Lainnya",
         "Poli umum", "  Ruang tunggu panas  "),
        ("rsud", "flagged", "duplicate-device", (2, 2, 1, 3, 2, 2, 3, 2, 1), "L", 61, None, None,
         None, "salinan"),
        ("dishub", "flagged", "bot-suspect", (4,) * 9, None, None, None, None, None, None),
        ("dishub", "counted", None, (None,) * 8 + (1,), "P", 19, "D1-D3", "Wirausaha", "Uji KIR",
         "Ongkos uji KIR mahal 😞"),
    ]  # fmt: skip
    for i, (slug, status, reason, answers, sex, age, edu, occ, service, comment) in enumerate(rows):
        response = Response(
            wave_id=wave.id,
            opd_id=opds[slug],
            submission_id=f"web-{i}",
            submitted_at=datetime(2025, 6, 12, 1, 15, i, 125000 * i, tzinfo=UTC),
            channel="qr",
            status=status,
            flag_reason=reason,
            sex=sex,
            age=age,
            education=edu,
            occupation=occ,
            service=service,
            comment=comment,
        )
        if i == 0:  # evidence on the first row; the others keep the defaults of old rows
            response.verified, response.seconds, response.network = True, 52, FIRST_NETWORK
        for position, answer in enumerate(answers, start=1):
            setattr(response, f"a{position}", answer)
        session.add(response)
    session.commit()


def google_forms_rows() -> list[list]:
    """A Google-Forms-like sheet: question sentences as headers, labels as answers."""
    questions = [
        # Bahasa Indonesia for most, English for one, odd spacing and case for another.
        element[3] if i != 2 else element[4]
        for i, element in enumerate(DEFAULT_ELEMENTS)
    ]
    questions[0] = "  " + questions[0].upper().replace(" ", "  ")
    labels_id = [element[5] for element in DEFAULT_ELEMENTS]
    labels_en = [element[6] for element in DEFAULT_ELEMENTS]
    header = ["Timestamp", "Unit Layanan", *questions, "Jenis Kelamin", "Umur", "Pendidikan",
              "Pekerjaan", "Jenis Layanan", "Kritik dan Saran"]  # fmt: skip
    first = [datetime(2025, 6, 12, 9, 30), "Dinas Perhubungan"]
    first += [labels_id[i][3] for i in range(9)]
    first[2 + 2] = labels_en[2][3].lower()  # the English question answered in English
    first += ["Laki-laki", 40, "SMA", "Swasta", "Uji KIR", "Mantap"]
    second = [datetime(2025, 6, 13, 14, 0), "bpbd", 1, *[labels_id[i][1] for i in range(1, 9)]]
    second[2 + 2] = labels_en[2][1]
    second += ["PEREMPUAN", None, None, None, None, None]
    return [header, first, second]


def upload(
    client: FlaskClient, data: bytes, filename: str, *, csrf: str | None = None
) -> TestResponse:
    """Post a response file to the web import's upload form of wave uji-2026."""
    token = csrf_token(client, UPLOAD) if csrf is None else csrf
    form = {"berkas": (io.BytesIO(data), filename), "csrf_token": token}
    return client.post(UPLOAD, data=form, content_type="multipart/form-data")


class _Selects(HTMLParser):
    """Collect the selected option of each select and the text inputs of a page."""

    def __init__(self) -> None:
        """Start empty."""
        super().__init__()
        self.values: dict[str, str] = {}
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Note selects, selected options and text inputs."""
        a = {k: v or "" for k, v in attrs}
        if tag == "select":
            self._select = a["name"]
            self.values.setdefault(self._select, "")
        elif tag == "option" and self._select and "selected" in a:
            self.values[self._select] = a.get("value", "")
        elif tag == "input" and a.get("type") in ("text", "hidden"):
            self.values[a["name"]] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        """Leave a select."""
        if tag == "select":
            self._select = None


def form_values(html: str) -> dict[str, str]:
    """Return the values the import's mapping form would post as it stands."""
    parser = _Selects()
    parser.feed(html)
    return parser.values


def confirm(client: FlaskClient, job_url: str, **changes: str) -> TestResponse:
    """Post the mapping form with its preselected values, changed by ``changes``."""
    values = form_values(client.get(job_url).get_data(as_text=True))
    values.update(changes)
    return client.post(job_url, data=values)

"""Hostile input: property-based tests of the survey POST, the import and the sign-in form.

Hypothesis generates the requests and files (``derandomize=True``: CI sees the same inputs
every run). The bulk of the examples runs on SQLite, a smaller share on PostgreSQL. The
properties: no request is ever answered 5xx and no file raises anything but
``FileFormatError``; a request stores at most one response, only when it is a valid
submission, and then exactly the values sent; anything invalid, replayed or oversized stores
nothing; an import is all or nothing; a wrong password never opens a session and every
failure is counted; and text that looks like SQL, HTML or a spreadsheet formula comes back
as inert text in every page, PDF and export that shows it.

The number of examples per target is printed by ``bench/hostile.py``; the marked ``slow``
tests still run in CI by default.
"""

from __future__ import annotations

import csv
import io
import json
import time
import urllib.parse
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
import werkzeug.urls  # noqa: F401  (registers the "werkzeug.url_quote" error handler)
from auth_helpers import PASSWORD, AuthActions
from file_helpers import confirm, upload
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from markupsafe import escape
from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE as ILLEGAL_XML
from pypdf import PdfReader
from sqlmodel import Session, select
from survey_helpers import (
    FakeClock,
    FormPage,
    add_opd,
    add_responses,
    create_wave,
    install_clock,
    set_wave_status,
    token_payload,
)
from werkzeug.datastructures import MultiDict
from werkzeug.test import TestResponse

from survey.core import accounts, queries, questionnaires, responsefile
from survey.core import imports as import_service
from survey.core.models import EDUCATIONS, OCCUPATIONS, SEXES, ImportJob, LoginFailure, Response
from survey.core.responsefile import (
    FileFormatError,
    ImportContext,
    ReadResult,
    canonical_columns,
    read_file,
)
from survey.core.spreadsheet import FORMULA_STARTS, neutralise, ooxml_escape
from survey.web import signin
from survey.web.forms import clean_text
from survey.web.workspace_forms import LoginForm

# Examples per target and backend: SQLite carries the bulk, PostgreSQL a smaller share.
EXAMPLES: dict[str, Any] = {
    "survey": {"sqlite": 2600, "postgresql": 400},
    "survey-raw": {"sqlite": 800, "postgresql": 200},
    # The readers need no database: one count for both.
    "import-csv": 4500,
    "import-xlsx": 500,
    "import-cli": {"sqlite": 300, "postgresql": 80},
    "import-web": {"sqlite": 100, "postgresql": 30},
    "login": {"sqlite": 1000, "postgresql": 200},
}


# What the generated inputs came to, per target (printed by bench/hostile.py).
OUTCOMES: Counter[tuple[str, str]] = Counter()


def record(target: str, outcome: str) -> None:
    """Count one example's outcome (and tell Hypothesis's statistics)."""
    OUTCOMES[(target, outcome)] += 1
    event(outcome)


def examples(target: str, backend: str) -> int:
    """Return how many examples to run of ``target`` on ``backend``."""
    return EXAMPLES[target][backend]


def hostile_settings(max_examples: int) -> settings:
    """Return reproducible settings for a property test with function-scoped fixtures."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# Text an attacker would try in any free-text field.
PAYLOADS = (
    "'; DROP TABLE response; --",
    "1' OR '1'='1",
    '" OR 1=1 --',
    "Robert'); DELETE FROM opd; --",
    "<script>alert('xss')</script>",
    '<img src=x onerror="alert(1)">',
    "<svg/onload=alert(1)>",
    '"><iframe src=javascript:alert(1)>',
    "</textarea><b>tebal</b>",
    "{{ 7*7 }} {% raw %}",
    "=CMD|'/C calc'!A0",
    '=HYPERLINK("http://evil.example","klik")',
    "+1+1",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "'=1+1",
    "\x00NUL\x00",
    "a\rb\r\nc",
    "\u202eevil\u202c",
    "Pelayanan \U0001f600 ramah, jalan Ahmad Yani No. 5",
)
hostile_text = st.one_of(st.sampled_from(PAYLOADS), st.text(max_size=60))

CODES = tuple(f"U{i}" for i in range(1, 10))
POINTS = ("1", "2", "3", "4")
HIDDEN = ("csrf_token", "token", "website")
# The hidden fields of pages rendered before the render token: accepted and ignored.
LEGACY = ("submission_id", "t", "channel")
KNOWN = {*CODES, *HIDDEN, *LEGACY, "sex", "age", "education", "occupation", "service", "comment"}
SERVICE_MAX = 120
SERVICES = ("KTP",)  # the services BPBD lists (conftest's sample OPDs): the form's only choices
COMMENT_MAX = 1200
BODY_LIMIT = 64 * 1024
# Flask-WTF signs CSRF tokens with this salt.
CSRF_SALT = "wtf-csrf-token"


@pytest.fixture
def app_config(app_config: dict) -> dict:
    """Lift the submission limits (thousands of posts from one client); import in the request."""
    # Import jobs run inside the request, so each example sees its finished job.
    lifted = dict.fromkeys(("LIMIT_SOFT", "LIMIT_HARD", "LIMIT_NETWORK_HARD", "LIMIT_FLOOD"), 10**9)
    return {**app_config, **lifted, "IMPORT_INLINE": True}


def count_rows(session: Session, model: type = Response) -> int:
    """Return the number of rows of a table, fresh from the database."""
    session.expire_all()
    return session.exec(select(sa.func.count()).select_from(model)).one()


def newest_response(session: Session) -> Response:
    """Return the response stored last."""
    session.expire_all()
    return session.exec(select(Response).order_by(Response.id.desc())).first()


# ---------------------------------------------------------------------------------------------
# 1. The survey POST


@dataclass
class Browser:
    """A citizen's browser on the survey page: a cookie jar and the hidden values it holds."""

    app: Flask
    client: FlaskClient
    path: str = "/s/uji-2026/bpbd"
    hidden: dict[str, str] = field(default_factory=dict)

    def call(self, method: str, **kwargs: Any) -> TestResponse:
        """Send one request in an app context of its own (see ``survey_helpers``)."""
        with self.app.app_context():
            return self.client.open(self.path, method=method, **kwargs)

    def load(self) -> Browser:
        """GET the survey page and keep its hidden values."""
        response = self.call("GET")
        assert response.status_code == 200
        self.hidden = FormPage.parse(response).hidden
        assert {"csrf_token", "token"} <= set(self.hidden)
        return self

    def csrf_raw(self) -> str:
        """Return the raw CSRF value the session cookie holds."""
        with self.client.session_transaction() as cookie_session:
            return cookie_session["csrf_token"]


def expired_token(app: Flask, raw: str) -> str:
    """Return a correctly signed CSRF token for ``raw`` that is 13 hours old (limit: 3)."""

    class PastSigner(TimestampSigner):
        """A signer whose clock runs 13 hours behind."""

        def get_timestamp(self) -> int:
            """Return a time 13 hours ago."""
            return int(time.time()) - 13 * 3600

    serializer = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=CSRF_SALT, signer=PastSigner)
    return str(serializer.dumps(raw))


def padded(value: str, whitespace: str) -> str:
    """Return ``value`` with whitespace around it (the form strips it)."""
    return f"{whitespace}{value}{whitespace}"


@st.composite
def valid_fields(draw: st.DrawFn) -> dict[str, str]:
    """Draw the visible fields of a valid survey: some answers, respondent fields, texts."""
    answered = draw(st.lists(st.sampled_from(CODES), min_size=1, max_size=9, unique=True))
    space = st.sampled_from(["", " ", "\t", "\n "])
    fields: dict[str, str] = {}
    for code in CODES:
        if code in answered:
            fields[code] = padded(draw(st.sampled_from(POINTS)), draw(space))
        elif draw(st.booleans()):
            fields[code] = draw(space)
    optional = {
        "sex": st.sampled_from(SEXES),
        "age": st.integers(15, 100).map(str),
        "education": st.sampled_from(EDUCATIONS),
        "occupation": st.sampled_from(OCCUPATIONS),
        "service": st.sampled_from(SERVICES),
    }
    for name, values in optional.items():
        choice = draw(st.sampled_from(["omit", "blank", "value"]))
        if choice == "blank":
            fields[name] = draw(space)
        elif choice == "value":
            fields[name] = padded(draw(values), draw(space))
    for name, limit in (("comment", COMMENT_MAX),):
        if draw(st.booleans()):
            text = draw(st.one_of(hostile_text, st.text(min_size=limit - 5, max_size=limit + 5)))
            if len(clean_text(text) or "") > limit:
                text = text[: limit // 2]
            fields[name] = text
    return fields


def _bad_answer() -> st.SearchStrategy[str]:
    """Answers no scale has: out of range, non-numeric, SQL, huge."""
    return st.one_of(
        st.sampled_from(["0", "5", "-1", "4.0", "1e1", "99999999999999999999", "\uff14", "TRUE"]),
        st.sampled_from(PAYLOADS),
        st.text(min_size=1, max_size=40),
        st.text(min_size=2000, max_size=3000),
    ).filter(lambda s: s.strip() != "" and s.strip() not in POINTS)


def _not_in(values: tuple[str, ...]) -> st.SearchStrategy[str]:
    """Non-blank text outside ``values`` (after the form's strip)."""
    return st.one_of(st.sampled_from(PAYLOADS), st.text(min_size=1, max_size=20)).filter(
        lambda s: s.strip() != "" and s.strip() not in values
    )


def _bad_age() -> st.SearchStrategy[str]:
    """Ages the form refuses."""
    return st.one_of(
        st.sampled_from(["14", "101", "-5", "30.5", "tiga puluh", "\u0663\u0660", "0030"]),
        st.integers(max_value=14).map(str),
        st.integers(min_value=101).map(str),
        _not_in(()),
    ).filter(lambda s: not (s.strip().isascii() and s.strip().isdigit() and 15 <= int(s) <= 100))


# Each mutation makes a valid survey invalid: (name, strategy of its argument).
MUTATIONS = (
    "bad-answer",
    "unknown-field",
    "repeated-field",
    "no-answer",
    "bad-age",
    "bad-choice",
    "long-service",
    "long-comment",
    "csrf-missing",
    "csrf-garbage",
    "csrf-other-browser",
    "csrf-expired",
)


@st.composite
def mutation(draw: st.DrawFn, kind: str) -> tuple[str, Any] | None:
    """Draw what spoiling a valid survey by ``kind`` needs (None: leave it valid)."""
    if kind == "valid":
        return None
    if kind == "bad-answer":
        return kind, (draw(st.sampled_from(CODES)), draw(_bad_answer()))
    if kind == "unknown-field":
        name = draw(
            st.one_of(
                st.sampled_from(["U0", "U10", "u1", "Q1", "a1", "status", "wave_id", "id"]),
                st.sampled_from(PAYLOADS),
                st.text(min_size=1, max_size=30),
            ).filter(lambda s: s not in KNOWN)
        )
        return kind, (name, draw(st.sampled_from(POINTS)))
    if kind == "repeated-field":
        return kind, (draw(st.sampled_from(sorted(KNOWN))), draw(st.sampled_from(POINTS)))
    if kind == "bad-age":
        return kind, draw(_bad_age())
    if kind == "bad-choice":
        name = draw(st.sampled_from(["sex", "education", "occupation", "service"]))
        allowed = {
            "sex": SEXES,
            "education": EDUCATIONS,
            "occupation": OCCUPATIONS,
            "service": SERVICES,  # typed text, hostile or not, is no service
        }[name]
        return kind, (name, draw(_not_in(tuple(allowed))))
    if kind == "long-service":
        return kind, "x" * draw(st.integers(SERVICE_MAX + 1, 2000))
    if kind == "long-comment":
        return kind, draw(st.sampled_from(["y", "\u00e9", "\U0001f600"])) * draw(
            st.integers(COMMENT_MAX + 1, 5000)
        )
    if kind == "csrf-garbage":
        return kind, draw(st.one_of(st.sampled_from(PAYLOADS), st.text(max_size=100)))
    return kind, None


def apply_mutation(
    kind: str, arg: Any, pairs: list[tuple[str, str]], browser: Browser, other: Browser | None
) -> list[tuple[str, str]]:
    """Return the pairs of a valid survey spoilt by one mutation."""
    if kind == "bad-answer":
        code, value = arg
        return [(k, v) for k, v in pairs if k != code] + [(code, value)]
    if kind == "unknown-field":
        return [*pairs, arg]
    if kind == "repeated-field":
        name, value = arg
        present = [v for k, v in pairs if k == name]
        return [*pairs, (name, value)] + ([] if present else [(name, value)])
    if kind == "no-answer":
        return [(k, v) for k, v in pairs if k not in CODES]
    if kind == "bad-age":
        return [(k, v) for k, v in pairs if k != "age"] + [("age", arg)]
    if kind == "bad-choice":
        name, value = arg
        return [(k, v) for k, v in pairs if k != name] + [(name, value)]
    if kind in ("long-service", "long-comment"):
        name = kind.removeprefix("long-")
        return [(k, v) for k, v in pairs if k != name] + [(name, arg)]
    without = [(k, v) for k, v in pairs if k != "csrf_token"]
    if kind == "csrf-missing":
        return without
    if kind == "csrf-garbage":
        return [*without, ("csrf_token", arg)]
    if kind == "csrf-other-browser":
        assert other is not None
        return [*without, ("csrf_token", other.hidden["csrf_token"])]
    assert kind == "csrf-expired"
    return [*without, ("csrf_token", expired_token(browser.app, browser.csrf_raw()))]


def expected_row(fields: dict[str, str]) -> dict[str, Any]:
    """Return the stored values a valid survey must produce."""
    answers = {f"a{i}": None for i in range(1, 10)}
    for i, code in enumerate(CODES, start=1):
        value = fields.get(code, "").strip()
        answers[f"a{i}"] = int(value) if value else None
    age = fields.get("age", "").strip()
    return {
        **answers,
        "sex": fields.get("sex", "").strip() or None,
        "age": int(age) if age else None,
        "education": fields.get("education", "").strip() or None,
        "occupation": fields.get("occupation", "").strip() or None,
        "service": fields.get("service", "").strip() or None,
        "comment": clean_text(fields.get("comment")),
    }


def row_values(row: Response) -> dict[str, Any]:
    """Return the columns of a stored row that ``expected_row`` predicts."""
    names = [*(f"a{i}" for i in range(1, 10)), "sex", "age", "education", "occupation"]
    return {name: getattr(row, name) for name in [*names, "service", "comment"]}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The anti-abuse clock, frozen until a test moves it."""
    return install_clock(monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["valid", *MUTATIONS])
def test_survey_post_properties(app, backend, kind, open_wave, session, clock):
    """Never 5xx; a valid survey stores exactly its values once; anything else stores nothing."""
    # One test per kind of request, so that each gets its share of the examples.
    share = examples("survey", backend) * (4 if kind == "valid" else 1) // (len(MUTATIONS) + 4)

    @hostile_settings(share)
    @given(
        fields=valid_fields(),
        spoil=mutation(kind),
        extra=st.sampled_from(["none", "honeypot", "quick", "replay", "replay-other", "bad-id"]),
        channel=st.sampled_from(["qr", "kiosk", "import", "<b>x</b>", ""]),
    )
    def check(fields, spoil, extra, channel):
        """One generated survey request (and its replay)."""
        browser = Browser(app, app.test_client()).load()
        other = Browser(app, app.test_client()).load() if spoil and "other" in spoil[0] else None
        pairs = [(k, v) for k, v in browser.hidden.items() if k not in ("channel", "website")]
        pairs += [("channel", channel)]
        honeypot = extra == "honeypot"
        pairs += [("website", "http://spam.example" if honeypot else "")]
        if extra == "bad-id":
            pairs += [("submission_id", "x' OR 1=1")]  # a client's own id: ignored
        pairs += list(fields.items())
        if spoil is not None:
            pairs = apply_mutation(*spoil, pairs, browser, other)
        before = count_rows(session)
        clock.advance(1.0 if extra == "quick" else 10.0)
        response = browser.call("POST", data=MultiDict(pairs))
        after = count_rows(session)
        assert response.status_code < 500
        record(f"survey[{backend}]", f"{response.status_code} {spoil[0] if spoil else 'valid'}")
        if spoil is not None:
            assert response.status_code == 400, spoil
            assert after == before
            # The form comes back with what was sent (names too, in the message): escaped.
            html = response.get_data(as_text=True)
            for text in {text for pair in pairs for text in pair}:
                if text in PAYLOADS and "<" in text:
                    assert text[:32] not in html, text
            return
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        assert after == before + 1
        row = newest_response(session)
        assert row_values(row) == expected_row(fields)
        assert row.channel == "qr"  # never taken from the request
        assert row.submission_id == token_payload(app, browser.hidden)[2]
        flagged = honeypot or extra == "quick"
        assert (row.status, row.flag_reason) == (
            ("flagged", "bot-suspect") if flagged else ("counted", None)
        )
        if extra == "replay":
            again = browser.call("POST", data=MultiDict(pairs))
            assert again.status_code == 303 and count_rows(session) == after
        elif extra == "replay-other":
            # Another browser, its own valid token, the first one's submission id.
            thief = Browser(app, app.test_client()).load()
            stolen = [(k, thief.hidden["csrf_token"] if k == "csrf_token" else v) for k, v in pairs]
            clock.advance(10.0)
            again = thief.call("POST", data=MultiDict(stolen))
            assert again.status_code == 303 and count_rows(session) == after

    check()


def _urlencode(pairs: list[tuple[str, str]]) -> bytes:
    """Return pairs as a form body."""
    return urllib.parse.urlencode(pairs).encode("ascii")


@st.composite
def raw_request(draw: st.DrawFn) -> tuple[str, str | None, Any]:
    """Draw a raw body: (kind, content type, what the body is built from)."""
    kind = draw(
        st.sampled_from(["bytes", "bad-utf8-comment", "oversized", "json", "text", "multipart"])
    )
    if kind == "bytes":
        content_type = draw(
            st.sampled_from(
                [
                    "application/x-www-form-urlencoded",
                    "application/x-www-form-urlencoded; charset=latin-1",
                    "multipart/form-data",
                    "multipart/form-data; boundary=xyz",
                    None,
                ]
            )
        )
        return kind, content_type, draw(st.binary(max_size=400))
    if kind == "bad-utf8-comment":
        junk = draw(
            st.sampled_from([b"\xff", b"\xc3\x28", b"\xe2\x82", b"\xf0\x9f\x98", b"\xed\xa0\x80"])
        )
        return kind, "application/x-www-form-urlencoded", (junk, draw(st.text(max_size=30)))
    if kind == "oversized":
        return (
            kind,
            "application/x-www-form-urlencoded",
            draw(st.integers(BODY_LIMIT + 1, 4 * BODY_LIMIT)),
        )
    if kind == "json":
        return kind, "application/json", None
    if kind == "text":
        return kind, draw(st.sampled_from(["text/plain", "text/html", "application/xml"])), None
    return kind, "multipart/form-data; boundary=----b", draw(st.binary(max_size=200))


@pytest.mark.slow
def test_survey_raw_body_properties(app, backend, open_wave, session, clock):
    """Raw bytes, invalid UTF-8, wrong content types and bodies over the limit: never 5xx."""

    @hostile_settings(examples("survey-raw", backend))
    @given(spec=raw_request())
    def check(spec):
        """One raw request."""
        kind, content_type, arg = spec
        browser = Browser(app, app.test_client()).load()
        valid = [*browser.hidden.items(), *{f"U{i}": "3" for i in range(1, 10)}.items()]
        expected_comment = None
        if kind == "bytes":
            body = arg
        elif kind == "bad-utf8-comment":
            junk, text = arg
            encoded = urllib.parse.quote_from_bytes(text.encode("utf-8") + junk)
            body = _urlencode(valid) + b"&comment=" + encoded.encode("ascii")
            # Werkzeug keeps bytes that are not UTF-8 percent-encoded, as text.
            raw = text.encode("utf-8") + junk
            expected_comment = clean_text(raw.decode("utf-8", "werkzeug.url_quote"))
        elif kind == "oversized":
            body = _urlencode([*valid, ("comment", "z" * arg)])
        elif kind in ("json", "text"):
            body = json.dumps(dict(valid)).encode("utf-8")
        else:
            body = b'------b\r\nContent-Disposition: form-data; name="U1"\r\n\r\n4\r\n' + arg
        before = count_rows(session)
        clock.advance(10.0)
        headers = {"Content-Type": content_type} if content_type else {}
        response = browser.call("POST", data=body, headers=headers)
        after = count_rows(session)
        assert response.status_code < 500
        record(f"survey-raw[{backend}]", f"{response.status_code} {kind} stored={after - before}")
        if kind == "oversized":
            assert response.status_code == 413
        if kind == "bad-utf8-comment":
            # The bad bytes stay as percent-encoded text; the rest is valid, so it is stored.
            assert response.status_code == 303
            assert after == before + 1
            assert newest_response(session).comment == expected_comment
            return
        if kind in ("oversized", "json", "text"):
            assert after == before
        assert after - before == (1 if response.status_code == 303 else 0)

    check()


# ---------------------------------------------------------------------------------------------
# 2. The import


def reader_context() -> ImportContext:
    """A context for files checked without a database: three OPDs, the nine elements."""
    return ImportContext(
        question_codes=CODES,
        scale_points=4,
        opd_ids={"bpbd": 1, "Badan Penanggulangan Bencana Daerah": 1, "rsud": 2},
        other_opds=frozenset({"dishub", "Dinas Perhubungan"}),
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )


COLUMNS = canonical_columns(CODES)
# Cells of each column that the check accepts, and hostile ones it must refuse or keep as text.
GOOD_CELLS: dict[str, st.SearchStrategy[str]] = {
    "opd": st.sampled_from(["bpbd", "rsud", " bpbd ", "Badan Penanggulangan Bencana Daerah"]),
    "submitted_at": st.sampled_from(
        ["", "2025-06-12T09:30:00+07:00", "2025-06-12 10:00:00", "2025-12-31"]
    ),
    **{code: st.sampled_from(["", "1", "2", "3", "4"]) for code in CODES},
    "sex": st.sampled_from(["", "L", "P", "l"]),
    "age": st.sampled_from(["", "15", "30", "100"]),
    "education": st.sampled_from(["", *EDUCATIONS, "s1"]),
    "occupation": st.sampled_from(["", *OCCUPATIONS]),
    "service": st.one_of(st.sampled_from(PAYLOADS), st.text(max_size=40)).map(
        lambda s: s.replace("\x00", "")[:SERVICE_MAX]
    ),
    "comment": st.one_of(st.sampled_from(PAYLOADS), st.text(max_size=200)).map(
        lambda s: s.replace("\x00", "")
    ),
}
FORMULAS = ("=CMD()", "=1+1", "+1", "-1", "@A1", "=cmd|' /C calc'!A0", "\t=1", "\r=1")
hostile_cell = st.one_of(
    st.sampled_from(PAYLOADS),
    st.sampled_from(FORMULAS),
    st.sampled_from(["0", "5", "-1", "4.0", "2052-01-01", "31/12/2025", "X", "200", '"', '""']),
    st.text(max_size=30),
)


@st.composite
def csv_file(draw: st.DrawFn) -> bytes:
    """Draw a response file: a header, rows of good and hostile cells, then encoding damage."""
    header = list(COLUMNS)
    if draw(st.booleans()):
        header = draw(st.permutations(header))
    if draw(st.integers(0, 9)) == 0:
        header = draw(st.lists(st.sampled_from([*COLUMNS, "U10", "", "opd"]), max_size=20))
    # A clean file has hostile text only where text belongs (service, comment): it imports.
    clean = draw(st.sampled_from([True, False, False]))
    if clean:
        header = list(COLUMNS)
    rows = []
    for _ in range(draw(st.integers(1 if clean else 0, 6))):
        row = [draw(GOOD_CELLS[name]) if name in GOOD_CELLS else "" for name in header]
        if clean:
            row[header.index(draw(st.sampled_from(CODES)))] = draw(st.sampled_from(POINTS))
            rows.append(row)
            continue
        for index in draw(st.lists(st.integers(0, max(len(row) - 1, 0)), max_size=3)):
            if row:
                row[index] = draw(hostile_cell)
        if draw(st.integers(0, 9)) == 0:
            row += draw(st.lists(hostile_cell, max_size=3))  # a ragged row
        rows.append(row)
    separator = draw(st.sampled_from([",", ";"]))
    buffer = io.StringIO()
    csv.writer(
        buffer, delimiter=separator, lineterminator=draw(st.sampled_from(["\r\n", "\n"]))
    ).writerows([header, *rows])
    data = buffer.getvalue().encode("utf-8")
    if draw(st.booleans()):
        data = "\ufeff".encode() + data
    damage = "none" if clean else draw(st.sampled_from(["none", "bytes", "truncate", "quote"]))
    if damage == "bytes" and data:
        at = draw(st.integers(0, len(data)))
        data = (
            data[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\x00", b"\xe2\x82"])) + data[at:]
        )
    elif damage == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif damage == "quote":
        data += b'bpbd,"unterminated\n'
    return data


def check_read(
    data: bytes, kind: str = "csv", *, note: bool = True, **options: Any
) -> ReadResult | None:
    """Read a file; allow only FileFormatError; check every row it returns is sound."""
    try:
        result = read_file(data, reader_context(), kind=kind, **options)
    except FileFormatError as exc:
        assert str(exc)  # a reason for the user
        if note:
            record(f"import-{kind}", "FileFormatError")
        return None
    good, bad = ("some" if x else "no" for x in (result.rows, result.errors))
    if note:
        record(f"import-{kind}", f"{good} good rows, {bad} bad")
    numbers = [row.row for row in result.rows] + [error.row for error in result.errors]
    assert len(numbers) == len(set(numbers)) and all(n >= 2 for n in numbers)
    for error in result.errors:
        assert error.reasons and all(isinstance(r, str) and r for r in error.reasons)
    for row in result.rows:
        assert row.opd_id in (1, 2)
        assert len(row.answers) == 9 and any(a is not None for a in row.answers)
        assert all(a is None or 1 <= a <= 4 for a in row.answers)
        assert row.sex in (None, *SEXES) and row.education in (None, *EDUCATIONS)
        assert row.occupation in (None, *OCCUPATIONS)
        # Paper forms carry any age: the import's range is wider than the web form's.
        assert row.age is None or responsefile.AGE_MIN <= row.age <= responsefile.AGE_MAX
        assert row.submitted_at.tzinfo is not None
        for text, limit in ((row.service, SERVICE_MAX), (row.comment, COMMENT_MAX)):
            assert text is None or (0 < len(text) <= limit and "\x00" not in text)
    return result


@pytest.mark.slow
@hostile_settings(EXAMPLES["import-csv"])
@given(data=st.one_of(csv_file(), st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_csv_reader_never_fails_unhandled(data):
    """Any CSV bytes: a FileFormatError or checked rows, never another exception."""
    check_read(data)
    check_read(data, note=False, ignore_extra=True)


@st.composite
def xlsx_file(draw: st.DrawFn) -> bytes:
    """Draw XLSX-like bytes: junk, a damaged zip, or a real workbook of hostile cells."""
    kind = draw(st.sampled_from(["junk", "zip", "workbook", "workbook", "damaged"]))
    if kind == "junk":
        return draw(st.binary(max_size=300))
    if kind == "zip":
        return b"PK\x03\x04" + draw(st.binary(max_size=300))
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(COLUMNS))
    for _ in range(draw(st.integers(0, 4))):
        row: list[Any] = [draw(GOOD_CELLS[name]) for name in COLUMNS]
        for index in draw(st.lists(st.integers(0, len(row) - 1), max_size=3)):
            row[index] = draw(
                st.one_of(
                    hostile_cell,
                    st.integers(-10, 10),
                    st.floats(allow_nan=False, allow_infinity=False),
                    st.booleans(),
                    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2030, 1, 1)),
                )
            )
        # openpyxl refuses control characters in cells; the app writes them OOXML-escaped.
        sheet.append([ILLEGAL_XML.sub("", v) if isinstance(v, str) else v for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    data = buffer.getvalue()
    if kind == "damaged":
        # A position relative to the size: the saved bytes carry the time and vary in length.
        at = draw(st.integers(0, 10**6)) * (len(data) - 1) // 10**6
        data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at + 8 :]
    return data


@pytest.mark.slow
@hostile_settings(EXAMPLES["import-xlsx"])
@given(data=xlsx_file())
def test_xlsx_reader_never_fails_unhandled(data):
    """Any XLSX-like bytes: a FileFormatError or checked rows, never another exception."""
    check_read(data, kind="xlsx")


def wave_context(session: Session) -> ImportContext:
    """The context ``ikm import`` checks a file of the test wave against."""
    return import_service.import_context(session, wave=queries.get_wave(session, slug="uji-2026"))


@pytest.mark.slow
def test_cli_import_is_all_or_nothing(runner, backend, open_wave, session, tmp_path):
    """``ikm import`` of any file: exit 0 and every new row written, or exit 1 and none."""
    path = tmp_path / "respons.csv"

    @hostile_settings(examples("import-cli", backend))
    @given(data=csv_file())
    def check(data):
        """One generated file."""
        path.write_bytes(data)
        try:
            read = read_file(data, wave_context(session))
        except FileFormatError:
            read = None
        # The rows a successful import must add: those no earlier import of the file wrote.
        present = queries.submission_ids(session, wave=open_wave, channel="import")
        fresh = (
            sum(
                responsefile.import_submission_id(open_wave.id, read.digest, row.row) not in present
                for row in read.rows
            )
            if read is not None
            else 0
        )
        before = count_rows(session)
        result = runner.invoke(
            args=["import", str(path), "--wave", "uji-2026", "--allow-empty-elements"]
        )
        after = count_rows(session)
        assert result.exception is None or isinstance(result.exception, SystemExit)
        record(
            f"import-cli[{backend}]",
            f"exit {result.exit_code}, {'rows' if after > before else 'nothing'} written",
        )
        if result.exit_code != 0:
            assert result.exit_code == 1 and after == before
            assert read is None or read.errors or not read.rows, result.output
            return
        assert read is not None and not read.errors
        assert after == before + fresh, result.output

    check()


def exported(client: FlaskClient, fmt: str) -> bytes:
    """Return a web export of the test wave."""
    response = client.get(f"/kerja/gelombang/uji-2026/ekspor/{fmt}")
    assert response.status_code == 200
    return response.data


def check_exports(client: FlaskClient, session: Session) -> None:
    """The stored texts come back: CSV and XLSX neutralised, JSON exact."""
    session.expire_all()
    rows = session.exec(select(Response).where(Response.status == "counted")).all()
    stored = Counter((row.service, row.comment) for row in rows)
    text = exported(client, "csv").decode("utf-8")
    table = list(csv.DictReader(io.StringIO(text, newline="")))
    assert Counter((r["service"], r["comment"]) for r in table) == Counter(
        {(neutralise(s or ""), neutralise(c or "")): n for (s, c), n in stored.items()}
    )
    for record in table:
        for value in record.values():
            assert not value.startswith(FORMULA_STARTS), value
    workbook = load_workbook(io.BytesIO(exported(client, "xlsx")))
    sheet = workbook["responses"]
    header = [cell.value for cell in sheet[1]]
    cells = list(sheet.iter_rows(min_row=2, values_only=True))
    s_at, c_at = header.index("service"), header.index("comment")
    assert Counter((row[s_at], row[c_at]) for row in cells) == Counter(
        {
            tuple(None if v is None else ooxml_escape(neutralise(v)) for v in key): n
            for key, n in stored.items()
        }
    )
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", cell.value
                if isinstance(cell.value, str):
                    assert not cell.value.startswith(FORMULA_STARTS), cell.value
    document = json.loads(exported(client, "json"))
    assert Counter((r["service"], r["comment"]) for r in document["responses"]) == stored


@pytest.mark.slow
def test_web_import_is_all_or_nothing_and_exports_round_trip(
    app, client, backend, open_wave, session
):
    """Upload, map, confirm any file: all rows or none, and the texts come back in exports."""
    accounts.create_user(session, username="eva", password=PASSWORD, role="evaluator")
    assert AuthActions(client).login("eva").status_code == 302

    @hostile_settings(examples("import-web", backend))
    @given(data=st.one_of(csv_file(), xlsx_file()), xlsx=st.booleans())
    def check(data, xlsx):
        """One generated upload."""
        filename = "respons.xlsx" if data.startswith(b"PK") or xlsx else "respons.csv"
        before = count_rows(session)
        page = upload(client, data, filename)
        assert page.status_code in (302, 400), page.status_code
        if page.status_code == 302:
            done = confirm(client, page.headers["Location"])
            assert done.status_code < 500
            session.expire_all()
            job = session.exec(select(ImportJob).order_by(ImportJob.id.desc())).first()
            after = count_rows(session)
            record(
                f"import-web[{backend}]",
                f"job {job.status}, {'rows' if after > before else 'nothing'} written",
            )
            if job.status == "done":
                assert after == before + job.imported
            else:
                assert job.status in ("failed", "mapping"), job.status
                assert after == before
        else:
            record(f"import-web[{backend}]", "upload refused (400)")
            assert count_rows(session) == before
        check_exports(client, session)

    check()


# ---------------------------------------------------------------------------------------------
# 3. The sign-in form

login_text = st.one_of(
    st.sampled_from(PAYLOADS),
    st.sampled_from(["admin", " ADMIN ", "Admin\t", "admin\x00", "", " ", PASSWORD]),
    st.text(max_size=80),
    st.text(min_size=1000, max_size=3000),
)


@pytest.mark.slow
def test_login_properties(app, backend, session, monkeypatch):
    """Never 5xx; a session only for the right password; every failure counted, then 429."""
    # Passwords are hashed at the tests' cheap scrypt cost (conftest): thousands of sign-ins
    # must fit.
    accounts.create_user(session, username="admin", password=PASSWORD, role="admin")
    monkeypatch.setattr(accounts, "clock", FakeClock())

    @hostile_settings(examples("login", backend))
    @given(
        username=st.one_of(st.none(), login_text),
        password=st.one_of(st.none(), login_text),
        token=st.sampled_from(["valid", "valid", "valid", "missing", "garbage", "other"]),
        addr=st.one_of(
            st.sampled_from(["198.51.100.7", "203.0.113.9"]),
            st.integers(0, 2**24 - 1).map(lambda n: f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}"),
        ),
        huge=st.sampled_from(range(20)),
    )
    def check(username, password, token, addr, huge):
        """One sign-in attempt from a fresh browser."""
        client = app.test_client()
        form: dict[str, str] = {}
        if token != "missing":
            real = AuthActions(client).token()
            other = AuthActions(app.test_client()).token() if token == "other" else None
            form["csrf_token"] = {"valid": real, "garbage": "'; --", "other": other}[token]
        if username is not None:
            form["username"] = username
        if password is not None:
            form["password"] = password
        if huge == 19:
            form["password"] = "p" * (BODY_LIMIT + 1)
        with app.test_request_context():
            # What the sign-in form makes of these fields (the CSRF token is the view's test).
            login_form = LoginForm(formdata=MultiDict(form), meta={"csrf": False})
            creds = login_form.as_credentials()
            keys = signin._failure_keys(creds.username, addr)
            was_throttled = accounts.throttled(
                session, keys, limits=signin._limits(), window=signin._window()
            )
        failures = count_rows(session, LoginFailure)
        response = client.post("/masuk", data=form, environ_overrides={"REMOTE_ADDR": addr})
        status = response.status_code
        assert status < 500
        with client.session_transaction() as cookie_session:
            signed_in = "uid" in cookie_session
        right = creds.username == "admin" and creds.password == PASSWORD
        if huge == 19:
            expected = 413
        elif token != "valid":
            expected = 400
        elif not creds.username or not creds.password:
            expected = 200
        elif was_throttled:
            expected = 429
        else:
            expected = 302 if right else 200
        record(f"login[{backend}]", f"{status}{' signed in' if signed_in else ''}")
        assert status == expected, (form, status)
        assert signed_in == (expected == 302)
        added = count_rows(session, LoginFailure) - failures
        if expected == 200 and creds.username and creds.password:
            assert added == 2  # the name and the address
            assert "Nama pengguna atau kata sandi salah." in response.get_data(as_text=True)
        elif expected != 302:
            assert added == 0

    check()


def test_throttling_counts_hostile_spellings_of_a_name(app, session, monkeypatch):
    """Five failures under spellings of one name, then even the right password gets 429."""
    accounts.create_user(session, username="admin", password=PASSWORD, role="admin")
    monkeypatch.setattr(accounts, "clock", FakeClock())
    client = app.test_client()
    actions = AuthActions(client)
    for spelling in (" ADMIN ", "Admin\t", "admin", "\tadmin", "aDmIn"):
        wrong = actions.login(spelling, password="'; DROP TABLE login_failure; --")
        assert wrong.status_code == 200
    assert count_rows(session, LoginFailure) == 10
    blocked = actions.login("admin")
    assert blocked.status_code == 429
    with client.session_transaction() as cookie_session:
        assert "uid" not in cookie_session


def test_nul_in_an_address_or_a_name_is_no_server_error(app, backend, open_wave, session):
    """PostgreSQL refuses NUL in parameters: such URLs are 404 and such names a failed sign-in."""
    accounts.create_user(session, username="admin", password=PASSWORD, role="admin")
    client = app.test_client()
    for path in ("/s/uji%002026/bpbd", "/s/uji-2026/bp%00bd", "/hasil/a%00b", "/qr/a%00/b.svg"):
        assert client.get(path).status_code == 404, path
    wrong = AuthActions(client).login("admin\x00")
    assert wrong.status_code == 200
    assert count_rows(session, LoginFailure) == 2
    assert AuthActions(client).login("admin").status_code == 302
    assert client.get("/kerja/pengguna/ad%00min").status_code == 404


# ---------------------------------------------------------------------------------------------
# 4. Escaping: SQL-, HTML- and formula-looking text in every free-text field


def attack(tag: str, lead: str = "") -> str:
    """Return text that is live markup, SQL and (with ``lead``) a formula, marked by ``tag``."""
    return (
        f"{lead}<script>alert('{tag}')</script><img src=x onerror=\"a({tag})\">'; DROP TABLE x; --"
    )


FIELDS = {
    "opd-name": attack("opd-name", '=HYPERLINK("http://x")'),
    "opd-short": "<b>pendek</b>'--",
    "wave-title": attack("wave-title", "+"),
    "wave-evaluator": attack("wave-evaluator", "@"),
    "q-title": attack("q-title"),
    "q-element": attack("q-element"),
    "q-question": attack("q-question"),
    "q-label": "<i>label</i>",
    "comment": attack("comment", "=CMD()"),
    "comment-minus": attack("comment-minus", "-"),
    "flagged-comment": attack("flagged-comment"),
    "service": "<u>KTP</u>'; --",
}


def hostile_questionnaire(session: Session) -> int:
    """Add a questionnaire whose every text is hostile; return its id."""
    spec = questionnaires.check_questionnaire(
        {
            "slug": "jebakan",
            "title_id": FIELDS["q-title"],
            "title_en": FIELDS["q-title"],
            "scale_points": 4,
            "elements": [
                {
                    "code": code,
                    "kind": "ikm",
                    "name_id": f"{FIELDS['q-element']} {code}",
                    "name_en": f"{FIELDS['q-element']} {code}",
                    "question_id": f"{FIELDS['q-question']} {code}",
                    "question_en": f"{FIELDS['q-question']} {code}",
                    "labels_id": [f"{FIELDS['q-label']}{i}" for i in range(1, 5)],
                    "labels_en": [f"{FIELDS['q-label']}{i}" for i in range(1, 5)],
                }
                for code in CODES
            ],
        }
    )
    questionnaire, _new = questionnaires.add_questionnaire(session, spec=spec, actor=None)
    assert questionnaire.id is not None
    return questionnaire.id


def assert_escaped(html: str, *names: str) -> None:
    """No hostile text is live markup in ``html``; the named fields show, escaped."""
    for name, text in FIELDS.items():
        assert text not in html, f"{name} appears unescaped"
    for name in names:
        assert str(escape(FIELDS[name])) in html, f"{name} is not shown escaped"


def pdf_text(data: bytes) -> str:
    """Return the text of a PDF with all whitespace removed."""
    assert data.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(data))
    return "".join("".join(page.extract_text() or "" for page in reader.pages).split())


def assert_in_pdf(text: str, *names: str) -> None:
    """The named fields appear in the PDF's text as the plain characters they are."""
    for name in names:
        assert "".join(FIELDS[name].split()) in text, f"{name} is not in the PDF"


def assert_csv_neutral(text: str) -> None:
    """No cell of a CSV file would run as a formula."""
    for row in csv.reader(io.StringIO(text, newline="")):
        for cell in row:
            assert not cell.startswith(FORMULA_STARTS), cell


@pytest.mark.slow
def test_hostile_text_is_inert_everywhere(app, client, session, monkeypatch):
    """Hostile text in every field: escaped in pages, plain in PDFs, neutral in exports."""
    for slug, name, short in (
        ("jahat", FIELDS["opd-name"], FIELDS["opd-short"]),
        ("baik", "Dinas Baik", "Baik"),
        ("biasa", "Dinas Biasa", None),
    ):
        add_opd(session, slug=slug, name=name, short_name=short)
    wave = create_wave(
        session,
        slug="jebakan",
        title=FIELDS["wave-title"],
        evaluator=FIELDS["wave-evaluator"],
        questionnaire_id=hostile_questionnaire(session),
        status="open",
        target_n=30,
    )
    for slug, answers in (("jahat", [2, 3, 2, 3, 2, 3, 2, 3, 2]), ("baik", [4] * 9)):
        for comment in ("comment", "comment-minus"):
            add_responses(
                session,
                wave,
                slug,
                [answers] * 10,
                comment=FIELDS[comment],
                service=FIELDS["service"],
                sex="L",
                age=30,
            )
    add_responses(session, wave, "biasa", [[3] * 9] * 20)
    add_responses(
        session,
        wave,
        "jahat",
        [[1] * 9],
        status="flagged",
        reason="bot-suspect",
        comment=FIELDS["flagged-comment"],
    )
    accounts.create_user(session, username="admin", password=PASSWORD, role="admin")
    accounts.create_user(
        session, username="kepala-jahat", password=PASSWORD, role="opd-head", opd_slug="jahat"
    )
    monkeypatch.setattr(accounts, "clock", FakeClock(time.time()))

    # The sign-in page echoes a hostile name, escaped.
    citizen = app.test_client()
    echoed = citizen.post(
        "/masuk",
        data={
            "csrf_token": AuthActions(citizen).token(),
            "username": "<script>x</script>",
            "password": "x",
        },
    )
    assert echoed.status_code == 200
    assert "<script>x</script>" not in echoed.get_data(as_text=True)
    # The survey page: OPD name, wave title, questionnaire texts.
    survey = citizen.get("/s/jebakan/jahat")
    assert survey.status_code == 200
    assert_escaped(survey.get_data(as_text=True), "opd-name", "q-question", "q-label")

    assert AuthActions(client).login("admin").status_code == 302
    pages = {
        "/kerja/gelombang/jebakan/ditandai": ("flagged-comment", "opd-name"),
        "/kerja/gelombang/jebakan/dasbor": ("wave-title", "opd-name"),
        "/kerja/gelombang/jebakan/dasbor/tv": ("wave-title",),
        "/kerja/gelombang/jebakan": ("wave-title", "wave-evaluator"),
        "/kerja/gelombang": ("wave-title",),
        "/kerja/opd": ("opd-name",),
        "/kerja/opd/jahat": ("opd-name", "opd-short"),
        "/kerja/kuesioner": ("q-title",),
        "/kerja/pengguna": (),
        "/kerja/audit": (),
    }
    questionnaire_id = queries.get_wave(session, slug="jebakan").questionnaire_id
    pages[f"/kerja/kuesioner/{questionnaire_id}"] = ("q-title", "q-question", "q-element")
    for path, shown in pages.items():
        page = client.get(path)
        assert page.status_code == 200, path
        assert_escaped(page.get_data(as_text=True), *shown)

    set_wave_status(session, slug="jebakan", status="closed")
    head = app.test_client()
    assert AuthActions(head).login("kepala-jahat").status_code == 302
    own = head.get("/kerja/hasil-opd/jahat/jebakan")
    assert own.status_code == 200
    assert_escaped(own.get_data(as_text=True), "comment", "comment-minus", "opd-name")
    opd_pdf = pdf_text(head.get("/r/jebakan/opd/jahat.pdf").data)
    assert_in_pdf(opd_pdf, "comment", "comment-minus")

    set_wave_status(session, slug="jebakan", status="published")
    public = app.test_client()
    for path, shown in {
        "/hasil": ("wave-title",),
        "/hasil/jebakan": ("wave-title", "opd-name"),
        "/hasil/jebakan/jahat": ("opd-name",),
    }.items():
        page = public.get(path)
        assert page.status_code == 200, path
        assert_escaped(page.get_data(as_text=True), *shown)
    ranking = pdf_text(public.get("/r/jebakan/ranking.pdf").data)
    assert_in_pdf(ranking, "wave-title")
    assert "".join(FIELDS["opd-name"].split()) in ranking or FIELDS["opd-short"] in ranking

    # Exports: CSV and XLSX neutral, JSON exact; the open-data ZIP neutral in every CSV.
    csv_text = client.get("/kerja/gelombang/jebakan/ekspor/csv").get_data(as_text=True)
    assert_csv_neutral(csv_text)
    exported_comments = {row["comment"] for row in csv.DictReader(io.StringIO(csv_text))}
    assert neutralise(FIELDS["comment"]) in exported_comments
    assert neutralise(FIELDS["comment-minus"]) in exported_comments
    workbook = load_workbook(io.BytesIO(client.get("/kerja/gelombang/jebakan/ekspor/xlsx").data))
    texts = set()
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", cell.value
                if isinstance(cell.value, str):
                    assert not cell.value.startswith(FORMULA_STARTS), cell.value
                    texts.add(cell.value)
    assert neutralise(FIELDS["comment"]) in texts and neutralise(FIELDS["opd-name"]) in texts
    document = json.loads(client.get("/kerja/gelombang/jebakan/ekspor/json").data)
    comments = {row["comment"] for row in document["responses"]}
    assert {FIELDS["comment"], FIELDS["comment-minus"]} <= comments
    archive = zipfile.ZipFile(io.BytesIO(public.get("/hasil/jebakan/data-terbuka.zip").data))
    names = archive.namelist()
    assert "jebakan/scores.csv" in names
    for name in names:
        content = archive.read(name).decode("utf-8")
        if name.endswith(".csv"):
            assert_csv_neutral(content)
        if name.endswith(".json"):
            json.loads(content)
    scores = csv.reader(io.StringIO(archive.read("jebakan/scores.csv").decode("utf-8")))
    assert neutralise(FIELDS["opd-name"]) in {cell for row in scores for cell in row}

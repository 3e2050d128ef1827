"""Helpers for the tests of visit codes, kiosks and verified answers.

A wave's verification set through the wave service (as ``ikm wave edit`` does), the text of a
PDF, the codes a CSV or a PDF holds, and every stored column of the visit code and audit
tables as one string (to prove that no plain code was stored).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from pathlib import Path

import pypdf
import sqlalchemy as sa
from sqlmodel import Session, select

from survey.core import codes, waves
from survey.core.models import AuditLog, VisitCode, Wave

# No word boundary after the code: a PDF's text may run it into the next line's first word.
CODE_RE = re.compile(rf"(?<![A-Za-z0-9])[{codes.ALPHABET}]{{4}}-[{codes.ALPHABET}]{{4}}")


def set_verification(session: Session, slug: str, mode: str) -> Wave:
    """Set a wave's verification through the wave service (audited, as the CLI does)."""
    wave = waves.find_wave(session, slug=slug)
    settings = dataclasses.replace(waves.current_settings(session, wave=wave), verification=mode)
    waves.update_wave(session, wave=wave, settings=settings, actor=None)
    session.expire_all()
    return waves.find_wave(session, slug=slug)


def pdf_text(data: bytes) -> str:
    """The text of a PDF, whitespace folded (pypdf)."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def codes_in_text(text: str) -> list[str]:
    """Return the ``ABCD-EFGH`` codes found in a text, in order."""
    return CODE_RE.findall(text)


def csv_codes(path: Path) -> list[dict[str, str]]:
    """Return the rows of a codes CSV."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def stored_codes(session: Session) -> list[VisitCode]:
    """Return every stored visit code row, read afresh."""
    session.expire_all()
    return list(session.exec(select(VisitCode).order_by(VisitCode.id)).all())


def stored_text(session: Session) -> str:
    """Every column of every visit code and audit row as one string (for leak checks)."""
    session.expire_all()
    parts = []
    for table in ("visitcode", "auditlog"):
        rows = session.connection().execute(sa.text(f"SELECT * FROM {table}"))  # nosec B608
        parts += [repr(tuple(row)) for row in rows]
    return "\n".join(parts)


def audit_actions(session: Session, action: str) -> list[AuditLog]:
    """Return the audit entries of one action, oldest first."""
    session.expire_all()
    query = select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)
    return list(session.exec(query).all())

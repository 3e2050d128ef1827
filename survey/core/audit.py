"""The audit log: who changed what and when, written in the transaction of the change itself.

Every service that changes users, OPDs, questionnaires, schemes, waves, imports, exports or flag
decisions calls :func:`audit` before it commits, from the web and the command line alike, so an
entry exists exactly when the change does.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from survey.core.models import AuditLog, utcnow


def audit(session: Session, *, actor: str | None, action: str, **detail: Any) -> AuditLog:
    """Add an audit log entry to the session (committed with the change it records)."""
    entry = AuditLog(at=utcnow(), actor=actor, action=action, detail=detail)
    session.add(entry)
    return entry

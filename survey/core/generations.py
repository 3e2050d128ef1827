"""A counter of this process's changes to what a survey page is built from.

The survey's hot path keeps the wave, OPD and questionnaire of a URL and the OPD's services in
a per-process cache for a few seconds (``survey.web.citizen``). A change made in this process
must show at once, so every ORM flush or ORM-enabled UPDATE/DELETE that touches one of those
tables bumps :func:`generation`, and a cache entry made under an older generation is stale.
Other processes' caches expire by time; what must never be stale (a closed wave taking
answers) is checked again by the write itself (``survey.core.submissions``).
"""

from __future__ import annotations

import itertools
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from survey.core.models import Opd, OpdService, Questionnaire, ServiceUnit, Wave, WaveOpd

WATCHED_TABLES = frozenset(
    str(model.__tablename__)
    for model in (Wave, WaveOpd, Opd, OpdService, ServiceUnit, Questionnaire)
)

_generation = 0


def generation() -> int:
    """Return how many changes to the watched tables this process has made."""
    return _generation


def bump() -> None:
    """Mark every cache of the watched tables in this process as stale."""
    global _generation
    _generation += 1


def _table_name(item: Any) -> str | None:
    table = getattr(item, "__table__", None)
    return table.name if isinstance(table, sa.Table) else None


_TOUCHED = "ikm_watched_tables_touched"


def _touched(session: Session) -> None:
    # Bumped now and again at the commit: a reader in another thread between the two may
    # have cached what was there before the commit.
    session.info[_TOUCHED] = True
    bump()


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: UOWTransaction) -> None:
    for item in itertools.chain(session.new, session.dirty, session.deleted):
        if _table_name(item) in WATCHED_TABLES:
            _touched(session)
            return


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_TOUCHED, False):
        bump()


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    table = getattr(state.statement, "table", None)
    if isinstance(table, sa.Table) and table.name in WATCHED_TABLES:
        _touched(state.session)

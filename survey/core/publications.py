"""Publications: publishing freezes a wave's results into stored files, one version at a time.

Publishing a wave (:func:`survey.core.waves.change_status`) adds a :class:`Publication` row in
the state ``building`` in the same transaction as the status change (:func:`begin`). A job
(:func:`build`: a thread of the web app, inline for ``ikm wave publish``) then scores the wave
once (seed 0, as ``ikm score``), renders every page and file from that one scored wave and
stores each as a :class:`PublicationFile` with its SHA-256, committing as it goes and counting
``done`` of ``total``. The public pages and downloads serve these stored bytes and nothing else,
so a later change to an OPD's name, a scheme or a questionnaire, or a new render of a chart,
does not change what was published; the "data taken" time every file prints is the
publication's ``data_taken_at``.

The job has two phases. The first stores what the public pages need (the ranking and OPD pages
and the open-data ZIP); only when the last of them is stored does the publication become
``ready`` and replace the previous version (``superseded_at``), so readers never see half a
version. The second phase stores the PDF reports, the ranking's and each OPD's (a few hundred
milliseconds each: minutes for hundreds of OPDs), while the version is already served; a report
asked for before its turn is made at once from the same frozen input (:func:`make_file`), so it
is the file the job would have stored. A failure in the first phase marks the
publication ``failed`` with its reason (it is never served); :func:`build` run again (``ikm wave
snapshot``) resumes it, keeping the files already stored.

Errata: a published wave can be corrected. :func:`begin_revision` (the action "revise") takes it
back to ``closed`` with an audited reason while its latest version stays public; publishing
again needs a public change note and gives the next version. Every version stays readable
under its own number.

This module renders nothing itself: the job is handed a *plan* (:class:`Step` list) by its
caller, since the pages are Flask templates (:mod:`survey.web.snapshots`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from survey.core.audit import audit
from survey.core.models import Publication, PublicationFile, Wave, utcnow
from survey.core.problems import define, problem

define(
    {
        "publication-note-required": (
            "version {version} corrects a published version: write a public change note"
        ),
        "publication-note-too-long": "the change note has {length} characters (at most {limit})",
        "revision-reason-required": "say why the published wave is being corrected",
        "revision-reason-too-long": "the reason has {length} characters (at most {limit})",
        "publication-none": "wave {wave!r} has no publication to build",
        "publication-ready": "version {version} of wave {wave!r} is already complete",
    }
)

NOTE_MAX_LENGTH = 2000
BATCH = 20  # small files stored per commit (each report is committed on its own)


@dataclass(frozen=True)
class Artifact:
    """One file of a publication as rendered: its bytes and media type."""

    content_type: str
    data: bytes


@dataclass(frozen=True)
class Step:
    """One file to store: its name, whether the version can be served without it, its maker."""

    name: str
    make: Callable[[], Artifact]
    later: bool = False  # second phase: built after the version is served
    large: bool = False  # commit right after storing it


Planner = Callable[[Session, Wave, Publication], Sequence[Step]]


def check_note(note: str | None, *, required: bool, version: int) -> str | None:
    """Return the cleaned change note, or raise a ProblemError naming the field ``note``."""
    from survey.core.waves import WaveSetupError

    text = (note or "").strip()
    if required and not text:
        raise WaveSetupError([problem("publication-note-required", "note", version=version)])
    if len(text) > NOTE_MAX_LENGTH:
        raise WaveSetupError(
            [problem("publication-note-too-long", "note", length=len(text), limit=NOTE_MAX_LENGTH)]
        )
    return text or None


def check_reason(reason: str | None) -> str:
    """Return the cleaned reason for a revision, or raise a ProblemError (field ``reason``)."""
    from survey.core.waves import WaveSetupError

    text = (reason or "").strip()
    if not text:
        raise WaveSetupError([problem("revision-reason-required", "reason")])
    if len(text) > NOTE_MAX_LENGTH:
        raise WaveSetupError(
            [problem("revision-reason-too-long", "reason", length=len(text), limit=NOTE_MAX_LENGTH)]
        )
    return text


def next_version(session: Session, *, wave: Wave) -> int:
    """The number the wave's next publication takes (1 for the first)."""
    top = session.exec(
        select(sa.func.max(Publication.version)).where(Publication.wave_id == wave.id)
    ).one()
    return int(top or 0) + 1


def begin(
    session: Session,
    *,
    wave: Wave,
    actor: str | None,
    note: str | None,
    reason: str | None = None,
    at: datetime | None = None,
) -> Publication:
    """Add the wave's next publication, ``building`` (no commit: the caller's transaction).

    From version 2 on, a public change note is required (a correction must say what changed).
    ``at`` is the moment of publishing (its "data taken" time); now by default.
    """
    version = next_version(session, wave=wave)
    cleaned = check_note(note, required=version > 1, version=version)
    now = at or utcnow()
    publication = Publication(
        wave_id=int(wave.id or 0),
        version=version,
        status="building",
        note=cleaned,
        reason=(reason or "").strip() or None,
        actor=actor,
        created_at=now,
        data_taken_at=now,
    )
    session.add(publication)
    session.flush()
    return publication


def versions(session: Session, *, wave: Wave) -> list[Publication]:
    """The wave's publications, newest version first."""
    query = (
        select(Publication)
        .where(Publication.wave_id == wave.id)
        .order_by(col(Publication.version).desc())
    )
    return list(session.exec(query).all())


def latest(session: Session, *, wave: Wave) -> Publication | None:
    """The wave's newest publication in any state (building, ready or failed), or None."""
    found = versions(session, wave=wave)
    return found[0] if found else None


def latest_ready(session: Session, *, wave: Wave) -> Publication | None:
    """The version the public sees: the newest served one, or None (nothing public yet)."""
    query = (
        select(Publication)
        .where(Publication.wave_id == wave.id, col(Publication.ready_at).is_not(None))
        .order_by(col(Publication.version).desc())
        .limit(1)
    )
    return session.exec(query).first()


def version(session: Session, *, wave: Wave, number: int) -> Publication | None:
    """The wave's served publication with this version number, or None."""
    query = select(Publication).where(
        Publication.wave_id == wave.id,
        Publication.version == number,
        col(Publication.ready_at).is_not(None),
    )
    return session.exec(query).first()


def public_wave_ids(session: Session) -> set[int]:
    """The ids of the waves that have a served publication (what ``/hasil`` lists)."""
    query = select(Publication.wave_id).where(col(Publication.ready_at).is_not(None)).distinct()
    return {int(i) for i in session.exec(query).all()}


def is_public(session: Session, *, wave: Wave) -> bool:
    """Whether the wave has a served publication."""
    return latest_ready(session, wave=wave) is not None


@dataclass(frozen=True)
class StoredFile:
    """A stored file's bytes as served, with its strong ETag."""

    name: str
    content_type: str
    data: bytes
    etag: str


def file(session: Session, *, publication: Publication, name: str) -> StoredFile | None:
    """The stored file of a publication with this name, or None (not stored, or not yet)."""
    query = select(PublicationFile.content_type, PublicationFile.data, PublicationFile.etag).where(
        PublicationFile.publication_id == publication.id, PublicationFile.name == name
    )
    row = session.exec(query).first()
    if row is None:
        return None
    content_type, data, etag = row
    return StoredFile(name=name, content_type=content_type, data=bytes(data), etag=etag)


def file_etag(session: Session, *, publication: Publication, name: str) -> str | None:
    """The ETag of a stored file without reading its bytes (None: not stored)."""
    query = select(PublicationFile.etag).where(
        PublicationFile.publication_id == publication.id, PublicationFile.name == name
    )
    return session.exec(query).first()


def file_names(session: Session, *, publication: Publication) -> set[str]:
    """The names of the files stored for a publication so far."""
    query = select(PublicationFile.name).where(PublicationFile.publication_id == publication.id)
    return set(session.exec(query).all())


def digest(data: bytes) -> str:
    """The SHA-256 of the bytes in hex (the stored ETag)."""
    return hashlib.sha256(data).hexdigest()


def _store(session: Session, publication: Publication, name: str, artifact: Artifact) -> None:
    """Add one file of the publication (no commit)."""
    session.add(
        PublicationFile(
            publication_id=int(publication.id or 0),
            name=name,
            content_type=artifact.content_type,
            data=artifact.data,
            etag=digest(artifact.data),
            size=len(artifact.data),
        )
    )


def _mark_ready(session: Session, publication: Publication) -> None:
    """Serve the publication from now on; the earlier served versions become superseded."""
    now = utcnow()
    publication.status = "ready"
    publication.ready_at = now
    publication.error = None
    session.add(publication)
    earlier = select(Publication).where(
        Publication.wave_id == publication.wave_id,
        Publication.version < publication.version,
        col(Publication.ready_at).is_not(None),
        col(Publication.superseded_at).is_(None),
    )
    for older in session.exec(earlier).all():
        older.superseded_at = now
        session.add(older)
    audit(
        session,
        actor=publication.actor,
        action="publication.ready",
        wave_id=publication.wave_id,
        version=publication.version,
    )


Progress = Callable[[Publication], None]


def build(
    session: Session,
    *,
    publication_id: int,
    plan: Planner,
    progress: Progress | None = None,
    later: bool = True,
) -> Publication:
    """Render and store every missing file of a publication, then serve it (see the module).

    Files already stored are kept (a failed or interrupted build resumes). A failure in the
    first phase leaves the publication ``failed`` with the error; in the second phase it stays
    served and the error is kept for the workspace. The error is raised again after it is
    recorded.
    """
    publication = session.get(Publication, publication_id)
    if publication is None:
        raise LookupError(f"no publication {publication_id}")
    wave = session.get(Wave, publication.wave_id)
    assert wave is not None
    if publication.status == "failed":
        publication.status = "ready" if publication.ready_at is not None else "building"
        publication.error = None
        session.add(publication)
        session.commit()
    publication.heartbeat_at = utcnow()
    session.add(publication)
    session.commit()
    try:
        steps = list(plan(session, wave, publication))
        stored = file_names(session, publication=publication)
        publication.total = len(steps)
        publication.done = sum(1 for step in steps if step.name in stored)
        session.add(publication)
        session.commit()
        first = [step for step in steps if not step.later]
        second = [step for step in steps if step.later]
        _run(session, publication, first, stored, progress)
        if publication.ready_at is None:
            _mark_ready(session, publication)
            session.commit()
            if progress is not None:
                progress(publication)
        if not later:  # the second phase's files are made when first asked for (make_file)
            return publication
        _run(session, publication, second, stored, progress)
        publication.completed_at = utcnow()
        session.add(publication)
        session.commit()
    except Exception as exc:
        session.rollback()
        publication = session.get(Publication, publication_id) or publication
        publication.status = "ready" if publication.ready_at is not None else "failed"
        publication.error = f"{type(exc).__name__}: {exc}"[:NOTE_MAX_LENGTH]
        session.add(publication)
        session.commit()
        raise
    return publication


def _run(
    session: Session,
    publication: Publication,
    steps: Sequence[Step],
    stored: set[str],
    progress: Progress | None,
) -> None:
    """Make and store the steps not stored yet, committing in batches with the progress."""
    pending = 0
    for step in steps:
        if step.name in stored:
            continue
        if step.large and pending:  # keep what is done before a long (or failing) render
            session.add(publication)
            session.commit()
            pending = 0
        _store(session, publication, step.name, step.make())
        stored.add(step.name)
        publication.done += 1
        pending += 1
        if step.large or pending >= BATCH:
            publication.heartbeat_at = utcnow()
            session.add(publication)
            try:
                session.commit()
            except sa.exc.IntegrityError:  # a reader had it made meanwhile (make_file)
                session.rollback()
                publication.done = len(file_names(session, publication=publication))
                session.add(publication)
                session.commit()
            pending = 0
            if progress is not None:
                progress(publication)
    session.add(publication)
    session.commit()
    if progress is not None and pending:
        progress(publication)


# A first phase whose job has not committed for this long has died with its process (a restart,
# a killed worker): the next reader who would be told "being prepared" starts it again. The
# longest single step between two commits (the scores and rank sets of a 500-OPD wave, or one
# large report) takes about a minute; a second job on the same version is harmless anyway (it
# keeps what is stored and skips what the other stores).
STALLED_AFTER = timedelta(minutes=10)


def claim_stalled(
    session: Session, *, publication: Publication, now: datetime | None = None
) -> bool:
    """Take over a first phase whose job stopped sending signs of life; False if not stalled.

    One UPDATE decides, so of several readers arriving at once exactly one gets True (and
    builds); the publication's heartbeat is then now, so the others see a live job.
    """
    now = now or utcnow()
    cutoff = now - STALLED_AFTER
    seen = publication.heartbeat_at or publication.created_at
    if publication.status != "building" or seen >= cutoff:
        return False  # live as last read: no write (readers of a "being prepared" page poll)
    last = sa.func.coalesce(col(Publication.heartbeat_at), col(Publication.created_at))
    taken = session.connection().execute(
        sa.update(Publication)
        .where(
            col(Publication.id) == publication.id,
            col(Publication.status) == "building",
            last < cutoff,
        )
        .values(heartbeat_at=now)
    )
    session.commit()
    return bool(taken.rowcount == 1)


def make_file(
    session: Session, *, publication: Publication, name: str, plan: Planner
) -> StoredFile | None:
    """Make and store one planned file of a served version now (asked for before its turn).

    The file comes from the same frozen input as the job's (the scored wave stored in the
    first phase), so it has the bytes the job would have stored. None: no such file planned.
    """
    wave = session.get(Wave, publication.wave_id)
    assert wave is not None
    step = next((s for s in plan(session, wave, publication) if s.name == name), None)
    if step is None:
        return None
    artifact = step.make()
    try:
        _store(session, publication, name, artifact)
        session.execute(
            sa.update(Publication)
            .where(col(Publication.id) == publication.id)
            .values(done=Publication.done + 1)
        )
        session.commit()
    except sa.exc.IntegrityError:
        session.rollback()  # another worker stored it meanwhile: the same bytes
    return file(session, publication=publication, name=name)


def pending_publication(session: Session, *, wave: Wave) -> Publication:
    """The publication ``ikm wave snapshot`` (re)builds: the newest, unless it is complete."""
    from survey.core.waves import WaveSetupError

    found = latest(session, wave=wave)
    if found is None:
        raise WaveSetupError([problem("publication-none", "wave", wave=wave.slug)])
    if found.completed_at is not None and found.status == "ready":
        raise WaveSetupError(
            [problem("publication-ready", "wave", wave=wave.slug, version=found.version)]
        )
    return found


def delete_for_wave(session: Session, *, wave: Wave) -> None:
    """Delete a wave's publications and their files (no commit; deleting a wave)."""
    ids = select(Publication.id).where(Publication.wave_id == wave.id)
    session.exec(sa.delete(PublicationFile).where(col(PublicationFile.publication_id).in_(ids)))
    session.exec(sa.delete(Publication).where(col(Publication.wave_id) == wave.id))


def summary(publication: Publication) -> dict[str, Any]:
    """The publication as plain JSON values (the workspace and the CLI print it)."""
    return {
        "version": publication.version,
        "status": publication.status,
        "done": publication.done,
        "total": publication.total,
        "note": publication.note,
        "error": publication.error,
    }

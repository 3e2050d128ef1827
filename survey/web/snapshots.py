"""The web side of publications: what a version stores, the job that builds it, and serving.

:func:`plan` lists a version's files for :func:`survey.core.publications.build`: the public
ranking page and every OPD page in Bahasa Indonesia and English (and their "verified answers
only" variants when the wave's visit codes are optional), the ranking report in both languages
and the open-data ZIP (first phase: the version is served once they are stored), then every
OPD's public report and its head's full report (with the comments) in both languages (second
phase). All of them come from one scored wave (seed 0) whose "data taken" time is the
publication's.

Pages are stored whole, as an anonymous visitor sees them; a signed-in reader gets the same
bytes with the workspace link added to the header (:func:`_with_nav`), a superseded version's
page gets the notice naming the current version. Every response carries a strong ETag of the
bytes it serves (``If-None-Match`` answers 304) and ``Cache-Control``: a minute for the
"latest" addresses, a year (immutable) for a version's files.

The web publish starts the job in a thread (:func:`start_build`; inline when
``PUBLICATION_INLINE`` is set, as the tests do); ``ikm wave publish`` builds inline with
progress lines and ``ikm wave snapshot`` resumes a failed or interrupted build.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from cachetools import LRUCache
from flask import Flask, Response, abort, render_template, request
from flask.typing import ResponseReturnValue
from sqlmodel import Session

from reports import frozen
from survey.core import publications, queries
from survey.core.models import Opd, Publication, Wave
from survey.core.publications import Artifact, Step
from survey.web import background
from survey.web.database import session_scope
from survey.web.signin import current_user

if TYPE_CHECKING:
    from reports.model import Lang, ScoredWave
    from reports.ranking import RankRow

log = logging.getLogger(__name__)

LANGS: tuple[Lang, ...] = ("id", "en")
HTML = "text/html; charset=utf-8"
PDF = "application/pdf"
ZIP = "application/zip"
LATEST_CACHE = "public, max-age=60"
VERSION_CACHE = "public, max-age=31536000, immutable"
RETRY_SECONDS = 10


@dataclass(frozen=True)
class VersionInfo:
    """An earlier version as a page lists it."""

    version: int
    created_at: datetime
    note: str | None


def _frozen(wave: Wave) -> Wave:
    """A detached copy of the wave (the job's later commits never reload it)."""
    return Wave(**wave.model_dump())


def _scored(
    session: Session, wave: Wave, publication: Publication, verified: bool
) -> tuple[ScoredWave, Step]:
    """The wave scored once for the publication, its "data taken" time the publication's.

    The scored wave is stored with the version ("data:scored", see :mod:`reports.frozen`), so
    a file made later (a report asked for before the job reached it, or a resumed build) rests
    on the same frozen figures and names. Returns it with the step that
    stores it (a step already done when it was stored before).
    """
    from survey.core.scores import score_wave
    from survey.web.results import SEED

    name = "data:scored" + (":verified" if verified else "")
    stored = publications.file(session, publication=publication, name=name)
    if stored is not None:
        kept = stored.data
        step = Step(name, lambda: Artifact("application/octet-stream", kept))  # stored already
        return frozen.loads(kept), step
    scored = score_wave(session, wave=wave, seed=SEED, verified_only=verified)
    scored = dataclasses.replace(scored, data_taken_at=publication.data_taken_at)
    data = frozen.dumps(scored)
    return scored, Step(name, lambda: Artifact("application/octet-stream", data))


def _page(app: Flask, path: str, lang: Lang, verified: bool, render: Callable[[], str]) -> Artifact:
    """Render a page as an anonymous visitor sees it, in an app context of its own."""
    query = {"lang": lang} | ({"terverifikasi": "1"} if verified else {})
    with app.app_context(), app.test_request_context(path, query_string=query):
        return Artifact(HTML, render().encode("utf-8"))


def plan(app: Flask) -> publications.Planner:
    """The planner of the app's publications (see the module)."""

    def planner(session: Session, live: Wave, publication: Publication) -> Sequence[Step]:
        from reports.opd import render_opd_pdf
        from reports.ranking import render_ranking_pdf
        from survey.core import exports
        from survey.core.reportdata import opd_report_data
        from survey.core.representation import wave_design
        from survey.core.scores import verified_share
        from survey.web.results import VerifiedSwitch, opd_page_html, rank_rows, wave_page_html

        wave = _frozen(live)
        earlier = [
            VersionInfo(p.version, p.created_at, p.note)
            for p in publications.versions(session, wave=live)
            if p.version < publication.version and p.ready_at is not None
        ]
        info = VersionInfo(publication.version, publication.created_at, publication.note)
        opds = [Opd(**opd.model_dump()) for opd, _link in queries.wave_opds(session, wave=live)]
        scored, store = _scored(session, live, publication, verified=False)
        data_steps = [store]
        variants: list[tuple[bool, ScoredWave, VerifiedSwitch | None]] = [(False, scored, None)]
        if live.verification == "optional":
            share = verified_share(session, wave=live)
            verified, store = _scored(session, live, publication, verified=True)
            data_steps.append(store)
            variants = [
                (on, verified if on else scored, VerifiedSwitch(on, share.counted, share.verified))
                for on in (False, True)
            ]
        design = wave_design(session, wave=live)

        def wave_html(ranking: ScoredWave, switch: VerifiedSwitch | None, lang: Lang) -> str:
            return wave_page_html(
                session,
                wave=wave,
                ranking=ranking,
                switch=switch,
                lang=lang,
                publication=info,
                earlier=earlier,
            )

        # Each variant's ranking rows (by its "verified" switch), made once for all of its OPD
        # pages, when the first of them is rendered.
        rows_of: dict[bool, Mapping[str, RankRow]] = {}

        def opd_html(
            opd: Opd, on: bool, ranking: ScoredWave, switch: VerifiedSwitch | None, lang: Lang
        ) -> str:
            rows = rows_of.get(on)
            if rows is None:
                rows = rows_of[on] = rank_rows(ranking)
            return opd_page_html(
                wave=wave,
                opd=opd,
                ranking=ranking,
                switch=switch,
                lang=lang,
                publication=info,
                earlier=earlier,
                rows=rows,
            )

        def ranking_pdf(lang: Lang) -> Artifact:
            return Artifact(PDF, render_ranking_pdf(scored, lang=lang, design=design))

        steps: list[Step] = list(data_steps)
        for lang in LANGS:
            for on, ranking, switch in variants:
                suffix = ":verified" if on else ""
                make = partial(wave_html, ranking, switch, lang)
                steps.append(
                    Step(
                        f"page:{lang}:wave{suffix}",
                        partial(_page, app, f"/hasil/{wave.slug}", lang, on, make),
                    )
                )
                for opd in opds:
                    make = partial(opd_html, opd, on, ranking, switch, lang)
                    path = f"/hasil/{wave.slug}/{opd.slug}"
                    steps.append(
                        Step(
                            f"page:{lang}:opd:{opd.slug}{suffix}",
                            partial(_page, app, path, lang, on, make),
                        )
                    )
        zone = str(app.config.get("TIMEZONE", "Asia/Jakarta"))

        def open_data() -> Artifact:
            return Artifact(
                ZIP,
                exports.open_data_zip(
                    session, wave=live, timezone=zone, taken_at=publication.data_taken_at
                ),
            )

        def opd_pdf(slug: str, public: bool, lang: Lang) -> Artifact:
            data = opd_report_data(session, wave=live, ranking=scored, opd_slug=slug, public=public)
            return Artifact(PDF, render_opd_pdf(data, lang=lang))

        steps.append(Step("zip:open-data", open_data, large=True))
        if scored.score is not None:
            for lang in LANGS:
                pdf = partial(ranking_pdf, lang)
                steps.append(Step(f"pdf:{lang}:ranking", pdf, later=True, large=True))
            for opd in opds:
                if scored.unit(opd.slug) is None:
                    continue
                for kind, public in (("opd", True), ("opd-full", False)):
                    for lang in LANGS:
                        steps.append(
                            Step(
                                f"pdf:{lang}:{kind}:{opd.slug}",
                                partial(opd_pdf, opd.slug, public, lang),
                                later=True,
                                large=True,
                            )
                        )
        return steps

    return planner


# --- The job ---------------------------------------------------------------------------------


def build_now(
    app: Flask,
    publication_id: int,
    progress: publications.Progress | None = None,
    later: bool = True,
) -> Publication:
    """Build a publication in this thread (its own session); errors are raised after recording.

    ``later=False`` stops after the first phase (the reports are then made when asked for).
    """
    with app.app_context(), session_scope(app) as session:
        return publications.build(
            session, publication_id=publication_id, plan=plan(app), progress=progress, later=later
        )


def _work(app: Flask, publication_id: int) -> None:
    """The thread's body: build, and log a failure (it is recorded on the publication)."""
    try:
        build_now(app, publication_id)
    except Exception:
        log.exception("publication %s failed", publication_id)


def start_build(app: Flask, publication_id: int) -> threading.Thread | None:
    """Start the build in a thread (or build now when ``PUBLICATION_INLINE`` is set)."""
    return background.start(
        app,
        _work,
        publication_id,
        inline="PUBLICATION_INLINE",
        name=f"ikm-publish-{publication_id}",
    )


# --- Serving ---------------------------------------------------------------------------------


def _etag(data: bytes) -> str:
    """A strong ETag of bytes computed at request time."""
    return hashlib.sha256(data).hexdigest()


def send(data: bytes, *, content_type: str, etag: str, cache: str) -> Response:
    """Serve stored bytes with their ETag; 304 when the reader already has them."""
    if request.if_none_match.contains(etag):
        response = Response(status=304)
    else:
        response = Response(data, content_type=content_type)
    response.set_etag(etag)
    response.headers["Cache-Control"] = cache
    response.vary.add("Cookie")  # the language and the signed-in header come from cookies
    return response


def _with_nav(html: bytes) -> bytes:
    """Add the workspace link a signed-in reader's header has (the stored page is anonymous)."""
    nav = render_template("results/_nav.html").encode("utf-8") + b"\n"
    marker = b'<p class="brand">'
    at = html.find(marker)
    end = html.find(b"</p>\n", at) if at >= 0 else -1
    if end < 0:
        return html
    end += len(b"</p>\n")
    return html[:end] + nav + html[end:]


def _with_notice(html: bytes, wave: Wave, current: Publication) -> bytes:
    """Put the "superseded by version N" notice at the top of a superseded version's page."""
    notice = render_template("results/_superseded.html", wave=wave, current=current).encode("utf-8")
    marker = b"<main>\n"
    at = html.find(marker)
    if at < 0:
        return html
    at += len(marker)
    return html[:at] + notice + html[at:]


def preparing(session: Session, *, wave: Wave) -> ResponseReturnValue:
    """503 "being prepared (x of y)" while the wave's first version builds; else 404.

    A first phase whose job died (no commit for ``STALLED_AFTER``) is started again here, by
    the reader who finds it so (see :func:`survey.core.publications.claim_stalled`).
    """
    building = publications.latest(session, wave=wave)
    if building is None or building.status != "building" or wave.status != "published":
        abort(404)
    if publications.claim_stalled(session, publication=building):
        log.warning(
            "resuming the build of %s version %s: its job stopped", wave.slug, building.version
        )
        start_build(background.app_of(), int(building.id or 0))
        session.refresh(building)
    html = render_template(
        "results/preparing.html",
        wave=wave,
        done=building.done,
        total=building.total,
        retry=RETRY_SECONDS,
    )
    response = Response(html, status=503, content_type=HTML)
    response.headers["Retry-After"] = str(RETRY_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response


def chosen(
    session: Session, *, wave: Wave, number: int | None
) -> tuple[Publication | None, Publication | None]:
    """The version asked for (the latest served one by default) and the latest served one."""
    current = publications.latest_ready(session, wave=wave)
    if number is None:
        return current, current
    return publications.version(session, wave=wave, number=number), current


def serve_page(
    session: Session, *, wave: Wave, name: str, number: int | None = None
) -> ResponseReturnValue:
    """Serve a stored page of the wave's latest version (or of version ``number``)."""
    publication, current = chosen(session, wave=wave, number=number)
    if current is None:
        return preparing(session, wave=wave)
    if publication is None:
        abort(404)
    known = publications.file_etag(session, publication=publication, name=name)
    if known is None:
        abort(404)
    superseded = publication.version != current.version
    signed_in = current_user() is not None
    cache = LATEST_CACHE if number is None else "public, max-age=3600"
    if signed_in:
        cache = "private, no-cache"
    elif not superseded and request.if_none_match.contains(known):
        return send(b"", content_type=HTML, etag=known, cache=cache)  # 304, no read
    stored = _stored(session, publication, name, known)
    if stored is None:
        abort(404)
    data, etag = stored.data, stored.etag
    if superseded:
        data = _with_notice(data, wave, current)
    if signed_in:
        data = _with_nav(data)
    if data is not stored.data:
        etag = _etag(data)
    return send(data, content_type=stored.content_type, etag=etag, cache=cache)


def serve_file(
    session: Session,
    *,
    wave: Wave,
    name: str,
    number: int | None = None,
    filename: str,
    cache: str | None = None,
) -> ResponseReturnValue:
    """Serve a stored PDF or ZIP of a version; 503 while it or the first version is built."""
    publication, current = chosen(session, wave=wave, number=number)
    if current is None:
        return preparing(session, wave=wave)
    if publication is None:
        abort(404)
    default = LATEST_CACHE if number is None else VERSION_CACHE
    known = publications.file_etag(session, publication=publication, name=name)
    if known is not None and request.if_none_match.contains(known):
        return send(b"", content_type="", etag=known, cache=cache or default)  # 304, no read
    stored = None if known is None else _stored(session, publication, name, known)
    if stored is None and publication.completed_at is None:
        stored = _make_now(session, publication, name)
    if stored is None:
        abort(404)
    response = send(
        stored.data, content_type=stored.content_type, etag=stored.etag, cache=cache or default
    )
    disposition = "attachment" if stored.content_type == ZIP else "inline"
    response.headers["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    return response


# A stored file never changes and its ETag is the SHA-256 of its bytes, so each process keeps
# the files it served last in memory, by ETag, up to KEPT_BYTES in all (files over KEPT_LARGEST
# are read each time; behind nginx the PDFs and ZIPs come from its cache anyway). A page is then
# read from the database once per process, not once per reader: on PostgreSQL a 500-OPD wave's
# page, read as bytea on every request, took the median from 10 to 34 ms (bench/snapshot.py).
KEPT_BYTES = 32 * 1024 * 1024
KEPT_LARGEST = 4 * 1024 * 1024
_kept: LRUCache[str, tuple[str, bytes]] = LRUCache(
    maxsize=KEPT_BYTES, getsizeof=lambda kept: max(1, len(kept[1]))
)
_KEPT_LOCK = threading.Lock()  # cachetools' caches are not thread-safe


def _stored(
    session: Session, publication: Publication, name: str, etag: str
) -> publications.StoredFile | None:
    """The stored file whose ETag is ``etag``: from this process's memory, or read and kept."""
    with _KEPT_LOCK:
        kept = _kept.get(etag)
    if kept is not None:
        return publications.StoredFile(name=name, content_type=kept[0], data=kept[1], etag=etag)
    stored = publications.file(session, publication=publication, name=name)
    if stored is not None and len(stored.data) <= KEPT_LARGEST:
        with _KEPT_LOCK:
            _kept[stored.etag] = (stored.content_type, stored.data)
    return stored


_MAKING = threading.Lock()  # one file made on request at a time per process


def _make_now(
    session: Session, publication: Publication, name: str
) -> publications.StoredFile | None:
    """Make a second-phase file asked for before the job reached it, from the frozen input."""
    if not name.startswith("pdf:"):
        return None
    app = background.app_of()
    with _MAKING:
        found = publications.file(session, publication=publication, name=name)
        if found is not None:
            return found
        return publications.make_file(session, publication=publication, name=name, plan=plan(app))

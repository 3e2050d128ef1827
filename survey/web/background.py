"""Jobs the web starts and leaves running: response imports and publication builds.

Each runs in a daemon thread of the worker process with an app context of its own (its
progress is in the database, so any app server shows it), or in the request itself when the
app's setting says so (the tests' ``IMPORT_INLINE`` and ``PUBLICATION_INLINE``).

A job's thread lowers its own CPU priority (``BACKGROUND_NICE``, Linux's per-thread nice), so
that on a busy machine the kernel runs the citizens' requests first: a million-row import or
a 500-OPD snapshot takes a minute of CPU either way, a citizen's answer a few milliseconds.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable

from flask import Flask, current_app


def app_of() -> Flask:
    """The current application object itself (a thread outlives the request's proxy)."""
    return current_app._get_current_object()  # type: ignore[attr-defined]


def start(
    app: Flask, work: Callable[[Flask, int], None], job_id: int, *, inline: str, name: str
) -> threading.Thread | None:
    """Run ``work(app, job_id)`` in a daemon thread named ``name``, or now when the app's
    setting ``inline`` is true (then None)."""
    if app.config.get(inline):
        work(app, job_id)
        return None
    thread = threading.Thread(
        target=_in_background, args=(work, app, job_id), name=name, daemon=True
    )
    thread.start()
    return thread


BACKGROUND_NICE = 10  # added to a job thread's nice value (lower priority)


def _in_background(work: Callable[[Flask, int], None], app: Flask, job_id: int) -> None:
    """Lower this thread's CPU priority, then run the job."""
    lower_priority()
    work(app, job_id)


def lower_priority() -> None:
    """Add ``BACKGROUND_NICE`` to the calling thread's nice value (where the system allows)."""
    with contextlib.suppress(OSError, AttributeError):
        thread = threading.get_native_id()
        os.setpriority(
            os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + BACKGROUND_NICE
        )

"""Jobs the web starts and leaves running: response imports and publication builds.

Each runs in a daemon thread of the worker process with an app context of its own (its
progress is in the database, so any app server shows it), or in the request itself when the
app's setting says so (the tests' ``IMPORT_INLINE`` and ``PUBLICATION_INLINE``).
"""

from __future__ import annotations

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
    thread = threading.Thread(target=work, args=(app, job_id), name=name, daemon=True)
    thread.start()
    return thread

"""Tools for tests and benchmarks: a live server in a thread and Debian's Chromium.

Chromium comes from Debian (``scripts/setup --browser`` installs it); Playwright (a dev
dependency, imported only here) drives it, since ``playwright install`` cannot download
browsers on these machines.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("IKM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


@contextmanager
def live_server(app: Flask) -> Iterator[str]:
    """Serve ``app`` on a free loopback port in a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


@contextmanager
def chromium() -> Iterator[Any]:
    """Launch headless Debian Chromium through Playwright; yield the browser."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


def wait_for(page: Any, script: str, *, timeout: float = 20.0) -> None:
    """Wait until ``script`` (an async function's body, run in the page) returns true.

    Polled from here: Playwright's own wait_for_function evaluates a string, which the field
    pages' policy (no 'unsafe-eval') rightly refuses.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.evaluate(f"async () => {{ {script} }}"):
            return
        time.sleep(0.2)
    raise TimeoutError(f"timed out waiting for: {script}")

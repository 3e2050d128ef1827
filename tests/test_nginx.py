"""The shipped nginx locations (deploy/nginx-ikm-app.conf) in front of the app, for real.

nginx runs with the configuration bench/snapshot.py writes around that file, in front of the
test app served by Werkzeug on loopback. Published PDFs and ZIPs are kept in nginx's cache and
served from it (the app is asked once), query arguments other than ``lang`` cannot be used to
miss the cache, a signed-in OPD head's full report is never served from the cache nor kept in
it, and pages are never cached. nginx is installed by ``bash scripts/setup --browser``; without
it these tests skip (in CI, ``CI=true``, they fail instead).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from auth_helpers import login
from flask import Flask
from sqlmodel import Session
from survey_helpers import add_responses, set_wave_status
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
IN_CI = os.environ.get("CI", "").lower() == "true"


def _bench() -> ModuleType:
    """``bench/snapshot.py``, whose nginx configuration is the one under test."""
    spec = importlib.util.spec_from_file_location(
        "ikm_bench_snapshot", ROOT / "bench" / "snapshot.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def proxied(app: Flask, tmp_path: Path) -> Iterator[str]:
    """The app behind nginx: the base URL of nginx."""
    if not os.path.exists(NGINX):
        message = "nginx is not installed: run bash scripts/setup --browser"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = _free_port()
    folder = tmp_path / "nginx"
    conf = _bench().nginx_config(folder, port, server.server_port)
    checked = subprocess.run(
        [NGINX, "-t", "-p", str(folder), "-c", str(conf)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    log = folder / "nginx.log"
    with log.open("wb") as output:
        nginx = subprocess.Popen(
            [NGINX, "-p", str(folder), "-c", str(conf), "-g", "daemon off;"],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert nginx.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        nginx.terminate()
        nginx.wait(10)
        server.shutdown()
        thread.join(10)


def get(url: str, cookie: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET ``url`` (with a ``Cookie`` header if given): status, headers, body."""
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def published(session: Session, open_wave) -> str:
    """The sample wave with answers (comments on BPBD's), published: its slug."""
    add_responses(session, open_wave, "bpbd", [[4] * 9] * 6, comment="Antrean terlalu lama")
    add_responses(session, open_wave, "rsud", [[2] * 9] * 6)
    return set_wave_status(session, slug="uji-2026", status="published").slug


def test_published_files_are_served_from_the_cache(proxied: str, published: str) -> None:
    paths = [
        f"/r/{published}/ranking.pdf",
        f"/r/{published}/versi/1/ranking.pdf",
        f"/r/{published}/opd/bpbd.pdf",
        f"/hasil/{published}/data-terbuka.zip",
        f"/hasil/{published}/versi/1/data-terbuka.zip",
    ]
    for path in paths:
        status, first, body = get(proxied + path)
        assert (status, first["X-Cache-Status"]) == (200, "MISS"), path
        status, again, cached = get(proxied + path)
        assert (status, again["X-Cache-Status"], cached) == (200, "HIT", body), path
        assert again["ETag"] == first["ETag"]
    # Other query arguments cannot miss the cache on purpose; ?lang= is a file of its own.
    ranking = proxied + paths[0]
    assert get(ranking + "?x=1")[1]["X-Cache-Status"] == "HIT"
    status, english, english_pdf = get(ranking + "?lang=en")
    assert (status, english["X-Cache-Status"]) == (200, "MISS")
    assert "Set-Cookie" not in english  # a download sets no language cookie
    status, again, body = get(ranking + "?lang=en&utm_source=wa")
    assert (status, again["X-Cache-Status"], body) == (200, "HIT", english_pdf)
    assert body != get(ranking)[2]


def test_an_opd_heads_full_report_never_passes_through_the_cache(
    proxied: str, published: str, app: Flask, users
) -> None:
    url = f"{proxied}/r/{published}/opd/bpbd.pdf"
    _, _, public = get(url)
    assert get(url)[1]["X-Cache-Status"] == "HIT"
    head = login(app.test_client(), "kepala-bpbd")
    cookie = head.get_cookie("session")
    assert cookie is not None
    status, headers, full = get(url, cookie=f"session={cookie.value}")
    assert (status, headers["X-Cache-Status"]) == (200, "BYPASS")
    assert headers["Cache-Control"] == "private, no-store"
    assert full != public and full.startswith(b"%PDF")
    # Nor was it kept: the next anonymous reader gets the public copy from the cache.
    status, headers, again = get(url)
    assert (status, headers["X-Cache-Status"], again) == (200, "HIT", public)


def test_pages_are_not_cached(proxied: str, published: str) -> None:
    status, headers, _ = get(f"{proxied}/hasil/{published}")
    assert status == 200 and "X-Cache-Status" not in headers
    status, headers, _ = get(f"{proxied}/hasil/{published}/bpbd")
    assert status == 200 and "X-Cache-Status" not in headers

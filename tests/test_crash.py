"""Crash safety: SIGKILL gunicorn in the middle of a load; no acknowledged answer is lost.

Citizens (a few client threads, each a distinct address behind ``IKM_PROXY_COUNT=1``) load the
survey page and submit, against gunicorn in production mode on a fresh database. In the middle
of that the whole gunicorn process group is killed with SIGKILL (no chance to flush or clean
up), then gunicorn is started again on the same database and the load resumes. Afterwards
every submission the server acknowledged (303) is stored exactly once, nothing is stored that
was never sent, and the database passes its integrity check (SQLite: ``integrity_check`` and
``foreign_key_check``; PostgreSQL: no duplicate submission ids, no response whose wave or OPD
is missing or outside the wave, every constraint and index valid). The server and the process
helpers are those of ``bench/load.py``.
"""

from __future__ import annotations

import http.client
import importlib.util
import os
import re
import secrets
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pytest
from itsdangerous import URLSafeSerializer

ROOT = Path(__file__).resolve().parent.parent
SURVEY_PATHS = ("/s/uji-2026/bpbd", "/s/uji-2026/rsud", "/s/uji-2026/dishub")
CLIENTS = 4
ANSWERS = "&".join(f"U{i}={1 + i % 4}" for i in range(1, 10))
HIDDEN_RE = {
    name: re.compile(rf'name="{name}"[^>]*value="([^"]*)"') for name in ("csrf_token", "token")
}


def token_submission_id(token: str) -> str:
    """Return the submission id a render token carries (readable; only its signature is secret)."""
    payload = URLSafeSerializer("unused").load_payload(token.rsplit(".", 1)[0].encode("ascii"))
    return str(payload[2])


def _load_bench() -> ModuleType:
    """Import ``bench/load.py`` (not a package) for its server and database helpers."""
    spec = importlib.util.spec_from_file_location("ikm_bench_load", ROOT / "bench" / "load.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench = _load_bench()


@dataclass
class Ledger:
    """What the citizens saw: acknowledged submissions, and those sent without an answer."""

    acked: list[str] = field(default_factory=list)
    in_doubt: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> int:
        """Return the number of acknowledged submissions so far."""
        with self.lock:
            return len(self.acked)


def _citizen_round(port: int, path: str, address: str, ledger: Ledger) -> None:
    """GET the survey page and POST a complete answer, as one citizen; record the outcome."""
    headers = {"X-Forwarded-For": address}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    sid = None
    try:
        conn.request("GET", path, headers=headers)
        page = conn.getresponse()
        html = page.read().decode("utf-8")
        if page.status != 200:
            with ledger.lock:
                ledger.failures.append(f"GET {page.status}")
            return
        cookie = (page.getheader("Set-Cookie") or "").split(";", 1)[0]
        found = {name: rx.search(html) for name, rx in HIDDEN_RE.items()}
        values = {name: m.group(1) for name, m in found.items() if m}
        if len(values) != len(HIDDEN_RE):
            with ledger.lock:
                ledger.failures.append("a survey page without its hidden fields")
            return
        sid = token_submission_id(values["token"])
        body = (
            f"csrf_token={values['csrf_token']}&token={values['token']}"
            f"&website=&{ANSWERS}&comment=crash+test"
        )
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        post_headers = {
            **headers,
            "Cookie": cookie,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        # From here on the answer may be stored whether or not an acknowledgement arrives.
        with ledger.lock:
            ledger.in_doubt.append(sid)
        conn.request("POST", path, body=body, headers=post_headers)
        answer = conn.getresponse()
        answer.read()
        with ledger.lock:
            ledger.in_doubt.remove(sid)
            if answer.status == 303:
                ledger.acked.append(sid)
            else:
                ledger.failures.append(f"POST {answer.status}")
    except (OSError, http.client.HTTPException):
        pass  # the server is down (killed, or not yet back): the answer stays in doubt
    finally:
        conn.close()


class Load:
    """Client threads submitting answers until stopped."""

    def __init__(self, port: int, ledger: Ledger, first_address: int) -> None:
        """Prepare ``CLIENTS`` threads against ``port``, addresses from ``first_address`` up."""
        self.port = port
        self.ledger = ledger
        self.stop = threading.Event()
        self.next_address = first_address
        self.address_lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(CLIENTS)]

    def _address(self) -> str:
        """Return a client address no other citizen of this test has used."""
        with self.address_lock:
            k = self.next_address
            self.next_address += 1
        return f"198.18.{k // 256 % 256}.{k % 256}"

    def _run(self) -> None:
        """Submit one answer after another; pause briefly when the server is away."""
        n = 0
        while not self.stop.is_set():
            before = self.ledger.count()
            _citizen_round(
                self.port, SURVEY_PATHS[n % len(SURVEY_PATHS)], self._address(), self.ledger
            )
            n += 1
            if self.ledger.count() == before:
                time.sleep(0.02)

    def __enter__(self) -> Load:
        """Start the threads."""
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the threads and wait for them."""
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=15)


def _wait_for(condition, timeout: float) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def _group_alive(pgid: int) -> bool:
    """Return True while any process of the group ``pgid`` exists."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def server_env(database_url: str, open_wave, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of gunicorn on the test's fresh database with an open wave."""
    instance = tmp_path / "instance"
    instance.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IKM_")}
    env.update(
        IKM_ENV="production",
        IKM_SECRET_KEY=secrets.token_urlsafe(48),
        IKM_DATABASE_URL=database_url,
        IKM_INSTANCE_PATH=str(instance),
        IKM_PROXY_COUNT="1",
        IKM_MIN_SUBMIT_SECONDS="0",
        IKM_WORKERS="2",
        IKM_THREADS="2",
        IKM_LOG_LEVEL="WARNING",
    )
    yield env


def test_sigkill_in_the_middle_of_a_load_loses_no_acknowledged_answer(
    backend: str, database_url: str, server_env: dict[str, str], tmp_path: Path
) -> None:
    """Kill -9 gunicorn under load, restart it: every acknowledged answer is there once."""
    port = bench.free_port()
    server_env["IKM_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    ready = f"http://127.0.0.1:{port}{SURVEY_PATHS[0]}"
    log = tmp_path / "gunicorn.log"
    db = bench.BenchDatabase(
        backend=backend, url=database_url, paths=list(SURVEY_PATHS), wave_slug="uji-2026"
    )
    ledger = Ledger()
    server = bench.Server(bench.gunicorn_command(port), server_env, ROOT, log)
    try:
        server.start(ready)
        with Load(port, ledger, first_address=1):
            # Let the load run until answers flow, then kill it mid-stream.
            assert _wait_for(lambda: ledger.count() >= 40, timeout=30), server.tail()
            time.sleep(0.3)
            pgid = server.process.pid
            acked_before_kill = ledger.count()
            os.killpg(pgid, signal.SIGKILL)
            server.process.wait()
            server.process = None
            assert _wait_for(lambda: not _group_alive(pgid), timeout=10), "workers survived"
            # Citizens keep trying while the server is down; none of that may be acknowledged.
            time.sleep(0.3)
            with ledger.lock:
                acked_at_kill = len(ledger.acked)
            # Nothing of the killed server's acknowledged answers is undone by the crash.
            problems = bench.integrity_problems(db)
            assert problems == [], problems
            server.start(ready)
            assert _wait_for(lambda: ledger.count() >= acked_at_kill + 20, timeout=30), (
                server.tail()
            )
        server.stop()
    finally:
        server.kill()
    stored = bench.stored_submissions(db)
    assert acked_before_kill >= 40
    assert ledger.failures == []
    assert len(ledger.acked) == len(set(ledger.acked)), "a submission was acknowledged twice"
    missing = [sid for sid in ledger.acked if sid not in stored]
    assert missing == [], f"{len(missing)} acknowledged answers lost"
    duplicates = {sid: n for sid, n in stored.items() if n > 1}
    assert duplicates == {}
    # Stored but never acknowledged: only answers in flight when the server died.
    unexplained = set(stored) - set(ledger.acked) - set(ledger.in_doubt)
    assert unexplained == set()
    assert bench.integrity_problems(db) == []
    # The figures, for `pytest -s tests/test_crash.py` and the closing notes.
    in_flight = set(stored) - set(ledger.acked)
    print(
        f"\ncrash[{backend}]: {acked_at_kill} acknowledged when killed, "
        f"{len(ledger.acked)} in all after the restart, {len(stored)} stored "
        f"({len(in_flight)} of {len(ledger.in_doubt)} in flight stored too), 0 lost, "
        "0 duplicates, integrity ok"
    )

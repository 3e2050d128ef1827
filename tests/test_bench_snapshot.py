"""bench/snapshot.py cannot rot: its data builder, publishing and clients, in-process.

The bench itself runs against gunicorn over HTTP; here its pieces run on the test's database
(both backends) against the app through Flask's test client, on a tiny wave, timing nothing:
the builder makes exactly the wave it says, :func:`publish_wave` publishes it, and one round
of the bench's clients gets every public URL it measures answered 200. The tolerance of
"unchanged" and the If-None-Match round are checked with exact values.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from flask import Flask

from survey.core.database import make_engine

ROOT = Path(__file__).resolve().parent.parent


def _load_bench() -> ModuleType:
    """Import ``bench/snapshot.py`` (not a package)."""
    spec = importlib.util.spec_from_file_location(
        "ikm_bench_snapshot", ROOT / "bench" / "snapshot.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench = _load_bench()


def _in_process(app: Flask):  # -> bench.Fetch
    """A client of the bench's kind that asks the app through Flask's test client."""
    client = app.test_client()

    def fetch(path: str, headers: Mapping[str, str]):  # -> bench.Answer
        started = time.perf_counter()
        answer = client.get(path, headers=dict(headers))
        ms = (time.perf_counter() - started) * 1000
        return bench.Answer(answer.status_code, answer.headers.get("ETag"), len(answer.data), ms)

    return fetch


def test_builder_publish_and_one_round_of_clients(app: Flask, database_url: str) -> None:
    """A 3-OPD wave of 16 answers each, published; each public URL the bench times answers."""
    built = bench.build_published_wave(database_url, opds=3, per_opd=16, seed=5, slug="kecil")
    assert built.slug == "kecil"
    assert built.opd_slugs == ("opd-uji-001", "opd-uji-002", "opd-uji-003")
    assert built.counted == 48
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            status = conn.execute(sa.text("SELECT status FROM wave WHERE slug = 'kecil'")).scalar()
            per_opd = conn.execute(
                sa.text(
                    "SELECT o.slug, count(*), min(r.submitted_at), max(r.submitted_at), "
                    "min(r.a1), max(r.a1) FROM response r "
                    "JOIN wave w ON w.id = r.wave_id JOIN opd o ON o.id = r.opd_id "
                    "WHERE w.slug = 'kecil' AND r.status = 'counted' "
                    "GROUP BY o.slug ORDER BY o.slug"
                )
            ).all()
            linked = conn.execute(
                sa.text(
                    "SELECT count(*) FROM waveopd x JOIN wave w ON w.id = x.wave_id "
                    "WHERE w.slug = 'kecil'"
                )
            ).scalar()
        assert status == "closed"
        assert linked == 3
        assert [(slug, n) for slug, n, *_ in per_opd] == [
            ("opd-uji-001", 16),
            ("opd-uji-002", 16),
            ("opd-uji-003", 16),
        ]
        first = datetime(2026, 1, 5, tzinfo=UTC)
        last = datetime(2026, 3, 6, tzinfo=UTC)  # the period's 60th day ends before this
        for _slug, _n, earliest, latest, low, high in per_opd:
            earliest, latest = (
                (v if isinstance(v, datetime) else datetime.fromisoformat(v)).replace(tzinfo=UTC)
                for v in (earliest, latest)
            )
            assert first <= earliest <= latest < last
            assert 1 <= low <= high <= 4

        cpu: dict[str, float] = {}
        steps = bench.publish_wave(
            database_url, "kecil", reports=("pdf:id:ranking", "pdf:id:opd:opd-uji-002"), cpu=cpu
        )
        with engine.connect() as conn:
            status, published_at = conn.execute(
                sa.text("SELECT status, published_at FROM wave WHERE slug = 'kecil'")
            ).one()
            stored = {
                name
                for (name,) in conn.execute(
                    sa.text(
                        "SELECT f.name FROM publicationfile f JOIN publication p "
                        "ON p.id = f.publication_id WHERE p.status = 'ready'"
                    )
                )
            }
        assert status == "published"
        assert published_at is not None
        assert list(steps) == [
            "checklist and publish",
            "first phase (scores, pages, ZIP)",
            "pdf:id:ranking",
            "pdf:id:opd:opd-uji-002",
        ]
        # The CPU seconds of each step, as the bench prints them beside the wall times.
        assert list(cpu) == list(steps)
        assert all(0 <= spent < 600 for spent in cpu.values())
        assert cpu["first phase (scores, pages, ZIP)"] > 0
        # The first phase and the two reports asked for, nothing more.
        assert {"zip:open-data", "pdf:id:ranking", "pdf:id:opd:opd-uji-002"} <= stored
        assert not any(
            n.startswith("pdf:") for n in stored - {"pdf:id:ranking", "pdf:id:opd:opd-uji-002"}
        )
    finally:
        engine.dispose()

    def make():  # -> bench.Fetch
        return _in_process(app)

    assert bench.wait_until_ready(make(), "/r/kecil/ranking.pdf", timeout=120) is not None
    # One client, one round of the five URLs the bench times (a random OPD each time).
    samples = bench.run_clients(
        make,
        bench.round_robin("kecil", built.opd_slugs, pdf_opds=["opd-uji-002"]),
        clients=1,
        requests=5,
        seed=1,
    )
    assert {kind: dict(c) for kind, c in samples.statuses.items()} == {
        kind: {200: 1} for kind in bench.KINDS
    }
    assert {kind: len(ms) for kind, ms in samples.ms.items()} == dict.fromkeys(bench.KINDS, 1)
    assert samples.errors == Counter()
    assert samples.bytes > 0


def test_unchanged_tolerance_is_the_larger_of_ratio_and_slack() -> None:
    """p99 with downloads may be 1.5 x the baseline's or 20 ms more, whichever is larger."""
    assert bench.p99_unchanged(10.0, 30.0)  # + 20 ms beats 1.5 x = 15 ms
    assert not bench.p99_unchanged(10.0, 30.5)
    assert bench.p99_unchanged(100.0, 150.0)  # 1.5 x beats + 20 ms = 120 ms
    assert not bench.p99_unchanged(100.0, 150.5)


def test_revalidation_round_sends_the_etag_each_path_was_served_with() -> None:
    """The If-None-Match round asks only paths whose ETag it saw, each with its own ETag."""
    etags = {"/r/w/ranking.pdf": '"r1"', "/hasil/w/opd-a": '"a1"', "/hasil/w/opd-b": '"b1"'}
    pick = bench.conditional(etags)
    rng = bench.random.Random(3)
    asked = [pick(rng, n) for n in range(4)]
    assert [kind for kind, _path, _headers in asked] == [
        "opd page",
        "ranking pdf",
        "opd page",
        "ranking pdf",
    ]
    for _kind, path, headers in asked:
        assert headers == {"If-None-Match": etags[path]}
    assert bench.conditional({})(rng, 0) is None
    # Every measured path is told apart by kind.
    paths = {kind: template.format(wave="w", opd="opd-a") for kind, template in bench.KINDS.items()}
    assert {kind: bench.kind_of(path) for kind, path in paths.items()} == {k: k for k in paths}

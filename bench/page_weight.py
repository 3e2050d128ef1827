"""Page weight of the citizen survey page, as a cheap phone loads it.

Builds a throw-away SQLite database with the default nine-element questionnaire, serves the
app on loopback, opens the survey page in Debian's Chromium at 360x640 and counts every
request the page makes and the uncompressed bytes of every response body. Budget (issue 2):
at most 30 KB (30,720 bytes) and at most 3 requests. Exits 1 when over budget.

    .venv/bin/python bench/page_weight.py [--lang id|en]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from survey.core import opds, waves
from survey.core.database import make_engine, upgrade
from survey.web import create_app
from survey.web.database import session_scope
from survey.web.devtools import chromium, live_server

BUDGET_BYTES = 30 * 1024
BUDGET_REQUESTS = 3


def build_app(folder: Path):
    """Return an app on a fresh SQLite database holding one open wave over one OPD."""
    url = f"sqlite:///{folder / 'bench.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench-" + "x" * 40})
    with app.app_context(), session_scope(app) as session:
        opds.create_opd(
            session,
            slug="disdukcapil",
            name="Dinas Kependudukan dan Pencatatan Sipil",
            actor=None,
        )
        settings = waves.WaveSettings(title="Evaluasi 100 Hari Kerja", opd_slugs=("disdukcapil",))
        wave = waves.create_wave(session, slug="bench", settings=settings, actor=None)
        waves.change_status(session, wave=wave, action="open", actor=None)
    return app


def measure(base_url: str, lang: str) -> list[tuple[str, int, int]]:
    """Load the survey page; return (url, status, body bytes) for every request it made."""
    seen: list[tuple[str, int, int]] = []
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 360, "height": 640})
        page = context.new_page()

        def record(response) -> None:
            try:
                size = len(response.body())
            except Exception:  # a redirect or an aborted request has no body
                size = 0
            seen.append((response.url, response.status, size))

        page.on("response", record)
        page.goto(f"{base_url}/s/bench/disdukcapil?lang={lang}", wait_until="networkidle")
        context.close()
    return seen


def main() -> int:
    """Measure and print the figures; return 1 when over budget."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", choices=["id", "en"], default="id")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(Path(tmp))
        with live_server(app) as base_url:
            seen = measure(base_url, args.lang)
        app.extensions["ikm_engine"].dispose()
    total = sum(size for _, _, size in seen)
    for url, status, size in seen:
        print(f"{status}  {size:>7,} B  {url.split('/', 3)[-1]}")
    print(f"requests: {len(seen)} (budget {BUDGET_REQUESTS})")
    print(f"bytes:    {total:,} uncompressed (budget {BUDGET_BYTES:,})")
    ok = total <= BUDGET_BYTES and len(seen) <= BUDGET_REQUESTS
    print("within budget" if ok else "OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Stuffing benchmark: the attacks of issue 11 replayed against gunicorn, on loopback only.

    .venv/bin/python bench/stuffing.py [--backend both] [--attempts 120]

For each backend (SQLite in a temporary folder; PostgreSQL in a schema of its own in the local
``test`` database, dropped afterwards) it builds the demo wave (``survey.core.demo``, fixed
seed), starts gunicorn in production mode with 4 workers behind a pretend proxy on 127.0.0.1
(``IKM_PROXY_COUNT=1``, ``IKM_FORWARDED_ALLOW_IPS=127.0.0.1``) and runs one script-driven
attack per target OPD, each from its own loopback address (Linux answers on all of 127/8, so a
client bound to 127.0.0.2 is a peer the app does not trust):

- ``fresh-cookies``: one address, no cookies kept, as many ballots as it can;
- ``kiosk-override``: the same with ``?channel=kiosk`` on every URL;
- ``xff-untrusted``: a direct peer sending a new ``X-Forwarded-For`` address each time;
- ``ipv6-64``: through the trusted proxy, a new address inside one IPv6 /64 each time;
- ``token-replay``: forms fetched for one OPD, posted to another;
- ``required-no-code``: after the wave is switched to verification "required", ballots
  without a visit code.

Each attacker fetches forms, waits the app's minimum answering time once per batch (as a
patient script would), then posts the best answer to every question (the worst for a sinking
attack). It is bounded: ``--attempts`` ballots per attack, 60 s per attack at most, loopback
only, gunicorn stopped on exit. For each attack it prints the HTTP outcomes, the ballots stored
as counted and as flagged, the counted ballots per attacker network per OPD per hour
(extrapolated: once the counted total stops growing the limit is reached and the count in the
run is the hour's; while it still grows, the rate of the second half of the run is carried on
to an hour), the target OPD's rank before and after, and the seconds from the attack's start to
the first alarm on that OPD. Targets of issue 11: at most 20 counted per attacker network per
OPD per hour, none counted through the kiosk override (as kiosk) or replayed tokens, 0 counted
without a code in a required wave, the alarm within 5 minutes. Exit status 0 when all pass.
"""

from __future__ import annotations

import argparse
import http.client
import random
import secrets
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

# The repository root, not bench/, on the path: bench/scoring.py would hide the scoring package.
ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import sqlalchemy as sa  # noqa: E402
from sqlmodel import Session, col, select  # noqa: E402

from bench import load  # noqa: E402  (gunicorn and database helpers)
from survey.core import demo  # noqa: E402
from survey.core.database import make_engine, upgrade  # noqa: E402
from survey.core.models import Alarm, Opd, Response, Wave  # noqa: E402
from survey.core.scores import score_wave  # noqa: E402

TRUSTED_PROXY = "127.0.0.1"
MIN_SECONDS = 3.0  # the app's default minimum answering time (IKM_MIN_SUBMIT_SECONDS)
ATTACK_SECONDS = 60.0  # each attack stops by itself after this long
PARALLEL = 8  # concurrent connections of one attacker
TARGET_PER_HOUR = 20
TARGET_ALARM_SECONDS = 300.0


# ---------------------------------------------------------------------------------------------
# The survey form as a script reads it


class FormReader(HTMLParser):
    """Collect the hidden inputs and the radio groups of the survey page."""

    def __init__(self) -> None:
        """Start empty."""
        super().__init__()
        self.hidden: dict[str, str] = {}
        self.radios: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Record inputs."""
        if tag != "input":
            return
        values = {k: v or "" for k, v in attrs}
        name, kind = values.get("name", ""), values.get("type", "text")
        if not name:
            return
        if kind == "hidden":
            self.hidden[name] = values.get("value", "")
        elif kind == "radio":
            self.radios.setdefault(name, []).append(values.get("value", ""))


def ballot(page: str, *, best: bool) -> dict[str, str]:
    """Return the fields a stuffing script posts: hidden values, every question answered."""
    reader = FormReader()
    reader.feed(page)
    fields = dict(reader.hidden)
    for name, options in reader.radios.items():
        scores = sorted(int(v) for v in options if v.isdigit())
        if scores:
            fields[name] = str(scores[-1] if best else scores[0])
        elif options:
            fields[name] = options[0]
    return fields


# ---------------------------------------------------------------------------------------------
# An attacker


@dataclass
class Attack:
    """One attack: where it comes from, what it posts and where."""

    name: str
    target: str  # the OPD slug whose count it tries to move
    source: str  # the loopback address the client binds to
    forwarded: Callable[[], str | None] = lambda: None  # X-Forwarded-For of each request
    query: str = ""
    form_opd: str | None = None  # fetch the form of this OPD (token replay), post to target
    best: bool = True


@dataclass
class Outcome:
    """What one attack got."""

    attack: Attack
    started: datetime
    elapsed: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    # (seconds since start, counted so far) after each batch, for the extrapolation.
    progress: list[tuple[float, int]] = field(default_factory=list)
    counted: int = 0
    counted_kiosk: int = 0
    flagged: Counter[str] = field(default_factory=Counter)
    rank_before: int | None = None
    rank_after: int | None = None
    alarm_seconds: float | None = None

    def per_hour(self) -> float:
        """Counted ballots per hour: the count once it stopped growing, else extrapolated."""
        if len(self.progress) < 2:
            return float(self.counted)
        half = self.progress[(len(self.progress) - 1) // 2]
        last = self.progress[-1]
        growth = last[1] - half[1]
        if growth <= 0:
            return float(self.counted)
        rate = growth / max(last[0] - half[0], 1e-9)
        return self.counted + rate * max(3600.0 - last[0], 0.0)


@dataclass(frozen=True)
class Page:
    """A response as the attacker keeps it: status, text, and the cookies it set."""

    status: int
    text: str
    cookies: str


class Client:
    """HTTP to the app from one loopback address; each ballot keeps only its own cookies."""

    def __init__(self, port: int, source: str) -> None:
        """Remember where to connect from and to."""
        self.port, self.source = port, source

    def request(
        self,
        method: str,
        path: str,
        *,
        body: str | None = None,
        forwarded: str | None = None,
        cookies: str = "",
    ) -> Page:
        """Make one request on a fresh connection."""
        conn = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=30, source_address=(self.source, 0)
        )
        headers = {"User-Agent": "stuffing-bench"}
        if forwarded:
            headers["X-Forwarded-For"] = forwarded
        if cookies:
            headers["Cookie"] = cookies
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=headers)
            answer = conn.getresponse()
            jar = "; ".join(
                value.split(";", 1)[0] for key, value in answer.getheaders() if key == "Set-Cookie"
            )
            return Page(answer.status, answer.read().decode("utf-8", "replace"), jar)
        finally:
            conn.close()


def run_attack(port: int, wave_slug: str, attack: Attack, attempts: int, db: Any) -> Outcome:
    """Run one attack in batches until ``attempts`` ballots are posted or time is up."""
    client = Client(port, attack.source)
    form_path = f"/s/{wave_slug}/{attack.form_opd or attack.target}{attack.query}"
    post_path = f"/s/{wave_slug}/{attack.target}{attack.query}"
    outcome = Outcome(attack=attack, started=datetime.now(UTC), progress=[(0.0, 0)])
    start = time.monotonic()
    posted = 0
    with ThreadPoolExecutor(PARALLEL) as pool:
        while posted < attempts and time.monotonic() - start < ATTACK_SECONDS:
            batch = min(PARALLEL * 4, attempts - posted)
            forms = list(
                pool.map(
                    lambda _i: client.request("GET", form_path, forwarded=attack.forwarded()),
                    range(batch),
                )
            )
            time.sleep(MIN_SECONDS + 0.2)  # a patient script waits like a person

            def post(page: Page) -> int:
                if page.status != 200:
                    return page.status
                body = urllib.parse.urlencode(ballot(page.text, best=attack.best))
                answer = client.request(
                    "POST", post_path, body=body, forwarded=attack.forwarded(), cookies=page.cookies
                )
                return answer.status

            for status in pool.map(post, forms):
                outcome.statuses[status] += 1
            posted += batch
            outcome.progress.append((time.monotonic() - start, counted_since(db, outcome)))
    outcome.elapsed = time.monotonic() - start
    return outcome


def counted_since(db: Any, outcome: Outcome) -> int:
    """Return the target's counted answers stored since the attack started."""
    engine = db.engine()
    try:
        with Session(engine) as session:
            opd = session.exec(select(Opd).where(Opd.slug == outcome.attack.target)).one()
            query = select(sa.func.count()).where(
                Response.opd_id == opd.id,
                Response.submitted_at >= outcome.started,
                Response.status == "counted",
            )
            return int(session.exec(query).one())
    finally:
        engine.dispose()


def settle(db: Any, outcome: Outcome) -> None:
    """Read the attack's stored answers and its first alarm from the database."""
    engine = db.engine()
    try:
        with Session(engine) as session:
            opd = session.exec(select(Opd).where(Opd.slug == outcome.attack.target)).one()
            rows = session.exec(
                select(Response.status, Response.flag_reason, Response.channel).where(
                    Response.opd_id == opd.id, Response.submitted_at >= outcome.started
                )
            ).all()
            for status, reason, channel in rows:
                if status == "counted":
                    outcome.counted += 1
                    outcome.counted_kiosk += channel == "kiosk"
                else:
                    outcome.flagged[reason or "?"] += 1
            first = session.exec(
                select(sa.func.min(Alarm.raised_at)).where(
                    Alarm.opd_id == opd.id, Alarm.raised_at >= outcome.started
                )
            ).one()
            if first is not None:
                if first.tzinfo is None:
                    first = first.replace(tzinfo=UTC)
                outcome.alarm_seconds = (first - outcome.started).total_seconds()
    finally:
        engine.dispose()


def ranks(db: Any, wave_slug: str) -> dict[str, int]:
    """Return every scored OPD's rank in the wave (1 = best)."""
    engine = db.engine()
    try:
        with Session(engine) as session:
            wave = session.exec(select(Wave).where(Wave.slug == wave_slug)).one()
            rows = score_wave(session, wave=wave, bootstrap=0, wave_tests=False).rows()
    finally:
        engine.dispose()
    return {row["opd"]: int(row["rank"]) for row in rows if row.get("rank") is not None}


# ---------------------------------------------------------------------------------------------
# A run on one backend


def demo_database(backend: str, folder: Path) -> Any:
    """Create and migrate a database holding the demo wave (open, fixed seed)."""
    schema = None
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'ikm.sqlite3'}"
    else:
        schema = f"ikm_stuffing_{secrets.token_hex(4)}"
        admin = make_engine(load.PG_URL)
        with admin.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        admin.dispose()
        url = load._pg_url_with_schema(schema)
    engine = make_engine(url)
    try:
        upgrade(engine)
        with Session(engine) as session:
            demo.write_demo(session, seed=demo.DEMO_SEED)
    finally:
        engine.dispose()
    return load.BenchDatabase(
        backend=backend, url=url, paths=[], wave_slug=demo.DEMO_WAVE_SLUG, schema=schema
    )


def attacks(order: Sequence[str]) -> list[Attack]:
    """Return the attacks, each aimed at its own OPD (the lowest-ranked are lifted)."""
    low = list(reversed(order))
    v6 = "2001:db8:77:1"
    return [
        Attack("fresh-cookies", low[0], "127.0.0.2"),
        Attack("kiosk-override", low[1], "127.0.0.3", query="?channel=kiosk"),
        Attack(
            "xff-untrusted",
            low[2],
            "127.0.0.4",
            forwarded=lambda: f"198.51.{random.randrange(256)}.{random.randrange(1, 255)}",
        ),
        Attack(
            "ipv6-64",
            low[3],
            TRUSTED_PROXY,
            forwarded=lambda: f"{v6}:{secrets.token_hex(2)}:{secrets.token_hex(2)}::1",
        ),
        Attack("token-replay", low[4], "127.0.0.5", form_opd=order[0]),
    ]


def set_verification(db: Any, wave_slug: str, mode: str) -> None:
    """Switch the wave's visit-code setting directly in the database (the bench's shortcut)."""
    engine = db.engine()
    try:
        with engine.begin() as conn:
            conn.execute(sa.update(Wave).where(col(Wave.slug) == wave_slug), {"verification": mode})
    finally:
        engine.dispose()


def run_backend(backend: str, attempts: int) -> list[Outcome]:
    """Build the demo on ``backend``, serve it with gunicorn, run every attack."""
    with tempfile.TemporaryDirectory(prefix="ikm-stuffing-") as tmp:
        work = Path(tmp)
        db = demo_database(backend, work)
        try:
            port = load.free_port()
            env = load.app_environment(db, work / "instance", port)
            env["IKM_FORWARDED_ALLOW_IPS"] = TRUSTED_PROXY
            env.pop("IKM_MIN_SUBMIT_SECONDS", None)  # the default: attackers must wait
            server = load.Server(
                load.gunicorn_command(port), env=env, cwd=load.ROOT, log=work / "gunicorn.log"
            )
            before = ranks(db, db.wave_slug)
            order = sorted(before, key=before.__getitem__)
            outcomes: list[Outcome] = []
            with load.running(server, f"http://127.0.0.1:{port}/healthz"):
                plan = attacks(order)
                for attack in plan:
                    outcomes.append(run_attack(port, db.wave_slug, attack, attempts, db))
                set_verification(db, db.wave_slug, "required")
                required = Attack("required-no-code", order[-6], "127.0.0.6")
                outcomes.append(run_attack(port, db.wave_slug, required, attempts, db))
            after = ranks(db, db.wave_slug)
            for outcome in outcomes:
                settle(db, outcome)
                outcome.rank_before = before.get(outcome.attack.target)
                outcome.rank_after = after.get(outcome.attack.target)
            return outcomes
        finally:
            load.drop_database(db)


def passes(outcome: Outcome) -> bool:
    """Return True when the attack stays within issue 11's targets."""
    name = outcome.attack.name
    if name == "required-no-code" or name == "token-replay":
        return outcome.counted == 0
    ok = outcome.per_hour() <= TARGET_PER_HOUR and outcome.counted_kiosk == 0
    return ok and outcome.alarm_seconds is not None and outcome.alarm_seconds <= 300


def report(backend: str, outcomes: Sequence[Outcome]) -> bool:
    """Print one line per attack; return True when every target passes."""
    print(f"\n== {backend}: demo wave, gunicorn 4 workers, loopback ==")
    header = (
        f"{'attack':<17} {'target':<14} {'sent':>5} {'2xx/3xx':>7} {'429':>5} {'400':>5} "
        f"{'counted':>7} {'kiosk':>5} {'flagged':>16} {'per h':>7} {'rank':>9} {'alarm s':>8}  ok"
    )
    print(header)
    all_ok = True
    for o in outcomes:
        sent = sum(o.statuses.values())
        good = sum(v for k, v in o.statuses.items() if 200 <= k < 400)
        flagged = ",".join(f"{k}:{v}" for k, v in sorted(o.flagged.items())) or "-"
        rank = f"{o.rank_before}->{o.rank_after}"
        alarm = "-" if o.alarm_seconds is None else f"{o.alarm_seconds:.0f}"
        ok = passes(o)
        all_ok &= ok
        print(
            f"{o.attack.name:<17} {o.attack.target:<14} {sent:>5} {good:>7} "
            f"{o.statuses.get(429, 0):>5} {o.statuses.get(400, 0):>5} {o.counted:>7} "
            f"{o.counted_kiosk:>5} {flagged:>16} {o.per_hour():>7.1f} {rank:>9} {alarm:>8}  "
            f"{'yes' if ok else 'NO'}"
        )
    return all_ok


def main(argv: Sequence[str] | None = None) -> int:
    """Run the attacks on the chosen backends and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--attempts", type=int, default=120, help="ballots per attack")
    args = parser.parse_args(argv)
    if not 1 <= args.attempts <= 1000:
        parser.error("--attempts must be 1..1000 (the bench is bounded)")
    random.seed(11)  # the rotated addresses are the same in every run
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    ok = True
    for backend in backends:
        ok &= report(backend, run_backend(backend, args.attempts))
    print(
        f"\ntargets: <= {TARGET_PER_HOUR} counted per attacker network per OPD per hour, none "
        f"as kiosk through the override, 0 through replayed tokens or without a code in a "
        f"required wave, alarm <= {TARGET_ALARM_SECONDS:.0f} s: {'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

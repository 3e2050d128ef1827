"""False alarms on honest traffic, and time to alarm under attack: the demo wave replayed.

For each seed, the demo's simulated wave (``survey.core.demo.demo_data``: 20 OPDs, about a
thousand timestamped answers over five days of office hours, the flagged repeats and bot-like
answers included) is replayed in time order through the alarm's detectors, checking an OPD
after each of its answers at most once a minute, as the live hook does
(``survey.core.alarms.replay``). Every alarm on this honest traffic is a false alarm.

A busier honest wave follows, where the demo never pushes the rate rule: fresh answers from
the demo's own model for the same OPDs (seeded), on Poisson arrivals at 10, 20, 40 and 60
answers an hour through office hours for five days, with a morning rush of twice the rate
from 08:00 to 10:00.

Then, for the first seed, three attacks are added to one OPD in the middle of the survey and
the replay says how long after the attack's first answer its alarm came:

- 30 answers of fours in 3 minutes (rate; also pattern);
- 11 answers of ones spread over 30 minutes (one every 3 minutes: no rate alarm; mean-jump);
- 12 identical answers over 50 minutes (pattern).

    .venv/bin/python bench/alarms.py [--seeds 20]
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from survey.core.alarms import Answer, replay
from survey.core.demo import (
    DEMO_OPDS,
    DEMO_SEED,
    JAKARTA,
    DemoOpd,
    _answers_tuple,
    _simulate_answers,
    demo_data,
)


def demo_answers(seed: int) -> list[tuple[str, Answer]]:
    """Return the demo wave's answers of one seed as (OPD slug, answer)."""
    return [
        (row["opd"], Answer(at=row["submitted_at"], pattern=tuple(row["answers"])))
        for row in demo_data(seed).responses
    ]


def busy_answers(seed: int, per_hour: float) -> list[tuple[str, Answer]]:
    """Return five days of honest answers at ``per_hour`` (doubled 08-10) for each demo OPD."""
    rng = np.random.default_rng(seed)
    found: list[tuple[str, Answer]] = []
    for opd in DEMO_OPDS:
        slug = opd.slug
        # Fresh answers from the demo's own model, not resampled ones (which repeat patterns).
        pool = [_answers_tuple(row) for row in _simulate_answers(rng, opd, int(per_hour * 60))]
        for day in range(5):
            opening = datetime(2025, 6, 16 + day, 8, 0, tzinfo=JAKARTA)
            moment = 0.0
            while moment < 8 * 3600:
                rate = per_hour * (2 if moment < 2 * 3600 else 1) / 3600
                moment += float(rng.exponential(1 / rate))
                pattern = pool.pop() if pool else pool_refill(rng, opd)
                found.append(
                    (slug, Answer(at=opening + timedelta(seconds=moment), pattern=pattern))
                )
    return found


def pool_refill(rng: np.random.Generator, opd: DemoOpd) -> tuple[int | None, ...]:
    """Return one more fresh answer of the OPD's model (the pool ran dry)."""
    return _answers_tuple(_simulate_answers(rng, opd, 20)[0])


def attack(
    slug: str, start: datetime, count: int, every: timedelta, pattern: tuple[int, ...]
) -> list[tuple[str, Answer]]:
    """Return ``count`` answers of ``pattern`` to one OPD, one every ``every`` from ``start``."""
    return [(slug, Answer(at=start + i * every, pattern=pattern)) for i in range(count)]


def main() -> None:
    """Replay the seeds, print the false alarms, then the attacks' times to alarm."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    total_alarms = total_checks = total_answers = 0
    for seed in range(DEMO_SEED, DEMO_SEED + args.seeds):
        answers = demo_answers(seed)
        alarms, checks = replay(answers)
        total_alarms += len(alarms)
        total_checks += checks
        total_answers += len(answers)
        for alarm in alarms:
            when = f"{alarm.at:%Y-%m-%d %H:%M}"
            print(f"  seed {seed}: {when} {alarm.opd} {alarm.kind} {alarm.detail}")
    opd_days = args.seeds * 20 * 5
    print(
        f"honest demo traffic, {args.seeds} seeds: {total_answers} answers, {total_checks} "
        f"checks, {total_alarms} alarms ({total_alarms / total_checks:.2%} of checks, "
        f"{total_alarms / opd_days:.3f} per OPD per survey day)"
    )
    for per_hour in (10, 20, 40, 60):
        answers = busy_answers(DEMO_SEED + per_hour, per_hour)
        alarms, checks = replay(answers)
        kinds = ", ".join(f"{a.opd} {a.kind} {a.detail}" for a in alarms[:3])
        print(
            f"busy honest wave, {per_hour} answers/hour/OPD: {len(answers)} answers, {checks} "
            f"checks, {len(alarms)} alarms{': ' + kinds if kinds else ''}"
        )
    honest = demo_answers(DEMO_SEED)
    start = datetime(2025, 6, 13, 10, 0, tzinfo=JAKARTA)
    attacks = {
        "30 fours in 3 minutes": attack("dinsos", start, 30, timedelta(seconds=6), (4,) * 9),
        "11 ones over 30 minutes": attack("bpbd", start, 11, timedelta(minutes=3), (1,) * 9),
        "12 identical over 50 minutes": attack(
            "rsud", start, 12, timedelta(minutes=4, seconds=30), (3, 3, 2, 3, 3, 3, 3, 3, 2)
        ),
    }
    for name, added in attacks.items():
        alarms, _checks = replay(honest + added)
        slug = added[0][0]
        hits = [a for a in alarms if a.opd == slug and a.at >= start]
        if hits:
            first = min(hits, key=lambda a: a.at)
            kinds = ", ".join(sorted({a.kind for a in hits}))
            print(f"{name} on {slug}: alarm after {first.at - start} ({kinds})")
        else:
            print(f"{name} on {slug}: no alarm")


if __name__ == "__main__":
    main()

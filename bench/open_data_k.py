"""How identifying the open data's respondent rows are, before and after ``survey.core.kanon``.

Run: ``PYTHONPATH=. python bench/open_data_k.py [--seed N] [--zip FILE]``.

Builds the quasi-identifiers (OPD, date in Asia/Jakarta, sex, age band, education, occupation)
of the demo's counted responses (``survey.core.demo.demo_data``, no database) as the open-data
ZIP does, and prints, before and after ``anonymise``: the rows, the share of rows unique on the
quasi-identifiers without and with the date, the share in groups under 5, the smallest group
(the k), and the share of profile fields made coarser or hidden. With ``--zip`` it also
measures the k of the ``responses.csv`` in an open-data ZIP (``ikm export --format open-data``).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import zipfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this folder comes first on the path, and bench/reports.py would shadow the
# reports package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from reports.model import age_band  # noqa: E402
from survey.core.demo import DEMO_SEED, demo_data  # noqa: E402
from survey.core.kanon import K_ANONYMITY, Profile, anonymise, smallest_group  # noqa: E402

QUASI = ("opd", "submitted_at", "sex", "age_band", "education", "occupation")


def _shares(rows: Sequence[Sequence[str | None]]) -> tuple[float, float]:
    """Return the share of rows alone in their group and in groups under K_ANONYMITY."""
    sizes = Counter(tuple(row) for row in rows)
    unique = sum(1 for row in rows if sizes[tuple(row)] == 1)
    small = sum(1 for row in rows if sizes[tuple(row)] < K_ANONYMITY)
    return unique / len(rows), small / len(rows)


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEMO_SEED)
    parser.add_argument("--zip", help="an open-data ZIP whose responses.csv to measure")
    args = parser.parse_args()
    zone = ZoneInfo("Asia/Jakarta")
    profiles = [
        Profile(
            r["opd"],
            r["submitted_at"].astimezone(zone).date().isoformat(),
            r["sex"],
            age_band(r["age"]) if r["age"] is not None else None,
            r["education"],
            r["occupation"],
        )
        for r in demo_data(args.seed).responses
        if r["status"] == "counted"
    ]
    safe = anonymise(profiles)
    after = [row for row in safe.rows if row is not None]
    for label, rows in (("before", profiles), ("after", after)):
        undated = [(row[0], *row[2:]) for row in rows]
        unique, _ = _shares(undated)
        unique_dated, small = _shares(rows)
        print(
            f"{label}: rows {len(rows)}, unique without date {unique:.1%}, unique with date "
            f"{unique_dated:.1%}, in groups under {K_ANONYMITY} {small:.1%}, "
            f"k = {smallest_group(rows)}"
        )
    print(
        f"fields made coarser or hidden: {safe.share_changed():.1%}, hidden "
        f"{safe.share_hidden():.1%} "
        f"(coarser {dict(safe.generalised)}, hidden {dict(safe.hidden)}); rows suppressed "
        f"{safe.suppressed}, pooled {safe.pooled}, left out {safe.dropped}"
    )
    if args.zip:
        with zipfile.ZipFile(args.zip) as archive:
            name = next(n for n in archive.namelist() if n.endswith("/responses.csv"))
            table = list(csv.DictReader(io.StringIO(archive.read(name).decode("utf-8"))))
        k = smallest_group([[row[q] for q in QUASI] for row in table])
        print(f"{args.zip}: rows {len(table)}, k = {k}")


if __name__ == "__main__":
    main()

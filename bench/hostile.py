"""Run the hostile-input property tests and print the generated inputs per target and outcomes.

Usage: ``.venv/bin/python bench/hostile.py [-k EXPR] [--sqlite-only]``. It runs
``tests/test_hostile.py`` in this process (SQLite and PostgreSQL, as pytest would; the
PostgreSQL half needs the local server of the test suite), then prints, per target, how many
inputs Hypothesis generated, what they came to (status codes, exit codes, reader outcomes)
and the time taken. The exit status is pytest's. Inputs are derandomized: the same every run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this folder comes first on the path, and bench/scoring.py would shadow the
# scoring package the app imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]


def main() -> int:
    """Run the tests, print the table, return pytest's exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default=None, help="pytest -k expression to select targets")
    parser.add_argument("--sqlite-only", action="store_true", help="skip the PostgreSQL half")
    args = parser.parse_args()
    selection = [args.k] if args.k else []
    if args.sqlite_only:
        selection.append("not postgresql")
    pytest_args = [str(ROOT / "tests" / "test_hostile.py"), "-q", "-p", "no:cacheprovider"]
    if selection:
        pytest_args += ["-k", " and ".join(f"({s})" for s in selection)]
    started = time.perf_counter()
    status = pytest.main(pytest_args)
    elapsed = time.perf_counter() - started
    module = sys.modules.get("test_hostile")
    if module is None:
        print("the tests did not run", file=sys.stderr)
        return int(status) or 1
    outcomes = module.OUTCOMES
    targets = sorted({target for target, _ in outcomes})
    total = 0
    print()
    print(f"{'target':<22} {'inputs':>7}  outcomes")
    for target in targets:
        rows = sorted(
            ((outcome, n) for (t, outcome), n in outcomes.items() if t == target),
            key=lambda item: -item[1],
        )
        count = sum(n for _, n in rows)
        total += count
        print(f"{target:<22} {count:>7}  " + "; ".join(f"{o}: {n}" for o, n in rows))
    print(f"{'total':<22} {total:>7}  in {elapsed:.0f} s (pytest exit status {int(status)})")
    return int(status)


if __name__ == "__main__":
    raise SystemExit(main())

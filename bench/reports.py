"""Speed of the reports: the ranking PDF of 50 OPDs and the 50 OPD heads' PDFs.

Builds a simulated wave of 50 OPDs (:func:`reports.sample.sample_ranking`, 20..80 respondents
each, scored by :func:`scoring.score_units`), then times in this process, after one warm-up
render (imports, font loading):

1. ``render_ranking_pdf`` for the 50 OPDs (median of --runs runs), with its pages and bytes;
2. the 50 OPD reports through ``render_opd_pdfs`` in one process (median of --runs runs): the
   baseline the processes below are compared with;
3. the same with --workers processes rendering (median of --runs runs): this one and
   --workers - 1 worker processes, which each run starts, so start-up is included; with the
   speed-up over one process.

Targets (issue 15, "Speed at national scale"), on a 2-core machine: the ranking report of 50
OPDs at most 2 s; the 50 OPD reports at most 15 s with 2 processes. Each is printed with
PASS or FAIL; the exit status is 0 when both pass. The machine's other load moves every figure,
so compare two versions by running this back to back.

    .venv/bin/python bench/reports.py [--opds 50] [--runs 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pypdf

# This file is itself called reports.py: run as a script, its folder comes first on the path
# and would shadow the package. Put the project root there instead.
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

from reports import render_opd_pdfs, render_ranking_pdf  # noqa: E402
from reports.sample import sample_opd_report, sample_ranking  # noqa: E402

RANKING_TARGET_S = 2.0
OPD_TARGET_S = 15.0  # with 2 processes


def pages(pdf: bytes) -> int:
    """Number of pages of a PDF."""
    return len(pypdf.PdfReader(io.BytesIO(pdf)).pages)


def cpu_seconds() -> float:
    """CPU time used so far by this process and its finished children (worker processes)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(func: Callable[[], object], runs: int) -> tuple[float, list[float], float, object]:
    """Median and all wall-clock times of `runs` calls, their median CPU time, the last result.

    The CPU time counts this process and its worker processes: on a machine shared with other
    work the wall-clock time grows with the others' load, the CPU time much less, so the two
    together tell a slow program from a busy machine.
    """
    times, cpu, result = [], [], None
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), cpu_seconds()
        result = func()
        times.append(time.perf_counter() - start)
        cpu.append(cpu_seconds() - start_cpu)
    return statistics.median(times), times, statistics.median(cpu), result


def verdict(seconds: float, target: float) -> str:
    """Return "PASS" or "FAIL" against a target."""
    return "PASS" if seconds <= target else "FAIL"


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--opds", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    start = time.perf_counter()
    wave = sample_ranking(args.opds, seed=0)
    inputs = [sample_opd_report(wave, opd.slug) for opd in wave.opds]
    print(
        f"wave: {args.opds} OPDs, {wave.counted} responses, simulated and scored in"
        f" {time.perf_counter() - start:.2f} s; {os.cpu_count()} CPUs"
    )
    render_ranking_pdf(wave)  # warm-up: imports, fonts, template compilation

    median, times, cpu, pdf = timed(lambda: render_ranking_pdf(wave), args.runs)
    assert isinstance(pdf, bytes)
    ranking_ok = median <= RANKING_TARGET_S
    print(
        f"ranking report, {args.opds} OPDs: median {median:.2f} s"
        f" (runs: {', '.join(f'{t:.2f}' for t in times)}; CPU {cpu:.2f} s),"
        f" {pages(pdf)} pages,"
        f" {len(pdf):,} bytes; target {RANKING_TARGET_S:.0f} s:"
        f" {verdict(median, RANKING_TARGET_S)}"
    )

    def all_opds(workers: int) -> list[tuple[str, bytes]]:
        """Render every OPD's report."""
        return list(render_opd_pdfs(inputs, workers=workers))

    serial, times, cpu, out = timed(lambda: all_opds(1), args.runs)
    assert isinstance(out, list)
    total_pages = sum(pages(p) for _, p in out)
    total_bytes = sum(len(p) for _, p in out)
    print(
        f"OPD reports, {len(out)} OPDs, 1 process (baseline): median {serial:.1f} s"
        f" (runs: {', '.join(f'{t:.1f}' for t in times)}; {serial / len(out):.2f} s each;"
        f" CPU {cpu:.1f} s),"
        f" {total_pages} pages, {total_bytes:,} bytes"
    )
    opd_ok = True
    if args.workers > 1:
        median, times, cpu, parallel = timed(lambda: all_opds(args.workers), args.runs)
        assert parallel == out, "several processes gave different PDFs"
        opd_ok = median <= OPD_TARGET_S
        print(
            f"OPD reports, {len(out)} OPDs, {args.workers} processes: median"
            f" {median:.1f} s (runs: {', '.join(f'{t:.1f}' for t in times)}; start-up"
            f" included; CPU {cpu:.1f} s; {serial / median:.2f} x one process); target"
            f" {OPD_TARGET_S:.0f} s: {verdict(median, OPD_TARGET_S)}"
        )
    else:
        print(f"OPD reports in several processes: not measured (--workers {args.workers})")
    return 0 if ranking_ok and opd_ok else 1


if __name__ == "__main__":
    sys.exit(main())

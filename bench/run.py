"""Benchmarks: pybpftrace against bpftrace 0.17, on the same workloads in the same run.

    python bench/run.py              # every group, 3 runs each (about 10 minutes)
    python bench/run.py --quick      # a subset that still shows every goal, 1 run (under 2 minutes)
    python bench/run.py --only printf --runs 2 --no-write

Prints a table of both tracers' figures (min / median over the runs) and their ratio, and
writes it to docs/benchmarks.md with the date and the machine.  Measurements only: a
benchmark whose run fails shows "failed" and the suite goes on.  Needs root.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bpfstats  # noqa: E402
import kernel_cells  # noqa: E402
import mapread  # noqa: E402
import printf_rate  # noqa: E402
import startstop  # noqa: E402
from report import Results, machine, write_markdown  # noqa: E402
from tracers import ROOT, ensure_bpftrace, git_commit  # noqa: E402

GROUPS = {
    "startstop": startstop.run,      # (1) start and stop + (2) generated code
    "printf": printf_rate.run,       # (3) printf throughput
    "maps": mapread.run,             # (4) map readout
    "kernel": kernel_cells.run,      # (5) Jupyter kernel cells
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="subset, one run (under 2 minutes)")
    parser.add_argument("--runs", type=int, help="runs per benchmark (default 3, 1 with --quick)")
    parser.add_argument("--only", action="append", choices=sorted(GROUPS), help="run only these groups")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    opts = parser.parse_args(argv)
    runs = opts.runs or (1 if opts.quick else 3)
    if os.geteuid() != 0:
        print("bench/run.py needs root (BPF)", file=sys.stderr)
        return 2
    version = ensure_bpftrace()
    started = time.monotonic()
    log = lambda msg: print(f"[{time.monotonic() - started:6.1f}s] {msg}", flush=True)  # noqa: E731
    results = Results()
    stats_fd = bpfstats.enable_stats()       # run_time_ns / run_cnt count while this is open
    try:
        for name, group in GROUPS.items():
            if opts.only and name not in opts.only:
                continue
            log(f"group {name}")
            try:
                group(results, runs, opts.quick, log)
            except Exception as exc:   # one broken group must not lose the others' figures
                results.notes.append(f"group {name} stopped early: {type(exc).__name__}: {exc}")
                log(f"group {name} stopped early: {exc}")
    finally:
        os.close(stats_fd)
    elapsed = time.monotonic() - started
    print()
    print(results.text_table())
    meta = machine()
    meta.update({
        "bpftrace": version,
        "pybpftrace": f"git {git_commit()}",
        "command": "python bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "runs": f"{runs} per benchmark ({'quick subset' if opts.quick else 'all benchmarks'}), "
                f"{elapsed:.0f} s in all",
    })
    if not opts.no_write:
        write_markdown(opts.output, results.markdown(meta))
        print(f"\nwritten to {opts.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark group (4): map readout at exit.

The workload makes N getpgid() calls with distinct arguments, filling `@m[args->pid] =
count()` with N keys (BPFTRACE_MAP_KEYS_MAX=N), prints a CLOCK_MONOTONIC timestamp and makes
the marker call on which the program calls exit().  Measured: exit() to the last map line on
the tracer's stdout, and to process exit; the number of printed map lines is checked.
"""
from __future__ import annotations

import re
import subprocess

from report import Goal, Results
from session import SessionError, TracerSession
from tracers import NAMES, cfwork, unique_comm

GROUP = "map readout"
G_100K = Goal("ratio<=", 0.25, "<= 0.25x")
PROGRAM = ('tracepoint:syscalls:sys_enter_getpgid /comm == "{comm}"/ {{ @m[args->pid] = count(); }} '
           'tracepoint:syscalls:sys_enter_getppid /comm == "{comm}"/ {{ exit(); }}')
METRICS = [("exit() to last line", "s"), ("exit() to process exit", "s")]


def sizes(quick: bool) -> list[int]:
    return [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000]


def run(results: Results, runs: int, quick: bool, log) -> None:
    binary = str(cfwork())
    for size in sizes(quick):
        reps = 1 if size >= 1_000_000 else runs
        for i in range(reps):
            for tracer in NAMES:
                log(f"  [{i + 1}/{reps}] map of {size:,} keys: {tracer}")
                _one(results, tracer, binary, size)


def _one(results: Results, tracer: str, binary: str, size: int) -> None:
    bench = f"{size:,} keys"
    goals = {"exit() to last line": G_100K} if size == 100_000 else {}
    comm = unique_comm()
    env = {"BPFTRACE_MAP_KEYS_MAX": str(size)}
    session = TracerSession(tracer, ["-e", PROGRAM.format(comm=comm)], env=env, watch_fds=False)
    try:
        session.start()
        session.wait_attached(60)
        load = subprocess.run([binary, f"N:{comm}", f"K:{size}", "D", "Q", "q"], capture_output=True,
                              text=True, timeout=600)
        session.wait_exit(600)
    except (SessionError, subprocess.SubprocessError) as exc:
        results.fail(GROUP, bench, METRICS, tracer, str(exc), goals)
        session.close()
        return
    session.close()
    stamps = [float(x) for x in load.stderr.split() if re.fullmatch(r"\d+\.\d+", x)]
    if not stamps:
        results.fail(GROUP, bench, METRICS, tracer, "the workload printed no timestamp", goals)
        return
    marker = stamps[-1] - session.started          # on the session's clock (both CLOCK_MONOTONIC)
    keys = session.stdout.text().count("\n@m[")
    if keys < size:
        results.fail(GROUP, bench, METRICS, tracer, f"printed {keys:,} of {size:,} keys", goals)
        return
    results.add(GROUP, bench, "exit() to last line", "s", tracer, session.stdout.last - marker,
                goals.get("exit() to last line"))
    results.add(GROUP, bench, "exit() to process exit", "s", tracer, session.exited - marker)


"""Benchmark group (3): printf throughput.

One printf per write(2) of the workload, which writes at rising fixed rates and then at full
speed.  Per rate: printf lines delivered per second, lost events reported by the tracer
("Lost N events") against lines actually missing (they must be equal), tracer CPU per line;
at full speed also the workload's slowdown per event against an untraced run.  The workload
prints CLOCK_MONOTONIC timestamps around its writes; 0.3 s later (the tracer drains its
buffers) the tracer's CPU time is read and a second workload makes the marker call on which
the program calls exit().
"""
from __future__ import annotations

import re
import subprocess
import time

from report import Goal, Results
from session import SessionError, TracerSession
from tracers import NAMES, cfwork, unique_comm

GROUP = "printf throughput"
G_LINES = Goal("ratio>=", 8.0, ">= 8x")
G_SLOWDOWN = Goal("ratio<=", 0.1, "<= 0.1x")
LINE = re.compile(rb"^\d+ 8$", re.M)
LOST = re.compile(r"Lost (\d+) events")

PROGRAM = ('tracepoint:syscalls:sys_enter_write /comm == "{comm}" && args->count == 8/ {{ printf("%d %d\\n", '
           'args->fd, args->count); }} tracepoint:syscalls:sys_enter_getppid /comm == "{comm}"/ {{ exit(); }}')
METRICS = [("lines delivered per second", "lines/s"), ("lost events reported", "events"),
           ("lines missing", "lines"), ("tracer CPU per line", "us")]


def rates(quick: bool) -> list[tuple[int, int]]:
    """(rate per second, 0 = as fast as possible; number of events)."""
    if quick:
        return [(20_000, 10_000), (100_000, 50_000), (0, 200_000)]
    return [(20_000, 20_000), (50_000, 50_000), (100_000, 100_000), (200_000, 100_000),
            (400_000, 100_000), (0, 200_000)]


def run(results: Results, runs: int, quick: bool, log) -> None:
    binary = str(cfwork())
    summary = [("max lines/s delivered without loss", "lines/s")]
    goals = {summary[0][0]: G_LINES}
    for i in range(runs):
        per_run: dict[str, float | None] = {t: None for t in NAMES}
        for rate, count in rates(quick):
            bench = f"rate {rate // 1000}k/s" if rate else "full speed"
            base = _untraced(binary, rate, count) if rate == 0 else None
            for tracer in NAMES:
                log(f"  [{i + 1}/{runs}] printf {bench}: {tracer}")
                got = _one(results, tracer, binary, bench, rate, count, base)
                if got is not None:
                    per_run[tracer] = max(per_run[tracer] or 0.0, got)
        for tracer, value in per_run.items():
            if value is None:
                results.fail(GROUP, "all rates", summary, tracer, "lost lines at every rate tried", goals)
            else:
                results.add(GROUP, "all rates", summary[0][0], summary[0][1], tracer, value, G_LINES)


def _untraced(binary: str, rate: int, count: int) -> float | None:
    durations = []
    for _ in range(2):
        out = subprocess.run([binary, "D", f"R:{count}:{rate}", "D", "q"], capture_output=True,
                             text=True, timeout=120)
        durations.append(_duration(out.stderr))
    durations = [d for d in durations if d is not None]
    return min(durations) if durations else None


def _duration(stderr: str) -> float | None:
    stamps = [float(x) for x in stderr.split() if re.fullmatch(r"\d+\.\d+", x)]
    return stamps[1] - stamps[0] if len(stamps) >= 2 else None


def _one(results: Results, tracer: str, binary: str, bench: str, rate: int, count: int,
         base: float | None) -> float | None:
    """Run one rate; returns lines/s when nothing was missing, else None."""
    comm = unique_comm()
    session = TracerSession(tracer, ["-e", PROGRAM.format(comm=comm)], watch_fds=False)
    metrics = METRICS + ([("load slowdown per event", "ns")] if rate == 0 else [])
    goals = {"load slowdown per event": G_SLOWDOWN}
    try:
        session.start()
        session.wait_attached(60)
        cpu0 = session.cpu_seconds()
        load = subprocess.run([binary, f"N:{comm}", "D", f"R:{count}:{rate}", "D", "q"],
                              capture_output=True, text=True, timeout=300)
        time.sleep(0.3)                       # let the tracer drain its buffers
        cpu1 = session.cpu_seconds()
        subprocess.run([binary, f"N:{comm}", "Q", "q"], timeout=30)     # the marker: exit()
        session.wait_exit(120)
    except (SessionError, subprocess.SubprocessError) as exc:
        results.fail(GROUP, bench, metrics, tracer, str(exc), goals)
        session.close()
        return None
    session.close()
    duration = _duration(load.stderr)
    text = session.stdout.text()
    lines = len(LINE.findall(text.encode()))
    lost = sum(int(n) for n in LOST.findall(text))
    missing = count - lines
    cpu = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None
    add = lambda name, unit, value, goal=None: results.add(GROUP, bench, name, unit, tracer, value, goal)  # noqa: E731
    add("lines delivered per second", "lines/s", lines / duration if duration else None)
    add("lost events reported", "events", lost)
    add("lines missing", "lines", missing)
    add("tracer CPU per line", "us", cpu / lines * 1e6 if cpu is not None and lines else None)
    if rate == 0 and base is not None and duration is not None:
        add("load slowdown per event", "ns", max(0.0, duration - base) / count * 1e9, G_SLOWDOWN)
    if lost != missing:
        results.notes.append(f"printf {bench}, {tracer}: {lost} lost events reported but "
                             f"{missing} lines missing")
    return lines / duration if missing == 0 and duration else None

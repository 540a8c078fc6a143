"""Benchmark groups (1) start and stop and (2) generated code, measured in the same sessions.

For each one-liner and tracer: process start to all probes attached (the notify token, and
from outside with BPF_TASK_FD_QUERY), to the first event (run_cnt > 0), SIGINT to exit, peak
RSS; then, under a fixed load run while attached: number of programs, translated and JIT
sizes, static helper calls, ns per event (run_time_ns / run_cnt with BPF stats on) and the
load's slowdown per event against an untraced run.  A background ticker (cfwork T:2) makes
every probe fire soon after it attaches.  Also `BEGIN { exit(); }`: total time and peak RSS.

Every session starts cold: XDG_CACHE_HOME is a fresh empty directory, so no on-disk compile
or symbol cache of an earlier run helps; `BEGIN { exit(); }` is also timed as a repeat run
with its cache directory kept (the "warm" row).
"""
from __future__ import annotations

import subprocess
import tempfile
import time
from dataclasses import dataclass

from report import Goal, Results
from session import SessionError, TracerSession
from tracers import NAMES, cfwork

START = "start/stop"
CODE = "generated code"


@dataclass(frozen=True)
class OneLiner:
    key: str
    program: str                 # {{CFWORK}} is the workload binary
    load: tuple[str, ...]        # cfwork operations run while attached
    load_events: int | None      # events the load makes the program handle (None: not per event)
    probes: int                  # probes in the program as written (for the SIGINT goal)
    exit_timeout: float = 30.0
    attach_timeout: float = 60.0
    quick: bool = False


ONE_LINERS = [
    OneLiner("raw_syscalls count by comm", "tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }",
             ("n:200000",), 200000, 1, quick=True),
    OneLiner("read-size hist (args)", "tracepoint:syscalls:sys_exit_read { @bytes = hist(args->ret); }",
             ("Z:100000",), 100000, 1),
    OneLiner("read latency hist (@start[tid])",
             "tracepoint:syscalls:sys_enter_read { @start[tid] = nsecs; } "
             "tracepoint:syscalls:sys_exit_read /@start[tid]/ { @ns = hist(nsecs - @start[tid]); "
             "delete(@start[tid]); }", ("Z:100000",), 200000, 2),
    OneLiner("printf per openat",
             'tracepoint:syscalls:sys_enter_openat { printf("%s %s\\n", comm, str(args->filename)); }',
             ("O:20000",), 20000, 1),
    OneLiner("99 Hz kstack profile", "profile:hz:99 { @[kstack] = count(); }", ("b:300",), None, 1),
    OneLiner("uprobe on test binary", "uprobe:{{CFWORK}}:cf_work { @[arg0 % 8] = count(); }",
             ("u:100000",), 100000, 1),
    OneLiner("360-probe sys_enter_* wildcard", "tracepoint:syscalls:sys_enter_* { @[probe] = count(); }",
             ("n:200000",), 200000, 360, exit_timeout=180.0, attach_timeout=180.0, quick=True),
    OneLiner("one probe, ten maps",
             "tracepoint:raw_syscalls:sys_enter { @c = count(); @s = sum(args->id); @a = avg(args->id); "
             "@mn = min(args->id); @mx = max(args->id); @st = stats(args->id); @h = hist(args->id); "
             "@l = lhist(args->id, 0, 400, 20); @k[comm] = count(); @kh[comm] = hist(args->id); }",
             ("n:200000",), 200000, 1),
]

START_METRICS = [("start to attached (notify)", "s"), ("start to attached (fd query)", "s"),
                 ("start to first event", "s"), ("SIGINT to exit", "s"),
                 ("start to exit (attach + SIGINT to exit)", "s"), ("peak RSS", "MB")]
CODE_METRICS = [("programs", "count"), ("translated size", "bytes"), ("JIT size", "bytes"),
                ("helper calls (static)", "count"), ("run time per event", "ns"),
                ("load slowdown per event", "ns")]

G_SIGINT = Goal("ratio<=", 0.3, "<= 0.3x")
G_WILDCARD = Goal("ratio<=", 0.05, ">= 20x faster")
G_NS = Goal("ratio<=", 0.8, "<= 0.8x")
G_RSS = Goal("ratio<=", 1.0, "<= 1x")
G_BEGIN = Goal("ratio<=", 0.8, "<= 0.8x")


def goals_for(line: OneLiner) -> dict[str, Goal]:
    goals = {"peak RSS": G_RSS, "run time per event": G_NS}
    if line.probes <= 2:
        goals["SIGINT to exit"] = G_SIGINT
    if line.probes >= 360:
        goals["start to exit (attach + SIGINT to exit)"] = G_WILDCARD
    return goals


def run(results: Results, runs: int, quick: bool, log) -> None:
    lines = [l for l in ONE_LINERS if l.quick or not quick]
    binary = str(cfwork())
    ticker = subprocess.Popen([binary, "N:bwticker", "T:2"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        baselines = {l.key: _baseline(binary, l, runs) for l in lines if l.load_events}
        for i in range(runs):
            for line in lines:
                if line.probes >= 360 and i >= 2:
                    continue          # bpftrace needs ~30 s per run here; two runs are enough
                for tracer in NAMES:
                    log(f"  [{i + 1}/{runs}] {line.key}: {tracer}")
                    _session(results, tracer, line, binary, baselines.get(line.key))
        warm_caches = {t: tempfile.TemporaryDirectory(prefix="bench-warm-") for t in NAMES}
        try:
            for tracer in NAMES:        # fills the warm cache directories
                _begin_exit(results, tracer, warm_caches[tracer].name, record=False)
            for i in range(max(runs, 3)):
                for tracer in NAMES:
                    log(f"  [{i + 1}] BEGIN {{ exit(); }}: {tracer}")
                    with tempfile.TemporaryDirectory(prefix="bench-cold-") as cold:
                        _begin_exit(results, tracer, cold)
                    _begin_exit(results, tracer, warm_caches[tracer].name, warm=True)
        finally:
            for d in warm_caches.values():
                d.cleanup()
    finally:
        ticker.terminate()
        ticker.wait(10)


def _baseline(binary: str, line: OneLiner, runs: int) -> float:
    times = [_timed_load(binary, line) for _ in range(max(2, runs))]
    return min(times)


def _timed_load(binary: str, line: OneLiner) -> float:
    t0 = time.monotonic()
    subprocess.run([binary, *line.load, "q"], check=True, timeout=120, stdin=subprocess.DEVNULL)
    return time.monotonic() - t0


def _session(results: Results, tracer: str, line: OneLiner, binary: str, baseline: float | None) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as cold:
        _cold_session(results, tracer, line, binary, baseline, cold)


def _cold_session(results: Results, tracer: str, line: OneLiner, binary: str, baseline: float | None,
                  cache_dir: str) -> None:
    goals = goals_for(line)
    program = line.program.replace("{{CFWORK}}", binary)
    session = TracerSession(tracer, ["-e", program], cache_dir=cache_dir)
    try:
        session.start()
        notified = session.wait_attached(line.attach_timeout)
        by_fds = session.attached_by_fds()
        before = session.run_totals()
        load_time = _timed_load(binary, line)
        after = session.run_totals()
        progs = session.prog_stats()
        first = session.first_event
        time.sleep(0.05)
        sigint = session.sigint_and_wait(line.exit_timeout)
    except (SessionError, subprocess.SubprocessError) as exc:
        results.fail(START, line.key, START_METRICS, tracer, str(exc), goals)
        results.fail(CODE, line.key, CODE_METRICS, tracer, str(exc), goals)
        return
    finally:
        session.close()
    add = lambda group, name, unit, value: results.add(group, line.key, name, unit, tracer, value,  # noqa: E731
                                                        goals.get(name))
    add(START, "start to attached (notify)", "s", notified)
    add(START, "start to attached (fd query)", "s", by_fds)
    add(START, "start to first event", "s", first)
    add(START, "SIGINT to exit", "s", sigint)
    add(START, "start to exit (attach + SIGINT to exit)", "s", notified + sigint)
    rss = session.peak_rss_kb()
    add(START, "peak RSS", "MB", rss / 1024 if rss else None)
    add(CODE, "programs", "count", len(progs))
    add(CODE, "translated size", "bytes", sum(p.xlated_len for p in progs))
    add(CODE, "JIT size", "bytes", sum(p.jited_len for p in progs))
    add(CODE, "helper calls (static)", "count", sum(p.helper_calls for p in progs))
    d_ns, d_cnt = after[0] - before[0], after[1] - before[1]
    add(CODE, "run time per event", "ns", d_ns / d_cnt if d_cnt > 0 else None)
    if line.load_events and baseline is not None:
        add(CODE, "load slowdown per event", "ns", max(0.0, load_time - baseline) / line.load_events * 1e9)


def _begin_exit(results: Results, tracer: str, cache_dir: str, warm: bool = False,
                record: bool = True) -> None:
    """`BEGIN { exit(); }` from process start to exit: cold (empty cache directory) or warm
    (the cache directory of earlier runs of the same program)."""
    bench = "BEGIN { exit(); }"
    total_name = "total time (repeat run, caches warm)" if warm else "total time (cold: no cache)"
    metrics = [(total_name, "s"), ("peak RSS", "MB")]
    goals = {} if warm else {total_name: G_BEGIN, "peak RSS": G_RSS}
    session = TracerSession(tracer, ["-e", "BEGIN { exit(); }"], watch_fds=False, cache_dir=cache_dir)
    try:
        session.start()
        total = session.wait_exit(30)
        if session.status != 0:
            raise SessionError(f"exit status {session.status}: {session.stderr_tail()}")
    except SessionError as exc:
        if record:
            results.fail(START, bench, metrics if not warm else metrics[:1], tracer, str(exc), goals)
        return
    finally:
        session.close()
    if not record:
        return
    results.add(START, bench, total_name, "s", tracer, total, goals.get(total_name))
    if not warm:
        rss = session.peak_rss_kb()
        results.add(START, bench, "peak RSS", "MB", tracer, rss / 1024 if rss else None, G_RSS)

"""Fault injection: whatever ends a pybpftrace run (exit(), SIGINT, SIGTERM, SIGKILL at a
random point of compile, load, attach or tracing, a compile or verifier error, a failure half-way
through attaching), no BPF program of ours stays loaded and no child process is left running.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from tests.bpf_objects import (assert_nothing_left, descendants, held_objects, our_programs,
                               wait_until_none_of)

PYBPFTRACE = [sys.executable, "-m", "bpftrace_kernel.cli"]
PROGRAM = ("tracepoint:raw_syscalls:sys_enter { @[comm] = count(); } "
           "tracepoint:syscalls:sys_enter_openat { @opens = count(); } "
           "interval:ms:50 { @ticks = count(); }")

pytestmark = pytest.mark.root


def _start(program: str, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "__BPFTRACE_NOTIFY_PROBES_ATTACHED": "1"}
    return subprocess.Popen(PYBPFTRACE + list(extra) + ["-e", program], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)


def _wait_attached(proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    line = b""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if b"__BPFTRACE_NOTIFY_PROBES_ATTACHED" in line or not line:
            break
    assert b"__BPFTRACE_NOTIFY_PROBES_ATTACHED" in line, "the tracer never attached"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_while_tracing_prints_maps_and_cleans_up(sig):
    before = {p["id"] for p in our_programs()}
    proc = _start(PROGRAM)
    _wait_attached(proc)
    held, children = _watch_until(proc, 0.3)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert b"@ticks: " in out              # maps are printed on the way out, as bpftrace does
    assert_nothing_left(held, children)
    assert not wait_until_none_of(before)


def _watch_until(proc: subprocess.Popen, seconds: float) -> tuple[dict, set[int]]:
    """Sample the kernel objects and child processes `proc` holds for `seconds`: the union
    is everything that must be gone once it ends."""
    held: dict[str, set[int]] = {"map": set(), "prog": set(), "link": set(), "perf_event": set()}
    children: set[int] = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        for kind, ids in held_objects(proc.pid).items():
            held[kind] |= ids
        children |= descendants(proc.pid)
        time.sleep(0.01)
    return held, children


@pytest.mark.parametrize("seed", range(8))
def test_sigkill_at_a_random_point_leaves_nothing(seed):
    """SIGKILL cannot be caught: cleanup must come from the kernel closing our fds (nothing
    pinned), and the -c child and detach helpers must not outlive the tracer."""
    rng = random.Random(seed)
    before = {p["id"] for p in our_programs()}
    extra = ("-c", "sleep 30") if seed % 2 else ()
    proc = _start(PROGRAM, *extra)
    # somewhere in import, compile, load, attach or tracing
    held, children = _watch_until(proc, rng.uniform(0.0, 2.5))
    proc.kill()
    proc.communicate(timeout=30)
    assert_nothing_left(held, children)
    assert not wait_until_none_of(before)


def test_sigkill_while_tracing_releases_maps_links_and_perf_events():
    """Killed once attached: every map, program and link it held is freed."""
    proc = _start(PROGRAM)
    _wait_attached(proc)
    held, children = _watch_until(proc, 0.3)
    assert held["map"] and held["prog"] and held["link"] and held["perf_event"], held
    proc.kill()
    proc.communicate(timeout=30)
    assert_nothing_left(held, children)


def test_sigkill_with_a_cmd_child_kills_the_child():
    proc = _start(PROGRAM, "-c", "sleep 30")
    _wait_attached(proc)
    held, children = _watch_until(proc, 0.2)
    assert children, "the -c child was not started"
    proc.kill()
    proc.communicate(timeout=30)
    assert_nothing_left(held, children)


def test_exit_cleans_up():
    before = {p["id"] for p in our_programs()}
    proc = subprocess.run(PYBPFTRACE + ["-e", "interval:ms:10 { @n = count(); if (@n > 2) { exit(); } }"],
                          capture_output=True, timeout=60)
    assert proc.returncode in (0, 1), proc.stderr.decode()
    assert not wait_until_none_of(before)


def test_attach_failure_half_way_cleans_up():
    """The second attach point fails (no such hardware PMU / kprobes here): the first one,
    already attached, must be released too."""
    before = {p["id"] for p in our_programs()}
    proc = subprocess.run(PYBPFTRACE + ["-e", "interval:ms:10 { @a = count(); } hardware:cycles:1000000 { @b = count(); }"],
                          capture_output=True, timeout=60)
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    assert "hardware" in err
    assert not wait_until_none_of(before)


def test_compile_error_loads_nothing():
    before = {p["id"] for p in our_programs()}
    proc = subprocess.run(PYBPFTRACE + ["-e", "BEGIN { foo(1); }"], capture_output=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.decode().startswith("stdin:1:9-12: ERROR: Unknown function: foo")
    assert not wait_until_none_of(before)


def test_cmd_child_is_not_left_running():
    """-c CMD: when the trace ends first (exit()), the child is terminated."""
    proc = subprocess.run(PYBPFTRACE + ["-c", "sleep 30", "-e", "interval:ms:100 { exit(); }"],
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    left = subprocess.run(["pgrep", "-f", "^sleep 30$"], capture_output=True, text=True).stdout.split()
    assert not left

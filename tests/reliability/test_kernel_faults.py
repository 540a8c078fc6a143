"""Fault injection on the Jupyter kernel process: SIGKILL at random points while a cell
compiles, loads, attaches or traces, and a restart while tracing, leave no BPF map, program,
link or perf event and no child process (a `--cmd` child, the LLVM worker) behind; after a
failing cell (compile error, attach error, interrupt during compile) the next cell works.
"""
from __future__ import annotations

import os
import queue
import random
import signal
import tempfile
import time
from pathlib import Path

import pytest
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager

from bpftrace_kernel.install import write_kernel_spec
from tests.bpf_objects import assert_nothing_left, descendants, held_objects

pytestmark = pytest.mark.root

CELL = ("tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }\n"
        "tracepoint:syscalls:sys_enter_openat { @opens = count(); }\n"
        "interval:ms:50 { @ticks = count(); }")


@pytest.fixture(scope="module")
def spec_manager():
    root = Path(tempfile.mkdtemp(prefix="bt-fault-specs-"))
    write_kernel_spec(root / "bpftrace-faults", display_name="bpftrace (faults)")
    return KernelSpecManager(kernel_dirs=[str(root)])


def _start(spec_manager):
    km = KernelManager(kernel_name="bpftrace-faults", kernel_spec_manager=spec_manager)
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    return km, kc


def _pid(km) -> int:
    return km.provisioner.process.pid


def _watch(pid: int, seconds: float, until=None) -> tuple[dict, set[int]]:
    """Union of the kernel objects and child processes `pid` holds over `seconds` (or
    until `until(held)` is true)."""
    held = {"map": set(), "prog": set(), "link": set(), "perf_event": set()}
    children: set[int] = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for kind, ids in held_objects(pid).items():
            held[kind] |= ids
        children |= descendants(pid)
        if until is not None and until(held):
            break
        time.sleep(0.01)
    return held, children


def _reply(kc, msg_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = kc.get_shell_msg(timeout=0.5)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg["content"]
    raise TimeoutError("no execute_reply")


def _attached(held: dict) -> bool:
    return len(held["link"]) >= 3


@pytest.mark.parametrize("seed", range(4))
def test_sigkill_of_the_kernel_at_a_random_point_leaves_nothing(spec_manager, seed):
    rng = random.Random(seed)
    km, kc = _start(spec_manager)
    try:
        pid = _pid(km)
        cell = ("%%trace --cmd 'sleep 30'\n" if seed % 2 else "") + CELL
        kc.execute(cell)
        held, children = _watch(pid, rng.uniform(0.0, 2.5))
        os.kill(pid, signal.SIGKILL)
        assert_nothing_left(held, children)
    finally:
        kc.stop_channels()
        km.cleanup_resources()


def test_sigkill_of_a_tracing_kernel_with_a_cmd_child(spec_manager):
    km, kc = _start(spec_manager)
    try:
        pid = _pid(km)
        kc.execute("%%trace --cmd 'sleep 30'\n" + CELL)
        held, children = _watch(pid, 30, until=_attached)
        assert _attached(held), "the cell never attached"
        held2, children2 = _watch(pid, 0.2)
        os.kill(pid, signal.SIGKILL)
        merged = {k: held[k] | held2[k] for k in held}
        assert children | children2, "the --cmd child was not started"
        assert_nothing_left(merged, children | children2)
    finally:
        kc.stop_channels()
        km.cleanup_resources()


def test_restart_while_tracing_leaves_nothing_and_the_new_kernel_works(spec_manager):
    km, kc = _start(spec_manager)
    try:
        pid = _pid(km)
        kc.execute(CELL)
        held, children = _watch(pid, 30, until=_attached)
        assert _attached(held), "the cell never attached"
        km.restart_kernel(now=True)
        assert_nothing_left(held, children)
        kc.wait_for_ready(timeout=60)
        msg_id = kc.execute("BEGIN { @after = 7; exit(); }")
        assert _reply(kc, msg_id)["status"] == "ok"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_the_kernel_serves_the_next_cell_after_any_failure(spec_manager):
    km, kc = _start(spec_manager)
    try:
        pid = _pid(km)
        failing = [
            "BEGIN { nosuch(1); }",                                           # compile error
            "interval:ms:10 { @a = count(); } hardware:cycles:1000 { @b = count(); }",  # attach
            "BEGIN { $x = " + "(" * 5000 + "nosuch" + ")" * 5000 + "; }",    # hostile input
            "BEGIN { system(\"true\"); }",                                   # unsafe, refused
        ]
        for cell in failing:
            reply = _reply(kc, kc.execute(cell))
            assert reply["status"] == "error", cell[:60]
            assert "Traceback" not in "".join(reply.get("traceback", []))
            good = _reply(kc, kc.execute("BEGIN { @ok = 1; exit(); }"))
            assert good["status"] == "ok", cell[:60]
        # an interrupt while the cell is still compiling or attaching
        before = held_objects(pid)
        msg_id = kc.execute(CELL)
        time.sleep(0.05)
        km.interrupt_kernel()
        reply = _reply(kc, msg_id)
        assert reply["status"] in ("ok", "error", "aborted")
        deadline = time.monotonic() + 5
        while True:
            after = held_objects(pid)
            extra = {k: after[k] - before[k] for k in ("prog", "link", "perf_event")}
            if not any(extra.values()) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert not any(extra.values()), extra
        good = _reply(kc, kc.execute("BEGIN { @ok = 1; exit(); }"))
        assert good["status"] == "ok"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)

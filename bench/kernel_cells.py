"""Benchmark group (5): cells in the Jupyter kernel (kernel name "bpftrace"), through
jupyter_client, pybpftrace only.

Warm cell latency: execute_request to all probes attached (the kernel process's fds polled
with BPF_TASK_FD_QUERY, as for the CLI) and to execute_reply; then the kernel's RSS after 1
and after N cells.  Skipped with a note when the kernelspec is not installed.
"""
from __future__ import annotations

import os
import threading
import time

import bpfstats
from report import Goal, Results

GROUP = "kernel cells"
KERNEL = "bpftrace"
CELL = "tracepoint:raw_syscalls:sys_enter { @[comm] = count(); } interval:ms:50 { exit(); }"
G_ATTACH = Goal("value<=", 30.0, "<= 30 ms")
WARM = [("execute to attached", "ms"), ("execute to reply", "ms")]


def run(results: Results, runs: int, quick: bool, log) -> None:
    cells = 20 if quick else 100
    rss_metrics = [("kernel RSS after 1 cell", "MB"), (f"kernel RSS after {cells} cells", "MB")]
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
        from jupyter_client.manager import start_new_kernel
    except ImportError as exc:
        _skip(results, f"jupyter_client is not importable ({exc})", rss_metrics)
        return
    try:
        KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        _skip(results, f"no '{KERNEL}' kernelspec (python -m bpftrace_kernel install)", rss_metrics)
        return
    log(f"  starting the '{KERNEL}' kernel")
    try:
        km, kc = start_new_kernel(kernel_name=KERNEL, startup_timeout=60)
    except Exception as exc:  # a kernel that fails to start is a failed benchmark, not a crash
        results.fail(GROUP, "warm cell", WARM, "pybpftrace", f"kernel did not start: {exc}",
                     {"execute to attached": G_ATTACH})
        results.fail(GROUP, "memory", rss_metrics, "pybpftrace", f"kernel did not start: {exc}")
        return
    try:
        pid = _kernel_pid(km)
        _measure(results, kc, pid, runs=max(runs * 3, 5), cells=cells, rss_metrics=rss_metrics, log=log)
    except Exception as exc:
        results.fail(GROUP, "warm cell", WARM, "pybpftrace", f"{type(exc).__name__}: {exc}",
                     {"execute to attached": G_ATTACH})
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _skip(results: Results, why: str, rss_metrics) -> None:
    results.notes.append(f"kernel cells skipped: {why}")
    results.fail(GROUP, "warm cell", WARM, "pybpftrace", f"skipped: {why}", {"execute to attached": G_ATTACH})
    results.fail(GROUP, "memory", rss_metrics, "pybpftrace", f"skipped: {why}")


def _kernel_pid(km) -> int:
    provisioner = getattr(km, "provisioner", None)
    for obj in (provisioner, getattr(provisioner, "process", None), getattr(km, "kernel", None)):
        pid = getattr(obj, "pid", None)
        if isinstance(pid, int):
            return pid
    raise RuntimeError("cannot find the kernel's pid")


def _family(pid: int) -> list[int]:
    """The kernel process and its descendants (a compile worker, a helper...)."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in open(f"/proc/{p}/task/{task}/children").read().split()]
        except OSError:
            pass
    return pids


def _execute(kc, code: str, timeout: float = 60.0) -> dict:
    msg_id = kc.execute(code, store_history=False)
    while True:
        reply = kc.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply


def _drain(kc) -> None:
    try:
        while True:
            kc.get_iopub_msg(timeout=0.001)
    except Exception:
        pass


class _AttachWatch(threading.Thread):
    """Polls the kernel's fds until `target` attached programs are seen."""

    def __init__(self, pid: int, target: int):
        super().__init__(daemon=True)
        self.pid, self.target = pid, target
        self.seen_at: float | None = None
        self.most = 0
        self.stop = threading.Event()

    def run(self) -> None:
        known: dict[int, dict[int, int]] = {}
        while not self.stop.is_set():
            count = 0
            for p in _family(self.pid):
                known[p] = bpfstats.attached_programs(p, known.get(p))
                count += len(known[p])
            self.most = max(self.most, count)
            if self.target and count >= self.target and self.seen_at is None:
                self.seen_at = time.monotonic()
                return
            time.sleep(0.002)


def _measure(results: Results, kc, pid: int, runs: int, cells: int, rss_metrics, log) -> None:
    # warm-up: learn how many programs the cell attaches
    watch = _AttachWatch(pid, target=0)
    watch.start()
    reply = _execute(kc, CELL)
    watch.stop.set()
    watch.join()
    _drain(kc)
    if reply["content"].get("status") != "ok":
        raise RuntimeError(f"the cell failed: {reply['content'].get('evalue', reply['content'])}")
    target = max(watch.most, 1)
    results.add(GROUP, "memory", "kernel RSS after 1 cell", "MB", "pybpftrace", _rss_mb(pid))
    for i in range(runs):
        log(f"  warm cell {i + 1}/{runs}")
        watch = _AttachWatch(pid, target)
        watch.start()
        sent = time.monotonic()
        _execute(kc, CELL)
        replied = time.monotonic()
        watch.stop.set()
        watch.join()
        _drain(kc)
        if watch.seen_at is not None:
            results.add(GROUP, "warm cell", "execute to attached", "ms", "pybpftrace",
                        (watch.seen_at - sent) * 1000, G_ATTACH)
        results.add(GROUP, "warm cell", "execute to reply", "ms", "pybpftrace", (replied - sent) * 1000)
    log(f"  {cells} cells for the RSS figure")
    for i in range(cells - runs - 1):
        _execute(kc, CELL)
        _drain(kc)
    results.add(GROUP, "memory", rss_metrics[1][0], "MB", "pybpftrace", _rss_mb(pid))


def _rss_mb(pid: int) -> float | None:
    total = 0
    for p in _family(pid):
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024 if total else None

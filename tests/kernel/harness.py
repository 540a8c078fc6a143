"""Helpers for driving the kernel through jupyter_client in tests.

`install_test_specs` writes two kernelspecs: `bpftrace-test` (the real engine, what users
get) and `bpftrace-fake` (BPFTRACE_KERNEL_ENGINE=fake_engine, see fake_engine.py).
`run_cell` executes code and collects every IOPub message of that execution plus the reply.
"""
from __future__ import annotations

import os
import queue
import tempfile
import time
from pathlib import Path

from bpftrace_kernel.install import write_kernel_spec

HERE = Path(__file__).resolve().parent
REAL = "bpftrace-test"
FAKE = "bpftrace-fake"
FAKE_SIGNAL = "bpftrace-fake-signal"     # interrupt_mode "signal": SIGINT to the process group
SPOOL_DIR = Path(tempfile.gettempdir()) / "bt-kernel-test-spool"


def install_test_specs(root: Path) -> None:
    kernels = Path(root) / "kernels"
    env = {"BPFTRACE_KERNEL_SPOOL_DIR": str(SPOOL_DIR)}
    write_kernel_spec(kernels / REAL, display_name="bpftrace (test)", env=env)
    fake_env = dict(env, BPFTRACE_KERNEL_ENGINE="fake_engine",
                    PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    write_kernel_spec(kernels / FAKE, display_name="bpftrace (fake engine)", env=fake_env)
    spec = write_kernel_spec(kernels / FAKE_SIGNAL, display_name="bpftrace (fake, signals)", env=fake_env)
    kernel_json = spec / "kernel.json"
    kernel_json.write_text(kernel_json.read_text().replace('"interrupt_mode": "message"',
                                                           '"interrupt_mode": "signal"'))


def run_cell(kc, code: str, timeout: float = 30.0, during=None):
    """Execute `code`; returns (reply content, [iopub messages of this execution]).

    `during(msg)` is called with each IOPub message as it arrives (e.g. to interrupt)."""
    msg_id = kc.execute(code)
    deadline = time.monotonic() + timeout
    msgs = []
    reply = None
    idle = False
    while not (reply is not None and idle):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no reply/idle within {timeout} s; got {[m['msg_type'] for m in msgs]}")
        if reply is None:
            try:
                r = kc.get_shell_msg(timeout=0.01)
                if r["parent_header"].get("msg_id") == msg_id:
                    reply = r["content"]
            except queue.Empty:
                pass
        try:
            m = kc.get_iopub_msg(timeout=0.05)
        except queue.Empty:
            continue
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        m["_t"] = time.monotonic()
        if m["msg_type"] == "status":
            idle = m["content"]["execution_state"] == "idle"
            continue
        msgs.append(m)
        if during:
            during(m)
    return reply, msgs


def stream_text(msgs, name="stdout") -> str:
    return "".join(m["content"]["text"] for m in msgs
                   if m["msg_type"] == "stream" and m["content"]["name"] == name)


def of_type(msgs, *types):
    return [m for m in msgs if m["msg_type"] in types]

"""The CLI's output under pressure: a reader that goes away (`| head -1`) ends the run
cleanly, a reader that stops reading cannot stop Ctrl-C from ending it promptly, and an event
flood is counted and reported as bpftrace's "Lost N events", never silently dropped.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.bpf_objects import held_objects, still_alive

pytestmark = pytest.mark.root

PYBPFTRACE = [sys.executable, "-m", "bpftrace_kernel.cli"]
SYSCALL_PRINTF = 'tracepoint:raw_syscalls:sys_enter { printf("%d %s\\n", pid, comm); }'


def _start(program: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "__BPFTRACE_NOTIFY_PROBES_ATTACHED": "1"}
    return subprocess.Popen(PYBPFTRACE + ["-e", program], stderr=subprocess.PIPE, env=env, **kw)


def _wait_attached(proc: subprocess.Popen) -> None:
    line = proc.stderr.readline()
    while line and b"__BPFTRACE_NOTIFY_PROBES_ATTACHED" not in line:
        line = proc.stderr.readline()
    assert line, "the tracer never attached"


def test_closed_pipe_ends_the_run_cleanly():
    """`pybpftrace ... | head -1`: the reader goes away after one line."""
    proc = _start(SYSCALL_PRINTF, stdout=subprocess.PIPE)
    _wait_attached(proc)
    assert proc.stdout.readline()
    proc.stdout.close()
    for _ in range(2000):               # make events: the next write finds the pipe closed
        os.getppid()
    assert proc.wait(timeout=10) == 0
    err = proc.stderr.read().decode()
    assert "Traceback" not in err and "Broken pipe" not in err, err


def test_sigint_ends_the_run_promptly_while_the_reader_is_not_reading():
    """`pybpftrace ... | (sleep 30)`: the pipe is full and nobody reads it; Ctrl-C still ends
    the run within about a second and everything it attached is released."""
    r, w = os.pipe()
    proc = _start(SYSCALL_PRINTF, stdout=w)
    os.close(w)
    try:
        _wait_attached(proc)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:     # fill the pipe (64 KiB) with our own events
            for _ in range(5000):
                os.getppid()
            if _pipe_full(r):
                break
        held = held_objects(proc.pid)
        assert held["prog"] and held["link"]
        time.sleep(0.3)
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        took = time.monotonic() - start
    finally:
        os.close(r)
    assert took < 2.0, f"Ctrl-C took {took:.2f} s with a stalled reader"
    assert proc.returncode == 0
    err = proc.stderr.read().decode()
    assert "Traceback" not in err, err
    assert "output not read" in err            # the dropped output is reported
    assert not still_alive(held)


def _pipe_full(fd: int) -> bool:
    import fcntl
    import termios
    buf = bytearray(4)
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    return int.from_bytes(buf, "little") >= 60000


def test_a_printf_flood_is_counted_not_silently_dropped(tmp_path):
    """dd makes N one-byte reads faster than printf lines can be formatted: every read is
    either printed or counted in a "Lost N events" line."""
    reads = 400_000
    out = tmp_path / "out.txt"
    program = ('tracepoint:syscalls:sys_enter_read /pid == cpid && args->count == 1/ '
               '{ printf("%s %s %s %s %d\\n", comm, comm, comm, comm, args->count); }')
    with open(out, "wb") as f:
        proc = subprocess.run(PYBPFTRACE + ["-c", f"dd if=/dev/zero of=/dev/null bs=1 count={reads}",
                                            "-e", program], stdout=f, stderr=subprocess.PIPE,
                              timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    text = out.read_text()
    printed = sum(1 for line in text.splitlines() if line.endswith(" 1") and line.startswith("dd "))
    lost = sum(int(n) for n in re.findall(r"^Lost (\d+) events$", text, re.M))
    assert printed + lost == reads, (printed, lost)

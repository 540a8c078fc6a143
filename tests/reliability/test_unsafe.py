"""Unsafe builtins stay gated: system(), signal() and override() need --unsafe, with bpftrace
0.17's exact message otherwise (checked live against the installed bpftrace)."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

PYBPFTRACE = [sys.executable, "-m", "bpftrace_kernel.cli"]
PROGRAMS = [
    'BEGIN { system("echo hi"); }',
    'tracepoint:syscalls:sys_enter_openat { signal("KILL"); }',
    'tracepoint:syscalls:sys_enter_openat { signal(9); }',
    'BEGIN { override(1); }',
    'BEGIN { if (1) { system("true"); } }',
]


def _stderr(cmd: list[str]) -> tuple[int, str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    lines = [l for l in proc.stderr.splitlines() if "RLIMIT_MEMLOCK" not in l]
    return proc.returncode, "\n".join(lines)


@pytest.mark.parametrize("program", PROGRAMS)
def test_unsafe_builtins_are_refused_without_unsafe(program):
    code, ours = _stderr(PYBPFTRACE + ["-e", program])
    assert code == 1
    assert "is an unsafe function being used in safe mode" in ours
    if shutil.which("bpftrace"):
        _, theirs = _stderr(["bpftrace", "-e", program])
        assert ours == theirs


def test_unsafe_flag_lets_system_run():
    proc = subprocess.run(PYBPFTRACE + ["--unsafe", "-e", 'BEGIN { system("echo from-system"); exit(); }'],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "from-system" in proc.stdout

"""guest/run-in-guest itself: the command runs on the guest's kernel in the caller's working
directory and environment, its stdout, stderr and exit status come back separately, and a run
that outlives PYBPFTRACE_GUEST_TIMEOUT is killed with status 124."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.root]

RUNNER = Path(__file__).resolve().parents[2] / "guest" / "run-in-guest"


def run_in_guest(args: list[str], cwd: Path, timeout: float = 300, **env: str):
    return subprocess.run([sys.executable, str(RUNNER), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout + 300, env=dict(os.environ, **env))


def test_command_streams_status_cwd_and_environment(tmp_path):
    (tmp_path / "marker.txt").write_text("from the host\n")
    script = ('cat marker.txt; pwd; uname -r; echo "$PYBPFTRACE_MARK $EXTRA_MARK"; '
              'echo to-stderr >&2; test -d /sys/kernel/tracing/events && echo tracefs; '
              'test -e /sys/kernel/debug/kprobes/list && echo kprobes; '
              'touch written-in-guest; exit 7')
    proc = run_in_guest(["sh", "-c", script], tmp_path, PYBPFTRACE_MARK="passed",
                        EXTRA_MARK="extra", PYBPFTRACE_GUEST_ENV="EXTRA_MARK")
    lines = proc.stdout.splitlines()
    assert proc.returncode == 7, proc.stderr
    assert lines[0] == "from the host"
    assert lines[1] == str(tmp_path)
    assert lines[2] != os.uname().release  # the guest's own kernel
    assert lines[3:] == ["passed extra", "tracefs", "kprobes"]
    assert proc.stderr.strip().endswith("to-stderr")
    assert not (tmp_path / "written-in-guest").exists(), "the guest wrote through to the host"


def test_timeout_kills_the_guest(tmp_path):
    started = time.monotonic()
    proc = run_in_guest(["sleep", "600"], tmp_path, timeout=15, PYBPFTRACE_GUEST_TIMEOUT="15")
    assert proc.returncode == 124
    assert "timed out" in proc.stderr
    assert time.monotonic() - started < 120

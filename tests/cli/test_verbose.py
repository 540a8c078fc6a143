"""`pybpftrace -v`: BPF assembly of every probe and the verifier's statistics on stderr, the
traced output on stdout unchanged."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.root


def test_verbose_prints_assembly_and_verifier_statistics():
    proc = subprocess.run([sys.executable, "-m", "bpftrace_kernel.cli", "-v", "-e",
                           'BEGIN { printf("hi\\n"); exit(); }'],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Attaching 1 probe...\nhi\n\n\n"
    assert re.search(r"^\s+call \d+$", proc.stderr, re.M), proc.stderr[:2000]   # BPF assembly
    assert re.search(r"Verifier statistics for BEGIN: .*processed \d+ insns", proc.stderr, re.S)


def test_without_verbose_stderr_is_quiet():
    proc = subprocess.run([sys.executable, "-m", "bpftrace_kernel.cli", "-e", "BEGIN { exit(); }"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    assert "Verifier statistics" not in proc.stderr and "call" not in proc.stderr

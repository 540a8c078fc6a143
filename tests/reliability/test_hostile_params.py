"""Hostile positional parameters: numbers beyond int64, garbage, and a 100 KB string get
bpftrace 0.17's answer (compared live), never a wrapped value or a traceback."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

PYBPFTRACE = [sys.executable, "-m", "bpftrace_kernel.cli"]
PROGRAM = 'BEGIN { printf("%lld\\n", $1); exit(); }'


def _run(cmd: list[str]) -> tuple[int, str, str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    err = "\n".join(l for l in proc.stderr.splitlines() if "RLIMIT_MEMLOCK" not in l)
    return proc.returncode, proc.stdout, err


@pytest.mark.root
@pytest.mark.parametrize("param", ["9223372036854775807", "9223372036854775808",
                                   "18446744073709551615", "0x1ffffffffffffffff", "010", "08", "1e3",
                                   "99999999999999999999999999999999"])
def test_numeric_parameter_matches_bpftrace(param):
    code, out, err = _run(PYBPFTRACE + ["-e", PROGRAM, param])
    assert "Traceback" not in err
    if shutil.which("bpftrace"):
        assert (code, out, err) == _run(["bpftrace", "-e", PROGRAM, param])


@pytest.mark.root
def test_a_100kb_string_parameter_is_cut_to_the_string_size():
    code, out, err = _run(PYBPFTRACE + ["-e", 'BEGIN { printf("%s\\n", str($1)); exit(); }',
                                        "x" * 100_000])
    assert code == 0, err
    assert out.splitlines()[1] == "x" * 63

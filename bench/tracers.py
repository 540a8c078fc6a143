"""The two tracers under comparison and the workloads they trace.

bpftrace 0.17 is installed with apt-get when it is missing; pybpftrace is the project's CLI
in the venv.  Workloads are tests/workloads/cfwork.c, built with the conformance builder.
"""
from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TRACERS: dict[str, list[str]] = {
    "bpftrace": ["bpftrace"],
    "pybpftrace": [str(ROOT / ".venv" / "bin" / "pybpftrace")],
}
NAMES = tuple(TRACERS)


def ensure_bpftrace() -> str:
    """The bpftrace version string, installing bpftrace with apt-get if it is missing."""
    if shutil.which("bpftrace") is None:
        print("bpftrace not found: apt-get install -y bpftrace", flush=True)
        subprocess.run(["apt-get", "install", "-y", "bpftrace"], check=True, timeout=600,
                       stdout=subprocess.DEVNULL)
    out = subprocess.run(["bpftrace", "--version"], capture_output=True, text=True, timeout=30)
    return out.stdout.strip() or out.stderr.strip()


def cfwork() -> Path:
    """The workload binary (built if stale)."""
    from tests.workloads import build

    return build.binary("cfwork")


def unique_comm() -> str:
    """A comm no other process has, so a program can filter on this run's workload only."""
    return "bw" + "".join(random.choice("ghjkmnpqrstvwxyz") for _ in range(6))


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"

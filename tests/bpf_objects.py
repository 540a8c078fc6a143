"""Test helper: which BPF programs of ours are loaded right now (via `bpftool prog show -j`).

Our loader names every program with the `pbt_` prefix, so tests can tell ours from the
system's and from bpftrace's while other tracers run on the machine.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import time

PREFIX = "pbt_"


def our_programs() -> list[dict]:
    if not shutil.which("bpftool"):
        raise RuntimeError("bpftool is not installed (apt-get install bpftool)")
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                         timeout=30).stdout
    progs = json.loads(out or "[]")
    return [p for p in progs if p.get("name", "").startswith(PREFIX)]


def wait_until_none_of(pids_before: set[int], timeout: float = 5.0) -> list[dict]:
    """Our programs not present in `pids_before` that are still loaded after `timeout`
    (the kernel frees programs asynchronously after the last fd closes)."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in our_programs() if p["id"] not in pids_before]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)

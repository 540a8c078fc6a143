"""kprobe, kretprobe, fentry, fexit and tp_btf attach for real, in the guest lane's QEMU VM
(guest/run-in-guest: Debian's stock kernel, where this host's refused probe types work)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "guest" / "run-in-guest"
CACHE = Path(os.environ.get("PYBPFTRACE_GUEST_CACHE", "/var/cache/pybpftrace-guest"))

pytestmark = [pytest.mark.root, pytest.mark.slow]

GUEST_SCRIPT = r"""
import sys
sys.path.insert(0, sys.argv[1])
from bpfprog import *
from bpftrace_compiler.artifact import AttachTarget, MapSpec, ProbeSpec
from bpftrace_compiler.types import UInt
from bpftrace_loader.session import Session

cm = MapSpec("@c", "percpu_hash", 8, 8, 128, key_type=UInt(64), value_type=COUNT, symbol="AT_c")
specs = [
    ProbeSpec("s_1", "kprobe", (AttachTarget("kprobe", "", "vfs_read", name="kprobe:vfs_read"),), 0),
    ProbeSpec("s_2", "kprobe", (AttachTarget("kretprobe", "", "vfs_read",
                                             name="kretprobe:vfs_read"),), 1),
    ProbeSpec("s_3", "tracing", (AttachTarget("kfunc", "", "vfs_read", name="kfunc:vfs_read"),), 2,
              expected_attach_type="fentry", attach_btf_name="vfs_read"),
    ProbeSpec("s_4", "tracing", (AttachTarget("kretfunc", "", "vfs_read",
                                              name="kretfunc:vfs_read"),), 3,
              expected_attach_type="fexit", attach_btf_name="vfs_read"),
    ProbeSpec("s_5", "tracing", (AttachTarget("rawtracepoint", "", "sys_enter",
                                              name="rawtracepoint:sys_enter"),), 4,
              expected_attach_type="raw_tp", attach_btf_name="sys_enter"),
]
p = program([function(f"s_{i}", count_into("AT_c", str(i))) for i in range(1, 6)], specs,
            [EVENTS, LOST, cm])
with Session(p) as s:
    s.start()
    for _ in range(20):
        with open("/proc/self/stat") as f:
            f.read()
    counts = dict((k[0], v) for k, v in s.snapshot()[0].entries)
print(" ".join(f"{k}={counts.get(k, 0)}" for k in range(1, 6)))
"""


def test_kernel_function_probes_in_the_guest():
    # On a fresh machine the runner first installs QEMU and fills its cache (the guest kernel).
    out = subprocess.run([sys.executable, str(RUNNER), sys.executable, "-c", GUEST_SCRIPT,
                          str(Path(__file__).parent)],
                         capture_output=True, text=True, timeout=1200, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    counts = dict(kv.split("=") for kv in out.stdout.split()[-5:])
    assert all(int(n) >= 20 for n in counts.values()), counts

"""Shared pytest fixtures and markers.

`root` tests need euid 0 and a working bpf(); they skip with the reason when BPF is
genuinely absent.  `bpftrace` tests need the reference bpftrace 0.17 binary.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def bpf_unavailable_reason() -> str | None:
    """Why real-kernel tests cannot run here, or None when they can."""
    if sys.platform != "linux":
        return "not Linux"
    if os.geteuid() != 0:
        return "needs root (CAP_BPF + CAP_PERFMON)"
    libc = ctypes.CDLL(None, use_errno=True)
    # BPF_PROG_LOAD with a NULL attr: EFAULT/EINVAL means the syscall exists; ENOSYS/EPERM not
    libc.syscall.restype = ctypes.c_long
    rc = libc.syscall(ctypes.c_long(321), ctypes.c_int(5), ctypes.c_void_p(0), ctypes.c_uint(0))
    err = ctypes.get_errno()
    if rc < 0 and err in (38, 1):
        return f"bpf() unavailable: {os.strerror(err)}"
    if not Path("/sys/kernel/tracing/events").is_dir():
        return "tracefs is not mounted at /sys/kernel/tracing"
    return None


def pytest_collection_modifyitems(config, items):
    reason = bpf_unavailable_reason()
    have_bpftrace = shutil.which("bpftrace") is not None
    for item in items:
        if reason and "root" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))
        if not have_bpftrace and "bpftrace" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="bpftrace 0.17 is not installed (apt-get install bpftrace)"))

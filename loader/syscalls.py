"""Raw system calls: bpf(), perf_event_open(), ioctl(), mmap() through ctypes.

Owns the only calls into libc.  Every failure becomes `BpfError(op, errno)`; callers turn
those into user-facing `LoadError`/`AttachError` messages.  x86_64 syscall numbers.
"""
from __future__ import annotations

import ctypes
import os
import platform

from .errors import BpfError
from .uapi import Cmd, PERF_FLAG_FD_CLOEXEC, PerfEventAttr

_SYSCALLS = {"x86_64": (321, 298), "aarch64": (280, 241)}
SYS_BPF, SYS_PERF_EVENT_OPEN = _SYSCALLS.get(platform.machine(), _SYSCALLS["x86_64"])

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.ioctl.restype = ctypes.c_int
_libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong]
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_long]
_libc.munmap.restype = ctypes.c_int
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]

MAP_FAILED = ctypes.c_void_p(-1).value


def bpf(cmd: Cmd, attr: ctypes.Structure, op: str | None = None) -> int:
    """bpf(cmd, &attr, sizeof(attr)); returns the result (an fd for create commands)."""
    rc = _libc.syscall(ctypes.c_long(SYS_BPF), ctypes.c_int(int(cmd)),
                       ctypes.byref(attr), ctypes.c_uint(ctypes.sizeof(attr)))
    if rc < 0:
        raise BpfError(op or f"bpf({Cmd(cmd).name})", ctypes.get_errno())
    return rc


def perf_event_open(attr: PerfEventAttr, pid: int, cpu: int, group_fd: int = -1,
                    flags: int = PERF_FLAG_FD_CLOEXEC) -> int:
    rc = _libc.syscall(ctypes.c_long(SYS_PERF_EVENT_OPEN), ctypes.byref(attr),
                       ctypes.c_int(pid), ctypes.c_int(cpu), ctypes.c_int(group_fd),
                       ctypes.c_ulong(flags))
    if rc < 0:
        raise BpfError("perf_event_open", ctypes.get_errno())
    return rc


def ioctl(fd: int, request: int, arg: int = 0, op: str = "ioctl") -> int:
    rc = _libc.ioctl(fd, request, arg)
    if rc < 0:
        raise BpfError(op, ctypes.get_errno())
    return rc


def mmap(length: int, prot: int, flags: int, fd: int, offset: int) -> int:
    """mmap(NULL, ...) returning the address as an int."""
    addr = _libc.mmap(None, length, prot, flags, fd, offset)
    if addr is None or addr == MAP_FAILED:
        raise BpfError("mmap", ctypes.get_errno())
    return addr


def munmap(addr: int, length: int) -> None:
    _libc.munmap(addr, length)


def close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass

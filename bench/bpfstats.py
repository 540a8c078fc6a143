"""Looks at a tracer's BPF programs from the outside, through bpf(2) directly (ctypes), so the
same measurement applies to bpftrace and pybpftrace alike.

- `attached_programs(pid)`: which of the process's fds are attached BPF programs
  (BPF_TASK_FD_QUERY answers for perf-event fds with a program and raw-tracepoint fds);
- `prog_info(prog_id)`: sizes, helper calls, run_time_ns / run_cnt (BPF_OBJ_GET_INFO_BY_FD);
- `enable_stats()`: BPF_ENABLE_STATS, so run_time_ns / run_cnt count while its fd is open.
"""
from __future__ import annotations

import ctypes
import errno
import os
from dataclasses import dataclass

_SYS_BPF = 321
BPF_PROG_GET_FD_BY_ID = 13
BPF_OBJ_GET_INFO_BY_FD = 15
BPF_TASK_FD_QUERY = 20
BPF_ENABLE_STATS = 32
BPF_STATS_RUN_TIME = 0

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class BpfError(OSError):
    """A bpf(2) command failed."""


def _bpf(cmd: int, attr: ctypes.Structure) -> int:
    rc = _libc.syscall(ctypes.c_long(_SYS_BPF), ctypes.c_int(cmd), ctypes.byref(attr),
                       ctypes.c_uint(ctypes.sizeof(attr)))
    if rc < 0:
        err = ctypes.get_errno()
        raise BpfError(err, os.strerror(err))
    return rc


class _TaskFdQuery(ctypes.Structure):
    _fields_ = [("pid", ctypes.c_uint32), ("fd", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("buf_len", ctypes.c_uint32), ("buf", ctypes.c_uint64), ("prog_id", ctypes.c_uint32),
                ("fd_type", ctypes.c_uint32), ("probe_offset", ctypes.c_uint64),
                ("probe_addr", ctypes.c_uint64)]


class _GetFdById(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint32), ("next_id", ctypes.c_uint32), ("open_flags", ctypes.c_uint32)]


class _InfoByFd(ctypes.Structure):
    _fields_ = [("bpf_fd", ctypes.c_uint32), ("info_len", ctypes.c_uint32), ("info", ctypes.c_uint64)]


class _EnableStats(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32)]


class _ProgInfo(ctypes.Structure):
    """struct bpf_prog_info (uapi/linux/bpf.h), up to the fields we read."""

    _fields_ = [
        ("type", ctypes.c_uint32), ("id", ctypes.c_uint32), ("tag", ctypes.c_uint8 * 8),
        ("jited_prog_len", ctypes.c_uint32), ("xlated_prog_len", ctypes.c_uint32),
        ("jited_prog_insns", ctypes.c_uint64), ("xlated_prog_insns", ctypes.c_uint64),
        ("load_time", ctypes.c_uint64), ("created_by_uid", ctypes.c_uint32),
        ("nr_map_ids", ctypes.c_uint32), ("map_ids", ctypes.c_uint64), ("name", ctypes.c_char * 16),
        ("ifindex", ctypes.c_uint32), ("gpl_compatible", ctypes.c_uint32),
        ("netns_dev", ctypes.c_uint64), ("netns_ino", ctypes.c_uint64),
        ("nr_jited_ksyms", ctypes.c_uint32), ("nr_jited_func_lens", ctypes.c_uint32),
        ("jited_ksyms", ctypes.c_uint64), ("jited_func_lens", ctypes.c_uint64),
        ("btf_id", ctypes.c_uint32), ("func_info_rec_size", ctypes.c_uint32),
        ("func_info", ctypes.c_uint64), ("nr_func_info", ctypes.c_uint32),
        ("nr_line_info", ctypes.c_uint32), ("line_info", ctypes.c_uint64),
        ("jited_line_info", ctypes.c_uint64), ("nr_jited_line_info", ctypes.c_uint32),
        ("line_info_rec_size", ctypes.c_uint32), ("jited_line_info_rec_size", ctypes.c_uint32),
        ("nr_prog_tags", ctypes.c_uint32), ("prog_tags", ctypes.c_uint64),
        ("run_time_ns", ctypes.c_uint64), ("run_cnt", ctypes.c_uint64),
        ("recursion_misses", ctypes.c_uint64), ("verified_insns", ctypes.c_uint32),
    ]


def enable_stats() -> int:
    """Turn on run_time_ns / run_cnt accounting; it stays on while the returned fd is open."""
    return _bpf(BPF_ENABLE_STATS, _EnableStats(type=BPF_STATS_RUN_TIME))


PERF_EVENT_PROG = 0     # "attached, but the kernel does not say which program" (see below)
BPF_PROG_TYPE_PERF_EVENT = 7


def task_fd_query(pid: int, fd: int) -> int | None:
    """The id of the BPF program attached through `pid`'s `fd`, or None.

    For a perf event (profile, interval, software) carrying a BPF_PROG_TYPE_PERF_EVENT program
    the kernel answers EOPNOTSUPP: that still means attached, and PERF_EVENT_PROG is returned
    (perf_event_programs() finds those programs' ids).
    """
    attr = _TaskFdQuery(pid=pid, fd=fd)
    try:
        _bpf(BPF_TASK_FD_QUERY, attr)
    except BpfError as exc:
        return PERF_EVENT_PROG if exc.errno == errno.EOPNOTSUPP else None
    return attr.prog_id or None


def perf_event_programs(pid: int) -> set[int]:
    """Ids of the perf-event programs `pid` holds fds of (from /proc/PID/fdinfo)."""
    ids: set[int] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return ids
    for name in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{name}") != "anon_inode:bpf-prog":
                continue
            info = dict(line.split(":", 1) for line in open(f"/proc/{pid}/fdinfo/{name}") if ":" in line)
        except OSError:
            continue
        if int(info.get("prog_type", "-1")) == BPF_PROG_TYPE_PERF_EVENT and "prog_id" in info:
            ids.add(int(info["prog_id"]))
    return ids


def attached_programs(pid: int, known: dict[int, int] | None = None) -> dict[int, int]:
    """{fd: prog_id} for every fd of `pid` with an attached BPF program.

    `known` (a previous answer) saves re-querying fds already seen attached.
    """
    found: dict[int, int] = {}
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return found
    for name in fds:
        fd = int(name)
        if known and fd in known:
            found[fd] = known[fd]
            continue
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if not target.startswith("anon_inode:") or target in ("anon_inode:bpf-map", "anon_inode:bpf-prog",
                                                              "anon_inode:[eventpoll]"):
            continue
        prog_id = task_fd_query(pid, fd)
        if prog_id is not None:
            found[fd] = prog_id
    return found


@dataclass
class ProgInfo:
    """What the kernel says about one loaded program."""

    prog_id: int
    xlated_len: int
    jited_len: int
    helper_calls: int
    run_time_ns: int
    run_cnt: int


def prog_info(prog_id: int, with_insns: bool = True) -> ProgInfo | None:
    """Sizes, static helper-call count and run statistics of program `prog_id` (None if gone)."""
    try:
        fd = _bpf(BPF_PROG_GET_FD_BY_ID, _GetFdById(id=prog_id))
    except BpfError:
        return None
    try:
        info = _ProgInfo()
        _bpf(BPF_OBJ_GET_INFO_BY_FD, _InfoByFd(bpf_fd=fd, info_len=ctypes.sizeof(info),
                                               info=ctypes.addressof(info)))
        helpers = 0
        if with_insns and info.xlated_prog_len:
            size = info.xlated_prog_len
            insns = (ctypes.c_uint8 * size)()
            again = _ProgInfo(xlated_prog_len=size, xlated_prog_insns=ctypes.addressof(insns))
            _bpf(BPF_OBJ_GET_INFO_BY_FD, _InfoByFd(bpf_fd=fd, info_len=ctypes.sizeof(again),
                                                   info=ctypes.addressof(again)))
            helpers = count_helper_calls(bytes(insns))
        return ProgInfo(prog_id, info.xlated_prog_len, info.jited_prog_len, helpers,
                        info.run_time_ns, info.run_cnt)
    except BpfError:
        return None
    finally:
        os.close(fd)


def count_helper_calls(xlated: bytes) -> int:
    """Static count of helper/kfunc call instructions (BPF_JMP|BPF_CALL, not bpf-to-bpf calls).

    The verifier rewrites some helper calls into inline code or direct calls; what is left in
    the translated image is what runs.
    """
    calls = 0
    for off in range(0, len(xlated) - 7, 8):
        if xlated[off] == 0x85 and (xlated[off + 1] >> 4) != 1:   # src_reg 1 = bpf-to-bpf call
            calls += 1
    return calls

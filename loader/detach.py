"""Background detach of attachments whose close waits for the kernel.

Owns `detach_in_background()`.  Closing a tracepoint or uprobe perf event (or the BPF link on
it) waits for RCU grace periods: 30-160 ms each here, serialised by the kernel, and a process
that exits with such fds open waits for them in its exit.  So the events are first disabled
(PERF_EVENT_IOC_DISABLE takes microseconds and stops the program from running), then the fds
are inherited by a few short-lived `cat` children and closed here: our close is instant
because the child still holds the file.  Then the children's stdin is closed; they exit and
do the slow release in parallel with whatever we do next (printing maps, exiting).
"""
from __future__ import annotations

import os
import subprocess
import sys

from .errors import BpfError
from .syscalls import close, ioctl
from .uapi import PERF_EVENT_IOC_DISABLE

MAX_REAPERS = 8             # the kernel serialises the waits: more children do not help
PER_REAPER = 1              # spread over up to MAX_REAPERS children (~1 ms each to start)
# holds inherited fds until its stdin reaches EOF
_CAT = next((p for p in ("/bin/cat", "/usr/bin/cat") if os.access(p, os.X_OK)), None)


def _reaper(fds: list[int]) -> subprocess.Popen | None:
    cmd = [_CAT] if _CAT else [sys.executable, "-S", "-c", "import sys; sys.stdin.read()"]
    try:
        return subprocess.Popen(cmd, pass_fds=fds, stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        return None         # our own close below then does the slow release inline


def detach_in_background(attachments: list) -> list[subprocess.Popen]:
    """Stop every attachment now and release its kernel objects in child processes; returns
    the children (wait() on them to know everything is released)."""
    groups: list[list[int]] = [[] for _ in range(min(MAX_REAPERS,
                                                     -(-len(attachments) // PER_REAPER)))]
    for i, att in enumerate(attachments):
        for fd in att.fds:
            try:
                ioctl(fd, PERF_EVENT_IOC_DISABLE, 0, "PERF_EVENT_IOC_DISABLE")
            except BpfError:
                pass
        groups[i % len(groups)].extend(att.links + att.fds)
        att.links, att.fds = [], []
    reapers = [r for r in (_reaper(fds) for fds in groups if fds) if r is not None]
    for fds in groups:
        for fd in fds:
            close(fd)
    for reaper in reapers:          # EOF: each child exits and releases what it holds
        reaper.stdin.close()
    return reapers

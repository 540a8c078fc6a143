"""Workloads for the guest kprobe cases: a process named `pbtload` (see cases.COMM) whose kernel
activity is known exactly, so a trace filtered on its comm has a predictable result.

    workload.py reads SIZE...   print "ready PID", wait for SIGUSR1, read() each SIZE bytes from
                                /dev/zero, print "done", then wait to be killed
    workload.py sleeper         print "ready PID", then sleep 1 ms at a time until killed

Stdlib only; runs inside the guest.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import time

COMM = b"pbtload"
PR_SET_NAME = 15


def set_comm() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NAME, ctypes.c_char_p(COMM), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NAME)")


def announce(word: str) -> None:
    os.write(1, f"{word} {os.getpid()}\n".encode())


def reads(sizes: list[int]) -> None:
    fd = os.open("/dev/zero", os.O_RDONLY)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    announce("ready")
    signal.sigwait({signal.SIGUSR1})
    for size in sizes:
        os.read(fd, size)
    announce("done")
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
    signal.sigwait({signal.SIGUSR2})


def sleeper() -> None:
    announce("ready")
    while True:
        time.sleep(0.001)


def main(argv: list[str]) -> int:
    set_comm()
    if argv[:1] == ["reads"]:
        reads([int(s) for s in argv[1:]])
    elif argv == ["sleeper"]:
        sleeper()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

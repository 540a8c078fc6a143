"""Background detach: a stopped session's tracepoints stop firing at once, our process keeps
no perf event open, and the child processes that release them finish."""
import os

import pytest

from bpftrace_kernel.engine import Trace

pytestmark = pytest.mark.root


def perf_event_fds() -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            n += os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[perf_event]"
        except OSError:
            pass
    return n


def getpid_count(trace) -> int:
    (snap,) = trace.snapshot()
    return snap.entries[0][1] if snap.entries else 0


def test_stop_disables_at_once_and_children_release_the_events():
    before = perf_event_fds()
    trace = Trace(f"tracepoint:syscalls:sys_enter_getpid /pid == {os.getpid()}/ {{ @ = count(); }}"
                  f" tracepoint:syscalls:sys_enter_getppid /pid == {os.getpid()}/ {{ @p = count(); }}")
    trace.start()
    try:
        assert perf_event_fds() == before + 2
        for _ in range(3):
            os.getpid()
        snap = {s.name: s for s in trace.snapshot()}
        assert snap["@"].entries[0][1] == 3
        trace.session._detach()
        reapers = list(trace.session._reapers)
        assert reapers and perf_event_fds() == before
        for _ in range(5):
            os.getpid()
        snap = {s.name: s for s in trace.snapshot()}
        assert snap["@"].entries[0][1] == 3, "a detached probe still fired"
    finally:
        trace.close(wait_detach=True)
    assert all(r.returncode is not None for r in reapers)

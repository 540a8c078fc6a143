"""Failures inside one long-lived process (what the Jupyter kernel is): a compile error, a
verifier rejection, an attach failure half-way, an exception while tracing.  After each, the
process holds no more BPF maps, programs, links or perf events than before, and the next
trace works.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bpftrace_compiler.diagnostics import CompileError
from bpftrace_kernel.engine import Trace, TraceError
from tests.bpf_objects import held_objects, still_alive

pytestmark = pytest.mark.root


def _fds() -> dict[str, set[int]]:
    return held_objects(__import__("os").getpid())


def _next_trace_works() -> None:
    with Trace("BEGIN { @ok = 42; exit(); }") as t:
        t.start()
        while not t.exited:
            t.poll(0.05)
        outs = t.stop()
    assert any("@ok: 42" in getattr(o, "text", "") for o in outs)


def _assert_back_to(before: dict, during: dict | None = None) -> None:
    after = _fds()
    for kind in ("map", "prog", "link", "perf_event"):
        assert after[kind] <= before[kind], f"{kind} still held: {after[kind] - before[kind]}"
    if during:
        assert not still_alive({k: during[k] - before[k] for k in ("map", "prog", "link")})


def test_attach_failure_half_way_releases_what_was_attached():
    before = _fds()
    t = Trace("interval:ms:10 { @a = count(); } tracepoint:raw_syscalls:sys_enter { @b = count(); } "
              "hardware:cycles:1000000 { @c = count(); }")
    with pytest.raises(TraceError, match="hardware"):
        t.start()
    t.close()
    _assert_back_to(before)
    _next_trace_works()


def test_verifier_rejection_releases_everything():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "loader"))
    from bpfprog import EVENTS, LOST, begin, function, program
    from bpftrace_loader.errors import VerifierError
    from bpftrace_loader.session import Session

    body = """  %look = inttoptr i64 1 to ptr
  %k = alloca i64, align 8
  store i64 0, ptr %k
  %v = call ptr %look(ptr @"__bt_lost", ptr %k)
  %old = load volatile i64, ptr %v"""
    before = _fds()
    session = Session(program([function("s_BEGIN_1", body)], [begin()], [EVENTS, LOST]))
    with pytest.raises(VerifierError):
        session.start()
    session.close()
    _assert_back_to(before)
    _next_trace_works()


def test_compile_error_opens_nothing():
    before = _fds()
    with pytest.raises(CompileError):
        Trace("BEGIN { nosuch(1); }").start()
    _assert_back_to(before)
    _next_trace_works()


def test_exception_while_tracing_then_close_releases_everything():
    """An exception in the caller's loop (a renderer bug, a KeyboardInterrupt) followed by
    close(), as the kernel does, leaves nothing attached."""
    before = _fds()
    t = Trace("tracepoint:raw_syscalls:sys_enter { @n = count(); } interval:ms:20 { @t = count(); }")
    try:
        t.start()
        during = _fds()
        assert during["prog"] - before["prog"] and during["link"] - before["link"]
        t.poll(0.05)
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    finally:
        t.close()
    _assert_back_to(before, during)
    _next_trace_works()


# ---------------------------------------------------------------------- every fault point
FAULT_PROGRAM = ("BEGIN { @d = 1; } tracepoint:raw_syscalls:sys_enter { @a = count(); } "
                 "tracepoint:syscalls:sys_enter_openat { @b[comm] = count(); } "
                 "interval:ms:50 { @c = sum(1); }")
# the loader steps Session.start() goes through, as named in bpftrace_loader.session
FAULT_SITES = ["BpfMap.create", "RingBuffer", "load_program", "run_once", "attach"]


class InjectedFault(Exception):
    pass


def _patch(monkeypatch, site: str, fail_at: int | None) -> list[int]:
    """Wrap a loader step: count its calls, raise at call number `fail_at`."""
    import bpftrace_loader.session as session_mod
    calls = [0]
    owner_name, _, attr = site.rpartition(".")
    owner = getattr(session_mod, owner_name) if owner_name else session_mod
    real = getattr(owner, attr)
    is_classmethod = owner_name and isinstance(owner.__dict__.get(attr), classmethod)

    def wrapper(*args, **kwargs):
        calls[0] += 1
        if calls[0] == fail_at:
            raise (KeyboardInterrupt() if fail_at % 2 == 0 else InjectedFault(site))
        return real(*args, **kwargs)
    monkeypatch.setattr(owner, attr, classmethod(lambda cls, *a, **k: wrapper(*a, **k))
                        if is_classmethod else wrapper)
    return calls


@pytest.mark.parametrize("site", FAULT_SITES)
def test_a_fault_at_every_loader_step_releases_everything(monkeypatch, site):
    """Count the calls of one loader step in a normal start, then fail each call in turn
    (an error, or a KeyboardInterrupt as a Ctrl-C would raise there): every time, the
    process is left holding nothing it did not hold before."""
    from bpftrace_compiler.pipeline import compile_source
    program = compile_source(FAULT_PROGRAM)
    with monkeypatch.context() as m:
        calls = _patch(m, site, None)
        with Trace(FAULT_PROGRAM) as t:
            t.program = program
            t.start()
    total = calls[0]
    assert total >= 1, f"{site} was never called"
    for fail_at in range(1, total + 1):
        before = _fds()
        with monkeypatch.context() as m:
            _patch(m, site, fail_at)
            t = Trace(FAULT_PROGRAM)
            t.program = program
            try:
                t.start()
            except (TraceError, InjectedFault, KeyboardInterrupt):
                pass
            else:
                pytest.fail(f"the fault at {site} call {fail_at} did not surface")
            finally:
                t.close()
        _assert_back_to(before)
    _next_trace_works()

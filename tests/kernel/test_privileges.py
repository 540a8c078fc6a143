"""Missing BPF privileges are named clearly in a cell's error and in the banner."""
from __future__ import annotations

import os

from bpftrace_kernel import kernel


def test_eperm_errors_get_the_privilege_hint():
    text = kernel.CellRun._with_privilege_hint(
        "ERROR: tracepoint:syscalls:sys_enter_read: bpf(BPF_PROG_LOAD): Operation not permitted\n")
    first, hint = text.split("\n")
    assert first.endswith("Operation not permitted")
    assert hint.startswith("HINT:") and "CAP_BPF" in hint and "docs/kernel.md" in hint


def test_other_errors_are_left_alone_when_privileged():
    if not kernel.bpf_privileges()[0]:
        return
    text = kernel.CellRun._with_privilege_hint("ERROR: tracepoint:nope:nope: No such file or directory")
    assert text == "ERROR: tracepoint:nope:nope: No such file or directory"


def test_unprivileged_process_is_reported(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    real_open = open

    def fake_open(path, *a, **k):
        if path == "/proc/self/status":
            import io
            return io.StringIO("Name:\tpython\nCapEff:\t0000000000000000\n")
        return real_open(path, *a, **k)
    monkeypatch.setattr("builtins.open", fake_open)
    ok, how = kernel.bpf_privileges()
    assert not ok and "CAP_BPF" in how
    text = kernel.CellRun._with_privilege_hint("ERROR: something failed")
    assert "HINT:" in text


def test_capabilities_are_enough_without_root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    real_open = open
    caps = (1 << kernel.CAP_BPF) | (1 << kernel.CAP_PERFMON)

    def fake_open(path, *a, **k):
        if path == "/proc/self/status":
            import io
            return io.StringIO(f"CapEff:\t{caps:016x}\n")
        return real_open(path, *a, **k)
    monkeypatch.setattr("builtins.open", fake_open)
    assert kernel.bpf_privileges() == (True, "CAP_BPF+CAP_PERFMON")


def test_preflight_rows_describe_this_machine():
    from bpftrace_kernel.completion import ProbeCatalog
    rows = {name: (ok, detail) for name, ok, detail in kernel.preflight(ProbeCatalog())}
    assert set(rows) == {"BPF privileges", "tracefs", "kernel BTF", "kernel", "bpftrace kernel"}
    assert rows["BPF privileges"][0] == kernel.bpf_privileges()[0]
    assert rows["kernel BTF"][0] == os.path.exists("/sys/kernel/btf/vmlinux")

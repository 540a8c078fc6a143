"""rawtracepoint and iter probes (this kernel has them; bpftrace 0.17 lacks them), and kprobe,
kretprobe, kfunc, kretfunc on a kernel without kprobes and with fentry refused: programs that
compile and pass the verifier, then a clear error naming the cause."""
from __future__ import annotations

import os
import subprocess

import pytest

from bpftrace_compiler.pipeline import compile_source

from .conftest import pybpftrace

pytestmark = [pytest.mark.root]

HAVE_KPROBES = os.path.exists("/sys/bus/event_source/devices/kprobe/type")


def test_rawtracepoint_typed_args_from_btf():
    # the -c child is a small launcher until it execs sleep: wait for the comm to change
    out = pybpftrace("-e", "rawtracepoint:sched_switch "
                     '/args->prev->pid == cpid && args->prev->comm == "sleep"/ '
                     '{ printf("%s %d\\n", args->prev->comm, arg1 != 0); exit(); }',
                     "-c", "sleep 0.2")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1] == "sleep 1"


def test_iter_task_sees_a_known_process():
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        out = pybpftrace("-e", f"iter:task /ctx->task->pid == {sleeper.pid}/ "
                         '{ printf("%d %s\\n", ctx->task->pid, ctx->task->comm); }')
    finally:
        sleeper.kill()
        sleeper.wait()
    assert out.returncode == 0, out.stderr      # iter-only programs end by themselves
    assert out.stdout.splitlines()[1] == f"{sleeper.pid} sleep"


def test_iter_task_file_counts_open_files():
    r, w = os.pipe()
    try:
        me = os.getpid()
        out = pybpftrace("-e", f"iter:task_file /ctx->task->tgid == {me} && ctx->fd == {w}/ "
                         '{ @fds = count(); }')
    finally:
        os.close(r)
        os.close(w)
    assert out.returncode == 0, out.stderr
    assert "@fds: " in out.stdout and int(out.stdout.split("@fds: ")[1]) >= 1


def test_kprobe_programs_pass_the_verifier_and_fail_to_attach_clearly():
    prog = ("kprobe:vfs_read { @start[tid] = nsecs; } kretprobe:vfs_read /@start[tid]/ "
            "{ @ns[comm] = hist(nsecs - @start[tid]); delete(@start[tid]); }")
    compiled = compile_source(prog)
    assert [p.prog_type for p in compiled.probes] == ["kprobe", "kprobe"]
    if HAVE_KPROBES:
        pytest.skip("this kernel has kprobes: attach is tested in the guest lane (tests/guest)")
    from bpftrace_loader.errors import AttachError
    from bpftrace_loader.session import Session
    session = Session(compiled)
    with pytest.raises(AttachError) as info:    # loading (the verifier) succeeded first
        session.start()
    session.close()
    assert "this kernel has no kprobes" in str(info.value)
    out = pybpftrace("-e", prog)
    assert out.returncode == 1
    assert "use a tracepoint such as tracepoint:syscalls:sys_enter_read instead" in out.stderr
    assert "Traceback" not in out.stderr


def test_kfunc_programs_compile_to_fentry_fexit_with_btf_types():
    compiled = compile_source("kfunc:vfs_read { @[args->count] = count(); } "
                              "kretfunc:vfs_read { @r = hist(retval); }")
    kinds = [(p.prog_type, p.expected_attach_type, p.attach_btf_name) for p in compiled.probes]
    assert kinds == [("tracing", "fentry", "vfs_read"), ("tracing", "fexit", "vfs_read")]
    assert compile_source("kfunc:vfs_rea* { @ = count(); }").attach_count >= 3


def test_kprobe_wildcards_expand_from_the_kernel_function_list():
    names = {t.name for p in compile_source("kprobe:vfs_rea* { @ = count(); }").probes
             for t in p.targets}
    assert {"kprobe:vfs_read", "kprobe:vfs_readv"} <= names


def test_kfunc_where_fentry_is_refused_says_why():
    out = pybpftrace("-e", "kfunc:vfs_read { @[comm] = count(); }", timeout=60)
    if out.returncode == 0 or "refuses fentry" not in out.stderr:
        pytest.skip("this kernel runs fentry programs: tested in the guest lane")
    assert out.stderr.splitlines()[-1] == (
        "ERROR: kfunc:vfs_read: this kernel refuses fentry programs (BPF_PROG_LOAD fails with "
        "EPERM and no verifier log: function-level hooking is disabled), so kfunc probes "
        "cannot run here; use a tracepoint such as tracepoint:syscalls:sys_enter_read instead")


def test_unknown_kfunc_is_a_located_error():
    out = pybpftrace("-e", "kfunc:no_such_function_here { exit(); }")
    assert out.returncode == 1
    assert "ERROR: kfunc/kretfunc not available for your kernel version." in out.stderr
